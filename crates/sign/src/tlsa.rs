//! TLSA records from certificates (RFC 6698 §2, RFC 7671).
//!
//! A certificate file is read with [`parse_chain`] (PEM chain or one DER certificate), and
//! [`tlsa_from_chain`] makes the TLSA RDATA for a [`TlsaSpec`]. [`tlsa_from_spki`] does the
//! same from a bare public key (a staged next key has no certificate yet), which can only make
//! selector 1 records. [`certificate_info`] gives the validity window and subject, so the
//! caller (which owns the clock) can refuse an expired certificate.

use hickory_proto::rr::rdata::TLSA;
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use ring::digest;
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::nom;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::armour;
use crate::error::SignError;

/// Which TLSA record to make: usage, selector, matching type (RFC 6698 §2.1.1-§2.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlsaSpec {
    /// Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// Selector: 0 full certificate, 1 SubjectPublicKeyInfo.
    pub selector: u8,
    /// Matching type: 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
}

impl Default for TlsaSpec {
    /// `3 1 1`, the DANE-EE SPKI SHA-256 record RFC 7672 §3.1.1 recommends
    /// ("TLSA records published for SMTP servers SHOULD, in most cases, be DANE-EE(3) SPKI(1)
    /// SHA2-256(1) records").
    fn default() -> Self {
        Self {
            usage: 3,
            selector: 1,
            matching: 1,
        }
    }
}

impl TlsaSpec {
    /// A spec with every field checked: usage 0-3, selector 0-1, matching 0-2.
    ///
    /// # Errors
    ///
    /// [`SignError::Certificate`] naming the field that is out of range.
    pub fn new(usage: u8, selector: u8, matching: u8) -> Result<Self, SignError> {
        let spec = Self {
            usage,
            selector,
            matching,
        };
        spec.typed()?;
        Ok(spec)
    }

    /// hickory's typed fields, refusing values this crate cannot make.
    fn typed(self) -> Result<(CertUsage, Selector, Matching), SignError> {
        let usage = match self.usage {
            0..=3 => CertUsage::from(self.usage),
            other => return Err(cert_error(format!("unknown usage {other} (0-3)"))),
        };
        let selector = match self.selector {
            0 | 1 => Selector::from(self.selector),
            other => return Err(cert_error(format!("unknown selector {other} (0-1)"))),
        };
        let matching = match self.matching {
            0..=2 => Matching::from(self.matching),
            other => return Err(cert_error(format!("unknown matching type {other} (0-2)"))),
        };
        Ok((usage, selector, matching))
    }
}

/// What [`certificate_info`] reports about one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Start of the validity period, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of the validity period, seconds since the Unix epoch.
    pub not_after: i64,
    /// The subject distinguished name, RFC 4514 style (`CN=mail.example.com`).
    pub subject: String,
}

/// Reads a certificate chain: one or more PEM `CERTIFICATE` blocks, or a single DER
/// certificate. Returns the DER of each certificate, end entity first.
///
/// Other PEM blocks (a private key in a combined file, parameters) are ignored. A PEM block
/// that begins but never ends (a file caught half-written) is an error, never a shorter chain.
///
/// # Errors
///
/// [`SignError::Certificate`] when there is no certificate or one does not parse.
pub fn parse_chain(data: &[u8]) -> Result<Vec<Vec<u8>>, SignError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(cert_error("empty input: no CERTIFICATE block".to_owned()));
    }
    if armour::is_pem(data) {
        parse_pem_chain(data)
    } else {
        let der = data.to_vec();
        parse_whole_certificate(&der)?;
        Ok(vec![der])
    }
}

/// The TLSA RDATA for `chain` (end entity first) under `spec`: usages 1 and 3 use the end-entity
/// certificate, usages 0 and 2 the issuer (the second certificate).
///
/// # Errors
///
/// [`SignError::Certificate`] for an unknown usage/selector/matching value, a chain too short for
/// the usage, or a certificate that does not parse.
pub fn tlsa_from_chain(chain: &[Vec<u8>], spec: TlsaSpec) -> Result<TLSA, SignError> {
    let (usage, selector, matching) = spec.typed()?;
    let end_entity = chain
        .first()
        .ok_or_else(|| cert_error("empty chain: no certificate".to_owned()))?;
    let ee = parse_whole_certificate(end_entity)?;
    let target = match spec.usage {
        0 | 2 => {
            let issuer_der = chain.get(1).ok_or_else(|| {
                cert_error(format!(
                    "usage {} needs the issuer certificate in the chain, after the end entity",
                    spec.usage
                ))
            })?;
            let issuer = parse_whole_certificate(issuer_der)?;
            check_issued_by(&ee, &issuer, spec.usage)?;
            issuer
        }
        _ => ee,
    };
    let selected = match spec.selector {
        0 => target.as_raw(),
        _ => target.tbs_certificate.subject_pki.raw,
    };
    Ok(TLSA::new(
        usage,
        selector,
        matching,
        digest_with(matching, selected),
    ))
}

/// The TLSA RDATA for a bare public key (`SubjectPublicKeyInfo` DER), e.g. a staged next key
/// with no certificate yet. Only selector 1 can be made from a public key.
///
/// # Errors
///
/// [`SignError::Certificate`] for selector 0, an unknown usage/selector/matching value, or bytes
/// that are not one DER `SubjectPublicKeyInfo`.
pub fn tlsa_from_spki(spki_der: &[u8], spec: TlsaSpec) -> Result<TLSA, SignError> {
    let (usage, selector, matching) = spec.typed()?;
    if spec.selector != 1 {
        return Err(cert_error(format!(
            "selector {} needs the full certificate; a public key can only make selector 1",
            spec.selector
        )));
    }
    match SubjectPublicKeyInfo::from_der(spki_der) {
        Ok(([], _)) => {}
        Ok((rest, _)) => {
            return Err(cert_error(format!(
                "not a DER public key: {} trailing bytes after the SubjectPublicKeyInfo",
                rest.len()
            )));
        }
        Err(e) => {
            return Err(cert_error(format!(
                "not a DER public key: {}",
                nom_reason(&e)
            )));
        }
    }
    Ok(TLSA::new(
        usage,
        selector,
        matching,
        digest_with(matching, spki_der),
    ))
}

/// The DER `SubjectPublicKeyInfo` of a certificate, as the certificate carries it.
///
/// # Errors
///
/// [`SignError::Certificate`] when `der` is not one DER certificate.
pub fn subject_public_key_info(der: &[u8]) -> Result<Vec<u8>, SignError> {
    let cert = parse_whole_certificate(der)?;
    Ok(cert.tbs_certificate.subject_pki.raw.to_vec())
}

/// The validity window and subject of one DER certificate. The caller compares the window
/// with its clock: this crate never reads one.
///
/// # Errors
///
/// [`SignError::Certificate`] when `der` is not one DER certificate.
pub fn certificate_info(der: &[u8]) -> Result<CertificateInfo, SignError> {
    let cert = parse_whole_certificate(der)?;
    let validity = cert.validity();
    Ok(CertificateInfo {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        subject: cert.subject().to_string(),
    })
}

fn cert_error(reason: String) -> SignError {
    SignError::Certificate(reason)
}

fn parse_pem_chain(data: &[u8]) -> Result<Vec<Vec<u8>>, SignError> {
    // A cut chain is an error, never a shorter chain.
    let blocks = armour::parse_blocks(data).map_err(|e| cert_error(e.to_string()))?;
    if armour::has_partial_line_after_last_block(data) {
        return Err(cert_error(
            "truncated PEM: a partial BEGIN line after the last block".to_owned(),
        ));
    }
    let mut chain = Vec::new();
    let mut others = Vec::new();
    for block in blocks {
        if block.tag() == "CERTIFICATE" {
            let position = chain.len() + 1;
            let der = block.into_contents();
            parse_whole_certificate(&der).map_err(|e| match e {
                SignError::Certificate(reason) => {
                    cert_error(format!("CERTIFICATE block {position}: {reason}"))
                }
                other => other,
            })?;
            chain.push(der);
        } else {
            others.push(block.tag().to_owned());
        }
    }
    if chain.is_empty() {
        return Err(cert_error(format!(
            "no CERTIFICATE block (found: {})",
            others.join(", ")
        )));
    }
    Ok(chain)
}

/// Parses exactly one DER certificate, refusing trailing bytes.
fn parse_whole_certificate(der: &[u8]) -> Result<X509Certificate<'_>, SignError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(cert_error(format!(
            "not a DER certificate: {} trailing bytes after it",
            rest.len()
        ))),
        Err(e) => Err(cert_error(format!(
            "not a DER certificate: {}",
            nom_reason(&e)
        ))),
    }
}

fn nom_reason(e: &nom::Err<X509Error>) -> String {
    match e {
        nom::Err::Incomplete(_) => "truncated DER".to_owned(),
        nom::Err::Error(e) | nom::Err::Failure(e) => e.to_string(),
    }
}

/// A chain in the wrong order would publish the wrong trust anchor: the second certificate
/// must be the one whose subject is the end entity's issuer.
fn check_issued_by(
    ee: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    usage: u8,
) -> Result<(), SignError> {
    let wanted = ee.issuer();
    let found = issuer.subject();
    if wanted.as_raw() == found.as_raw() || wanted.to_string() == found.to_string() {
        Ok(())
    } else {
        Err(cert_error(format!(
            "usage {usage}: the second certificate ({found}) is not the issuer of the first \
             (issued by {wanted}); the chain must be end entity first, then its issuer"
        )))
    }
}

/// The certificate association data for `matching` (already range-checked).
fn digest_with(matching: Matching, selected: &[u8]) -> Vec<u8> {
    match matching {
        Matching::Sha256 => digest::digest(&digest::SHA256, selected).as_ref().to_vec(),
        Matching::Sha512 => digest::digest(&digest::SHA512, selected).as_ref().to_vec(),
        // `TlsaSpec::typed` lets only Raw through among the rest.
        Matching::Raw | Matching::Unassigned(_) | Matching::Private => selected.to_vec(),
    }
}
