//! RRSIG creation and verification (RFC 4034 §3, RFC 4035 §2.2 and §5.3).

use hickory_proto::dnssec::rdata::{DNSKEY, RRSIG};
use hickory_proto::rr::{Name, Record};
use ring::rand::SecureRandom;

use crate::error::SignError;
use crate::keys::SigningKey;
use crate::zone::Rrset;

/// The validity window of a signature, in seconds since the epoch (RFC 1982 arithmetic applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigTimes {
    /// Signature inception.
    pub inception: u32,
    /// Signature expiration.
    pub expiration: u32,
}

/// Signs `rrset` with `key` as zone `signer`, returning the RRSIG record (owner and TTL of the
/// RRset, Labels without a leading wildcard label, Original TTL = the RRset's TTL).
///
/// # Errors
///
/// [`SignError::Signing`] when the key fails, [`SignError::Encode`] when the RRset cannot be put
/// in canonical form.
pub fn sign_rrset(
    _rrset: &Rrset,
    _key: &SigningKey,
    _signer: &Name,
    _times: SigTimes,
    _rng: &dyn SecureRandom,
) -> Result<Record, SignError> {
    todo!()
}

/// Checks that `rrsig` is a valid signature over `rrset` by `dnskey` (RFC 4035 §5.3), ignoring
/// the validity window. Used by tests and by the signer's self-check.
///
/// # Errors
///
/// [`SignError::BadZone`] naming what does not match.
pub fn verify_rrsig(_rrset: &Rrset, _rrsig: &RRSIG, _dnskey: &DNSKEY) -> Result<(), SignError> {
    todo!()
}
