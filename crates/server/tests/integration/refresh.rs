//! Signature refresh under an injected clock (a paused tokio runtime): no test sleeps.

use std::sync::Arc;
use std::time::Duration;

use daned::clock::{Clock, TokioClock};
use daned::config::Config;
use daned::events::manager::Manager;
use daned_sign::hickory_proto::dnssec::rdata::DNSSECRData;
use daned_sign::hickory_proto::rr::RData;
use daned_sign::serial::serial_gt;

use crate::support::Workspace;

/// DESIGN invariant 2 (RFC 4035 §5.3.1: a signature is valid only between inception and
/// expiration): over ten simulated hours with a two-hour validity, the manager's timer renews
/// signatures before they expire, every RRSIG ever served is inside its validity window, and
/// each renewal publishes a higher serial.
#[tokio::test(start_paused = true)]
async fn rfc4035_s5_3_1_no_rrsig_is_ever_served_expired() {
    let ws = Workspace::example();
    ws.write_config(
        "[zone.signing]\nvalidity = \"2h\"\nrefresh = \"1h\"\ninception-offset = \"5m\"\n",
    );
    let config = Config::load(&ws.config()).expect("config");
    let start = 1_800_000_000;
    let clock = Arc::new(TokioClock::new(start));
    let manager = Manager::start(&config, clock.clone()).expect("zone starts");
    let catalog = manager.snapshot();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(manager.run(rx, None));

    let mut serials = Vec::new();
    let mut checked = 0usize;
    // 10 hours in 5-minute steps: 120 observations, bounded.
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_secs(300)).await;
        let now = clock.now();
        let snapshot = Arc::clone(catalog.load().catalog());
        let zone = snapshot.zones().next().expect("one zone").clone();
        for record in zone.records() {
            if let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &record.data {
                let input = rrsig.input();
                let expiration = input.sig_expiration.get();
                let inception = input.sig_inception.get();
                assert!(serial_gt(expiration, now), "{record} expired at {now}");
                assert!(
                    !serial_gt(inception, now),
                    "{record} not yet valid at {now}"
                );
                checked += 1;
            }
        }
        if serials.last() != Some(&zone.serial()) {
            serials.push(zone.serial());
        }
    }
    drop(tx);
    task.await
        .expect("manager ends when its command channel closes");
    assert!(checked > 1000, "only {checked} signatures were checked");
    // Renewals happened (about every hour) and serials only went up.
    assert!(serials.len() >= 8, "too few refreshes: {serials:?}");
    assert!(
        serials.windows(2).all(|w| serial_gt(w[1], w[0])),
        "{serials:?}"
    );
}
