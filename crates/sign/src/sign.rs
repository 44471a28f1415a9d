//! Zone signing: full, incremental and signature refresh.

use ring::rand::SecureRandom;

use crate::error::SignError;
use crate::keys::SigningKey;
use crate::zone::{RrsetChange, SignedZone, Zone, ZoneDelta};

/// How signatures are timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignPolicy {
    /// Inception is back-dated by this many seconds for clock skew (default 3600).
    pub inception_offset: u32,
    /// Expiration is this many seconds after now (default 14 days).
    pub validity: u32,
    /// A signature is renewed once fewer than this many seconds remain before it expires
    /// (default 7 days); must be less than `validity`.
    pub refresh: u32,
}

impl Default for SignPolicy {
    fn default() -> Self {
        Self {
            inception_offset: 3600,
            validity: 14 * 86400,
            refresh: 7 * 86400,
        }
    }
}

/// Everything one signing pass needs from outside: the time, the policy, the keys and the RNG.
pub struct SignCtx<'a> {
    /// Now, in seconds since the epoch.
    pub now: u32,
    /// The signature timing.
    pub policy: SignPolicy,
    /// The active keys.
    pub keys: &'a [SigningKey],
    /// TTL of the DNSKEY RRset.
    pub dnskey_ttl: u32,
    /// The randomness for ECDSA.
    pub rng: &'a dyn SecureRandom,
}

/// Signs a whole zone, setting its SOA serial to `serial`.
///
/// # Errors
///
/// [`SignError::BadZone`] for a zone without SOA or with CNAME beside other data,
/// [`SignError::NoKeys`], or a signing failure.
pub fn sign_zone(_ctx: &SignCtx<'_>, _zone: &Zone, _serial: u32) -> Result<SignedZone, SignError> {
    todo!()
}

/// Applies content changes to a signed zone, re-signing only the changed RRsets, the SOA (with
/// `serial`) and the NSEC records whose type bitmap or next name changed.
///
/// # Errors
///
/// As [`sign_zone`].
pub fn apply_changes(
    _ctx: &SignCtx<'_>,
    _prev: &SignedZone,
    _changes: &[RrsetChange],
    _serial: u32,
) -> Result<(SignedZone, ZoneDelta), SignError> {
    todo!()
}

/// Re-signs every RRset whose signatures expire within `ctx.policy.refresh` of `ctx.now` (or
/// were made by a key no longer in `ctx.keys`), with a new SOA `serial`. `None` when nothing
/// needed it.
///
/// # Errors
///
/// As [`sign_zone`].
pub fn refresh_signatures(
    _ctx: &SignCtx<'_>,
    _prev: &SignedZone,
    _serial: u32,
) -> Result<Option<(SignedZone, ZoneDelta)>, SignError> {
    todo!()
}

pub(crate) fn earliest_expiration(_zone: &SignedZone) -> Option<u32> {
    todo!()
}
