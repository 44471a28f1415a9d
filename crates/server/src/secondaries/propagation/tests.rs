//! Propagation: the tracker's bookkeeping (pure, explicit times) and the SOA query against a
//! fake secondary on loopback (UDP, TCP on TC, TSIG both ways).

use std::str::FromStr;

use hickory_proto::rr::Record;
use hickory_proto::rr::rdata::SOA;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

use super::*;
use crate::clock::SystemClock;
use crate::config::{TsigAlgorithmConfig, TsigKeyConfig};
use crate::secondaries::client::ClientError;
use crate::serve::tsig::{self, KeyRing, TsigKey};

fn unix_now() -> u64 {
    SystemClock.unix_time()
}

async fn query_soa(zone: &Name, target: &Target, timeout: Duration) -> Result<u32, SoaError> {
    let client = Client::new(Arc::new(SystemClock), timeout);
    super::query_soa(&client, zone, target).await
}

fn zone() -> Name {
    Name::from_str("example.com.").expect("name")
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

fn soa(serial: u32) -> ReportKind {
    ReportKind::Soa(Ok(serial))
}

#[test]
fn rfc1996_without_secondaries_a_serial_is_propagated_when_published() {
    let mut tracker = Tracker::new(&[], 10, 1000, 600);
    assert_eq!(tracker.propagated_at(10), Some(1000));
    tracker.published(11, 1500);
    assert_eq!(tracker.propagated_at(11), Some(1500));
    assert!(tracker.status(2000).is_empty());
    assert!(tracker.waiting_for(11).is_empty());
}

#[test]
fn rfc1996_propagated_when_the_last_secondary_serves_the_serial() {
    // RFC 1996 §2: a secondary takes a new version after a NOTIFY; until every secondary does,
    // some resolvers still get the old one.
    let (a, b) = (addr(1), addr(2));
    let mut tracker = Tracker::new(&[a, b], 10, 1000, 600);
    tracker.published(11, 1100);
    assert_eq!(tracker.propagated_at(11), None);
    assert!(!tracker.report(&zone(), a, &soa(11), 1101));
    assert_eq!(tracker.propagated_at(11), None);
    assert_eq!(tracker.waiting_for(11), ["192.0.2.1:2 not answering"]);
    // b answers with the old serial first, then fails, then serves 11.
    // Serial 10 is now served by both.
    assert!(tracker.report(&zone(), b, &soa(10), 1102));
    assert_eq!(tracker.waiting_for(11), ["192.0.2.1:2 at serial 10"]);
    let status = tracker.status(1130);
    assert_eq!(status[0].lag, 0);
    assert_eq!(
        status[1].lag, 30,
        "published 11 at 1100, b serves 10 at 1130"
    );
    assert_eq!(status[1].serial, Some(10));
    assert!(!tracker.report(
        &zone(),
        b,
        &ReportKind::Soa(Err(SoaError::Exchange(ClientError::Timeout {
            timeout: Duration::from_secs(5),
        }))),
        1140
    ));
    assert_eq!(
        tracker.waiting_for(11),
        ["192.0.2.1:2 at serial 10 (no answer within 5s)"]
    );
    assert_eq!(
        tracker.status(1140)[1].last_error.as_deref(),
        Some("no answer within 5s")
    );
    assert!(tracker.report(&zone(), b, &soa(11), 1200));
    assert_eq!(tracker.propagated_at(11), Some(1200));
    // Serial 10 was served by both at 1101 and 1102 (a seen it when it saw 11).
    assert_eq!(tracker.propagated_at(10), Some(1102));
    assert!(tracker.waiting_for(11).is_empty());
    assert_eq!(tracker.status(1300)[1].last_error, None);
    assert_eq!(tracker.status(1300)[1].lag, 0);
}

#[test]
fn rfc1982_a_newer_serial_counts_as_serving_the_older_one() {
    // RFC 1982 §3.2 comparison, across the wrap: 4294967295 < 5.
    let a = addr(1);
    let mut tracker = Tracker::new(&[a], u32::MAX, 1000, 600);
    tracker.published(5, 1100);
    tracker.published(6, 1200);
    assert!(tracker.report(&zone(), a, &soa(6), 1250));
    assert_eq!(tracker.propagated_at(u32::MAX), Some(1250));
    assert_eq!(tracker.propagated_at(5), Some(1250));
    assert_eq!(tracker.propagated_at(6), Some(1250));
    // A serial from before the ones remembered is answered from a newer one: never earlier.
    assert_eq!(tracker.propagated_at(u32::MAX - 10), Some(1250));
    // An older serial than published does not count.
    let mut tracker = Tracker::new(&[a], 7, 1000, 600);
    assert!(!tracker.report(&zone(), a, &soa(6), 1001));
    assert_eq!(tracker.propagated_at(7), None);
}

#[test]
fn notify_results_and_unanswered_count() {
    let a = addr(1);
    let mut tracker = Tracker::new(&[a], 7, 1000, 600);
    let notify = |serial, acknowledged| ReportKind::Notify {
        serial,
        acknowledged,
    };
    tracker.report(&zone(), a, &notify(7, false), 1001);
    tracker.report(&zone(), a, &notify(8, true), 1002);
    tracker.report(&zone(), a, &notify(9, false), 1003);
    let status = &tracker.status(1003)[0];
    assert_eq!(status.last_notify.as_deref(), Some("serial 9 unanswered"));
    assert_eq!(status.notify_unanswered, 2);
    // A report about an unknown secondary changes nothing.
    assert!(!tracker.report(&zone(), addr(9), &soa(7), 1004));
    assert_eq!(tracker.status(1004)[0].serial, None);
}

// ---------------------------------------------------------------------------------------------
// The SOA query.

fn key_config() -> TsigKeyConfig {
    TsigKeyConfig {
        name: Name::from_str("xfr-key.").expect("name"),
        algorithm: TsigAlgorithmConfig::HmacSha256,
        secret: b"propagation test secret".to_vec(),
    }
}

fn soa_record(serial: u32) -> Record {
    Record::from_rdata(
        zone(),
        3600,
        RData::SOA(SOA::new(
            Name::from_str("ns1.example.com.").expect("name"),
            Name::from_str("h.example.com.").expect("name"),
            serial,
            7200,
            3600,
            1_209_600,
            300,
        )),
    )
}

/// The answer to `raw` (serial `serial`, TC when `truncate`), signed when the request was.
fn answer(raw: &[u8], serial: u32, truncate: bool, ring: &KeyRing, sign: bool) -> Vec<u8> {
    let request = Message::from_vec(raw).expect("parses");
    let mut response = Message::response(request.metadata.id, OpCode::Query);
    response.metadata.authoritative = true;
    response.metadata.truncation = truncate;
    response.add_query(request.queries[0].clone());
    if !truncate {
        response.add_answer(soa_record(serial));
    }
    let unsigned = response.to_vec().expect("encodes");
    match tsig::verify_request(raw, ring, unix_now()) {
        Ok(tsig::Outcome::Verified(verified)) if sign => {
            let mut signer = tsig::ResponseSigner::new(&verified);
            let tsig = signer.sign(&unsigned, unix_now()).expect("header");
            tsig::append(&unsigned, &tsig).expect("appends")
        }
        _ => unsigned,
    }
}

/// A fake secondary on one loopback port: UDP answers (truncated when `truncate`), TCP full.
async fn fake_secondary(serial: u32, truncate: bool, sign: bool) -> SocketAddr {
    let (udp, address, tcp) = crate::secondaries::client::tests::loopback_pair().await;
    let ring = KeyRing::new(&[key_config()]);
    let udp_ring = KeyRing::new(&[key_config()]);
    tokio::spawn(async move {
        let mut buf = vec![0; 4096];
        while let Ok((len, from)) = udp.recv_from(&mut buf).await {
            let out = answer(&buf[..len], serial, truncate, &udp_ring, sign);
            let _ = udp.send_to(&out, from).await;
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await.expect("length");
            let mut raw = vec![0; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut raw).await.expect("message");
            let out = answer(&raw, serial, false, &ring, sign);
            let framed = crate::secondaries::client::framed(&out).expect("short");
            stream.write_all(&framed).await.expect("write");
        }
    });
    address
}

#[tokio::test]
async fn rfc8945_soa_poll_is_signed_and_the_answer_verified() {
    // RFC 8945 §5.3: the server signs its response to a signed request; we accept only that.
    let key = Arc::new(TsigKey::new(&key_config()));
    let address = fake_secondary(42, false, true).await;
    let target = Target {
        address,
        key: Some(Arc::clone(&key)),
    };
    assert_eq!(
        query_soa(&zone(), &target, Duration::from_secs(5))
            .await
            .ok(),
        Some(42)
    );
    // Without a key configured, an unsigned query works too.
    let target = Target { address, key: None };
    assert_eq!(
        query_soa(&zone(), &target, Duration::from_secs(5))
            .await
            .ok(),
        Some(42)
    );
}

#[tokio::test]
async fn rfc8945_an_unsigned_answer_to_a_signed_poll_is_refused() {
    let key = Arc::new(TsigKey::new(&key_config()));
    let address = fake_secondary(42, false, false).await;
    let target = Target {
        address,
        key: Some(key),
    };
    let error = query_soa(&zone(), &target, Duration::from_secs(5))
        .await
        .expect_err("unsigned answer");
    assert!(
        error.to_string().contains("without a valid TSIG"),
        "{error}"
    );
}

#[tokio::test]
async fn rfc1035_s4_2_1_truncated_answer_is_retried_over_tcp() {
    // RFC 1035 §4.2.1: "Messages carried by UDP are restricted to 512 bytes ... TC bit";
    // RFC 7766 §5: the client retries over TCP.
    let key = Arc::new(TsigKey::new(&key_config()));
    let address = fake_secondary(77, true, true).await;
    let target = Target {
        address,
        key: Some(key),
    };
    assert_eq!(
        query_soa(&zone(), &target, Duration::from_secs(5))
            .await
            .ok(),
        Some(77)
    );
}

#[tokio::test]
async fn silent_secondary_times_out_with_a_message() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let target = Target {
        address: silent.local_addr().expect("addr"),
        key: None,
    };
    let error = query_soa(&zone(), &target, Duration::from_millis(200))
        .await
        .expect_err("no answer");
    assert_eq!(error.to_string(), "no answer within 200ms");
}

/// A reload changes the secondaries: one kept keeps what is known about it, one added starts
/// unknown (a serial not yet propagated waits for it too), one removed is no longer waited
/// for; with none left, a waiting serial is propagated at the reload.
#[test]
fn rfc1996_reconfigured_secondaries_keep_state_and_change_what_is_waited_for() {
    let (a, b, c) = (addr(1), addr(2), addr(3));
    let mut tracker = Tracker::new(&[a, b], 10, 1000, 600);
    tracker.report(&zone(), a, &soa(10), 1010);
    assert_eq!(tracker.propagated_at(10), None, "b does not serve 10 yet");
    // b goes, c comes: 10 waits for c now, and a is still known to serve it.
    tracker.reconfigure(&[a, c], 300, 1020);
    assert_eq!(tracker.propagated_at(10), None);
    assert_eq!(tracker.waiting_for(10), [format!("{c} not answering")]);
    assert_eq!(tracker.status(1020)[0].serial, Some(10));
    assert!(tracker.report(&zone(), c, &soa(10), 1030));
    assert_eq!(tracker.propagated_at(10), Some(1030));
    // A report about the removed secondary changes nothing.
    assert!(!tracker.report(&zone(), b, &soa(10), 1040));
    // Removing a lagging secondary propagates what waited only for it.
    tracker.published(11, 1100);
    tracker.report(&zone(), a, &soa(11), 1110);
    assert_eq!(tracker.propagated_at(11), None);
    tracker.reconfigure(&[a], 300, 1120);
    assert_eq!(tracker.propagated_at(11), Some(1110));
    tracker.published(12, 1200);
    tracker.reconfigure(&[], 300, 1210);
    assert_eq!(tracker.propagated_at(12), Some(1210));
}
