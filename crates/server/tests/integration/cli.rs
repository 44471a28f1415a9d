//! The command line: `check`, `tlsa` and bad input.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::{Workspace, daned_bin, output_text, repo_root};

#[test]
fn check_accepts_the_example_config() {
    let ws = Workspace::example();
    let out = ws.daned(&["check"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(output_text(&out).contains("ok"), "{}", output_text(&out));
}

#[test]
fn the_shipped_make_run_config_checks() {
    let out = Command::new(daned_bin())
        .args(["check", "-c"])
        .arg(repo_root().join("etc/daned.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
}

/// A zone file error is reported as file:line by both `check` and `serve`, which exit non-zero.
#[test]
fn zone_file_error_names_file_and_line() {
    let ws = Workspace::example();
    let zone = ws.path("example.com.zone");
    let original = std::fs::read_to_string(&zone).unwrap();
    let broken = original.replace("192.0.2.53", "192.0.2.530");
    std::fs::write(&zone, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("192.0.2.530"))
        .unwrap()
        + 1;
    let needle = format!("example.com.zone:{line}:");
    for cmd in ["check", "serve"] {
        let out = ws.daned(&[cmd]);
        assert!(!out.status.success(), "{cmd} succeeded on a broken zone");
        assert!(
            output_text(&out).contains(&needle),
            "{cmd}: no {needle:?} in:\n{}",
            output_text(&out)
        );
    }
}

/// A garbage certificate is an error naming the certificate file for `check`; `serve` starts
/// anyway, even the very first time (issue 11: one missing or broken certificate must not keep
/// every zone from being served), with the binding reporting the error and publishing nothing.
#[test]
fn garbage_certificate_is_an_error() {
    let ws = Workspace::example();
    std::fs::write(
        ws.path("certs/mail.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    )
    .unwrap();
    let out = ws.daned(&["check"]);
    assert!(
        !out.status.success(),
        "check accepted a garbage certificate"
    );
    assert!(
        output_text(&out).contains("certs/mail.pem"),
        "check:\n{}",
        output_text(&out)
    );
    let server = ws.serve();
    let out = ws.daned(&["status", "--json"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let binding = &status["zones"][0]["bindings"][0];
    assert!(
        binding["last-error"]
            .as_str()
            .is_some_and(|e| e.contains("certs/mail.pem")),
        "{status}"
    );
    assert_eq!(binding["records"], serde_json::json!([]), "{status}");
    server.stop();
}

/// Issue 11, failure 5: `check` refuses what `serve` refuses: a key file the zone's key records
/// need is missing (exit non-zero, naming the file).
#[test]
fn missing_active_key_file_fails_check_like_serve() {
    let ws = Workspace::example();
    ws.serve().stop();
    let key = std::fs::read_dir(ws.path("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pem"))
        .expect("a key was created");
    let out = ws.daned(&["check"]);
    assert!(out.status.success(), "{}", output_text(&out));
    std::fs::remove_file(&key).unwrap();
    for cmd in ["check", "serve"] {
        let out = ws.daned(&[cmd]);
        assert!(!out.status.success(), "{cmd} accepted a missing key");
        let t = output_text(&out);
        assert!(
            t.contains(key.to_str().unwrap()) && t.contains("(active) is missing"),
            "{cmd}:\n{t}"
        );
    }
}

/// A private key readable by others is refused, by `check` and `serve`, naming the file.
#[test]
fn world_readable_key_is_refused() {
    let ws = Workspace::example();
    ws.serve().stop();
    let key = std::fs::read_dir(ws.path("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pem"))
        .expect("a key was created");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    for cmd in ["check", "serve"] {
        let out = ws.daned(&[cmd]);
        assert!(!out.status.success(), "{cmd} accepted a world-readable key");
        let t = output_text(&out);
        assert!(
            t.contains(key.file_name().unwrap().to_str().unwrap()) && t.contains("chmod 600"),
            "{cmd}:\n{t}"
        );
    }
}

/// An unreadable (garbage) key file is an error too.
#[test]
fn garbage_key_is_refused() {
    let ws = Workspace::example();
    ws.serve().stop();
    let key = std::fs::read_dir(ws.path("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pem"))
        .unwrap();
    std::fs::write(&key, "garbage").unwrap();
    for cmd in ["check", "serve"] {
        let out = ws.daned(&[cmd]);
        assert!(!out.status.success(), "{cmd} accepted a garbage key");
        assert!(
            output_text(&out).contains(key.file_name().unwrap().to_str().unwrap()),
            "{cmd}:\n{}",
            output_text(&out)
        );
    }
}

/// An unknown config key is rejected with the file named.
#[test]
fn unknown_config_key_is_rejected() {
    let ws = Workspace::example();
    ws.write_config("bogus-key = 1\n");
    let out = ws.daned(&["check"]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("daned.toml"),
        "{}",
        output_text(&out)
    );
}

/// `daned tlsa` prints the record the openssl pipeline computes (see interop.rs).
#[test]
fn tlsa_command_matches_openssl() {
    let out = Command::new(daned_bin())
        .arg("tlsa")
        .arg(repo_root().join("zones/certs/mail.example.com.pem"))
        .args(["--name", "_25._tcp.mail.example.com."])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let t = output_text(&out);
    assert!(t.contains("_25._tcp.mail.example.com."), "{t}");
    assert!(t.contains("TLSA"), "{t}");
    assert!(
        t.to_lowercase()
            .contains("3 1 1 e2444d4528ff160fea0a3428219237485048927b291f1d5e2f95c12e6935564f"),
        "{t}"
    );
}
