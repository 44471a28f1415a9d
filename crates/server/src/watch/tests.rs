//! Watcher tests on real files with real notify events (so real time, each wait bounded).

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

use super::{CertWatcher, WatchError};

/// Short, so the tests are quick; events of one write arrive well within it.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Long enough never to fire during a test, so only notify events can explain a report.
const NO_RESCAN: Duration = Duration::from_secs(3600);
/// The longest wait for an expected event.
const WAIT: Duration = Duration::from_secs(5);
/// How long "no event" is watched for: several debounce periods.
const QUIET: Duration = Duration::from_millis(500);

fn start(paths: &[&Path]) -> (CertWatcher, Receiver<PathBuf>) {
    let paths = paths.iter().map(|p| p.to_path_buf()).collect();
    match CertWatcher::start(paths, DEBOUNCE, NO_RESCAN) {
        Ok(started) => started,
        Err(error) => panic!("watcher did not start: {error}"),
    }
}

/// The next reported path, waiting at most [`WAIT`].
async fn next(rx: &mut Receiver<PathBuf>) -> PathBuf {
    match timeout(WAIT, rx.recv()).await {
        Ok(Some(path)) => path,
        Ok(None) => panic!("the watcher stopped"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

/// Asserts that nothing is reported for [`QUIET`].
async fn assert_quiet(rx: &mut Receiver<PathBuf>) {
    if let Ok(event) = timeout(QUIET, rx.recv()).await {
        panic!("unexpected event {event:?}");
    }
}

fn write(path: &Path, content: &str) {
    fs::write(path, content).expect("write test file");
}

#[tokio::test]
async fn in_place_rewrite_is_reported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    // Truncate, then write, as two separate system calls.
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&cert)
        .expect("open");
    file.flush().expect("flush");
    file.write_all(b"two").expect("write");
    drop(file);

    assert_eq!(next(&mut rx).await, cert);
    assert_quiet(&mut rx).await;
}

#[tokio::test]
async fn slow_in_place_writer_is_read_after_it_closes_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    // Truncate, then pause for three debounce periods before writing: reading after the quiet
    // debounce would see an empty file and report twice.
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&cert)
        .expect("open");
    std::thread::sleep(DEBOUNCE * 3);
    file.write_all(b"two").expect("write");
    drop(file);

    assert_eq!(next(&mut rx).await, cert);
    assert_quiet(&mut rx).await;
}

#[tokio::test]
async fn rename_over_the_file_is_reported_every_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let temp = dir.path().join(".cert.pem.tmp");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    // Twice: a watch on the file itself would have died with the first rename.
    for content in ["two", "three"] {
        write(&temp, content);
        fs::rename(&temp, &cert).expect("rename");
        assert_eq!(next(&mut rx).await, cert);
    }
    assert_quiet(&mut rx).await;
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
    assert_eq!(next(&mut rx).await, cert);
    assert_quiet(&mut rx).await;

    // The old target no longer matters; the new one is watched (re-resolved after the change).
    write(&archive.join("cert1.pem"), "one, changed");
    assert_quiet(&mut rx).await;
    write(&archive.join("cert2.pem"), "two, changed in place");
    assert_eq!(next(&mut rx).await, cert);

    // Re-pointed by unlink and symlink (certbot's own way), in a new archive directory.
    let archive3 = dir.path().join("archive/y");
    fs::create_dir_all(&archive3).expect("mkdir archive/y");
    write(&archive3.join("cert3.pem"), "three");
    fs::remove_file(&cert).expect("unlink");
    symlink("../../archive/y/cert3.pem", &cert).expect("symlink again");
    assert_eq!(next(&mut rx).await, cert);
    assert_quiet(&mut rx).await;
    write(&archive3.join("cert3.pem"), "three, changed in place");
    assert_eq!(
        next(&mut rx).await,
        cert,
        "the new target directory is watched"
    );
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
    assert_eq!(next(&mut rx).await, cert, "the removal is reported");
    fs::create_dir(&certs).expect("mkdir again");
    write(&cert, "two");
    assert_eq!(next(&mut rx).await, cert, "the new file is reported");
    assert_quiet(&mut rx).await;

    // The new directory is watched, not the removed one.
    write(&cert, "three");
    assert_eq!(next(&mut rx).await, cert);
}

#[tokio::test]
async fn directory_replaced_within_the_debounce_is_watched_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    fs::create_dir(&certs).expect("mkdir");
    let cert = certs.join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    // Replace the directory at once (whether this settles as one or two changes depends on the
    // scheduler; the last report must follow the final content).
    fs::remove_dir_all(&certs).expect("rmdir");
    fs::create_dir(&certs).expect("mkdir again");
    write(&cert, "two");
    assert_eq!(next(&mut rx).await, cert);
    let mut extra = 0;
    while let Ok(Some(path)) = timeout(QUIET, rx.recv()).await {
        assert_eq!(path, cert);
        extra += 1;
        assert!(extra < 2, "more reports than changes");
    }

    write(&cert, "three");
    assert_eq!(next(&mut rx).await, cert, "the new directory is watched");
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
    write(&cert, "one");
    assert_eq!(next(&mut rx).await, cert);

    write(&cert, "two");
    assert_eq!(next(&mut rx).await, cert, "its directory is watched now");
}

#[tokio::test]
async fn deleted_file_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "one");
    let (_watcher, mut rx) = start(&[&cert]);

    fs::remove_file(&cert).expect("rm");
    assert_eq!(next(&mut rx).await, cert);
    assert_quiet(&mut rx).await;

    // And its return is reported too.
    write(&cert, "one");
    assert_eq!(next(&mut rx).await, cert);
}

#[tokio::test]
async fn burst_of_writes_gives_one_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "start");
    let (_watcher, mut rx) = start(&[&cert]);

    // Ten writes, each well within the debounce of the previous one.
    for i in 0..10 {
        write(&cert, &format!("content {i}"));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(next(&mut rx).await, cert);
    assert_quiet(&mut rx).await;
}

#[tokio::test]
async fn rewrite_with_the_same_bytes_gives_no_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let temp = dir.path().join("cert.pem.tmp");
    write(&cert, "same");
    let (_watcher, mut rx) = start(&[&cert]);

    write(&cert, "same");
    write(&temp, "same");
    fs::rename(&temp, &cert).expect("rename");
    assert_quiet(&mut rx).await;

    // The watcher is alive: a real change still gets through.
    write(&cert, "different");
    assert_eq!(next(&mut rx).await, cert);
}

#[tokio::test]
async fn two_files_in_one_directory_are_reported_separately() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rsa = dir.path().join("rsa.pem");
    let ec = dir.path().join("ec.pem");
    write(&rsa, "rsa one");
    write(&ec, "ec one");
    let (_watcher, mut rx) = start(&[&rsa, &ec]);

    write(&ec, "ec two");
    assert_eq!(next(&mut rx).await, ec);
    assert_quiet(&mut rx).await;

    write(&rsa, "rsa two");
    write(&ec, "ec three");
    let both: BTreeSet<PathBuf> = [next(&mut rx).await, next(&mut rx).await].into();
    assert_eq!(both, [rsa, ec].into());
    assert_quiet(&mut rx).await;
}

#[tokio::test]
async fn more_changes_than_the_channel_holds_are_all_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let count = super::CHANNEL_CAPACITY + 6;
    let certs: Vec<PathBuf> = (0..count)
        .map(|i| dir.path().join(format!("cert{i}.pem")))
        .collect();
    for cert in &certs {
        write(cert, "one");
    }
    let refs: Vec<&Path> = certs.iter().map(PathBuf::as_path).collect();
    let (_watcher, mut rx) = start(&refs);

    for cert in &certs {
        write(cert, "two");
    }
    let mut seen = BTreeSet::new();
    for _ in 0..count {
        assert!(seen.insert(next(&mut rx).await), "a path reported twice");
    }
    assert_eq!(seen, certs.into_iter().collect());
    assert_quiet(&mut rx).await;
}

#[tokio::test]
async fn rescan_catches_a_change_without_any_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "one");
    // The null backend delivers no events at all: only the rescan can see the change.
    let (_watcher, mut rx) = CertWatcher::start_with::<notify::NullWatcher>(
        vec![cert.clone()],
        DEBOUNCE,
        Duration::from_millis(100),
    )
    .expect("start");

    write(&cert, "two");
    assert_eq!(next(&mut rx).await, cert);
    assert_quiet(&mut rx).await;
}

#[tokio::test]
async fn drop_stops_the_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let (watcher, mut rx) = start(&[&cert]);
    assert!(!watcher.is_finished());

    drop(watcher);
    // The sender lives on the thread: the channel closes only when the thread has ended.
    assert_eq!(
        timeout(WAIT, rx.recv()).await.expect("closed in time"),
        None
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
