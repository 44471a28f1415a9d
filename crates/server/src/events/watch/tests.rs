//! Watcher tests.
//!
//! Two kinds: tests of the watcher's decisions with synthetic events at synthetic instants (so
//! they check the debounce, the wait for a writer's close and which events concern which path
//! exactly, whatever the scheduler does), and tests on real files with real notify events and
//! real time, each wait bounded.
//!
//! The real-time tests never count on the scheduler being kind. A file written in place
//! (truncate, then write) may legitimately be reported twice when its writer kept it open longer
//! than the watcher waits for a close (then it was read half-written); such a write is
//! marked [`Written::may_repeat`] and a second report of it is accepted, any other extra report
//! fails. Where the content must not be read half-way whatever the timing, files are replaced
//! atomically (a rename over them).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind};
use notify::{Event, EventKind, NullWatcher, Watcher};
use tokio::sync::mpsc::{self, Receiver};
use tokio::time::timeout;

use crate::fsutil::ReadErrorKind;

use super::{
    Actor, CHANNEL_CAPACITY, CertWatcher, FileChange, MAX_DEBOUNCE_PERIODS, Target, WatchError,
};

/// Short, so the tests are quick.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// How long the watcher waits at most for the writer of a file to close it.
const CAP: Duration = DEBOUNCE.saturating_mul(MAX_DEBOUNCE_PERIODS);
/// Long enough never to fire during a test, so only notify events can explain a report.
const NO_RESCAN: Duration = Duration::from_secs(3600);
/// The longest wait for an expected event.
const WAIT: Duration = Duration::from_secs(5);
/// How long "no event" is watched for: several debounce periods.
const QUIET: Duration = Duration::from_millis(500);
/// A millisecond, to look just before an instant.
const MS: Duration = Duration::from_millis(1);

fn start(paths: &[&Path]) -> (CertWatcher, Receiver<FileChange>) {
    let paths = paths.iter().map(|p| p.to_path_buf()).collect();
    match CertWatcher::start(paths, DEBOUNCE, NO_RESCAN) {
        Ok(started) => started,
        Err(error) => panic!("watcher did not start: {error}"),
    }
}

/// The next reported path, waiting at most [`WAIT`].
async fn next(rx: &mut Receiver<FileChange>) -> PathBuf {
    next_change(rx).await.path
}

/// The next reported change, waiting at most [`WAIT`].
async fn next_change(rx: &mut Receiver<FileChange>) -> FileChange {
    match timeout(WAIT, rx.recv()).await {
        Ok(Some(change)) => change,
        Ok(None) => panic!("the watcher stopped"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

/// Asserts that nothing is reported for [`QUIET`].
async fn assert_quiet(rx: &mut Receiver<FileChange>) {
    if let Ok(event) = timeout(QUIET, rx.recv()).await {
        panic!("unexpected event {event:?}");
    }
}

/// A change made by a test, and how often the watcher may report it.
#[derive(Clone, Debug)]
struct Written {
    /// The path the change is reported for.
    path: PathBuf,
    /// The change is an in-place write whose writer kept the file open so long that the
    /// watcher may have stopped waiting for the close and read it half-written: then it is
    /// legitimately reported twice.
    may_repeat: bool,
}

impl Written {
    /// A change that is reported exactly once (a rename, a removal, an atomic replacement).
    fn once(path: &Path) -> Self {
        Written {
            path: path.to_path_buf(),
            may_repeat: false,
        }
    }

    /// The same change, reported for `path` (a symlink to the file written).
    fn via(self, path: &Path) -> Self {
        Written {
            path: path.to_path_buf(),
            ..self
        }
    }
}

/// Writes `content` before the watcher starts.
fn write(path: &Path, content: &str) {
    fs::write(path, content).expect("write test file");
}

/// Writes `content` in place, creating the file if needed: truncate, then write, as two system
/// calls (what `fs::write` and most tools do), pausing `pause` in between.
fn rewrite_pausing(path: &Path, content: &str, pause: Duration) -> Written {
    let opened = Instant::now();
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("open for writing");
    if !pause.is_zero() {
        std::thread::sleep(pause);
    }
    file.write_all(content.as_bytes()).expect("write");
    drop(file);
    // The watcher waits up to `CAP` after the first event for the close. Half of it is left for
    // the events to reach the watcher: only a writer held up that long is read half-way.
    Written {
        path: path.to_path_buf(),
        may_repeat: opened.elapsed() >= CAP / 2,
    }
}

/// Writes `content` in place without pausing (the scheduler may still pause the writer).
fn rewrite(path: &Path, content: &str) -> Written {
    rewrite_pausing(path, content, Duration::ZERO)
}

/// Replaces the file atomically: writes a temporary file next to it and renames it over it.
fn replace(path: &Path, content: &str) -> Written {
    let name = path.file_name().expect("a file name").to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&temp, content).expect("write temporary file");
    fs::rename(&temp, path).expect("rename over the file");
    Written::once(path)
}

/// Waits until every path in `changes` is reported, then until nothing is reported for
/// [`QUIET`]. Fails on a report of any other path, and on a path reported more often than its
/// changes allow: once per change, twice for a change that [`Written::may_repeat`].
async fn expect_reports(rx: &mut Receiver<FileChange>, changes: &[Written]) {
    let mut allowed: BTreeMap<&Path, usize> = BTreeMap::new();
    for change in changes {
        *allowed.entry(&change.path).or_default() += 1 + usize::from(change.may_repeat);
    }
    let mut seen: BTreeMap<PathBuf, usize> = BTreeMap::new();
    let count = |seen: &mut BTreeMap<PathBuf, usize>, path: PathBuf| {
        assert!(
            allowed.contains_key(path.as_path()),
            "unexpected report of {}",
            path.display()
        );
        *seen.entry(path).or_default() += 1;
    };
    while seen.len() < allowed.len() {
        count(&mut seen, next(rx).await);
    }
    while let Ok(Some(change)) = timeout(QUIET, rx.recv()).await {
        count(&mut seen, change.path);
    }
    for (path, times) in &seen {
        assert!(
            *times <= allowed[path.as_path()],
            "{} reported {times} times for {changes:?}",
            path.display(),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The watcher's decisions, with synthetic events and instants.

/// An actor for `paths` that receives no real events (tests feed them) and waits for a writer's
/// close as it does with inotify. Also returns its receiver and its start instant.
fn actor(paths: &[&Path]) -> (Actor<NullWatcher>, Receiver<FileChange>, Instant) {
    let targets = Target::all(paths.iter().map(|p| p.to_path_buf()).collect()).expect("targets");
    let watcher = NullWatcher::new(|_| {}, notify::Config::default()).expect("null watcher");
    let (out, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let start = Instant::now();
    let mut actor = Actor::new(watcher, true, targets, (DEBOUNCE, NO_RESCAN), out, start);
    actor.begin().expect("begin");
    (actor, rx, start)
}

/// A temporary directory by its canonical name (how notify names the files in it).
fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fs::canonicalize(dir.path()).expect("canonical tempdir");
    (dir, path)
}

fn event(kind: EventKind, path: &Path) -> notify::Result<Event> {
    Ok(Event::new(kind).add_path(path.to_path_buf()))
}

/// inotify's `IN_MODIFY` (a write or a truncation).
fn modified(path: &Path) -> notify::Result<Event> {
    event(EventKind::Modify(ModifyKind::Data(DataChange::Any)), path)
}

/// inotify's `IN_CLOSE_WRITE`.
fn closed(path: &Path) -> notify::Result<Event> {
    event(
        EventKind::Access(AccessKind::Close(AccessMode::Write)),
        path,
    )
}

/// inotify's `IN_CREATE` for anything but a directory.
fn created(path: &Path) -> notify::Result<Event> {
    event(EventKind::Create(CreateKind::File), path)
}

/// The paths the actor has sent so far.
fn sent(rx: &mut Receiver<FileChange>) -> Vec<PathBuf> {
    std::iter::from_fn(|| rx.try_recv().ok().map(|change| change.path)).collect()
}

#[test]
fn sibling_file_events_do_not_read_a_file_being_written() {
    // The cause of a flaky CI run: an ACME client rewrote rsa.pem, then ec.pem, in place. The
    // events of rsa.pem settled while ec.pem was truncated but not yet written and its events
    // were still on their way; reading ec.pem then (because it shares the directory) reported it
    // empty, and once more when complete.
    let (_dir, dir) = canonical_tempdir();
    let rsa = dir.join("rsa.pem");
    let ec = dir.join("ec.pem");
    write(&rsa, "rsa one");
    write(&ec, "ec one");
    let (mut actor, mut rx, t0) = actor(&[&rsa, &ec]);

    write(&rsa, "rsa two");
    for event in [modified(&rsa), modified(&rsa), closed(&rsa)] {
        actor.on_notify(event, t0);
    }
    let ec_writer = File::create(&ec).expect("truncate ec.pem");
    assert!(actor.tick(t0 + DEBOUNCE));
    assert_eq!(sent(&mut rx), [rsa], "ec.pem has no event of its own yet");

    // Now ec.pem's own events arrive: it is read once, complete.
    let t1 = t0 + DEBOUNCE * 2;
    actor.on_notify(modified(&ec), t1);
    (&ec_writer).write_all(b"ec two").expect("write ec.pem");
    drop(ec_writer);
    actor.on_notify(modified(&ec), t1);
    actor.on_notify(closed(&ec), t1);
    assert!(actor.tick(t1 + DEBOUNCE));
    assert_eq!(sent(&mut rx), [ec]);
    assert!(actor.tick(t1 + DEBOUNCE * 20));
    assert_eq!(sent(&mut rx), Vec::<PathBuf>::new());
}

#[test]
fn in_place_writer_is_not_read_before_it_closes_the_file() {
    let (_dir, dir) = canonical_tempdir();
    let cert = dir.join("cert.pem");
    write(&cert, "one");
    let (mut actor, mut rx, t0) = actor(&[&cert]);

    // Truncated, then three debounce periods without a write.
    let writer = File::create(&cert).expect("truncate");
    actor.on_notify(modified(&cert), t0);
    assert!(actor.tick(t0 + DEBOUNCE * 3));
    assert_eq!(
        sent(&mut rx),
        Vec::<PathBuf>::new(),
        "read before the close"
    );

    (&writer).write_all(b"two").expect("write");
    drop(writer);
    let t1 = t0 + DEBOUNCE * 3;
    actor.on_notify(modified(&cert), t1);
    actor.on_notify(closed(&cert), t1);
    assert!(actor.tick(t1 + DEBOUNCE - MS));
    assert_eq!(
        sent(&mut rx),
        Vec::<PathBuf>::new(),
        "read within the debounce"
    );
    assert!(actor.tick(t1 + DEBOUNCE));
    assert_eq!(sent(&mut rx), [cert]);
}

#[test]
fn writer_that_never_closes_is_read_after_ten_debounce_periods() {
    // Module docs: "a writer that keeps the file open, delays the re-read by at most ten
    // debounce periods".
    let (_dir, dir) = canonical_tempdir();
    let cert = dir.join("cert.pem");
    write(&cert, "one");
    let (mut actor, mut rx, t0) = actor(&[&cert]);

    let writer = File::create(&cert).expect("truncate");
    (&writer).write_all(b"two").expect("write");
    actor.on_notify(modified(&cert), t0);
    assert!(actor.tick(t0 + CAP - MS));
    assert_eq!(sent(&mut rx), Vec::<PathBuf>::new());
    assert!(actor.tick(t0 + CAP));
    assert_eq!(sent(&mut rx), [cert]);
    drop(writer);
}

#[test]
fn file_created_empty_is_not_read_before_its_creator_closes_it() {
    let (_dir, dir) = canonical_tempdir();
    let cert = dir.join("cert.pem");
    let (mut actor, mut rx, t0) = actor(&[&cert]);

    // Created (open with O_CREAT), then three debounce periods before the write: reading then
    // would report an empty file, then the complete one.
    let writer = File::create(&cert).expect("create");
    actor.on_notify(created(&cert), t0);
    assert!(actor.tick(t0 + DEBOUNCE * 3));
    assert_eq!(
        sent(&mut rx),
        Vec::<PathBuf>::new(),
        "read before the close"
    );

    (&writer).write_all(b"one").expect("write");
    drop(writer);
    let t1 = t0 + DEBOUNCE * 3;
    actor.on_notify(modified(&cert), t1);
    actor.on_notify(closed(&cert), t1);
    assert!(actor.tick(t1 + DEBOUNCE));
    assert_eq!(sent(&mut rx), [cert]);
}

#[test]
fn change_carries_the_bytes_hashed_or_why_they_were_not_read() {
    let (_dir, dir) = canonical_tempdir();
    let cert = dir.join("cert.pem");
    write(&cert, "one");
    let (mut actor, mut rx, t0) = actor(&[&cert]);
    let mut settle = |actor: &mut Actor<NullWatcher>, event, at| {
        actor.on_notify(event, at);
        assert!(actor.tick(at + DEBOUNCE));
        let changes: Vec<FileChange> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(changes.len(), 1, "{changes:?}");
        changes.into_iter().next().expect("one change")
    };

    replace(&cert, "two");
    let change = settle(&mut actor, created(&cert), t0);
    assert_eq!(change.path, cert);
    assert_eq!(change.content().ok(), Some(&b"two"[..]));

    // Written again after the read: the change holds what was read, not what is there now.
    fs::remove_file(&cert).expect("remove");
    let change = settle(
        &mut actor,
        event(EventKind::Remove(notify::event::RemoveKind::File), &cert),
        t0 + DEBOUNCE * 2,
    );
    write(&cert, "three");
    assert!(
        matches!(change.content(), Err(ReadErrorKind::Io(e)) if e.kind() == std::io::ErrorKind::NotFound),
        "{change:?}"
    );

    // What the zone would make of it: not a regular file, with the typed kind.
    fs::remove_file(&cert).expect("remove");
    fs::create_dir(&cert).expect("a directory in its place");
    let change = settle(&mut actor, created(&cert), t0 + DEBOUNCE * 4);
    assert!(
        matches!(
            change.content(),
            Err(ReadErrorKind::NotRegular("directory"))
        ),
        "{change:?}"
    );
}

#[test]
fn created_symlink_is_read_after_the_debounce() {
    // A symlink has no writer to wait for.
    let (_dir, dir) = canonical_tempdir();
    let cert = dir.join("cert.pem");
    write(&dir.join("cert1.pem"), "one");
    let (mut actor, mut rx, t0) = actor(&[&cert]);

    symlink("cert1.pem", &cert).expect("symlink");
    actor.on_notify(created(&cert), t0);
    assert!(actor.tick(t0 + DEBOUNCE));
    assert_eq!(sent(&mut rx), [cert]);
}

#[test]
fn burst_within_the_debounce_is_read_once() {
    // Module docs: "one event per settled change".
    let (_dir, dir) = canonical_tempdir();
    let cert = dir.join("cert.pem");
    write(&cert, "start");
    let (mut actor, mut rx, t0) = actor(&[&cert]);

    // Ten complete writes, 5 ms apart.
    let mut at = t0;
    for i in 0..10 {
        write(&cert, &format!("content {i}"));
        for event in [modified(&cert), modified(&cert), closed(&cert)] {
            actor.on_notify(event, at);
        }
        assert!(actor.tick(at));
        at += Duration::from_millis(5);
    }
    let last = at - Duration::from_millis(5);
    assert!(actor.tick(last + DEBOUNCE - MS));
    assert_eq!(
        sent(&mut rx),
        Vec::<PathBuf>::new(),
        "read within the burst"
    );
    assert!(actor.tick(last + DEBOUNCE));
    assert_eq!(sent(&mut rx), [cert]);
}

#[test]
fn burst_that_never_pauses_is_read_after_ten_debounce_periods() {
    // Module docs: "A burst of events that never pauses ... delays the re-read by at most ten
    // debounce periods".
    let (_dir, dir) = canonical_tempdir();
    let cert = dir.join("cert.pem");
    write(&cert, "start");
    let (mut actor, mut rx, t0) = actor(&[&cert]);

    let step = DEBOUNCE / 2;
    let mut at = t0;
    while at < t0 + CAP {
        write(&cert, &format!("{at:?}"));
        actor.on_notify(modified(&cert), at);
        actor.on_notify(closed(&cert), at);
        assert!(actor.tick(at));
        assert_eq!(sent(&mut rx), Vec::<PathBuf>::new(), "read within the cap");
        at += step;
    }
    assert!(actor.tick(t0 + CAP));
    assert_eq!(sent(&mut rx), [cert]);
}

#[test]
fn identical_content_is_not_reported() {
    // Module docs: "Rewriting the same bytes reports nothing."
    let (_dir, dir) = canonical_tempdir();
    let cert = dir.join("cert.pem");
    write(&cert, "same");
    let (mut actor, mut rx, t0) = actor(&[&cert]);

    write(&cert, "same");
    actor.on_notify(modified(&cert), t0);
    actor.on_notify(closed(&cert), t0);
    assert!(actor.tick(t0 + DEBOUNCE));
    assert_eq!(sent(&mut rx), Vec::<PathBuf>::new());
}

// ---------------------------------------------------------------------------------------------
// Real files, real notify events, real time.

#[tokio::test]
async fn in_place_rewrite_is_reported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    let change = rewrite(&cert, "two");
    expect_reports(&mut rx, &[change]).await;
}

#[tokio::test]
async fn slow_in_place_writer_is_read_after_it_closes_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    // Truncate, then pause for three debounce periods before writing: reading after the quiet
    // debounce would see an empty file and report twice.
    let change = rewrite_pausing(&cert, "two", DEBOUNCE * 3);
    expect_reports(&mut rx, &[change]).await;
}

#[tokio::test]
async fn rename_over_the_file_is_reported_every_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    // Twice: a watch on the file itself would have died with the first rename.
    for content in ["two", "three"] {
        let change = replace(&cert, content);
        expect_reports(&mut rx, &[change]).await;
    }
}

#[tokio::test]
async fn certbot_symlink_repointed_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = dir.path().join("live/x");
    let archive = dir.path().join("archive/x");
    fs::create_dir_all(&live).expect("mkdir live");
    fs::create_dir_all(&archive).expect("mkdir archive");
    write(&archive.join("cert1.pem"), "one");
    let cert = live.join("cert.pem");
    symlink("../../archive/x/cert1.pem", &cert).expect("symlink");
    let (_watcher, mut rx) = start(&[&cert]);

    // Renewal as certbot does it: a new archive file, then the link re-pointed.
    write(&archive.join("cert2.pem"), "two");
    let link_temp = live.join("cert.pem.new");
    symlink("../../archive/x/cert2.pem", &link_temp).expect("symlink");
    fs::rename(&link_temp, &cert).expect("rename link");
    expect_reports(&mut rx, &[Written::once(&cert)]).await;

    // The old target no longer matters; the new one is watched (re-resolved after the change).
    write(&archive.join("cert1.pem"), "one, changed");
    assert_quiet(&mut rx).await;
    let change = rewrite(&archive.join("cert2.pem"), "two, changed in place");
    expect_reports(&mut rx, &[change.via(&cert)]).await;

    // Re-pointed by unlink and symlink (certbot's own way), in a new archive directory.
    let archive3 = dir.path().join("archive/y");
    fs::create_dir_all(&archive3).expect("mkdir archive/y");
    write(&archive3.join("cert3.pem"), "three");
    fs::remove_file(&cert).expect("unlink");
    symlink("../../archive/y/cert3.pem", &cert).expect("symlink again");
    expect_reports(&mut rx, &[Written::once(&cert)]).await;
    // The new target directory is watched.
    let change = rewrite(&archive3.join("cert3.pem"), "three, changed in place");
    expect_reports(&mut rx, &[change.via(&cert)]).await;
}

#[tokio::test]
async fn directory_removed_and_recreated_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    fs::create_dir(&certs).expect("mkdir");
    let cert = certs.join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    fs::remove_dir_all(&certs).expect("rmdir");
    // The removal is reported.
    expect_reports(&mut rx, &[Written::once(&cert)]).await;
    // The new file is reported. It is written before the new directory can be watched, so its
    // writer's events are lost and only a read of the new directory sees it: written
    // atomically, it cannot be seen half-written.
    fs::create_dir(&certs).expect("mkdir again");
    let change = replace(&cert, "two");
    expect_reports(&mut rx, &[change]).await;

    // The new directory is watched, not the removed one.
    let change = rewrite(&cert, "three");
    expect_reports(&mut rx, &[change]).await;
}

#[tokio::test]
async fn directory_replaced_within_the_debounce_is_watched_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    fs::create_dir(&certs).expect("mkdir");
    let cert = certs.join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    // Replace the directory at once: whether this settles as one change or two (removed, then
    // back) depends on the scheduler; either is right. The file is written atomically, as the
    // new directory may not be watched yet.
    fs::remove_dir_all(&certs).expect("rmdir");
    fs::create_dir(&certs).expect("mkdir again");
    let change = replace(&cert, "two");
    let removal = Written::once(&cert);
    expect_reports(&mut rx, &[change, removal]).await;

    let change = rewrite(&cert, "three");
    // The new directory is watched.
    expect_reports(&mut rx, &[change]).await;
}

#[tokio::test]
async fn file_missing_at_start_is_reported_when_it_appears() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Neither the file nor its two directories exist yet.
    let cert = dir.path().join("a/b/cert.pem");
    let (_watcher, mut rx) = start(&[&cert]);
    assert_quiet(&mut rx).await;

    fs::create_dir(dir.path().join("a")).expect("mkdir a");
    assert_quiet(&mut rx).await;
    fs::create_dir(dir.path().join("a/b")).expect("mkdir b");
    assert_quiet(&mut rx).await;
    // Atomically: a/b may not be watched yet if the watcher was slow to see it.
    let change = replace(&cert, "one");
    expect_reports(&mut rx, &[change]).await;

    // Its directory is watched now.
    let change = rewrite(&cert, "two");
    expect_reports(&mut rx, &[change]).await;
}

#[tokio::test]
async fn deleted_file_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    fs::remove_file(&cert).expect("rm");
    expect_reports(&mut rx, &[Written::once(&cert)]).await;

    // And its return (created in place) is reported too.
    let change = rewrite(&cert, "one");
    expect_reports(&mut rx, &[change]).await;
}

#[tokio::test]
async fn burst_of_writes_ends_with_the_last_content_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "start");
    let (_watcher, mut rx) = start(&[&cert]);

    // Ten writes, 5 ms apart. They settle as one change when the scheduler runs the writer on
    // time (checked exactly by `burst_within_the_debounce_is_read_once`); each may be its own
    // change when it does not.
    let mut changes = Vec::new();
    for i in 0..10 {
        changes.push(rewrite(&cert, &format!("content {i}")));
        std::thread::sleep(Duration::from_millis(5));
    }
    expect_reports(&mut rx, &changes).await;

    // The last report followed the last content: writing it again changes nothing.
    replace(&cert, "content 9");
    assert_quiet(&mut rx).await;
    // (And the watcher is alive.)
    let change = replace(&cert, "content 10");
    expect_reports(&mut rx, &[change]).await;
}

#[tokio::test]
async fn rewrite_with_the_same_bytes_gives_no_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "same");
    let (_watcher, mut rx) = start(&[&cert]);

    // In place: empty for a moment, which is not read unless the writer was held up long.
    let change = rewrite(&cert, "same");
    if change.may_repeat {
        // Read empty, then "same" again: two reports, or none.
        let mut reports = 0;
        while let Ok(Some(change)) = timeout(QUIET, rx.recv()).await {
            assert_eq!(change.path, cert);
            reports += 1;
        }
        assert!(reports == 0 || reports == 2, "{reports} reports");
    } else {
        assert_quiet(&mut rx).await;
    }
    // Atomically: never anything.
    replace(&cert, "same");
    assert_quiet(&mut rx).await;

    // The watcher is alive: a real change still gets through.
    let change = rewrite(&cert, "different");
    expect_reports(&mut rx, &[change]).await;
}

#[tokio::test]
async fn two_files_in_one_directory_are_reported_separately() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rsa = dir.path().join("rsa.pem");
    let ec = dir.path().join("ec.pem");
    write(&rsa, "rsa one");
    write(&ec, "ec one");
    let (_watcher, mut rx) = start(&[&rsa, &ec]);

    let change = rewrite(&ec, "ec two");
    expect_reports(&mut rx, &[change]).await;

    // One after the other, as an ACME client renewing both does: each is reported once.
    let changes = [rewrite(&rsa, "rsa two"), rewrite(&ec, "ec three")];
    expect_reports(&mut rx, &changes).await;
}

#[tokio::test]
async fn more_changes_than_the_channel_holds_are_all_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let count = CHANNEL_CAPACITY + 6;
    let certs: Vec<PathBuf> = (0..count)
        .map(|i| dir.path().join(format!("cert{i}.pem")))
        .collect();
    for cert in &certs {
        write(cert, "one");
    }
    let refs: Vec<&Path> = certs.iter().map(PathBuf::as_path).collect();
    let (_watcher, mut rx) = start(&refs);

    // Each is reported (`expect_reports` waits for all), once.
    let changes: Vec<Written> = certs.iter().map(|cert| rewrite(cert, "two")).collect();
    expect_reports(&mut rx, &changes).await;
}

#[tokio::test]
async fn rescan_catches_a_change_without_any_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "one");
    // The null backend delivers no events at all: only the rescan can see the change.
    let (_watcher, mut rx) = CertWatcher::start_with::<NullWatcher>(
        vec![cert.clone()],
        DEBOUNCE,
        Duration::from_millis(100),
    )
    .expect("start");

    // Atomically: the rescan waits for no writer, so it could read an in-place write half-way.
    let change = replace(&cert, "two");
    expect_reports(&mut rx, &[change]).await;
}

#[tokio::test]
async fn drop_stops_the_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let (watcher, mut rx) = start(&[&cert]);
    assert!(!watcher.is_finished());

    drop(watcher);
    // The sender lives on the thread: the channel closes only when the thread has ended.
    assert!(
        timeout(WAIT, rx.recv())
            .await
            .expect("closed in time")
            .is_none()
    );
}

#[tokio::test]
async fn dropped_receiver_stops_the_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let (watcher, rx) = start(&[&cert]);
    drop(rx);

    write(&cert, "wake the thread up");
    let mut finished = false;
    for _ in 0..100 {
        if watcher.is_finished() {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        finished,
        "the thread still runs 5 s after its receiver was dropped"
    );
}

#[test]
fn zero_rescan_is_rejected() {
    let result = CertWatcher::start(vec![PathBuf::from("/x")], DEBOUNCE, Duration::ZERO);
    assert!(matches!(result, Err(WatchError::ZeroRescan)));
}
