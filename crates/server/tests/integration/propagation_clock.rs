//! Propagation awareness through the manager with an injected clock (a paused tokio runtime):
//! a staged TLSA key's 2×TTL wait starts only once every secondary serves the serial that
//! first published it; a secondary that is down keeps the binding staged and says why, across
//! a restart. The SOA poll answers are fed to the manager as the poll tasks would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use daned::clock::{Clock, SystemClock, TokioClock};
use daned::events::manager::Manager;
use daned::events::watch::FileChange;
use daned::secondaries::client::ClientError;
use daned::secondaries::propagation::{ReportKind, SecondaryReport, SoaError};
use daned_sign::hickory_proto::rr::Name;

use crate::support::{Workspace, new_p256_key, start_manager, tool};

const TTL: u32 = 60;
const MARGIN: u32 = 30;

fn poll(manager: &mut Manager, secondary: SocketAddr, result: Result<u32, SoaError>) {
    manager.secondary_report(&SecondaryReport {
        zone: Name::from_ascii("example.com.").unwrap(),
        secondary,
        kind: ReportKind::Soa(result),
    });
}

/// (state, ready_at, ready, waiting)
fn binding(manager: &Manager) -> (String, Option<u32>, bool, Option<String>) {
    let status = manager.status();
    let b = &status.zones[0].bindings[0];
    (b.state.clone(), b.ready_at, b.ready, b.waiting.clone())
}

/// RFC 7671 §8.1: the next key is published "at least two Times to Live (TTLs) or longer
/// before the new chain is deployed"; a resolver asking a secondary that does not serve it yet
/// still gets the RRset without it, so the two TTLs count from when every secondary serves it.
#[tokio::test(start_paused = true)]
#[ignore = "needs openssl"]
async fn rfc7671_s8_1_a_lagging_or_down_secondary_delays_ready_at() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let ns2: SocketAddr = "127.0.0.1:5302".parse().unwrap();
    let ns3: SocketAddr = "127.0.0.1:5303".parse().unwrap();
    let ws = Workspace::example();
    ws.write_config(&format!(
        "[[zone.secondary]]\naddress = \"{ns2}\"\n[[zone.secondary]]\naddress = \"{ns3}\"\n"
    ));
    let mut text = std::fs::read_to_string(ws.config()).unwrap();
    text = text.replace(
        "ttl = \"300\"",
        &format!("ttl = {TTL}\nrollover-margin = {MARGIN}\nnext-key = \"certs/next.key\""),
    );
    std::fs::write(ws.config(), text).unwrap();

    let clock = Arc::new(TokioClock::new(SystemClock.now()));
    let mut manager = start_manager(&ws, clock.clone());
    let before = manager.status().zones[0].serial;
    poll(&mut manager, ns2, Ok(before));
    poll(&mut manager, ns3, Ok(before));
    let zone = &manager.status().zones[0];
    assert_eq!(zone.propagated_at, Some(clock.now()));
    assert!(zone.secondaries.iter().all(|s| s.lag == 0), "{zone:?}");

    let next_key = ws.path("certs/next.key");
    new_p256_key(&openssl, &next_key);
    manager.file_changed(&FileChange::read(&next_key));
    let staged_serial = manager.status().zones[0].serial;
    assert_ne!(staged_serial, before);
    let (state, ready_at, ready, waiting) = binding(&manager);
    assert_eq!((state.as_str(), ready_at, ready), ("staged", None, false));
    let waiting = waiting.expect("says why");
    assert!(
        waiting.contains(&format!("{ns2} at serial {before}")),
        "{waiting}"
    );
    assert!(
        waiting.contains(&format!("{ns3} at serial {before}")),
        "{waiting}"
    );

    // ns2 takes the new serial after 5 s; ns3 is down.
    tokio::time::advance(Duration::from_secs(5)).await;
    poll(&mut manager, ns2, Ok(staged_serial));
    let timeout = Duration::from_secs(5);
    poll(
        &mut manager,
        ns3,
        Err(ClientError::Timeout { timeout }.into()),
    );
    let (_, ready_at, _, waiting) = binding(&manager);
    assert_eq!(ready_at, None);
    let waiting = waiting.expect("says why");
    assert!(!waiting.contains(&ns2.to_string()), "{waiting}");
    assert!(
        waiting.contains(&format!("{ns3} at serial {before} (no answer within 5s)")),
        "{waiting}"
    );
    let zone = &manager.status().zones[0];
    assert_eq!(zone.propagated_at, None);
    assert_eq!(zone.secondaries[0].lag, 0);
    assert_eq!(zone.secondaries[1].lag, 5);

    // Hours pass: still staged, never ready.
    tokio::time::advance(Duration::from_secs(3 * 3600)).await;
    manager.run_timers();
    let (state, ready_at, ready, _) = binding(&manager);
    assert_eq!((state.as_str(), ready_at, ready), ("staged", None, false));

    // A restart keeps the binding waiting (the state file says which serial it waits for).
    drop(manager);
    let mut manager = start_manager(&ws, clock.clone());
    assert_eq!(manager.status().zones[0].serial, staged_serial);
    let (state, ready_at, _, waiting) = binding(&manager);
    assert_eq!((state.as_str(), ready_at), ("staged", None));
    assert!(waiting.is_some());

    // ns3 comes back: once both serve the serial the wait starts, from that moment.
    tokio::time::advance(Duration::from_secs(10)).await;
    poll(&mut manager, ns2, Ok(staged_serial));
    assert_eq!(
        binding(&manager).1,
        None,
        "ns3 has not answered since the restart"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    poll(&mut manager, ns3, Ok(staged_serial));
    let propagated = clock.now();
    let (state, ready_at, ready, waiting) = binding(&manager);
    assert_eq!(state, "staged");
    assert_eq!(ready_at, Some(propagated + 2 * TTL + MARGIN));
    assert!(!ready);
    assert_eq!(waiting, None);
    assert_eq!(manager.status().zones[0].propagated_at, Some(propagated));

    tokio::time::advance(Duration::from_secs(u64::from(2 * TTL + MARGIN - 1))).await;
    manager.run_timers();
    assert!(!binding(&manager).2, "ready a second early");
    tokio::time::advance(Duration::from_secs(1)).await;
    manager.run_timers();
    let (state, _, ready, _) = binding(&manager);
    assert_eq!((state.as_str(), ready), ("ready", true));
}
