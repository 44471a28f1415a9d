//! The server half of the control socket, inside the daemon: binds the socket, reads
//! [`Request`]s and answers them by sending [`Command`]s to the zone manager.

use std::future::Future;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::control::error::ControlError;
use crate::control::protocol::{
    ErrorReason, MAX_REQUEST_LINE, MAX_WAIT, Ready, ReloadAnswer, Request, Response, ZoneReload,
};
use crate::control::render::format_utc;
use crate::events::manager::Command;
use crate::status::{BindingStatus, StatusReport};
use crate::zone::KeyAction;
use daned_sign::hickory_proto::rr::Name;

/// How long after a `wait-ready` deadline the manager may take to answer the last look.
const STATUS_GRACE: Duration = Duration::from_secs(1);

/// The default permission bits of the control socket: owner only.
pub const DEFAULT_MODE: u32 = 0o600;

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
            Ok(Err(error)) => Response::error(ErrorReason::KeyRefused, error.to_string()),
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
            Ok(Err(error)) => Response::error(ErrorReason::UnknownBinding, error.to_string()),
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
            Ok(Err(error)) => Response::error(ErrorReason::ConfigInvalid, error.to_string()),
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
