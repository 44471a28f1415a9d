//! What an operator reads (issue 13): the served zone, the daemon's answers in text and JSON.

use std::process::Command;

use crate::support::{Workspace, run, tool};

/// `daned dump` prints the zone the daemon serves: the SOA's RRSIG is the one a resolver
/// gets, where `--offline` signs anew (ECDSA signatures are randomised, so they differ).
#[test]
fn issue13_dump_prints_the_served_zone_and_offline_signs_anew() {
    let ws = Workspace::example();
    let server = ws.serve();
    let served = ws.daned(&["dump"]);
    assert!(served.status.success(), "{served:?}");
    let served = String::from_utf8(served.stdout).unwrap();
    let again = String::from_utf8(ws.daned(&["dump", "example.com."]).stdout).unwrap();
    assert_eq!(served, again, "two dumps of one snapshot differ");
    let soa_rrsig = |text: &str| {
        text.lines()
            .find(|l| l.contains("\tRRSIG\tSOA "))
            .map(|l| l.split_whitespace().last().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no SOA RRSIG in:\n{text}"))
    };
    let offline = String::from_utf8(ws.daned(&["dump", "--offline"]).stdout).unwrap();
    assert_ne!(soa_rrsig(&served), soa_rrsig(&offline));
    if let Some(dig) = tool("dig") {
        let (ok, text) = run(Command::new(dig)
            .args(["@127.0.0.1", "-p", &server.addr.port().to_string()])
            .args([
                "+dnssec",
                "+norecurse",
                "+nomultiline",
                "example.com",
                "SOA",
            ]));
        assert!(ok, "{text}");
        assert!(
            text.replace(' ', "").contains(&soa_rrsig(&served)),
            "the served RRSIG is not the dumped one:\n{text}\n{served}"
        );
    }
    let unknown = ws.daned(&["dump", "example.net."]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no zone example.net. is served"));
    server.stop();
}
