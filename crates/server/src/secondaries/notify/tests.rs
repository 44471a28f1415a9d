//! NOTIFY: message format, TSIG, retries until answered, and the warning when never answered.

use std::str::FromStr;

use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::SOA;

use super::*;
use crate::clock::SystemClock;
use crate::config::{TsigAlgorithmConfig, TsigKeyConfig};
use crate::serve::tsig::{self, KeyRing, TsigKey};

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn unix_now() -> u64 {
    SystemClock.unix_time()
}

fn soa_record(serial: u32) -> Record {
    Record::from_rdata(
        Name::from_str("example.com.").expect("name"),
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

fn key_config() -> TsigKeyConfig {
    TsigKeyConfig {
        name: Name::from_str("xfr-key.").expect("name"),
        algorithm: TsigAlgorithmConfig::HmacSha256,
        secret: b"notify test secret".to_vec(),
    }
}

fn fast() -> Backoff {
    Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_millis(400),
        tries: 4,
    }
}

#[tokio::test]
async fn rfc1996_s3_7_notify_is_signed_retried_and_stops_when_acknowledged() {
    // RFC 1996 §3.6: "a NOTIFY request ... should be retransmitted ... until a response is
    // received"; §3.7: "QDCOUNT=1, QTYPE=SOA"; §4.7 the answer may hold the new SOA.
    let secondary = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    secondary
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let address = secondary.local_addr().expect("addr");
    let key = Arc::new(TsigKey::new(&key_config()));
    let ring = KeyRing::new(&[key_config()]);
    let target = Target {
        address,
        key: Some(Arc::clone(&key)),
    };
    let zone = Name::from_str("example.com.").expect("name");
    let task = tokio::spawn(notify_one(zone, soa_record(42), target, fast(), clock()));
    let responder = tokio::task::spawn_blocking(move || {
        let mut buf = [0; 4096];
        // Ignore the first try; answer the second, signed.
        let (len, _) = secondary.recv_from(&mut buf).expect("first try");
        let first = Message::from_vec(&buf[..len]).expect("parses");
        let (len, from) = secondary.recv_from(&mut buf).expect("second try");
        let raw = buf[..len].to_vec();
        let request = Message::from_vec(&raw).expect("parses");
        let verified = match tsig::verify_request(&raw, &ring, unix_now()) {
            Ok(tsig::Outcome::Verified(v)) => v,
            other => panic!("NOTIFY not validly signed: {other:?}"),
        };
        let mut response = Message::response(request.metadata.id, OpCode::Notify);
        response.metadata.authoritative = true;
        response.add_query(request.queries[0].clone());
        let unsigned = response.to_vec().expect("encodes");
        let mut signer = tsig::ResponseSigner::new(&verified);
        let tsig = signer.sign(&unsigned, unix_now()).expect("header");
        let signed = tsig::append(&unsigned, &tsig).expect("appends");
        secondary.send_to(&signed, from).expect("send");
        (first, request)
    });
    let acknowledged = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("bounded")
        .expect("task");
    assert!(acknowledged);
    let (first, second) = responder.await.expect("responder");
    assert_ne!(first.metadata.id, second.metadata.id);
    for message in [&first, &second] {
        assert_eq!(message.metadata.op_code, OpCode::Notify);
        assert!(message.metadata.authoritative);
        assert_eq!(message.queries.len(), 1);
        assert_eq!(message.queries[0].query_type(), RecordType::SOA);
        assert_eq!(message.answers.len(), 1);
        match &message.answers[0].data {
            RData::SOA(soa) => assert_eq!(soa.serial, 42),
            other => panic!("answer is not a SOA: {other:?}"),
        }
    }
}

#[tokio::test]
async fn rfc1996_s3_6_unanswered_notify_gives_up_after_the_last_try() {
    let secondary = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    secondary
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let address = secondary.local_addr().expect("addr");
    let target = Target { address, key: None };
    let zone = Name::from_str("example.com.").expect("name");
    let acknowledged = tokio::time::timeout(
        Duration::from_secs(10),
        notify_one(zone, soa_record(7), target, fast(), clock()),
    )
    .await
    .expect("bounded");
    assert!(!acknowledged);
    // Four tries arrived (100 + 200 + 400 + 400 ms of waiting).
    let mut buf = [0; 4096];
    let mut tries = 0;
    secondary
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    while secondary.recv_from(&mut buf).is_ok() {
        tries += 1;
    }
    assert_eq!(tries, 4);
}

#[tokio::test]
async fn rfc1996_s3_7_a_response_with_a_bad_tsig_is_not_an_acknowledgement() {
    let secondary = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    secondary
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let address = secondary.local_addr().expect("addr");
    let target = Target {
        address,
        key: Some(Arc::new(TsigKey::new(&key_config()))),
    };
    let zone = Name::from_str("example.com.").expect("name");
    let task = tokio::spawn(notify_one(zone, soa_record(9), target, fast(), clock()));
    let responder = tokio::task::spawn_blocking(move || {
        let mut buf = [0; 4096];
        let mut answered = 0;
        // Answer every try unsigned: never an acknowledgement.
        while let Ok((len, from)) = secondary.recv_from(&mut buf) {
            let request = Message::from_vec(&buf[..len]).expect("parses");
            let response = Message::response(request.metadata.id, OpCode::Notify);
            secondary
                .send_to(&response.to_vec().expect("encodes"), from)
                .expect("send");
            answered += 1;
            if answered == 4 {
                break;
            }
        }
        answered
    });
    let acknowledged = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("bounded")
        .expect("task");
    assert!(!acknowledged);
    assert_eq!(responder.await.expect("responder"), 4);
}

#[tokio::test]
async fn a_newer_serial_supersedes_pending_notifies() {
    // A secondary that never answers; the task sends for serial 1, then for serial 2 once the
    // catalog changes, and the tries for serial 1 stop.
    let secondary = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let address = secondary.local_addr().expect("addr");
    let zone_name = Name::from_str("example.").expect("name");
    let first = Arc::new(Catalog::new([Arc::new(
        crate::serve::query::tests::parse_zone(
            "example. 300 IN SOA ns.example. h.example. 1 7200 3600 1209600 300\n",
            "example.",
        ),
    )]));
    let second = Arc::new(Catalog::new([Arc::new(
        crate::serve::query::tests::parse_zone(
            "example. 300 IN SOA ns.example. h.example. 2 7200 3600 1209600 300\n",
            "example.",
        ),
    )]));
    let (sender, receiver) = watch::channel(first);
    let targets = HashMap::from([(zone_name, vec![Target { address, key: None }])]);
    let backoff = Backoff {
        first: Duration::from_millis(300),
        max: Duration::from_millis(300),
        tries: 50,
    };
    let task = tokio::spawn(run(receiver, targets, backoff, None, clock()));
    // The reader says when the first serial has been notified (and retried) once.
    let (retried, retried_rx) = tokio::sync::oneshot::channel();
    let serials = tokio::task::spawn_blocking(move || {
        let mut retried = Some(retried);
        secondary
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = [0; 4096];
        let mut serials = Vec::new();
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(2500) {
            let Ok((len, _)) = secondary.recv_from(&mut buf) else {
                break;
            };
            let message = Message::from_vec(&buf[..len]).expect("parses");
            if let RData::SOA(soa) = &message.answers[0].data {
                serials.push(soa.serial);
            }
            if serials.len() == 2
                && let Some(retried) = retried.take()
            {
                let _ = retried.send(());
            }
        }
        serials
    });
    tokio::time::timeout(Duration::from_secs(2), retried_rx)
        .await
        .expect("serial 1 notified twice in time")
        .expect("the reader runs");
    sender.send(second).expect("send");
    let serials = serials.await.expect("reader");
    task.abort();
    let switch = serials
        .iter()
        .position(|s| *s == 2)
        .expect("serial 2 notified");
    assert!(switch >= 1, "{serials:?}");
    assert!(serials[..switch].iter().all(|s| *s == 1), "{serials:?}");
    assert!(serials[switch..].iter().all(|s| *s == 2), "{serials:?}");
}
