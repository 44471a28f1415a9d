//! A staged TLSA rollover driven through the manager with an injected clock (a paused tokio
//! runtime): staged → ready → switched → old record retired, and a restart in the middle that
//! neither resets the wait nor drops a record early. No test sleeps.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use daned::clock::{Clock, SystemClock, TokioClock};
use daned::events::manager::Manager;
use daned::events::watch::FileChange;
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};

use crate::support::{Workspace, new_p256_key, run, start_manager, tool};

const TTL: u32 = 60;
const MARGIN: u32 = 30;

/// The TLSA RDATA (lowercase presentation) served for `_25._tcp.mail.example.com.` now.
fn served_tlsa(manager: &Manager) -> Vec<String> {
    let catalog = manager.snapshot();
    let snapshot = Arc::clone(catalog.load().catalog());
    let zone = snapshot.zones().next().expect("one zone").clone();
    let owner = Name::from_ascii("_25._tcp.mail.example.com.").unwrap();
    let node = zone.node(&owner).expect("TLSA owner exists");
    let set = node.get(RecordType::TLSA).expect("TLSA RRset");
    assert!(!set.rrsigs.is_empty(), "the TLSA RRset is signed");
    set.rrset
        .rdatas()
        .map(|r| match r {
            RData::TLSA(t) => t.to_string().to_lowercase(),
            other => panic!("not TLSA: {other}"),
        })
        .collect()
}

fn binding_state(manager: &Manager) -> (String, Option<u32>, bool) {
    let status = manager.status();
    let b = &status.zones[0].bindings[0];
    (b.state.clone(), b.ready_at, b.ready)
}

/// RFC 7671 §8.1: "the new TLSA record is published ... at least two TTLs before the
/// corresponding certificate is used", and the old one stays until caches forget it.
#[tokio::test(start_paused = true)]
#[ignore = "needs openssl"]
async fn rfc7671_s8_1_staged_rollover_under_an_injected_clock() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let ws = Workspace::example();
    ws.write_config("");
    // Add the next-key path and short timings to the binding (the workspace's config ends
    // with the binding table).
    let mut text = std::fs::read_to_string(ws.config()).unwrap();
    text = text.replace(
        "ttl = \"300\"",
        &format!("ttl = {TTL}\nrollover-margin = {MARGIN}\nnext-key = \"certs/next.key\""),
    );
    std::fs::write(ws.config(), text).unwrap();

    // The demo certificate is valid now; the clock starts at the real time for that reason.
    let clock = Arc::new(TokioClock::new(SystemClock.now()));
    let mut manager = start_manager(&ws, clock.clone());
    let before = served_tlsa(&manager);
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(binding_state(&manager).0, "steady");

    // Stage a next key: published beside the current one.
    let next_key = ws.path("certs/next.key");
    new_p256_key(&openssl, &next_key);
    manager.file_changed(&FileChange::read(&next_key));
    let staged = served_tlsa(&manager);
    assert_eq!(staged.len(), 2, "{staged:?}");
    assert!(staged.contains(&before[0]));
    let (state, ready_at, ready) = binding_state(&manager);
    assert_eq!(state, "staged");
    assert!(!ready);
    let ready_at = ready_at.expect("ready_at");
    assert_eq!(ready_at, clock.now() + 2 * TTL + MARGIN);

    // A restart in the middle of the wait keeps the staging time.
    tokio::time::advance(Duration::from_secs(u64::from(TTL))).await;
    drop(manager);
    let mut manager = start_manager(&ws, clock.clone());
    let (state, ready_at_after, _) = binding_state(&manager);
    assert_eq!(state, "staged");
    assert_eq!(ready_at_after, Some(ready_at), "restart reset the wait");
    assert_eq!(served_tlsa(&manager), staged);

    // Not ready one second early; ready at ready_at.
    let left = ready_at - clock.now();
    tokio::time::advance(Duration::from_secs(u64::from(left - 1))).await;
    manager.run_timers();
    assert!(!binding_state(&manager).2);
    tokio::time::advance(Duration::from_secs(1)).await;
    manager.run_timers();
    let (state, _, ready) = binding_state(&manager);
    assert_eq!((state.as_str(), ready), ("ready", true));

    // Deploy: a certificate with the staged key. Both records stay for the hold-down.
    let cert = ws.path("certs/mail.pem");
    let (ok, out) = run(Command::new(&openssl)
        .args(["req", "-x509", "-key"])
        .arg(&next_key)
        .args(["-subj", "/CN=mail.example.com", "-days", "30", "-out"])
        .arg(&cert));
    assert!(ok, "{out}");
    manager.file_changed(&FileChange::read(&cert));
    assert_eq!(binding_state(&manager).0, "switched");
    let switched = served_tlsa(&manager);
    assert_eq!(switched, staged, "both records stay during the hold-down");

    // After 2 x TTL the old record is retired.
    tokio::time::advance(Duration::from_secs(u64::from(2 * TTL - 1))).await;
    manager.run_timers();
    assert_eq!(
        served_tlsa(&manager).len(),
        2,
        "retired before the hold-down ended"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    manager.run_timers();
    let after = served_tlsa(&manager);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(!after.contains(&before[0]), "the old key is gone");
    assert!(staged.contains(&after[0]), "the new key stays");
    assert_eq!(binding_state(&manager).0, "steady");
}
