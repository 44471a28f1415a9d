//! The TCP loop: idle connections close after the idle timeout, a transfer is not cut off while
//! the client keeps reading however long it takes, a client that stops reading is dropped
//! after the write timeout. Timer tests run on a paused clock over an in-memory stream whose
//! small buffer makes the server wait for the reader exactly as a full socket would.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

use super::{TcpTimeouts, serve_connection, serve_listener};
use crate::config::Config;
use crate::serve::handler::Handler;
use crate::serve::query::Catalog;
use crate::serve::query::tests::parse_zone;
use crate::serve::snapshot::Snapshot;
use crate::serve::xfr::TransferPolicy;

/// Names in the test zone: about 180 KB of TXT records, a dozen transfer messages.
const NAMES: usize = 3000;

const TIMEOUTS: TcpTimeouts = TcpTimeouts {
    idle: Duration::from_secs(10),
    write: Duration::from_secs(30),
};

/// `big.test.` with [`NAMES`] TXT names, transferable by anyone in 127.0.0.0/8 or
/// 192.0.2.0/24.
fn handler() -> Arc<Handler> {
    let mut text = String::from(
        "big.test. 3600 IN SOA ns.big.test. h.big.test. 7 7200 3600 1209600 300\n\
         big.test. 3600 IN NS ns.big.test.\nns.big.test. 3600 IN A 192.0.2.1\n",
    );
    for i in 0..NAMES {
        text.push_str(&format!(
            "host{i}.big.test. 3600 IN TXT \"some text for host number {i} of the zone\"\n"
        ));
    }
    let zone = Arc::new(parse_zone(&text, "big.test."));
    let config = Config::parse(
        "version = \"v1\"\n[[zone]]\norigin = \"big.test.\"\nfile = \"z\"\n\
         allow-transfer = [{ prefix = \"127.0.0.0/8\" }, { prefix = \"192.0.2.0/24\" }]\n",
        Path::new("/etc/daned.toml"),
    )
    .expect("valid config");
    Arc::new(Handler::new(Arc::new(ArcSwap::from_pointee(
        Snapshot::new(
            Arc::new(Catalog::new([zone])),
            Arc::new(TransferPolicy::from_config(&config)),
            1232,
        ),
    ))))
}

/// The query `qname`/`qtype` with id `id`, framed for TCP.
fn framed(id: u16, qname: &str, qtype: RecordType) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(Name::from_ascii(qname).expect("name"), qtype));
    let wire = message.to_vec().expect("encodes");
    let mut out = u16::try_from(wire.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    out.extend(wire);
    out
}

/// The next framed message, or `None` at a clean end of stream.
async fn read_message<R: AsyncRead + Unpin>(reader: &mut R) -> Option<Message> {
    let mut length = [0u8; 2];
    match reader.read_exact(&mut length).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(error) => panic!("read failed: {error}"),
    }
    let mut wire = vec![0; usize::from(u16::from_be_bytes(length))];
    reader.read_exact(&mut wire).await.expect("a whole message");
    Some(Message::from_vec(&wire).expect("the response decodes"))
}

/// A connection served over an in-memory stream of `buffer` bytes each way, from a client at
/// 192.0.2.100.
fn connect(buffer: usize) -> DuplexStream {
    let (client, server) = tokio::io::duplex(buffer);
    let src: SocketAddr = "192.0.2.100:53000".parse().expect("address");
    tokio::spawn(serve_connection(server, src, handler(), TIMEOUTS));
    client
}

/// Sends an AXFR for `big.test.` and reads messages until the closing SOA, waiting `pause`
/// before reading each one. Returns the number of messages and of records.
async fn axfr<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    pause: Duration,
) -> (usize, usize) {
    stream
        .write_all(&framed(0xaf, "big.test.", RecordType::AXFR))
        .await
        .expect("request written");
    let (mut messages, mut records, mut soas) = (0, 0, 0);
    while soas < 2 {
        tokio::time::sleep(pause).await;
        let message = read_message(stream)
            .await
            .unwrap_or_else(|| panic!("closed after {messages} messages, {records} records"));
        assert_eq!(message.metadata.id, 0xaf);
        assert_eq!(message.metadata.response_code, ResponseCode::NoError);
        messages += 1;
        records += message.answers.len();
        soas += message
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count();
    }
    (messages, records)
}

/// SOA, NS, the glue A, every TXT, and the closing SOA.
const ALL_RECORDS: usize = NAMES + 4;

#[tokio::test(start_paused = true)]
async fn rfc7766_s6_2_3_idle_connection_is_closed_after_the_idle_timeout() {
    // RFC 7766 §6.2.3: "DNS servers SHOULD close idle sessions"; "the timeout would be of
    // the order of seconds". A request before the timeout starts it again.
    let mut client = connect(64 * 1024);
    let started = Instant::now();
    client
        .write_all(&framed(1, "big.test.", RecordType::SOA))
        .await
        .expect("written");
    let answer = read_message(&mut client).await.expect("an answer");
    assert_eq!(answer.metadata.id, 1);
    assert_eq!(answer.answers.len(), 1);

    tokio::time::sleep(Duration::from_secs(9)).await;
    client
        .write_all(&framed(2, "big.test.", RecordType::NS))
        .await
        .expect("written");
    let answer = read_message(&mut client)
        .await
        .expect("still open after 9 s idle");
    assert_eq!(answer.metadata.id, 2);
    let answered = Instant::now();

    assert!(read_message(&mut client).await.is_none(), "then closed");
    let idle = answered.elapsed();
    assert!(
        idle >= TIMEOUTS.idle && idle < TIMEOUTS.idle + Duration::from_secs(1),
        "closed after {idle:?} idle"
    );
    assert!(started.elapsed() >= Duration::from_secs(19));
}

#[tokio::test(start_paused = true)]
async fn rfc5936_s2_2_slow_reader_receives_the_whole_transfer() {
    // RFC 5936 §2.2: "The AXFR server MUST send all records of the zone"; RFC 7766 §6.2.3
    // bounds idle sessions, not a response the client is still reading. 4 KiB of buffer and
    // 5 s between messages: the server waits on its writes for more than a minute, far past
    // the idle timeout, and each message still leaves within the write timeout.
    let mut client = connect(4096);
    let started = Instant::now();
    let (messages, records) = axfr(&mut client, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(messages >= 8, "{messages} messages");
    assert_eq!(records, ALL_RECORDS);
    assert!(took > 5 * TIMEOUTS.idle, "the transfer took {took:?}");
    // Then the connection is an idle one again, and reusable.
    client
        .write_all(&framed(3, "big.test.", RecordType::SOA))
        .await
        .expect("written");
    let answer = read_message(&mut client)
        .await
        .expect("answered after the transfer");
    assert_eq!(answer.metadata.id, 3);
}

#[tokio::test(start_paused = true)]
async fn rfc7766_s6_2_3_a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    // A transfer holds the connection only while the client reads: one that stops loses it
    // after the write timeout, without receiving the rest.
    let mut client = connect(4096);
    client
        .write_all(&framed(0xaf, "big.test.", RecordType::AXFR))
        .await
        .expect("written");
    let first = read_message(&mut client).await.expect("the first message");
    let mut records = first.answers.len();
    assert!(records < ALL_RECORDS);
    tokio::time::sleep(TIMEOUTS.write + Duration::from_secs(1)).await;
    while let Some(message) = read_message_or_cut(&mut client).await {
        records += message.answers.len();
    }
    assert!(records < ALL_RECORDS, "{records} records: not cut off");
}

/// Like [`read_message`], but a stream cut in the middle of a message also ends it.
async fn read_message_or_cut<R: AsyncRead + Unpin>(reader: &mut R) -> Option<Message> {
    let mut length = [0u8; 2];
    reader.read_exact(&mut length).await.ok()?;
    let mut wire = vec![0; usize::from(u16::from_be_bytes(length))];
    reader.read_exact(&mut wire).await.ok()?;
    Some(Message::from_vec(&wire).expect("the response decodes"))
}

#[tokio::test(start_paused = true)]
async fn rfc1035_s4_2_2_undecodable_request_gets_formerr_and_responses_are_ignored() {
    // RFC 1035 §4.1.1: Format error - "The name server was unable to interpret the query."
    let mut client = connect(64 * 1024);
    // A header announcing one question, and no question.
    let header = [0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    client.write_all(&[0, 12]).await.expect("written");
    client.write_all(&header).await.expect("written");
    let answer = read_message(&mut client).await.expect("an answer");
    assert_eq!(answer.metadata.id, 0x1234);
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr);
    // A message that is itself a response gets nothing; the next query is still answered.
    let mut response = framed(5, "big.test.", RecordType::SOA);
    response[4] |= 0x80;
    client.write_all(&response).await.expect("written");
    client
        .write_all(&framed(6, "big.test.", RecordType::SOA))
        .await
        .expect("written");
    let answer = read_message(&mut client).await.expect("an answer");
    assert_eq!(answer.metadata.id, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listener_streams_a_transfer_and_closes_idle_connections() {
    // Over a real socket: a query, then an AXFR on the same connection, then the idle close
    // (a bounded real wait: 300 ms idle timeout).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind on loopback");
    let addr = listener.local_addr().expect("bound");
    let timeouts = TcpTimeouts {
        idle: Duration::from_millis(300),
        write: Duration::from_secs(30),
    };
    let server = tokio::spawn(serve_listener(
        listener,
        handler(),
        timeouts,
        super::ConnectionLimits::unlimited(),
    ));
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connected");
    stream
        .write_all(&framed(1, "big.test.", RecordType::SOA))
        .await
        .expect("written");
    let answer = read_message(&mut stream).await.expect("an answer");
    assert_eq!(answer.answers.len(), 1);
    let (messages, records) = axfr(&mut stream, Duration::ZERO).await;
    assert!(messages >= 8, "{messages} messages");
    assert_eq!(records, ALL_RECORDS);
    // The idle timer starts when the server has written its last response, which a busy
    // client may read later: time it from a small answer read at once.
    stream
        .write_all(&framed(2, "big.test.", RecordType::SOA))
        .await
        .expect("written");
    assert!(
        read_message(&mut stream).await.is_some(),
        "answered after the transfer"
    );
    let idle = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), read_message(&mut stream)).await;
    assert!(matches!(closed, Ok(None)), "closed when idle");
    assert!(
        idle.elapsed() >= Duration::from_millis(200),
        "{:?}",
        idle.elapsed()
    );
    server.abort();
}

#[test]
fn rfc7766_s6_2_2_connections_are_capped_per_client_and_in_total() {
    // RFC 7766 §6.2.2: servers "MAY impose limits on the number of concurrent TCP connections
    // being handled for any particular client IP address or subnet".
    let limits = super::ConnectionLimits::new(3, 2);
    let a: std::net::IpAddr = "192.0.2.1".parse().expect("ip");
    let b: std::net::IpAddr = "192.0.2.2".parse().expect("ip");
    let v6: std::net::IpAddr = "2001:db8::1".parse().expect("ip");
    let v6_same_64: std::net::IpAddr = "2001:db8::ffff".parse().expect("ip");
    let first = limits.admit(a).expect("a 1");
    let _second = limits.admit(a).expect("a 2");
    assert!(limits.admit(a).is_none(), "a third from one client");
    let _third = limits.admit(b).expect("b 1");
    assert!(limits.admit(v6).is_none(), "the total cap");
    assert_eq!((limits.open(), limits.refused()), (3, 2));
    // Closing one frees its place.
    drop(first);
    let _v6 = limits.admit(v6).expect("v6 1");
    drop(_third);
    let _v6b = limits.admit(v6_same_64).expect("the same /64: its second");
    assert!(limits.admit(v6_same_64).is_none(), "a /64 is one client");
}
