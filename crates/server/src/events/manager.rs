//! The zone manager: owns every [`ZoneRuntime`], serialises all work on them (one task), runs
//! the signature refresh timer and reloads, and publishes each new set of signed zones, with
//! their journals and the transfer ACLs and TSIG keys in effect, as one immutable
//! [`Snapshot`] swapped in atomically.
//!
//! Signing happens here, never on the query path: queries read the snapshot through
//! [`ArcSwap::load_full`] and never wait on anything the manager holds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use daned_sign::hickory_proto::rr::Name;
use indexmap::IndexMap;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::config::{Config, ZoneConfig};
use crate::events::watch::FileChange;
use crate::secondaries::client::Client;
use crate::secondaries::propagation::Tracker;
use crate::secondaries::report::SecondaryReport;
use crate::serve::query::Catalog;
use crate::serve::snapshot::Snapshot;
use crate::serve::xfr::TransferPolicy;
use crate::status::{BindingStatus, KeyEvent, KeyStatus, KeysReport, StatusReport, ZoneStatus};
use crate::status::{TargetStatus, rfc3339, rfc3339_i64};
use crate::zone::persist::journal::{self, Journal};
use crate::zone::{KeyAction, Mode, ZoneError, ZoneRuntime};
use daned_sign::lifecycle::DsState;
use daned_sign::zone::ZoneDelta;

/// How often the manager checks that the key and state files are still there.
const STORAGE_CHECK: Duration = Duration::from_secs(10);

/// What one zone's reload did. On the control socket it reads
/// `{"outcome":"changed","from":1,"to":2,"removed":4,"added":4}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ReloadOutcome {
    /// Nothing changed; the serial stays.
    Unchanged {
        /// The serial still served.
        serial: u32,
    },
    /// A new version is served.
    Changed {
        /// The previous serial.
        from: u32,
        /// The new serial, now served.
        to: u32,
        /// Records removed and added (RRSIGs included).
        removed: usize,
        /// Records added.
        added: usize,
    },
    /// The reload failed; the previous version is still served.
    Failed {
        /// The serial still served.
        serial: u32,
        /// Why (with file and line where there is one).
        error: String,
    },
    /// The zone is new in the configuration and now served.
    Added {
        /// The serial served.
        serial: u32,
    },
    /// The zone is new in the configuration but could not be loaded: it is not served.
    NotAdded {
        /// Why (with file and line where there is one).
        error: String,
    },
    /// The zone is gone from the configuration and no longer served (its state and keys stay
    /// on disk).
    Removed {
        /// The serial it was served with last.
        serial: u32,
    },
}

impl ReloadOutcome {
    /// Whether this zone's part of the reload failed.
    pub fn failed(&self) -> bool {
        matches!(self, Self::Failed { .. } | Self::NotAdded { .. })
    }
}

/// What one zone's part of a reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneReloaded {
    /// The zone.
    pub zone: Name,
    /// What happened to it.
    pub outcome: ReloadOutcome,
    /// The zone's settings that changed in the config file, by their name there.
    pub changed: Vec<String>,
    /// The bindings' rollover events since the last reload, and their unusable files.
    pub events: Vec<crate::status::BindingEvent>,
}

/// What a reload did: per zone (those of the config file in its order, then those removed),
/// and the server settings that need a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Per zone.
    pub zones: Vec<ZoneReloaded>,
    /// `[server]` settings changed in the file that only a restart applies; the running values
    /// stay.
    pub restart_needed: Vec<String>,
}

/// Why the manager refused a command; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The config file cannot be read or is invalid (the error names the file and line).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// No zone of this origin is served.
    #[error("no zone {0}")]
    NoZone(Name),
    /// No TLSA binding of this name.
    #[error("no TLSA binding {0:?}")]
    NoBinding(String),
    /// No TLSA binding at all.
    #[error("no TLSA binding to probe")]
    NothingToProbe,
    /// The key action was refused (the key is not awaited, no such role, ...).
    #[error(transparent)]
    Key(#[from] ZoneError),
}

/// A request to the manager.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Re-read the config file, then the zone files and certificates of every zone; the reply
    /// comes once the new versions are served. An invalid config file changes nothing and is
    /// answered with its error.
    Reload {
        /// Where to send the outcome, if anyone waits.
        reply: Option<oneshot::Sender<Result<ReloadReport, CommandError>>>,
    },
    /// Report the state of every zone and binding.
    Status {
        /// Where to send it.
        reply: oneshot::Sender<StatusReport>,
    },
    /// Report one zone's keys (`daned keys`).
    Keys {
        /// The zone.
        zone: Name,
        /// Where to send them.
        reply: oneshot::Sender<Result<KeysReport, CommandError>>,
    },
    /// Act on one zone's keys (`daned ds-seen`, `daned key-rollover`); the reply comes once
    /// the re-signed zone is served.
    KeyAction {
        /// The zone.
        zone: Name,
        /// What to do.
        action: KeyAction,
        /// Where to send the zone's keys afterwards, or the error.
        reply: Option<oneshot::Sender<Result<KeysReport, CommandError>>>,
    },
    /// Probe the servers behind the TLSA records now (`daned probe`): every binding, one
    /// zone's, or one binding's (by name, in any zone). The reply comes once every probe
    /// finished and its results were applied.
    Probe {
        /// Only this zone.
        zone: Option<Name>,
        /// Only the bindings of this name.
        binding: Option<String>,
        /// Where to send the status of the probed zones (their bindings filtered), or why not.
        reply: oneshot::Sender<Result<StatusReport, CommandError>>,
    },
}

/// Owns the zones and publishes the catalog.
pub struct Manager {
    /// One slot per zone, keyed by origin, in the config file's order.
    zones: IndexMap<Name, ZoneSlot>,
    /// Where the NOTIFY and SOA poll tasks report (see [`Self::secondary_reports`]).
    reports: Option<mpsc::Receiver<SecondaryReport>>,
    state_dir: PathBuf,
    /// What queries and transfers read.
    snapshot: Arc<ArcSwap<Snapshot>>,
    clock: Arc<dyn Clock>,
    rng: SystemRandom,
    /// Every published catalog also goes here, for the NOTIFY task.
    published: Option<tokio::sync::watch::Sender<Arc<Catalog>>>,
    /// The configuration in effect: the one started with, then each reloaded one (with the
    /// restart-only settings of the start, and each zone's settings as its runtime applied
    /// them).
    config: Arc<Config>,
    /// The TSIG keys and transfer ACLs of `config`, made when it changes (every publish puts
    /// them in the snapshot).
    transfer: Arc<TransferPolicy>,
    /// Every configuration put in effect by a reload also goes here, for the tasks that follow
    /// it (NOTIFY and SOA poll targets, transfer ACLs and TSIG keys, the file watcher).
    configs: Option<tokio::sync::watch::Sender<Arc<Config>>>,
}

/// One zone as the manager holds it: the zone itself and what the manager keeps beside it.
/// A reload keeps the slot of every zone it keeps (its journal, tracker and parent polls).
struct ZoneSlot {
    rt: ZoneRuntime,
    /// The IXFR journal ending at the zone's current serial.
    journal: Arc<Journal>,
    /// Whether a start that signed the zone whole (did not resume its kept version) kept the
    /// serial of before the restart and no delta was recorded since. Such a start serves, at
    /// the kept serial, other RRSIGs than the version the journal (and every secondary that
    /// took that serial before the restart) knows, so the first delta after it, which removes
    /// the new RRSIGs, is no valid difference for them; it clears the journal instead.
    serial_kept_at_start: bool,
    /// What the zone's secondaries serve: fed by their reports, and handed to the zone as
    /// [`crate::zone::Propagated`] whenever it changes.
    tracker: Tracker,
    /// The parent DS poll of the zone.
    parent: PollSchedule,
    /// The kept signed zone being written off the manager's task, if one is.
    snapshot: Option<SnapshotJob>,
}

/// A kept signed zone being written on a thread of its own (see `zone::persist::signed`).
type SnapshotJob = std::thread::JoinHandle<(
    Result<
        (u32, crate::zone::persist::signed::Fingerprint, usize),
        crate::zone::persist::signed::SignedFileError,
    >,
    Duration,
)>;

impl ZoneSlot {
    /// The slot of a zone just started at `now` (nothing known of its secondaries yet); the
    /// zone gets what its tracker says.
    fn new(mut rt: ZoneRuntime, journal: Journal, serial_kept_at_start: bool, now: u32) -> Self {
        let cfg = rt.config();
        let secondaries: Vec<_> = cfg.secondaries.iter().map(|s| s.address).collect();
        let tracker = Tracker::new(
            &secondaries,
            rt.signed().serial(),
            now,
            cfg.secondary_lag_warning,
        );
        rt.set_propagated(tracker.propagated());
        Self {
            rt,
            journal: Arc::new(journal),
            serial_kept_at_start,
            tracker,
            parent: PollSchedule::default(),
            snapshot: None,
        }
    }

    /// Takes the result of a finished snapshot write, then starts a new one when the zone says
    /// one is due (see `ZoneRuntime::snapshot_due`): at most one at a time per zone, on its
    /// own thread, after the version was published (the journal already makes it durable).
    fn keep_signed(&mut self, origin: &Name) {
        if self.snapshot.as_ref().is_some_and(|job| job.is_finished())
            && let Some(job) = self.snapshot.take()
        {
            match job.join() {
                Ok((Ok((serial, fingerprint, bytes)), elapsed)) => {
                    tracing::debug!(
                        zone = %origin,
                        serial,
                        bytes,
                        elapsed_ms = elapsed.as_millis() as u64,
                        "signed zone kept"
                    );
                    self.rt.snapshot_written(serial, fingerprint);
                }
                Ok((Err(error), _)) => {
                    tracing::warn!(zone = %origin, %error, "signed zone not kept; tried again after the next change");
                }
                Err(_) => {
                    tracing::error!(zone = %origin, "the thread writing the kept signed zone panicked");
                }
            }
        }
        if self.snapshot.is_some() || !self.rt.snapshot_due(&self.journal) {
            return;
        }
        let Some(job) = self.rt.snapshot() else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("daned-keep".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let result = job.write();
                (result, started.elapsed())
            });
        match spawned {
            Ok(handle) => self.snapshot = Some(handle),
            Err(error) => {
                tracing::warn!(zone = %origin, %error, "no thread to keep the signed zone; tried again after the next change");
            }
        }
    }

    /// The zone serves `serial` from `now` on: its tracker counts every secondary's wait from
    /// here, and the zone gets what the tracker says.
    fn published(&mut self, serial: u32, now: u32) {
        self.tracker.published(serial, now);
        self.rt.set_propagated(self.tracker.propagated());
    }
}

impl Manager {
    /// Loads and signs every configured zone. Synchronous and possibly slow (signing a large
    /// zone): call it before serving, or on a blocking thread.
    ///
    /// # Errors
    ///
    /// The first zone that fails, with its error.
    pub fn start(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, ZoneError> {
        let rng = SystemRandom::new();
        // Temporary files of writes a crash or a full disk interrupted.
        for dir in [&config.server.state_dir, &config.server.key_dir] {
            for (path, result) in crate::zone::persist::state::sweep_temporaries(dir) {
                match result {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "stale temporary file removed")
                    }
                    Err(error) => {
                        tracing::warn!(path = %path.display(), %error, "stale temporary file not removed")
                    }
                }
            }
        }
        let mut zones = IndexMap::with_capacity(config.zones.len());
        for zone in &config.zones {
            zones.insert(
                zone.origin.clone(),
                start_zone(config, zone, clock.now(), &rng)?,
            );
        }
        let manager = Self {
            zones,
            reports: None,
            state_dir: config.server.state_dir.clone(),
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            clock,
            rng,
            published: None,
            config: Arc::new(config.clone()),
            transfer: Arc::new(TransferPolicy::from_config(config)),
            configs: None,
        };
        manager.publish();
        Ok(manager)
    }

    /// Appends `delta` to zone `origin`'s journal and rewrites its file. A journal that cannot
    /// be written is emptied (in memory too): after a restart it would not chain on anyway.
    fn record(&mut self, origin: &Name, delta: ZoneDelta) {
        let Some(slot) = self.zones.get_mut(origin) else {
            return;
        };
        let journal = Arc::make_mut(&mut slot.journal);
        let first = std::mem::take(&mut slot.serial_kept_at_start);
        let result = if first {
            // Clients at the start serial hold the RRSIGs of before the start: this delta
            // does not apply to them, and older deltas would lead them there.
            journal.clear();
            Ok(())
        } else {
            journal.push(delta)
        };
        // The file (up to the byte cap, fsynced) is written like signing: off the workers
        // that answer queries.
        let state_dir = &self.state_dir;
        let result = result.and_then(|()| blocking(|| journal::store(state_dir, origin, journal)));
        if let Err(error) = result {
            journal.clear();
            tracing::warn!(zone = %origin, %error, "IXFR journal not kept; secondaries get full transfers until the next change");
        }
    }

    /// Records each zone's new `deltas` in its journal, then publishes (when there are any).
    fn record_and_publish(&mut self, deltas: Vec<(Name, ZoneDelta)>) {
        if deltas.is_empty() {
            return;
        }
        for (origin, delta) in deltas {
            self.record(&origin, delta);
        }
        self.publish();
        self.keep_signed();
    }

    /// Lets every zone take a finished snapshot write and start a due one (after a publish).
    fn keep_signed(&mut self) {
        for (origin, slot) in &mut self.zones {
            slot.keep_signed(origin);
        }
    }

    fn build_snapshot(&self, catalog: Arc<Catalog>) -> Snapshot {
        Snapshot::new(
            catalog,
            Arc::clone(&self.transfer),
            self.config.server.udp_payload,
        )
    }

    fn build_catalog(&self) -> Catalog {
        Catalog::new(self.zones.values().map(|slot| slot.rt.signed().clone())).with_journals(
            self.zones
                .iter()
                .map(|(origin, slot)| (origin.clone(), Arc::clone(&slot.journal))),
        )
    }

    /// A channel that receives every catalog published from now on, starting with the
    /// current one (the NOTIFY task compares serials).
    pub fn subscribe(&mut self) -> tokio::sync::watch::Receiver<Arc<Catalog>> {
        let (sender, receiver) =
            tokio::sync::watch::channel(Arc::clone(self.snapshot.load().catalog()));
        self.published = Some(sender);
        receiver
    }

    /// A channel that receives every configuration a reload puts in effect, starting with the
    /// current one.
    pub fn subscribe_config(&mut self) -> tokio::sync::watch::Receiver<Arc<Config>> {
        let (sender, receiver) = tokio::sync::watch::channel(Arc::clone(&self.config));
        self.configs = Some(sender);
        receiver
    }

    /// A channel for the NOTIFY and SOA poll tasks' reports about the secondaries, read by
    /// [`Self::run`] (a new call replaces the previous channel).
    pub fn secondary_reports(&mut self) -> mpsc::Sender<SecondaryReport> {
        let (sender, receiver) = mpsc::channel(64);
        self.reports = Some(receiver);
        sender
    }

    /// The configuration in effect.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// What the query handler reads: the zones, journals, transfer ACLs and TSIG keys of the
    /// last publish, swapped in whole.
    pub fn snapshot(&self) -> Arc<ArcSwap<Snapshot>> {
        self.snapshot.clone()
    }

    /// Runs until `commands` closes: serves reload and status requests, updates the bindings of
    /// a certificate file the watcher reports (`changed_files`), runs rollover timers and renews
    /// signatures before they expire.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut changed_files: Option<mpsc::Receiver<FileChange>>,
    ) {
        let mut polls = ParentPolls::default();
        let mut reports = self.reports.take();
        let mut probes = ProbeRuns::default();
        // Deadlines are absolute: a command or a file event arriving every few hundred
        // milliseconds must not keep pushing a due timer back. Timers run at most once a second,
        // so a deadline that stays in the past (a failing re-sign) cannot spin the loop.
        let mut timers_ran: Option<tokio::time::Instant> = None;
        // Key files or the state directory removed under a running daemon are noticed here.
        let mut storage_check = tokio::time::interval(STORAGE_CHECK);
        storage_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            polls.start_due(&mut self.zones, &self.clock);
            probes.start_due(&mut self.zones, self.clock.now());
            let wait = probes.until_next(
                &self.zones,
                self.clock.now(),
                ParentPolls::until_next(&self.zones, self.until_next_deadline()),
            );
            let mut at = tokio::time::Instant::now() + wait;
            if let Some(ran) = timers_ran {
                at = at.max(ran + Duration::from_secs(1));
            }
            tokio::select! {
                () = tokio::time::sleep_until(at) => {
                    self.run_timers();
                    timers_ran = Some(tokio::time::Instant::now());
                }
                Some(Ok((id, (origin, seen)))) = polls.tasks.join_next_with_id(), if !polls.tasks.is_empty() => {
                    // Only the poll the zone's slot started counts (not one of a zone that was
                    // removed and added again meanwhile).
                    let current = self.zones.get_mut(&origin).is_some_and(|slot| {
                        let ours = slot.parent.running.as_ref().is_some_and(|h| h.id() == id);
                        if ours {
                            slot.parent.running = None;
                        }
                        ours
                    });
                    if current {
                        self.parent_answered(&origin, &seen);
                    }
                }
                Some(Ok(job)) = probes.tasks.join_next(), if !probes.tasks.is_empty() => {
                    self.probes_done(&mut probes, job);
                }
                Some(change) = recv_opt(&mut changed_files) => self.file_changed(&change),
                Some(report) = recv_opt(&mut reports) => self.secondary_report(&report),
                _ = storage_check.tick() => self.check_storage(),
                command = commands.recv() => match command {
                    Some(Command::Reload { reply }) => {
                        // The kept zones keep their slots: parent polls, journals, trackers.
                        let outcome = self.reload();
                        if let Some(reply) = reply {
                            // The requester may have gone away; the reload happened anyway.
                            let _ = reply.send(outcome);
                        }
                    }
                    Some(Command::Status { reply }) => {
                        // The requester may have gone away.
                        let _ = reply.send(self.status());
                    }
                    Some(Command::Keys { zone, reply }) => {
                        let _ = reply.send(self.keys_report(&zone));
                    }
                    Some(Command::KeyAction { zone, action, reply }) => {
                        let outcome = self.key_action(&zone, action);
                        if let Some(reply) = reply {
                            let _ = reply.send(outcome);
                        }
                    }
                    Some(Command::Probe { zone, binding, reply }) => {
                        let picked = self.pick_bindings(zone.as_ref(), binding.as_deref());
                        match picked {
                            Ok(picked) => probes.start(&mut self.zones, picked, Some((zone, binding, reply))),
                            Err(error) => {
                                let _ = reply.send(Err(error));
                            }
                        }
                    }
                    None => break,
                },
            }
        }
    }

    /// Checks every zone's key and state files ([`ZoneRuntime::check_storage`]).
    pub fn check_storage(&mut self) {
        for slot in self.zones.values_mut() {
            blocking(|| slot.rt.check_storage());
        }
    }

    /// How long until the earliest zone needs the manager (a signature refresh or a rollover
    /// deadline), zero when one is due, at most 1 h (which re-checks periodically and also
    /// covers a clock jump).
    fn until_next_deadline(&self) -> Duration {
        let now = self.clock.now();
        let secs = self
            .zones
            .values()
            .filter_map(|slot| slot.rt.next_deadline())
            .map(|at| {
                let delta = at.wrapping_sub(now);
                // RFC 1982: a due time in the past reads as a huge unsigned delta.
                if delta >= 0x8000_0000 { 0 } else { delta }
            })
            .min()
            .unwrap_or(3600);
        Duration::from_secs(u64::from(secs.min(3600)))
    }

    /// Runs the rollover timers and renews due signatures in every zone, then publishes.
    pub fn run_timers(&mut self) {
        type Step = fn(
            &mut ZoneRuntime,
            u32,
            &(dyn SecureRandom + Sync),
        ) -> Result<Option<ZoneDelta>, ZoneError>;
        // Each step, what its delta is logged as, and what its failure is logged as.
        let steps: [(Step, &str, &str); 4] = [
            (
                ZoneRuntime::retry_failed_write,
                "change published after a failed state write",
                "state write failed again; the previous version is still served",
            ),
            (
                |rt, now, rng| rt.update_keys(now, rng, KeyAction::Tick),
                "zone re-signed for a key state change",
                "key lifecycle step failed; the previous version is still served",
            ),
            (
                ZoneRuntime::tick_bindings,
                "TLSA records updated by the rollover timer",
                "rollover update failed; the previous version is still served",
            ),
            (
                ZoneRuntime::refresh,
                "signatures refreshed",
                "signature refresh failed; the previous version is still served",
            ),
        ];
        let now = self.clock.now();
        let mut deltas = Vec::new();
        let mut published = Vec::new();
        for (origin, slot) in &mut self.zones {
            for (step, done, failed) in steps {
                if slot.rt.write_pending(now) {
                    // A state write failed: wait for its retry (see `retry_failed_write`).
                    break;
                }
                let from = slot.rt.signed().serial();
                match blocking(|| step(&mut slot.rt, now, &self.rng)) {
                    Ok(Some(delta)) => {
                        slot.published(delta.to_serial, now);
                        let counts = (delta.removed.len(), delta.added.len());
                        published.push((origin.clone(), from, delta.to_serial, counts, done));
                        deltas.push((origin.clone(), delta));
                    }
                    Ok(None) => {}
                    Err(error) => tracing::error!(zone = %origin, %error, "{failed}"),
                }
            }
        }
        self.record_and_publish(deltas);
        // Logged once the new versions are served (as in `file_changed`).
        for (zone, from, to, (removed, added), done) in published {
            tracing::info!(zone = %zone, from, to, removed, added, "{done}");
        }
    }

    /// A certificate or next-key file changed: the bindings that use it, in every zone, take
    /// the content the watcher read (no file is read again, nor the zone file), and the result
    /// is published.
    pub fn file_changed(&mut self, change: &FileChange) {
        let path = change.path.as_path();
        let now = self.clock.now();
        let mut deltas = Vec::new();
        let mut published = Vec::new();
        for (origin, slot) in self
            .zones
            .iter_mut()
            .filter(|(_, slot)| slot.rt.watches(path))
        {
            let from = slot.rt.signed().serial();
            let started = std::time::Instant::now();
            match blocking(|| slot.rt.file_changed(path, change.content(), now, &self.rng)) {
                Ok(Some(delta)) => {
                    slot.published(delta.to_serial, now);
                    published.push((
                        origin.clone(),
                        from,
                        delta.to_serial,
                        delta.removed.len(),
                        delta.added.len(),
                        started.elapsed().as_micros() as u64,
                    ));
                    deltas.push((origin.clone(), delta));
                }
                Ok(None) => {
                    tracing::debug!(zone = %origin, path = %path.display(), "certificate change needs no new records");
                }
                Err(error) => {
                    tracing::error!(zone = %origin, %error, "update failed; the previous version is still served");
                }
            }
        }
        self.record_and_publish(deltas);
        // Logged once the new versions are served: a hook or test that waits for this line
        // and then queries sees the new records.
        for (zone, from, to, removed, added, elapsed_us) in published {
            tracing::info!(
                zone = %zone,
                path = %path.display(),
                from,
                to,
                removed,
                added,
                elapsed_us,
                "certificate change published"
            );
        }
    }

    /// Every certificate and next-key file of every zone, for the watcher.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        self.zones
            .values()
            .flat_map(|slot| slot.rt.watched_files())
            .collect()
    }

    /// `daned reload` and SIGHUP: re-reads the config file the daemon started with (same
    /// path) and applies it, then reloads every zone's files. See [`Self::apply_config`].
    ///
    /// # Errors
    ///
    /// The config file cannot be read or is invalid (the message names the file and line):
    /// nothing changes.
    pub fn reload(&mut self) -> Result<ReloadReport, CommandError> {
        let path = self.config.path.clone();
        match blocking(|| Config::load(&path)) {
            Ok(new) => Ok(self.apply_config(new)),
            Err(error) => {
                tracing::error!(%error, "configuration not reloaded; the running configuration stays");
                Err(error.into())
            }
        }
    }

    /// Puts `new` in effect, as read from the config file:
    ///
    /// - a changed restart-only `[server]` setting ([`crate::config::RESTART_ONLY`]) is logged
    ///   and keeps its running value;
    /// - a zone whose settings changed is reconfigured ([`ZoneRuntime::reconfigure`]: re-signed
    ///   through the update path as needed, with a new serial and a journal delta; a denial
    ///   switch clears the journal instead), then its key lifecycle runs under the new policy at
    ///   once ([`ZoneRuntime::update_keys`]: an algorithm change starts the roll);
    /// - a zone whose settings did not change is reloaded ([`ZoneRuntime::reload`]);
    /// - a zone added is loaded, signed and served; a zone removed is no longer served (its
    ///   state, journal and keys stay on disk);
    /// - the result is published, and the configuration in effect goes to the tasks that
    ///   follow it.
    ///
    /// A zone that fails keeps its previous settings and version (its outcome says why).
    pub fn apply_config(&mut self, new: Config) -> ReloadReport {
        let restart_needed: Vec<String> = self
            .config
            .restart_only_changes(&new)
            .into_iter()
            .map(str::to_owned)
            .collect();
        for setting in &restart_needed {
            tracing::warn!(
                setting = setting.as_str(),
                "changed in the config file, but only a restart applies it; the running value stays"
            );
        }
        let new = self.config.reloaded(new);
        let now = self.clock.now();
        // The slots diffed by origin: first the new set of zones (the kept slots moved over,
        // the new zones started), in the file's order; then the kept ones are reloaded in place.
        let mut old = std::mem::take(&mut self.zones);
        let mut zones = Vec::with_capacity(new.zones.len());
        let mut pending: Vec<(usize, Name, Option<ZoneConfig>, Vec<String>)> = Vec::new();
        for cfg in &new.zones {
            match old.shift_remove(&cfg.origin) {
                Some(slot) => {
                    let changed: Vec<String> = slot
                        .rt
                        .config()
                        .changed_settings(cfg)
                        .into_iter()
                        .map(str::to_owned)
                        .collect();
                    let reconfigure = (!changed.is_empty()).then(|| cfg.clone());
                    pending.push((zones.len(), cfg.origin.clone(), reconfigure, changed));
                    self.zones.insert(cfg.origin.clone(), slot);
                    zones.push(None);
                }
                None => match blocking(|| self.start_zone(cfg, now)) {
                    Ok(slot) => {
                        let serial = slot.rt.signed().serial();
                        tracing::info!(zone = %cfg.origin, serial, "zone added by the configuration; now served");
                        self.zones.insert(cfg.origin.clone(), slot);
                        zones.push(Some(ZoneReloaded {
                            zone: cfg.origin.clone(),
                            outcome: ReloadOutcome::Added { serial },
                            changed: Vec::new(),
                            events: Vec::new(),
                        }));
                    }
                    Err(error) => {
                        tracing::error!(zone = %cfg.origin, %error, "zone added by the configuration cannot be loaded; not served");
                        zones.push(Some(ZoneReloaded {
                            zone: cfg.origin.clone(),
                            outcome: ReloadOutcome::NotAdded {
                                error: error.to_string(),
                            },
                            changed: Vec::new(),
                            events: Vec::new(),
                        }));
                    }
                },
            }
        }
        let mut deltas = Vec::new();
        let mut cleared = Vec::new();
        for (position, origin, reconfigure, changed) in pending {
            let outcome = self.reload_zone(&origin, reconfigure, now, &mut deltas, &mut cleared);
            if let (Some(reloaded), Some(slot)) =
                (zones.get_mut(position), self.zones.get_mut(&origin))
            {
                *reloaded = Some(ZoneReloaded {
                    zone: origin,
                    outcome,
                    changed,
                    events: binding_events(&mut slot.rt),
                });
            }
        }
        let mut report = ReloadReport {
            zones: zones.into_iter().flatten().collect(),
            restart_needed,
        };
        for (origin, slot) in old {
            if let Some(job) = slot.snapshot {
                // Its write finishes first: the zone added again later writes the same file.
                let _ = blocking(|| job.join());
            }
            let serial = slot.rt.signed().serial();
            tracing::info!(zone = %origin, serial, "zone removed from the configuration; no longer served (its state and keys stay on disk)");
            report.zones.push(ZoneReloaded {
                zone: origin,
                outcome: ReloadOutcome::Removed { serial },
                changed: Vec::new(),
                events: Vec::new(),
            });
        }
        for origin in cleared {
            self.reset_journal(&origin);
        }
        for (origin, delta) in deltas {
            self.record(&origin, delta);
        }
        // What is in effect: the new file's settings, each zone's as its runtime holds them (a
        // zone that failed keeps its previous ones), and no zone that is not served. Its
        // transfer ACLs and TSIG keys are published in the same snapshot as the new zones.
        let effective = Config {
            zones: self
                .zones
                .values()
                .map(|slot| slot.rt.config().clone())
                .collect(),
            ..new
        };
        let config_changed = effective != *self.config;
        if config_changed {
            self.transfer = Arc::new(TransferPolicy::from_config(&effective));
            self.config = Arc::new(effective);
        }
        self.publish();
        self.keep_signed();
        // Logged once the new versions are served: a hook or test that waits for this line
        // and then queries sees them.
        for zone in &report.zones {
            if let ReloadOutcome::Changed {
                from,
                to,
                removed,
                added,
            } = zone.outcome
            {
                let reconfigured = !zone.changed.is_empty();
                tracing::info!(zone = %zone.zone, from, to, removed, added, reconfigured, "zone reloaded");
            }
        }
        if config_changed && let Some(configs) = &self.configs {
            // No follower left (stopping) is not an error of reloading.
            let _ = configs.send(Arc::clone(&self.config));
        }
        report
    }

    /// Loads and signs one zone of `config` when a reload adds it: its slot.
    fn start_zone(&self, cfg: &ZoneConfig, now: u32) -> Result<ZoneSlot, ZoneError> {
        start_zone(&self.config, cfg, now, &self.rng)
    }

    /// Reloads zone `origin` in place, reconfigured when `reconfigure` holds its new settings;
    /// pushes its deltas (or its origin to `cleared`, when its journal must be emptied first)
    /// and returns its outcome.
    fn reload_zone(
        &mut self,
        origin: &Name,
        reconfigure: Option<ZoneConfig>,
        now: u32,
        deltas: &mut Vec<(Name, ZoneDelta)>,
        cleared: &mut Vec<Name>,
    ) -> ReloadOutcome {
        let Some(slot) = self.zones.get_mut(origin) else {
            return ReloadOutcome::Unchanged { serial: 0 };
        };
        let from = slot.rt.signed().serial();
        let denial_switch = reconfigure
            .as_ref()
            .is_some_and(|cfg| cfg.signing.denial != slot.rt.config().signing.denial);
        let journal_limits = reconfigure
            .as_ref()
            .map(|cfg| cfg.journal)
            .filter(|limits| *limits != slot.rt.config().journal);
        let reconfigured = reconfigure.is_some();
        let result = match reconfigure {
            Some(cfg) => {
                // The tracker follows the new secondaries, kept only when the zone takes the
                // new settings.
                let mut tracker = slot.tracker.clone();
                let secondaries: Vec<_> = cfg.secondaries.iter().map(|s| s.address).collect();
                tracker.reconfigure(&secondaries, cfg.secondary_lag_warning, now);
                let propagated = tracker.propagated();
                let result = blocking(|| slot.rt.reconfigure(cfg, propagated, now, &self.rng));
                if result.is_ok() {
                    slot.tracker = tracker;
                }
                result
            }
            None => blocking(|| slot.rt.reload(now, &self.rng)),
        };
        let mut changes = Vec::new();
        let mut error = None;
        let (mut removed, mut added) = (0, 0);
        let mut count = |delta: &ZoneDelta| {
            removed += delta.removed.len();
            added += delta.added.len();
        };
        match result {
            Ok(delta) => {
                if let Some(delta) = &delta {
                    slot.published(delta.to_serial, now);
                    count(delta);
                }
                if denial_switch && delta.is_some() {
                    // The delta replaces every RRSIG and the whole denial chain: larger than a
                    // full transfer. Secondaries get one (RFC 1995 §4 allows it).
                    tracing::info!(zone = %origin, "denial of existence switched; IXFR journal cleared, secondaries get a full transfer");
                    cleared.push(origin.clone());
                } else {
                    changes.extend(delta);
                }
                if let Some(limits) = journal_limits {
                    slot.journal = Arc::new(with_limits(&slot.journal, limits));
                }
                if reconfigured {
                    // The key lifecycle sees the new policy now, not at its next timer.
                    match blocking(|| slot.rt.update_keys(now, &self.rng, KeyAction::Tick)) {
                        Ok(delta) => {
                            if let Some(delta) = &delta {
                                slot.published(delta.to_serial, now);
                                count(delta);
                            }
                            changes.extend(delta);
                        }
                        Err(e) => {
                            tracing::error!(zone = %origin, error = %e, "key lifecycle step under the new policy failed");
                            error = Some(e.to_string());
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(zone = %origin, error = %e, "reload failed; the previous version is still served");
                error = Some(e.to_string());
            }
        }
        let to = slot.rt.signed().serial();
        deltas.extend(changes.into_iter().map(|delta| (origin.clone(), delta)));
        match error {
            Some(error) => ReloadOutcome::Failed { serial: to, error },
            None if to == from => ReloadOutcome::Unchanged { serial: to },
            None => {
                // Logged by `apply_config` once the new version is served.
                ReloadOutcome::Changed {
                    from,
                    to,
                    removed,
                    added,
                }
            }
        }
    }

    /// Empties zone `origin`'s journal (in memory and on disk).
    fn reset_journal(&mut self, origin: &Name) {
        let Some(slot) = self.zones.get_mut(origin) else {
            return;
        };
        let journal = Arc::make_mut(&mut slot.journal);
        journal.clear();
        slot.serial_kept_at_start = false;
        if let Err(error) = blocking(|| journal::store(&self.state_dir, origin, journal)) {
            tracing::warn!(zone = %origin, %error, "IXFR journal file not emptied");
        }
    }

    /// Records what a NOTIFY or SOA poll learned; when every secondary now serves a serial,
    /// runs the zone's rollover timers (a staged key's wait may start) and publishes.
    pub fn secondary_report(&mut self, report: &SecondaryReport) {
        let now = self.clock.now();
        let mut deltas = Vec::new();
        if let Some(slot) = self.zones.get_mut(&report.zone)
            && slot
                .tracker
                .report(&report.zone, report.secondary, &report.kind, now)
        {
            slot.rt.set_propagated(slot.tracker.propagated());
            match blocking(|| slot.rt.tick_bindings(now, &self.rng)) {
                Ok(Some(delta)) => {
                    slot.published(delta.to_serial, now);
                    deltas.push((report.zone.clone(), delta));
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(zone = %report.zone, %error, "rollover update failed; the previous version is still served");
                }
            }
        }
        self.record_and_publish(deltas);
    }

    /// The parent serves the DS of keys `seen` of zone `origin` (polling found it at every
    /// parent server): tells the lifecycle.
    fn parent_answered(&mut self, origin: &Name, seen: &[u16]) {
        if !self.zones.contains_key(origin) {
            return;
        }
        for &tag in seen {
            tracing::info!(zone = %origin, tag, "DS found at every parent server");
            // A refusal (the key is no longer awaited: `daned ds-seen` came first) is logged.
            let _ = self.key_action(origin, KeyAction::DsSeen(tag));
        }
    }

    /// Applies `action` to zone `zone`'s keys, publishes the result and returns the zone's
    /// keys as they are now served (or what went wrong).
    pub fn key_action(
        &mut self,
        zone: &Name,
        action: KeyAction,
    ) -> Result<KeysReport, CommandError> {
        let now = self.clock.now();
        let slot = self.zones.get_mut(zone).ok_or_else(|| no_zone(zone))?;
        let from = slot.rt.signed().serial();
        let result = blocking(|| slot.rt.update_keys(now, &self.rng, action));
        match result {
            Ok(Some(delta)) => {
                slot.published(delta.to_serial, now);
                tracing::info!(zone = %zone, from, to = delta.to_serial, ?action, "zone re-signed for a key action");
                self.record_and_publish(vec![(zone.clone(), delta)]);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(zone = %zone, %error, ?action, "key action refused");
                return Err(error.into());
            }
        }
        self.keys_report(zone)
    }

    /// Zone `zone`'s keys, for `daned keys`.
    pub fn keys_report(&self, zone: &Name) -> Result<KeysReport, CommandError> {
        let rt = &self.zones.get(zone).ok_or_else(|| no_zone(zone))?.rt;
        Ok(KeysReport {
            zone: rt.config().origin.to_string(),
            serial: rt.signed().serial(),
            keys: key_statuses(rt),
            next_key_event: next_key_event(rt),
            awaiting_ds: rt.key_outlook().awaiting_ds.clone(),
        })
    }

    /// The zones being served, in the config file's order.
    pub fn zones(&self) -> impl Iterator<Item = &ZoneRuntime> {
        self.zones.values().map(|slot| &slot.rt)
    }

    /// The bindings `daned probe [--zone Z] [BINDING]` names: (zone origin, binding key) of
    /// each probed one.
    fn pick_bindings(
        &self,
        zone: Option<&Name>,
        binding: Option<&str>,
    ) -> Result<Vec<(Name, String)>, CommandError> {
        if let Some(zone) = zone
            && !self.zones.contains_key(zone)
        {
            return Err(no_zone(zone));
        }
        let picked: Vec<(Name, String)> = self
            .zones()
            .filter(|rt| zone.is_none_or(|z| rt.config().origin == *z))
            .flat_map(|rt| {
                rt.bindings()
                    .iter()
                    .filter(|b| binding.is_none_or(|name| b.cfg.name == name))
                    .map(|b| (rt.config().origin.clone(), b.key()))
            })
            .collect();
        if picked.is_empty() {
            return Err(match binding {
                Some(name) => CommandError::NoBinding(name.to_owned()),
                None => CommandError::NothingToProbe,
            });
        }
        Ok(picked)
    }

    /// A probe job finished: its results go to their bindings (which may now retire a replaced
    /// key's record), the result is published, and whoever asked gets the status.
    fn probes_done(&mut self, probes: &mut ProbeRuns, job: ProbeJob) {
        let now = self.clock.now();
        let mut deltas = Vec::new();
        for (origin, key, results) in job.results {
            probes.in_flight.remove(&(origin.clone(), key.clone()));
            let Some(slot) = self.zones.get_mut(&origin) else {
                continue;
            };
            let Some(binding) = slot.rt.bindings().iter().position(|b| b.key() == key) else {
                continue;
            };
            let from = slot.rt.signed().serial();
            match blocking(|| slot.rt.probed(binding, results, now, &self.rng)) {
                Ok(Some(delta)) => {
                    slot.published(delta.to_serial, now);
                    tracing::info!(zone = %origin, from, to = delta.to_serial, "TLSA records updated after a probe");
                    deltas.push((origin.clone(), delta));
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(zone = %origin, %error, "rollover update after a probe failed; the previous version is still served")
                }
            }
        }
        self.record_and_publish(deltas);
        if let Some((zone, binding, reply)) = job.reply {
            let mut report = self.status();
            report.zones.retain(|z| {
                zone.as_ref()
                    .is_none_or(|want| z.origin == want.to_string())
            });
            for z in &mut report.zones {
                z.bindings
                    .retain(|b| binding.as_ref().is_none_or(|name| b.name == *name));
            }
            report.zones.retain(|z| !z.bindings.is_empty());
            let _ = reply.send(Ok(report));
        }
    }

    /// The state of every zone and binding, for `daned status`.
    pub fn status(&self) -> StatusReport {
        let now = self.clock.now();
        StatusReport {
            zones: self
                .zones
                .values()
                .map(|slot| zone_status(&slot.rt, &slot.tracker, now))
                .collect(),
        }
    }

    fn publish(&self) {
        let catalog = Arc::new(self.build_catalog());
        self.snapshot
            .store(Arc::new(self.build_snapshot(Arc::clone(&catalog))));
        if let Some(sender) = &self.published {
            // No receiver left (the NOTIFY task ended) is not an error of publishing.
            let _ = sender.send(catalog);
        }
    }
}

/// The error of a command naming a zone that is not served.
fn no_zone(zone: &Name) -> CommandError {
    CommandError::NoZone(zone.clone())
}

/// Loads and signs zone `zone` of `config` (at start, and when a reload adds it): its slot,
/// with its runtime, its IXFR journal, and whether it kept the serial of before (see
/// `ZoneSlot::serial_kept_at_start`).
fn start_zone(
    config: &Config,
    zone: &ZoneConfig,
    now: u32,
    rng: &SystemRandom,
) -> Result<ZoneSlot, ZoneError> {
    let started = std::time::Instant::now();
    // The serial of before this start, if any (an unreadable state fails `start` below).
    let before = crate::zone::persist::state::load(&config.server.state_dir, &zone.origin)
        .ok()
        .flatten()
        .map(|state| state.serial);
    let mut rt = ZoneRuntime::start(
        zone.clone(),
        config.server.key_dir.clone(),
        config.server.state_dir.clone(),
        Mode::Serve,
        now,
        rng,
    )?;
    for warning in rt.warnings() {
        tracing::warn!(zone = %zone.origin, %warning, "zone file warning");
    }
    // `resumed`: the version published before the restart is served again, not signed; else
    // `signed_whole` says why (when there was a state to resume from).
    let signed_whole = rt.not_resumed().map(ToString::to_string);
    tracing::info!(
        zone = %zone.origin,
        serial = rt.signed().serial(),
        keys = rt.keys().len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        resumed = rt.resumed(),
        signed_whole = signed_whole.as_deref(),
        "zone loaded"
    );
    // A start that served the kept version serves the RRSIGs of before: the journal goes on.
    let kept = before == Some(rt.signed().serial()) && !rt.resumed();
    // The versions the start made on top of the kept one go into the journal before the first
    // publish, as every later change does.
    let start_deltas = rt.take_start_deltas();
    let loaded_at = start_deltas
        .first()
        .map_or(rt.signed().serial(), |d| d.from_serial);
    let mut journal = journal::load(
        &config.server.state_dir,
        &zone.origin,
        loaded_at,
        zone.journal,
    );
    if !start_deltas.is_empty() {
        let result = start_deltas
            .into_iter()
            .try_for_each(|delta| journal.push(delta))
            .and_then(|()| journal::store(&config.server.state_dir, &zone.origin, &journal));
        if let Err(error) = result {
            journal.clear();
            tracing::warn!(zone = %zone.origin, %error, "IXFR journal not kept; secondaries get full transfers until the next change");
        }
    }
    if let Some(first) = journal.first_serial() {
        tracing::debug!(zone = %zone.origin, first, deltas = journal.len(), "IXFR journal loaded");
    }
    if rt.snapshot_due(&journal) {
        // A start that served the kept version may find it about to leave the journal: kept
        // again here, before the first publish.
        rt.keep_snapshot();
    }
    Ok(ZoneSlot::new(rt, journal, kept, now))
}

/// `journal` under new limits (a reload changed them): its deltas, oldest dropped first.
fn with_limits(journal: &Journal, limits: crate::zone::persist::journal::JournalLimits) -> Journal {
    let mut resized = Journal::new(limits);
    for delta in journal.deltas() {
        // The deltas were encoded once already; one that fails now leaves the journal empty,
        // which only costs full transfers.
        if resized.push(delta.clone()).is_err() {
            break;
        }
    }
    resized
}

/// Every key of the zone with its lifecycle state.
fn key_statuses(rt: &ZoneRuntime) -> Vec<KeyStatus> {
    rt.keys()
        .iter()
        .map(|entry| {
            let record = &entry.record;
            let (ds, ds_since) = match record.ds {
                DsState::None => ("none", None),
                DsState::Submitted { since } => ("submitted", Some(since)),
                DsState::Seen { at } => ("seen", Some(at)),
                DsState::Withdrawn { since } => ("withdrawn", Some(since)),
            };
            KeyStatus {
                key_tag: record.tag,
                algorithm: record.algorithm.to_string(),
                role: crate::zone::persist::state::role_name(record.role).to_string(),
                file: entry.file.display().to_string(),
                state: record.state.name().to_string(),
                since: rfc3339(record.since),
                ds: ds.to_string(),
                ds_since: ds_since.map(rfc3339),
            }
        })
        .collect()
}

fn next_key_event(rt: &ZoneRuntime) -> Option<KeyEvent> {
    rt.key_outlook().next.as_ref().map(|next| KeyEvent {
        at: next.at,
        at_utc: rfc3339(next.at),
        what: next.what.clone(),
    })
}

fn zone_status(rt: &ZoneRuntime, tracker: &Tracker, now: u32) -> ZoneStatus {
    let signed = rt.signed();
    let keys = key_statuses(rt);
    let bindings = rt
        .bindings()
        .iter()
        .map(|b| BindingStatus {
            name: b.cfg.name.clone(),
            certificate: b.certificate().file.display().to_string(),
            owners: b.cfg.owners.iter().map(|o| o.to_string()).collect(),
            state: b.state.phase(now).to_string(),
            records: b.state.published().iter().map(|r| r.to_string()).collect(),
            ready_at: b.state.ready_at(),
            ready: b.state.is_ready(now),
            last_error: b.last_error.clone(),
            waiting: b.state.awaiting_propagation().map(|serial| {
                let waiting = serial.map(|s| tracker.waiting_for(s));
                match (serial, waiting) {
                    (Some(s), Some(w)) if w.is_empty() => {
                        format!("waiting for secondaries: all serve serial {s}")
                    }
                    (_, Some(w)) => format!("waiting for secondaries: {}", w.join(", ")),
                    _ => "waiting for secondaries: not signed yet".to_owned(),
                }
            }),
            probing: b.cfg.probe.enabled,
            targets: if b.cfg.probe.enabled {
                target_statuses(b)
            } else {
                Vec::new()
            },
            held: b.state.held(now).iter().map(ToString::to_string).collect(),
            certificate_not_after: b.not_after.map(rfc3339_i64),
            certificate_not_after_unix: b.not_after,
            roles: crate::zone::tlsa::record_roles(&b.state),
        })
        .collect();
    let counters = rt.counters();
    ZoneStatus {
        origin: rt.config().origin.to_string(),
        serial: signed.serial(),
        keys,
        earliest_expiration: rt.earliest_expiration(),
        next_refresh: rt.next_refresh_at(),
        bindings,
        last_error: rt.last_error().map(str::to_string),
        certificate_errors: counters.certificate_errors,
        unsafe_switches: counters.unsafe_switches,
        failed_updates: counters.failed_updates,
        validation_failures: counters.validation_failures,
        storage_error: rt.storage_error().map(str::to_string),
        signature_expiry_seconds: rt
            .earliest_expiration()
            .map(|exp| i64::from(exp.wrapping_sub(now) as i32)),
        next_key_event: next_key_event(rt),
        awaiting_ds: rt.key_outlook().awaiting_ds.clone(),
        secondaries: tracker.status(now),
        propagated_at: rt.propagated_at(signed.serial()),
        unprotected: unprotected(rt, tracker, now),
    }
}

/// What `daned reload` says of `rt`'s bindings: their rollover events since the last reload
/// (a watcher may have applied a certificate change before the hook's reload came), then each
/// binding whose certificate or next-key file is unusable now.
fn binding_events(rt: &mut ZoneRuntime) -> Vec<crate::status::BindingEvent> {
    let mut events: Vec<_> = rt
        .take_unreported()
        .into_iter()
        .map(|(binding, event)| crate::status::BindingEvent {
            binding,
            kind: event.kind().to_owned(),
            text: event.to_string(),
        })
        .collect();
    events.extend(rt.bindings().iter().filter_map(|b| {
        b.last_error
            .as_ref()
            .map(|error| crate::status::BindingEvent {
                binding: b.key(),
                kind: "error".to_owned(),
                text: format!("{error}; the last good records stay published"),
            })
    }));
    events
}

/// Each probe target of `b` with its last result.
fn target_statuses(b: &crate::zone::Binding) -> Vec<TargetStatus> {
    b.probed
        .verdicts(&b.state)
        .map(|(target, judged)| {
            let seen = b.probed.seen.get(target);
            TargetStatus {
                target: target.to_string(),
                host: target.host.to_string(),
                port: target.port,
                address: target.connect.to_string(),
                protocol: target.protocol.as_str().to_owned(),
                result: judged
                    .as_ref()
                    .map_or("not-probed", |j| j.verdict.as_str())
                    .to_owned(),
                reason: judged.as_ref().and_then(|j| j.reason.clone()),
                presented: judged.as_ref().and_then(|j| j.spki_sha256.clone()),
                presented_not_after: judged.as_ref().and_then(|j| j.not_after.map(rfc3339_i64)),
                probed_at: seen.map(|s| rfc3339(s.at)),
                last_good: seen.and_then(|s| s.last_good.map(rfc3339)),
                last_good_unix: seen.and_then(|s| s.last_good),
                presented_not_after_unix: judged.as_ref().and_then(|j| j.not_after),
            }
        })
        .collect()
}

/// Why the zone's TLSA records do not protect mail yet: a sender only uses records that
/// validate (RFC 7672 §2.2), which needs the zone's DS at the parent, and a secondary that
/// lags serves records that may not be the ones published.
fn unprotected(rt: &ZoneRuntime, tracker: &Tracker, now: u32) -> Vec<String> {
    let mut reasons = Vec::new();
    let origin = &rt.config().origin;
    let signing_keys: Vec<_> = rt
        .keys()
        .iter()
        .filter(|e| {
            e.record.role != daned_sign::keys::KeyRole::Zsk
                && e.record.state == daned_sign::lifecycle::KeyState::Active
        })
        .collect();
    if !signing_keys.is_empty()
        && !signing_keys
            .iter()
            .any(|e| matches!(e.record.ds, DsState::Seen { .. }))
    {
        let tags: Vec<String> = signing_keys
            .iter()
            .map(|e| e.record.tag.to_string())
            .collect();
        let how = if rt.config().keys.parent_servers.is_empty() {
            format!(
                "give the parent the DS (`daned ds {origin}`), then run `daned ds-seen {origin} {}`",
                tags.join(" ")
            )
        } else {
            "parent-servers are polled for it".to_owned()
        };
        reasons.push(format!(
            "the zone's DS (key {}) is not known to be at the parent, so resolvers cannot \
             validate the TLSA records: {how}",
            tags.join(", ")
        ));
    }
    let warning = rt.config().secondary_lag_warning;
    for secondary in tracker.status(now) {
        if secondary.lag > warning {
            reasons.push(format!(
                "secondary {} lags {} s behind (serial {}), past secondary-lag-warning",
                secondary.address,
                secondary.lag,
                secondary
                    .serial
                    .map_or_else(|| "unknown".to_owned(), |s| s.to_string())
            ));
        }
    }
    reasons
}

/// Receives from an optional channel; pending forever when there is none.
async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs CPU-heavy work (signing) so that it does not stall the runtime's other tasks: on a
/// multi-threaded runtime the worker hands its queries over first; elsewhere it runs inline.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Who asked for a probe and what to answer with.
type ProbeReply = (
    Option<Name>,
    Option<String>,
    oneshot::Sender<Result<StatusReport, CommandError>>,
);

/// One finished probe job: per binding (zone origin, binding key), each target's outcome.
/// What one binding's probe found: (zone origin, binding key, each target's outcome).
type BindingProbe = (
    Name,
    String,
    Vec<(
        crate::zone::tlsa::probe::Target,
        crate::zone::tlsa::probe::Outcome,
    )>,
);

struct ProbeJob {
    results: Vec<BindingProbe>,
    reply: Option<ProbeReply>,
}

/// The TLS probes in flight. A binding is probed at start, after each change of its records
/// or files (the runtime marks it due), every `probe-interval`, and on demand; never twice at
/// once. At most [`ProbeRuns::CONNECTIONS`] connections are open at a time.
#[derive(Default)]
struct ProbeRuns {
    in_flight: std::collections::HashSet<(Name, String)>,
    tasks: tokio::task::JoinSet<ProbeJob>,
    connections: Option<Arc<tokio::sync::Semaphore>>,
}

impl ProbeRuns {
    const CONNECTIONS: usize = 16;

    /// Starts the probes that are due.
    fn start_due(&mut self, zones: &mut IndexMap<Name, ZoneSlot>, now: u32) {
        let mut due = Vec::new();
        for rt in zones.values().map(|slot| &slot.rt) {
            for index in rt.probes_due(now, false) {
                let key = rt.bindings()[index].key();
                due.push((rt.config().origin.clone(), key));
            }
        }
        due.retain(|job| !self.in_flight.contains(job));
        if !due.is_empty() {
            self.start(zones, due, None);
        }
    }

    /// Starts one job probing `picked` (zone origin, binding key); bindings already being
    /// probed are probed again in this job only if someone waits for the answer.
    fn start(
        &mut self,
        zones: &mut IndexMap<Name, ZoneSlot>,
        picked: Vec<(Name, String)>,
        reply: Option<ProbeReply>,
    ) {
        let connections = Arc::clone(
            self.connections
                .get_or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(Self::CONNECTIONS))),
        );
        let mut work = Vec::new();
        for (origin, key) in picked {
            let Some(rt) = zones.get_mut(&origin).map(|slot| &mut slot.rt) else {
                continue;
            };
            let Some(binding) = rt.bindings().iter().find(|b| b.key() == key) else {
                continue;
            };
            // `probe = false` is never probed, not even on demand (its targets may be
            // addresses daned must not connect to); `daned probe` shows it as off.
            if !binding.cfg.probe.enabled {
                continue;
            }
            let targets = binding.probed.targets.clone();
            let family = binding.probe_family();
            rt.probe_started(&key);
            // A binding already being probed is probed again only for someone who waits.
            if !self.in_flight.insert((origin.clone(), key.clone())) && reply.is_none() {
                continue;
            }
            work.push((origin, key, targets, family));
        }
        self.tasks.spawn(async move {
            let limits = crate::zone::tlsa::probe::Limits::default();
            let mut results = Vec::new();
            for (origin, key, targets, family) in work {
                let mut set = tokio::task::JoinSet::new();
                for (order, target) in targets.into_iter().enumerate() {
                    let connections = Arc::clone(&connections);
                    set.spawn(async move {
                        // The semaphore is never closed, so acquire only fails if it were.
                        let _permit = connections.acquire_owned().await;
                        let outcome =
                            crate::zone::tlsa::probe::probe(&target, family, &limits).await;
                        (order, target, outcome)
                    });
                }
                let mut outcomes = Vec::new();
                while let Some(done) = set.join_next().await {
                    if let Ok(done) = done {
                        outcomes.push(done);
                    }
                }
                outcomes.sort_by_key(|(order, _, _)| *order);
                results.push((
                    origin,
                    key,
                    outcomes.into_iter().map(|(_, t, o)| (t, o)).collect(),
                ));
            }
            ProbeJob { results, reply }
        });
    }

    /// `deadline`, or less when a binding's next probe is due sooner.
    fn until_next(
        &self,
        zones: &IndexMap<Name, ZoneSlot>,
        now: u32,
        deadline: Duration,
    ) -> Duration {
        zones
            .values()
            .map(|slot| &slot.rt)
            .flat_map(|rt| {
                rt.bindings()
                    .iter()
                    .filter(|b| {
                        !self
                            .in_flight
                            .contains(&(rt.config().origin.clone(), b.key()))
                    })
                    .filter_map(|b| b.next_probe_at(now))
            })
            .map(|at| {
                let delta = at.wrapping_sub(now);
                // RFC 1982 style: a due time in the past reads as a huge unsigned delta.
                Duration::from_secs(u64::from(if delta >= 0x8000_0000 { 0 } else { delta }))
            })
            .fold(deadline, Duration::min)
    }
}

/// When a zone's parent DS poll is next due, and the one running, if any. Dropping the
/// schedule (the zone left the configuration) aborts its poll, so a zone removed and added
/// again never gets the old poll's answer.
#[derive(Debug, Default)]
struct PollSchedule {
    next: Option<tokio::time::Instant>,
    running: Option<tokio::task::AbortHandle>,
}

impl Drop for PollSchedule {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

/// The parent DS polls running (see [`crate::secondaries::parent`]); each zone's schedule is in
/// its slot, so a reload that keeps the zone keeps it.
#[derive(Default)]
struct ParentPolls {
    tasks: tokio::task::JoinSet<(Name, Vec<u16>)>,
}

impl ParentPolls {
    /// Starts the polls that are due: a zone with parent servers whose DS is awaited is polled
    /// right after the wait starts, then every `parent-poll-interval`.
    fn start_due(&mut self, zones: &mut IndexMap<Name, ZoneSlot>, clock: &Arc<dyn Clock>) {
        let now = tokio::time::Instant::now();
        for (origin, slot) in zones.iter_mut() {
            let schedule = &mut slot.parent;
            let Some(poll) = parent_poll(&slot.rt) else {
                schedule.next = None;
                continue;
            };
            let due = *schedule.next.get_or_insert(now);
            if schedule.running.is_some() || due > now {
                continue;
            }
            let interval = slot.rt.config().keys.parent_poll_interval;
            schedule.next = Some(now + Duration::from_secs(u64::from(interval.max(1))));
            let client = Client::new(Arc::clone(clock), crate::secondaries::parent::QUERY_TIMEOUT);
            let origin = origin.clone();
            schedule.running = Some(self.tasks.spawn(async move {
                let seen = crate::secondaries::parent::poll(&poll, &client).await;
                (origin, seen)
            }));
        }
    }

    /// `deadline`, or less when a poll is due sooner.
    fn until_next(zones: &IndexMap<Name, ZoneSlot>, deadline: Duration) -> Duration {
        let now = tokio::time::Instant::now();
        zones
            .values()
            .map(|slot| &slot.parent)
            .filter(|schedule| schedule.running.is_none())
            .filter_map(|schedule| schedule.next)
            .map(|at| at.saturating_duration_since(now))
            .fold(deadline, Duration::min)
    }
}

/// What to ask the parent for zone `rt`: `None` without parent servers or awaited DS.
fn parent_poll(rt: &ZoneRuntime) -> Option<crate::secondaries::parent::ParentPoll> {
    let servers = &rt.config().keys.parent_servers;
    let awaiting = &rt.key_outlook().awaiting_ds;
    if servers.is_empty() || awaiting.is_empty() {
        return None;
    }
    let awaited = rt
        .keys()
        .iter()
        .filter(|e| awaiting.contains(&e.record.tag))
        .filter_map(|e| Some((e.record.tag, e.key.as_ref()?.dnskey().clone())))
        .collect::<Vec<_>>();
    // In an algorithm roll the parent's DS changes from the old keys to the new ones (RFC 6781
    // §4.1.4): the active SEP keys of an algorithm no awaited key has must be gone from it.
    let new_algorithms: Vec<_> = rt
        .keys()
        .iter()
        .filter(|e| awaiting.contains(&e.record.tag))
        .map(|e| e.record.algorithm)
        .collect();
    let superseded = rt
        .keys()
        .iter()
        .filter(|e| {
            e.record.state == daned_sign::lifecycle::KeyState::Active
                && matches!(
                    e.record.role,
                    daned_sign::keys::KeyRole::Csk | daned_sign::keys::KeyRole::Ksk
                )
                && !new_algorithms.contains(&e.record.algorithm)
        })
        .filter_map(|e| Some((e.record.tag, e.key.as_ref()?.dnskey().clone())))
        .collect();
    Some(crate::secondaries::parent::ParentPoll {
        origin: rt.config().origin.clone(),
        servers: servers.clone(),
        awaited,
        superseded,
    })
}
