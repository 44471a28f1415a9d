//! Tests of the control socket: a fake manager (a task answering [`Command`]s) behind a real
//! socket in a temporary directory, driven by the blocking client and by raw JSON lines.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use daned_sign::hickory_proto::rr::Name;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::*;
use crate::events::manager::{Command, CommandError, ReloadOutcome, ReloadReport, ZoneReloaded};
use crate::status::{BindingStatus, KeyStatus, StatusReport, ZoneStatus};

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn binding(name: &str, state: &str, ready_at: Option<u32>, ready: bool) -> BindingStatus {
    BindingStatus {
        name: name.to_owned(),
        certificate: format!("/etc/ssl/{name}.pem"),
        owners: vec![format!("_25._tcp.{name}.example.com.")],
        state: state.to_owned(),
        records: vec![
            "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6".to_owned(),
        ],
        ready_at,
        ready,
        last_error: None,
        waiting: None,
        ..Default::default()
    }
}

fn zone(origin: &str, bindings: Vec<BindingStatus>) -> ZoneStatus {
    ZoneStatus {
        origin: origin.to_owned(),
        serial: 2024061501,
        keys: vec![KeyStatus {
            key_tag: 12345,
            algorithm: "ecdsap256sha256".to_owned(),
            role: "csk".to_owned(),
            file: "/var/lib/daned/keys/Kexample.com.+013+12345.private".to_owned(),
            state: "active".to_owned(),
            since: "2024-06-15T00:00:00Z".to_owned(),
            ds: "seen".to_owned(),
            ds_since: Some("2024-06-15T00:00:00Z".to_owned()),
        }],
        earliest_expiration: Some(1_718_000_000),
        next_refresh: Some(1_717_000_000),
        bindings,
        last_error: None,
        certificate_errors: 0,
        unsafe_switches: 0,
        failed_updates: 0,
        validation_failures: 0,
        storage_error: None,
        signature_expiry_seconds: None,
        next_key_event: None,
        awaiting_ds: Vec::new(),
        secondaries: vec![],
        propagated_at: None,
        ..Default::default()
    }
}

fn report(zones: Vec<ZoneStatus>) -> StatusReport {
    StatusReport { zones }
}

/// A stand-in for the manager: answers Status with `status(n)` (n counts Status requests from
/// 1) and Reload with `reload`.
fn fake_manager(
    status: impl Fn(usize) -> StatusReport + Send + 'static,
    reload: Vec<(Name, ReloadOutcome)>,
) -> (mpsc::Sender<Command>, Arc<AtomicUsize>) {
    let report = ReloadReport {
        zones: reload
            .into_iter()
            .map(|(zone, outcome)| ZoneReloaded {
                zone,
                outcome,
                changed: Vec::new(),
                events: Vec::new(),
            })
            .collect(),
        restart_needed: Vec::new(),
    };
    fake_manager_with(status, move || Ok(report.clone()))
}

/// [`fake_manager`] answering Reload with `reload` as given.
fn fake_manager_with(
    status: impl Fn(usize) -> StatusReport + Send + 'static,
    reload: impl Fn() -> Result<ReloadReport, CommandError> + Send + 'static,
) -> (mpsc::Sender<Command>, Arc<AtomicUsize>) {
    let (tx, mut rx) = mpsc::channel(8);
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = polls.clone();
    tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            match command {
                Command::Reload { reply } => {
                    if let Some(reply) = reply {
                        let _ = reply.send(reload());
                    }
                }
                Command::Status { reply } => {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    let _ = reply.send(status(n));
                }
                Command::Keys { zone, reply } => {
                    let _ = reply.send(Err(CommandError::NoZone(zone)));
                }
                Command::KeyAction { zone, reply, .. } => {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(CommandError::NoZone(zone)));
                    }
                }
                Command::Probe { reply, .. } => {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    let _ = reply.send(Ok(status(n)));
                }
            }
        }
    });
    (tx, polls)
}

fn fast_options() -> ControlOptions {
    ControlOptions {
        idle_timeout: Duration::from_millis(300),
        poll_interval: Duration::from_millis(20),
    }
}

struct Server {
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ControlError>>,
}

impl Server {
    async fn stop(mut self) -> Result<(), ControlError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("the server task panicked")
    }
}

/// Starts a server at `path` and waits until its socket is in place.
async fn start_at(path: &Path, mode: u32, commands: mpsc::Sender<Command>) -> Server {
    let (stop, stopped) = oneshot::channel::<()>();
    let owned = path.to_path_buf();
    let task = tokio::spawn(async move {
        serve_control_with(
            &owned,
            mode,
            commands,
            async {
                let _ = stopped.await;
            },
            fast_options(),
        )
        .await
    });
    // Connectable means listening (a stale file at the path is not).
    let mut listening = false;
    for _ in 0..200 {
        if UnixStream::connect(path).await.is_ok() {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(listening, "the control socket never appeared");
    Server {
        path: path.to_path_buf(),
        stop: Some(stop),
        task,
    }
}

async fn start(dir: &TempDir, commands: mpsc::Sender<Command>) -> Server {
    start_at(&dir.path().join("control.sock"), DEFAULT_MODE, commands).await
}

/// One request through the blocking client, as the CLI makes it.
async fn ask(path: &Path, req: Request) -> Response {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || request(&path, &req, Duration::from_secs(5)))
        .await
        .expect("the client panicked")
        .expect("the exchange failed")
}

/// A raw connection, to send arbitrary bytes.
struct Raw {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Raw {
    async fn connect(path: &Path) -> Self {
        let (read, writer) = UnixStream::connect(path)
            .await
            .expect("connect")
            .into_split();
        Self {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// The next response line as JSON, or None at EOF.
    async fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(5), self.reader.read_line(&mut line))
            .await
            .expect("no response within 5 s")
            .expect("read");
        (n > 0).then(|| serde_json::from_str(&line).expect("response is JSON"))
    }
}

fn name(s: &str) -> Name {
    Name::from_str(s).expect("test name")
}

// ---------------------------------------------------------------------------------------------
// Requests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_answers_each_zones_outcome() {
    let outcomes = vec![
        (
            name("example.com."),
            ReloadOutcome::Changed {
                from: 1,
                to: 2,
                removed: 3,
                added: 4,
            },
        ),
        (
            name("example.org."),
            ReloadOutcome::Failed {
                serial: 7,
                error: "zone.db:3: bad TTL".to_owned(),
            },
        ),
        (name("example.net."), ReloadOutcome::Unchanged { serial: 9 }),
    ];
    let (tx, _) = fake_manager(|_| StatusReport::default(), outcomes);
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;

    let response = ask(&server.path, Request::Reload).await;
    let Response::Reloaded(answer) = &response else {
        panic!("expected a reload answer, got {response:?}");
    };
    let zones = &answer.zones;
    assert!(answer.restart_needed.is_empty());
    assert_eq!(zones.len(), 3);
    assert_eq!(zones[0].zone, "example.com.");
    assert_eq!(
        zones[0].outcome,
        ReloadOutcome::Changed {
            from: 1,
            to: 2,
            removed: 3,
            added: 4
        }
    );
    assert!(reload_failed(zones));

    // The wire form, as a script would read it.
    let mut raw = Raw::connect(&server.path).await;
    raw.send(b"{\"command\":\"reload\"}\n").await;
    let wire = raw.recv().await.expect("a response");
    assert_eq!(wire["ok"], json!(true));
    assert_eq!(
        wire["reload"][0],
        json!({"zone":"example.com.","outcome":"changed","from":1,"to":2,"removed":3,"added":4})
    );
    assert_eq!(
        wire["reload"][1],
        json!({"zone":"example.org.","outcome":"failed","serial":7,"error":"zone.db:3: bad TTL"})
    );
    assert_eq!(
        wire["reload"][2],
        json!({"zone":"example.net.","outcome":"unchanged","serial":9})
    );
    assert_eq!(wire.get("restart-needed"), None);
    server.stop().await.expect("clean stop");
}

/// A reload that changed settings: each zone names them, added and removed zones are told
/// apart, and the restart-only settings come back as `restart-needed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_answers_changed_settings_added_removed_and_restart_needed() {
    let report = ReloadReport {
        zones: vec![
            ZoneReloaded {
                zone: name("example.com."),
                outcome: ReloadOutcome::Changed {
                    from: 1,
                    to: 2,
                    removed: 10,
                    added: 12,
                },
                changed: vec!["signing.denial".to_owned()],
                events: Vec::new(),
            },
            ZoneReloaded {
                zone: name("new.example."),
                outcome: ReloadOutcome::Added { serial: 5 },
                changed: Vec::new(),
                events: Vec::new(),
            },
            ZoneReloaded {
                zone: name("old.example."),
                outcome: ReloadOutcome::Removed { serial: 8 },
                changed: Vec::new(),
                events: Vec::new(),
            },
        ],
        restart_needed: vec!["listen".to_owned()],
    };
    let (tx, _) = fake_manager_with(|_| StatusReport::default(), move || Ok(report.clone()));
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let mut raw = Raw::connect(&server.path).await;
    raw.send(b"{\"command\":\"reload\"}\n").await;
    let wire = raw.recv().await.expect("a response");
    assert_eq!(
        wire,
        json!({"ok": true, "reload": [
            {"zone":"example.com.","outcome":"changed","from":1,"to":2,"removed":10,"added":12,
             "changed":["signing.denial"]},
            {"zone":"new.example.","outcome":"added","serial":5},
            {"zone":"old.example.","outcome":"removed","serial":8},
        ], "restart-needed": ["listen"]})
    );
    let response = ask(&server.path, Request::Reload).await;
    let Response::Reloaded(answer) = &response else {
        panic!("expected a reload answer, got {response:?}");
    };
    assert_eq!(answer.restart_needed, ["listen"]);
    assert!(!reload_failed(&answer.zones));
    server.stop().await.expect("clean stop");
}

/// An invalid config file: the reload is refused with its error (file and line), as
/// `config-invalid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_an_invalid_config_answers_config_invalid() {
    let invalid = || {
        crate::config::Config::parse(
            "version = \"v1\"\n[server]\n[[zone]]\norigin = \"example.com.\"\n",
            std::path::Path::new("/etc/daned.toml"),
        )
        .expect_err("a zone without a file is invalid")
    };
    let error = invalid().to_string();
    assert!(error.contains("/etc/daned.toml"), "{error}");
    let (tx, _) = fake_manager_with(
        |_| StatusReport::default(),
        move || Err(CommandError::Config(invalid())),
    );
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let response = ask(&server.path, Request::Reload).await;
    assert_eq!(
        response,
        Response::Error {
            reason: ErrorReason::ConfigInvalid,
            message: error.clone(),
        }
    );
    let mut raw = Raw::connect(&server.path).await;
    raw.send(b"{\"command\":\"reload\"}\n").await;
    let wire = raw.recv().await.expect("a response");
    assert_eq!(
        wire,
        json!({"ok": false, "reason": "config-invalid", "error": error})
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_answers_the_managers_report() {
    let expected = report(vec![zone(
        "example.com.",
        vec![binding("mail", "staged", Some(1_700_000_000), false)],
    )]);
    let sent = expected.clone();
    let (tx, polls) = fake_manager(move |_| sent.clone(), vec![]);
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;

    assert_eq!(
        ask(&server.path, Request::Status).await,
        Response::Status(expected)
    );
    assert_eq!(polls.load(Ordering::SeqCst), 1);

    let mut raw = Raw::connect(&server.path).await;
    raw.send(b"{\"command\":\"status\"}\n").await;
    let wire = raw.recv().await.expect("a response");
    assert_eq!(wire["ok"], json!(true));
    assert_eq!(wire["status"]["zones"][0]["origin"], json!("example.com."));
    assert_eq!(
        wire["status"]["zones"][0]["bindings"][0]["ready-at"],
        json!(1_700_000_000)
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ready_answers_at_once_when_ready() {
    let (tx, polls) = fake_manager(
        |_| {
            report(vec![zone(
                "example.com.",
                vec![binding("mail", "ready", Some(1_700_000_000), true)],
            )])
        },
        vec![],
    );
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;

    let response = ask(
        &server.path,
        Request::WaitReady {
            binding: "mail".to_owned(),
            zone: None,
            timeout_secs: 60,
        },
    )
    .await;
    assert_eq!(
        response,
        Response::Ready(Ready {
            zone: "example.com.".to_owned(),
            binding: "mail".to_owned(),
            state: "ready".to_owned(),
            ready_at: Some(1_700_000_000),
        })
    );
    assert_eq!(polls.load(Ordering::SeqCst), 1, "one look was enough");
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ready_polls_until_ready() {
    // Staged for the first three looks, ready from the fourth.
    let (tx, polls) = fake_manager(
        |n| {
            let ready = n >= 4;
            let state = if ready { "ready" } else { "staged" };
            report(vec![zone(
                "example.com.",
                vec![binding("mail", state, Some(1_700_000_000), ready)],
            )])
        },
        vec![],
    );
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;

    // The zone is named in another spelling: case and the final dot do not matter.
    let response = ask(
        &server.path,
        Request::WaitReady {
            binding: "mail".to_owned(),
            zone: Some("Example.COM".to_owned()),
            timeout_secs: 30,
        },
    )
    .await;
    let Response::Ready(ready) = response else {
        panic!("expected ready, got {response:?}");
    };
    assert_eq!(ready.state, "ready");
    assert_eq!(polls.load(Ordering::SeqCst), 4);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ready_unknown_or_ambiguous_binding() {
    let (tx, polls) = fake_manager(
        |_| {
            report(vec![
                zone(
                    "example.com.",
                    vec![binding("mail", "ready", Some(1), true)],
                ),
                zone("example.org.", vec![binding("mail", "steady", None, false)]),
            ])
        },
        vec![],
    );
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let wait = |binding: &str, zone: Option<&str>| Request::WaitReady {
        binding: binding.to_owned(),
        zone: zone.map(str::to_owned),
        timeout_secs: 30,
    };

    let Response::Error { reason, message } = ask(&server.path, wait("web", None)).await else {
        panic!("expected an error");
    };
    assert_eq!(reason, ErrorReason::UnknownBinding);
    assert!(message.contains("web"), "{message}");

    let response = ask(&server.path, wait("mail", Some("example.net."))).await;
    assert!(
        matches!(
            response,
            Response::Error {
                reason: ErrorReason::UnknownBinding,
                ..
            }
        ),
        "{response:?}"
    );

    let Response::Error { reason, message } = ask(&server.path, wait("mail", None)).await else {
        panic!("expected an error");
    };
    assert_eq!(reason, ErrorReason::AmbiguousBinding);
    assert!(
        message.contains("example.com.") && message.contains("example.org."),
        "{message}"
    );

    // Naming the zone resolves it.
    let response = ask(&server.path, wait("mail", Some("example.com."))).await;
    assert!(matches!(response, Response::Ready(_)), "{response:?}");
    // Each of the four looked once: none of them waited.
    assert_eq!(polls.load(Ordering::SeqCst), 4);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ready_without_a_staged_key_fails_at_once() {
    let (tx, polls) = fake_manager(
        |_| {
            report(vec![zone(
                "example.com.",
                vec![binding("mail", "steady", None, false)],
            )])
        },
        vec![],
    );
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let started = Instant::now();
    let response = ask(
        &server.path,
        Request::WaitReady {
            binding: "mail".to_owned(),
            zone: None,
            timeout_secs: 60,
        },
    )
    .await;
    assert!(
        matches!(
            response,
            Response::Error {
                reason: ErrorReason::NotStaged,
                ..
            }
        ),
        "{response:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ready_times_out() {
    let ready_at = 1_900_000_000;
    let (tx, polls) = fake_manager(
        move |_| {
            report(vec![zone(
                "example.com.",
                vec![binding("mail", "staged", Some(ready_at), false)],
            )])
        },
        vec![],
    );
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let started = Instant::now();
    let response = ask(
        &server.path,
        Request::WaitReady {
            binding: "mail".to_owned(),
            zone: None,
            timeout_secs: 1,
        },
    )
    .await;
    let elapsed = started.elapsed();
    let Response::Error { reason, message } = response else {
        panic!("expected a timeout, got {response:?}");
    };
    assert_eq!(reason, ErrorReason::Timeout);
    assert!(message.contains(&format_utc(ready_at)), "{message}");
    assert!(
        elapsed >= Duration::from_secs(1),
        "answered early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(4),
        "answered late: {elapsed:?}"
    );
    // Polled every 20 ms for a second: many looks, not one and not thousands.
    let n = polls.load(Ordering::SeqCst);
    assert!((5..=60).contains(&n), "{n} polls");
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_gone_is_reported_not_hung() {
    let (tx, rx) = mpsc::channel::<Command>(1);
    drop(rx);
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    for req in [Request::Status, Request::Reload] {
        let response = ask(&server.path, req).await;
        assert!(
            matches!(
                response,
                Response::Error {
                    reason: ErrorReason::Unavailable,
                    ..
                }
            ),
            "{response:?}"
        );
    }
    server.stop().await.expect("clean stop");
}

// ---------------------------------------------------------------------------------------------
// Bad clients.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_an_error_and_the_connection_stays_usable() {
    let (tx, _) = fake_manager(|_| StatusReport::default(), vec![]);
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let mut raw = Raw::connect(&server.path).await;

    for bad in [
        &b"this is not json\n"[..],
        b"{\"command\":\"explode\"}\n",
        b"{\"verb\":\"status\"}\n",
        b"[1,2,3]\n",
        b"\n",
        b"\xff\xfe\n",
        // A misspelt field is refused rather than silently ignored.
        b"{\"command\":\"wait-ready\",\"binding\":\"mail\",\"timeout_secs\":5}\n",
        b"{\"command\":\"wait-ready\"}\n",
    ] {
        raw.send(bad).await;
        let wire = raw
            .recv()
            .await
            .expect("a response, not a closed connection");
        assert_eq!(wire["ok"], json!(false), "{bad:?}");
        assert_eq!(wire["reason"], json!("bad-request"), "{bad:?}");
        assert!(wire["error"].is_string(), "{bad:?}");
    }
    // Still the same connection, still answering.
    raw.send(b"{\"command\":\"status\"}\n").await;
    let wire = raw.recv().await.expect("a response");
    assert_eq!(wire, json!({"ok": true, "status": {"zones": []}}));
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_closed_client_still_gets_its_answers() {
    // As `nc -N` or socat send a script's requests: write, shut the write side, read.
    let (tx, _) = fake_manager(|_| StatusReport::default(), vec![]);
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let mut raw = Raw::connect(&server.path).await;
    // Two requests in one write; the last one without its newline.
    raw.send(b"{\"command\":\"status\"}\n{\"command\":\"reload\"}")
        .await;
    raw.writer.shutdown().await.expect("shutdown");
    assert_eq!(
        raw.recv().await.expect("a response"),
        json!({"ok": true, "status": {"zones": []}})
    );
    assert_eq!(
        raw.recv().await.expect("a response"),
        json!({"ok": true, "reload": []})
    );
    assert!(raw.recv().await.is_none(), "then the server closes");
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_line_limit_is_64_kib() {
    let (tx, _) = fake_manager(|_| StatusReport::default(), vec![]);
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;

    // Exactly the limit (whitespace padding is valid JSON): answered.
    let request = b"{\"command\":\"status\"}";
    let mut line = request.to_vec();
    line.resize(MAX_REQUEST_LINE, b' ');
    line.push(b'\n');
    let mut raw = Raw::connect(&server.path).await;
    raw.send(&line).await;
    assert_eq!(raw.recv().await.expect("a response")["ok"], json!(true));

    // One byte more: refused, and the connection is closed cleanly.
    let mut line = request.to_vec();
    line.resize(MAX_REQUEST_LINE + 1, b' ');
    line.push(b'\n');
    raw.send(&line).await;
    let wire = raw.recv().await.expect("a response");
    assert_eq!(wire["ok"], json!(false));
    assert_eq!(wire["reason"], json!("bad-request"));
    assert!(
        raw.recv().await.is_none(),
        "the connection should be closed"
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_is_dropped_after_the_idle_timeout() {
    let (tx, _) = fake_manager(|_| StatusReport::default(), vec![]);
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let started = Instant::now();
    let mut raw = Raw::connect(&server.path).await;
    let wire = raw.recv().await.expect("an idle notice");
    assert_eq!(wire["ok"], json!(false));
    assert_eq!(wire["reason"], json!("idle"));
    assert!(
        raw.recv().await.is_none(),
        "the connection should be closed"
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

    // A half-sent request counts as silence too.
    let mut raw = Raw::connect(&server.path).await;
    raw.send(b"{\"command\":").await;
    assert_eq!(
        raw.recv().await.expect("an idle notice")["reason"],
        json!("idle")
    );
    server.stop().await.expect("clean stop");
}

// ---------------------------------------------------------------------------------------------
// The socket file.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_is_0600_by_default_and_configurable() {
    let (tx, _) = fake_manager(|_| StatusReport::default(), vec![]);
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx.clone()).await;
    let mode = std::fs::metadata(&server.path)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    assert!(
        std::fs::metadata(&server.path)
            .expect("socket")
            .file_type()
            .is_socket()
    );
    server.stop().await.expect("clean stop");

    let server = start_at(&dir.path().join("group.sock"), 0o660, tx).await;
    let mode = std::fs::metadata(&server.path)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660, "mode {mode:o}");
    // Nothing else was left in the directory (the private staging directory is gone).
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("group.sock")]);
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_removes_the_socket() {
    let (tx, _) = fake_manager(|_| StatusReport::default(), vec![]);
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let path = server.path.clone();
    // A connection that is open at shutdown does not keep the server running.
    let _raw = Raw::connect(&path).await;
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("stopped within 5 s")
        .expect("clean stop");
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_socket_is_replaced() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("control.sock");
    // A socket file nobody listens on any more, as a crashed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());

    let (tx, _) = fake_manager(|_| StatusReport::default(), vec![]);
    let server = start_at(&path, DEFAULT_MODE, tx).await;
    assert_eq!(
        ask(&path, Request::Status).await,
        Response::Status(StatusReport::default())
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_socket_is_refused() {
    let (tx, _) = fake_manager(|_| StatusReport::default(), vec![]);
    let dir = TempDir::new().expect("tempdir");
    let first = start(&dir, tx.clone()).await;

    let second = serve_control(&first.path, DEFAULT_MODE, tx.clone(), async {}).await;
    assert!(
        matches!(second, Err(ControlError::AlreadyRunning { .. })),
        "{second:?}"
    );
    // The first server is untouched and still answers.
    assert_eq!(
        ask(&first.path, Request::Status).await,
        Response::Status(StatusReport::default())
    );
    first.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn something_else_at_the_path_is_left_alone() {
    let (tx, _) = fake_manager(|_| StatusReport::default(), vec![]);
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("control.sock");
    std::fs::write(&path, b"precious").expect("write");
    let result = serve_control(&path, DEFAULT_MODE, tx, async {}).await;
    assert!(
        matches!(result, Err(ControlError::NotASocket { .. })),
        "{result:?}"
    );
    assert_eq!(std::fs::read(&path).expect("read"), b"precious");
}

#[test]
fn client_reports_a_missing_daemon() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("control.sock");
    let result = request(&path, &Request::Status, Duration::from_secs(1));
    let Err(error @ ControlError::NotRunning { .. }) = result else {
        panic!("expected NotRunning, got {result:?}");
    };
    let ControlError::NotRunning { source, .. } = &error else {
        unreachable!()
    };
    assert_eq!(source.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        error.to_string(),
        format!(
            "daned is not running: nothing listens on the control socket {} \
             (No such file or directory (os error 2))",
            path.display()
        )
    );
}

#[test]
fn client_times_out_on_a_silent_server() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("control.sock");
    // Accepts (the backlog does) but never answers.
    let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let started = std::time::Instant::now();
    let result = request(&path, &Request::Status, Duration::from_millis(300));
    assert!(
        matches!(result, Err(ControlError::Timeout { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(3));
}

// ---------------------------------------------------------------------------------------------
// The wire form.

#[test]
fn requests_encode_as_documented() {
    assert_eq!(
        serde_json::to_value(Request::Reload).expect("json"),
        json!({"command": "reload"})
    );
    assert_eq!(
        serde_json::to_value(Request::WaitReady {
            binding: "mail".to_owned(),
            zone: Some("example.com.".to_owned()),
            timeout_secs: 600
        })
        .expect("json"),
        json!({"command": "wait-ready", "binding": "mail", "zone": "example.com.", "timeout-secs": 600})
    );
    // Zone and timeout are optional.
    assert_eq!(
        serde_json::from_str::<Request>(r#"{"command":"wait-ready","binding":"mail"}"#)
            .expect("parse"),
        Request::WaitReady {
            binding: "mail".to_owned(),
            zone: None,
            timeout_secs: 0
        }
    );
}

#[test]
fn responses_round_trip_and_reject_malformed_ones() {
    let responses = [
        Response::Reloaded(ReloadAnswer {
            zones: vec![ZoneReload {
                zone: "example.com.".to_owned(),
                outcome: ReloadOutcome::Unchanged { serial: 3 },
                changed: vec!["tlsa".to_owned()],
                events: Vec::new(),
            }],
            restart_needed: vec!["key-dir".to_owned()],
        }),
        Response::Status(report(vec![zone("example.com.", vec![])])),
        Response::Ready(Ready {
            zone: "example.com.".to_owned(),
            binding: "mail".to_owned(),
            state: "ready".to_owned(),
            ready_at: None,
        }),
        Response::Error {
            reason: ErrorReason::Timeout,
            message: "too slow".to_owned(),
        },
    ];
    for response in responses {
        let text = serde_json::to_string(&response).expect("json");
        assert_eq!(
            serde_json::from_str::<Response>(&text).expect("parse"),
            response,
            "{text}"
        );
    }
    assert_eq!(
        serde_json::to_value(Response::Error {
            reason: ErrorReason::NotStaged,
            message: "m".to_owned()
        })
        .expect("json"),
        json!({"ok": false, "reason": "not-staged", "error": "m"})
    );
    // ok:true needs exactly one payload.
    assert!(serde_json::from_str::<Response>(r#"{"ok":true}"#).is_err());
    assert!(
        serde_json::from_str::<Response>(r#"{"ok":true,"reload":[],"status":{"zones":[]}}"#)
            .is_err()
    );
    // A reason from a newer server still reads.
    assert_eq!(
        serde_json::from_str::<Response>(r#"{"ok":false,"reason":"quota","error":"x"}"#)
            .expect("parse"),
        Response::Error {
            reason: ErrorReason::Other,
            message: "x".to_owned()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Rendering.

#[test]
fn utc_dates() {
    assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
    // 2000 is a leap year (divisible by 400): 29 February exists.
    assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(format_utc(u32::MAX), "2106-02-07T06:28:15Z");
}

#[test]
fn relative_times() {
    let now = 1_000_000;
    assert_eq!(format_relative(now, now), "now");
    assert_eq!(format_relative(now + 42, now), "in 42s");
    assert_eq!(format_relative(now + 42 * 60 + 5, now), "in 42m");
    assert_eq!(format_relative(now + 3 * 3600, now), "in 3h");
    assert_eq!(format_relative(now + 3 * 3600 + 5 * 60, now), "in 3h 5m");
    assert_eq!(
        format_relative(now + 2 * 86_400 + 4 * 3600, now),
        "in 2d 4h"
    );
    assert_eq!(format_relative(now - 90, now), "1m ago");
}

#[test]
fn status_is_rendered_with_dates_and_states() {
    let now = 1_700_000_000;
    let mut staged = binding("mail", "staged", Some(now + 42 * 60), false);
    staged.last_error = Some("next.pem: no such file".to_owned());
    let role = |record: &str, role: &str, until: Option<u32>| crate::status::RecordRole {
        record: format!("3 1 1 {record}"),
        role: role.to_owned(),
        until,
    };
    staged.roles = vec![
        role("0c72ac70", "current", None),
        role("9f4e1b22", "next", None),
        role("77aa0d01", "old", Some(now + 600)),
    ];
    let mut zone = zone(
        "example.com.",
        vec![staged, binding("web", "steady", None, false)],
    );
    zone.earliest_expiration = Some(now + 14 * 86_400);
    zone.next_refresh = None;
    zone.next_key_event = Some(crate::status::KeyEvent {
        at: 1_700_006_400,
        at_utc: "2023-11-15T00:00:00Z".to_owned(),
        what: "key 12345 (csk) active -> retired".to_owned(),
    });
    zone.awaiting_ds = vec![23456];
    let mut out = Vec::new();
    render_status_at(&report(vec![zone]), now, &mut out).expect("render");
    let text = String::from_utf8(out).expect("utf-8");
    let expected = "\
zone example.com.
  serial        2024061501
  keys          12345 ecdsap256sha256 csk active (/var/lib/daned/keys/Kexample.com.+013+12345.private)
  next key step 2023-11-15T00:00:00Z (in 1h 46m): key 12345 (csk) active -> retired
  awaiting DS   23456 (once the parent serves it: daned ds-seen example.com. 23456)
  signed until  2023-11-28T22:13:20Z (in 14d)
  next refresh  -
  last error    -
  binding mail
    state       staged
    certificate /etc/ssl/mail.pem
    owners      _25._tcp.mail.example.com.
    records     current  3 1 1 0c72ac70
                next     3 1 1 9f4e1b22
                old until 2023-11-14T22:23:20Z (in 10m)  3 1 1 77aa0d01
    ready at    2023-11-14T22:55:20Z (in 42m)
    probe       off
    last error  next.pem: no such file
  binding web
    state       steady
    certificate /etc/ssl/web.pem
    owners      _25._tcp.web.example.com.
    records     3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6
    ready at    - (no next key staged)
    probe       off
    last error  -
";
    assert_eq!(text, expected);

    let mut out = Vec::new();
    render_status_at(&StatusReport::default(), now, &mut out).expect("render");
    assert_eq!(out, b"no zones\n");
}

#[test]
fn reload_is_rendered_one_line_per_zone() {
    let zones = vec![
        ZoneReload {
            zone: "example.com.".to_owned(),
            outcome: ReloadOutcome::Changed {
                from: 1,
                to: 2,
                removed: 3,
                added: 4,
            },
            changed: Vec::new(),
            events: Vec::new(),
        },
        ZoneReload {
            zone: "ex.org.".to_owned(),
            outcome: ReloadOutcome::Failed {
                serial: 7,
                error: "zone.db:3: bad TTL".to_owned(),
            },
            changed: Vec::new(),
            events: Vec::new(),
        },
        ZoneReload {
            zone: "ex.net.".to_owned(),
            outcome: ReloadOutcome::Unchanged { serial: 9 },
            changed: vec!["allow-transfer".to_owned(), "journal".to_owned()],
            events: Vec::new(),
        },
        ZoneReload {
            zone: "new.example.".to_owned(),
            outcome: ReloadOutcome::Added { serial: 1 },
            changed: Vec::new(),
            events: Vec::new(),
        },
        ZoneReload {
            zone: "bad.example.".to_owned(),
            outcome: ReloadOutcome::NotAdded {
                error: "bad.db:1: no SOA".to_owned(),
            },
            changed: Vec::new(),
            events: Vec::new(),
        },
        ZoneReload {
            zone: "old.example.".to_owned(),
            outcome: ReloadOutcome::Removed { serial: 4 },
            changed: Vec::new(),
            events: Vec::new(),
        },
    ];
    let answer = ReloadAnswer {
        zones: zones.clone(),
        restart_needed: vec!["listen".to_owned(), "state-dir".to_owned()],
    };
    let mut out = Vec::new();
    render_reload(&answer, &mut out).expect("render");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "\
example.com.  changed    serial 1 -> 2 (3 records removed, 4 added)
ex.org.       FAILED     serial 7 still served: zone.db:3: bad TTL
ex.net.       unchanged  serial 9
              settings changed: allow-transfer, journal
new.example.  added      serial 1
bad.example.  FAILED     not added, not served: bad.db:1: no SOA
old.example.  removed    no longer served (was serial 4; state and keys stay)
warning: changed settings need a restart to take effect (the running values stay): listen, state-dir
"
    );
    assert!(reload_failed(&zones[4..5]));
    assert!(reload_failed(&zones));
    assert!(!reload_failed(&zones[..1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc7671_s8_1_wait_ready_keeps_waiting_while_secondaries_lag() {
    // A staged key whose wait has not started (a secondary does not serve it) has no ready_at
    // yet; wait-ready must keep waiting, not answer "not staged".
    let (tx, polls) = fake_manager(
        |n| {
            let mut mail = binding("mail", "staged", None, false);
            if n < 3 {
                mail.waiting = Some("waiting for secondaries: 192.0.2.2:53 at serial 6".into());
            } else {
                mail.state = "ready".into();
                mail.ready_at = Some(1_700_000_000);
                mail.ready = true;
            }
            report(vec![zone("example.com.", vec![mail])])
        },
        vec![],
    );
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let response = ask(
        &server.path,
        Request::WaitReady {
            binding: "mail".to_owned(),
            zone: None,
            timeout_secs: 30,
        },
    )
    .await;
    assert!(matches!(response, Response::Ready(_)), "{response:?}");
    assert_eq!(polls.load(Ordering::SeqCst), 3);
    server.stop().await.expect("clean stop");

    // And a timeout says why.
    let (tx, _) = fake_manager(
        |_| {
            let mut mail = binding("mail", "staged", None, false);
            mail.waiting = Some("waiting for secondaries: 192.0.2.2:53 at serial 6".into());
            report(vec![zone("example.com.", vec![mail])])
        },
        vec![],
    );
    let dir = TempDir::new().expect("tempdir");
    let server = start(&dir, tx).await;
    let response = ask(
        &server.path,
        Request::WaitReady {
            binding: "mail".to_owned(),
            zone: None,
            timeout_secs: 1,
        },
    )
    .await;
    let Response::Error { reason, message } = response else {
        panic!("expected a timeout, got {response:?}");
    };
    assert_eq!(reason, ErrorReason::Timeout);
    assert!(message.contains("192.0.2.2:53 at serial 6"), "{message}");
    server.stop().await.expect("clean stop");
}

#[test]
fn status_shows_secondaries_and_why_a_binding_waits() {
    let now = 1_700_000_000;
    let mut mail = binding("mail", "staged", None, false);
    mail.waiting =
        Some("waiting for secondaries: 192.0.2.3:53 at serial 6 (no answer within 5 s)".into());
    let mut zone = zone("example.com.", vec![mail]);
    zone.secondaries = vec![
        crate::status::SecondaryStatus {
            address: "192.0.2.2:53".into(),
            serial: Some(2024061501),
            seen_at: Some(now - 10),
            lag: 0,
            last_notify: Some("serial 2024061501 acknowledged".into()),
            notify_unanswered: 0,
            last_error: None,
        },
        crate::status::SecondaryStatus {
            address: "192.0.2.3:53".into(),
            serial: Some(6),
            seen_at: Some(now - 600),
            lag: 125,
            last_notify: Some("serial 2024061501 unanswered".into()),
            notify_unanswered: 1,
            last_error: Some("no answer within 5 s".into()),
        },
    ];
    let mut out = Vec::new();
    render_status_at(&report(vec![zone]), now, &mut out).expect("render");
    let text = String::from_utf8(out).expect("utf-8");
    for line in [
        "  secondaries   192.0.2.2:53 serial 2024061501 lag 0s notify serial 2024061501 acknowledged",
        "                192.0.2.3:53 serial 6 lag 2m notify serial 2024061501 unanswered error no answer within 5 s",
        "  propagated    - (not every secondary serves this serial)",
        "    ready at    - (waiting for secondaries: 192.0.2.3:53 at serial 6 (no answer within 5 s))",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}
