//! What a binding's files say: the TLSA record of a certificate file, or of a staged next-key
//! file, as it is on disk now ([`read_certificate`], [`read_next_key`]) or as the certificate
//! watcher read it (`parse_certificate`, `parse_next_key`: the same checks and messages on
//! bytes already read).

use daned_sign::tlsa as sign_tlsa;

use crate::config::{CertificateSource, TlsaBinding};
use crate::fsutil::{self, ReadErrorKind};
use crate::zone::tlsa::rollover::TlsaRdata;

use crate::zone::ZoneError;

/// What a certificate file on disk gives a binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRead {
    /// The TLSA record.
    pub record: TlsaRdata,
    /// The end entity's key family (which TLS signature schemes show it).
    pub family: daned_sign::dane::KeyFamily,
    /// The end entity's notAfter, seconds since the epoch.
    pub not_after: i64,
    /// The end entity's subject, as the expiry message names it.
    pub subject: String,
    /// The certificates of the file, end entity first (DER), for `daned check`'s advice.
    pub chain: Vec<Vec<u8>>,
}

/// The TLSA record of one of a binding's certificates as it is on disk now. A certificate
/// that has expired at `now` is refused too.
///
/// # Errors
///
/// [`ZoneError::Certificate`] naming the file and what is wrong with it.
pub fn read_certificate(
    binding: &TlsaBinding,
    source: &CertificateSource,
    now: u32,
) -> Result<CertificateRead, ZoneError> {
    let data = fsutil::read_bounded(&source.file, fsutil::MAX_CERTIFICATE_BYTES);
    parse_certificate(binding, source, data.as_deref().map_err(|e| &e.kind), now)
}

/// [`read_certificate`] on what a read of the certificate file gave (its bytes, or why it
/// could not be read): the same cap, checks and messages, without reading the file.
///
/// # Errors
///
/// As [`read_certificate`].
pub(crate) fn parse_certificate(
    binding: &TlsaBinding,
    source: &CertificateSource,
    content: Result<&[u8], &ReadErrorKind>,
    now: u32,
) -> Result<CertificateRead, ZoneError> {
    let bad = |problem: CertificateProblem| certificate_error(binding, &source.file, problem);
    let data = capped(content).map_err(bad)?;
    let chain = sign_tlsa::parse_chain(data).map_err(|e| bad(e.into()))?;
    let end_entity = chain
        .first()
        .ok_or_else(|| bad(CertificateProblem::NoCertificate))?;
    let info = sign_tlsa::certificate_info(end_entity).map_err(|e| bad(e.into()))?;
    if let Some(error) = expired(binding, source, &info.subject, info.not_after, now) {
        return Err(error);
    }
    let rdata = sign_tlsa::tlsa_from_chain(&chain, binding.spec).map_err(|e| bad(e.into()))?;
    Ok(CertificateRead {
        record: TlsaRdata::from(&rdata),
        family: daned_sign::dane::key_family_of_certificate(end_entity),
        not_after: info.not_after,
        subject: info.subject,
        chain,
    })
}

/// The error of a binding's certificate `subject` that has expired at `now` (its notAfter is
/// `not_after`), as [`read_certificate`] reports it; `None` while it is valid.
pub(crate) fn expired(
    binding: &TlsaBinding,
    source: &CertificateSource,
    subject: &str,
    not_after: i64,
    now: u32,
) -> Option<ZoneError> {
    (not_after < i64::from(now)).then(|| {
        certificate_error(
            binding,
            &source.file,
            CertificateProblem::Expired {
                subject: subject.to_owned(),
                not_after,
            },
        )
    })
}

/// The TLSA record of a binding's staged next key, if one is configured and its file exists.
///
/// # Errors
///
/// [`ZoneError::Certificate`] naming the next-key file when it exists but cannot be used.
pub fn read_next_key(
    binding: &TlsaBinding,
    source: &CertificateSource,
) -> Result<Option<TlsaRdata>, ZoneError> {
    let Some(path) = &source.next_key else {
        return Ok(None);
    };
    let data = fsutil::read_bounded(path, fsutil::MAX_CERTIFICATE_BYTES);
    parse_next_key(binding, source, data.as_deref().map_err(|e| &e.kind))
}

/// [`read_next_key`] on what a read of the next-key file gave (its bytes, or why it could not
/// be read): the same cap, checks and messages, without reading the file. A file that does not
/// exist is no next key.
///
/// # Errors
///
/// As [`read_next_key`].
pub(crate) fn parse_next_key(
    binding: &TlsaBinding,
    source: &CertificateSource,
    content: Result<&[u8], &ReadErrorKind>,
) -> Result<Option<TlsaRdata>, ZoneError> {
    let Some(path) = &source.next_key else {
        return Ok(None);
    };
    let bad = |problem: CertificateProblem| certificate_error(binding, path, problem);
    let data = match content {
        Err(ReadErrorKind::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        content => capped(content).map_err(bad)?,
    };
    let spki = daned_sign::spki::spki_from_pem_or_der(data).map_err(|e| bad(e.into()))?;
    let rdata = sign_tlsa::tlsa_from_spki(&spki, binding.spec).map_err(|e| bad(e.into()))?;
    Ok(Some(TlsaRdata::from(&rdata)))
}

/// What is wrong with a certificate or next-key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// It could not be read, or it is larger than [`fsutil::MAX_CERTIFICATE_BYTES`].
    #[error(transparent)]
    Read(ReadErrorKind),
    /// It is no certificate chain or key, or one the binding's TLSA parameters cannot use.
    #[error(transparent)]
    Parse(#[from] daned_sign::SignError),
    /// The file holds no certificate.
    #[error("no certificate in the file")]
    NoCertificate,
    /// The end entity certificate has expired.
    #[error("certificate of {subject} expired at {not_after} (Unix time)")]
    Expired {
        /// Its subject.
        subject: String,
        /// Its notAfter, seconds since the epoch.
        not_after: i64,
    },
}

/// The bytes of `content` when they were read and are within the certificate cap, as
/// [`fsutil::read_bounded`] with [`fsutil::MAX_CERTIFICATE_BYTES`] would give them.
fn capped<'a>(content: Result<&'a [u8], &ReadErrorKind>) -> Result<&'a [u8], CertificateProblem> {
    let data = content.map_err(|kind| CertificateProblem::Read(kind.clone()))?;
    if data.len() as u64 > fsutil::MAX_CERTIFICATE_BYTES {
        return Err(CertificateProblem::Read(ReadErrorKind::TooLarge {
            max: fsutil::MAX_CERTIFICATE_BYTES,
        }));
    }
    Ok(data)
}

fn certificate_error(
    binding: &TlsaBinding,
    path: &std::path::Path,
    problem: CertificateProblem,
) -> ZoneError {
    ZoneError::Certificate {
        path: path.to_path_buf(),
        binding: binding.name.clone(),
        problem,
    }
}
