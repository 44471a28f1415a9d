//! What a binding's files say: the TLSA record of a certificate file, or of a staged next-key
//! file, as it is on disk now.

use daned_sign::tlsa as sign_tlsa;

use crate::config::{CertificateSource, TlsaBinding};
use crate::fsutil;
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
    let bad = |reason: String| ZoneError::Certificate {
        path: source.file.clone(),
        binding: binding.name.clone(),
        reason,
    };
    let data = fsutil::read_bounded(&source.file, fsutil::MAX_CERTIFICATE_BYTES)
        .map_err(|e| bad(e.kind.to_string()))?;
    let chain = sign_tlsa::parse_chain(&data).map_err(|e| bad(e.to_string()))?;
    let end_entity = chain
        .first()
        .ok_or_else(|| bad("no certificate in the file".into()))?;
    let info = sign_tlsa::certificate_info(end_entity).map_err(|e| bad(e.to_string()))?;
    if info.not_after < i64::from(now) {
        return Err(bad(format!(
            "certificate of {} expired at {} (Unix time)",
            info.subject, info.not_after
        )));
    }
    let rdata = sign_tlsa::tlsa_from_chain(&chain, binding.spec).map_err(|e| bad(e.to_string()))?;
    Ok(CertificateRead {
        record: TlsaRdata::from(&rdata),
        family: daned_sign::dane::key_family_of_certificate(end_entity),
        not_after: info.not_after,
        chain,
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
    let bad = |reason: String| ZoneError::Certificate {
        path: path.clone(),
        binding: binding.name.clone(),
        reason,
    };
    let data = match fsutil::read_bounded(path, fsutil::MAX_CERTIFICATE_BYTES) {
        Ok(data) => data,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(bad(e.kind.to_string())),
    };
    let spki = daned_sign::spki::spki_from_pem_or_der(&data).map_err(|e| bad(e.to_string()))?;
    let rdata = sign_tlsa::tlsa_from_spki(&spki, binding.spec).map_err(|e| bad(e.to_string()))?;
    Ok(Some(TlsaRdata::from(&rdata)))
}
