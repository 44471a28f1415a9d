//! TLSA records from certificates (RFC 6698 §2, RFC 7671).

use hickory_proto::rr::rdata::TLSA;

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
    /// `3 1 1`, the DANE-EE SPKI SHA-256 record RFC 7671 §5.1 recommends.
    fn default() -> Self {
        Self {
            usage: 3,
            selector: 1,
            matching: 1,
        }
    }
}

/// Reads a certificate chain: one or more PEM `CERTIFICATE` blocks, or a single DER
/// certificate. Returns the DER of each certificate, end entity first.
///
/// # Errors
///
/// [`SignError::Certificate`] when there is no certificate or one does not parse.
pub fn parse_chain(_data: &[u8]) -> Result<Vec<Vec<u8>>, SignError> {
    todo!()
}

/// The TLSA RDATA for `chain` (end entity first) under `spec`: usages 1 and 3 use the end-entity
/// certificate, usages 0 and 2 the issuer (the second certificate).
///
/// # Errors
///
/// [`SignError::Certificate`] for an unknown usage/selector/matching value, a chain too short for
/// the usage, or a certificate that does not parse.
pub fn tlsa_from_chain(_chain: &[Vec<u8>], _spec: TlsaSpec) -> Result<TLSA, SignError> {
    todo!()
}
