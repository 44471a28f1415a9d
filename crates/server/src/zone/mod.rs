//! One zone at run time: its content (the zone file plus the TLSA records of its certificate
//! bindings), its keys, its persisted state and its current signed version.
//!
//! The TLSA records of a binding are not read straight from the certificate: each binding has a
//! rollover state ([`tlsa::rollover::BindingState`]) that decides what is published (the current key, a staged
//! next key, an old key during its hold-down). A certificate that cannot be used never replaces
//! the last good records.
//!
//! Everything here is synchronous and runs off the query path (the manager calls it on a
//! blocking thread); queries only ever see the `Arc<SignedZone>` it publishes.

mod commit;
mod content;
pub mod keys;
mod on_control;
mod on_file;
mod on_secondary;
mod on_timer;
pub mod persist;
pub(crate) mod propagated;
mod resume;
pub(crate) mod tlsa;
pub mod zonefile;

pub use content::{
    Content, compose, content_digest, generated_rrsets, load_base, preview_content, rrsets_digest,
};
use content::{file_serial, generated_changes};
use keys::lifecycle::{
    key_entries, key_policy, log_transitions, max_ttl, run_lifecycle, signer_keys, usages,
    used_keys, zone_keys,
};

pub use keys::lifecycle::{KeyAction, KeyEntry, KeyOutlook, check_keys};
pub use tlsa::binding::*;
pub use tlsa::certificate::{CertificateRead, read_certificate, read_next_key};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use daned_sign::SignError;
use daned_sign::hickory_proto::rr::Name;
use daned_sign::lifecycle::{KeyPolicy, LifecycleError};
use daned_sign::serial::next_serial;
use daned_sign::sign::{self, KeyUse, SignCtx, ZoneKey};
use daned_sign::zone::{Rrset, SignedZone, Zone, ZoneDelta};
use ring::rand::SecureRandom;

use crate::config::ZoneConfig;
use crate::zone::keys::store::{self as keystore, KeyStoreError};
use crate::zone::persist::signed::{self as kept, Fingerprint};
use crate::zone::persist::state::{self, StateError};
pub use crate::zone::propagated::Propagated;
use crate::zone::tlsa::rollover::Event;
use zonefile::{ZoneFileError, ZoneFileErrors};

/// Why a zone could not be loaded, signed or reloaded. The previous signed version, if any, is
/// untouched and still served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    /// The zone file has errors (each with file and line).
    #[error("{0}")]
    ZoneFile(#[from] ZoneFileErrors),
    /// A certificate (or next-key file) of a TLSA binding is unusable.
    #[error("{}: TLSA binding {binding:?}: {problem}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// The binding's name.
        binding: String,
        /// What is wrong.
        #[source]
        problem: tlsa::certificate::CertificateProblem,
    },
    /// A TLSA binding clashes with the zone file.
    #[error("{}: TLSA binding {binding:?}: {reason}", path.display())]
    Binding {
        /// The zone file.
        path: PathBuf,
        /// The binding's name.
        binding: String,
        /// What is wrong.
        reason: String,
    },
    /// A key file problem.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// A state file problem.
    #[error(transparent)]
    State(#[from] StateError),
    /// The zone has no key and keys may not be created here.
    #[error("zone {origin}: no key in {}; `daned serve` creates one on first start", dir.display())]
    NoKeys {
        /// The zone.
        origin: Name,
        /// The key directory.
        dir: PathBuf,
    },
    /// A key the zone's records need has no file in key-dir (keys are never deleted by daned:
    /// restore it from a backup).
    #[error("zone {origin}: key {tag} ({state}) is missing: {}", path.display())]
    MissingKey {
        /// The zone.
        origin: Name,
        /// Its tag.
        tag: u16,
        /// Its lifecycle state.
        state: &'static str,
        /// The file expected.
        path: PathBuf,
    },
    /// The key lifecycle refused (a bad policy, `ds-seen` for a key not awaited, ...).
    #[error("zone {origin}: {source}")]
    Lifecycle {
        /// The zone.
        origin: Name,
        /// The lifecycle's error.
        source: LifecycleError,
    },
    /// Signing failed.
    #[error("zone {origin}: {source}")]
    Sign {
        /// The zone.
        origin: Name,
        /// The signer's error.
        source: SignError,
    },
    /// A new version failed its check before serving (a signature that does not verify, a
    /// broken NSEC or NSEC3 link): it is not served and the last good version stays.
    #[error("zone {origin}: version {serial} failed validation and is not served: {source}")]
    Validation {
        /// The zone.
        origin: Name,
        /// The serial of the version refused.
        serial: u32,
        /// What failed.
        source: SignError,
    },
}

/// What the runtime may do to the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Serving: create a key when there is none, persist the serial and rollover state.
    Serve,
    /// Read-only (`check`, `dump`, `ds`): never write anything.
    ReadOnly,
}

/// Counters for the metrics and `daned status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneCounters {
    /// Certificate or next-key files found unusable (each new problem once).
    pub certificate_errors: u64,
    /// Key changes that were not staged first.
    pub unsafe_switches: u64,
    /// Reloads or binding updates that failed (the previous version stayed).
    pub failed_updates: u64,
    /// New versions refused by the check before serving (the previous version stayed).
    pub validation_failures: u64,
}

/// A state write that failed: the change is tried again at `at` (a failed write changes
/// nothing, so the change is made again from the files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WriteRetry {
    /// When (seconds since the epoch).
    at: u32,
    /// Whether the zone file must be read again (a failed reload), not only the certificates.
    zone_file: bool,
}

/// Seconds between tries of a failed state write (and how long the zone's timers wait).
const WRITE_RETRY_SECS: u32 = 5;

/// How many RRsets besides the apex the check of a whole new version (a start) verifies; the
/// NSEC/NSEC3 chain is checked whole. See [`daned_sign::validate::validate_sample`].
const START_VALIDATION_SAMPLE: usize = 2000;

/// A zone being served.
pub struct ZoneRuntime {
    cfg: ZoneConfig,
    key_dir: PathBuf,
    state_dir: PathBuf,
    mode: Mode,
    /// Every key of the zone, in the order they were added (indices are stable).
    entries: Vec<KeyEntry>,
    /// The keys the served version was signed with (indices into `entries`) and their use.
    signed_with: Vec<(usize, KeyUse)>,
    /// What the lifecycle expects next.
    outlook: KeyOutlook,
    /// The largest TTL in the content (never lowered by a partial update).
    max_ttl: u32,
    /// SHA-256 of the zone file's content, computed once per read.
    base_digest: [u8; 32],
    bindings: Vec<Binding>,
    /// The TLSA RRsets the bindings publish now.
    generated: BTreeMap<Name, Rrset>,
    /// `base` plus `generated`: what is signed.
    content: Zone,
    signed: Arc<SignedZone>,
    /// The earliest RRSIG expiration of `signed`, found once per signed version (the
    /// manager's loop asks for it on every turn).
    earliest_expiration: Option<u32>,
    warnings: Vec<ZoneFileError>,
    counters: ZoneCounters,
    last_error: Option<String>,
    /// When each serial was served by every secondary (from the manager's tracker; for a zone
    /// without secondaries, when it was published).
    propagated: Propagated,
    /// The bindings' rollover events not yet reported by a `daned reload` (binding key,
    /// event), oldest first, at most [`MAX_UNREPORTED`].
    unreported: Vec<(String, Event)>,
    /// A state write that failed and is tried again.
    write_retry: Option<WriteRetry>,
    /// What is missing from the key or state directory, found by [`Self::check_storage`].
    storage_error: Option<String>,
    /// Keys a key step created whose records could not be written: the next step reuses them
    /// (a failing state write retried every few seconds must not fill key-dir).
    unrecorded: Vec<KeyEntry>,
    /// The kept signed zone on disk: its serial and signing fingerprint (the journal
    /// continues it; see [`persist::signed`]).
    kept: Option<(u32, Fingerprint)>,
    /// Whether the start served the kept version instead of signing the zone whole.
    resumed: bool,
    /// Why the start did not, when it had a state to resume from.
    not_resumed: Option<resume::NotResumed>,
    /// The versions the start made on top of the kept one, for the journal (oldest first).
    start_deltas: Vec<ZoneDelta>,
}

/// How many rollover events wait for the next `daned reload` at most (the oldest go first).
const MAX_UNREPORTED: usize = 64;

impl ZoneRuntime {
    /// Loads keys (creating a CSK in [`Mode::Serve`] when there is none), the zone file, the
    /// persisted state and the certificates, chooses the serial and signs the zone.
    ///
    /// The serial: unchanged content keeps the persisted serial; changed content gets the zone
    /// file's serial if it is newer, else the persisted serial + 1.
    ///
    /// In [`Mode::Serve`], the version published before the restart is served again when the
    /// kept signed zone and the journal reproduce it under the same signing parameters and
    /// keys (`resume.rs`): a change of content while stopped is then signed on top of it
    /// ([`Self::take_start_deltas`] gives the journal its deltas). Otherwise the zone is
    /// signed whole and kept before it is published.
    ///
    /// # Errors
    ///
    /// See [`ZoneError`]. A binding whose certificate is unusable is not: it publishes what it
    /// published before (nothing at a first start) and reports the problem in its
    /// `last_error`, so that one missing certificate does not keep the zone, or the other
    /// zones, from being served.
    pub fn start(
        cfg: ZoneConfig,
        key_dir: PathBuf,
        state_dir: PathBuf,
        mode: Mode,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Self, ZoneError> {
        let saved = state::load(&state_dir, &cfg.origin)?;
        // The kept version is read meanwhile (`resume.rs`): while the keys and the zone file
        // are; it is used only when it applies.
        let loading = match &saved {
            Some(st) if mode == Mode::Serve => Some(resume::Loading::start(
                &state_dir,
                &cfg.origin,
                st.serial,
                cfg.journal,
                now,
            )),
            _ => None,
        };
        let stored = keystore::load_keys(&key_dir, &cfg.origin, rng)?;
        let base = load_base(&cfg)?;
        let mut bindings = Vec::with_capacity(cfg.tlsa.len());
        let mut certificate_errors = 0;
        for (binding_cfg, source) in every_certificate(&cfg) {
            let mut binding = Binding::new(
                binding_cfg,
                source,
                saved.as_ref().map(|s| &s.bindings),
                !cfg.secondaries.is_empty(),
            );
            // A certificate that cannot be used (even at the very first start, with nothing
            // published before) does not stop the zone: the binding publishes what it has
            // (nothing, then) and reports the error; the watcher picks up the fixed file.
            let (events, new_problem) = binding.observe(&cfg.origin, now, Files::Read);
            certificate_errors += u64::from(new_problem);
            if mode == Mode::Serve {
                log_events(&cfg.origin, &binding.key(), &events);
            }
            bindings.push(binding);
        }
        let generated = generated_rrsets(&cfg, &bindings)?;
        let content = compose(&cfg, &base.zone, &generated)?;
        for binding in &mut bindings {
            binding.probed.targets = probe_targets(&binding.cfg, &content);
        }
        let base_digest = rrsets_digest(base.zone.rrsets());
        let mut entries = key_entries(&cfg, &key_dir, &state_dir, saved.as_ref(), stored, now)?;
        if entries.is_empty() && mode == Mode::ReadOnly {
            return Err(ZoneError::NoKeys {
                origin: cfg.origin.clone(),
                dir: key_dir,
            });
        }
        let max_ttl = max_ttl(&content);
        let policy = key_policy(&cfg, max_ttl);
        let (transitions, outlook) = run_lifecycle(
            &cfg,
            &key_dir,
            &mut entries,
            &policy,
            now,
            rng,
            mode == Mode::Serve,
            None,
            &mut Vec::new(),
        )?;
        if mode == Mode::Serve {
            log_transitions(&cfg.origin, &transitions);
        }
        let signed_with = usages(&entries, &policy);
        let digest = content_digest(
            &base_digest,
            &generated,
            used_keys(&entries, &signed_with),
            cfg.signing.denial,
        );
        let wanted = file_serial(&content);
        let serial = match &saved {
            Some(st) if st.content_digest == digest => st.serial,
            Some(st) => next_serial(st.serial, wanted),
            None => wanted,
        };
        let fingerprint = kept::fingerprint(&cfg.signing, used_keys(&entries, &signed_with));
        let resumed = match (&saved, loading) {
            (Some(st), Some(loading)) => {
                let start = resume::Start {
                    cfg: &cfg,
                    saved: st,
                    fingerprint: &fingerprint,
                    content: &content,
                    digest: &digest,
                    entries: &entries,
                    signed_with: &signed_with,
                    now,
                    rng,
                };
                Some(resume::resume(&start, &state_dir, loading))
            }
            _ => None,
        };
        let (resumed, not_resumed) = match resumed {
            Some(Ok(resumed)) => (Some(resumed), None),
            Some(Err(why)) => (None, Some(why)),
            None => (None, None),
        };
        let (signed, start_deltas, kept_serial) = match resumed {
            Some(resumed) => (resumed.signed, resumed.deltas, Some(resumed.kept_serial)),
            None => {
                let signed = with_ctx(&cfg, &zone_keys(&entries, &signed_with), now, rng, |ctx| {
                    sign::sign_zone(ctx, &content, serial)
                })
                .map_err(|source| ZoneError::Sign {
                    origin: cfg.origin.clone(),
                    source,
                })?;
                daned_sign::validate::validate_sample(
                    &signed,
                    now,
                    START_VALIDATION_SAMPLE,
                    &signer_keys(&entries),
                    cfg.signing.threads,
                )
                .map_err(|source| ZoneError::Validation {
                    origin: cfg.origin.clone(),
                    serial,
                    source,
                })?;
                (signed, Vec::new(), None)
            }
        };
        // Nothing is known yet of what the secondaries serve: the manager tells (see
        // `Self::set_propagated`).
        let mut propagated = Propagated::default();
        if cfg.secondaries.is_empty() {
            propagated.served_alone(signed.serial(), now);
        }
        for binding in &mut bindings {
            binding.state.published_in(signed.serial());
            // Without secondaries (a config changed since the key was staged), the wait starts
            // now; with them, a restart starts it no earlier than they serve this serial.
            let mut events = binding.apply_propagation(&propagated);
            events.extend(binding.tick(now));
            if mode == Mode::Serve {
                log_events(&cfg.origin, &binding.key(), &events);
            }
        }
        let mut rt = Self {
            cfg,
            key_dir,
            state_dir,
            mode,
            entries,
            signed_with,
            outlook,
            max_ttl,
            base_digest,
            bindings,
            generated,
            content,
            earliest_expiration: signed.earliest_expiration(),
            signed: Arc::new(signed),
            warnings: base.warnings,
            counters: ZoneCounters {
                certificate_errors,
                ..ZoneCounters::default()
            },
            last_error: None,
            propagated,
            unreported: Vec::new(),
            write_retry: None,
            storage_error: None,
            unrecorded: Vec::new(),
            kept: kept_serial.map(|serial| (serial, fingerprint)),
            resumed: kept_serial.is_some(),
            not_resumed,
            start_deltas,
        };
        rt.persist()?;
        if mode == Mode::Serve && !rt.resumed {
            // Kept before it is published (the manager publishes once `start` returns); a
            // failure only costs the next start a whole signing.
            rt.keep_snapshot();
        }
        Ok(rt)
    }

    /// Writes the served version as the kept signed zone now, on this thread (a start, before
    /// the zone is published); a failure is a warning.
    pub(crate) fn keep_snapshot(&mut self) {
        let Some(job) = self.snapshot() else {
            return;
        };
        let started = std::time::Instant::now();
        match job.write() {
            Ok((serial, fingerprint, bytes)) => {
                tracing::info!(
                    zone = %self.cfg.origin,
                    serial,
                    bytes,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "signed zone kept"
                );
                self.kept = Some((serial, fingerprint));
            }
            Err(error) => {
                // A kept file of an earlier signing at the same serial must not be resumed by
                // the next start: it would serve signatures this run did not publish.
                let stale = kept::signed_path(&self.state_dir, &self.cfg.origin);
                let removed = std::fs::remove_file(&stale).and_then(|()| {
                    std::fs::File::open(&self.state_dir).and_then(|dir| dir.sync_all())
                });
                match removed {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::error!(
                        zone = %self.cfg.origin,
                        path = %stale.display(),
                        error = %e,
                        "an earlier kept signed zone could not be removed: remove it before the next start"
                    ),
                }
                tracing::warn!(zone = %self.cfg.origin, %error, "signed zone not kept; the next start signs it whole");
            }
        }
    }

    /// The served version to write as the kept signed zone (see [`persist::signed`]); `None`
    /// in [`Mode::ReadOnly`].
    pub(crate) fn snapshot(&self) -> Option<kept::Snapshot> {
        (self.mode == Mode::Serve).then(|| kept::Snapshot {
            dir: self.state_dir.clone(),
            zone: Arc::clone(&self.signed),
            fingerprint: self.fingerprint(),
        })
    }

    /// The signing fingerprint of the served version's parameters and keys now.
    fn fingerprint(&self) -> Fingerprint {
        kept::fingerprint(
            &self.cfg.signing,
            used_keys(&self.entries, &self.signed_with),
        )
    }

    /// Records that the kept signed zone on disk now holds `serial`, made with `fingerprint`.
    pub(crate) fn snapshot_written(&mut self, serial: u32, fingerprint: Fingerprint) {
        self.kept = Some((serial, fingerprint));
    }

    /// Whether the kept signed zone should be written again: there is none, the signing
    /// parameters or keys changed since, or its serial is about to leave `journal` (the
    /// journal no longer leads from it to the served serial, or more than half of its delta or
    /// byte bound lies after it).
    pub(crate) fn snapshot_due(&self, journal: &persist::journal::Journal) -> bool {
        if self.mode == Mode::ReadOnly {
            return false;
        }
        let Some((serial, fingerprint)) = self.kept else {
            return true;
        };
        if fingerprint != self.fingerprint() {
            return true;
        }
        let current = self.signed.serial();
        if serial == current {
            return false;
        }
        let limits = journal.limits();
        match journal.span_from(serial) {
            Some((deltas, bytes)) => {
                journal.last_serial() != Some(current)
                    || deltas * 2 > limits.max_deltas
                    || bytes * 2 > limits.max_bytes
            }
            None => true,
        }
    }

    /// Whether the start served the kept version (same serial, same RRSIGs as before the
    /// restart) instead of signing the zone whole.
    pub(crate) fn resumed(&self) -> bool {
        self.resumed
    }

    /// Why the start signed the zone whole although it had a state to resume from (what its
    /// warning said).
    pub(crate) fn not_resumed(&self) -> Option<&resume::NotResumed> {
        self.not_resumed.as_ref()
    }

    /// The versions the start made on top of the kept one (content changed while stopped,
    /// signatures refreshed), oldest first, for the journal; empty after the first call.
    pub(crate) fn take_start_deltas(&mut self) -> Vec<ZoneDelta> {
        std::mem::take(&mut self.start_deltas)
    }

    /// The zone's configuration.
    pub fn config(&self) -> &ZoneConfig {
        &self.cfg
    }

    /// The current signed version.
    pub fn signed(&self) -> &Arc<SignedZone> {
        &self.signed
    }

    /// The earliest RRSIG expiration of the current signed version (seconds since the epoch).
    pub fn earliest_expiration(&self) -> Option<u32> {
        self.earliest_expiration
    }

    /// Every key of the zone with its lifecycle record, removed ones included.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// What the key lifecycle expects next.
    pub fn key_outlook(&self) -> &KeyOutlook {
        &self.outlook
    }

    /// The zone's key policy now (the largest TTL taken from the content).
    pub fn key_policy(&self) -> KeyPolicy {
        key_policy(&self.cfg, self.max_ttl)
    }

    /// The TLSA bindings with their rollover state.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// Warnings from the last successful zone file read.
    pub fn warnings(&self) -> &[ZoneFileError] {
        &self.warnings
    }

    /// The counters since start.
    pub fn counters(&self) -> ZoneCounters {
        self.counters
    }

    /// The last reload or update error, cleared by the next success.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The rollover events since the last call (binding key, event), for `daned reload`.
    pub fn take_unreported(&mut self) -> Vec<(String, Event)> {
        std::mem::take(&mut self.unreported)
    }

    /// Whether `path` is a certificate or next-key file of one of this zone's bindings.
    pub fn watches(&self, path: &Path) -> bool {
        self.bindings.iter().any(|b| b.uses(path))
    }

    /// Every certificate and next-key file of this zone.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        self.bindings
            .iter()
            .map(Binding::certificate)
            .flat_map(|s| std::iter::once(s.file.clone()).chain(s.next_key.clone()))
            .collect()
    }

    /// The key directory.
    pub fn key_dir(&self) -> &PathBuf {
        &self.key_dir
    }

    /// What [`Self::check_storage`] found missing, if anything.
    pub fn storage_error(&self) -> Option<&str> {
        self.storage_error.as_deref()
    }
}

fn with_ctx<T>(
    cfg: &ZoneConfig,
    keys: &[ZoneKey<'_>],
    now: u32,
    rng: &(dyn SecureRandom + Sync),
    f: impl FnOnce(&SignCtx<'_>) -> Result<T, SignError>,
) -> Result<T, SignError> {
    let ctx = SignCtx {
        now,
        policy: cfg.signing.policy,
        keys,
        dnskey_ttl: cfg.signing.dnskey_ttl,
        rng,
        denial: cfg.signing.denial,
        // `signing-threads`: the result is the one-thread result.
        threads: cfg.signing.threads,
    };
    f(&ctx)
}

#[cfg(test)]
mod tests;
