//! Issue 11, failures 3 and 8: bounded input. `$INCLUDE` of a device or a FIFO is refused at
//! once by `daned check` and by a reload of a running server (which keeps serving its last
//! good zone and answers `daned status`); a wide control socket mode needs `control-insecure`.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use daned_sign::hickory_proto::op::{Message, MessageType, OpCode, Query};
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};

use crate::support::{Workspace, daned_bin, run_bounded};

/// What a command refused "at once" must finish within (the bug: 13.4 GB in 32 s, or never).
const AT_ONCE: Duration = Duration::from_secs(30);

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// `daned ARGS -c daned.toml`, killed (and the test failed) if it takes longer than `AT_ONCE`.
fn daned_bounded(ws: &Workspace, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(daned_bin());
    cmd.args(args)
        .arg("-c")
        .arg(ws.config())
        .current_dir(ws.dir.path());
    let started = Instant::now();
    let (status, text) = run_bounded(&mut cmd, AT_ONCE);
    eprintln!("daned {args:?}: {:?}\n{text}", started.elapsed());
    (status.success(), text)
}

/// Appends `line` to the example zone file; returns its line number.
fn append_to_zone(ws: &Workspace, line: &str) -> usize {
    let path = ws.path("example.com.zone");
    let mut text = std::fs::read_to_string(&path).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    std::fs::write(&path, &text).unwrap();
    text.lines().count()
}

/// The SOA serial served at `addr` for example.com (UDP, retried, bounded).
fn served_serial(addr: SocketAddr) -> u32 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut message = Message::new(0x5a11, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(
        Name::from_ascii("example.com.").unwrap(),
        RecordType::SOA,
    ));
    let wire = message.to_vec().unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..10 {
        socket.send_to(&wire, addr).unwrap();
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let response = Message::from_vec(&buf[..n]).expect("response decodes");
        if let Some(RData::SOA(soa)) = response.answers.first().map(|r| &r.data) {
            return soa.serial;
        }
    }
    panic!("no SOA answer from {addr}");
}

/// The serial `daned status --json` reports for the zone.
fn status_serial(ws: &Workspace) -> u64 {
    let (ok, text) = daned_bounded(ws, &["status", "--json"]);
    assert!(ok, "daned status failed: {text}");
    let json = &text[text.find('{').expect("JSON in the status output")..];
    let report: serde_json::Value =
        serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    report["zones"][0]["serial"]
        .as_u64()
        .unwrap_or_else(|| panic!("no serial in {report}"))
}

/// Issue 11, failure 3: `$INCLUDE /dev/zero` took `daned check` to 13.4 GB. Refused at once
/// naming the include line: outside the zone's directory by default, and as a device when
/// `include-dirs` opens `/dev`.
#[test]
fn check_refuses_include_of_dev_zero_at_once() {
    let ws = Workspace::example();
    let line = append_to_zone(&ws, "$INCLUDE /dev/zero");
    let needle = format!("example.com.zone:{line}: $INCLUDE /dev/zero: ");
    let (ok, text) = daned_bounded(&ws, &["check"]);
    assert!(!ok, "check accepted $INCLUDE /dev/zero:\n{text}");
    assert!(
        text.contains(&needle) && text.contains("outside the directories includes may read"),
        "no {needle:?} in:\n{text}"
    );
    let server = "[server]\nlisten = [\"127.0.0.1:0\"]\n";
    let config = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(
        ws.config(),
        config.replace(server, &format!("{server}include-dirs = [\"/dev\"]\n")),
    )
    .unwrap();
    let (ok, text) = daned_bounded(&ws, &["check"]);
    assert!(!ok, "check accepted $INCLUDE /dev/zero:\n{text}");
    assert!(
        text.contains(&needle) && text.contains("is a character device, not a regular file"),
        "no {needle:?} in:\n{text}"
    );
}

/// Issue 11, failure 3: `$INCLUDE` of a FIFO blocked a running server's reload forever, and
/// status with it. `daned check` and `daned reload` now refuse it at once, naming the line;
/// the server keeps serving its last good version and answers `daned status`.
#[test]
fn include_of_a_fifo_is_refused_by_check_and_by_a_running_server() {
    let ws = Workspace::example();
    let server = ws.serve();
    let before = served_serial(server.addr);
    assert_eq!(status_serial(&ws), u64::from(before));

    mkfifo(&ws.path("pipe.inc"));
    let line = append_to_zone(&ws, "$INCLUDE pipe.inc");
    let needle = format!("example.com.zone:{line}: $INCLUDE ");
    let (ok, text) = daned_bounded(&ws, &["check"]);
    assert!(!ok, "check accepted a FIFO include:\n{text}");
    assert!(
        text.contains(&needle) && text.contains("is a FIFO"),
        "{text}"
    );

    let (ok, text) = daned_bounded(&ws, &["reload"]);
    assert!(!ok, "reload accepted a FIFO include:\n{text}");
    assert!(
        text.contains("is a FIFO"),
        "reload does not say why:\n{text}"
    );
    server.wait_log("is a FIFO", AT_ONCE);
    assert_eq!(served_serial(server.addr), before, "the last good zone");
    assert_eq!(status_serial(&ws), u64::from(before));

    // Once the include is gone, a reload works again.
    let path = ws.path("example.com.zone");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("$INCLUDE pipe.inc\n", "extra A 192.0.2.99\n"),
    )
    .unwrap();
    let (ok, text) = daned_bounded(&ws, &["reload"]);
    assert!(ok, "reload failed:\n{text}");
    assert!(served_serial(server.addr) > before);
    server.stop();
}

/// Issue 11, failure 8: `control-mode = "0666"` was accepted silently. It is refused, by
/// `check` and `serve`, unless `control-insecure = true` says it is meant.
#[test]
fn world_writable_control_socket_needs_control_insecure() {
    let ws = Workspace::example();
    let server = "[server]\nlisten = [\"127.0.0.1:0\"]\n";
    let config = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(
        ws.config(),
        config.replace(server, &format!("{server}control-mode = \"0666\"\n")),
    )
    .unwrap();
    for cmd in ["check", "serve"] {
        let (ok, text) = daned_bounded(&ws, &[cmd]);
        assert!(!ok, "{cmd} accepted control-mode 0666:\n{text}");
        assert!(
            text.contains("control-mode 0666 is wider than 0660")
                && text.contains("control-insecure"),
            "{cmd}:\n{text}"
        );
    }
    std::fs::write(
        ws.config(),
        config.replace(
            server,
            &format!("{server}control-mode = \"0666\"\ncontrol-insecure = true\n"),
        ),
    )
    .unwrap();
    let (ok, text) = daned_bounded(&ws, &["check"]);
    assert!(ok, "check refused control-insecure:\n{text}");
}
