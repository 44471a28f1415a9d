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
//! - Every wait below includes [`KeyPolicy::safety_margin`] once. Deadlines are absolute:
//!   `since` (or the DS's `Seen::at`) plus the wait, so a restart resumes them.
//! - First keys: with no key `Active` or on its way to it, [`advance`] asks for the mode's keys
//!   (CSK, or KSK+ZSK) created `Active`; a new KSK or CSK's DS is then `Submitted` (wanted at
//!   the parent, listed in [`Advance::awaiting_ds`]) but nothing waits for it.
//! - ZSK, pre-publication (RFC 7583 §3.2.1): a successor is `Published` at
//!   `Tact(old) + Lzsk - IpubZ`, `Ready` after `IpubZ = Dprp + TTLkey`, which is when the old
//!   key's lifetime ends: the successor becomes `Active` as soon as it is `Ready`, the old one
//!   `Retired`, and `Removed` after `Iret = Dprp + TTLsig`.
//! - KSK or CSK, double-DS (RFC 7583 §3.3; the parent holds both DS during the roll): the
//!   successor is `Published` at `Tact(old) + L - (IpubK + DprpP + TTLds)` (and, for a KSK or
//!   CSK, also signs the DNSKEY RRset), `Ready` after `IpubK = Dprp + TTLkey`; from `Ready` the
//!   CDS/CDNSKEY RRsets carry both the old and the new key ([`CdsPolicy::Always`]; with
//!   [`CdsPolicy::Rollover`] the new key alone, a DS swap that is safe because the successor
//!   signs the DNSKEY RRset) and the new key's [`DsState`] is `Submitted`. When the new DS is seen at the parent ([`ds_seen`], from `daned ds-seen` or
//!   from polling the parent), the roll waits `DprpP + TTLds`, then the successor is `Active`
//!   and the old key `Retired` (its DS `Withdrawn`; CDS/CDNSKEY: only the new key), `Removed`
//!   after `Dprp + max(TTLkey, TTLsig)` (a CSK's signatures must expire from caches too).
//! - Algorithm, conservative (RFC 6781 §4.1.4), when [`KeyPolicy::algorithm`] differs from an
//!   active key's: new keys for every role of [`KeyPolicy::mode`] are `PreActive` (sign
//!   everything as their role, DNSKEY not published) for `Dprp + TTLsig`, then `Published`
//!   (still signing) for `Dprp + TTLkey`, then `Ready`. From `Ready` the CDS/CDNSKEY RRsets
//!   carry only the new keys: RFC 6781 §4.1.4 swaps the DS ("DS change") rather than adding
//!   one, because a validator that checks every DS algorithm (unbound's
//!   `harden-algo-downgrade`) fails once the old algorithm's DNSKEY is gone while its DS is still
//!   cached. The swap is safe at `Ready`: both algorithms have signed everything and both
//!   DNSKEYs have been in every cache since. The DS counts as seen when the parent serves the
//!   new DS and no longer the old one (the server's parent polling checks both; `daned ds-seen`
//!   asserts both). After `DprpP + TTLds` more the new keys are `Active`, the old ones
//!   `PostActive` (DNSKEY withdrawn, still signing) for `Dprp + TTLkey`, then `Removed`. At every step each
//!   algorithm of the DNSKEY RRset signs every RRset (RFC 4035 §2.2), also for every DNSKEY
//!   RRset a cache may still hold.
//! - Mode change with the same algorithm (CSK to KSK+ZSK or back): the new keys are `Published`
//!   (a new KSK or CSK signing the DNSKEY RRset, a new ZSK pre-published, signing nothing) and
//!   follow the KSK/CSK steps above together: all become `Active` when the new SEP key's DS has
//!   been seen `DprpP + TTLds` ago, and every old key is `Retired`.
//!
//! # Which rolls may run at once
//!
//! - At most one successor per role. An algorithm or mode roll (a "whole set" roll) starts only
//!   when every remaining key is `Active` (earlier rolls fully over), and no other roll starts
//!   until it is over (no `PreActive`, `PostActive` or successor of a new role or algorithm
//!   left). Its successors become `Active` together.
//! - With KSK+ZSK, a KSK roll and a ZSK roll may overlap: the KSK roll only changes which keys
//!   sign the DNSKEY RRset and which DS the parent holds (every DNSKEY RRset a cache may hold
//!   is signed by a key whose DS every cached DS RRset has, whatever ZSKs it lists), the ZSK
//!   roll only which key signs the rest (every cached signature is by a ZSK of every DNSKEY
//!   RRset a cache may hold, whatever KSKs it lists): neither condition depends on the other.
//! - [`start_roll`] starts the same roll as a lifetime would, at once; the successor becomes
//!   `Active` as soon as it is ready.
//! - A lifetime shorter than its roll's own waits is refused ([`LifecycleError::BadPolicy`]):
//!   `Lzsk >= IpubZ + Iret`, `Lksk >= IpubK + DprpP + TTLds + Dprp + max(TTLkey, TTLsig)`.

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
    /// Only while a KSK or CSK successor waits for its DS (`Ready`), naming that key alone: the
    /// parent swaps the old DS for the new one in one step (the successor already signs the
    /// DNSKEY RRset, so either DS validates). Like Knot's `rollover`.
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
    ///
    /// A key created [`KeyState::Active`] (the zone's first keys) counts as active since `now`,
    /// and a KSK or CSK created so has its DS wanted at the parent from `now`
    /// ([`DsState::Submitted`]): the operator must put it there, though nothing waits for it.
    pub fn new(
        tag: u16,
        algorithm: KeyAlgorithm,
        role: KeyRole,
        state: KeyState,
        now: u32,
    ) -> Self {
        let active = state == KeyState::Active;
        Self {
            tag,
            algorithm,
            role,
            state,
            created: now,
            since: now,
            active_since: active.then_some(now),
            ds: if active && is_sep(role) {
                DsState::Submitted { since: now }
            } else {
                DsState::None
            },
        }
    }

    /// What the key does in the next signing pass, given `policy` and the other keys (`keys`
    /// includes `self`).
    ///
    /// | state                  | publish | sign_keys / sign_zone                  | cds       |
    /// |------------------------|---------|----------------------------------------|-----------|
    /// | `PreActive`            | no      | as its role                            | no        |
    /// | `Published`, `Ready`   | yes     | KSK/CSK: keys only; ZSK: nothing; in an algorithm roll (its algorithm is no active key's): as its role | `Ready` KSK/CSK unless [`CdsPolicy::Never`] |
    /// | `Active`               | yes     | as its role                            | KSK/CSK with `Always`, except during an algorithm roll's DS swap |
    /// | `Retired`              | yes     | nothing                                | no        |
    /// | `PostActive`           | no      | as its role                            | no        |
    /// | `Removed`              | no      | nothing                                | no        |
    pub fn usage(&self, policy: &KeyPolicy, keys: &[KeyRecord]) -> KeyUse {
        let role = KeyUse::steady(self.role);
        let sep = is_sep(self.role);
        match self.state {
            KeyState::PreActive | KeyState::PostActive => KeyUse {
                publish: false,
                ..role
            },
            KeyState::Published | KeyState::Ready => {
                let in_algorithm_roll = keys.iter().any(|k| k.state == KeyState::Active)
                    && !keys
                        .iter()
                        .any(|k| k.state == KeyState::Active && k.algorithm == self.algorithm);
                KeyUse {
                    sign_zone: role.sign_zone && in_algorithm_roll,
                    cds: sep
                        && self.state == KeyState::Ready
                        && policy.cds != CdsPolicy::Never
                        && matches!(self.ds, DsState::Submitted { .. } | DsState::Seen { .. }),
                    ..role
                }
            }
            KeyState::Active => {
                // An algorithm roll swaps the DS (RFC 6781 §4.1.4): from its `Ready` step the
                // CDS names only the new keys, so the old algorithm's keys drop out of it.
                let superseded = keys.iter().any(|k| {
                    is_sep(k.role) && k.state == KeyState::Ready && k.algorithm != self.algorithm
                });
                // With `Rollover` only a successor waiting for its DS is named (Knot's way): the
                // parent replaces the old DS with the new one at once, which is safe because
                // the successor has signed the DNSKEY RRset since it was published. A parent
                // that acts on the CDS has then nothing left to remove after the roll.
                KeyUse {
                    cds: sep
                        && !superseded
                        && match policy.cds {
                            CdsPolicy::Always => true,
                            CdsPolicy::Rollover | CdsPolicy::Never => false,
                        },
                    ..role
                }
            }
            KeyState::Retired => KeyUse {
                publish: true,
                ..KeyUse::default()
            },
            KeyState::Removed => KeyUse::default(),
        }
    }

    /// Whether the key is on its way to `Active`.
    fn is_successor(&self) -> bool {
        matches!(
            self.state,
            KeyState::PreActive | KeyState::Published | KeyState::Ready
        )
    }

    /// "key 12345 (zsk)".
    fn label(&self) -> String {
        format!("key {} ({})", self.tag, role_name(self.role))
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
/// with the same keys changes nothing. With no usable key at all (none `Active` or on its way
/// to it) it asks for the initial keys (created `Active`: the first signing of a zone has
/// nothing to roll from).
///
/// Every wait is measured from the records' `since` (and the DS's `Seen::at`), so a call after
/// a restart, with the records reloaded, resumes where the previous run stopped; a step whose
/// deadline passed while the server was down happens at `now`, and the waits after it count
/// from `now` (from when the zone actually changes).
///
/// # Errors
///
/// [`LifecycleError::BadPolicy`] when `policy` cannot work.
#[allow(
    clippy::ptr_arg,
    reason = "the public signature takes the Vec so that a later version may add keys itself"
)]
pub fn advance(
    now: u32,
    policy: &KeyPolicy,
    keys: &mut Vec<KeyRecord>,
) -> Result<Advance, LifecycleError> {
    let waits = Waits::new(policy)?;
    let mut out = Advance::default();
    // Each pass makes the transitions whose deadline has passed; a transition can make another
    // one due at the same instant (a ZSK successor that becomes Ready is swapped in at once), so
    // repeat until nothing moves. Every transition moves a key forward in a finite order, so
    // this ends.
    while step(now, &waits, keys, &mut out.transitions) {}
    let (generate, roll_at) = wanted_keys(now, policy, &waits, keys);
    out.generate = generate;
    out.next = next_action(now, &waits, keys, roll_at);
    out.awaiting_ds = keys
        .iter()
        .filter(|k| k.state != KeyState::Removed && matches!(k.ds, DsState::Submitted { .. }))
        .map(|k| k.tag)
        .collect();
    Ok(out)
}

/// Records that the DS of key `tag` is at the parent, at `now` (`daned ds-seen ZONE TAG`, or
/// polling found it at every parent server). Saying it again for a DS already seen changes
/// nothing.
///
/// # Errors
///
/// [`LifecycleError::UnknownKey`] or [`LifecycleError::NotAwaitingDs`].
pub fn ds_seen(now: u32, keys: &mut [KeyRecord], tag: u16) -> Result<(), LifecycleError> {
    let key = keys
        .iter_mut()
        .filter(|k| k.tag == tag)
        .min_by_key(|k| k.state == KeyState::Removed)
        .ok_or(LifecycleError::UnknownKey { tag })?;
    match key.ds {
        DsState::Submitted { .. } if key.state != KeyState::Removed => {
            key.ds = DsState::Seen { at: now };
            Ok(())
        }
        DsState::Seen { .. } if key.state != KeyState::Removed => Ok(()),
        _ => Err(LifecycleError::NotAwaitingDs {
            tag,
            state: key.state.name(),
        }),
    }
}

/// Starts a rollover of the active key of `role` now, whatever its lifetime (`daned keys roll`).
/// First moves the keys forward like [`advance`]; the returned [`Advance`] asks for the
/// successor (same role and algorithm, created [`KeyState::Published`]), which then follows the
/// same steps as a scheduled roll. The roll exists once the caller has added that key.
///
/// # Errors
///
/// [`LifecycleError::BadPolicy`] when the zone has no active key of that role or a roll of it is
/// already under way (or an algorithm or mode roll, which replaces every key).
pub fn start_roll(
    now: u32,
    policy: &KeyPolicy,
    keys: &mut Vec<KeyRecord>,
    role: KeyRole,
) -> Result<Advance, LifecycleError> {
    let mut adv = advance(now, policy, keys)?;
    let name = role_name(role);
    let Some(active) = latest_active(keys, role) else {
        return Err(LifecycleError::BadPolicy(format!(
            "the zone has no active {name} to roll"
        )));
    };
    let algorithm = active.algorithm;
    if !adv.generate.is_empty()
        || combined_in_progress(keys)
        || keys.iter().any(|k| k.is_successor() && k.role == role)
    {
        return Err(LifecycleError::BadPolicy(format!(
            "a rollover of the {name} is already under way"
        )));
    }
    adv.generate.push(NewKey {
        role,
        algorithm,
        state: KeyState::Published,
    });
    Ok(adv)
}

/// The waits of a policy, each with the safety margin (RFC 7583 names in the module doc).
#[derive(Clone, Copy, Debug)]
struct Waits {
    /// `PreActive` -> `Published` (algorithm roll): `Dprp + TTLsig`.
    pre: u32,
    /// `Published` -> `Ready`: `IpubZ = IpubK = Dprp + TTLkey`.
    publish: u32,
    /// DS seen -> successor `Active`: `DprpP + TTLds`.
    ds: u32,
    /// ZSK `Retired` -> `Removed`: `Iret = Dprp + TTLsig`.
    retire_zsk: u32,
    /// KSK or CSK `Retired` -> `Removed`: `Dprp + max(TTLkey, TTLsig)`.
    retire_sep: u32,
    /// `PostActive` -> `Removed`: `Dprp + TTLkey`.
    post: u32,
}

impl Waits {
    /// The waits of `policy`, checked against its lifetimes.
    fn new(p: &KeyPolicy) -> Result<Self, LifecycleError> {
        let wait = |parts: &[u32]| {
            parts
                .iter()
                .fold(p.safety_margin, |acc, x| acc.saturating_add(*x))
        };
        let w = Self {
            pre: wait(&[p.propagation_delay, p.max_zone_ttl]),
            publish: wait(&[p.propagation_delay, p.dnskey_ttl]),
            ds: wait(&[p.parent_propagation_delay, p.parent_ds_ttl]),
            retire_zsk: wait(&[p.propagation_delay, p.max_zone_ttl]),
            retire_sep: wait(&[p.propagation_delay, p.dnskey_ttl.max(p.max_zone_ttl)]),
            post: wait(&[p.propagation_delay, p.dnskey_ttl]),
        };
        let sep = if p.mode == KeyMode::Csk { "csk" } else { "ksk" };
        if let Some(life) = p.ksk_lifetime {
            let need = w.publish.saturating_add(w.ds).saturating_add(w.retire_sep);
            if life < need {
                return Err(LifecycleError::BadPolicy(format!(
                    "the {sep} lifetime {life}s is shorter than its rollover: {}s to publish, \
                     {}s after the DS is seen, {}s to retire ({need}s)",
                    w.publish, w.ds, w.retire_sep
                )));
            }
        }
        if let (KeyMode::KskZsk, Some(life)) = (p.mode, p.zsk_lifetime) {
            let need = w.publish.saturating_add(w.retire_zsk);
            if life < need {
                return Err(LifecycleError::BadPolicy(format!(
                    "the zsk lifetime {life}s is shorter than its rollover: {}s to publish, {}s \
                     to retire ({need}s)",
                    w.publish, w.retire_zsk
                )));
            }
        }
        Ok(w)
    }

    /// How long a `Retired` key of `role` stays published.
    fn retire(&self, role: KeyRole) -> u32 {
        if is_sep(role) {
            self.retire_sep
        } else {
            self.retire_zsk
        }
    }
}

/// Whether a key of `role` has the SEP flag (its DS belongs at the parent).
fn is_sep(role: KeyRole) -> bool {
    matches!(role, KeyRole::Csk | KeyRole::Ksk)
}

/// `csk`, `ksk` or `zsk`.
fn role_name(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Csk => "csk",
        KeyRole::Ksk => "ksk",
        KeyRole::Zsk => "zsk",
    }
}

/// The roles a zone has under `mode`.
fn mode_roles(mode: KeyMode) -> &'static [KeyRole] {
    match mode {
        KeyMode::Csk => &[KeyRole::Csk],
        KeyMode::KskZsk => &[KeyRole::Ksk, KeyRole::Zsk],
    }
}

/// The most recently activated `Active` key of `role`.
fn latest_active(keys: &[KeyRecord], role: KeyRole) -> Option<&KeyRecord> {
    keys.iter()
        .filter(|k| k.state == KeyState::Active && k.role == role)
        .max_by_key(|k| k.active_since.unwrap_or(k.since))
}

/// Whether a roll that replaces the whole key set (an algorithm roll, or a change between CSK
/// and KSK+ZSK) is under way: a key is `PreActive` or `PostActive`, or a successor has a role
/// and algorithm that no active key has. Such a roll moves all its successors together, and no
/// other roll starts until it is over.
fn combined_in_progress(keys: &[KeyRecord]) -> bool {
    keys.iter().any(|k| {
        matches!(k.state, KeyState::PreActive | KeyState::PostActive)
            || (k.is_successor()
                && !keys.iter().any(|a| {
                    a.state == KeyState::Active && a.role == k.role && a.algorithm == k.algorithm
                }))
    })
}

/// When a successor is ready to replace the active key(s): `Ready`, and for a KSK or CSK its DS
/// seen at the parent `DprpP + TTLds` ago. `None` while that time is unknown (DS not seen, or
/// not yet `Ready`).
fn swap_time(k: &KeyRecord, w: &Waits) -> Option<u32> {
    if k.state != KeyState::Ready {
        return None;
    }
    if !is_sep(k.role) {
        return Some(k.since);
    }
    match k.ds {
        DsState::Seen { at } => Some(at.saturating_add(w.ds)),
        _ => None,
    }
}

/// The successors that become active together: all of them in a combined roll, else those of
/// one role.
fn groups(keys: &[KeyRecord]) -> Vec<Vec<usize>> {
    let successors: Vec<usize> = (0..keys.len())
        .filter(|&i| keys[i].is_successor())
        .collect();
    if successors.is_empty() {
        return Vec::new();
    }
    if combined_in_progress(keys) {
        return vec![successors];
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in successors {
        match out.iter_mut().find(|g| keys[g[0]].role == keys[i].role) {
            Some(g) => g.push(i),
            None => out.push(vec![i]),
        }
    }
    out
}

/// Makes every transition due at `now`; `true` when one was made.
fn step(now: u32, w: &Waits, keys: &mut [KeyRecord], log: &mut Vec<Transition>) -> bool {
    let mut moved = false;
    let mut set = |k: &mut KeyRecord, to: KeyState, log: &mut Vec<Transition>| {
        log.push(Transition {
            tag: k.tag,
            role: k.role,
            from: k.state,
            to,
        });
        k.state = to;
        k.since = now;
        moved = true;
    };
    for k in keys.iter_mut() {
        let due = |wait: u32| now >= k.since.saturating_add(wait);
        match k.state {
            KeyState::PreActive if due(w.pre) => set(k, KeyState::Published, log),
            KeyState::Published if due(w.publish) => {
                set(k, KeyState::Ready, log);
                if is_sep(k.role) {
                    k.ds = DsState::Submitted { since: now };
                }
            }
            KeyState::Retired if due(w.retire(k.role)) => set(k, KeyState::Removed, log),
            KeyState::PostActive if due(w.post) => set(k, KeyState::Removed, log),
            _ => {}
        }
    }
    let combined = combined_in_progress(keys);
    for group in groups(keys) {
        let ready = group
            .iter()
            .all(|&i| swap_time(&keys[i], w).is_some_and(|t| now >= t));
        if !ready {
            continue;
        }
        let roles: Vec<KeyRole> = group.iter().map(|&i| keys[i].role).collect();
        let algorithms: Vec<KeyAlgorithm> = group.iter().map(|&i| keys[i].algorithm).collect();
        for &i in &group {
            let k = &mut keys[i];
            set(k, KeyState::Active, log);
            k.active_since = Some(now);
        }
        for (i, k) in keys.iter_mut().enumerate() {
            if k.state != KeyState::Active || group.contains(&i) {
                continue;
            }
            if !combined && !roles.contains(&k.role) {
                continue;
            }
            // RFC 6781 §4.1.4: the keys of the old algorithm leave the DNSKEY RRset but keep
            // signing until no cache holds a DNSKEY RRset with them.
            let to = if algorithms.contains(&k.algorithm) {
                KeyState::Retired
            } else {
                KeyState::PostActive
            };
            set(k, to, log);
            if is_sep(k.role) {
                k.ds = DsState::Withdrawn { since: now };
            }
        }
    }
    moved
}

/// The keys to create now, and else when the next scheduled roll starts (with what for the
/// status line).
fn wanted_keys(
    now: u32,
    policy: &KeyPolicy,
    w: &Waits,
    keys: &[KeyRecord],
) -> (Vec<NewKey>, Option<(u32, String)>) {
    let active: Vec<&KeyRecord> = keys
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .collect();
    let wanted_roles = mode_roles(policy.mode);
    let new_keys = |state: KeyState| -> Vec<NewKey> {
        wanted_roles
            .iter()
            .map(|&role| NewKey {
                role,
                algorithm: policy.algorithm,
                state,
            })
            .collect()
    };
    if active.is_empty() && !keys.iter().any(KeyRecord::is_successor) {
        return (new_keys(KeyState::Active), None);
    }

    let algorithm_change = active.iter().any(|k| k.algorithm != policy.algorithm);
    let mode_change = wanted_roles
        .iter()
        .any(|r| !active.iter().any(|k| k.role == *r))
        || active.iter().any(|k| !wanted_roles.contains(&k.role));
    if algorithm_change || mode_change {
        // A roll of the whole key set starts only from a quiet zone: every remaining key active.
        let quiet = keys
            .iter()
            .all(|k| matches!(k.state, KeyState::Active | KeyState::Removed));
        if !quiet {
            return (Vec::new(), None);
        }
        let state = if algorithm_change {
            KeyState::PreActive
        } else {
            KeyState::Published
        };
        return (new_keys(state), None);
    }
    if combined_in_progress(keys) {
        return (Vec::new(), None);
    }

    let mut generate = Vec::new();
    let mut next: Option<(u32, String)> = None;
    for &role in wanted_roles {
        let Some(k) = latest_active(keys, role) else {
            continue;
        };
        let lifetime = if role == KeyRole::Zsk {
            policy.zsk_lifetime
        } else {
            policy.ksk_lifetime
        };
        let Some(lifetime) = lifetime else {
            continue;
        };
        if keys.iter().any(|s| s.is_successor() && s.role == role) {
            continue;
        }
        // The successor is created so that it is ready when the lifetime ends: `Ipub` before
        // it, and for a KSK or CSK also the wait after its DS is seen (assuming a quick parent).
        let lead = if is_sep(role) {
            w.publish.saturating_add(w.ds)
        } else {
            w.publish
        };
        let active_since = k.active_since.unwrap_or(k.since);
        let start = active_since
            .saturating_add(lifetime)
            .saturating_sub(lead)
            .max(active_since);
        if now >= start {
            generate.push(NewKey {
                role,
                algorithm: k.algorithm,
                state: KeyState::Published,
            });
        } else if next.as_ref().is_none_or(|(at, _)| start < *at) {
            next = Some((
                start,
                format!(
                    "{}: rollover starts, new {} published",
                    k.label(),
                    role_name(role)
                ),
            ));
        }
    }
    (generate, next)
}

/// The earliest timed step after `now`.
fn next_action(
    now: u32,
    w: &Waits,
    keys: &[KeyRecord],
    roll: Option<(u32, String)>,
) -> Option<NextAction> {
    let mut candidates: Vec<(u32, String)> = roll.into_iter().collect();
    for k in keys {
        let (wait, to) = match k.state {
            KeyState::PreActive => (w.pre, KeyState::Published),
            KeyState::Published => (w.publish, KeyState::Ready),
            KeyState::Retired => (w.retire(k.role), KeyState::Removed),
            KeyState::PostActive => (w.post, KeyState::Removed),
            _ => continue,
        };
        candidates.push((
            k.since.saturating_add(wait),
            format!("{} {} -> {}", k.label(), k.state.name(), to.name()),
        ));
    }
    for group in groups(keys) {
        let times: Option<Vec<u32>> = group.iter().map(|&i| swap_time(&keys[i], w)).collect();
        if let Some(at) = times.and_then(|t| t.into_iter().max()) {
            let what = group
                .iter()
                .map(|&i| format!("{} ready -> active", keys[i].label()))
                .collect::<Vec<_>>()
                .join(", ");
            candidates.push((at, what));
        }
    }
    candidates
        .into_iter()
        .filter(|(at, _)| *at > now)
        .min_by_key(|(at, _)| *at)
        .map(|(at, what)| NextAction { at, what })
}
