//! Certificate file watching.
//!
//! ACME clients replace certificate files in several ways: in place (truncate and write), by
//! writing a temporary file and renaming it over the old one, or (certbot) by writing a new file
//! in an archive directory and re-pointing a symlink. [`CertWatcher`] notices all of them and
//! trusts no single raw notify event:
//!
//! - It watches *directories*, never files: an inotify watch on a file follows the inode, so it
//!   goes deaf when a new file is renamed over the old one. For every watched path it watches the
//!   directory of the path and of every symlink on the way to the final file. A directory that
//!   does not exist is replaced by its nearest existing ancestor until it appears.
//! - An event only marks as dirty the paths that depend on the entry it names (the file, a
//!   symlink on the way, the missing directory the path waits for) or on the watched directory
//!   itself; an event about another file in the same directory marks nothing. After `debounce`
//!   without further events, the watcher re-resolves the symlinks and directories (re-watching
//!   any that were replaced), re-reads the dirty paths and hashes their content with SHA-256.
//!   A change is reported with the bytes read ([`FileChange`]), so the receiver parses what
//!   was hashed instead of reading the file again (and perhaps catching a later write).
//!   A file seen being written in place or created empty is not read before its writer closes
//!   it, so a slow truncate-then-write is not read half-way.
//! - So a file is read only after an event of its own has arrived: ACME clients write the
//!   certificates of one name (an RSA and an ECDSA one, say) one after the other into one
//!   directory, and reading the second because of the first one's events could catch it
//!   truncated but not yet written, whose own events are still on their way, and report it
//!   twice.
//! - A path is reported only when its content differs from the last content seen, or it
//!   appeared, disappeared or stopped being readable. Rewriting the same bytes reports nothing.
//! - Every `rescan` it re-resolves and re-reads every path anyway, so a missed event (a full
//!   inotify queue, a directory swapped behind a symlinked parent) delays a change but never
//!   loses it.
//!
//! The content seen at start is the baseline: nothing is reported for it, the caller reads the
//! files itself when it starts.
//!
//! # Limitations
//!
//! - Unix only (directory identity is the device and inode number).
//! - A burst of events that never pauses, or a writer that keeps the file open, delays the
//!   re-read by at most ten debounce periods; a file read half-written then is reported again
//!   once complete.
//! - A file larger than [`fsutil::MAX_CERTIFICATE_BYTES`] (16 MiB) is reported as unreadable.
//!   A change waiting to be sent holds its bytes (a certificate file is a few kilobytes).
//! - A write through another name of the same file (a hard link) is seen at the next rescan.
//! - The rescan reads files without waiting for an event, so it may read a file half-written; it
//!   is reported again once complete.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher};
use ring::digest;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::fsutil::{self, ReadError, ReadErrorKind};

/// Capacity of the channel of changes. A full channel never blocks the watcher: the changes
/// wait in the watcher (at most one per path, the latest) and are sent when there is room.
const CHANNEL_CAPACITY: usize = 64;

/// Symlinks followed from one watched path before giving up (Linux's `MAXSYMLINKS`).
const MAX_SYMLINK_HOPS: usize = 40;

/// Files larger than this are not hashed but reported as unreadable (a certificate file is a
/// few kilobytes). The cap the zone applies to certificate and next-key files, so a file
/// refused here would be refused there with the same error.
const MAX_FILE_BYTES: u64 = fsutil::MAX_CERTIFICATE_BYTES;

/// A burst of events postpones the re-read by at most this many debounce periods.
const MAX_DEBOUNCE_PERIODS: u32 = 10;

/// How soon to try again when the receiver of changed paths is full.
const SEND_RETRY: Duration = Duration::from_millis(50);

/// A watched file whose content changed, with what the watcher read.
#[derive(Debug)]
pub struct FileChange {
    /// The path as given to [`CertWatcher::start`].
    pub path: PathBuf,
    /// The bytes the watcher read and hashed (at most [`fsutil::MAX_CERTIFICATE_BYTES`]), or
    /// why it could not read them: the file (or a directory on its way) is missing, it is not
    /// a regular file, it is too large, or reading failed.
    pub content: Result<Arc<[u8]>, ReadErrorKind>,
}

impl FileChange {
    /// Reads `path` as the watcher does (for a change the watcher did not see: after it was
    /// restarted, or in tests).
    pub fn read(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            content: read_content(path).map_err(|error| error.kind),
        }
    }

    /// The bytes read, or why they could not be.
    pub fn content(&self) -> Result<&[u8], &ReadErrorKind> {
        self.content.as_deref()
    }
}

/// Watches certificate files and reports each one whose content changed.
///
/// Created by [`CertWatcher::start`]. Dropping it stops the watcher thread and the notify
/// watchers it owns (the drop waits for the thread to end, which takes at most one file re-read);
/// the receiver then yields `None`.
#[derive(Debug)]
pub struct CertWatcher {
    /// Wakes the watcher thread with [`Message::Stop`] on drop.
    control: std_mpsc::Sender<Message>,
    /// The watcher thread; `None` only during drop.
    thread: Option<JoinHandle<()>>,
}

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// A relative path could not be made absolute (the working directory is unavailable).
    #[error("{}: cannot make the path absolute: {source}", path.display())]
    Absolute {
        /// The path as given.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The operating system's file watcher could not be created.
    #[error("cannot create a file watcher: {source}")]
    Create {
        /// The underlying error.
        source: notify::Error,
    },
    /// A directory could not be watched (for example the inotify watch limit is reached).
    #[error("{}: cannot watch the directory: {source}", path.display())]
    Watch {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: notify::Error,
    },
    /// The rescan interval is zero, which would re-read the files in a busy loop.
    #[error("the rescan interval must be longer than zero")]
    ZeroRescan,
    /// The watcher thread could not be started.
    #[error("cannot start the file watcher thread: {source}")]
    Spawn {
        /// The underlying error.
        source: io::Error,
    },
}

impl CertWatcher {
    /// Watches `paths` (files that may not exist yet). After any change, waits `debounce`
    /// without further events, then re-reads every affected path and emits a [`FileChange`]
    /// with the content read if its content (SHA-256) differs from the last content seen (or it
    /// appeared/disappeared).
    /// Every `rescan` it re-reads all paths anyway (catches missed events).
    ///
    /// Paths are emitted exactly as given (duplicates are watched once). The content at start is
    /// the baseline and is not emitted. Symlinks are followed, and the directory of every link
    /// on the way is watched too.
    ///
    /// # Errors
    ///
    /// [`WatchError::ZeroRescan`] for a zero `rescan`, [`WatchError::Absolute`] when a relative
    /// path cannot be made absolute, [`WatchError::Create`] or [`WatchError::Watch`] when the
    /// operating system refuses a watcher or a watch, [`WatchError::Spawn`] when the thread
    /// cannot start. Files that are missing or unreadable are not errors: they are watched until
    /// they change.
    pub fn start(
        paths: Vec<PathBuf>,
        debounce: Duration,
        rescan: Duration,
    ) -> Result<(CertWatcher, mpsc::Receiver<FileChange>), WatchError> {
        Self::start_with::<notify::RecommendedWatcher>(paths, debounce, rescan)
    }

    /// [`CertWatcher::start`] with the notify backend `W` (tests use [`notify::NullWatcher`] to
    /// check the rescan on its own).
    fn start_with<W: Watcher + Send + 'static>(
        paths: Vec<PathBuf>,
        debounce: Duration,
        rescan: Duration,
    ) -> Result<(CertWatcher, mpsc::Receiver<FileChange>), WatchError> {
        if rescan.is_zero() {
            return Err(WatchError::ZeroRescan);
        }
        let targets = Target::all(paths)?;
        let (control, inbox) = std_mpsc::channel();
        let events = control.clone();
        let watcher = W::new(
            move |event| {
                // An error means the watcher thread has ended; nobody is left to tell.
                let _ = events.send(Message::Notify(event));
            },
            notify::Config::default(),
        )
        .map_err(|source| WatchError::Create { source })?;
        let (out, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let reports_close = W::kind() == notify::WatcherKind::Inotify;
        let mut actor = Actor::new(
            watcher,
            reports_close,
            targets,
            (debounce, rescan),
            out,
            Instant::now(),
        );
        actor.begin()?;
        let thread = thread::Builder::new()
            .name("daned-watch".to_owned())
            .spawn(move || actor.run(inbox))
            .map_err(|source| WatchError::Spawn { source })?;
        Ok((
            CertWatcher {
                control,
                thread: Some(thread),
            },
            receiver,
        ))
    }

    /// Whether the watcher thread has ended (tests check that drop and a closed receiver stop it).
    #[cfg(test)]
    fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for CertWatcher {
    fn drop(&mut self) {
        // An error means the thread already stopped (its receiver of paths was dropped).
        let _ = self.control.send(Message::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("the certificate watcher thread panicked");
        }
    }
}

/// What the watcher thread receives.
#[derive(Debug)]
enum Message {
    /// An event (or error) from notify.
    Notify(notify::Result<notify::Event>),
    /// The [`CertWatcher`] was dropped.
    Stop,
}

/// What a watched path holds, as far as reporting a change is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum FileState {
    /// The file (or a directory on its way) does not exist, or a symlink dangles.
    Missing,
    /// The SHA-256 of the content.
    Content(Vec<u8>),
    /// The file exists but cannot be read (permissions, a directory, too large, ...).
    Unreadable(io::ErrorKind),
}

/// One watched path.
#[derive(Debug)]
struct Target {
    /// The path as given to [`CertWatcher::start`], which is what is emitted.
    given: PathBuf,
    /// The path made absolute.
    absolute: PathBuf,
    /// The (canonical) directories watched for this path.
    dirs: Vec<PathBuf>,
    /// The entries of those directories that this path depends on.
    entries: Vec<Entry>,
    /// The final file behind the path's symlinks, in the form notify reports it (canonical
    /// directory and file name); `None` while its directory does not exist.
    file: Option<PathBuf>,
    /// The last state seen.
    state: FileState,
    /// An event concerned this path since the last re-read.
    dirty: bool,
    /// The final file was written and its writer has not closed it yet.
    writing: bool,
}

impl Target {
    /// The targets for `paths`, duplicates dropped, nothing resolved or read yet.
    fn all(paths: Vec<PathBuf>) -> Result<Vec<Target>, WatchError> {
        let mut targets: Vec<Target> = Vec::with_capacity(paths.len());
        for path in paths {
            if targets.iter().any(|t| t.given == path) {
                continue;
            }
            let absolute = std::path::absolute(&path).map_err(|source| WatchError::Absolute {
                path: path.clone(),
                source,
            })?;
            targets.push(Target {
                given: path,
                absolute,
                dirs: Vec::new(),
                entries: Vec::new(),
                file: None,
                state: FileState::Missing,
                dirty: false,
                writing: false,
            });
        }
        Ok(targets)
    }

    /// Whether an event naming `path` may have changed what this target reads: `path` is one of
    /// its entries or one of its watched directories (removed or renamed). Another file in the
    /// same directory does not concern it.
    fn concerned_by(&self, path: &Path) -> bool {
        self.dirs.iter().any(|dir| dir == path)
            || self.entries.iter().any(|entry| match entry {
                Entry::Named(named) => named == path,
                Entry::Any(dir) => path.parent() == Some(dir.as_path()),
            })
    }
}

/// An entry of a watched directory that a path depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    /// The entry at this path (a canonical directory joined with one name): the file, a symlink
    /// on the way, or the first missing directory on the way.
    Named(PathBuf),
    /// Every entry of this directory: the name on the way is not a plain name (`..`).
    Any(PathBuf),
}

/// The state owned by the watcher thread.
struct Actor<W> {
    /// The notify watcher; dropping it stops notify's own thread.
    watcher: W,
    /// The backend reports a writer's close (inotify), so a file seen being written can wait for
    /// it; other backends never would.
    reports_close: bool,
    targets: Vec<Target>,
    /// Directories watched now, with the (device, inode) they had when the watch was added.
    watched: BTreeMap<PathBuf, (u64, u64)>,
    debounce: Duration,
    rescan: Duration,
    /// The first event since the last re-read, if any is pending.
    first_event: Option<Instant>,
    /// The latest event.
    last_event: Instant,
    /// When to re-read everything; `None` when that lies beyond what `Instant` can hold.
    next_rescan: Option<Instant>,
    /// Changes not yet sent (at most one per path: the latest).
    pending: VecDeque<FileChange>,
    /// When to retry sending after the channel was full.
    retry_at: Option<Instant>,
    out: mpsc::Sender<FileChange>,
}

impl<W: Watcher> Actor<W> {
    /// An actor that has watched and read nothing yet; `timing` is the debounce and the rescan
    /// interval, `now` the start.
    fn new(
        watcher: W,
        reports_close: bool,
        targets: Vec<Target>,
        timing: (Duration, Duration),
        out: mpsc::Sender<FileChange>,
        now: Instant,
    ) -> Self {
        let (debounce, rescan) = timing;
        Actor {
            watcher,
            reports_close,
            targets,
            watched: BTreeMap::new(),
            debounce,
            rescan,
            first_event: None,
            last_event: now,
            next_rescan: now.checked_add(rescan),
            pending: VecDeque::new(),
            retry_at: None,
            out,
        }
    }

    /// Installs the first watches and reads the baseline content (watches first, so a change
    /// between the two is either read or reported).
    fn begin(&mut self) -> Result<(), WatchError> {
        let resolved: Vec<Resolved> = self.targets.iter().map(|t| resolve(&t.absolute)).collect();
        let desired = resolved
            .iter()
            .flat_map(|r| r.dirs.iter().cloned())
            .collect();
        let (_, failures) = self.sync_watches(&desired);
        if let Some((path, source)) = failures.into_iter().next() {
            return Err(WatchError::Watch { path, source });
        }
        for (target, resolved) in self.targets.iter_mut().zip(resolved) {
            target.dirs = resolved.dirs;
            target.entries = resolved.entries;
            target.file = resolved.file;
            target.state = state_of(&read_content(&target.absolute));
            debug!(path = %target.given.display(), state = ?target.state, "watching certificate file");
        }
        Ok(())
    }

    /// The thread's loop: runs until [`Message::Stop`] or until the receiver of paths is gone.
    fn run(mut self, inbox: std_mpsc::Receiver<Message>) {
        loop {
            let message = match self.next_wake() {
                Some(at) => inbox.recv_timeout(at.saturating_duration_since(Instant::now())),
                None => inbox
                    .recv()
                    .map_err(|_| std_mpsc::RecvTimeoutError::Disconnected),
            };
            match message {
                Ok(Message::Stop) | Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Message::Notify(event)) => self.on_notify(event, Instant::now()),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            }
            if !self.tick(Instant::now()) {
                break;
            }
        }
        debug!("certificate watcher stopped");
    }

    /// The earliest moment something is due: the debounced re-read, the rescan or a retry.
    fn next_wake(&self) -> Option<Instant> {
        [self.settle_at(), self.next_rescan, self.retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the pending events have settled: `debounce` after the last one (unless a dirty file
    /// is still open for writing), but no later than [`MAX_DEBOUNCE_PERIODS`] debounce periods
    /// after the first.
    fn settle_at(&self) -> Option<Instant> {
        let first = self.first_event?;
        let cap = first.checked_add(self.debounce.saturating_mul(MAX_DEBOUNCE_PERIODS));
        if self.targets.iter().any(|t| t.dirty && t.writing) {
            return cap;
        }
        let quiet = self.last_event.checked_add(self.debounce);
        // Both `None` only if the debounce is beyond what `Instant` can hold; the rescan still
        // re-reads then.
        [quiet, cap].into_iter().flatten().min()
    }

    /// Marks the paths an event concerns as dirty.
    fn on_notify(&mut self, event: notify::Result<notify::Event>, now: Instant) {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                warn!(%error, "file watcher error; re-reading every certificate file");
                self.mark_all(now);
                return;
            }
        };
        if let EventKind::Access(access) = event.kind {
            // Opens and reads (our own re-reads among them) change nothing; a close after
            // writing does.
            if access != AccessKind::Close(AccessMode::Write) {
                return;
            }
        }
        debug!(kind = ?event.kind, paths = ?event.paths, "file event");
        if event.need_rescan() || event.paths.is_empty() {
            self.mark_all(now);
            return;
        }
        let gone = matches!(
            event.kind,
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
        );
        // A data write (a truncation among them) opens a wait for the writer's close. So does
        // the creation of an empty regular file, which its creator (open with O_CREAT) closes
        // after writing; creating a symlink or a link to a file with content does not.
        let written =
            self.reports_close && matches!(event.kind, EventKind::Modify(ModifyKind::Data(_)));
        let created = self.reports_close && event.kind == EventKind::Create(CreateKind::File);
        let closed = event.kind == EventKind::Access(AccessKind::Close(AccessMode::Write));
        let mut marked = false;
        for path in &event.paths {
            if gone && self.watched.remove(path).is_some() {
                // A watched directory was removed or renamed: drop its watch so the next re-read
                // watches whatever is at that path now. notify may have dropped it already.
                if let Err(error) = self.watcher.unwatch(path) {
                    debug!(%error, dir = %path.display(), "unwatching a vanished directory");
                }
            }
            // Checked at most once per path, and only for a creation of a watched file.
            let mut created_empty = None;
            for target in &mut self.targets {
                if target.concerned_by(path) {
                    target.dirty = true;
                    marked = true;
                }
                if target.file.as_ref() == Some(path) {
                    if written
                        || (created
                            && *created_empty.get_or_insert_with(|| is_new_empty_file(path)))
                    {
                        target.writing = true;
                    } else if closed {
                        target.writing = false;
                    }
                }
            }
        }
        if marked {
            self.first_event.get_or_insert(now);
            self.last_event = now;
        }
    }

    /// Marks every path as dirty.
    fn mark_all(&mut self, now: Instant) {
        for target in &mut self.targets {
            target.dirty = true;
        }
        self.first_event.get_or_insert(now);
        self.last_event = now;
    }

    /// Does what is due at `now`. Returns `false` when the receiver of paths is gone.
    fn tick(&mut self, now: Instant) -> bool {
        if self.out.is_closed() {
            return false;
        }
        if self.next_rescan.is_some_and(|at| at <= now) {
            for target in &mut self.targets {
                target.dirty = true;
            }
            self.refresh();
            self.next_rescan = now.checked_add(self.rescan);
        } else if self.settle_at().is_some_and(|at| at <= now) {
            self.refresh();
        }
        if self.retry_at.is_none_or(|at| at <= now) {
            return self.flush(now);
        }
        true
    }

    /// Re-resolves every path's directories, re-watches what changed, re-reads the dirty paths
    /// and queues those whose state changed.
    fn refresh(&mut self) {
        let resolved: Vec<Resolved> = self.targets.iter().map(|t| resolve(&t.absolute)).collect();
        let desired = resolved
            .iter()
            .flat_map(|r| r.dirs.iter().cloned())
            .collect();
        let (fresh, failures) = self.sync_watches(&desired);
        for (dir, error) in failures {
            warn!(%error, dir = %dir.display(), "cannot watch a certificate directory; retrying at the next rescan");
        }
        for (target, resolved) in self.targets.iter_mut().zip(resolved) {
            // A newly watched directory may hold changes made before its watch existed.
            if resolved.dirs != target.dirs
                || resolved.entries != target.entries
                || resolved.dirs.iter().any(|dir| fresh.contains(dir))
            {
                target.dirty = true;
            }
            target.dirs = resolved.dirs;
            target.entries = resolved.entries;
            target.file = resolved.file;
            if !target.dirty {
                continue;
            }
            target.dirty = false;
            target.writing = false;
            let content = read_content(&target.absolute);
            let state = state_of(&content);
            if state != target.state {
                debug!(path = %target.given.display(), from = ?target.state, to = ?state, "certificate file changed");
                target.state = state;
                let change = FileChange {
                    path: target.given.clone(),
                    content: content.map_err(|error| error.kind),
                };
                // A change still waiting is replaced by the newer content, in its place.
                match self.pending.iter_mut().find(|c| c.path == target.given) {
                    Some(waiting) => *waiting = change,
                    None => self.pending.push_back(change),
                }
            }
        }
        self.first_event = None;
    }

    /// Makes the watched directories exactly `desired`, re-watching any directory that was
    /// replaced since it was watched. Returns the directories watched anew and the failures.
    fn sync_watches(
        &mut self,
        desired: &BTreeSet<PathBuf>,
    ) -> (BTreeSet<PathBuf>, Vec<(PathBuf, notify::Error)>) {
        let stale: Vec<PathBuf> = self
            .watched
            .keys()
            .filter(|dir| !desired.contains(*dir))
            .cloned()
            .collect();
        for dir in stale {
            self.watched.remove(&dir);
            if let Err(error) = self.watcher.unwatch(&dir) {
                debug!(%error, dir = %dir.display(), "unwatching a directory no longer needed");
            }
        }
        let mut fresh = BTreeSet::new();
        let mut failures = Vec::new();
        for dir in desired {
            let identity = match fs::metadata(dir) {
                Ok(meta) => (meta.dev(), meta.ino()),
                Err(error) => {
                    // Removed since it was resolved: its removal is an event, or the rescan
                    // resolves again.
                    debug!(%error, dir = %dir.display(), "directory vanished before it was watched");
                    continue;
                }
            };
            match self.watched.get(dir) {
                Some(seen) if *seen == identity => continue,
                Some(_) => {
                    // Replaced by another directory: the old watch follows the old one.
                    self.watched.remove(dir);
                    if let Err(error) = self.watcher.unwatch(dir) {
                        debug!(%error, dir = %dir.display(), "unwatching a replaced directory");
                    }
                }
                None => {}
            }
            match self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    debug!(dir = %dir.display(), "watching directory");
                    self.watched.insert(dir.clone(), identity);
                    fresh.insert(dir.clone());
                }
                Err(error) => failures.push((dir.clone(), error)),
            }
        }
        (fresh, failures)
    }

    /// Sends the pending changes while the channel has room. Returns `false` when the receiver
    /// is gone.
    fn flush(&mut self, now: Instant) -> bool {
        self.retry_at = None;
        // Bounded: every turn either removes a change or returns.
        while let Some(change) = self.pending.pop_front() {
            match self.out.try_send(change) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(change)) => {
                    self.pending.push_front(change);
                    self.retry_at = now.checked_add(SEND_RETRY);
                    return true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        true
    }
}

/// What a watched path depends on now.
#[derive(Debug)]
struct Resolved {
    /// The directories to watch, each canonical.
    dirs: Vec<PathBuf>,
    /// The entries of those directories on the way, one for each directory in the chain.
    entries: Vec<Entry>,
    /// The final file behind the symlinks, in its canonical directory, if that exists.
    file: Option<PathBuf>,
}

/// The directories to watch for `target`: the directory of the path and of every symlink on the
/// way to the final file, each canonical, each replaced by its nearest existing ancestor while it
/// does not exist.
fn resolve(target: &Path) -> Resolved {
    let mut dirs = Vec::new();
    let mut entries = Vec::new();
    let mut file = None;
    let mut current = target.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        let Some(parent) = current.parent() else {
            break;
        };
        file = None;
        if let Some((dir, found)) = nearest_existing_dir(parent) {
            // The name below `dir` on the way: the file's own if its directory exists, else the
            // first missing directory's.
            let name = if found == parent {
                file = current.file_name().map(|name| dir.join(name));
                current.file_name()
            } else {
                parent
                    .strip_prefix(found)
                    .ok()
                    .and_then(|rest| rest.components().next())
                    .and_then(|first| match first {
                        Component::Normal(name) => Some(name),
                        _ => None,
                    })
            };
            let entry = match name {
                Some(name) => Entry::Named(dir.join(name)),
                None => Entry::Any(dir.clone()),
            };
            if !entries.contains(&entry) {
                entries.push(entry);
            }
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        let is_link = fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            break;
        }
        match fs::read_link(&current) {
            // `join` keeps an absolute link target as it is.
            Ok(link) => current = parent.join(link),
            Err(_) => break,
        }
    }
    Resolved {
        dirs,
        entries,
        file,
    }
}

/// The canonical form of `dir` or of its nearest ancestor that is an existing directory, and
/// that directory as found (`dir` itself or one of its ancestors).
fn nearest_existing_dir(dir: &Path) -> Option<(PathBuf, &Path)> {
    let found = dir
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find(|a| fs::metadata(a).is_ok_and(|m| m.is_dir()))?;
    let canonical = fs::canonicalize(found).ok()?;
    Some((canonical, found))
}

/// Whether `path` is a regular file that is empty and has no other name: what `open` with
/// `O_CREAT` makes, before its creator writes and closes it.
fn is_new_empty_file(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .is_ok_and(|meta| meta.file_type().is_file() && meta.len() == 0 && meta.nlink() == 1)
}

/// Reads the file at `path` (following symlinks) as the zone reads a certificate file: only a
/// regular file, opened without blocking (a FIFO put in a certificate's place must not stall
/// the watcher), at most [`MAX_FILE_BYTES`].
fn read_content(path: &Path) -> Result<Arc<[u8]>, ReadError> {
    fsutil::read_bounded(path, MAX_FILE_BYTES).map(Arc::from)
}

/// What `content` means for reporting: the SHA-256 of the bytes; a missing file (or directory
/// on its way, or a dangling symlink) is [`FileState::Missing`]; anything else is unreadable.
fn state_of(content: &Result<Arc<[u8]>, ReadError>) -> FileState {
    match content {
        Ok(data) => FileState::Content(digest::digest(&digest::SHA256, data).as_ref().to_vec()),
        Err(error) => match error.io_kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => FileState::Missing,
            kind => FileState::Unreadable(kind),
        },
    }
}

#[cfg(test)]
mod tests;
