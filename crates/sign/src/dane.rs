//! Whether a certificate chain a server presented matches a TLSA record ([RFC 6698 §2.1],
//! [RFC 7671 §5]). Pure: the server crate's TLS probe hands in the chain it saw.
//!
//! # Background
//!
//! A TLSA record names a certificate (usage), a part of it (selector) and how that part is
//! compared (matching type). RFC 7671 §5.1: DANE-EE(3) and PKIX-EE(1) records match the
//! server's end-entity certificate. RFC 7671 §5.2: DANE-TA(2) records (and PKIX-TA(0), RFC 6698
//! §2.1.1) match a trust anchor, an issuing certificate the server sends in its chain after
//! the end entity.
//!
//! # Limitations
//!
//! No PKIX path validation is done for usages 0 and 1 (the probe only asks whether the
//! published record names what the server presents, not whether a CA vouches for it); a
//! DANE-TA(2) record whose trust anchor the server does not send in its chain cannot be
//! matched here (RFC 7671 §5.2.2 requires servers to send it).
//!
//! [RFC 6698 §2.1]: https://www.rfc-editor.org/rfc/rfc6698#section-2.1
//! [RFC 7671 §5]: https://www.rfc-editor.org/rfc/rfc7671#section-5

use ring::digest;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The public-key family of a certificate: which TLS signature schemes can prove it, so a
/// client offering only that family's schemes sees that certificate of a server that has
/// several (an RSA and an ECDSA one, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFamily {
    /// `rsaEncryption` (and RSASSA-PSS) keys.
    Rsa,
    /// `id-ecPublicKey` keys (P-256, P-384, P-521).
    Ecdsa,
    /// Ed25519 keys.
    Ed25519,
    /// Ed448 keys.
    Ed448,
    /// Anything else.
    Other,
}

impl KeyFamily {
    /// The lowercase name (`ecdsa`), as logs and `daned probe` print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ecdsa => "ecdsa",
            Self::Ed25519 => "ed25519",
            Self::Ed448 => "ed448",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for KeyFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The family of a DER `SubjectPublicKeyInfo`; [`KeyFamily::Other`] when it does not parse.
pub fn key_family_of_spki(spki_der: &[u8]) -> KeyFamily {
    match SubjectPublicKeyInfo::from_der(spki_der) {
        Ok((_, spki)) => family_of_oid(&spki.algorithm.algorithm.to_id_string()),
        Err(_) => KeyFamily::Other,
    }
}

/// The family of the key in one DER certificate; [`KeyFamily::Other`] when it does not parse.
pub fn key_family_of_certificate(cert_der: &[u8]) -> KeyFamily {
    match X509Certificate::from_der(cert_der) {
        Ok((_, cert)) => family_of_oid(
            &cert
                .tbs_certificate
                .subject_pki
                .algorithm
                .algorithm
                .to_id_string(),
        ),
        Err(_) => KeyFamily::Other,
    }
}

fn family_of_oid(oid: &str) -> KeyFamily {
    match oid {
        // rsaEncryption (RFC 8017), id-RSASSA-PSS (RFC 4055).
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => KeyFamily::Rsa,
        // id-ecPublicKey (RFC 5480).
        "1.2.840.10045.2.1" => KeyFamily::Ecdsa,
        // id-Ed25519, id-Ed448 (RFC 8410).
        "1.3.101.112" => KeyFamily::Ed25519,
        "1.3.101.113" => KeyFamily::Ed448,
        _ => KeyFamily::Other,
    }
}

/// Whether `chain` (DER certificates as the server sent them, end entity first) matches the
/// TLSA record `usage selector matching data`.
///
/// Usages 1 and 3 match the end-entity certificate; usages 0 and 2 any certificate after it.
/// Selector 0 takes the whole certificate, 1 its `SubjectPublicKeyInfo`; matching type 0
/// compares the bytes, 1 their SHA-256, 2 their SHA-512. A record with a value outside those
/// (RFC 6698 leaves room for more) matches nothing, and so does a certificate that does not
/// parse.
pub fn chain_matches<C: AsRef<[u8]>>(
    chain: &[C],
    usage: u8,
    selector: u8,
    matching: u8,
    data: &[u8],
) -> bool {
    let candidates: &[C] = match usage {
        1 | 3 => chain.get(..1).unwrap_or_default(),
        0 | 2 => chain.get(1..).unwrap_or_default(),
        _ => return false,
    };
    candidates.iter().any(|cert| {
        selected(cert.as_ref(), selector)
            .is_some_and(|bytes| association_matches(matching, &bytes, data))
    })
}

/// SHA-256 of the `SubjectPublicKeyInfo` of one DER certificate: the data of the `3 1 1`
/// record that would match it, which is how a mismatch is reported. `None` when it does not
/// parse.
pub fn spki_sha256(cert_der: &[u8]) -> Option<[u8; 32]> {
    let spki = selected(cert_der, 1)?;
    digest::digest(&digest::SHA256, &spki)
        .as_ref()
        .try_into()
        .ok()
}

/// The end of the validity window of one DER certificate (seconds since the Unix epoch).
pub fn not_after(cert_der: &[u8]) -> Option<i64> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// The part of `cert_der` that `selector` names.
fn selected(cert_der: &[u8], selector: u8) -> Option<Vec<u8>> {
    match selector {
        0 => Some(cert_der.to_vec()),
        1 => {
            let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
            Some(cert.tbs_certificate.subject_pki.raw.to_vec())
        }
        _ => None,
    }
}

fn association_matches(matching: u8, selected: &[u8], data: &[u8]) -> bool {
    match matching {
        0 => selected == data,
        1 => digest::digest(&digest::SHA256, selected).as_ref() == data,
        2 => digest::digest(&digest::SHA512, selected).as_ref() == data,
        _ => false,
    }
}

/// The subject of one DER certificate (RFC 4514 style) and whether it is self-issued (its
/// issuer is its subject: a root, not an intermediate). `None` when it does not parse.
pub fn subject_and_self_issued(cert_der: &[u8]) -> Option<(String, bool)> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
    Some((cert.subject().to_string(), self_issued))
}
