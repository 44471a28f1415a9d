//! The control socket: a Unix-domain stream socket over which `daned reload`, `daned status`
//! and `daned wait-ready` talk to the running daemon.
//!
//! The protocol is one JSON object per line in each direction. Requests:
//!
//! ```text
//! {"command":"reload"}
//! {"command":"status"}
//! {"command":"wait-ready","binding":"mail","zone":"example.com.","timeout-secs":600}
//! {"command":"keys","zone":"example.com."}
//! {"command":"ds-seen","zone":"example.com.","key-tag":12345}
//! {"command":"key-rollover","zone":"example.com.","role":"zsk"}
//! ```
//!
//! (`zone` may be left out when the binding name is unique; `timeout-secs` defaults to 0, a
//! single check.) Every response carries `"ok"`, and then exactly one of `"reload"`,
//! `"status"`, `"ready"`, `"keys"` (for the three key commands: the zone's keys once the
//! re-signed zone is served), or an `"error"` message with a machine-readable `"reason"`:
//!
//! ```text
//! {"ok":true,"reload":[{"zone":"example.com.","outcome":"changed","from":1,"to":2,"removed":4,"added":4,"changed":["signing.denial"]}],"restart-needed":["listen"]}
//! {"ok":false,"reason":"config-invalid","error":"/etc/daned/daned.toml: line 12: ..."}
//! {"ok":true,"status":{"zones":[...]}}
//! {"ok":true,"ready":{"zone":"example.com.","binding":"mail","state":"ready","ready-at":1700000000}}
//! {"ok":false,"reason":"timeout","error":"binding mail in example.com. is not ready ..."}
//! ```
//!
//! A connection may carry several requests in turn. A malformed request gets `ok:false` and the
//! connection stays usable; a line longer than [`MAX_REQUEST_LINE`] gets `ok:false` and the
//! connection is closed; a client that sends nothing for the idle timeout is dropped.
//!
//! The server half ([`serve_control`]) runs inside the daemon and forwards requests to the
//! manager as [`Command`]s; the client half ([`request`], [`render_status`],
//! [`render_reload`]) is what the CLI subcommands call.

use std::future::Future;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clock::{Clock, SystemClock};
use crate::events::manager::{Command, ReloadOutcome};
use crate::status::{BindingStatus, KeysReport, StatusReport, ZoneStatus};
use crate::zone::KeyAction;
use daned_sign::hickory_proto::rr::Name;

/// The longest request line accepted, in bytes, not counting the newline.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// The longest `wait-ready` wait honoured; a larger `timeout-secs` is cut to this.
pub const MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long after a `wait-ready` deadline the manager may take to answer the last look.
const STATUS_GRACE: Duration = Duration::from_secs(1);

/// The default permission bits of the control socket: owner only.
pub const DEFAULT_MODE: u32 = 0o600;

/// A request from a client. Unknown fields of `wait-ready` are refused (a misspelt
/// `timeout_secs` must not silently mean "check once"); `reload` and `status` take none and
/// ignore any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "command",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum Request {
    /// Re-read the config file, then every zone file and certificate; answered once the new
    /// versions are served.
    Reload,
    /// Report every zone and binding.
    Status,
    /// Answer once the binding's staged next key may be deployed.
    WaitReady {
        /// The binding's name from the config.
        binding: String,
        /// The binding's zone; needed only when several zones have a binding of that name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
        /// How long to wait, in seconds (0: check once). Capped at [`MAX_WAIT`].
        #[serde(default)]
        timeout_secs: u64,
    },
    /// Report one zone's keys and the next scheduled key action.
    Keys {
        /// The zone apex.
        zone: String,
    },
    /// The DS of key `key_tag` is at the parent; answered once the zone is re-signed and served.
    DsSeen {
        /// The zone apex.
        zone: String,
        /// The key's tag.
        key_tag: u16,
    },
    /// Start a rollover of the zone's active `role` key (`csk`, `ksk` or `zsk`) now.
    KeyRollover {
        /// The zone apex.
        zone: String,
        /// `csk`, `ksk` or `zsk`.
        role: String,
    },
    /// The zones as served now (one snapshot), in master-file format.
    Dump {
        /// Only this zone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
    },
    /// Probe the servers behind the TLSA records now; answered with the status of the probed
    /// bindings once every probe finished.
    Probe {
        /// Only the bindings of this name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        binding: Option<String>,
        /// Only this zone's bindings.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
    },
}

/// A response to one [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "WireResponse", try_from = "WireResponse")]
#[non_exhaustive]
pub enum Response {
    /// What the reload did to each zone (`"reload"`), and the settings that need a restart
    /// (`"restart-needed"`).
    Reloaded(ReloadAnswer),
    /// The state of every zone and binding (`"status"`).
    Status(StatusReport),
    /// The binding is ready: its staged next key may be deployed (`"ready"`).
    Ready(Ready),
    /// One zone's keys (`"keys"`).
    Keys(KeysReport),
    /// The served zones in master-file format (`"dump"`).
    Dump(String),
    /// The request failed (`"ok": false`).
    Error {
        /// What kind of failure, for a caller that acts on it (exit codes).
        reason: ErrorReason,
        /// A message for a human.
        message: String,
    },
}

impl Response {
    /// Whether this is a success (`"ok": true`).
    pub fn is_ok(&self) -> bool {
        !matches!(self, Self::Error { .. })
    }

    fn error(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self::Error {
            reason,
            message: message.into(),
        }
    }
}

/// What one zone's reload did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneReload {
    /// The zone apex (`example.com.`).
    pub zone: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ReloadOutcome,
    /// The zone's settings that changed in the config file (`"changed"`, left out when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// The bindings' rollover events since the last reload and their unusable files
    /// (`"events"`, left out when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<crate::status::BindingEvent>,
}

/// What a reload did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadAnswer {
    /// Per zone: those of the config file, then those removed from it.
    pub zones: Vec<ZoneReload>,
    /// `[server]` settings changed in the file that only a restart applies (their running
    /// values stay).
    pub restart_needed: Vec<String>,
}

/// A binding found ready by `wait-ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Ready {
    /// The zone apex.
    pub zone: String,
    /// The binding's name.
    pub binding: String,
    /// Its rollover state (`ready`, ...).
    pub state: String,
    /// Since when the next key may be deployed (seconds since the epoch).
    pub ready_at: Option<u32>,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorReason {
    /// The request was not valid JSON, not a known command, or too long.
    BadRequest,
    /// No binding of that name (in that zone).
    UnknownBinding,
    /// Several zones have a binding of that name and no zone was given.
    AmbiguousBinding,
    /// The binding has no next key staged, so it will never become ready by waiting.
    NotStaged,
    /// The binding did not become ready within the timeout.
    Timeout,
    /// The daemon's zone manager is not answering (shutting down).
    Unavailable,
    /// The client sent nothing for the idle timeout.
    Idle,
    /// A key command named a zone that is not served, or the key lifecycle refused it.
    KeyRefused,
    /// A reload found the config file unreadable or invalid; nothing changed.
    ConfigInvalid,
    /// A reason this client does not know (sent by a newer server).
    #[serde(other)]
    Other,
}

/// Errors of the control socket, on either side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// Another process (another daned) is listening on the socket path.
    #[error("another daned is already listening on the control socket {}", path.display())]
    AlreadyRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// Something that is not a socket is in the way; it is left alone.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Nothing listens on the socket path (no such file, or a socket nobody accepts on): the
    /// daemon is not running, or runs with another control socket.
    #[error("daned is not running: nothing listens on the control socket {} ({source})", path.display())]
    NotRunning {
        /// The socket path.
        path: PathBuf,
        /// The cause (no such file, connection refused).
        source: io::Error,
    },
    /// An I/O operation on the socket path failed.
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being done ("binding", "connecting to", ...).
        context: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// No complete response came within the timeout.
    #[error("no response from the control socket {} within {timeout:?}", path.display())]
    Timeout {
        /// The socket path.
        path: PathBuf,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The daemon closed the connection without answering.
    #[error("the daemon closed the control connection {} without answering", path.display())]
    Closed {
        /// The socket path.
        path: PathBuf,
    },
    /// The response was not a valid response object.
    #[error("bad response on the control socket {}: {detail}", path.display())]
    BadResponse {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
}

/// Tunables of the control server; [`serve_control`] uses the defaults.
#[derive(Clone, Copy, Debug)]
pub struct ControlOptions {
    /// How long a connection may stay silent before a request line is complete.
    pub idle_timeout: Duration,
    /// How often `wait-ready` asks the manager for the status.
    pub poll_interval: Duration,
}

impl Default for ControlOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(200),
        }
    }
}

/// Listens on the control socket at `path` with permission bits `mode` (0600 by default) and
/// answers requests by sending [`Command`]s on `commands`, until `shutdown` completes; then
/// stops every connection and removes the socket file.
///
/// A socket file left behind by a dead daemon is replaced; one that somebody still listens on
/// is not (another daned is running), and neither is anything that is not a socket.
///
/// # Errors
///
/// Only at start: [`ControlError::AlreadyRunning`], [`ControlError::NotASocket`], or an I/O
/// error creating the socket. Errors on single connections are logged and dropped.
pub async fn serve_control(
    path: &Path,
    mode: u32,
    commands: mpsc::Sender<Command>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ControlError> {
    serve_control_with(path, mode, commands, shutdown, ControlOptions::default()).await
}

/// [`serve_control`] with explicit [`ControlOptions`].
///
/// # Errors
///
/// As [`serve_control`].
pub async fn serve_control_with(
    path: &Path,
    mode: u32,
    commands: mpsc::Sender<Command>,
    shutdown: impl Future<Output = ()>,
    options: ControlOptions,
) -> Result<(), ControlError> {
    bind_control(path, mode)
        .await?
        .serve(commands, shutdown, options)
        .await;
    Ok(())
}

/// A bound control socket, not yet answering: binding first lets the daemon refuse to start
/// (another daned is running, the path is not a socket) before it serves anything.
#[derive(Debug)]
pub struct ControlListener {
    listener: UnixListener,
    identity: (u64, u64),
    path: PathBuf,
    catalog: Option<Arc<arc_swap::ArcSwap<crate::serve::snapshot::Snapshot>>>,
}

/// Creates the control socket at `path` with permission bits `mode` (see [`serve_control`]).
///
/// # Errors
///
/// [`ControlError::AlreadyRunning`] when a live daemon listens there,
/// [`ControlError::NotASocket`] when the path is something else, or an I/O error.
pub async fn bind_control(path: &Path, mode: u32) -> Result<ControlListener, ControlError> {
    let (listener, identity) = bind(path, mode).await?;
    tracing::info!(path = %path.display(), mode = format_args!("{mode:o}"), "control socket listening");
    Ok(ControlListener {
        listener,
        identity,
        path: path.to_path_buf(),
        catalog: None,
    })
}

impl ControlListener {
    /// Lets `dump` answer with the zones `snapshot` serves.
    #[must_use]
    pub fn with_snapshot(
        mut self,
        snapshot: Arc<arc_swap::ArcSwap<crate::serve::snapshot::Snapshot>>,
    ) -> Self {
        self.catalog = Some(snapshot);
        self
    }

    /// Answers requests until `shutdown` completes, then removes the socket if it is still
    /// ours.
    pub async fn serve(
        self,
        commands: mpsc::Sender<Command>,
        shutdown: impl Future<Output = ()>,
        options: ControlOptions,
    ) {
        let Self {
            listener,
            identity,
            path,
            catalog,
        } = self;
        let ctx = Arc::new(Ctx {
            commands,
            options,
            catalog,
        });
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve_connection(stream, ctx.clone()));
                    }
                    Err(error) => {
                        // EMFILE and the like: back off rather than spin, keep serving.
                        tracing::warn!(%error, "control socket accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.shutdown().await;
        drop(listener);
        // Remove the socket only if it is still ours (not replaced by someone else meanwhile).
        if let Ok(meta) = std::fs::symlink_metadata(&path)
            && (meta.dev(), meta.ino()) == identity
            && let Err(error) = std::fs::remove_file(&path)
        {
            tracing::warn!(path = %path.display(), %error, "could not remove the control socket");
        }
        tracing::info!(path = %path.display(), "control socket closed");
    }
}

/// Sends `req` to the daemon listening at `path` and waits for its response: at most
/// `timeout`, plus the request's own `timeout-secs` for `wait-ready`. A blocking call, for the
/// CLI.
///
/// A response with `"ok": false` is an `Ok(Response::Error { .. })`: the exchange worked.
///
/// # Errors
///
/// [`ControlError::Io`] when the socket cannot be reached (daemon not running),
/// [`ControlError::Timeout`], [`ControlError::Closed`] or [`ControlError::BadResponse`].
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let io_err = |context: &'static str| {
        move |source: io::Error| ControlError::Io {
            context,
            path: path.to_path_buf(),
            source,
        }
    };
    let total = match req {
        Request::WaitReady { timeout_secs, .. } => {
            timeout.saturating_add(Duration::from_secs(*timeout_secs).min(MAX_WAIT))
        }
        _ => timeout,
    };
    // None: so far ahead that it does not fit an Instant, that is no limit.
    let deadline = std::time::Instant::now().checked_add(total);
    let timed_out = || ControlError::Timeout {
        path: path.to_path_buf(),
        timeout: total,
    };

    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|source| {
        if matches!(
            source.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
        ) {
            ControlError::NotRunning {
                path: path.to_path_buf(),
                source,
            }
        } else {
            io_err("connecting to")(source)
        }
    })?;
    let mut line = serde_json::to_vec(req).map_err(|e| ControlError::BadResponse {
        path: path.to_path_buf(),
        detail: format!("cannot encode the request: {e}"),
    })?;
    line.push(b'\n');
    stream
        .set_write_timeout(Some(timeout.max(Duration::from_millis(1))))
        .map_err(io_err("configuring"))?;
    stream.write_all(&line).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(),
        _ => io_err("writing to")(e),
    })?;

    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            return Err(timed_out());
        }
        stream
            .set_read_timeout(left)
            .map_err(io_err("configuring"))?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out());
            }
            Err(e) => return Err(io_err("reading from")(e)),
        };
        if n == 0 {
            if response.iter().all(u8::is_ascii_whitespace) {
                return Err(ControlError::Closed {
                    path: path.to_path_buf(),
                });
            }
            break;
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == b'\n') {
            response.extend_from_slice(&buf[..end]);
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    serde_json::from_slice(&response).map_err(|e| ControlError::BadResponse {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Writes the status report for a human: per zone its serial, keys, signature horizon, last
/// error, and each binding's state, records and when its next key may be deployed. Times are
/// shown as UTC dates and relative to now.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_status(report: &StatusReport, out: &mut dyn Write) -> io::Result<()> {
    render_status_at(report, SystemClock.now(), out)
}

/// [`render_status`] with "now" given (seconds since the epoch), for reproducible output.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_status_at(report: &StatusReport, now: u32, out: &mut dyn Write) -> io::Result<()> {
    if report.zones.is_empty() {
        return writeln!(out, "no zones");
    }
    for (i, zone) in report.zones.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "zone {}", zone.origin)?;
        row(out, 2, "serial", &zone.serial.to_string())?;
        if zone.keys.is_empty() {
            row(out, 2, "keys", "none")?;
        }
        for (k, key) in zone.keys.iter().enumerate() {
            let label = if k == 0 { "keys" } else { "" };
            row(out, 2, label, &key_line(key))?;
        }
        if !zone.keys.is_empty() {
            render_key_outlook(
                &zone.origin,
                zone.next_key_event.as_ref(),
                &zone.awaiting_ds,
                now,
                out,
            )?;
        }
        row(
            out,
            2,
            "signed until",
            &zone
                .earliest_expiration
                .map_or_else(|| "-".to_owned(), |t| when(t, now)),
        )?;
        row(
            out,
            2,
            "next refresh",
            &zone
                .next_refresh
                .map_or_else(|| "-".to_owned(), |t| when(t, now)),
        )?;
        row(
            out,
            2,
            "last error",
            zone.last_error.as_deref().unwrap_or("-"),
        )?;
        if let Some(error) = &zone.storage_error {
            row(out, 2, "missing files", error)?;
        }
        render_secondaries(zone, now, out)?;
        for (i, reason) in zone.unprotected.iter().enumerate() {
            row(out, 2, if i == 0 { "NOT PROTECTING " } else { "" }, reason)?;
        }
        if zone.bindings.is_empty() {
            row(out, 2, "bindings", "none")?;
        }
        for binding in &zone.bindings {
            render_binding(binding, now, out)?;
        }
    }
    Ok(())
}

/// Writes one zone's keys for a human (`daned keys`): a table with each key's tag, algorithm,
/// role, state, since when, DS state and file, then the next scheduled key action.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_keys(report: &KeysReport, now: u32, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "zone {} serial {}", report.zone, report.serial)?;
    writeln!(
        out,
        "{:>5}  {:<16} {:<4} {:<11} {:<20} {:<10} file",
        "tag", "algorithm", "role", "state", "since", "ds"
    )?;
    for key in &report.keys {
        writeln!(
            out,
            "{:>5}  {:<16} {:<4} {:<11} {:<20} {:<10} {}",
            key.key_tag, key.algorithm, key.role, key.state, key.since, key.ds, key.file
        )?;
    }
    render_key_outlook(
        &report.zone,
        report.next_key_event.as_ref(),
        &report.awaiting_ds,
        now,
        out,
    )
}

/// `12345 ecdsap256sha256 csk active (file)`; the state is left out when unknown (an older
/// daemon).
fn key_line(key: &crate::status::KeyStatus) -> String {
    let state = if key.state.is_empty() {
        String::new()
    } else {
        format!(" {}", key.state)
    };
    format!(
        "{} {} {}{state} ({})",
        key.key_tag, key.algorithm, key.role, key.file
    )
}

fn render_key_outlook(
    zone: &str,
    next: Option<&crate::status::KeyEvent>,
    awaiting_ds: &[u16],
    now: u32,
    out: &mut dyn Write,
) -> io::Result<()> {
    let next = next.map_or_else(
        || "-".to_owned(),
        |e| format!("{}: {}", when(e.at, now), e.what),
    );
    row(out, 2, "next key step", &next)?;
    if !awaiting_ds.is_empty() {
        for (i, tag) in awaiting_ds.iter().enumerate() {
            row(
                out,
                2,
                if i == 0 { "awaiting DS" } else { "" },
                &format!("{tag} (once the parent serves it: daned ds-seen {zone} {tag})"),
            )?;
        }
    }
    Ok(())
}

/// Writes what a reload did, one line per zone: unchanged, changed (serials and record
/// counts), failed (with the serial still served and the error), added, not added or removed,
/// each with the zone's settings that changed; then the settings that need a restart.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_reload(answer: &ReloadAnswer, out: &mut dyn Write) -> io::Result<()> {
    render_reload_zones(&answer.zones, out)?;
    if !answer.restart_needed.is_empty() {
        writeln!(
            out,
            "warning: changed settings need a restart to take effect (the running values stay): {}",
            answer.restart_needed.join(", ")
        )?;
    }
    Ok(())
}

fn render_reload_zones(zones: &[ZoneReload], out: &mut dyn Write) -> io::Result<()> {
    if zones.is_empty() {
        return writeln!(out, "no zones");
    }
    let width = zones.iter().map(|z| z.zone.len()).max().unwrap_or(0);
    for z in zones {
        match &z.outcome {
            ReloadOutcome::Unchanged { serial } => {
                writeln!(out, "{:width$}  unchanged  serial {serial}", z.zone)?;
            }
            ReloadOutcome::Changed {
                from,
                to,
                removed,
                added,
            } => writeln!(
                out,
                "{:width$}  changed    serial {from} -> {to} ({removed} records removed, {added} added)",
                z.zone
            )?,
            ReloadOutcome::Failed { serial, error } => writeln!(
                out,
                "{:width$}  FAILED     serial {serial} still served: {error}",
                z.zone
            )?,
            ReloadOutcome::Added { serial } => {
                writeln!(out, "{:width$}  added      serial {serial}", z.zone)?;
            }
            ReloadOutcome::NotAdded { error } => writeln!(
                out,
                "{:width$}  FAILED     not added, not served: {error}",
                z.zone
            )?,
            ReloadOutcome::Removed { serial } => writeln!(
                out,
                "{:width$}  removed    no longer served (was serial {serial}; state and keys stay)",
                z.zone
            )?,
        }
        if !z.changed.is_empty() {
            writeln!(
                out,
                "{:width$}  settings changed: {}",
                "",
                z.changed.join(", ")
            )?;
        }
        for event in &z.events {
            let label = match event.kind.as_str() {
                "error" => "ERROR",
                "unsafe-switch" => "UNSAFE SWITCH",
                other => other,
            };
            writeln!(
                out,
                "{:width$}  binding {}: {label}: {}",
                "", event.binding, event.text
            )?;
        }
    }
    Ok(())
}

/// What `daned probe` found, as its exit status says it (documented in `daned probe --help`
/// and README.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeVerdict {
    /// Every target presents the key in use or the staged next key (exit 0).
    Good,
    /// A target could not be checked: unreachable, no STARTTLS, TLS error (exit 3).
    Unchecked,
    /// A target still presents a replaced key, whose record stays until it presents the new
    /// one (exit 4).
    Old,
    /// A target presents a key no published record matches (exit 1).
    Mismatch,
}

impl ProbeVerdict {
    /// The exit status of `daned probe`.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Good => 0,
            Self::Mismatch => 1,
            Self::Unchecked => 3,
            Self::Old => 4,
        }
    }
}

/// The worst result among the targets of `report`'s bindings.
pub fn probe_verdict(report: &StatusReport) -> ProbeVerdict {
    report
        .zones
        .iter()
        .flat_map(|z| &z.bindings)
        .flat_map(|b| &b.targets)
        .map(|t| match t.result.as_str() {
            "current" | "next" => ProbeVerdict::Good,
            "old" => ProbeVerdict::Old,
            "mismatch" => ProbeVerdict::Mismatch,
            _ => ProbeVerdict::Unchecked,
        })
        .max()
        .unwrap_or(ProbeVerdict::Good)
}

/// Prints one row per probed target: zone, binding, certificate, target, result and detail;
/// then, per zone, why its records do not protect mail yet.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_probe(report: &StatusReport, out: &mut dyn Write) -> io::Result<()> {
    let mut rows = 0;
    for zone in &report.zones {
        for b in &zone.bindings {
            if !b.probing {
                writeln!(out, "{} {}: probe off (probe = false)", zone.origin, b.name)?;
                continue;
            }
            if b.targets.is_empty() {
                writeln!(
                    out,
                    "{} {}: no target (the host has no A/AAAA record in the zone; set probe-addresses)",
                    zone.origin, b.name
                )?;
            }
            for t in &b.targets {
                rows += 1;
                let detail = match t.result.as_str() {
                    "current" | "next" | "old" => format!(
                        "presents 3 1 1 {}{}",
                        t.presented.as_deref().unwrap_or("?"),
                        t.presented_not_after
                            .as_deref()
                            .map(|n| format!(", valid until {n}"))
                            .unwrap_or_default()
                    ),
                    _ => t.reason.clone().unwrap_or_default(),
                };
                writeln!(
                    out,
                    "{} {} {} {} {:<11} {detail}",
                    zone.origin, b.name, b.certificate, t.target, t.result
                )?;
            }
            if !b.held.is_empty() {
                writeln!(
                    out,
                    "{} {}: kept past its hold-down until every target presents the key in use: {}",
                    zone.origin,
                    b.name,
                    b.held.join(", ")
                )?;
            }
        }
        for reason in &zone.unprotected {
            writeln!(
                out,
                "{}: the published records do not protect mail yet: {reason}",
                zone.origin
            )?;
        }
    }
    if rows == 0 {
        writeln!(out, "no target probed")?;
    }
    Ok(())
}

/// Whether any zone's reload failed (for the CLI's exit status).
pub fn reload_failed(zones: &[ZoneReload]) -> bool {
    zones.iter().any(|z| z.outcome.failed())
}

/// The exit status of `daned reload`: 1 when the config or a zone failed (nothing changed
/// for it), 3 when a binding's certificate or next-key file is unusable (its last good records
/// stay), 4 when a key changed without being staged (an unsafe switch), else 0. The contrib
/// hooks pass these on, so certbot reports a failed deploy.
pub fn reload_exit_code(zones: &[ZoneReload]) -> u8 {
    let kinds = || {
        zones
            .iter()
            .flat_map(|z| &z.events)
            .map(|e| e.kind.as_str())
    };
    if reload_failed(zones) {
        1
    } else if kinds().any(|k| k == "error") {
        3
    } else if kinds().any(|k| k == "unsafe-switch") {
        4
    } else {
        0
    }
}

/// Formats seconds since the epoch in RFC 3339 UTC: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(t: u32) -> String {
    crate::status::rfc3339(t)
}

/// The JSON fields of the control protocol that carry seconds since the epoch. The CLI's
/// `--json` output ([`json_for_output`]) shows each as RFC 3339 UTC under its own name and
/// keeps the number as `NAME-unix`, for scripts that compute with it.
pub const EPOCH_FIELDS: [&str; 7] = [
    "until",
    "ready-at",
    "earliest-expiration",
    "next-refresh",
    "propagated-at",
    "seen-at",
    "at",
];

/// `value` as the CLI prints it with `--json`: every [`EPOCH_FIELDS`] number becomes an
/// RFC 3339 string, with the number kept as `NAME-unix`.
///
/// # Errors
///
/// When `value` cannot be represented as JSON (never for the control types).
pub fn json_for_output(value: &impl Serialize) -> serde_json::Result<serde_json::Value> {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for field in EPOCH_FIELDS {
                    let Some(epoch) = map.get(field).and_then(serde_json::Value::as_u64) else {
                        continue;
                    };
                    let text = u32::try_from(epoch).map_or_else(
                        |_| crate::status::rfc3339_i64(epoch as i64),
                        crate::status::rfc3339,
                    );
                    map.insert(format!("{field}-unix"), epoch.into());
                    map.insert(field.to_owned(), text.into());
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(value)?;
    walk(&mut value);
    Ok(value)
}

/// How far `t` is from `now`, for a human: `in 42m`, `3h 5m ago`, `now`.
pub fn format_relative(t: u32, now: u32) -> String {
    let delta = i64::from(t) - i64::from(now);
    if delta == 0 {
        return "now".to_owned();
    }
    let span = format_span(delta.unsigned_abs());
    if delta > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

// ---------------------------------------------------------------------------------------------
// Server internals.

struct Ctx {
    commands: mpsc::Sender<Command>,
    options: ControlOptions,
    /// The served zones, for `dump`.
    catalog: Option<Arc<arc_swap::ArcSwap<crate::serve::snapshot::Snapshot>>>,
}

/// Binds the socket at `path` without a window in which it has looser permissions than
/// `mode`: it is bound inside a fresh private (0700) directory next to `path`, given `mode`,
/// then hard-linked into place, which fails if anything appeared at `path` meanwhile (a
/// concurrent daned). Returns the listener and the socket file's (device, inode).
async fn bind(path: &Path, mode: u32) -> Result<(UnixListener, (u64, u64)), ControlError> {
    let io_err = |context: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| ControlError::Io {
            context,
            path,
            source,
        }
    };
    remove_stale(path).await?;

    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    static STAGING: AtomicU64 = AtomicU64::new(0);
    let private = parent.join(format!(
        ".daned-ctl.{}.{}",
        std::process::id(),
        STAGING.fetch_add(1, Ordering::Relaxed)
    ));
    if private.exists() {
        // Left behind by an earlier process that had our pid; nothing else uses this name.
        std::fs::remove_dir_all(&private).map_err(io_err("removing", &private))?;
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(io_err("creating", &private))?;
    let staged = private.join("s");
    let result = (|| {
        let listener = UnixListener::bind(&staged).map_err(io_err("binding", &staged))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))
            .map_err(io_err("setting the mode of", &staged))?;
        std::fs::hard_link(&staged, path).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                ControlError::AlreadyRunning {
                    path: path.to_path_buf(),
                }
            } else {
                io_err("creating", path)(source)
            }
        })?;
        let meta = std::fs::symlink_metadata(path).map_err(io_err("inspecting", path))?;
        Ok((listener, (meta.dev(), meta.ino())))
    })();
    if let Err(error) = std::fs::remove_dir_all(&private) {
        tracing::warn!(path = %private.display(), %error, "could not remove a temporary directory");
    }
    result
}

/// Removes a socket file at `path` that nobody listens on; refuses when somebody does or when
/// it is not a socket.
async fn remove_stale(path: &Path) -> Result<(), ControlError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ControlError::Io {
                context: "inspecting",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match UnixStream::connect(path).await {
        Ok(_) => Err(ControlError::AlreadyRunning {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(|source| ControlError::Io {
                context: "removing the stale socket",
                path: path.to_path_buf(),
                source,
            })?;
            tracing::info!(path = %path.display(), "removed a stale control socket");
            Ok(())
        }
        Err(source) => Err(ControlError::Io {
            context: "probing the existing socket",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// One line read from a client.
enum Line {
    /// A complete request (without its newline).
    Request,
    /// The client closed the connection.
    Eof,
    /// Longer than [`MAX_REQUEST_LINE`].
    TooLong,
}

async fn read_request<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> io::Result<Line> {
    line.clear();
    // One byte beyond the limit for the newline: a maximal line still fits.
    let n = (&mut *reader)
        .take(MAX_REQUEST_LINE as u64 + 1)
        .read_until(b'\n', line)
        .await?;
    if n == 0 {
        return Ok(Line::Eof);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(Line::Request);
    }
    if n > MAX_REQUEST_LINE {
        return Ok(Line::TooLong);
    }
    // The client shut its side down after a last line without a newline.
    Ok(Line::Request)
}

async fn serve_connection(stream: UnixStream, ctx: Arc<Ctx>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        let read = tokio::time::timeout(
            ctx.options.idle_timeout,
            read_request(&mut reader, &mut line),
        )
        .await;
        let request = match read {
            Err(_elapsed) => {
                tracing::debug!("control client sent nothing; closing the connection");
                let response = Response::error(
                    ErrorReason::Idle,
                    format!(
                        "no request within {} s; closing",
                        ctx.options.idle_timeout.as_secs_f32()
                    ),
                );
                let _ = send(&mut write, &response).await;
                return;
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "control connection read failed");
                return;
            }
            Ok(Ok(Line::Eof)) => return,
            Ok(Ok(Line::TooLong)) => {
                let response = Response::error(
                    ErrorReason::BadRequest,
                    format!("request longer than {MAX_REQUEST_LINE} bytes; closing"),
                );
                let _ = send(&mut write, &response).await;
                return;
            }
            Ok(Ok(Line::Request)) => serde_json::from_slice::<Request>(&line),
        };
        let response = match request {
            Err(error) => Response::error(ErrorReason::BadRequest, format!("bad request: {error}")),
            Ok(request) => {
                // Not raced against the client's end of file: a client that half-closes after
                // its request (`nc -N`, socat) still wants the answer. A client that is really
                // gone costs at most its own wait; the write below then fails quietly.
                tracing::debug!(?request, "control request");
                ctx.answer(request).await
            }
        };
        if let Err(error) = send(&mut write, &response).await {
            tracing::debug!(%error, "control connection write failed");
            return;
        }
    }
}

async fn send(write: &mut (impl AsyncWriteExt + Unpin), response: &Response) -> io::Result<()> {
    let mut line = serde_json::to_vec(response).map_err(io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.flush().await
}

impl Ctx {
    /// `dump`: every served zone (or `zone`) from one catalog load, in master-file format.
    fn dump(&self, zone: Option<&str>) -> Response {
        let Some(catalog) = &self.catalog else {
            return Response::error(ErrorReason::Other, "this daemon does not serve zones");
        };
        let wanted = match zone.map(Name::from_ascii).transpose() {
            Ok(name) => name.map(|mut name| {
                name.set_fqdn(true);
                name.to_lowercase()
            }),
            Err(error) => {
                return Response::error(
                    ErrorReason::BadRequest,
                    format!("{zone:?} is not a zone name: {error}"),
                );
            }
        };
        let snapshot = catalog.load();
        let catalog = snapshot.catalog();
        let mut text = Vec::new();
        let mut found = false;
        for signed in catalog.zones() {
            if wanted.as_ref().is_some_and(|w| w != signed.origin()) {
                continue;
            }
            found = true;
            if let Err(error) = crate::zone::zonefile::write_records(signed.records(), &mut text) {
                return Response::error(ErrorReason::Other, error.to_string());
            }
        }
        if !found && let Some(wanted) = wanted {
            return Response::error(
                ErrorReason::BadRequest,
                format!("no zone {wanted} is served"),
            );
        }
        Response::Dump(String::from_utf8_lossy(&text).into_owned())
    }

    async fn answer(&self, request: Request) -> Response {
        match request {
            Request::Reload => self.reload().await,
            Request::Status => match self.status().await {
                Ok(report) => Response::Status(report),
                Err(response) => response,
            },
            Request::WaitReady {
                binding,
                zone,
                timeout_secs,
            } => {
                let wait = Duration::from_secs(timeout_secs).min(MAX_WAIT);
                self.wait_ready(&binding, zone.as_deref(), wait).await
            }
            Request::Keys { zone } => self.keys(&zone, None).await,
            Request::DsSeen { zone, key_tag } => {
                self.keys(&zone, Some(KeyAction::DsSeen(key_tag))).await
            }
            Request::Probe { binding, zone } => self.probe(binding, zone.as_deref()).await,
            Request::Dump { zone } => self.dump(zone.as_deref()),
            Request::KeyRollover { zone, role } => {
                match crate::zone::persist::state::parse_role(&role) {
                    Some(role) => self.keys(&zone, Some(KeyAction::Roll(role))).await,
                    None => Response::error(
                        ErrorReason::BadRequest,
                        format!("unknown key role {role:?} (csk, ksk or zsk)"),
                    ),
                }
            }
        }
    }

    /// `keys` (no action), `ds-seen` or `key-rollover`: the zone's keys afterwards.
    async fn keys(&self, zone: &str, action: Option<KeyAction>) -> Response {
        let zone = match Name::from_str_relaxed(zone) {
            Ok(mut name) => {
                name.set_fqdn(true);
                name
            }
            Err(error) => {
                return Response::error(
                    ErrorReason::BadRequest,
                    format!("bad zone name {zone:?}: {error}"),
                );
            }
        };
        let (reply, rx) = oneshot::channel();
        let command = match action {
            None => Command::Keys { zone, reply },
            Some(action) => Command::KeyAction {
                zone,
                action,
                reply: Some(reply),
            },
        };
        if self.commands.send(command).await.is_err() {
            return unavailable();
        }
        match rx.await {
            Ok(Ok(report)) => Response::Keys(report),
            Ok(Err(message)) => Response::error(ErrorReason::KeyRefused, message),
            Err(_) => unavailable(),
        }
    }

    /// `probe`: the status of the probed bindings once their probes finished.
    async fn probe(&self, binding: Option<String>, zone: Option<&str>) -> Response {
        let zone = match zone.map(Name::from_str_relaxed).transpose() {
            Ok(zone) => zone.map(|mut name| {
                name.set_fqdn(true);
                name
            }),
            Err(error) => {
                return Response::error(ErrorReason::BadRequest, format!("bad zone name: {error}"));
            }
        };
        let (reply, rx) = oneshot::channel();
        let command = Command::Probe {
            zone,
            binding,
            reply,
        };
        if self.commands.send(command).await.is_err() {
            return unavailable();
        }
        match rx.await {
            Ok(Ok(report)) => Response::Status(report),
            Ok(Err(message)) => Response::error(ErrorReason::UnknownBinding, message),
            Err(_) => unavailable(),
        }
    }

    async fn reload(&self) -> Response {
        let (reply, rx) = oneshot::channel();
        // A failed send hands the command (and the reply sender) back: drop it before waiting.
        if self
            .commands
            .send(Command::Reload { reply: Some(reply) })
            .await
            .is_err()
        {
            return unavailable();
        }
        match rx.await {
            Ok(Ok(report)) => Response::Reloaded(ReloadAnswer {
                zones: report
                    .zones
                    .into_iter()
                    .map(|z| ZoneReload {
                        zone: z.zone.to_string(),
                        outcome: z.outcome,
                        changed: z.changed,
                        events: z.events,
                    })
                    .collect(),
                restart_needed: report.restart_needed,
            }),
            Ok(Err(message)) => Response::error(ErrorReason::ConfigInvalid, message),
            Err(_) => unavailable(),
        }
    }

    async fn status(&self) -> Result<StatusReport, Response> {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Status { reply }).await.is_err() {
            return Err(unavailable());
        }
        rx.await.map_err(|_| unavailable())
    }

    async fn wait_ready(&self, binding: &str, zone: Option<&str>, wait: Duration) -> Response {
        let deadline = Instant::now() + wait;
        loop {
            // The last look happens at the deadline; give the manager a moment to answer it.
            let answer_by = deadline + STATUS_GRACE;
            let report = match tokio::time::timeout_at(answer_by, self.status()).await {
                Ok(Ok(report)) => report,
                Ok(Err(response)) => return response,
                Err(_) => {
                    return Response::error(
                        ErrorReason::Timeout,
                        "the daemon did not report its status before the deadline",
                    );
                }
            };
            let (origin, found) = match find_binding(&report, binding, zone) {
                Ok(found) => found,
                Err(response) => return response,
            };
            if found.ready {
                return Response::Ready(Ready {
                    zone: origin.to_owned(),
                    binding: found.name.clone(),
                    state: found.state.clone(),
                    ready_at: found.ready_at,
                });
            }
            let ready_at = found.ready_at;
            if ready_at.is_none() && found.waiting.is_none() {
                return Response::error(
                    ErrorReason::NotStaged,
                    format!(
                        "binding {binding} in {origin} has no next key staged (state {}); \
                         it will not become ready by waiting{}",
                        found.state,
                        held_note(found)
                    ),
                );
            }
            let now = Instant::now();
            if now >= deadline {
                let when = match (ready_at, &found.waiting) {
                    (Some(ready_at), _) => format!("it will be at {}", format_utc(ready_at)),
                    (None, waiting) => waiting.clone().unwrap_or_default(),
                };
                return Response::error(
                    ErrorReason::Timeout,
                    format!(
                        "binding {binding} in {origin} is not ready within {} s; {when}",
                        wait.as_secs(),
                    ),
                );
            }
            tokio::time::sleep_until(deadline.min(now + self.options.poll_interval)).await;
        }
    }
}

/// For a binding whose replaced key's record the probe holds: which targets do not present
/// the key in use (empty otherwise).
fn held_note(binding: &BindingStatus) -> String {
    if binding.held.is_empty() {
        return String::new();
    }
    let lagging: Vec<String> = binding
        .targets
        .iter()
        .filter(|t| t.result != "current")
        .map(|t| match &t.presented {
            Some(key) => format!("{} presents {} (3 1 1 {key})", t.target, t.result),
            None => format!("{} {}", t.target, t.result),
        })
        .collect();
    format!(
        "; the replaced key's record {} stays published until every target presents the key \
         in use: {}",
        binding.held.join(", "),
        lagging.join("; ")
    )
}

fn unavailable() -> Response {
    Response::error(
        ErrorReason::Unavailable,
        "the zone manager is not answering (the daemon is shutting down)",
    )
}

/// The binding named `name`, in `zone` if given (compared case-insensitively, with or without
/// the final dot), with its zone's origin.
fn find_binding<'r>(
    report: &'r StatusReport,
    name: &str,
    zone: Option<&str>,
) -> Result<(&'r str, &'r BindingStatus), Response> {
    let wanted_zone = zone.map(normalise_zone);
    let found: Vec<(&str, &BindingStatus)> = report
        .zones
        .iter()
        .filter(|z| {
            wanted_zone
                .as_ref()
                .is_none_or(|w| *w == normalise_zone(&z.origin))
        })
        .flat_map(|z| {
            z.bindings
                .iter()
                .filter(|b| b.name == name)
                .map(move |b| (z.origin.as_str(), b))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Response::error(
            ErrorReason::UnknownBinding,
            match zone {
                Some(zone) => format!("no binding named {name} in zone {zone}"),
                None => format!("no binding named {name}"),
            },
        )),
        many => Err(Response::error(
            ErrorReason::AmbiguousBinding,
            format!(
                "several zones have a binding named {name} ({}); name the zone",
                many.iter().map(|(z, _)| *z).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

fn normalise_zone(zone: &str) -> String {
    let zone = zone.strip_suffix('.').unwrap_or(zone);
    zone.to_ascii_lowercase()
}

// ---------------------------------------------------------------------------------------------
// The wire form of a response.

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WireResponse {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<ErrorReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reload: Option<Vec<ZoneReload>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    restart_needed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<StatusReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ready: Option<Ready>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keys: Option<KeysReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dump: Option<String>,
}

impl From<Response> for WireResponse {
    fn from(response: Response) -> Self {
        let mut wire = Self {
            ok: response.is_ok(),
            reason: None,
            error: None,
            reload: None,
            restart_needed: Vec::new(),
            status: None,
            ready: None,
            keys: None,
            dump: None,
        };
        match response {
            Response::Keys(report) => wire.keys = Some(report),
            Response::Dump(text) => wire.dump = Some(text),
            Response::Reloaded(answer) => {
                wire.reload = Some(answer.zones);
                wire.restart_needed = answer.restart_needed;
            }
            Response::Status(report) => wire.status = Some(report),
            Response::Ready(ready) => wire.ready = Some(ready),
            Response::Error { reason, message } => {
                wire.reason = Some(reason);
                wire.error = Some(message);
            }
        }
        wire
    }
}

impl TryFrom<WireResponse> for Response {
    type Error = String;

    fn try_from(wire: WireResponse) -> Result<Self, String> {
        match wire {
            WireResponse {
                ok: false,
                reason,
                error,
                ..
            } => Ok(Self::Error {
                reason: reason.unwrap_or(ErrorReason::Other),
                message: error.unwrap_or_else(|| "failed (no message)".to_owned()),
            }),
            WireResponse {
                reload: Some(zones),
                restart_needed,
                status: None,
                ready: None,
                keys: None,
                dump: None,
                ..
            } => Ok(Self::Reloaded(ReloadAnswer {
                zones,
                restart_needed,
            })),
            WireResponse {
                reload: None,
                status: Some(report),
                ready: None,
                keys: None,
                dump: None,
                ..
            } => Ok(Self::Status(report)),
            WireResponse {
                reload: None,
                status: None,
                ready: Some(ready),
                keys: None,
                dump: None,
                ..
            } => Ok(Self::Ready(ready)),
            WireResponse {
                reload: None,
                status: None,
                ready: None,
                keys: Some(keys),
                dump: None,
                ..
            } => Ok(Self::Keys(keys)),
            WireResponse {
                reload: None,
                status: None,
                ready: None,
                keys: None,
                dump: Some(text),
                ..
            } => Ok(Self::Dump(text)),
            _ => Err(
                "an ok response needs exactly one of reload, status, ready, keys, dump".to_owned(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering helpers.

/// One `label  value` row of a status table; values start in column 16 at any indent.
fn row(out: &mut dyn Write, indent: usize, label: &str, value: &str) -> io::Result<()> {
    let width = 16usize.saturating_sub(indent);
    writeln!(out, "{:indent$}{label:<width$}{value}", "")
}

fn render_binding(b: &BindingStatus, now: u32, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "  binding {}", b.name)?;
    row(out, 4, "state", &b.state)?;
    row(out, 4, "certificate", &b.certificate)?;
    row(out, 4, "owners", &b.owners.join(" "))?;
    if b.records.is_empty() {
        row(out, 4, "records", "none")?;
    }
    // Each record with its role (from a daemon that reports them), else as published.
    let labelled: Vec<String> = if b.roles.is_empty() {
        b.records.clone()
    } else {
        b.roles
            .iter()
            .map(|r| match (r.role.as_str(), r.until) {
                ("old", Some(until)) => {
                    format!("old until {}  {}", when(until, now), r.record)
                }
                (role, _) => format!("{role:<8} {}", r.record),
            })
            .collect()
    };
    for (i, record) in labelled.iter().enumerate() {
        row(out, 4, if i == 0 { "records" } else { "" }, record)?;
    }
    let ready = match (b.ready_at, b.ready) {
        (None, _) if b.waiting.is_some() => format!("- ({})", b.waiting.as_deref().unwrap_or("")),
        (None, _) => "- (no next key staged)".to_owned(),
        (Some(t), true) => format!("{} (ready now)", when(t, now)),
        (Some(t), false) => when(t, now),
    };
    row(out, 4, "ready at", &ready)?;
    if !b.held.is_empty() {
        row(
            out,
            4,
            "held",
            &format!(
                "{} (kept past its hold-down: a target does not present the key in use)",
                b.held.join(", ")
            ),
        )?;
    }
    if !b.probing {
        row(out, 4, "probe", "off")?;
    } else if b.targets.is_empty() {
        row(
            out,
            4,
            "probe",
            "no target (no A/AAAA for the host; see probe-addresses)",
        )?;
    }
    for (i, t) in b.targets.iter().enumerate() {
        let detail = match t.result.as_str() {
            "mismatch" => format!(
                "MISMATCH: presents 3 1 1 {}, which no published record matches",
                t.presented.as_deref().unwrap_or("?")
            ),
            "not-probed" => "not probed yet".to_owned(),
            "current" | "next" | "old" => t.result.clone(),
            other => format!("{other}: {}", t.reason.as_deref().unwrap_or("")),
        };
        let at = t
            .probed_at
            .as_deref()
            .map(|at| format!(" (probed {at})"))
            .unwrap_or_default();
        row(
            out,
            4,
            if i == 0 { "probe" } else { "" },
            &format!("{} {detail}{at}", t.target),
        )?;
    }
    row(out, 4, "last error", b.last_error.as_deref().unwrap_or("-"))
}

/// One line per secondary: `secondary  192.0.2.2:53 serial 7 lag 0s notify serial 7
/// acknowledged`, plus its last poll error; and when every secondary served the serial.
fn render_secondaries(zone: &ZoneStatus, now: u32, out: &mut dyn Write) -> io::Result<()> {
    if zone.secondaries.is_empty() {
        return Ok(());
    }
    for (i, sec) in zone.secondaries.iter().enumerate() {
        let serial = sec
            .serial
            .map_or_else(|| "unknown".to_owned(), |s| s.to_string());
        let mut text = format!(
            "{} serial {serial} lag {} notify {}",
            sec.address,
            format_span(u64::from(sec.lag)),
            sec.last_notify.as_deref().unwrap_or("-"),
        );
        if let Some(error) = &sec.last_error {
            text.push_str(&format!(" error {error}"));
        }
        row(out, 2, if i == 0 { "secondaries" } else { "" }, &text)?;
    }
    row(
        out,
        2,
        "propagated",
        &zone.propagated_at.map_or_else(
            || "- (not every secondary serves this serial)".to_owned(),
            |t| when(t, now),
        ),
    )
}

/// `2024-06-15T13:00:00Z (in 42m)`.
fn when(t: u32, now: u32) -> String {
    format!("{} ({})", format_utc(t), format_relative(t, now))
}

/// A duration in the two largest units: `42s`, `5m`, `3h 5m`, `2d 4h`.
fn format_span(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests;
