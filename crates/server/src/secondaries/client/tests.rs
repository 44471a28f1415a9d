//! The one DNS exchange against a loopback server: what is an answer to our query, TCP after
//! truncation, TSIG, and the timeout.

use std::str::FromStr;

use hickory_proto::op::{OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

use super::*;
use crate::clock::{SystemClock, TokioClock};
use crate::config::{TsigAlgorithmConfig, TsigKeyConfig};

fn name() -> Name {
    Name::from_str("www.example.com.").expect("name")
}

fn query() -> Message {
    let mut message = Message::new(0, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name(), RecordType::A));
    message
}

fn key_config(secret: &[u8]) -> TsigKeyConfig {
    TsigKeyConfig {
        name: Name::from_str("client-key.").expect("name"),
        algorithm: TsigAlgorithmConfig::HmacSha256,
        secret: secret.to_vec(),
    }
}

fn client(timeout: Duration) -> Client {
    Client::new(Arc::new(SystemClock), timeout)
}

/// The answer to `request` (same ID and question unless changed by the caller), with one A
/// record unless truncated.
fn answer(request: &Message, truncated: bool) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.truncation = truncated;
    for q in &request.queries {
        response.add_query(q.clone());
    }
    if !truncated {
        response.add_answer(Record::from_rdata(
            name(),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
    }
    response
}

/// A UDP socket and a TCP listener on the same loopback port, for the test servers of the
/// secondaries' exchanges. Another test or process may hold the TCP port of the port number
/// the kernel gave the UDP socket, so a few are tried.
pub(crate) async fn loopback_pair() -> (UdpSocket, SocketAddr, tokio::net::TcpListener) {
    for _ in 0..20 {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let address = socket.local_addr().expect("addr");
        if let Ok(listener) = tokio::net::TcpListener::bind(address).await {
            return (socket, address, listener);
        }
    }
    panic!("no UDP and TCP port pair on loopback within 20 tries");
}

/// A loopback server: each UDP query gets the datagrams `udp` makes of it; TCP queries get
/// the full answer.
async fn server(udp: impl Fn(&[u8], &Message) -> Vec<Vec<u8>> + Send + 'static) -> SocketAddr {
    let (socket, address, listener) = loopback_pair().await;
    tokio::spawn(async move {
        let mut buf = vec![0; 4096];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            let raw = &buf[..len];
            let request = Message::from_vec(raw).expect("parses");
            for datagram in udp(raw, &request) {
                let _ = socket.send_to(&datagram, from).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await.expect("length");
            let mut raw = vec![0; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut raw).await.expect("message");
            let request = Message::from_vec(&raw).expect("parses");
            let out = answer(&request, false).to_vec().expect("encodes");
            let framed = crate::secondaries::client::framed(&out).expect("short");
            stream.write_all(&framed).await.expect("write");
        }
    });
    address
}

/// RFC 5452 §9.1: a response is accepted only when its ID matches the query's; a datagram
/// with another ID is discarded, and the real answer after it is taken.
#[tokio::test]
async fn rfc5452_s9_1_an_answer_with_another_id_is_discarded() {
    let address = server(|_, request| {
        let mut wrong = answer(request, false);
        wrong.metadata.id = request.metadata.id.wrapping_add(1);
        vec![
            wrong.to_vec().expect("encodes"),
            answer(request, false).to_vec().expect("encodes"),
        ]
    })
    .await;
    let response = client(Duration::from_secs(5))
        .exchange(address, &query(), None)
        .await
        .expect("the matching answer");
    assert_eq!(response.answers.len(), 1);

    let address = server(|_, request| {
        let mut wrong = answer(request, false);
        wrong.metadata.id = request.metadata.id.wrapping_add(1);
        vec![wrong.to_vec().expect("encodes")]
    })
    .await;
    let error = client(Duration::from_millis(300))
        .exchange(address, &query(), None)
        .await
        .expect_err("only a wrong ID");
    assert!(matches!(error, ClientError::Timeout { .. }), "{error}");
}

/// RFC 5452 §9.1: the question of the response must be the query's too.
#[tokio::test]
async fn rfc5452_s9_1_an_answer_to_another_question_is_discarded() {
    let address = server(|_, request| {
        let mut other = answer(request, false);
        other.queries = vec![Query::query(
            Name::from_str("other.example.com.").expect("name"),
            RecordType::A,
        )];
        vec![other.to_vec().expect("encodes")]
    })
    .await;
    let error = client(Duration::from_millis(300))
        .exchange(address, &query(), None)
        .await
        .expect_err("another question");
    assert!(matches!(error, ClientError::Timeout { .. }), "{error}");
}

/// RFC 7766 §5 (RFC 1035 §4.2.1): a truncated UDP answer is asked again over TCP.
#[tokio::test]
async fn rfc7766_s5_a_truncated_answer_is_asked_again_over_tcp() {
    let address = server(|_, request| vec![answer(request, true).to_vec().expect("encodes")]).await;
    let response = client(Duration::from_secs(5))
        .exchange(address, &query(), None)
        .await
        .expect("the TCP answer");
    assert!(!response.metadata.truncation);
    assert_eq!(response.answers.len(), 1);
}

/// RFC 8945 §5.3: the answer to a signed query must carry a valid MAC by the same key; one
/// whose MAC is altered is refused, the untouched one accepted.
#[tokio::test]
async fn rfc8945_s5_3_an_answer_with_a_bad_mac_is_refused() {
    for good in [true, false] {
        let ring = KeyRing::new(&[key_config(b"the shared secret")]);
        let address = server(move |raw, request| {
            let now = SystemClock.unix_time();
            let Ok(tsig::Outcome::Verified(verified)) = tsig::verify_request(raw, &ring, now)
            else {
                panic!("the query is validly signed");
            };
            let unsigned = answer(request, false).to_vec().expect("encodes");
            let mut signer = tsig::ResponseSigner::new(&verified);
            let tsig = signer.sign(&unsigned, now).expect("signs");
            let mut signed = tsig::append(&unsigned, &tsig).expect("appends");
            if !good {
                // The MAC ends before original ID, error and other length (6 octets).
                let at = signed.len() - 7;
                signed[at] ^= 1;
            }
            vec![signed]
        })
        .await;
        let key = Arc::new(TsigKey::new(&key_config(b"the shared secret")));
        let result = client(Duration::from_secs(5))
            .exchange(address, &query(), Some(&key))
            .await;
        if good {
            assert_eq!(result.expect("signed answer").answers.len(), 1);
        } else {
            let error = result.expect_err("bad MAC");
            assert!(matches!(error, ClientError::BadTsig { .. }), "{error}");
        }
    }
}

/// A server that never answers: the exchange ends at its timeout (on tokio's paused clock,
/// without waiting), and says how long it waited.
#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let clock = Arc::new(TokioClock::new(SystemClock.now()));
    let error = Client::new(clock, Duration::from_secs(5))
        .exchange(silent.local_addr().expect("addr"), &query(), None)
        .await
        .expect_err("no answer");
    assert!(matches!(error, ClientError::Timeout { .. }), "{error}");
    assert_eq!(error.to_string(), "no answer within 5s");
}
