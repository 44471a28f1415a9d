//! A zone's DNSSEC keys at run time: each key's lifecycle record and file, the policy, and one
//! step of the lifecycle engine ([`daned_sign::lifecycle`]) with the keys it asks for created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use daned_sign::hickory_proto::rr::Name;
use daned_sign::keys::{KeyRole, SigningKey};
use daned_sign::lifecycle::{
    self, DsState, KeyPolicy, KeyRecord, KeyState, LifecycleError, NextAction, Transition,
};
use daned_sign::sign::{KeyUse, ZoneKey};
use daned_sign::zone::{Rrset, Zone};
use ring::rand::SecureRandom;

use crate::config::ZoneConfig;
use crate::zone::keys::store::{self as keystore};
use crate::zone::persist::state::{self, StateError, ZoneState};

use crate::zone::ZoneError;

/// One DNSSEC key of a zone: its lifecycle record, its file, and the key itself (absent only
/// for a removed key whose file is gone).
#[derive(Clone, Debug)]
pub struct KeyEntry {
    /// The lifecycle record (persisted in the state file).
    pub record: KeyRecord,
    /// The key file.
    pub file: PathBuf,
    /// The key.
    pub key: Option<Arc<SigningKey>>,
}

/// What the key lifecycle expects next, from the last [`lifecycle::advance`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyOutlook {
    /// The next timed step.
    pub next: Option<NextAction>,
    /// KSK/CSK tags whose DS is awaited at the parent.
    pub awaiting_ds: Vec<u16>,
}

/// An operator's key action, or just the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAction {
    /// Move the lifecycle to now (a timer).
    Tick,
    /// The DS of this key is at the parent (`daned ds-seen`, or polling found it).
    DsSeen(u16),
    /// Start a rollover of the active key of this role now (`daned key-rollover`).
    Roll(KeyRole),
}

/// How many rounds of "create the asked-for keys, advance again" one lifecycle step may take;
/// the engine asks at most once per role, so more means it is looping.
pub(crate) const MAX_KEY_ROUNDS: usize = 8;

impl KeyEntry {
    /// The stored form of the record (with the file's name).
    pub(crate) fn stored(&self) -> state::KeyState {
        let file = self
            .file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        state::KeyState::from_record(&self.record, file)
    }
}

/// The zone's key policy with `max_ttl` as the largest signed TTL (`TTLsig`).
pub(crate) fn key_policy(cfg: &ZoneConfig, max_ttl: u32) -> KeyPolicy {
    KeyPolicy {
        max_zone_ttl: max_ttl.max(cfg.signing.dnskey_ttl),
        ..cfg.keys.policy
    }
}

/// The largest TTL of any RRset in `content`. The NSEC/NSEC3 TTL (RFC 9077: the smaller of the
/// SOA's TTL and MINIMUM) is at most the SOA's TTL, so it is covered; the DNSKEY TTL is added
/// by [`key_policy`].
pub(crate) fn max_ttl(content: &Zone) -> u32 {
    content.rrsets().map(Rrset::ttl).max().unwrap_or(0)
}

/// The zone's keys at start: the records of the state file matched with their files, or, with
/// no records yet (first start of this version, or keys put in key-dir by hand or by
/// `daned import-key`), every key file adopted as active with its DS at the parent.
pub(crate) fn key_entries(
    cfg: &ZoneConfig,
    key_dir: &Path,
    state_dir: &Path,
    saved: Option<&ZoneState>,
    stored: Vec<keystore::StoredKey>,
    now: u32,
) -> Result<Vec<KeyEntry>, ZoneError> {
    let mut by_file: BTreeMap<PathBuf, Arc<SigningKey>> = stored
        .into_iter()
        .map(|k| (k.path, Arc::new(k.key)))
        .collect();
    let saved_keys = saved.map(|s| s.keys.as_slice()).unwrap_or_default();
    let corrupt = |reason: String| {
        ZoneError::State(StateError::Corrupt {
            path: state::state_path(state_dir, &cfg.origin),
            reason,
        })
    };
    let mut entries = Vec::with_capacity(saved_keys.len());
    for stored in saved_keys {
        let record = stored.to_record().map_err(corrupt)?;
        if stored.file.contains('/') || stored.file.is_empty() {
            return Err(corrupt(format!(
                "key {}: bad file name {:?}",
                stored.tag, stored.file
            )));
        }
        let path = key_dir.join(&stored.file);
        let key = by_file.remove(&path);
        match &key {
            Some(key) if key.key_tag() != record.tag || key.role() != record.role => {
                return Err(corrupt(format!(
                    "key {}: {} holds key {} ({:?})",
                    record.tag,
                    path.display(),
                    key.key_tag(),
                    key.role()
                )));
            }
            None if record.state != KeyState::Removed => {
                return Err(ZoneError::MissingKey {
                    origin: cfg.origin.clone(),
                    tag: record.tag,
                    state: record.state.name(),
                    path,
                });
            }
            _ => {}
        }
        entries.push(KeyEntry {
            record,
            file: path,
            key,
        });
    }
    let adopt = entries.is_empty();
    for (path, key) in by_file {
        if adopt {
            let record = adopted_record(&key, now);
            tracing::info!(zone = %cfg.origin, tag = record.tag, role = state::role_name(record.role), path = %path.display(), "key adopted as active (its DS is taken to be at the parent)");
            entries.push(KeyEntry {
                record,
                file: path,
                key: Some(key),
            });
        } else {
            tracing::warn!(zone = %cfg.origin, tag = key.key_tag(), path = %path.display(), "key file is not among the zone's keys; not used");
        }
    }
    Ok(entries)
}

/// Checks a zone's keys as a start would (for `daned check`): the key files load, and every
/// key the state file's records need has its file, holding that key. Nothing is written.
///
/// # Errors
///
/// [`ZoneError::MissingKey`] naming the file; a key or state file that cannot be read; a key
/// file that holds another key than its record says.
pub fn check_keys(
    cfg: &ZoneConfig,
    key_dir: &Path,
    state_dir: &Path,
    now: u32,
    rng: &dyn SecureRandom,
) -> Result<(), ZoneError> {
    let stored = keystore::load_keys(key_dir, &cfg.origin, rng)?;
    let saved = state::load(state_dir, &cfg.origin)?;
    key_entries(cfg, key_dir, state_dir, saved.as_ref(), stored, now).map(|_| ())
}

/// The record of a key found in key-dir with no record: active since `now`, its DS (for a KSK
/// or CSK) at the parent since `now` — the parent already has it, or the operator adds it.
pub(crate) fn adopted_record(key: &SigningKey, now: u32) -> KeyRecord {
    KeyRecord {
        tag: key.key_tag(),
        algorithm: key.algorithm(),
        role: key.role(),
        state: KeyState::Active,
        created: now,
        since: now,
        active_since: Some(now),
        ds: if key.role() == KeyRole::Zsk {
            DsState::None
        } else {
            DsState::Seen { at: now }
        },
    }
}

/// Runs [`lifecycle::advance`] (after [`lifecycle::start_roll`] when `roll` is given) over
/// `entries`, creating the keys it asks for (only when `create`; read-only callers sign with
/// what they have), until it asks for nothing. Returns the transitions and the outlook.
#[allow(
    clippy::too_many_arguments,
    reason = "one private step of start and update_keys"
)]
pub(crate) fn run_lifecycle(
    cfg: &ZoneConfig,
    key_dir: &Path,
    entries: &mut Vec<KeyEntry>,
    policy: &KeyPolicy,
    now: u32,
    rng: &dyn SecureRandom,
    create: bool,
    roll: Option<KeyRole>,
    spare: &mut Vec<KeyEntry>,
) -> Result<(Vec<Transition>, KeyOutlook), ZoneError> {
    let origin = &cfg.origin;
    let lifecycle_err = |source| ZoneError::Lifecycle {
        origin: origin.clone(),
        source,
    };
    let mut records: Vec<KeyRecord> = entries.iter().map(|e| e.record).collect();
    let mut advance = match roll {
        Some(role) => lifecycle::start_roll(now, policy, &mut records, role),
        None => lifecycle::advance(now, policy, &mut records),
    }
    .map_err(lifecycle_err)?;
    let mut transitions = Vec::new();
    for round in 0.. {
        if records.len() != entries.len()
            || records
                .iter()
                .zip(entries.iter())
                .any(|(r, e)| r.tag != e.record.tag)
        {
            return Err(lifecycle_err(LifecycleError::BadPolicy(
                "the lifecycle changed the list of keys".to_owned(),
            )));
        }
        for (entry, record) in entries.iter_mut().zip(&records) {
            entry.record = *record;
        }
        transitions.append(&mut advance.transitions);
        if advance.generate.is_empty() || !create {
            break;
        }
        if round == MAX_KEY_ROUNDS {
            return Err(lifecycle_err(LifecycleError::BadPolicy(format!(
                "the lifecycle still asks for keys after {MAX_KEY_ROUNDS} rounds"
            ))));
        }
        for new in &advance.generate {
            let taken: Vec<u16> = entries.iter().map(|e| e.record.tag).collect();
            let reusable = spare.iter().position(|e| {
                e.key.as_ref().is_some_and(|k| {
                    k.algorithm() == new.algorithm
                        && k.role() == new.role
                        && !taken.contains(&k.key_tag())
                })
            });
            let (file, key) = match reusable.map(|i| spare.remove(i)) {
                Some(KeyEntry {
                    file,
                    key: Some(key),
                    ..
                }) => {
                    tracing::info!(zone = %origin, tag = key.key_tag(), path = %file.display(), "reusing a key created by a step whose records could not be written");
                    (file, key)
                }
                _ => {
                    let stored = create_key_with_new_tag(
                        key_dir,
                        origin,
                        new.algorithm,
                        new.role,
                        &taken,
                        rng,
                    )?;
                    tracing::info!(zone = %origin, tag = stored.key.key_tag(), role = state::role_name(new.role), state = new.state.name(), path = %stored.path.display(), "created key");
                    (stored.path, Arc::new(stored.key))
                }
            };
            let record = KeyRecord::new(key.key_tag(), new.algorithm, new.role, new.state, now);
            records.push(record);
            entries.push(KeyEntry {
                record,
                file,
                key: Some(key),
            });
        }
        advance = lifecycle::advance(now, policy, &mut records).map_err(lifecycle_err)?;
    }
    Ok((
        transitions,
        KeyOutlook {
            next: advance.next,
            awaiting_ds: advance.awaiting_ds,
        },
    ))
}

/// Creates a key whose tag no other key of the zone has (`daned ds-seen` names keys by tag). A
/// key drawn with a taken tag stays on disk unused (keys are never deleted) and is logged.
pub(crate) fn create_key_with_new_tag(
    key_dir: &Path,
    origin: &Name,
    algorithm: daned_sign::keys::KeyAlgorithm,
    role: KeyRole,
    taken: &[u16],
    rng: &dyn SecureRandom,
) -> Result<keystore::StoredKey, ZoneError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let stored = keystore::create_key(key_dir, origin, algorithm, role, rng)?;
        if !taken.contains(&stored.key.key_tag()) || attempt == 8 {
            return Ok(stored);
        }
        tracing::warn!(zone = %origin, tag = stored.key.key_tag(), path = %stored.path.display(), "new key has the tag of another key of the zone; not used, drawing another");
    }
}

pub(crate) fn log_transitions(origin: &Name, transitions: &[Transition]) {
    for t in transitions {
        tracing::info!(
            zone = %origin,
            tag = t.tag,
            role = state::role_name(t.role),
            from = t.from.name(),
            to = t.to.name(),
            "key state changed"
        );
    }
}

/// What each usable key does under `policy` (indices into `entries`; keys that do nothing are
/// left out).
pub(crate) fn usages(entries: &[KeyEntry], policy: &KeyPolicy) -> Vec<(usize, KeyUse)> {
    let records: Vec<KeyRecord> = entries.iter().map(|e| e.record).collect();
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.key.is_some())
        .map(|(i, e)| (i, e.record.usage(policy, &records)))
        .filter(|(_, usage)| *usage != KeyUse::default())
        .collect()
}

/// The keys of `used` with their use.
pub(crate) fn used_keys<'e>(
    entries: &'e [KeyEntry],
    used: &[(usize, KeyUse)],
) -> Vec<(&'e SigningKey, KeyUse)> {
    used.iter()
        .filter_map(|&(i, usage)| {
            let key = entries.get(i)?.key.as_deref()?;
            Some((key, usage))
        })
        .collect()
}

/// The DNSKEYs of every key of the zone (what a new version's RRSIGs may be made with).
pub(crate) fn signer_keys(
    entries: &[KeyEntry],
) -> Vec<daned_sign::hickory_proto::dnssec::rdata::DNSKEY> {
    entries
        .iter()
        .filter_map(|e| e.key.as_ref().map(|k| k.dnskey().clone()))
        .collect()
}

/// The signer's view of `used`.
pub(crate) fn zone_keys<'e>(entries: &'e [KeyEntry], used: &[(usize, KeyUse)]) -> Vec<ZoneKey<'e>> {
    used_keys(entries, used)
        .into_iter()
        .map(|(key, usage)| ZoneKey { key, usage })
        .collect()
}
