//! The key lifecycle: which keys a zone has, what each does now, and when the next step is due.
//!
//! This is the pure half of automatic key rollovers (RFC 7583, RFC 6781 §4.1.4, RFC 7344). The
//! server keeps a list of [`KeyRecord`]s per zone (persisted), and at start, at each deadline
//! and after each operator action calls [`advance`] with the time and the [`KeyPolicy`]. The
//! engine moves keys from state to state when their waits are over, asks for new keys when a
//! rollover must start ([`Advance::generate`]), and says when to call it again
//! ([`Advance::next`]). The server creates the asked-for keys (it owns the RNG and the files),
//! adds them with [`KeyRecord::new`] and calls [`advance`] again, until nothing is asked for.
//! Each key's [`KeyRecord::usage`] then says what it does in the next signing pass.
//!
//! # States (Knot DNS's names)
//!
//! | state        | DNSKEY published | signs        | CDS/CDNSKEY | used in                      |
//! |--------------|------------------|--------------|-------------|------------------------------|
//! | `PreActive`  | no               | yes          | no          | algorithm roll, step 1       |
//! | `Published`  | yes              | DNSKEY only  | no          | every roll, new key          |
//! | `Ready`      | yes              | DNSKEY only  | yes         | KSK/CSK roll waiting for DS  |
//! | `Active`     | yes              | yes          | per policy  | steady state                 |
//! | `Retired`    | yes              | no           | no          | old key, caches forgetting   |
//! | `PostActive` | no               | yes          | no          | algorithm roll, last step    |
//! | `Removed`    | no               | no           | no          | kept for the record          |
//!
//! "DNSKEY only" applies to a KSK or CSK successor: it signs the DNSKEY, CDS and CDNSKEY
//! RRsets beside the old key, so the key set validates from either DS. A ZSK successor signs
//! nothing until it is active.
//!
//! # Timings (RFC 7583 names)
//!
//! - `Dprp` = [`KeyPolicy::propagation_delay`], `TTLkey` = [`KeyPolicy::dnskey_ttl`],
//!   `TTLsig` = [`KeyPolicy::max_zone_ttl`], `TTLds` = [`KeyPolicy::parent_ds_ttl`],
//!   `DprpP` = [`KeyPolicy::parent_propagation_delay`].
//! - ZSK, pre-publication (RFC 7583 §3.2.1): a successor is `Published` at
//!   `Tact(old) + Lzsk - IpubZ - safety`, `Ready` after `IpubZ = Dprp + TTLkey`, then the old
//!   key's lifetime ends: the successor becomes `Active`, the old one `Retired`, and `Removed`
//!   after `Iret = Dprp + TTLsig` (+ retire safety).
//! - KSK or CSK, double-DS (RFC 7583 §3.3; the parent holds both DS during the roll): the
//!   successor is `Published` (and, for a KSK or CSK, also signs the DNSKEY RRset), `Ready`
//!   after `Dprp + TTLkey`; from `Ready` the CDS/CDNSKEY RRsets carry both the old and the new
//!   key and the new key's [`DsState`] is `Submitted`. When the new DS is seen at the parent
//!   ([`ds_seen`], from `daned ds-seen` or from polling the parent), the roll waits
//!   `DprpP + TTLds`, then the successor is `Active` and the old key `Retired` (CDS/CDNSKEY: only
//!   the new key), `Removed` after `Dprp + max(TTLkey, TTLsig)`.
//! - Algorithm, conservative (RFC 6781 §4.1.4): the new keys are `PreActive` (sign everything,
//!   DNSKEY not published) for `Dprp + TTLsig`, then `Published` (still signing) for
//!   `Dprp + TTLkey`, then `Ready` (CDS/CDNSKEY: old and new) until the new DS is seen, plus
//!   `DprpP + TTLds`; then the new keys are `Active`, the old ones `PostActive` (DNSKEY
//!   withdrawn, still signing) for `Dprp + TTLkey`, then `Removed`.

use crate::keys::{KeyAlgorithm, KeyRole};
use crate::sign::KeyUse;

/// Whether a zone uses one combined key or a KSK and a ZSK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    /// One combined signing key (the default).
    Csk,
    /// A key-signing key and a zone-signing key.
    KskZsk,
}

/// When the zone's CDS and CDNSKEY RRsets are published (RFC 7344, RFC 8078).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CdsPolicy {
    /// Always, for every key whose DS the parent should hold (BIND's default).
    Always,
    /// Only while a KSK or CSK roll waits for the parent (Knot's `rollover`).
    Rollover,
    /// Never: the operator updates the parent by other means (`daned ds`).
    Never,
}

/// A zone's key policy. All durations in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPolicy {
    /// CSK or KSK+ZSK.
    pub mode: KeyMode,
    /// The algorithm of the keys; an active key of another algorithm starts an algorithm roll.
    pub algorithm: KeyAlgorithm,
    /// Lifetime of the KSK (or of the CSK in [`KeyMode::Csk`]); `None`: never rolled.
    pub ksk_lifetime: Option<u32>,
    /// Lifetime of the ZSK; `None`: never rolled. Unused in [`KeyMode::Csk`].
    pub zsk_lifetime: Option<u32>,
    /// TTL of the DNSKEY RRset (`TTLkey`).
    pub dnskey_ttl: u32,
    /// The largest TTL of any signed RRset in the zone (`TTLsig`): how long a signature may be
    /// cached.
    pub max_zone_ttl: u32,
    /// How long a change takes to reach every secondary (`Dprp`).
    pub propagation_delay: u32,
    /// TTL of the DS RRset at the parent (`TTLds`).
    pub parent_ds_ttl: u32,
    /// How long a DS change at the parent takes to reach all its servers (`DprpP`).
    pub parent_propagation_delay: u32,
    /// Extra margin added to every wait.
    pub safety_margin: u32,
    /// When CDS/CDNSKEY are published.
    pub cds: CdsPolicy,
}

/// A key's state. See the module documentation for what each does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyState {
    /// Signs, DNSKEY not published (first step of an algorithm roll).
    PreActive,
    /// DNSKEY published, waiting for caches to hold it.
    Published,
    /// DNSKEY in every cache; a KSK/CSK waits here for its DS at the parent.
    Ready,
    /// In use.
    Active,
    /// No longer signing; DNSKEY kept until cached signatures expire.
    Retired,
    /// DNSKEY withdrawn, still signing (last step of an algorithm roll).
    PostActive,
    /// Out of the zone. The record (and the key file) are kept.
    Removed,
}

impl KeyState {
    /// The lowercase name used in status output and the state file (`pre-active`, ...).
    pub fn name(self) -> &'static str {
        match self {
            KeyState::PreActive => "pre-active",
            KeyState::Published => "published",
            KeyState::Ready => "ready",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::PostActive => "post-active",
            KeyState::Removed => "removed",
        }
    }

    /// The state named `name` (the inverse of [`Self::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            KeyState::PreActive,
            KeyState::Published,
            KeyState::Ready,
            KeyState::Active,
            KeyState::Retired,
            KeyState::PostActive,
            KeyState::Removed,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// What is known of a KSK's or CSK's DS at the parent. ZSKs stay [`DsState::None`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DsState {
    /// Not wanted at the parent (yet), or a ZSK.
    None,
    /// Wanted at the parent since this time (CDS published); not seen there yet.
    Submitted {
        /// When it was first wanted.
        since: u32,
    },
    /// Seen at the parent at this time.
    Seen {
        /// When it was seen (or `daned ds-seen` said so).
        at: u32,
    },
    /// No longer wanted at the parent since this time.
    Withdrawn {
        /// When it stopped being wanted.
        since: u32,
    },
}

/// One key of a zone, as the lifecycle sees it. Plain data: the server persists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// Key tag (RFC 4034 Appendix B).
    pub tag: u16,
    /// Algorithm.
    pub algorithm: KeyAlgorithm,
    /// CSK, KSK or ZSK.
    pub role: KeyRole,
    /// Current state.
    pub state: KeyState,
    /// When it was created.
    pub created: u32,
    /// When it entered `state`.
    pub since: u32,
    /// When it became [`KeyState::Active`], if it has been.
    pub active_since: Option<u32>,
    /// Its DS at the parent (KSK and CSK).
    pub ds: DsState,
}

impl KeyRecord {
    /// A key created at `now` in `state` (what [`Advance::generate`] asked for says which).
    pub fn new(
        tag: u16,
        algorithm: KeyAlgorithm,
        role: KeyRole,
        state: KeyState,
        now: u32,
    ) -> Self {
        let _ = (tag, algorithm, role, state, now);
        todo!("lifecycle helper")
    }

    /// What the key does in the next signing pass, given `policy` and the other keys (`keys`
    /// includes `self`).
    pub fn usage(&self, policy: &KeyPolicy, keys: &[KeyRecord]) -> KeyUse {
        let _ = (policy, keys);
        todo!("lifecycle helper")
    }
}

/// A key the engine wants created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewKey {
    /// Its role.
    pub role: KeyRole,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// The state to add it in (with [`KeyRecord::new`]).
    pub state: KeyState,
}

/// One state change made by [`advance`], for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The key.
    pub tag: u16,
    /// Its role.
    pub role: KeyRole,
    /// The state it left.
    pub from: KeyState,
    /// The state it entered.
    pub to: KeyState,
}

/// The next thing the lifecycle will do by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextAction {
    /// When (seconds since the epoch).
    pub at: u32,
    /// What, for `daned status`: e.g. "key 12345 (zsk) active -> retired".
    pub what: String,
}

/// What [`advance`] did and wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Advance {
    /// The state changes it made (the zone must be re-signed when not empty).
    pub transitions: Vec<Transition>,
    /// Keys to create now, then call [`advance`] again.
    pub generate: Vec<NewKey>,
    /// The next timed step; `None` while waiting only for the parent's DS (or for nothing).
    pub next: Option<NextAction>,
    /// KSK/CSK tags whose DS is wanted at the parent and not seen yet: what to poll the parent
    /// for, and what `daned ds-seen` may confirm.
    pub awaiting_ds: Vec<u16>,
}

/// Errors of the lifecycle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleError {
    /// `ds-seen` for a key the zone does not have.
    #[error("no key with tag {tag}")]
    UnknownKey {
        /// The tag given.
        tag: u16,
    },
    /// `ds-seen` for a key whose DS is not awaited.
    #[error("key {tag} is {state}: its DS is not awaited at the parent")]
    NotAwaitingDs {
        /// The tag given.
        tag: u16,
        /// The key's state name.
        state: &'static str,
    },
    /// The policy is unusable (e.g. a lifetime shorter than the rollover it needs).
    #[error("key policy: {0}")]
    BadPolicy(String),
}

/// Moves `keys` forward to `now` under `policy`. Idempotent: a second call at the same `now`
/// with the same keys changes nothing. With no usable key at all it asks for the initial keys
/// (created `Active`: the first signing of a zone has nothing to roll from).
///
/// # Errors
///
/// [`LifecycleError::BadPolicy`] when `policy` cannot work.
pub fn advance(
    now: u32,
    policy: &KeyPolicy,
    keys: &mut Vec<KeyRecord>,
) -> Result<Advance, LifecycleError> {
    let _ = (now, policy, keys);
    todo!("lifecycle helper")
}

/// Records that the DS of key `tag` is at the parent, at `now` (`daned ds-seen ZONE TAG`, or
/// polling found it at every parent server).
///
/// # Errors
///
/// [`LifecycleError::UnknownKey`] or [`LifecycleError::NotAwaitingDs`].
pub fn ds_seen(now: u32, keys: &mut [KeyRecord], tag: u16) -> Result<(), LifecycleError> {
    let _ = (now, keys, tag);
    todo!("lifecycle helper")
}

/// Starts a rollover of the active key of `role` now, whatever its lifetime (`daned keys roll`).
///
/// # Errors
///
/// [`LifecycleError::BadPolicy`] when the zone has no active key of that role or a roll of it is
/// already under way.
pub fn start_roll(
    now: u32,
    policy: &KeyPolicy,
    keys: &mut Vec<KeyRecord>,
    role: KeyRole,
) -> Result<Advance, LifecycleError> {
    let _ = (now, policy, keys, role);
    todo!("lifecycle helper")
}
