//! One zone at run time: its content (the zone file plus the TLSA records of its certificate
//! bindings), its keys, its persisted state and its current signed version.
//!
//! The TLSA records of a binding are not read straight from the certificate: each binding has a
//! rollover state ([`BindingState`]) that decides what is published (the current key, a staged
//! next key, an old key during its hold-down). A certificate that cannot be used never replaces
//! the last good records.
//!
//! Everything here is synchronous and runs off the query path (the manager calls it on a
//! blocking thread); queries only ever see the `Arc<SignedZone>` it publishes.

mod content;
pub mod keys;
pub mod persist;
pub mod propagated;
pub mod tlsa;
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
pub use tlsa::certificate::{CertificateRead, read_certificate, read_next_key};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use daned_sign::SignError;
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::lifecycle::{self, KeyPolicy, KeyRecord, KeyState, LifecycleError};
use daned_sign::serial::{next_serial, serial_gt};
use daned_sign::sign::{self, KeyUse, SignCtx, ZoneKey};
use daned_sign::zone::{Rrset, SignedZone, Zone, ZoneDelta, canonical_name};
use ring::rand::SecureRandom;

use crate::config::{CertificateSource, TlsaBinding, ZoneConfig};
use crate::fsutil::ReadErrorKind;
use crate::zone::keys::store::{self as keystore, KeyStoreError};
use crate::zone::persist::state::{self, StateError, ZoneState};
pub use crate::zone::propagated::Propagated;
use crate::zone::tlsa::certificate::{expired, parse_certificate, parse_next_key};
use crate::zone::tlsa::probe::verdict::Probed;
use crate::zone::tlsa::probe::{Outcome, Target};
use crate::zone::tlsa::rollover::{BindingState, Event, Observation, Timing, TlsaRdata};
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
    #[error("{}: TLSA binding {binding:?}: {reason}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// The binding's name.
        binding: String,
        /// What is wrong.
        reason: String,
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

/// One certificate of a TLSA binding at run time: the binding's configuration, which of its
/// certificates this is, its rollover state, last problem and what the probe saw. A binding
/// with several certificates (RSA and ECDSA, say) has one of these per certificate, each
/// rolled over on its own; their records share the binding's owner names.
#[derive(Clone, Debug)]
pub struct Binding {
    /// The binding's configuration.
    pub cfg: TlsaBinding,
    /// Which of `cfg.certificates` this is.
    pub source: usize,
    /// What is published and why.
    pub state: BindingState,
    /// The last problem with the certificate or next-key file; `None` once they are good.
    pub last_error: Option<String>,
    /// Whether the zone has secondaries: a staged key's wait then starts once they serve it.
    pub await_propagation: bool,
    /// The key family of the certificate last read (which signature schemes show it).
    pub family: Option<daned_sign::dane::KeyFamily>,
    /// The notAfter of the certificate file last read (seconds since the epoch).
    pub not_after: Option<i64>,
    /// What the probe saw.
    pub probed: Probed,
    /// What the certificate and next-key files gave when last read, for an update that reads
    /// only one of them.
    seen: Seen,
}

/// What a binding's certificate and next-key files gave when last read: each file's record
/// (`None`: no usable certificate, no next key) or its problem.
#[derive(Clone, Debug)]
struct Seen {
    certificate: Result<Option<SeenCertificate>, String>,
    next: Result<Option<TlsaRdata>, String>,
}

impl Default for Seen {
    /// Nothing read yet (every binding reads both files when it starts).
    fn default() -> Self {
        Self {
            certificate: Ok(None),
            next: Ok(None),
        }
    }
}

/// A usable certificate as last read: its record, and its subject and notAfter, since it may
/// expire before it is read again.
#[derive(Clone, Debug)]
struct SeenCertificate {
    record: TlsaRdata,
    subject: String,
    not_after: i64,
}

/// Which of a binding's files an observation reads.
#[derive(Clone, Copy, Debug)]
enum Files<'a> {
    /// Both, from disk (start, reload, the retry of a failed write).
    Read,
    /// The one at this path, from the content the certificate watcher read (its bytes, or why
    /// it could not read them); the other one as last seen.
    Changed(&'a Path, Result<&'a [u8], &'a ReadErrorKind>),
}

impl Binding {
    /// A binding's certificate `source` with its persisted state (or none).
    fn new(
        cfg: &TlsaBinding,
        source: usize,
        saved: Option<&ZoneState>,
        await_propagation: bool,
    ) -> Self {
        let mut binding = Self {
            cfg: cfg.clone(),
            source,
            state: BindingState::default(),
            last_error: None,
            await_propagation,
            family: None,
            not_after: None,
            probed: Probed::default(),
            seen: Seen::default(),
        };
        if let Some(state) = saved.and_then(|s| s.bindings.get(&binding.key())) {
            binding.state = state.clone();
        }
        binding
    }

    /// The certificate (and next key) this is.
    pub fn certificate(&self) -> &CertificateSource {
        // `source` indexes the list it was made from, and a binding's list is never empty.
        &self.cfg.certificates[self.source]
    }

    /// The name its state is kept under: the binding's name for its first certificate (as
    /// before bindings had several), `NAME@FILE` for the others.
    pub fn key(&self) -> String {
        if self.source == 0 {
            self.cfg.name.clone()
        } else {
            format!("{}@{}", self.cfg.name, self.certificate().file.display())
        }
    }

    /// The key family the probe offers signature schemes for: this certificate's when the
    /// binding has several (so the server shows this one), any when it has one.
    pub fn probe_family(&self) -> Option<daned_sign::dane::KeyFamily> {
        if self.cfg.certificates.len() > 1 {
            self.family
        } else {
            None
        }
    }

    /// When this binding is to be probed next: `now` when its records or files changed or it
    /// was never probed, else `probe-interval` after the last probe. `None` when it is not
    /// probed (probing off, or no target).
    pub fn next_probe_at(&self, now: u32) -> Option<u32> {
        if !self.cfg.probe.enabled || self.probed.targets.is_empty() {
            return None;
        }
        match self.probed.last_probe {
            Some(at) if !self.probed.due_now => Some(at.wrapping_add(self.cfg.probe.interval)),
            _ => Some(now),
        }
    }

    /// Whether the probe holds back a replaced key's record: probing is on and a target does
    /// not present the key in use (or was not probed yet).
    pub fn holds_replaced(&self) -> bool {
        self.cfg.probe.enabled && self.probed.holds_replaced(&self.state)
    }

    fn timing(&self) -> Timing {
        Timing {
            ttl: self.cfg.ttl,
            margin: self.cfg.rollover_margin,
            await_propagation: self.await_propagation,
            hold_replaced: self.holds_replaced(),
        }
    }

    /// Starts the wait of a staged key waiting for the secondaries once every one serves the
    /// serial that first published it.
    fn apply_propagation(&mut self, propagated: &Propagated) -> Vec<Event> {
        let Some(Some(serial)) = self.state.awaiting_propagation() else {
            return Vec::new();
        };
        match propagated.at(serial) {
            Some(at) => {
                let timing = self.timing();
                self.state.propagated(at, &timing)
            }
            None => Vec::new(),
        }
    }

    /// Whether `path` is this binding's certificate or next-key file.
    fn uses(&self, path: &Path) -> bool {
        let source = self.certificate();
        source.file == path || source.next_key.as_deref() == Some(path)
    }

    /// Reads the certificate and next-key file (or takes the changed one's content, and the
    /// other as last seen: `files`) and feeds them to the rollover state. A file that cannot
    /// be used counts as absent (the last good records stay) and is reported once in
    /// `last_error`; the return value says whether a new problem appeared.
    fn observe(&mut self, origin: &Name, now: u32, files: Files<'_>) -> (Vec<Event>, bool) {
        let source = &self.cfg.certificates[self.source];
        let (certificate, next) = match files {
            Files::Read => (
                Some(read_certificate(&self.cfg, source, now)),
                Some(read_next_key(&self.cfg, source)),
            ),
            Files::Changed(path, content) => (
                (source.file == path).then(|| parse_certificate(&self.cfg, source, content, now)),
                (source.next_key.as_deref() == Some(path))
                    .then(|| parse_next_key(&self.cfg, source, content)),
            ),
        };
        if let Some(read) = certificate {
            self.seen.certificate = match read {
                Ok(read) => {
                    self.family = Some(read.family);
                    self.not_after = Some(read.not_after);
                    Ok(Some(SeenCertificate {
                        record: read.record,
                        subject: read.subject,
                        not_after: read.not_after,
                    }))
                }
                Err(e) => Err(e.to_string()),
            };
        }
        if let Some(next) = next {
            self.seen.next = next.map_err(|e| e.to_string());
        }
        let mut problems = Vec::new();
        let current = match &self.seen.certificate {
            // Checked again: a certificate kept from an earlier read may have expired since.
            Ok(Some(seen)) => {
                match expired(&self.cfg, source, &seen.subject, seen.not_after, now) {
                    Some(error) => {
                        problems.push(error.to_string());
                        None
                    }
                    None => Some(seen.record.clone()),
                }
            }
            Ok(None) => None,
            Err(problem) => {
                problems.push(problem.clone());
                None
            }
        };
        let next = match &self.seen.next {
            Ok(next) => next.clone(),
            Err(problem) => {
                problems.push(problem.clone());
                None
            }
        };
        let error = (!problems.is_empty()).then(|| problems.join("; "));
        let new_problem = error.is_some() && error != self.last_error;
        if new_problem {
            tracing::error!(
                zone = %origin,
                binding = %self.cfg.name,
                error = error.as_deref().unwrap_or_default(),
                "certificate unusable; the last good TLSA records stay published"
            );
        } else if error.is_none() && self.last_error.is_some() {
            tracing::info!(zone = %origin, binding = %self.cfg.name, "certificate usable again");
        }
        self.last_error = error;
        let events = self
            .state
            .observe(now, &Observation { current, next }, &self.timing());
        (events, new_problem)
    }

    fn tick(&mut self, now: u32) -> Vec<Event> {
        let timing = self.timing();
        self.state.tick(now, &timing)
    }
}

fn log_events(origin: &Name, binding: &str, events: &[Event]) {
    for event in events {
        match event {
            Event::UnsafeSwitch { exposure_until, .. } => tracing::warn!(
                zone = %origin,
                binding,
                %event,
                exposure_until = %crate::status::rfc3339(*exposure_until),
                "UNSAFE TLSA SWITCH: the certificate's key changed without being staged first; \
                 DANE senders that cached the old TLSA RRset may fail to deliver until \
                 exposure_until. Stage the next key (next-key) before deploying it."
            ),
            Event::EarlySwitch { early_by, .. } => tracing::warn!(
                zone = %origin,
                binding,
                %event,
                early_by,
                "the staged key was deployed before it was ready; resolvers may still cache an \
                 RRset without it"
            ),
            _ => tracing::info!(zone = %origin, binding, %event, "TLSA rollover"),
        }
    }
}

/// Every certificate of every binding of `cfg`: one runtime [`Binding`] each.
pub(crate) fn every_certificate(cfg: &ZoneConfig) -> impl Iterator<Item = (&TlsaBinding, usize)> {
    cfg.tlsa
        .iter()
        .flat_map(|b| (0..b.certificates.len()).map(move |i| (b, i)))
}

/// The (address, port) pairs a binding's records cover: for each owner `_PORT._tcp.HOST`,
/// each address of HOST (its A and AAAA records in `content`, or `probe-addresses`), at the
/// port `probe-port` maps PORT to, speaking `probe-protocol`'s dialogue. Owners of another
/// form (not `_PORT._tcp.`) have no target.
pub fn probe_targets(cfg: &TlsaBinding, content: &Zone) -> Vec<Target> {
    let mut targets = Vec::new();
    for owner in &cfg.owners {
        let labels: Vec<&[u8]> = owner.iter().collect();
        let (Some(port_label), Some(proto)) = (labels.first(), labels.get(1)) else {
            continue;
        };
        if !proto.eq_ignore_ascii_case(b"_tcp") {
            continue;
        }
        let Some(port) = port_label
            .strip_prefix(b"_")
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|p| p.parse::<u16>().ok())
        else {
            continue;
        };
        let host = owner.base_name().base_name();
        let addresses: Vec<std::net::IpAddr> = match &cfg.probe.addresses {
            Some(list) => list.clone(),
            None => {
                let host = canonical_name(&host);
                [RecordType::A, RecordType::AAAA]
                    .into_iter()
                    .filter_map(|rtype| content.get(&host, rtype))
                    .flat_map(|rrset| rrset.rdatas())
                    .filter_map(|rdata| match rdata {
                        RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
                        RData::AAAA(aaaa) => Some(std::net::IpAddr::V6(aaaa.0)),
                        _ => None,
                    })
                    .collect()
            }
        };
        for ip in addresses {
            let target = Target {
                host: host.clone(),
                port,
                connect: std::net::SocketAddr::new(ip, cfg.probe.connect_port(port)),
                protocol: cfg.probe.protocol(port),
            };
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
    }
    targets
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
        rng: &dyn SecureRandom,
    ) -> Result<Self, ZoneError> {
        let stored = keystore::load_keys(&key_dir, &cfg.origin, rng)?;
        let base = load_base(&cfg)?;
        let saved = state::load(&state_dir, &cfg.origin)?;
        let mut bindings = Vec::with_capacity(cfg.tlsa.len());
        let mut certificate_errors = 0;
        for (binding_cfg, source) in every_certificate(&cfg) {
            let mut binding = Binding::new(
                binding_cfg,
                source,
                saved.as_ref(),
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
        )
        .map_err(|source| ZoneError::Validation {
            origin: cfg.origin.clone(),
            serial,
            source,
        })?;
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
        let rt = Self {
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
        };
        rt.persist()?;
        Ok(rt)
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

    /// When every secondary served `serial` or a newer one (for a zone without secondaries,
    /// when daned published it); `None` while one does not serve it yet. For timings that
    /// count from when the whole zone's servers publish something (TLSA, key rollovers).
    pub fn propagated_at(&self, serial: u32) -> Option<u32> {
        self.propagated.at(serial)
    }

    /// What the secondaries serve now, as the manager's tracker knows it. When a serial became
    /// propagated, call [`Self::tick_bindings`] then: a staged key's wait may start.
    pub fn set_propagated(&mut self, propagated: Propagated) {
        self.propagated = propagated;
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

    /// The bindings (by index into [`Self::bindings`]) to probe at `now`: those never probed
    /// and those whose `probe-interval` has passed. `all` takes every binding with probing on.
    pub fn probes_due(&self, now: u32, all: bool) -> Vec<usize> {
        self.bindings
            .iter()
            .enumerate()
            .filter(|(_, b)| b.cfg.probe.enabled && !b.probed.targets.is_empty())
            .filter(|(_, b)| all || b.next_probe_at(now).is_some_and(|at| !serial_gt(at, now)))
            .map(|(index, _)| index)
            .collect()
    }

    /// A probe of binding `key` has started: it is no longer due.
    pub fn probe_started(&mut self, key: &str) {
        if let Some(binding) = self.bindings.iter_mut().find(|b| b.key() == key) {
            binding.probed.due_now = false;
        }
    }

    /// Records what a probe of binding `index` found at `now`, logs a target that presents a
    /// key no record matches (at most once per probe interval), then runs the rollover timers:
    /// a replaced key's record the probe held may leave now.
    ///
    /// # Errors
    ///
    /// As [`Self::tick_bindings`]; the results are kept either way.
    pub fn probed(
        &mut self,
        index: usize,
        results: Vec<(Target, Outcome)>,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let origin = self.cfg.origin.clone();
        if let Some(binding) = self.bindings.get_mut(index) {
            let before: Vec<_> = binding
                .probed
                .verdicts(&binding.state)
                .map(|(target, judged)| (target.clone(), judged.map(|j| j.verdict)))
                .collect();
            binding.probed.record(&binding.state, results, now);
            for (target, judged) in binding.probed.verdicts(&binding.state) {
                let Some(judged) = judged else { continue };
                let was = before
                    .iter()
                    .find(|(t, _)| t == target)
                    .and_then(|(_, verdict)| *verdict);
                if was == Some(judged.verdict) {
                    continue;
                }
                let reason = judged.reason.as_deref().unwrap_or("");
                let presented = judged.spki_sha256.as_deref().unwrap_or("-");
                if judged.verdict.is_good() {
                    tracing::info!(zone = %origin, binding = %binding.key(), %target, result = judged.verdict.as_str(), presented, "probe");
                } else {
                    tracing::warn!(zone = %origin, binding = %binding.key(), %target, result = judged.verdict.as_str(), reason, "probe");
                }
            }
            let mismatches = binding.probed.mismatches(&binding.state);
            let alarm_due = binding
                .probed
                .last_alarm
                .is_none_or(|at| now.wrapping_sub(at) >= binding.cfg.probe.interval);
            if !mismatches.is_empty() && alarm_due {
                binding.probed.last_alarm = Some(now);
                for (target, judged) in &mismatches {
                    tracing::error!(
                        zone = %origin,
                        binding = %binding.key(),
                        %target,
                        presented = judged.spki_sha256.as_deref().unwrap_or("?"),
                        published = %binding.state.published().iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                        "TLSA MISMATCH: the server presents a key that no published TLSA \
                         record matches; DANE senders cannot deliver to it"
                    );
                }
            }
            let held = binding.state.held(now);
            if !held.is_empty() && binding.holds_replaced() && alarm_due {
                let waiting: Vec<String> = binding
                    .probed
                    .verdicts(&binding.state)
                    .filter(|(_, j)| {
                        j.as_ref().is_none_or(|j| {
                            j.verdict != crate::zone::tlsa::probe::verdict::Verdict::Current
                        })
                    })
                    .map(|(target, j)| {
                        format!(
                            "{target} {}",
                            j.map_or("not probed yet", |j| j.verdict.as_str())
                        )
                    })
                    .collect();
                tracing::warn!(
                    zone = %origin,
                    binding = %binding.key(),
                    kept = %held.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    waiting_for = %waiting.join("; "),
                    "old TLSA record kept past its hold-down: a server does not present the new key yet"
                );
            }
        }
        self.tick_bindings(now, rng)
    }

    /// Re-reads the zone file and the certificates. Unchanged content is a no-op (`None`, same
    /// serial); otherwise only what changed is re-signed and a new serial published.
    ///
    /// # Errors
    ///
    /// See [`ZoneError`]; on error nothing changes.
    pub fn reload(
        &mut self,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let result = load_base(&self.cfg).and_then(|base| {
            let warnings = base.warnings;
            self.update(Some(base.zone), Some(Files::Read), now, rng, false)
                .map(|d| (d, warnings))
        });
        match result {
            Ok((delta, warnings)) => {
                self.warnings = warnings;
                Ok(delta)
            }
            Err(e) => {
                self.note_failure(&e);
                Err(e)
            }
        }
    }

    /// Applies a changed configuration of this zone (same origin; a `daned reload` of the
    /// config file) and re-reads the zone file and the certificates, like [`Self::reload`]:
    ///
    /// - bindings keep their rollover state by name (a changed certificate or TLSA parameter is
    ///   then observed like a certificate change); a new binding's certificate must be usable
    ///   now; a removed binding's records go;
    /// - `propagated` is what the secondaries serve under the new list (the manager's tracker,
    ///   reconfigured);
    /// - the zone is re-signed through the one update path when its content changed, or its
    ///   denial of existence or DNSKEY TTL did (then whole: [`sign::apply_changes`]);
    /// - the new signature timing applies to every signature made from now on and to the
    ///   refresh timer;
    /// - the key lifecycle sees the new key policy and algorithm at the next
    ///   [`Self::update_keys`], which the caller runs right after (an algorithm change starts
    ///   the RFC 6781 roll there).
    ///
    /// # Errors
    ///
    /// As [`Self::reload`], and an unusable certificate of a new binding. On error the
    /// previous configuration and version stay.
    pub fn reconfigure(
        &mut self,
        cfg: ZoneConfig,
        propagated: Propagated,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let prepared = self.prepare_config(&cfg, now);
        let result = prepared.and_then(|(base, bindings)| {
            let resign = cfg.signing.denial != self.cfg.signing.denial
                || cfg.signing.dnskey_ttl != self.cfg.signing.dnskey_ttl;
            let previous = (
                std::mem::replace(&mut self.cfg, cfg),
                std::mem::replace(&mut self.bindings, bindings),
                std::mem::replace(&mut self.propagated, propagated),
            );
            let result = self
                .update(Some(base.zone), Some(Files::Read), now, rng, resign)
                .and_then(|delta| {
                    if delta.is_none() {
                        // A binding removed, or settings the digest does not cover: the state
                        // file follows even when nothing was signed (a new version's write
                        // covered them already).
                        self.persist()?;
                    }
                    Ok(delta)
                });
            match result {
                Ok(delta) => {
                    self.warnings = base.warnings;
                    Ok(delta)
                }
                Err(e) => {
                    // `update` changes nothing on error: put the previous settings back.
                    (self.cfg, self.bindings, self.propagated) = previous;
                    Err(e)
                }
            }
        });
        result.inspect_err(|e| self.note_failure(e))
    }

    /// What [`Self::reconfigure`] swaps in for `cfg`: the zone file read and the bindings with
    /// the rollover state of the same-named ones.
    fn prepare_config(
        &self,
        cfg: &ZoneConfig,
        now: u32,
    ) -> Result<(Content, Vec<Binding>), ZoneError> {
        let base = load_base(cfg)?;
        let mut bindings = Vec::with_capacity(cfg.tlsa.len());
        for (binding_cfg, source) in every_certificate(cfg) {
            let mut binding = Binding::new(binding_cfg, source, None, !cfg.secondaries.is_empty());
            let key = binding.key();
            match self.bindings.iter().find(|b| b.key() == key) {
                Some(old) => {
                    binding.state = old.state.clone();
                    binding.last_error = old.last_error.clone();
                    binding.family = old.family;
                    binding.not_after = old.not_after;
                    binding.probed = old.probed.clone();
                    binding.seen = old.seen.clone();
                }
                None => {
                    // Nothing good from before: the certificate must be usable now.
                    read_certificate(binding_cfg, binding.certificate(), now)?;
                    read_next_key(binding_cfg, binding.certificate())?;
                }
            }
            bindings.push(binding);
        }
        for old in &self.bindings {
            if !cfg.tlsa.iter().any(|b| b.name == old.cfg.name) {
                tracing::info!(zone = %cfg.origin, binding = %old.cfg.name, "TLSA binding removed from the configuration; its records are withdrawn");
            }
        }
        Ok((base, bindings))
    }

    /// Re-reads every binding's certificate and next-key file only, not the zone file (the
    /// retry of a failed write). See [`Self::reload`].
    ///
    /// # Errors
    ///
    /// Signing or state errors; on error nothing changes.
    pub fn update_bindings(
        &mut self,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.update_from_base(Some(Files::Read), now, rng)
    }

    /// A certificate or next-key file changed (a certificate watcher event): the bindings whose
    /// file `path` is observe `content`, what the watcher read (its bytes, or why it could not
    /// read them), parsed as [`read_certificate`] and [`read_next_key`] would parse the file,
    /// with their other file as last seen; no file is read. The other bindings run their
    /// timers as [`Self::tick_bindings`] does.
    ///
    /// # Errors
    ///
    /// Signing or state errors; on error nothing changes.
    pub fn file_changed(
        &mut self,
        path: &Path,
        content: Result<&[u8], &ReadErrorKind>,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.update_from_base(Some(Files::Changed(path, content)), now, rng)
    }

    /// Runs the rollover timers (a staged key becoming ready, a hold-down ending) without
    /// reading any file.
    ///
    /// # Errors
    ///
    /// Signing or state errors; on error nothing changes.
    pub fn tick_bindings(
        &mut self,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.update_from_base(None, now, rng)
    }

    /// [`Self::update`] over the zone file content already read, counting a failure.
    fn update_from_base(
        &mut self,
        files: Option<Files<'_>>,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.update(None, files, now, rng, false)
            .inspect_err(|e| self.note_failure(e))
    }

    /// Counts a failed update and keeps its error for `daned status`.
    fn note_failure(&mut self, error: &ZoneError) {
        self.counters.failed_updates += 1;
        self.last_error = Some(error.to_string());
    }

    /// The one path every content change takes: rollover states advanced on copies, the
    /// changes found, only the difference signed, and everything committed together once
    /// signing succeeded.
    ///
    /// With a new zone file content (`new_base`), the whole content is composed and diffed
    /// (the file was read whole anyway). Without, only the generated TLSA RRsets can change, so
    /// only they are compared and patched in: a certificate update costs the same at 1k and
    /// 100k names.
    ///
    /// `resign` signs a new version even when the content did not change (the denial of
    /// existence or the DNSKEY TTL of the configuration did: [`sign::apply_changes`] then signs
    /// the whole zone again).
    ///
    /// `files` says which bindings observe their files: every one (read from disk), those
    /// that use a changed file (its content given), or none (`None`: timers only). The others
    /// run their timers.
    fn update(
        &mut self,
        new_base: Option<Zone>,
        files: Option<Files<'_>>,
        now: u32,
        rng: &dyn SecureRandom,
        resign: bool,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let mut bindings = self.bindings.clone();
        let mut all_events = Vec::new();
        let mut new_problems = 0;
        let mut observed = Vec::with_capacity(bindings.len());
        for binding in &mut bindings {
            let mut events = binding.apply_propagation(&self.propagated);
            let files = files.filter(|files| match files {
                Files::Read => true,
                Files::Changed(path, _) => binding.uses(path),
            });
            events.extend(match files {
                Some(files) => {
                    let (events, new_problem) = binding.observe(&self.cfg.origin, now, files);
                    new_problems += u64::from(new_problem);
                    events
                }
                None => binding.tick(now),
            });
            observed.push(files.is_some());
            all_events.push((binding.key(), events));
        }
        let generated = generated_rrsets(&self.cfg, &bindings)?;
        let (changes, new_content, base_digest) = match new_base {
            Some(base) => {
                let content = compose(&self.cfg, &base, &generated)?;
                let changes = self.content.diff(&content);
                (changes, Some(content), rrsets_digest(base.rrsets()))
            }
            None => (
                generated_changes(&self.generated, &generated),
                None,
                self.base_digest,
            ),
        };
        let wanted = file_serial(new_content.as_ref().unwrap_or(&self.content));
        let current = self.signed.serial();
        let version = if changes.is_empty() && !serial_gt(wanted, current) && !resign {
            None
        } else {
            let serial = next_serial(current, wanted);
            let keys = zone_keys(&self.entries, &self.signed_with);
            let (signed, delta) = with_ctx(&self.cfg, &keys, now, rng, |ctx| {
                sign::apply_changes(ctx, &self.signed, &changes, serial)
            })
            .map_err(|source| ZoneError::Sign {
                origin: self.cfg.origin.clone(),
                source,
            })?;
            self.validate(&signed, &delta, now, &self.entries.clone())?;
            Some((signed, delta))
        };
        let serial = version
            .as_ref()
            .map_or(current, |(signed, _)| signed.serial());
        for binding in &mut bindings {
            // A key staged just now waits for the secondaries to serve this serial.
            binding.state.published_in(serial);
        }
        let state_changed = bindings
            .iter()
            .zip(&self.bindings)
            .any(|(new, old)| new.state != old.state);
        if version.is_some() || state_changed {
            // Durable before published: nothing below runs unless the state is on disk.
            let st = self.state_of(
                serial,
                &base_digest,
                &generated,
                &self.entries,
                &self.signed_with,
                &bindings,
            );
            self.write_state(&st, now, new_content.is_some())?;
        }
        // Commit everything together.
        let delta = version.map(|(signed, delta)| {
            self.install(signed, now);
            delta
        });
        match new_content {
            Some(content) => {
                self.max_ttl = max_ttl(&content);
                self.content = content;
            }
            None => {
                for change in &changes {
                    match &change.rrset {
                        // The owners lie inside the zone: checked when the config was read and
                        // again when the content was first composed, so insert cannot fail.
                        Some(rrset) => {
                            self.max_ttl = self.max_ttl.max(rrset.ttl());
                            let _ = self.content.insert(rrset.clone());
                        }
                        None => {
                            self.content.remove(&change.name, change.rtype);
                        }
                    }
                }
            }
        }
        self.base_digest = base_digest;
        for ((new, old), observed) in bindings.iter_mut().zip(&self.bindings).zip(observed) {
            // New records, or a certificate file that changed (a renewal that kept the key
            // too): look at what the servers present now.
            if new.state != old.state || observed {
                new.probed.due_now = true;
            }
        }
        self.bindings = bindings;
        self.generated = generated;
        for binding in &mut self.bindings {
            binding.probed.targets = probe_targets(&binding.cfg, &self.content);
        }
        self.counters.certificate_errors += new_problems;
        for (name, events) in &all_events {
            self.counters.unsafe_switches += events
                .iter()
                .filter(|e| matches!(e, Event::UnsafeSwitch { .. }))
                .count() as u64;
            log_events(&self.cfg.origin, name, events);
        }
        self.unreported.extend(
            all_events
                .into_iter()
                .flat_map(|(name, events)| events.into_iter().map(move |e| (name.clone(), e))),
        );
        let excess = self.unreported.len().saturating_sub(MAX_UNREPORTED);
        self.unreported.drain(..excess);
        self.last_error = None;
        Ok(delta)
    }

    /// Renews the signatures that are due (see [`sign::refresh_signatures`]); `None` when none
    /// is.
    ///
    /// # Errors
    ///
    /// Signing or state errors; on error nothing changes.
    pub fn refresh(
        &mut self,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.refresh_inner(now, rng)
            .inspect_err(|e| self.note_failure(e))
    }

    fn refresh_inner(
        &mut self,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let serial = self.signed.serial().wrapping_add(1);
        let keys = zone_keys(&self.entries, &self.signed_with);
        let result = with_ctx(&self.cfg, &keys, now, rng, |ctx| {
            sign::refresh_signatures(ctx, &self.signed, serial)
        })
        .map_err(|source| ZoneError::Sign {
            origin: self.cfg.origin.clone(),
            source,
        })?;
        let Some((signed, delta)) = result else {
            return Ok(None);
        };
        self.validate(&signed, &delta, now, &self.entries.clone())?;
        let st = self.state_of(
            signed.serial(),
            &self.base_digest,
            &self.generated,
            &self.entries,
            &self.signed_with,
            &self.bindings,
        );
        self.write_state(&st, now, false)?;
        self.install(signed, now);
        Ok(Some(delta))
    }

    /// Moves the key lifecycle to `now` after `action`: applies it, creates the keys the
    /// lifecycle asks for, and when what the keys do changed, re-signs what that changes
    /// ([`sign::refresh_signatures`]) under a new serial. `None` when the served zone stays.
    ///
    /// The key records are persisted before the new version is returned (and so before it is
    /// served); a key file created here stays whatever happens next.
    ///
    /// # Errors
    ///
    /// [`ZoneError::Lifecycle`] (an unknown or not awaited key for `ds-seen`, no key to roll,
    /// a bad policy), key creation, signing or state errors. On a signing error the records
    /// are kept and the next call signs again.
    pub fn update_keys(
        &mut self,
        now: u32,
        rng: &dyn SecureRandom,
        action: KeyAction,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let origin = self.cfg.origin.clone();
        let lifecycle_err = |source| ZoneError::Lifecycle {
            origin: origin.clone(),
            source,
        };
        let policy = self.key_policy();
        let mut entries = self.entries.clone();
        let roll = match action {
            KeyAction::Tick => None,
            KeyAction::Roll(role) => Some(role),
            KeyAction::DsSeen(tag) => {
                let mut records: Vec<KeyRecord> = entries.iter().map(|e| e.record).collect();
                lifecycle::ds_seen(now, &mut records, tag).map_err(lifecycle_err)?;
                for (entry, record) in entries.iter_mut().zip(records) {
                    entry.record = record;
                }
                tracing::info!(zone = %origin, tag, "DS seen at the parent");
                None
            }
        };
        let mut spare = self.unrecorded.clone();
        let (transitions, outlook) = run_lifecycle(
            &self.cfg,
            &self.key_dir,
            &mut entries,
            &policy,
            now,
            rng,
            self.mode == Mode::Serve,
            roll,
            &mut spare,
        )?;
        let records_changed = entries.len() != self.entries.len()
            || entries
                .iter()
                .zip(&self.entries)
                .any(|(a, b)| a.record != b.record);
        let used = usages(&entries, &policy);
        let version = if used == self.signed_with {
            None
        } else {
            let serial = next_serial(self.signed.serial(), file_serial(&self.content));
            let keys = zone_keys(&entries, &used);
            let signed = with_ctx(&self.cfg, &keys, now, rng, |ctx| {
                sign::refresh_signatures(ctx, &self.signed, serial)
            })
            .map_err(|source| ZoneError::Sign {
                origin: origin.clone(),
                source,
            })
            .and_then(|signed| {
                if let Some((signed, delta)) = &signed {
                    self.validate(signed, delta, now, &entries)?;
                }
                Ok(signed)
            });
            match signed {
                Ok(signed) => Some(signed),
                Err(e) => {
                    // The records still move forward (durably); the next call signs again.
                    if records_changed {
                        let signed_with = self.signed_with.clone();
                        self.write_key_records(
                            self.signed.serial(),
                            &entries,
                            &signed_with,
                            &spare,
                            now,
                        )?;
                        self.unrecorded = spare;
                        log_transitions(&origin, &transitions);
                        self.entries = entries;
                        self.outlook = outlook;
                    }
                    self.note_failure(&e);
                    return Err(e);
                }
            }
        };
        let signed_with = used;
        if records_changed || signed_with != self.signed_with {
            // Durable before published: the key records and the version that depends on them
            // are written together, before either is used.
            let serial = match &version {
                Some(Some((signed, _))) => signed.serial(),
                _ => self.signed.serial(),
            };
            self.write_key_records(serial, &entries, &signed_with, &spare, now)?;
        }
        self.unrecorded = spare;
        log_transitions(&origin, &transitions);
        self.entries = entries;
        self.outlook = outlook;
        self.signed_with = signed_with;
        Ok(version.flatten().map(|(signed, delta)| {
            self.install(signed, now);
            delta
        }))
    }

    /// When (seconds since the epoch) this zone next needs the manager: the earliest RRSIG
    /// expiration minus the refresh margin, or a rollover deadline, whichever comes first.
    /// `None` when there is nothing to wait for.
    pub fn next_deadline(&self) -> Option<u32> {
        if let Some(retry) = self.write_retry {
            // Every step writes the state: nothing is worth doing before the retry.
            return Some(retry.at);
        }
        let refresh = self.next_refresh_at();
        let keys = self.outlook.next.as_ref().map(|n| n.at);
        self.bindings
            .iter()
            .filter_map(|b| b.state.next_deadline(b.holds_replaced()))
            .chain(refresh)
            .chain(keys)
            .min_by(|a, b| {
                if a == b {
                    std::cmp::Ordering::Equal
                } else if serial_gt(*b, *a) {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            })
    }

    /// When the next signature refresh is due (seconds since the epoch).
    pub fn next_refresh_at(&self) -> Option<u32> {
        self.earliest_expiration
            .map(|exp| exp.wrapping_sub(self.cfg.signing.policy.refresh))
    }

    /// The key directory.
    pub fn key_dir(&self) -> &PathBuf {
        &self.key_dir
    }

    /// Makes `signed` the served version, published at `now` (the manager's tracker counts
    /// every secondary's wait for its serial from here; without secondaries it is propagated
    /// now). Every path that signs a new version ends here.
    fn install(&mut self, signed: SignedZone, now: u32) {
        let serial = signed.serial();
        self.earliest_expiration = signed.earliest_expiration();
        self.signed = Arc::new(signed);
        if self.cfg.secondaries.is_empty() {
            self.propagated.served_alone(serial, now);
        }
    }

    /// Writes the state of the version served now.
    fn persist(&self) -> Result<(), ZoneError> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        let st = self.state_of(
            self.signed.serial(),
            &self.base_digest,
            &self.generated,
            &self.entries,
            &self.signed_with,
            &self.bindings,
        );
        state::store(&self.state_dir, &self.cfg.origin, &st)?;
        Ok(())
    }

    /// Writes the state with the key records `entries` (signed with `signed_with`) at
    /// `serial`, before anything uses them. On failure the keys this step created are kept
    /// for the next try (with the `spare` ones), so a write retried every few seconds does not
    /// fill key-dir, and the failure is counted.
    fn write_key_records(
        &mut self,
        serial: u32,
        entries: &[KeyEntry],
        signed_with: &[(usize, KeyUse)],
        spare: &[KeyEntry],
        now: u32,
    ) -> Result<(), ZoneError> {
        let st = self.state_of(
            serial,
            &self.base_digest,
            &self.generated,
            entries,
            signed_with,
            &self.bindings,
        );
        self.write_state(&st, now, false).inspect_err(|write| {
            let mut keep = spare.to_vec();
            keep.extend(entries.iter().skip(self.entries.len()).cloned());
            self.unrecorded = keep;
            self.note_failure(write);
        })
    }

    /// The state file's content for a version at `serial` made of these parts.
    fn state_of(
        &self,
        serial: u32,
        base_digest: &[u8; 32],
        generated: &BTreeMap<Name, Rrset>,
        entries: &[KeyEntry],
        signed_with: &[(usize, KeyUse)],
        bindings: &[Binding],
    ) -> ZoneState {
        ZoneState {
            serial,
            content_digest: content_digest(
                base_digest,
                generated,
                used_keys(entries, signed_with),
                self.cfg.signing.denial,
            ),
            bindings: bindings
                .iter()
                .map(|b| (b.key(), b.state.clone()))
                .collect(),
            keys: entries.iter().map(KeyEntry::stored).collect(),
        }
    }

    /// Writes `st`, the state of a version not installed yet: it is installed only once this
    /// succeeded. A failure schedules a new try of the change in [`WRITE_RETRY_SECS`]
    /// ([`Self::retry_failed_write`]); `zone_file` says whether the change needs the zone file
    /// read again.
    fn write_state(&mut self, st: &ZoneState, now: u32, zone_file: bool) -> Result<(), ZoneError> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        state::store(&self.state_dir, &self.cfg.origin, st).map_err(|e| {
            self.write_retry = Some(WriteRetry {
                at: now.wrapping_add(WRITE_RETRY_SECS),
                zone_file: zone_file || self.write_retry.is_some_and(|r| r.zone_file),
            });
            ZoneError::State(e)
        })
    }

    /// Checks a new version before it is installed ([`daned_sign::validate::validate_delta`]);
    /// a failure is counted.
    fn validate(
        &mut self,
        signed: &SignedZone,
        delta: &ZoneDelta,
        now: u32,
        entries: &[KeyEntry],
    ) -> Result<(), ZoneError> {
        let signers = signer_keys(entries);
        let started = std::time::Instant::now();
        let result = daned_sign::validate::validate_delta(signed, delta, now, &signers);
        tracing::debug!(
            zone = %self.cfg.origin,
            serial = signed.serial(),
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = result.is_ok(),
            "new version validated"
        );
        result.map_err(|source| {
            self.counters.validation_failures += 1;
            ZoneError::Validation {
                origin: self.cfg.origin.clone(),
                serial: signed.serial(),
                source,
            }
        })
    }

    /// Makes again a change whose state write failed, once its retry is due: the zone file and
    /// the certificates (or only the certificates) are read again and the result signed,
    /// written and installed as by [`Self::reload`]. `None` when no retry is due or nothing
    /// changed; a timer or key step that failed to write runs again on its own deadline.
    ///
    /// # Errors
    ///
    /// As [`Self::reload`]; the retry is scheduled again when the write fails again.
    pub fn retry_failed_write(
        &mut self,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let Some(retry) = self.write_retry else {
            return Ok(None);
        };
        if serial_gt(retry.at, now) {
            return Ok(None);
        }
        self.write_retry = None;
        if retry.zone_file {
            self.reload(now, rng)
        } else {
            self.update_bindings(now, rng)
        }
    }

    /// Whether a failed state write is waiting for its retry: the zone's timers then wait too
    /// (each would sign again only to fail the same write).
    pub fn write_pending(&self, now: u32) -> bool {
        self.write_retry.is_some_and(|r| serial_gt(r.at, now))
    }

    /// Checks that the key directory, every key file the zone's records need and the state
    /// directory and file are still there. A new problem is logged at error once, and a
    /// resolved one at info; [`Self::storage_error`] says what is missing meanwhile. Serving
    /// goes on (the keys are in memory); a restart would fail.
    pub fn check_storage(&mut self) {
        if self.mode == Mode::ReadOnly {
            return;
        }
        let mut missing = Vec::new();
        if !self.key_dir.is_dir() {
            missing.push(format!(
                "key directory {} is missing",
                self.key_dir.display()
            ));
        } else {
            for entry in &self.entries {
                if entry.record.state != KeyState::Removed && !entry.file.is_file() {
                    missing.push(format!(
                        "key {} ({}) is missing: {}",
                        entry.record.tag,
                        entry.record.state.name(),
                        entry.file.display()
                    ));
                }
            }
        }
        let state_file = state::state_path(&self.state_dir, &self.cfg.origin);
        if !self.state_dir.is_dir() {
            missing.push(format!(
                "state directory {} is missing",
                self.state_dir.display()
            ));
        } else if !state_file.is_file() {
            missing.push(format!("state file {} is missing", state_file.display()));
        }
        let error = (!missing.is_empty()).then(|| missing.join("; "));
        if error != self.storage_error {
            match &error {
                Some(error) => tracing::error!(
                    zone = %self.cfg.origin,
                    error = error.as_str(),
                    "key or state files are missing; the zone is still served, but a restart \
                     would fail: restore them"
                ),
                None => tracing::info!(zone = %self.cfg.origin, "key and state files are back"),
            }
        }
        self.storage_error = error;
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
    rng: &dyn SecureRandom,
    f: impl FnOnce(&SignCtx<'_>) -> Result<T, SignError>,
) -> Result<T, SignError> {
    let ctx = SignCtx {
        now,
        policy: cfg.signing.policy,
        keys,
        dnskey_ttl: cfg.signing.dnskey_ttl,
        rng,
        denial: cfg.signing.denial,
    };
    f(&ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use daned_sign::hickory_proto::dnssec::DigestType;
    use daned_sign::keys::KeyAlgorithm;
    use daned_sign::keys::KeyRole;
    use daned_sign::lifecycle::DsState;
    use ring::rand::SystemRandom;

    const NOW: u32 = 1_800_000_000;

    struct Dir {
        dir: tempfile::TempDir,
    }

    impl Dir {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../zones/example.com.zone");
            std::fs::copy(zone, dir.path().join("example.com.zone")).unwrap();
            Self { dir }
        }

        fn cfg(&self) -> ZoneConfig {
            let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com.\"\n\
                        file = \"example.com.zone\"\n";
            let config = Config::parse(text, &self.dir.path().join("daned.toml")).unwrap();
            config.zones[0].clone()
        }

        fn keys(&self) -> PathBuf {
            self.dir.path().join("keys")
        }

        fn state(&self) -> PathBuf {
            self.dir.path().join("state")
        }

        fn start(&self, now: u32) -> Result<ZoneRuntime, ZoneError> {
            ZoneRuntime::start(
                self.cfg(),
                self.keys(),
                self.state(),
                Mode::Serve,
                now,
                &SystemRandom::new(),
            )
        }

        fn key_files(&self) -> usize {
            std::fs::read_dir(self.keys()).unwrap().count()
        }
    }

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    fn published_tags(rt: &ZoneRuntime) -> Vec<u16> {
        let apex = rt.signed().node(&origin()).unwrap();
        let mut tags: Vec<u16> = apex
            .get(RecordType::DNSKEY)
            .unwrap()
            .rrset
            .rdatas()
            .filter_map(|r| match r {
                RData::DNSSEC(daned_sign::hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(k)) => {
                    daned_sign::keys::key_tag(k).ok()
                }
                _ => None,
            })
            .collect();
        tags.sort_unstable();
        tags
    }

    /// An existing `make run` directory (one CSK made by an earlier daned, a state file without
    /// key records) keeps working: the key is adopted as active with its DS taken to be at the
    /// parent, no key is created, the DNSKEY and the DS stay the same, and the records are
    /// written to the state file and read back unchanged.
    #[test]
    fn old_single_csk_key_dir_is_adopted_unchanged() {
        let d = Dir::new();
        let rng = SystemRandom::new();
        let old = keystore::create_key(
            &d.keys(),
            &origin(),
            KeyAlgorithm::EcdsaP256Sha256,
            KeyRole::Csk,
            &rng,
        )
        .unwrap();
        let ds_before = old.key.ds(&origin(), DigestType::SHA256).unwrap();
        // The state file of before key records: no "keys" field.
        std::fs::create_dir_all(d.state()).unwrap();
        std::fs::write(
            state::state_path(&d.state(), &origin()),
            "{\"serial\": 2026112801, \"content-digest\": \"00\"}\n",
        )
        .unwrap();

        let rt = d.start(NOW).unwrap();
        assert_eq!(d.key_files(), 1, "no key created");
        let [entry] = rt.keys() else {
            panic!("one key: {:?}", rt.keys());
        };
        assert_eq!(entry.record.tag, old.key.key_tag());
        assert_eq!(entry.record.state, KeyState::Active);
        assert_eq!(entry.record.ds, DsState::Seen { at: NOW });
        assert_eq!(published_tags(&rt), vec![old.key.key_tag()]);
        let key = entry.key.as_ref().unwrap();
        assert_eq!(key.dnskey(), old.key.dnskey());
        assert_eq!(key.ds(&origin(), DigestType::SHA256).unwrap(), ds_before);
        assert!(rt.key_outlook().awaiting_ds.is_empty());

        // The records are persisted and read back as they were.
        let saved = state::load(&d.state(), &origin()).unwrap().unwrap();
        assert_eq!(saved.keys.len(), 1);
        assert_eq!(saved.keys[0].to_record().unwrap(), entry.record);
        assert_eq!(
            saved.keys[0].file,
            old.path.file_name().unwrap().to_str().unwrap()
        );
        let serial = rt.signed().serial();
        drop(rt);
        let again = d.start(NOW + 60).unwrap();
        assert_eq!(again.keys()[0].record, saved.keys[0].to_record().unwrap());
        assert_eq!(
            again.signed().serial(),
            serial,
            "unchanged content keeps its serial"
        );
    }

    /// A first start with an empty key-dir creates the first key (a CSK by default), active,
    /// with its DS wanted at the parent.
    #[test]
    fn first_start_creates_an_active_csk_awaiting_its_ds() {
        let d = Dir::new();
        let rt = d.start(NOW).unwrap();
        let [entry] = rt.keys() else {
            panic!("one key: {:?}", rt.keys());
        };
        assert_eq!(entry.record.role, KeyRole::Csk);
        assert_eq!(entry.record.state, KeyState::Active);
        assert_eq!(rt.key_outlook().awaiting_ds, vec![entry.record.tag]);
        assert_eq!(d.key_files(), 1);
    }

    /// A version signed for a key step is published like any other: in a zone without
    /// secondaries it is propagated at once, so nothing that waits on propagation (a staged
    /// TLSA key, `daned status`) sees it as never served.
    #[test]
    fn key_step_publishes_its_serial_for_propagation() {
        let d = Dir::new();
        let mut rt = d.start(NOW).unwrap();
        let rng = SystemRandom::new();
        let delta = rt
            .update_keys(NOW + 10, &rng, KeyAction::Roll(KeyRole::Csk))
            .unwrap()
            .expect("publishing the successor signs a new version");
        assert_eq!(rt.signed().serial(), delta.to_serial);
        assert_eq!(rt.propagated_at(delta.to_serial), Some(NOW + 10));
    }

    /// Once a zone has key records, a key file they do not name is not used (logged), and a
    /// record whose file is gone is an error naming the file, not a silent new key.
    #[test]
    fn stray_key_file_is_ignored_and_missing_key_file_is_an_error() {
        let d = Dir::new();
        let rng = SystemRandom::new();
        let first = d.start(NOW).unwrap();
        let tag = first.keys()[0].record.tag;
        let path = first.keys()[0].file.clone();
        drop(first);
        let stray = keystore::create_key(
            &d.keys(),
            &origin(),
            KeyAlgorithm::EcdsaP256Sha256,
            KeyRole::Csk,
            &rng,
        )
        .unwrap();
        let rt = d.start(NOW + 1).unwrap();
        assert_eq!(rt.keys().len(), 1);
        assert_eq!(published_tags(&rt), vec![tag]);
        assert!(!published_tags(&rt).contains(&stray.key.key_tag()));
        drop(rt);

        std::fs::remove_file(&path).unwrap();
        match d.start(NOW + 2) {
            Err(e @ ZoneError::MissingKey { .. }) => {
                assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            }
            Err(other) => panic!("unexpected error: {other}"),
            Ok(_) => panic!("started without its key"),
        }
    }

    /// Every DS state survives the state file.
    #[test]
    fn key_records_round_trip_through_the_state_file_form() {
        for ds in [
            DsState::None,
            DsState::Submitted { since: 5 },
            DsState::Seen { at: 6 },
            DsState::Withdrawn { since: 7 },
        ] {
            let record = KeyRecord {
                tag: 4242,
                algorithm: KeyAlgorithm::Ed25519,
                role: KeyRole::Ksk,
                state: KeyState::Retired,
                created: 1,
                since: 3,
                active_since: Some(2),
                ds,
            };
            let stored = state::KeyState::from_record(&record, "example.com+015+04242.ksk.pem");
            let json = serde_json::to_string(&stored).unwrap();
            let back: state::KeyState = serde_json::from_str(&json).unwrap();
            assert_eq!(back.to_record().unwrap(), record, "{json}");
        }
    }

    /// Issue 11: a FIFO in a certificate's or next-key file's place is refused at once (an
    /// open for reading would wait for a writer and stall the manager).
    #[test]
    fn certificate_or_next_key_that_is_a_fifo_is_refused_at_once() {
        let d = Dir::new();
        let fifo = d.dir.path().join("cert.pem");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com.\"\n\
                    file = \"example.com.zone\"\n[[zone.tlsa]]\nname = \"mail\"\n\
                    certificate = \"cert.pem\"\nnext-key = \"cert.pem\"\nhost = \"mail\"\n\
                    ports = [25]\n";
        let config = Config::parse(text, &d.dir.path().join("daned.toml")).unwrap();
        let binding = &config.zones[0].tlsa[0];
        for error in [
            read_certificate(binding, &binding.certificates[0], NOW).unwrap_err(),
            read_next_key(binding, &binding.certificates[0]).unwrap_err(),
        ] {
            let text = error.to_string();
            assert!(
                text.contains("cert.pem") && text.contains("is a FIFO, not a regular file"),
                "{text}"
            );
        }
    }

    /// Makes the next state write of `d`'s zone fail, as a full or read-only disk would (also
    /// for root, which ignores permissions): the temporary file `state::replace_file` opens is
    /// a directory. Dropping the guard lets writes succeed again.
    struct WriteFault(PathBuf);

    impl WriteFault {
        fn new(d: &Dir) -> Self {
            let mut name = state::state_path(&d.state(), &origin()).into_os_string();
            name.push(format!(".tmp-{}", std::process::id()));
            let path = PathBuf::from(name);
            std::fs::create_dir(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for WriteFault {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }

    fn state_bytes(d: &Dir) -> Vec<u8> {
        std::fs::read(state::state_path(&d.state(), &origin())).unwrap()
    }

    fn add_to_zone_file(d: &Dir, line: &str) {
        let path = d.dir.path().join("example.com.zone");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(line);
        std::fs::write(path, text).unwrap();
    }

    /// Issue 11, failure 1 (and issue 12): durable before published. A state write that fails
    /// leaves the served version, its serial, the content, the keys and the state file exactly
    /// as they were, reports the error and schedules a retry (also the deadline the manager
    /// sleeps to), which publishes the change once the disk is writable; a restart then
    /// serves what the state file says.
    #[test]
    fn issue_11_failed_state_write_changes_nothing_and_is_retried() {
        let d = Dir::new();
        let rng = SystemRandom::new();
        let mut rt = d.start(NOW).unwrap();
        let serial = rt.signed().serial();
        let before = state_bytes(&d);
        add_to_zone_file(&d, "new 3600 IN A 192.0.2.99\n");

        let fault = WriteFault::new(&d);
        let err = rt.reload(NOW + 10, &rng).expect_err("the write fails");
        assert!(matches!(err, ZoneError::State(_)), "{err}");
        assert_eq!(rt.signed().serial(), serial, "served serial unchanged");
        assert!(
            rt.signed()
                .node(&Name::from_ascii("new.example.com.").unwrap())
                .is_none(),
            "the new record is not served"
        );
        assert_eq!(state_bytes(&d), before, "state file unchanged");
        assert_eq!(rt.propagated_at(serial + 1), None, "not published");
        assert!(
            rt.last_error().is_some_and(|e| e.contains(".tmp-")),
            "{:?}",
            rt.last_error()
        );
        assert_eq!(rt.counters().failed_updates, 1);
        assert_eq!(rt.next_deadline(), Some(NOW + 10 + WRITE_RETRY_SECS));
        assert!(rt.write_pending(NOW + 11));
        // Not due yet: nothing happens.
        assert!(rt.retry_failed_write(NOW + 11, &rng).unwrap().is_none());
        // Due, still failing: scheduled again, still nothing changed.
        assert!(rt.retry_failed_write(NOW + 15, &rng).is_err());
        assert_eq!(rt.signed().serial(), serial);
        assert_eq!(state_bytes(&d), before);

        // A key step under the fault: the key records and the served keys stay.
        let keys_before: Vec<KeyRecord> = rt.keys().iter().map(|e| e.record).collect();
        assert!(
            rt.update_keys(NOW + 16, &rng, KeyAction::Roll(KeyRole::Csk))
                .is_err()
        );
        let keys_after: Vec<KeyRecord> = rt.keys().iter().map(|e| e.record).collect();
        assert_eq!(keys_after, keys_before, "key records unchanged");
        assert_eq!(rt.signed().serial(), serial);
        assert_eq!(state_bytes(&d), before);
        // Its new key file stays (keys are never deleted), and the next try reuses it.
        assert_eq!(d.key_files(), 2);
        assert!(
            rt.update_keys(NOW + 17, &rng, KeyAction::Roll(KeyRole::Csk))
                .is_err()
        );
        assert_eq!(d.key_files(), 2, "a failing retry creates no more keys");

        drop(fault);
        let delta = rt
            .retry_failed_write(NOW + 20 + WRITE_RETRY_SECS, &rng)
            .unwrap()
            .expect("the retry publishes the change");
        assert_eq!(delta.from_serial, serial);
        let saved = state::load(&d.state(), &origin()).unwrap().unwrap();
        assert_eq!(saved.serial, rt.signed().serial());
        assert!(rt.last_error().is_none());
        assert!(!rt.write_pending(NOW + 20 + WRITE_RETRY_SECS));
        rt.update_keys(NOW + 30, &rng, KeyAction::Roll(KeyRole::Csk))
            .unwrap()
            .expect("the roll publishes the successor");
        assert_eq!(rt.keys().len(), 2);
        assert_eq!(
            d.key_files(),
            2,
            "the key created under the fault is the successor"
        );
        let served = rt.signed().serial();
        drop(rt);
        let again = d.start(NOW + 60).unwrap();
        assert_eq!(again.signed().serial(), served, "restart agrees");
    }

    /// Issue 11, failure 8: a certificate missing at the very first start does not stop the
    /// zone: it is served without that binding's records and the binding reports the error.
    #[test]
    fn issue_11_missing_certificate_at_first_start_starts_the_zone() {
        let d = Dir::new();
        let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com.\"\n\
                    file = \"example.com.zone\"\n[[zone.tlsa]]\nname = \"mail\"\n\
                    certificate = \"missing.pem\"\nnames = [\"_25._tcp.mail\"]\n";
        let config = Config::parse(text, &d.dir.path().join("daned.toml")).unwrap();
        let rt = ZoneRuntime::start(
            config.zones[0].clone(),
            d.keys(),
            d.state(),
            Mode::Serve,
            NOW,
            &SystemRandom::new(),
        )
        .unwrap();
        let [binding] = rt.bindings() else {
            panic!("one binding");
        };
        assert!(
            binding
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("missing.pem")),
            "{:?}",
            binding.last_error
        );
        assert!(binding.state.published().is_empty());
        assert_eq!(rt.counters().certificate_errors, 1);
        let owner = Name::from_ascii("_25._tcp.mail.example.com.").unwrap();
        assert!(
            rt.signed()
                .node(&owner)
                .is_none_or(|n| n.get(RecordType::TLSA).is_none())
        );
    }

    /// A test certificate of `crates/sign/tests/data/certs` (valid until 2126).
    fn test_certificate(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/sign/tests/data/certs")
            .join(name);
        std::fs::read(path).unwrap()
    }

    /// A zone with bindings `a` (certificate `a.pem`, P-256) and `b` (certificate `b.pem`,
    /// P-384, next key `b.next`, absent), started at [`NOW`].
    fn two_bindings(d: &Dir) -> ZoneRuntime {
        std::fs::write(d.dir.path().join("a.pem"), test_certificate("p256.pem")).unwrap();
        std::fs::write(d.dir.path().join("b.pem"), test_certificate("p384.pem")).unwrap();
        let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com.\"\n\
                    file = \"example.com.zone\"\n\
                    [[zone.tlsa]]\nname = \"a\"\ncertificate = \"a.pem\"\n\
                    names = [\"_25._tcp.a\"]\n\
                    [[zone.tlsa]]\nname = \"b\"\ncertificate = \"b.pem\"\n\
                    next-key = \"b.next\"\nnames = [\"_25._tcp.b\"]\n";
        let config = Config::parse(text, &d.dir.path().join("daned.toml")).unwrap();
        let rt = ZoneRuntime::start(
            config.zones[0].clone(),
            d.keys(),
            d.state(),
            Mode::Serve,
            NOW,
            &SystemRandom::new(),
        )
        .unwrap();
        assert!(rt.bindings().iter().all(|b| b.last_error.is_none()));
        rt
    }

    fn binding<'a>(rt: &'a ZoneRuntime, name: &str) -> &'a Binding {
        rt.bindings().iter().find(|b| b.cfg.name == name).unwrap()
    }

    /// The record `content` gives binding `name`'s certificate.
    fn record_of(rt: &ZoneRuntime, name: &str, content: &[u8]) -> TlsaRdata {
        let b = binding(rt, name);
        parse_certificate(&b.cfg, b.certificate(), Ok(content), NOW)
            .unwrap()
            .record
    }

    /// Issue 12: a change of one binding's certificate reads no other binding's file. Binding
    /// b's certificate is gone, unnoticed: a change of a's leaves b's state and `last_error`
    /// as they were.
    #[test]
    fn certificate_change_reads_no_other_binding_file() {
        let d = Dir::new();
        let mut rt = two_bindings(&d);
        let b_before = binding(&rt, "b").clone();
        std::fs::remove_file(d.dir.path().join("b.pem")).unwrap();

        let a = d.dir.path().join("a.pem");
        let rsa = test_certificate("rsa2048.pem");
        std::fs::write(&a, &rsa).unwrap();
        rt.file_changed(&a, Ok(&rsa), NOW + 10, &SystemRandom::new())
            .unwrap()
            .expect("a new version");

        let a_now = binding(&rt, "a");
        assert!(a_now.state.published().contains(&record_of(&rt, "a", &rsa)));
        assert_eq!(a_now.last_error, None);
        let b_now = binding(&rt, "b");
        assert_eq!(b_now.state, b_before.state);
        assert_eq!(b_now.last_error, None, "b.pem was not read");
        assert_eq!(rt.counters().certificate_errors, 0);
    }

    /// Issue 12: the bytes the watcher read are what is parsed. The file changed again after
    /// the watcher read it: the zone publishes what the watcher hashed, and the next watcher
    /// event brings the rest.
    #[test]
    fn watcher_bytes_are_what_is_parsed() {
        let d = Dir::new();
        let mut rt = two_bindings(&d);
        let rng = SystemRandom::new();
        let a = d.dir.path().join("a.pem");
        let p384 = test_certificate("p384.pem");
        let rsa = test_certificate("rsa2048.pem");
        std::fs::write(&a, &p384).unwrap();
        let read = std::fs::read(&a).unwrap();
        std::fs::write(&a, &rsa).unwrap();

        rt.file_changed(&a, Ok(&read), NOW + 10, &rng).unwrap();
        let published = binding(&rt, "a").state.published();
        assert!(published.contains(&record_of(&rt, "a", &p384)));
        assert!(!published.contains(&record_of(&rt, "a", &rsa)));

        let read = std::fs::read(&a).unwrap();
        rt.file_changed(&a, Ok(&read), NOW + 20, &rng).unwrap();
        assert!(
            binding(&rt, "a")
                .state
                .published()
                .contains(&record_of(&rt, "a", &rsa))
        );
    }

    /// Issue 12: a read error the watcher reports gives the `last_error` a read by the zone
    /// gives, the certificate's and the next key's problems joined with "; " (the next key as
    /// last seen when only the certificate changed, and the other way round); a missing next
    /// key is no next key.
    #[test]
    fn watcher_read_errors_read_as_the_zone_reads_them() {
        let d = Dir::new();
        let mut rt = two_bindings(&d);
        let rng = SystemRandom::new();
        let b = d.dir.path().join("b.pem");
        let next = d.dir.path().join("b.next");
        std::fs::remove_file(&b).unwrap();
        let missing = crate::fsutil::read_bounded(&b, 1).unwrap_err().kind;
        rt.file_changed(&b, Err(&missing), NOW + 10, &rng).unwrap();
        let cfg = binding(&rt, "b").cfg.clone();
        let certificate_error = read_certificate(&cfg, &cfg.certificates[0], NOW + 10)
            .unwrap_err()
            .to_string();
        assert_eq!(
            binding(&rt, "b").last_error.as_deref(),
            Some(certificate_error.as_str())
        );

        std::fs::create_dir(&next).unwrap();
        let directory = crate::fsutil::read_bounded(&next, 1).unwrap_err().kind;
        rt.file_changed(&next, Err(&directory), NOW + 20, &rng)
            .unwrap();
        let next_error = read_next_key(&cfg, &cfg.certificates[0])
            .unwrap_err()
            .to_string();
        assert_eq!(
            binding(&rt, "b").last_error,
            Some(format!("{certificate_error}; {next_error}"))
        );

        std::fs::remove_dir(&next).unwrap();
        let missing = crate::fsutil::read_bounded(&next, 1).unwrap_err().kind;
        rt.file_changed(&next, Err(&missing), NOW + 30, &rng)
            .unwrap();
        assert_eq!(
            binding(&rt, "b").last_error.as_deref(),
            Some(certificate_error.as_str())
        );
        assert_eq!(binding(&rt, "a").last_error, None);
    }

    /// Issue 12: content past the certificate cap is refused as a read of the file is.
    #[test]
    fn watcher_content_past_the_cap_is_refused_as_a_read_is() {
        let d = Dir::new();
        let rt = two_bindings(&d);
        let b = binding(&rt, "a");
        let cap = usize::try_from(crate::fsutil::MAX_CERTIFICATE_BYTES).unwrap();
        let error = parse_certificate(&b.cfg, b.certificate(), Ok(&vec![b'x'; cap + 1]), NOW)
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with(&format!("larger than {cap} bytes; not read")),
            "{error}"
        );
    }

    /// Issue 11, failure 5: a running zone notices its key file or state directory going away
    /// (and coming back).
    #[test]
    fn issue_11_missing_key_file_or_state_dir_is_noticed() {
        let d = Dir::new();
        let mut rt = d.start(NOW).unwrap();
        rt.check_storage();
        assert_eq!(rt.storage_error(), None);
        let key = rt.keys()[0].file.clone();
        let moved = d.dir.path().join("key.bak");
        std::fs::rename(&key, &moved).unwrap();
        rt.check_storage();
        assert!(
            rt.storage_error()
                .is_some_and(|e| e.contains(&key.display().to_string())),
            "{:?}",
            rt.storage_error()
        );
        std::fs::rename(&moved, &key).unwrap();
        let state = d.dir.path().join("state.bak");
        std::fs::rename(d.state(), &state).unwrap();
        rt.check_storage();
        assert!(
            rt.storage_error()
                .is_some_and(|e| e.contains("state directory")),
            "{:?}",
            rt.storage_error()
        );
        std::fs::rename(&state, d.state()).unwrap();
        rt.check_storage();
        assert_eq!(rt.storage_error(), None);
    }
}
