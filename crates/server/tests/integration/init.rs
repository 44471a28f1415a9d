//! `daned init` (issue 13): from flags to a zone that validates.

use std::process::Command;
use std::time::Duration;

use crate::support::{Workspace, daned_bin, free_port, run, run_bounded, tool};

/// `daned init` writes a config and a zone skeleton that `daned serve` loads, and delv fully
/// validates the TLSA record from the DS that `daned ds` prints: the README's first steps.
#[test]
#[ignore = "needs delv"]
fn issue13_init_then_serve_then_delv_validates_the_tlsa() {
    let Some(delv) = tool("delv") else { return };
    // The workspace brings the demo certificate; init replaces its config (--force).
    let ws = Workspace::example();
    let port = free_port();
    let (status, text) = run_bounded(
        Command::new(daned_bin())
            .arg("init")
            .arg("-c")
            .arg(ws.config())
            .args(["--zone", "example.org", "--ns", "ns1=127.0.0.1"])
            .args(["--ns", "ns2.example.net."])
            .arg("--certificate")
            .arg(ws.path("certs/mail.pem"))
            .args(["--host", "mail", "--host-address", "192.0.2.25"])
            .args(["--port", "25", "--port", "587"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--key-dir")
            .arg(ws.path("keys"))
            .arg("--state-dir")
            .arg(ws.path("state"))
            .arg("--force"),
        Duration::from_secs(60),
    );
    assert!(status.success(), "daned init: {text}");
    assert!(text.contains("ok (1 zone)"), "daned init: {text}");
    let zone = std::fs::read_to_string(ws.path("example.org.zone")).unwrap();
    assert!(zone.contains("IN\tNS\tns2.example.net."), "{zone}");
    assert!(
        zone.contains("mail.example.org.\tIN\tA\t192.0.2.25"),
        "{zone}"
    );
    // The probe would connect to 192.0.2.25 (nobody's server): off for this test.
    let config = std::fs::read_to_string(ws.config()).unwrap() + "probe = false\n";
    std::fs::write(ws.config(), config).unwrap();

    // A second init does not replace a config that serves a zone.
    let again = ws.daned(&[
        "init",
        "--zone",
        "example.net",
        "--ns",
        "ns1.example.net",
        "--certificate",
        "certs/mail.pem",
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already serves 1 zone"));

    let server = ws.serve();
    assert_eq!(server.addr.port(), port);
    let anchors_out = ws.daned(&["ds", "--trust-anchor"]);
    assert!(anchors_out.status.success(), "{anchors_out:?}");
    let anchors = ws.path("anchors.conf");
    std::fs::write(&anchors, &anchors_out.stdout).unwrap();
    for (qname, qtype) in [
        ("_25._tcp.mail.example.org.", "TLSA"),
        ("_587._tcp.mail.example.org.", "TLSA"),
    ] {
        let (_, text) = run(Command::new(&delv)
            .args(["@127.0.0.1", "-p", &port.to_string(), "-a"])
            .arg(&anchors)
            .args(["+root=example.org.", "+tcp", "+nomtrace", qname, qtype]));
        assert!(
            text.contains("; fully validated") && text.contains("TLSA\t3 1 1"),
            "{qname} {qtype}: {text}"
        );
    }
    server.stop();
}
