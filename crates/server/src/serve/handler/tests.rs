//! Handler tests: wire-format requests in, wire-format responses out, decoded and checked.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;

use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

use super::Handler;
use crate::config::NetLimits;
use crate::serve::cookie::COOKIE_OPTION;
use crate::serve::query::Catalog;
use crate::serve::query::tests::{example_zone, parse_zone, show};
use crate::serve::rrl::RateLimiter;
use crate::serve::snapshot::Snapshot;

/// Encodes responses exactly as hickory's `ResponseHandle` does (its `encode` is private): over
/// UDP the encoder is capped at the response OPT's payload, or 512 without OPT.
#[derive(Clone)]
pub(crate) struct Capture {
    pub(crate) protocol: Protocol,
    pub(crate) sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
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
        let max = match self.protocol {
            Protocol::Udp => response.edns().map_or(512, Edns::max_payload),
            _ => u16::MAX,
        };
        let mut buf = Vec::new();
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_max_size(max);
        let info = response.destructive_emit(&mut encoder)?;
        self.sent.lock().expect("not poisoned").push(buf);
        Ok(info)
    }
}

/// A zone with one TXT RRset of about 700 bytes and one with long owner names that compress
/// well.
const BIG: &str = "$ORIGIN big.test.
big.test. 3600 IN SOA ns.big.test. hostmaster.big.test. 1 7200 3600 1209600 300
big.test. 3600 IN NS ns.big.test.
txt.big.test. 3600 IN TXT \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"
txt.big.test. 3600 IN TXT \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"
txt.big.test. 3600 IN TXT \"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"
a-rather-long-label-that-repeats-in-every-owner-name-of-the-set.big.test. 3600 IN A 192.0.2.1
a-rather-long-label-that-repeats-in-every-owner-name-of-the-set.big.test. 3600 IN A 192.0.2.2
a-rather-long-label-that-repeats-in-every-owner-name-of-the-set.big.test. 3600 IN A 192.0.2.3
a-rather-long-label-that-repeats-in-every-owner-name-of-the-set.big.test. 3600 IN A 192.0.2.4
a-rather-long-label-that-repeats-in-every-owner-name-of-the-set.big.test. 3600 IN A 192.0.2.5
a-rather-long-label-that-repeats-in-every-owner-name-of-the-set.big.test. 3600 IN A 192.0.2.6
";
const LONG: &str = "a-rather-long-label-that-repeats-in-every-owner-name-of-the-set.big.test.";

fn catalog() -> Catalog {
    let zones = [
        Arc::new(example_zone()),
        Arc::new(parse_zone(BIG, "big.test.")),
    ];
    Catalog::new(zones)
}

/// A snapshot serving `catalog` with UDP responses capped at `cap` bytes, no transfers.
fn serving(catalog: Catalog, cap: u16) -> Arc<ArcSwap<Snapshot>> {
    Arc::new(ArcSwap::from_pointee(Snapshot::serving(catalog, cap)))
}

/// How a test request is built.
struct Ask {
    qname: &'static str,
    qtype: RecordType,
    class: DNSClass,
    /// `(payload, DO, version)` of the request OPT, if any.
    edns: Option<(u16, bool, u8)>,
    op_code: OpCode,
    questions: usize,
    protocol: Protocol,
    /// The COOKIE option data of the request OPT, if any.
    cookie: Option<Vec<u8>>,
}

fn ask(qname: &'static str, qtype: RecordType) -> Ask {
    Ask {
        qname,
        qtype,
        class: DNSClass::IN,
        edns: None,
        op_code: OpCode::Query,
        questions: 1,
        protocol: Protocol::Udp,
        cookie: None,
    }
}

impl Ask {
    fn edns(mut self, payload: u16, dnssec_ok: bool) -> Self {
        self.edns = Some((payload, dnssec_ok, 0));
        self
    }

    fn wire(&self) -> Vec<u8> {
        let mut message = Message::new(0x5a5a, MessageType::Query, self.op_code);
        message.metadata.recursion_desired = true;
        message.metadata.checking_disabled = true;
        for _ in 0..self.questions {
            let mut query = Query::query(Name::from_ascii(self.qname).expect("name"), self.qtype);
            query.set_query_class(self.class);
            message.add_query(query);
        }
        if let Some((payload, dnssec_ok, version)) = self.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(payload)
                .set_dnssec_ok(dnssec_ok)
                .set_version(version);
            if let Some(cookie) = &self.cookie {
                edns.options_mut()
                    .insert(EdnsOption::Unknown(COOKIE_OPTION, cookie.clone()));
            }
            message.set_edns(edns);
        }
        message.to_vec().expect("request encodes")
    }

    /// Every response `handler` sends (none when the rate limiter drops it).
    async fn send_all(&self, handler: &Handler) -> Vec<Message> {
        let src: SocketAddr = "192.0.2.100:53000".parse().expect("address");
        let request =
            Request::from_bytes(self.wire(), src, self.protocol).expect("request decodes");
        let sent = Arc::new(Mutex::new(Vec::new()));
        let capture = Capture {
            protocol: self.protocol,
            sent: sent.clone(),
        };
        handler
            .handle_request::<_, TokioTime>(&request, capture)
            .await;
        let sent = sent.lock().expect("not poisoned");
        sent.iter()
            .map(|wire| Message::from_vec(wire).expect("response decodes"))
            .collect()
    }

    async fn send_to(&self, handler: &Handler) -> (Message, usize) {
        let src: SocketAddr = "192.0.2.100:53000".parse().expect("address");
        let request =
            Request::from_bytes(self.wire(), src, self.protocol).expect("request decodes");
        let sent = Arc::new(Mutex::new(Vec::new()));
        let capture = Capture {
            protocol: self.protocol,
            sent: sent.clone(),
        };
        handler
            .handle_request::<_, TokioTime>(&request, capture)
            .await;
        let mut sent = sent.lock().expect("not poisoned");
        assert_eq!(sent.len(), 1, "exactly one response");
        let wire = sent.pop().expect("one response");
        let message = Message::from_vec(&wire).expect("response decodes");
        (message, wire.len())
    }

    async fn send(&self) -> Message {
        self.send_to(&Handler::new(serving(catalog(), 1232)))
            .await
            .0
    }
}

fn lines(records: &[Record]) -> Vec<String> {
    records.iter().map(show).collect()
}

#[tokio::test]
async fn rfc1035_s4_1_1_answer_header_flags() {
    // RFC 1035 §4.1.1: RD "may be set in a query and is copied into the response"; AA
    // "specifies that the responding name server is an authority for the domain name in
    // question section". No recursion: RA stays clear.
    let response = ask("a.example.", RecordType::A).send().await;
    let m = &response.metadata;
    assert_eq!(m.id, 0x5a5a);
    assert_eq!(m.message_type, MessageType::Response);
    assert_eq!(m.op_code, OpCode::Query);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.authoritative);
    assert!(m.recursion_desired);
    assert!(!m.recursion_available);
    assert!(!m.truncation);
    assert!(!m.authentic_data);
    assert_eq!(response.queries.len(), 1);
    assert_eq!(lines(&response.answers), ["a.example. 3600 A 192.0.2.1"]);
    assert!(response.authorities.is_empty());
    assert!(response.additionals.is_empty());
    assert!(
        response.edns.is_none(),
        "no OPT in the request, none in the response"
    );
}

#[tokio::test]
async fn rfc6891_s6_1_1_response_has_opt_with_our_payload_and_do_echoed() {
    // RFC 6891 §6.1.1: "If an OPT record is present in a received request, compliant responders
    // MUST include an OPT record in their respective responses."
    for dnssec_ok in [false, true] {
        let response = ask("a.example.", RecordType::A)
            .edns(4096, dnssec_ok)
            .send()
            .await;
        let edns = response.edns.as_ref().expect("OPT in the response");
        assert_eq!(edns.version(), 0);
        assert_eq!(edns.max_payload(), 1232, "our cap, not the client's 4096");
        assert_eq!(edns.flags().dnssec_ok, dnssec_ok);
        // RFC 4035 §3.1.1: RRSIGs only when DO is set.
        let expected = if dnssec_ok { 2 } else { 1 };
        assert_eq!(response.answers.len(), expected);
    }
}

#[tokio::test]
async fn rfc6891_s6_1_3_unknown_edns_version_gets_badvers() {
    // RFC 6891 §6.1.3: "If a responder does not implement the VERSION level of the request,
    // then it MUST respond with RCODE=BADVERS."
    let mut request = ask("a.example.", RecordType::A);
    request.edns = Some((1232, true, 1));
    let response = request.send().await;
    // BADVERS and BADSIG share the value 16; hickory's decoder names it BADSIG.
    assert_eq!(u16::from(response.metadata.response_code), 16);
    assert_eq!(u16::from(ResponseCode::BADVERS), 16);
    let edns = response.edns.as_ref().expect("BADVERS travels in the OPT");
    assert_eq!(edns.version(), 0, "the highest version we implement");
    assert!(response.answers.is_empty());
}

#[tokio::test]
async fn rfc9619_query_without_exactly_one_question_gets_formerr() {
    for questions in [0, 2] {
        let mut request = ask("a.example.", RecordType::A);
        request.questions = questions;
        let response = request.send().await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::FormErr,
            "{questions} questions"
        );
        assert!(response.answers.is_empty());
    }
}

#[tokio::test]
async fn rfc1035_s4_1_1_other_opcodes_get_notimp() {
    // RFC 1035 §4.1.1: "Not Implemented - The name server does not support the requested kind
    // of query."
    for op_code in [OpCode::Status, OpCode::Update, OpCode::Notify] {
        let mut request = ask("example.", RecordType::SOA);
        request.op_code = op_code;
        let response = request.send().await;
        assert_eq!(response.metadata.response_code, ResponseCode::NotImp);
        assert_eq!(response.metadata.op_code, op_code);
        assert!(response.answers.is_empty());
    }
}

#[tokio::test]
async fn rfc1035_s4_1_1_refused_outside_our_zones_class_and_transfers() {
    // RFC 1035 §4.1.1: "Refused - The name server refuses to perform the specified operation
    // for policy reasons."
    let mut chaos = ask("version.bind.", RecordType::TXT);
    chaos.class = DNSClass::CH;
    for request in [
        ask("www.example.net.", RecordType::A),
        ask("test.", RecordType::SOA),
        ask(".", RecordType::NS),
        chaos,
        ask("example.", RecordType::AXFR),
        ask("example.", RecordType::IXFR),
    ] {
        let response = request.send().await;
        assert_eq!(
            response.metadata.response_code,
            ResponseCode::Refused,
            "{} {}",
            request.qname,
            request.qtype
        );
        assert!(!response.metadata.authoritative);
        assert!(response.answers.is_empty());
        assert_eq!(response.queries.len(), 1, "the question is echoed");
    }
}

#[tokio::test]
async fn rfc4035_s3_1_4_referral_through_the_handler() {
    let response = ask("www.sub.example.", RecordType::A)
        .edns(1232, true)
        .send()
        .await;
    assert!(!response.metadata.authoritative);
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.answers.is_empty());
    let types: Vec<_> = response
        .authorities
        .iter()
        .map(Record::record_type)
        .collect();
    assert_eq!(
        types,
        [
            RecordType::NS,
            RecordType::NS,
            RecordType::DS,
            RecordType::RRSIG
        ]
    );
    // Glue (3 addresses + 1 RRSIG); hickory's decoder moves the OPT out of the section.
    assert_eq!(response.additionals.len(), 4);
    assert!(response.edns.is_some());
}

#[tokio::test]
async fn rfc4035_s3_1_3_2_nxdomain_through_the_handler() {
    let response = ask("nx.example.", RecordType::A)
        .edns(1232, true)
        .send()
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    assert!(response.metadata.authoritative);
    assert_eq!(response.authorities.len(), 6);
}

#[tokio::test]
async fn rfc1035_s4_2_1_udp_without_edns_is_limited_to_512_and_truncated_empty() {
    // RFC 1035 §4.2.1: "Messages carried by UDP are restricted to 512 bytes (not counting the IP
    // or UDP headers). Longer messages are truncated and the TC bit is set in the header."
    let (response, size) = ask("txt.big.test.", RecordType::TXT)
        .send_to(&Handler::new(serving(catalog(), 1232)))
        .await;
    assert!(size <= 512);
    assert!(response.metadata.truncation);
    assert!(response.metadata.authoritative);
    assert_eq!(response.queries.len(), 1, "the question is kept");
    assert!(response.answers.is_empty(), "no partial RRset");
    assert!(response.authorities.is_empty());
    assert!(response.additionals.is_empty());
}

#[tokio::test]
async fn rfc6891_s7_response_fits_the_clients_payload_or_is_truncated() {
    // RFC 6891 §6.2.3: the requestor's payload size is "the number of octets of the largest UDP
    // payload that can be reassembled and delivered in the requestor's network stack".
    let handler = Handler::new(serving(catalog(), 1232));
    let (response, size) = ask("txt.big.test.", RecordType::TXT)
        .edns(1232, false)
        .send_to(&handler)
        .await;
    assert!(!response.metadata.truncation);
    assert_eq!(response.answers.len(), 3);
    assert!(size > 512 && size <= 1232);

    // A client offering less than the response needs (the response OPT says 1232, so
    // hickory's encoder alone would not truncate): TC, question and OPT, no records.
    let (response, size) = ask("txt.big.test.", RecordType::TXT)
        .edns(600, false)
        .send_to(&handler)
        .await;
    assert!(response.metadata.truncation);
    assert!(response.answers.is_empty());
    assert_eq!(response.queries.len(), 1);
    assert!(response.edns.is_some(), "the OPT stays");
    assert!(size <= 600);

    // Values below 512 count as 512 (RFC 6891 §6.2.5).
    let mut request = ask("a.example.", RecordType::A);
    request.edns = Some((100, false, 0));
    let (response, _) = request.send_to(&handler).await;
    assert!(!response.metadata.truncation);
    assert_eq!(response.answers.len(), 1);
}

#[tokio::test]
async fn rfc6891_s6_2_5_our_cap_limits_udp_even_when_the_client_offers_more() {
    let handler = Handler::new(serving(catalog(), 600));
    let (response, _) = ask("txt.big.test.", RecordType::TXT)
        .edns(4096, false)
        .send_to(&handler)
        .await;
    assert!(response.metadata.truncation);
    assert!(response.answers.is_empty());
    assert_eq!(response.edns.as_ref().map(Edns::max_payload), Some(600));
}

#[tokio::test]
async fn rfc7766_s6_2_tcp_responses_are_not_limited_to_the_udp_size() {
    let mut request = ask("txt.big.test.", RecordType::TXT);
    request.protocol = Protocol::Tcp;
    let (response, size) = request
        .send_to(&Handler::new(serving(catalog(), 512)))
        .await;
    assert!(!response.metadata.truncation);
    assert_eq!(response.answers.len(), 3);
    assert!(size > 512);
}

#[tokio::test]
async fn rfc1035_s4_1_4_compressed_response_that_fits_is_not_truncated() {
    // Six A records whose long owner names compress to pointers: the uncompressed bound is
    // over 512 bytes, the real message is not, so it is sent whole.
    let (response, size) = ask(LONG, RecordType::A)
        .send_to(&Handler::new(serving(catalog(), 1232)))
        .await;
    assert!(!response.metadata.truncation);
    assert_eq!(response.answers.len(), 6);
    assert!(size <= 512);
    let bound: usize = response
        .answers
        .iter()
        .map(|r| r.name.len() + 1 + 10 + 4)
        .sum();
    assert!(bound + 12 > 512, "the test must exercise the precise path");
}

/// An MX whose one target has twenty AAAA records: the answer fits 512 bytes, the answer
/// with the target's addresses does not.
const MANY_ADDRESSES: &str = "$ORIGIN mx.test.
mx.test. 3600 IN SOA ns.mx.test. hostmaster.mx.test. 1 7200 3600 1209600 300
mx.test. 3600 IN NS ns.mx.test.
mx.test. 3600 IN MX 10 mail.mx.test.
mail.mx.test. 3600 IN AAAA 2001:db8::1
mail.mx.test. 3600 IN AAAA 2001:db8::2
mail.mx.test. 3600 IN AAAA 2001:db8::3
mail.mx.test. 3600 IN AAAA 2001:db8::4
mail.mx.test. 3600 IN AAAA 2001:db8::5
mail.mx.test. 3600 IN AAAA 2001:db8::6
mail.mx.test. 3600 IN AAAA 2001:db8::7
mail.mx.test. 3600 IN AAAA 2001:db8::8
mail.mx.test. 3600 IN AAAA 2001:db8::9
mail.mx.test. 3600 IN AAAA 2001:db8::10
mail.mx.test. 3600 IN AAAA 2001:db8::11
mail.mx.test. 3600 IN AAAA 2001:db8::12
mail.mx.test. 3600 IN AAAA 2001:db8::13
mail.mx.test. 3600 IN AAAA 2001:db8::14
mail.mx.test. 3600 IN AAAA 2001:db8::15
mail.mx.test. 3600 IN AAAA 2001:db8::16
mail.mx.test. 3600 IN AAAA 2001:db8::17
mail.mx.test. 3600 IN AAAA 2001:db8::18
mail.mx.test. 3600 IN AAAA 2001:db8::19
mail.mx.test. 3600 IN AAAA 2001:db8::20
";

#[tokio::test]
async fn rfc2181_s9_optional_additional_records_are_left_out_before_truncating() {
    // RFC 2181 §9: "the TC bit should not be set merely because some extra information could
    // have been included, but there was insufficient room"; the MX target's addresses are extra.
    let catalog = Catalog::new([Arc::new(parse_zone(MANY_ADDRESSES, "mx.test."))]);
    let handler = Handler::new(serving(catalog, 1232));
    let (response, size) = ask("mx.test.", RecordType::MX)
        .edns(1232, false)
        .send_to(&handler)
        .await;
    assert_eq!(response.additionals.len(), 20, "room for the addresses");
    assert!(size > 512);
    let (response, size) = ask("mx.test.", RecordType::MX).send_to(&handler).await;
    assert!(!response.metadata.truncation);
    assert_eq!(response.answers.len(), 1);
    assert!(response.additionals.is_empty());
    assert!(size <= 512);
}

#[tokio::test]
async fn design_invariant_1_each_request_sees_the_current_snapshot() {
    let snapshot = serving(catalog(), 1232);
    let handler = Handler::new(snapshot.clone());
    let (before, _) = ask("a.example.", RecordType::A).send_to(&handler).await;
    assert_eq!(before.answers.len(), 1);
    // Swap in a catalog without example.: the next request is REFUSED.
    snapshot.store(Arc::new(Snapshot::serving(
        Catalog::new([Arc::new(parse_zone(BIG, "big.test."))]),
        1232,
    )));
    let (after, _) = ask("a.example.", RecordType::A).send_to(&handler).await;
    assert_eq!(after.metadata.response_code, ResponseCode::Refused);
}

/// Runs `tool` (dig or delv) against a handler serving `catalog` behind hickory's real UDP/TCP
/// server and returns its output, or `None` when the tool is not installed.
async fn run_against(catalog: Catalog, tool: &str, args: &[&str]) -> Option<String> {
    use std::time::Duration;

    use hickory_server::Server;

    if !tool_installed(tool) {
        return None;
    }
    // bind_all tries another port when the UDP one is taken for TCP.
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let crate::serve::Bound { mut udp, tcp } =
        crate::serve::bind_all(&[loopback], std::num::NonZeroUsize::MIN)
            .await
            .expect("bind UDP and TCP on loopback")
            .pop()
            .expect("one address bound");
    let udp = tokio::net::UdpSocket::from_std(udp.pop().expect("one UDP socket"))
        .expect("a tokio UDP socket");
    let port = udp.local_addr().expect("bound UDP address").port();
    let mut server = Server::new(Handler::new(serving(catalog, 1232)));
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 65535);
    let mut command = std::process::Command::new(tool);
    command
        .args(["@127.0.0.1", "-p", &port.to_string()])
        .args(args);
    let output = tokio::task::spawn_blocking(move || {
        let output = command.output()?;
        // dig binds with SO_REUSEPORT, as bind_all's UDP socket is: when the kernel gives dig
        // the server's port as its source port, dig reads its own query. Once more, then.
        if String::from_utf8_lossy(&output.stdout).contains(";; Warning: query response not set") {
            return command.output();
        }
        Ok(output)
    })
    .await
    .expect("the blocking task ran")
    .expect("the tool ran");
    server
        .shutdown_gracefully()
        .await
        .expect("server shut down");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Some(text)
}

/// Whether `name` is on PATH. Missing: a loud skip message, or a failure under
/// `DANED_REQUIRE_TOOLS=1` (as in CI).
fn tool_installed(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()));
    if !found {
        assert!(
            std::env::var("DANED_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{name} is not installed and DANED_REQUIRE_TOOLS=1"
        );
        eprintln!(
            "\n********** SKIPPING: {name} is not installed; this check did not run **********\n"
        );
    }
    found
}

async fn dig(args: &[&str]) -> Option<String> {
    let mut all = vec!["+tries=1", "+time=2"];
    all.extend_from_slice(args);
    run_against(catalog(), "dig", &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dig"]
async fn dig_reads_our_responses_over_udp_and_tcp() {
    let Some(out) = dig(&["+dnssec", "+norec", "nx.example.", "A"]).await else {
        return;
    };
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(out.contains("flags: qr aa;"), "{out}");
    assert!(
        out.contains("; EDNS: version: 0, flags: do; udp: 1232"),
        "{out}"
    );
    assert!(out.contains("AUTHORITY: 6"), "{out}");

    // Without EDNS the TXT RRset does not fit in 512 bytes: dig sees TC and retries over TCP.
    let Some(out) = dig(&["+noedns", "txt.big.test.", "TXT"]).await else {
        return;
    };
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert!(out.contains("ANSWER: 3"), "{out}");
    assert!(out.contains("flags: qr aa rd;"), "{out}");
}

const SIGNED: &str = include_str!("../../../tests/data/query/example.signed.zone");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs delv"]
async fn delv_validates_every_kind_of_answer() {
    // A zone really signed by BIND's dnssec-signzone, served by our engine: delv must validate
    // positive answers and every denial-of-existence proof we choose (RFC 4035 §5).
    let zone = Arc::new(parse_zone(SIGNED, "example."));
    let key = SIGNED
        .lines()
        .find(|l| l.contains(" DNSKEY 257 "))
        .and_then(|l| l.split(' ').nth(7))
        .expect("the signed zone has a KSK");
    let dir = tempfile::tempdir().expect("temp dir");
    let anchors = dir.path().join("anchors.conf");
    std::fs::write(
        &anchors,
        format!("trust-anchors {{ example. static-key 257 3 13 \"{key}\"; }};\n"),
    )
    .expect("anchor file written");
    let anchors = anchors.to_string_lossy().into_owned();
    let catalog = Catalog::new([zone]);
    let cases = [
        ("a.example.", "A", "; fully validated"),
        ("cname.example.", "A", "; fully validated"),
        // Wildcard answer (§3.1.3.3) and wildcard CNAME.
        ("foo.w.example.", "TXT", "; fully validated"),
        ("foo.c.example.", "A", "; fully validated"),
        // NODATA (§3.1.3.1), empty non-terminal, wildcard NODATA (§3.1.3.4).
        ("a.example.", "MX", "; negative response, fully validated"),
        ("b.example.", "A", "; negative response, fully validated"),
        ("zz.w.example.", "A", "; negative response, fully validated"),
        // NXDOMAIN (§3.1.3.2), also below an existing name and behind a CNAME (delv validates
        // the CNAME, then reports the validated NXDOMAIN of its target as "ncache nxdomain").
        ("nx.example.", "A", "; negative response, fully validated"),
        ("missing.example.", "A", "ncache nxdomain"),
        (
            "x.m.w.example.",
            "A",
            "; negative response, fully validated",
        ),
        // No DS at a cut: insecure delegation proven by the cut's NSEC (§3.1.4.1).
        ("sub.example.", "DS", "; negative response, fully validated"),
    ];
    for (qname, qtype, expected) in cases {
        let args = ["-a", &anchors, "+root=example.", qname, qtype];
        let Some(out) = run_against(catalog.clone(), "delv", &args).await else {
            return;
        };
        assert!(out.contains(expected), "{qname} {qtype}:\n{out}");
        for failure in ["failure", "broken", "insecur", "no valid", "bogus"] {
            assert!(!out.contains(failure), "{qname} {qtype}:\n{out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs delv"]
async fn delv_validates_every_kind_of_nsec3_answer() {
    // The query zone re-signed by our signer with NSEC3 (RFC 5155, RFC 9276 parameters) and
    // served by our engine: delv must validate every RFC 5155 §7.2 proof we send. Signed at the
    // wall-clock time, since delv checks signature times against its own clock.
    use hickory_proto::dnssec::PublicKey;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let (zone, key) = crate::serve::query::tests::nsec3::nsec3_example_zone(
        u32::try_from(now).expect("before 2106"),
    );
    let public = data_encoding::BASE64.encode(key.dnskey().public_key().public_bytes());
    let dir = tempfile::tempdir().expect("temp dir");
    let anchors = dir.path().join("anchors.conf");
    std::fs::write(
        &anchors,
        format!(
            "trust-anchors {{ example. static-key 257 3 {} \"{public}\"; }};\n",
            u8::from(key.dnssec_algorithm())
        ),
    )
    .expect("anchor file written");
    let anchors = anchors.to_string_lossy().into_owned();
    let catalog = Catalog::new([Arc::new(zone)]);
    let cases = [
        ("a.example.", "A", "; fully validated"),
        // Wildcard answer (§7.2.6) and wildcard CNAME.
        ("foo.w.example.", "TXT", "; fully validated"),
        ("foo.c.example.", "A", "; fully validated"),
        // NODATA (§7.2.3), empty non-terminal NODATA, wildcard NODATA (§7.2.5).
        ("a.example.", "MX", "; negative response, fully validated"),
        ("b.example.", "A", "; negative response, fully validated"),
        ("zz.w.example.", "A", "; negative response, fully validated"),
        // NXDOMAIN (§7.2.2), at the apex and below an empty non-terminal.
        ("nx.example.", "A", "; negative response, fully validated"),
        ("q.b.example.", "A", "; negative response, fully validated"),
        // NSEC at a CNAME owner: NODATA at the owner (RFC 4035 §2.5); a CNAME answer made
        // BIND's validator fail with "CNAME response for NSEC RR".
        (
            "cname.example.",
            "NSEC",
            "; negative response, fully validated",
        ),
        // No DS at an unsigned delegation (§7.2.4): the insecure delegation is proven.
        (
            "unsigned.example.",
            "DS",
            "; negative response, fully validated",
        ),
    ];
    for (qname, qtype, expected) in cases {
        let args = ["-a", &anchors, "+root=example.", qname, qtype];
        let Some(out) = run_against(catalog.clone(), "delv", &args).await else {
            return;
        };
        assert!(out.contains(expected), "{qname} {qtype}:\n{out}");
        for failure in ["failure", "broken", "insecur", "no valid", "bogus"] {
            assert!(!out.contains(failure), "{qname} {qtype}:\n{out}");
        }
    }
}

mod ixfr {
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::serve::xfr::TransferPolicy;
    use crate::zone::persist::journal::tests::{delta, soa};
    use crate::zone::persist::journal::{Journal, JournalLimits};

    /// `ix.test.` at serial 13 (www at 192.0.2.13), with a big TXT RRset so that a full
    /// transfer does not fit a UDP response, and a journal from 10 to 13.
    fn handler() -> Handler {
        let mut text = String::from(
            "ix.test. 3600 IN SOA ns.ix.test. hostmaster.ix.test. 13 7200 3600 1209600 300\n\
             ix.test. 3600 IN NS ns.ix.test.\n\
             ns.ix.test. 3600 IN A 192.0.2.200\n\
             www.ix.test. 300 IN A 192.0.2.13\n",
        );
        for i in 0..40 {
            text.push_str(&format!(
                "t{i}.ix.test. 300 IN TXT \"{}\"\n",
                "x".repeat(100)
            ));
        }
        let zone = Arc::new(parse_zone(&text, "ix.test."));
        let mut journal = Journal::new(JournalLimits::default());
        for serial in 10..13 {
            journal
                .push(delta("ix.test.", serial, serial + 1))
                .expect("push");
        }
        let catalog = Catalog::new([zone]).with_journals([(
            Name::from_ascii("ix.test.").expect("name"),
            Arc::new(journal),
        )]);
        let config = Config::parse(
            "version = \"v1\"\n[[zone]]\norigin = \"ix.test.\"\nfile = \"z\"\n\
             allow-transfer = [{ prefix = \"192.0.2.0/24\" }]\n",
            Path::new("/etc/daned.toml"),
        )
        .expect("valid");
        Handler::new(Arc::new(ArcSwap::from_pointee(Snapshot::new(
            Arc::new(catalog),
            Arc::new(TransferPolicy::from_config(&config)),
            1232,
        ))))
    }

    /// Every response to an IXFR for `ix.test.` from a client at `serial` (`None`: no SOA in
    /// the authority section).
    async fn ixfr(serial: Option<u32>, protocol: Protocol) -> Vec<Message> {
        let mut message = Message::new(0x1995, MessageType::Query, OpCode::Query);
        message.add_query(Query::query(
            Name::from_ascii("ix.test.").expect("name"),
            RecordType::IXFR,
        ));
        if let Some(serial) = serial {
            message.add_authority(soa("ix.test.", serial));
        }
        let wire = message.to_vec().expect("encodes");
        let src: SocketAddr = "192.0.2.100:53000".parse().expect("address");
        let request = Request::from_bytes(wire, src, protocol).expect("request decodes");
        let sent = Arc::new(Mutex::new(Vec::new()));
        let capture = Capture {
            protocol,
            sent: sent.clone(),
        };
        handler()
            .handle_request::<_, TokioTime>(&request, capture)
            .await;
        let sent = sent.lock().expect("not poisoned");
        sent.iter()
            .map(|wire| Message::from_vec(wire).expect("response decodes"))
            .collect()
    }

    fn answers(messages: &[Message]) -> Vec<Record> {
        messages.iter().flat_map(|m| m.answers.clone()).collect()
    }

    #[tokio::test]
    async fn rfc1995_s2_current_client_gets_one_soa() {
        // RFC 1995 §2: "If an IXFR query with the same or newer version number than that of
        // the server is received, it is replied to with a single SOA record of the server's
        // current version".
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let messages = ixfr(Some(13), protocol).await;
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].metadata.response_code, ResponseCode::NoError);
            assert!(messages[0].metadata.authoritative);
            assert_eq!(answers(&messages), [soa("ix.test.", 13)], "{protocol}");
        }
    }

    #[tokio::test]
    async fn rfc1995_s4_differences_over_tcp_and_udp() {
        // RFC 1995 §4: the response is the new SOA, then per change the old SOA, the deleted
        // RRs, the new SOA, the added RRs, and the new SOA last.
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let messages = ixfr(Some(11), protocol).await;
            let got: Vec<String> = answers(&messages).iter().map(show).collect();
            let soa_line = |s: u32| show(&soa("ix.test.", s));
            assert_eq!(got.len(), 10, "{protocol}: {got:#?}");
            assert_eq!(got[0], soa_line(13));
            assert_eq!(got[1], soa_line(11));
            assert!(got[2].contains("192.0.2.11"), "{}", got[2]);
            assert_eq!(got[3], soa_line(12));
            assert!(got[4].contains("192.0.2.12"), "{}", got[4]);
            assert_eq!(got[5], soa_line(12));
            assert_eq!(got[7], soa_line(13));
            assert!(got[8].contains("192.0.2.13"), "{}", got[8]);
            assert_eq!(got[9], soa_line(13));
        }
    }

    #[tokio::test]
    async fn rfc1995_s4_unknown_serial_full_over_tcp_soa_only_over_udp() {
        // RFC 1995 §4: "If incremental zone transfer is not available, the entire zone is
        // returned"; §2: "If the UDP reply does not fit, the query is responded to with a
        // single SOA record of the server's current version to inform the client that a TCP
        // query should be initiated."
        let full = answers(&ixfr(Some(3), Protocol::Tcp).await);
        assert!(full.len() > 40, "{}", full.len());
        assert_eq!(full[0], soa("ix.test.", 13));
        assert_eq!(full[full.len() - 1], soa("ix.test.", 13));
        let soas = full
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count();
        assert_eq!(soas, 2, "an AXFR-style answer");
        let udp = ixfr(Some(3), Protocol::Udp).await;
        assert_eq!(answers(&udp), [soa("ix.test.", 13)]);
    }

    #[tokio::test]
    async fn rfc1995_s3_ixfr_without_the_client_soa_is_formerr() {
        // RFC 1995 §3: "The authority section of the IXFR query contains the SOA record of
        // client's version of the zone."
        let messages = ixfr(None, Protocol::Tcp).await;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].metadata.response_code, ResponseCode::FormErr);
    }
}

/// The COOKIE option data of `response`'s OPT.
fn response_cookie(response: &Message) -> Option<Vec<u8>> {
    match response.edns.as_ref()?.option(EdnsCode::Cookie)? {
        EdnsOption::Unknown(_, data) => Some(data.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn rfc7873_s5_2_3_a_client_cookie_gets_a_server_cookie_that_then_validates() {
    let handler = Handler::new(serving(catalog(), 1232));
    let client = vec![1, 2, 3, 4, 5, 6, 7, 8];
    let mut request = ask("a.example.", RecordType::A).edns(1232, false);
    request.cookie = Some(client.clone());
    let response = request.send_to(&handler).await.0;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let cookie = response_cookie(&response).expect("a COOKIE option");
    // RFC 9018 §4.2: client cookie, then version 1, reserved, timestamp, hash.
    assert_eq!(cookie.len(), 24);
    assert_eq!(cookie[..8], client[..]);
    assert_eq!(cookie[8], 1);
    // Sent back, it validates: the same server cookie comes back (fresh for half an hour).
    request.cookie = Some(cookie.clone());
    let response = request.send_to(&handler).await.0;
    assert_eq!(response_cookie(&response), Some(cookie));
}

#[tokio::test]
async fn rfc7873_s5_2_2_a_malformed_cookie_option_gets_formerr() {
    let mut request = ask("a.example.", RecordType::A).edns(1232, false);
    request.cookie = Some(vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let response = request.send().await;
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
}

#[tokio::test]
async fn rrl_over_the_limit_drops_and_slips_udp_but_not_tcp_nor_valid_cookies() {
    let limits = NetLimits {
        rate_limit: 2,
        rate_limit_slip: 2,
        rate_limit_table_size: 64,
        ..NetLimits::default()
    };
    let rrl = RateLimiter::new(&limits).map(Arc::new);
    let handler = Handler::new(serving(catalog(), 1232)).with_rate_limiter(rrl);
    let request = ask("a.example.", RecordType::A);
    let mut sent = Vec::new();
    for _ in 0..6 {
        sent.push(request.send_all(&handler).await);
    }
    let shape: Vec<_> = sent
        .iter()
        .map(|responses| match responses.as_slice() {
            [] => "dropped",
            [one] if one.metadata.truncation && one.answers.is_empty() => "TC",
            [one] if !one.answers.is_empty() => "answer",
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shape,
        ["answer", "answer", "dropped", "TC", "dropped", "TC"]
    );
    // TCP is never limited.
    let mut tcp = ask("a.example.", RecordType::A);
    tcp.protocol = Protocol::Tcp;
    assert_eq!(tcp.send_all(&handler).await[0].answers.len(), 1);
    // Nor is a client with a valid server cookie (learned over TCP, which is not limited).
    let mut with_cookie = ask("a.example.", RecordType::A).edns(1232, false);
    with_cookie.cookie = Some(vec![9; 8]);
    with_cookie.protocol = Protocol::Tcp;
    let learned = with_cookie.send_all(&handler).await;
    with_cookie.cookie = Some(response_cookie(&learned[0]).expect("a server cookie"));
    with_cookie.protocol = Protocol::Udp;
    for _ in 0..5 {
        let responses = with_cookie.send_all(&handler).await;
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].answers.len(), 1);
    }
}
