//! Issue 10, item 5: a restart re-signs nothing that is still valid. `daned serve` stopped
//! with SIGTERM and started again serves the same SOA serial and byte-identical RRSIGs (read
//! with dig), and the journal goes on across the restart: an IXFR from the serial of before
//! is a difference, not a full transfer, after a certificate change while running and after
//! one while stopped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{Workspace, ixfr_soas, repo_root, run, tool};

const ORIGIN: &str = "example.com.";
const TLSA_OWNER: &str = "_25._tcp.mail.example.com.";

/// `dig +dnssec` answer section for `name`/`qtype`, one record per line, as served.
fn answer(dig: &Path, addr: SocketAddr, name: &str, qtype: &str) -> Vec<String> {
    let (ok, out) = run(Command::new(dig).args([
        &format!("@{}", addr.ip()),
        "-p",
        &addr.port().to_string(),
        name,
        qtype,
        "+dnssec",
        "+norec",
        "+noall",
        "+answer",
        "+tries=1",
        "+time=5",
    ]));
    assert!(ok, "dig {name} {qtype}: {out}");
    out.lines().map(str::to_owned).collect()
}

fn rrsigs(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.split_whitespace().nth(3) == Some("RRSIG"))
        .collect()
}

fn serial(dig: &Path, addr: SocketAddr) -> u32 {
    let lines = answer(dig, addr, ORIGIN, "SOA");
    lines
        .iter()
        .find(|l| l.split_whitespace().nth(3) == Some("SOA"))
        .and_then(|l| l.split_whitespace().nth(6))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SOA serial in {lines:#?}"))
}

/// Replaces the binding's certificate the way certbot does (a rename).
fn replace_certificate(ws: &Workspace, test_cert: &str) {
    let tmp = ws.path("certs/.mail.pem.new");
    std::fs::copy(
        repo_root()
            .join("crates/sign/tests/data/certs")
            .join(test_cert),
        &tmp,
    )
    .unwrap();
    std::fs::rename(&tmp, ws.path("certs/mail.pem")).unwrap();
}

/// RFC 4035 §5.3.1 and RFC 1995 §4: after SIGTERM and a new start the SOA serial and the
/// RRSIGs of the SOA and the TLSA RRset are byte-identical (ECDSA signatures are randomised:
/// equal bytes mean nothing was signed again); a certificate change after the restart is an
/// IXFR difference from the serial of before it; one made while stopped too.
#[test]
#[ignore = "needs dig"]
fn issue_10_restart_serves_the_same_rrsigs_and_ixfr_goes_on() {
    let Some(dig) = tool("dig") else { return };
    let ws = Workspace::example();
    ws.write_config_with_server(
        "watch-debounce-ms = 50",
        "allow-transfer = [{ prefix = \"127.0.0.1\" }]\n",
    );
    let server = ws.serve();
    let before = serial(&dig, server.addr);
    let soa = answer(&dig, server.addr, ORIGIN, "SOA");
    let tlsa = answer(&dig, server.addr, TLSA_OWNER, "TLSA");
    assert!(!rrsigs(&tlsa).is_empty(), "{tlsa:#?}");
    server.stop();

    let server = ws.serve();
    assert_eq!(serial(&dig, server.addr), before);
    let soa_again = answer(&dig, server.addr, ORIGIN, "SOA");
    let tlsa_again = answer(&dig, server.addr, TLSA_OWNER, "TLSA");
    assert_eq!(rrsigs(&soa_again), rrsigs(&soa), "SOA RRSIGs");
    assert_eq!(rrsigs(&tlsa_again), rrsigs(&tlsa), "TLSA RRSIGs");
    assert_eq!(tlsa_again, tlsa);

    // A change after the restart: the journal of before goes on.
    replace_certificate(&ws, "p384.pem");
    server.wait_log("certificate change published", Duration::from_secs(20));
    let changed = serial(&dig, server.addr);
    assert_eq!(changed, before.wrapping_add(1));
    let soas = ixfr_soas(&dig, server.addr, ORIGIN, before);
    assert!(
        soas >= 4,
        "IXFR from {before} is a full transfer ({soas} SOAs)"
    );
    server.stop();

    // A change while stopped: one new version on top of the kept one.
    replace_certificate(&ws, "rsa2048.pem");
    let server = ws.serve();
    let now = serial(&dig, server.addr);
    assert_eq!(now, changed.wrapping_add(1));
    let soas = ixfr_soas(&dig, server.addr, ORIGIN, changed);
    assert!(
        soas >= 4,
        "IXFR from {changed} is a full transfer ({soas} SOAs)"
    );
    let soas = ixfr_soas(&dig, server.addr, ORIGIN, before);
    assert!(
        soas >= 6,
        "IXFR from {before}: two differences expected ({soas} SOAs)"
    );
    server.stop();
}
