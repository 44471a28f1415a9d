//! The query path: one DNS message in, daned's responses out, over UDP as the UDP worker
//! answers it (the handler's fast path, else hickory's `Request` and the `RequestHandler`) and
//! over TCP through daned's own connection loop.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use daned::config::Config;
use daned::serve::handler::Handler;
use daned::serve::query::Catalog;
use daned::serve::screen::Screened;
use daned::serve::snapshot::Snapshot;
use daned::serve::tcp::{TcpTimeouts, serve_connection};
use daned::serve::wire::FastPath;
use daned::serve::xfr::TransferPolicy;
use daned::zone::persist::journal::{Journal, JournalLimits};
use daned::zone::zonefile;
use daned_sign::keys::{KeyRole, SigningKey};
use daned_sign::nsec3::{Denial, Nsec3Params};
use daned_sign::sign::{SignCtx, SignPolicy, ZoneKey, apply_changes, sign_zone};
use daned_sign::zone::SignedZone;
use hickory_proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// The example zone `make run` serves.
const EXAMPLE: &str = include_str!("../../zones/example.com.zone");

/// Added to the example zone: a TLSA RRset, a DS at the delegation, and a TXT RRset of about
/// 1,400 bytes that fits neither 512 nor 1232 bytes, so truncation is reachable.
const EXTRA: &str = r#"
_25._tcp.mail IN TLSA 3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6
sub IN DS 12345 13 2 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6
big IN TXT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
big IN TXT "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
big IN TXT "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
big IN TXT "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
big IN TXT "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
big IN TXT "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
"#;

/// One more record in the newest version, so that the journal holds one delta.
const CHANGE: &str = "new IN A 192.0.2.7\n";

/// The serial of the first version; the served one is the next.
pub(crate) const OLD_SERIAL: u32 = 2026112801;

/// The fuzzed client: inside the transfer ACL of example.com (no key) and of example.net
/// (with the key `xfr-key`).
const CLIENT: &str = "192.0.2.100:53000";

/// The UDP payload daned is configured to send at most (its default).
const UDP_CAP: u16 = 1232;

/// Transfer ACLs and a TSIG key, in the config format daned reads.
const CONFIG: &str = r#"version = "v1"
[[tsig-key]]
name = "xfr-key"
algorithm = "hmac-sha256"
secret = "c2VjcmV0LXNoYTI1Ni1rZXktZm9yLXRlc3Rz"
[[zone]]
origin = "example.com"
file = "example.com.zone"
allow-transfer = [{ prefix = "192.0.2.0/24" }]
[[zone]]
origin = "example.net"
file = "example.net.zone"
allow-transfer = [{ prefix = "192.0.2.0/24", tsig-key = "xfr-key" }]
"#;

/// Signing time: 2026-12-01, fixed so that every run serves the same records.
const NOW: u32 = 1_796_083_200;

struct Fixture {
    runtime: Runtime,
    handler: Arc<Handler>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let key = SigningKey::from_ed25519_seed(&[7; 32], KeyRole::Csk).expect("a test key");
        let (com, com_journal) = zone("example.com.", &key, Denial::Nsec);
        let (net, _) = zone("example.net.", &key, Denial::Nsec3(Nsec3Params::default()));
        let catalog = Catalog::new([Arc::new(com.clone()), Arc::new(net)])
            .with_journals([(com.origin().clone(), Arc::new(com_journal))]);
        let config = Config::parse(CONFIG, "/nonexistent/daned.toml".as_ref())
            .expect("the fixture config parses");
        let handler = Handler::new(Arc::new(ArcSwap::from_pointee(Snapshot::new(
            Arc::new(catalog),
            Arc::new(TransferPolicy::from_config(&config)),
            UDP_CAP,
        ))));
        Fixture {
            runtime,
            handler: Arc::new(handler),
        }
    })
}

/// The example zone under `origin`, signed at [`OLD_SERIAL`] and then again with [`CHANGE`]
/// through the incremental signer, with the journal of that change.
fn zone(origin: &str, key: &SigningKey, denial: Denial) -> (SignedZone, Journal) {
    let text = format!("{EXAMPLE}{EXTRA}").replace("example.com.", origin);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let name = Name::from_ascii(origin).expect("origin");
    let load = |text: &str| {
        let path = dir.path().join("zone");
        std::fs::write(&path, text).expect("zone file written");
        zonefile::load_zone(&path, &name, &zonefile::ZoneLimits::default())
            .expect("fixture zone loads")
            .zone
    };
    let old = load(&text);
    let new = load(&format!("{text}{CHANGE}"));
    let rng = ring::rand::SystemRandom::new();
    let keys = [ZoneKey::steady(key)];
    let ctx = SignCtx {
        now: NOW,
        policy: SignPolicy::default(),
        keys: &keys,
        dnskey_ttl: 3600,
        rng: &rng,
        denial,
        threads: std::num::NonZeroUsize::MIN,
    };
    let signed = sign_zone(&ctx, &old, OLD_SERIAL).expect("fixture zone signs");
    let (signed, delta) =
        apply_changes(&ctx, &signed, &old.diff(&new), OLD_SERIAL + 1).expect("change signs");
    let mut journal = Journal::new(JournalLimits::default());
    journal.push(delta).expect("journal takes the delta");
    (signed, journal)
}

/// Answers `data` over UDP and over TCP and checks every response.
pub fn query(data: &[u8]) {
    let fixture = fixture();
    let client: SocketAddr = CLIENT.parse().expect("address");
    // Both servers drop what is shorter than a header or is itself a response.
    let Ok(header) = Header::read(&mut BinDecoder::new(data)) else {
        return;
    };
    if header.metadata.message_type == MessageType::Response {
        return;
    }
    // Both servers screen the raw bytes first (serve/screen.rs): a malformed request gets a
    // FORMERR of its bare header, which must parse, carry the ID, and echo no question.
    let mut screened = data.to_vec();
    match daned::serve::screen::screen(&mut screened, client) {
        Screened::Pass => {}
        Screened::Drop => return,
        Screened::FormErr(response, reason) => {
            let parsed = Message::from_vec(&response)
                .unwrap_or_else(|e| panic!("the FORMERR ({reason}) does not parse: {e}"));
            assert_eq!(parsed.metadata.id, header.metadata.id, "{reason}");
            assert_eq!(
                parsed.metadata.response_code,
                ResponseCode::FormErr,
                "{reason}"
            );
            assert!(
                parsed.queries.is_empty(),
                "{reason}: a FORMERR echoes no question"
            );
            return;
        }
    }
    let data = screened.as_slice();
    let request = Request::from_bytes(data.to_vec(), client, Protocol::Udp).ok();
    // As the UDP worker does: the fast path first, hickory's `Request` when it declines.
    let mut fast = Vec::new();
    let answered_fast = fixture
        .handler
        .answer_fast(data, client, Protocol::Udp, &mut fast)
        .is_some();
    let (udp, unencodable) = match &request {
        _ if answered_fast => {
            assert!(
                request.is_some(),
                "the fast path answered what hickory cannot decode"
            );
            (vec![fast], Vec::new())
        }
        // An undecodable datagram gets hickory's own FORMERR, not daned's code.
        None => (Vec::new(), Vec::new()),
        Some(request) => fixture.runtime.block_on(udp(&fixture.handler, request)),
    };
    let tcp = fixture
        .runtime
        .block_on(tcp(fixture.handler.clone(), data, client));

    let id = header.metadata.id;
    // A single question that hickory could decode is echoed as it came, case included (hickory
    // lowercases the request's own copy, so the question is read again, case kept).
    let question = request
        .as_ref()
        .and_then(|r| match r.queries.queries() {
            [one] => Some(one.clone()),
            _ => None,
        })
        .map(|q| {
            let exact = Message::from_vec(data)
                .ok()
                .and_then(|m| m.queries.first().map(|q| q.name().to_ascii()))
                .filter(|exact| exact.eq_ignore_ascii_case(&q.name().to_ascii()));
            let case_kept = exact.is_some();
            let name = exact.unwrap_or_else(|| q.name().to_ascii());
            (name, case_kept, q.query_type(), q.query_class())
        });
    let limit = match request.as_ref().and_then(|r| r.edns.as_ref()) {
        Some(edns) => edns.max_payload().clamp(512, UDP_CAP),
        None => 512,
    };

    if request.is_some() {
        assert_eq!(udp.len(), 1, "one UDP response per query");
    }
    // Known: the FORMERR to a request without exactly one question echoes every question, and
    // past 512 bytes hickory sends SERVFAIL instead (and logs at ERROR). With one question
    // every response must encode.
    if let (Some(_), [error, ..]) = (&question, unencodable.as_slice()) {
        panic!("the UDP response to a single question does not encode: {error}");
    }
    assert!(!tcp.is_empty(), "a TCP query with a header is answered");
    let mut full_length = None;
    for (protocol, wire) in udp
        .iter()
        .map(|w| (Protocol::Udp, w))
        .chain(tcp.iter().map(|w| (Protocol::Tcp, w)))
    {
        let response = Message::from_vec(wire)
            .unwrap_or_else(|e| panic!("the {protocol} response does not parse: {e}\n{wire:02x?}"));
        assert_eq!(response.metadata.id, id, "{protocol} response ID");
        assert_eq!(
            response.metadata.message_type,
            MessageType::Response,
            "{protocol} response QR"
        );
        if let Some((name, case_kept, qtype, class)) = &question {
            let echoed = response
                .queries
                .iter()
                .map(|q| (q.name().to_ascii(), q.query_type(), q.query_class()))
                .collect::<Vec<_>>();
            let same = match echoed.as_slice() {
                [(echoed, t, c)] => {
                    (echoed == name || (!case_kept && echoed.eq_ignore_ascii_case(name)))
                        && t == qtype
                        && c == class
                }
                _ => false,
            };
            assert!(
                same,
                "the {protocol} response echoes {echoed:?}, not the question {name} {qtype} {class}"
            );
        }
        if protocol == Protocol::Udp {
            assert!(
                wire.len() <= usize::from(limit),
                "UDP response of {} bytes over the limit {limit}",
                wire.len()
            );
        } else if full_length.is_none() && !response.metadata.truncation {
            full_length = Some(wire.len());
        }
    }
    // TC only when needed: the answer daned gives over TCP to the same query (unsigned: no
    // fuzzed TSIG verifies) would not have fit.
    if let ([udp], Some(full)) = (udp.as_slice(), full_length) {
        let response = Message::from_vec(udp).expect("checked above");
        if response.metadata.truncation && response.signature().is_none() {
            assert!(
                full > usize::from(limit),
                "TC set on a UDP response whose TCP answer of {full} bytes fits {limit}\n\
                 UDP {response:?}\nTCP {:?}",
                tcp.iter().map(|w| Message::from_vec(w)).collect::<Vec<_>>()
            );
        }
    }
}

/// The responses to `request` over UDP, encoded as hickory's UDP server does, and why any of
/// them did not encode.
async fn udp(handler: &Handler, request: &Request) -> (Vec<Vec<u8>>, Vec<String>) {
    let capture = UdpCapture {
        sent: Arc::default(),
        failed: Arc::default(),
    };
    handler
        .handle_request::<_, TokioTime>(request, capture.clone())
        .await;
    let sent = std::mem::take(&mut *capture.sent.lock().expect("not poisoned"));
    let failed = std::mem::take(&mut *capture.failed.lock().expect("not poisoned"));
    (sent, failed)
}

/// The responses to `message` through daned's TCP connection loop: the message framed, the
/// client's side closed, every response read until the server closes.
async fn tcp(handler: Arc<Handler>, message: &[u8], client: SocketAddr) -> Vec<Vec<u8>> {
    let Ok(length) = u16::try_from(message.len()) else {
        return Vec::new();
    };
    let (mut near, far) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(serve_connection(
        far,
        client,
        handler,
        TcpTimeouts {
            idle: Duration::from_secs(5),
            write: Duration::from_secs(5),
        },
    ));
    near.write_all(&length.to_be_bytes())
        .await
        .expect("duplex write");
    near.write_all(message).await.expect("duplex write");
    near.shutdown().await.expect("duplex shutdown");
    let mut stream = Vec::new();
    near.read_to_end(&mut stream).await.expect("duplex read");
    server.await.expect("the connection task does not panic");
    let mut responses = Vec::new();
    let mut rest = stream.as_slice();
    while let [high, low, tail @ ..] = rest {
        let length = usize::from(u16::from_be_bytes([*high, *low]));
        assert!(tail.len() >= length, "a TCP response cut short");
        responses.push(tail[..length].to_vec());
        rest = &tail[length..];
    }
    assert!(rest.is_empty(), "a stray byte after the TCP responses");
    responses
}

/// Encodes responses exactly as hickory's `ResponseHandle` does over UDP (its `encode` is
/// private): the encoder is capped at the response OPT's payload, or 512 without OPT, and a
/// response that does not encode is replaced by a bare SERVFAIL header.
#[derive(Clone)]
struct UdpCapture {
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Why a response did not encode (and a SERVFAIL went instead).
    failed: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for UdpCapture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let id = response.metadata().id;
        let max = response.edns().map_or(512, Edns::max_payload);
        let mut buf = Vec::new();
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_max_size(max);
        let info = match response.destructive_emit(&mut encoder) {
            Ok(info) => info,
            // hickory's fallback: a bare SERVFAIL header.
            Err(error) => {
                self.failed
                    .lock()
                    .expect("not poisoned")
                    .push(error.to_string());
                let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
                metadata.response_code = ResponseCode::ServFail;
                let header = Header {
                    metadata,
                    counts: HeaderCounts::default(),
                };
                buf.clear();
                header.emit(&mut BinEncoder::new(&mut buf))?;
                ResponseInfo::from(header)
            }
        };
        self.sent.lock().expect("not poisoned").push(buf);
        Ok(info)
    }
}
