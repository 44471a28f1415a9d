//! Tests of the fast path: the compression table (RFC 1035 §4.1.4), the request parse's
//! refusals, a differential test against hickory's path on signed zones with every feature of
//! the query engine, and a property test on random zones and questions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use daned_sign::keys::{KeyRole, SigningKey};
use daned_sign::nsec3::{Denial, Nsec3Params};
use daned_sign::rrsig::verify_rrsig;
use daned_sign::sign::{SignCtx, SignPolicy, ZoneKey, sign_zone};
use daned_sign::zone::{Rrset, SignedZone, Zone};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, CNAME, MX, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler};
use proptest::prelude::*;

use super::request::{FastRequest, parse};
use super::{FastPath, MAX_NAMES, NameTable};
use crate::clock::Clock;
use crate::serve::cookie::COOKIE_OPTION;
use crate::serve::handler::Handler;
use crate::serve::handler::tests::Capture;
use crate::serve::query::Catalog;
use crate::serve::query::tests::{EXAMPLE, parse_zone};
use crate::serve::snapshot::Snapshot;

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("test name parses")
}

// ----- the compression table -----

/// The names written one after the other from offset `start` (zero bytes before), and the
/// message.
fn write_names(start: usize, names: &[&str]) -> Vec<u8> {
    let mut out = vec![0u8; start];
    let mut table = NameTable::new();
    for text in names {
        table.write(&mut out, &name(text));
    }
    out
}

/// The names of `message` from `start` on, read back by hickory's decoder.
fn read_names(message: &[u8], start: usize, count: usize) -> Vec<String> {
    let mut decoder = BinDecoder::new(message);
    decoder.read_slice(start).expect("skip the padding");
    (0..count)
        .map(|_| Name::read(&mut decoder).expect("name decodes").to_string())
        .collect()
}

#[test]
fn rfc1035_s4_1_4_the_example_compresses_as_the_rfc_draws_it() {
    // RFC 1035 §4.1.4: "F.ISI.ARPA, FOO.F.ISI.ARPA, ARPA, and the root" with F.ISI.ARPA at
    // offset 20: FOO then a pointer to 20, ARPA as a pointer to 26, the root as a zero octet.
    let message = write_names(20, &["F.ISI.ARPA.", "FOO.F.ISI.ARPA.", "ARPA.", "."]);
    let mut expected = vec![0u8; 20];
    expected.extend_from_slice(b"\x01F\x03ISI\x04ARPA\x00");
    expected.extend_from_slice(b"\x03FOO\xc0\x14");
    expected.extend_from_slice(b"\xc0\x1a");
    expected.push(0);
    assert_eq!(message, expected);
    assert_eq!(
        read_names(&message, 20, 4),
        ["F.ISI.ARPA.", "FOO.F.ISI.ARPA.", "ARPA.", "."]
    );
}

#[test]
fn rfc4343_s3_compression_ignores_case_and_keeps_the_first_spelling() {
    // RFC 4343 §3: "comparisons on name lookup for DNS queries should be case insensitive";
    // a pointer makes the later name read as the earlier spelling.
    let message = write_names(12, &["WwW.ExAmPle.", "www.example.", "mail.EXAMPLE."]);
    assert_eq!(
        read_names(&message, 12, 3),
        ["WwW.ExAmPle.", "WwW.ExAmPle.", "mail.ExAmPle."]
    );
    // The second name is one pointer, the third one label and a pointer.
    assert_eq!(message.len(), 12 + 13 + 2 + 5 + 2);
}

#[test]
fn rfc1035_s4_1_4_only_whole_labels_are_shared() {
    // A pointer replaces whole trailing labels: "xample." is not a suffix of "example.".
    let message = write_names(12, &["example.", "xample.", "an-example."]);
    assert_eq!(message.len(), 12 + 9 + 8 + 12);
    assert_eq!(
        read_names(&message, 12, 3),
        ["example.", "xample.", "an-example."]
    );
}

#[test]
fn rfc1035_s4_1_4_the_longest_suffix_wins() {
    let message = write_names(12, &["a.b.c.", "c.", "x.b.c."]);
    // "c." points into the first name (offset 16); "x.b.c." is x then a pointer to "b.c."
    // (offset 14).
    assert_eq!(&message[12 + 7..12 + 9], b"\xc0\x10");
    assert_eq!(&message[12 + 9..], b"\x01x\xc0\x0e");
    assert_eq!(read_names(&message, 12, 3), ["a.b.c.", "c.", "x.b.c."]);
}

#[test]
fn rfc1035_s4_1_4_pointers_only_reach_the_first_16_kib() {
    // A pointer has 14 bits of offset: a name written beyond 0x3fff cannot be a target.
    let start = 0x4000;
    let message = write_names(start, &["far.example.", "far.example."]);
    assert_eq!(message.len(), start + 2 * 13, "both written in full");
    // One below the limit serves both later names.
    let message = write_names(0x3ff0, &["near.example.", "near.example."]);
    assert_eq!(message.len(), 0x3ff0 + 14 + 2);
}

#[test]
fn a_full_table_still_writes_every_name_correctly() {
    let names: Vec<String> = (0..3 * MAX_NAMES)
        .map(|i| format!("n{i}.l{}.example.", i % 5))
        .collect();
    let texts: Vec<&str> = names.iter().map(String::as_str).collect();
    let message = write_names(12, &texts);
    let read = read_names(&message, 12, names.len());
    assert_eq!(read, names);
}

// ----- the request parse -----

/// A query in wire form.
struct Ask<'c> {
    qname: &'c str,
    qtype: RecordType,
    /// `(payload, DO)` of the request OPT.
    edns: Option<(u16, bool)>,
    cookie: Option<&'c [u8]>,
}

fn ask(qname: &str, qtype: RecordType) -> Ask<'_> {
    Ask {
        qname,
        qtype,
        edns: None,
        cookie: None,
    }
}

impl<'c> Ask<'c> {
    fn edns(mut self, payload: u16, dnssec_ok: bool) -> Self {
        self.edns = Some((payload, dnssec_ok));
        self
    }

    fn cookie(mut self, cookie: &'c [u8]) -> Self {
        self.cookie = Some(cookie);
        self
    }

    fn message(&self) -> Message {
        let mut message = Message::new(0x1234, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(name(self.qname), self.qtype));
        if let Some((payload, dnssec_ok)) = self.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(payload).set_dnssec_ok(dnssec_ok);
            if let Some(cookie) = self.cookie {
                edns.options_mut()
                    .insert(EdnsOption::Unknown(COOKIE_OPTION, cookie.to_vec()));
            }
            message.set_edns(edns);
        }
        message
    }

    fn wire(&self) -> Vec<u8> {
        self.message().to_vec().expect("request encodes")
    }
}

#[test]
fn the_common_query_is_parsed_with_its_case_kept() {
    let wire = ask("WwW.Example.", RecordType::TLSA)
        .edns(1232, true)
        .cookie(&[1, 2, 3, 4, 5, 6, 7, 8])
        .wire();
    let request: FastRequest<'_> = parse(&wire).expect("the common query");
    assert_eq!(request.id, 0x1234);
    assert!(request.recursion_desired);
    assert_eq!(request.qname.to_string(), "www.example.");
    assert_eq!(request.qtype, RecordType::TLSA);
    assert_eq!(&request.question[..13], b"\x03WwW\x07Example\x00");
    assert_eq!(request.question.len(), 13 + 4);
    let edns = request.edns.expect("OPT");
    assert_eq!((edns.payload, edns.dnssec_ok), (1232, true));
    assert_eq!(
        edns.cookie.expect("cookie").client,
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    let plain = ask("a.example.", RecordType::A).wire();
    assert_eq!(parse(&plain).expect("no EDNS").edns, None);
}

#[test]
fn rfc6891_s6_1_2_unknown_options_are_ignored() {
    let mut message = ask("a.example.", RecordType::A).edns(1232, false).message();
    let mut edns = message.edns.take().expect("OPT");
    edns.options_mut()
        .insert(EdnsOption::Unknown(65001, vec![9; 5]));
    message.set_edns(edns);
    let wire = message.to_vec().expect("encodes");
    assert!(parse(&wire).is_some());
}

#[test]
fn everything_but_the_common_query_is_left_to_hickory() {
    let base = ask("a.example.", RecordType::A).edns(1232, false).wire();
    assert!(parse(&base).is_some());
    let patched = |at: usize, value: u8| {
        let mut wire = base.clone();
        wire[at] = value;
        wire
    };
    let question_end = 12 + 11 + 4;
    let with_option = |code: u16, data: &[u8]| {
        let mut message = ask("a.example.", RecordType::A).edns(1232, false).message();
        let mut edns = message.edns.take().expect("OPT");
        edns.options_mut()
            .insert(EdnsOption::Unknown(code, data.to_vec()));
        message.set_edns(edns);
        message.to_vec().expect("encodes")
    };
    // A well-formed Client Subnet (192.0.2.0/24) is ignored, as on hickory's path.
    assert!(parse(&with_option(8, &[0, 1, 24, 0, 192, 0, 2])).is_some());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // RFC 1035 §4.1.1: QR set is a response.
        ("QR set", patched(2, base[2] | 0x80)),
        ("opcode NOTIFY", patched(2, (base[2] & 0x87) | (4 << 3))),
        ("two questions", patched(5, 2)),
        ("no question", patched(5, 0)),
        ("an answer record", patched(7, 1)),
        ("an authority record", patched(9, 1)),
        ("two additional records", patched(11, 2)),
        // RFC 6891 §6.1.3: BADVERS is hickory's path's answer.
        ("EDNS version 1", patched(question_end + 6, 1)),
        ("class CH", patched(question_end - 1, 3)),
        ("OPT owner not the root", patched(question_end, 1)),
        ("additional not an OPT", patched(question_end + 2, 250)),
        ("cut short", base[..base.len() - 1].to_vec()),
        ("trailing garbage", [base.clone(), vec![0]].concat()),
        (
            "AXFR",
            ask("example.", RecordType::AXFR).edns(1232, false).wire(),
        ),
        (
            "IXFR",
            ask("example.", RecordType::IXFR).edns(1232, false).wire(),
        ),
        // RFC 7873 §5.2.2: a COOKIE of 5 bytes gets FORMERR on hickory's path.
        (
            "malformed cookie",
            ask("a.example.", RecordType::A)
                .edns(1232, false)
                .cookie(&[1, 2, 3, 4, 5])
                .wire(),
        ),
        ("short header", base[..11].to_vec()),
        // RFC 7871 §6: a Client Subnet option hickory cannot decode (family 9).
        (
            "malformed client subnet",
            with_option(8, &[0, 9, 24, 0, 192, 0, 2]),
        ),
    ];
    for (what, wire) in cases {
        assert_eq!(parse(&wire), None, "{what}");
    }
    // A question name that is a pointer (the screen refuses it first).
    let mut pointer = base.clone();
    pointer.splice(12..12 + 11, [0xc0, 0x0c]);
    assert_eq!(parse(&pointer), None, "pointer in the question");
    // TSIG-signed: the TSIG record is the one additional record.
    let mut signed = ask("a.example.", RecordType::A).wire();
    signed[11] = 1;
    signed.extend_from_slice(&[0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]);
    assert_eq!(parse(&signed), None, "TSIG");
}

// ----- both paths side by side -----

/// A clock that stands still, so that both paths make the same server cookie.
struct Fixed(u32);

impl Clock for Fixed {
    fn now(&self) -> u32 {
        self.0
    }
}

/// The start of 2026, inside the test zones' signature validity.
const NOW: u32 = 1_767_225_600;

const SRC: &str = "192.0.2.100:53000";

/// hickory's answer to `wire`.
async fn old_path(handler: &Handler, wire: &[u8], protocol: Protocol) -> Vec<u8> {
    let src: SocketAddr = SRC.parse().expect("address");
    let request = Request::from_bytes(wire.to_vec(), src, protocol).expect("request decodes");
    let sent = Arc::new(Mutex::new(Vec::new()));
    let capture = Capture {
        protocol,
        sent: sent.clone(),
    };
    handler
        .handle_request::<_, TokioTime>(&request, capture)
        .await;
    let mut sent = sent.lock().expect("not poisoned");
    assert_eq!(sent.len(), 1, "one response");
    sent.pop().expect("one response")
}

/// The fast path's answer to `wire`, which it must take.
fn fast_path(handler: &Handler, wire: &[u8], protocol: Protocol) -> Vec<u8> {
    let src: SocketAddr = SRC.parse().expect("address");
    let mut out = Vec::new();
    handler
        .answer_fast(wire, src, protocol, &mut out)
        .expect("the fast path answers the common query");
    assert!(!out.is_empty(), "no rate limiting here: a response");
    out
}

/// A record as text, its owner lowercased, and its RDATA too when it is one of the types
/// whose RDATA names compress (compression may give them the question's case).
fn show(record: &Record) -> String {
    let mut lower = record.clone();
    lower.name = lower.name.to_lowercase();
    let text = format!("{lower} class={}", u16::from(record.dns_class));
    match record.record_type() {
        RecordType::NS | RecordType::CNAME | RecordType::SOA | RecordType::PTR | RecordType::MX => {
            text.to_ascii_lowercase()
        }
        _ => text,
    }
}

fn section(records: &[Record]) -> Vec<String> {
    records.iter().map(show).collect()
}

/// What the two responses must share: header, question, records, OPT.
fn same_message(old: &Message, fast: &Message, what: &str) {
    let (o, f) = (&old.metadata, &fast.metadata);
    assert_eq!(o.id, f.id, "{what}");
    assert_eq!(o.message_type, f.message_type, "{what}");
    assert_eq!(o.op_code, f.op_code, "{what}");
    assert_eq!(o.response_code, f.response_code, "{what}");
    assert_eq!(o.authoritative, f.authoritative, "{what}");
    assert_eq!(o.recursion_desired, f.recursion_desired, "{what}");
    assert_eq!(o.recursion_available, f.recursion_available, "{what}");
    assert_eq!(o.authentic_data, f.authentic_data, "{what}");
    assert_eq!(o.checking_disabled, f.checking_disabled, "{what}");
    let questions = |m: &Message| -> Vec<String> {
        m.queries
            .iter()
            .map(|q| format!("{} {} {}", q.name(), q.query_type(), q.query_class()))
            .collect()
    };
    assert_eq!(
        questions(old),
        questions(fast),
        "{what}: question, case and all"
    );
    assert_eq!(
        section(&old.answers),
        section(&fast.answers),
        "{what}: answers"
    );
    assert_eq!(
        section(&old.authorities),
        section(&fast.authorities),
        "{what}: authorities"
    );
    assert_eq!(
        section(&old.additionals),
        section(&fast.additionals),
        "{what}: additionals"
    );
    let opt = |m: &Message| {
        m.edns.as_ref().map(|e| {
            let cookie = match e.option(EdnsCode::Cookie) {
                Some(EdnsOption::Unknown(_, data)) => Some(data.clone()),
                _ => None,
            };
            (e.version(), e.max_payload(), e.flags().dnssec_ok, cookie)
        })
    };
    assert_eq!(opt(old), opt(fast), "{what}: OPT");
}

/// What the query engine's tests zone lacks, for the differential test: an occluded name, the
/// well-known types whose RDATA names compress (MX, PTR, NS, SOA) and those that must not
/// (SRV), TLSA, a CNAME to a TLSA owner, and a TXT RRset too big for 512 bytes.
const EXTRA: &str = "$ORIGIN example.
hidden.sub.example. 3600 IN TXT \"occluded by the delegation\"
mail.example. 3600 IN MX 10 a.example.
mail.example. 3600 IN MX 20 mx.elsewhere.test.
ptr.example. 3600 IN PTR a.example.
_sip._udp.example. 3600 IN SRV 0 5 5060 a.example.
_443._tcp.www.example. 3600 IN TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6
tlsa.example. 3600 IN CNAME _443._tcp.www.example.
big.example. 3600 IN TXT \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"
big.example. 3600 IN TXT \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"
big.example. 3600 IN TXT \"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"
";

/// The keys the test zones are signed with: four, so that the DNSKEY RRset and its RRSIGs do
/// not fit 512 bytes.
fn keys() -> Vec<SigningKey> {
    (1..=4u8)
        .map(|seed| SigningKey::from_ed25519_seed(&[seed; 32], KeyRole::Csk).expect("seeded key"))
        .collect()
}

fn sign(content: &Zone, denial: Denial, keys: &[SigningKey]) -> SignedZone {
    let zone_keys: Vec<ZoneKey<'_>> = keys.iter().map(ZoneKey::steady).collect();
    let rng = ring::rand::SystemRandom::new();
    let ctx = SignCtx {
        now: NOW,
        policy: SignPolicy::default(),
        keys: &zone_keys,
        dnskey_ttl: 3600,
        rng: &rng,
        denial,
        threads: std::num::NonZeroUsize::MIN,
    };
    sign_zone(&ctx, content, 2024010101).expect("the test zone signs")
}

fn handler(zone: SignedZone, cap: u16) -> Handler {
    let snapshot = Snapshot::serving(Catalog::new([Arc::new(zone)]), cap);
    Handler::new(Arc::new(ArcSwap::from_pointee(snapshot))).with_clock(Arc::new(Fixed(NOW)))
}

/// Every letter of `qname` in alternating case, as a DNS 0x20 resolver might send it.
fn mixed_case(qname: &str) -> String {
    qname
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// One question on both paths: the same message, the owners equal to the question's name in
/// the question's case (RFC 4343 §4.1), never longer than hickory's.
async fn compare(handler: &Handler, ask: &Ask<'_>, protocol: Protocol) -> (usize, usize) {
    let wire = ask.wire();
    let what = format!(
        "{} {} {:?} cookie={} {protocol:?}",
        ask.qname,
        ask.qtype,
        ask.edns,
        ask.cookie.is_some()
    );
    let old_bytes = old_path(handler, &wire, protocol).await;
    let fast_bytes = fast_path(handler, &wire, protocol);
    let old = Message::from_vec(&old_bytes).expect("hickory's response parses");
    let fast = Message::from_vec(&fast_bytes).expect("the fast response parses");
    if old.metadata.truncation && !fast.metadata.truncation {
        // Our compression made the answer fit where hickory's did not: it must be the whole
        // answer (as over TCP), within the client's limit.
        let limit = match ask.edns {
            Some((payload, _)) => usize::from(payload.clamp(512, 1232)),
            None => 512,
        };
        assert!(fast_bytes.len() <= limit, "{what}");
        let full = Message::from_vec(&old_path(handler, &wire, Protocol::Tcp).await)
            .expect("hickory's TCP response parses");
        assert_eq!(section(&full.answers), section(&fast.answers), "{what}");
        assert_eq!(
            section(&full.authorities),
            section(&fast.authorities),
            "{what}"
        );
    } else {
        same_message(&old, &fast, &what);
        assert!(
            fast_bytes.len() <= old_bytes.len(),
            "{what}: fast {} > hickory {}",
            fast_bytes.len(),
            old_bytes.len()
        );
    }
    // RFC 4343 §4.1: "the original case SHOULD be preserved" in the question; the owners that
    // are the question's name come out in the question's spelling.
    let sent = name(ask.qname);
    for record in fast.all_sections() {
        if record.name == sent {
            assert_eq!(record.name.to_string(), ask.qname, "{what}: {record}");
        }
    }
    (old_bytes.len(), fast_bytes.len())
}

/// The questions of the differential test: every kind of answer the engine gives.
const QUESTIONS: &[(&str, RecordType)] = &[
    ("example.", RecordType::SOA),
    ("example.", RecordType::NS),
    ("example.", RecordType::DNSKEY),
    ("example.", RecordType::ANY),
    ("a.example.", RecordType::A),
    ("a.example.", RecordType::AAAA),
    ("a.example.", RecordType::MX),
    ("a.example.", RecordType::RRSIG),
    ("b.example.", RecordType::A),
    ("x.b.example.", RecordType::TXT),
    ("q.b.example.", RecordType::A),
    ("nx.example.", RecordType::A),
    ("foo.c.example.", RecordType::A),
    ("foo.c.example.", RecordType::TXT),
    ("cname.example.", RecordType::A),
    ("cname.example.", RecordType::CNAME),
    ("cname.example.", RecordType::NSEC),
    ("ext.example.", RecordType::A),
    ("loop1.example.", RecordType::A),
    ("missing.example.", RecordType::A),
    ("sub.example.", RecordType::NS),
    ("sub.example.", RecordType::DS),
    ("www.sub.example.", RecordType::A),
    ("hidden.sub.example.", RecordType::TXT),
    ("unsigned.example.", RecordType::A),
    ("unsigned.example.", RecordType::DS),
    ("foo.w.example.", RecordType::TXT),
    ("zz.w.example.", RecordType::A),
    ("m.w.example.", RecordType::A),
    ("mail.example.", RecordType::MX),
    ("ptr.example.", RecordType::PTR),
    ("_sip._udp.example.", RecordType::SRV),
    ("_443._tcp.www.example.", RecordType::TLSA),
    ("tlsa.example.", RecordType::TLSA),
    ("big.example.", RecordType::TXT),
    ("elsewhere.test.", RecordType::A),
];

#[tokio::test]
async fn rfc1035_s4_1_4_the_fast_path_answers_as_hickorys_does_only_smaller() {
    let content = parse_zone(&format!("{EXAMPLE}{EXTRA}"), "example.").to_zone();
    let keys = keys();
    let client_cookie = [7u8; 8];
    for denial in [Denial::Nsec, Denial::Nsec3(Nsec3Params::default())] {
        let handler = handler(sign(&content, denial, &keys), 1232);
        let (mut old_total, mut fast_total, mut smaller) = (0, 0, 0);
        for &(qname, qtype) in QUESTIONS {
            let mixed = mixed_case(qname);
            for qname in [qname, mixed.as_str()] {
                let asks = [
                    ask(qname, qtype),
                    ask(qname, qtype).edns(1232, false),
                    ask(qname, qtype).edns(1232, true),
                    ask(qname, qtype).edns(512, true),
                    ask(qname, qtype).edns(4096, true).cookie(&client_cookie),
                ];
                for ask in &asks {
                    for protocol in [Protocol::Udp, Protocol::Tcp] {
                        let (old, fast) = compare(&handler, ask, protocol).await;
                        old_total += old;
                        fast_total += fast;
                        smaller += usize::from(fast < old);
                    }
                }
            }
        }
        // Not a fixed figure: only that the question now serves as a compression target.
        assert!(
            fast_total < old_total && smaller > QUESTIONS.len(),
            "{denial:?}: {fast_total} bytes against {old_total}, {smaller} smaller"
        );
    }
}

#[tokio::test]
async fn rfc7873_s5_2_3_the_fast_path_answers_a_cookie_that_then_validates() {
    // The server cookie the fast path sends back validates on the next query, which is then
    // exempt from rate limiting as on hickory's path.
    let content = parse_zone(&format!("{EXAMPLE}{EXTRA}"), "example.").to_zone();
    let handler = handler(sign(&content, Denial::Nsec, &keys()), 1232);
    let first = fast_path(
        &handler,
        &ask("a.example.", RecordType::A)
            .edns(1232, false)
            .cookie(&[3; 8])
            .wire(),
        Protocol::Udp,
    );
    let first = Message::from_vec(&first).expect("parses");
    let Some(EdnsOption::Unknown(_, option)) =
        first.edns.as_ref().and_then(|e| e.option(EdnsCode::Cookie))
    else {
        panic!("a COOKIE option in the response");
    };
    assert_eq!(
        option.len(),
        8 + 16,
        "client cookie and an RFC 9018 server cookie"
    );
    assert_eq!(&option[..8], &[3; 8]);
    let again = fast_path(
        &handler,
        &ask("a.example.", RecordType::A)
            .edns(1232, false)
            .cookie(option)
            .wire(),
        Protocol::Udp,
    );
    let again = Message::from_vec(&again).expect("parses");
    assert_eq!(again.answers.len(), 1);
}

// ----- random zones and questions -----

/// A small random zone: names of one to three labels from a short alphabet under `p.test.`,
/// each with A and TXT records, a CNAME, an MX, or a delegation with glue.
#[derive(Debug, Clone)]
enum Kind {
    Data { addresses: Vec<u8>, text: usize },
    Alias(usize),
    Mail(usize),
    Cut,
}

const LABELS: &[&str] = &["a", "b", "*", "mx", "deep"];

fn owner(labels: &[usize]) -> String {
    let mut text = String::new();
    for label in labels {
        text.push_str(LABELS[*label]);
        text.push('.');
    }
    text.push_str("p.test.");
    text
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => (prop::collection::vec(any::<u8>(), 1..12), 0usize..1200)
            .prop_map(|(addresses, text)| Kind::Data { addresses, text }),
        1 => (0usize..16).prop_map(Kind::Alias),
        1 => (0usize..16).prop_map(Kind::Mail),
        1 => Just(Kind::Cut),
    ]
}

fn zone_spec() -> impl Strategy<Value = BTreeMap<Vec<usize>, Kind>> {
    prop::collection::btree_map(prop::collection::vec(0..LABELS.len(), 1..4), kind(), 1..12)
}

fn rrset(owner: &Name, rdatas: Vec<RData>) -> Rrset {
    let rtype = rdatas[0].record_type();
    Rrset::new(owner, rtype, 300, rdatas).expect("a valid RRset")
}

fn random_zone(spec: &BTreeMap<Vec<usize>, Kind>) -> Zone {
    let origin = name("p.test.");
    let mut zone = Zone::new(&origin);
    let soa = SOA::new(
        name("ns.p.test."),
        name("hostmaster.p.test."),
        1,
        7200,
        3600,
        1_209_600,
        300,
    );
    let mut put = |rrset: Rrset| {
        zone.insert(rrset).expect("RRset inserted");
    };
    put(rrset(&origin, vec![RData::SOA(soa)]));
    put(rrset(&origin, vec![RData::NS(NS(name("ns.p.test.")))]));
    put(rrset(
        &name("ns.p.test."),
        vec![RData::A(A::new(192, 0, 2, 53))],
    ));
    let names: Vec<Name> = spec.keys().map(|labels| name(&owner(labels))).collect();
    for (index, (labels, kind)) in spec.iter().enumerate() {
        let at = &names[index];
        // A cut below another cut would be occluded; a CNAME at a cut is not allowed.
        match kind {
            Kind::Data { addresses, text } => {
                let a = addresses
                    .iter()
                    .map(|last| RData::A(A::new(192, 0, 2, *last)))
                    .collect();
                put(rrset(at, a));
                if *text > 0 {
                    put(rrset(
                        at,
                        vec![RData::TXT(TXT::new(vec![
                            "t".repeat(*text % 255);
                            *text / 255 + 1
                        ]))],
                    ));
                }
            }
            Kind::Alias(target) => {
                let target = names[*target % names.len()].clone();
                put(rrset(at, vec![RData::CNAME(CNAME(target))]));
            }
            Kind::Mail(target) => {
                let target = names[*target % names.len()].clone();
                put(rrset(at, vec![RData::MX(MX::new(10, target))]));
            }
            Kind::Cut => {
                let server = name(&format!("ns.{}", owner(labels)));
                put(rrset(at, vec![RData::NS(NS(server.clone()))]));
                put(rrset(&server, vec![RData::A(A::new(192, 0, 2, 99))]));
            }
        }
    }
    zone
}

/// Every RRSIG of `records` verifies over the RRset it covers in the same section, with one
/// of the zone's DNSKEYs.
fn signatures_verify(records: &[Record], dnskeys: &[DNSKEY]) -> Result<usize, String> {
    let mut verified = 0;
    for record in records {
        let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &record.data else {
            continue;
        };
        let covered = sig.input().type_covered;
        let rdatas: Vec<RData> = records
            .iter()
            .filter(|r| r.name == record.name && r.record_type() == covered)
            .map(|r| r.data.clone())
            .collect();
        let set = Rrset::new(&record.name, covered, sig.input().original_ttl, rdatas)
            .map_err(|e| format!("{} {covered}: {e}", record.name))?;
        let ok = dnskeys
            .iter()
            .any(|key| verify_rrsig(&set, sig, key).is_ok());
        if !ok {
            return Err(format!("{} RRSIG {covered} does not verify", record.name));
        }
        verified += 1;
    }
    Ok(verified)
}

const QTYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::TXT,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::NS,
    RecordType::DS,
    RecordType::SOA,
    RecordType::DNSKEY,
    RecordType::NSEC,
    RecordType::ANY,
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn rfc6891_s7_random_answers_parse_fit_and_verify(
        spec in zone_spec(),
        nsec3 in any::<bool>(),
        questions in prop::collection::vec(
            (prop::collection::vec(0..LABELS.len() + 1, 0..4), 0..QTYPES.len(), any::<u64>(),
             prop::option::of((prop_oneof![0u16..700, 500u16..1300, 0u16..5000], any::<bool>()))),
            1..12,
        ),
    ) {
        let denial = if nsec3 { Denial::Nsec3(Nsec3Params::default()) } else { Denial::Nsec };
        let keys = keys();
        let zone = sign(&random_zone(&spec), denial, &keys[..1]);
        let dnskeys: Vec<DNSKEY> = keys[..1].iter().map(|k| k.dnskey().clone()).collect();
        let handler = handler(zone, 1232);
        for (labels, qtype, case, edns) in questions {
            // A label index past the alphabet is a name the zone does not have.
            let mut qname = String::new();
            for label in &labels {
                qname.push_str(LABELS.get(*label).copied().unwrap_or("nowhere"));
                qname.push('.');
            }
            qname.push_str("p.test.");
            let qname: String = qname
                .chars()
                .enumerate()
                .map(|(i, c)| if case >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect();
            let qtype = QTYPES[qtype];
            let mut request = ask(&qname, qtype);
            request.edns = edns;
            let wire = request.wire();
            let udp = fast_path(&handler, &wire, Protocol::Udp);
            let tcp = fast_path(&handler, &wire, Protocol::Tcp);
            let what = format!("{qname} {qtype} {edns:?}");
            let response = Message::from_vec(&udp)
                .map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
            let full = Message::from_vec(&tcp)
                .map_err(|e| TestCaseError::fail(format!("{what}: TCP: {e}")))?;
            // RFC 6891 §6.2.5 and §7: within the advertised size (at least 512, at most our
            // cap), 512 without EDNS (RFC 1035 §4.2.1).
            let limit = edns.map_or(512, |(payload, _)| usize::from(payload.clamp(512, 1232)));
            prop_assert!(udp.len() <= limit, "{what}: {} > {limit}", udp.len());
            // RFC 2181 §9: TC only when the whole answer does not fit, and then no records.
            if response.metadata.truncation {
                prop_assert!(tcp.len() > limit, "{what}: TC though {} fits {limit}", tcp.len());
                prop_assert_eq!(response.all_sections().count(), 0, "{}", what);
            } else if udp != tcp {
                // RFC 2181 §9: only the optional additional records (addresses of in-zone MX,
                // SRV and NS targets) may be left out, the last ones first, and only when the
                // whole answer does not fit.
                prop_assert!(tcp.len() > limit, "{what}: records left out though {} fits {limit}", tcp.len());
                prop_assert_eq!(&response.answers, &full.answers, "{}", what);
                prop_assert_eq!(&response.authorities, &full.authorities, "{}", what);
                prop_assert!(
                    response.additionals.len() < full.additionals.len()
                        && full.additionals.starts_with(&response.additionals),
                    "{what}: the additional section is not the TCP one cut short"
                );
            }
            prop_assert!(!full.metadata.truncation, "{}", what);
            for records in [&full.answers, &full.authorities, &full.additionals] {
                signatures_verify(records, &dnskeys)
                    .map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
            }
            // The question is echoed as sent, and so are owners that are its name.
            prop_assert_eq!(full.queries[0].name().to_string(), qname.clone());
        }
    }
}

#[tokio::test]
async fn rfc2181_s9_the_fast_path_leaves_optional_additionals_out_before_truncating() {
    // RFC 2181 §9: TC only when required data does not fit. The MX target's twenty AAAA
    // records are extra: without EDNS (512 bytes) the answer goes without them, not truncated;
    // with room, with them, as on hickory's path.
    let mut text = String::from(
        "$ORIGIN mx.test.\n\
         mx.test. 3600 IN SOA ns.mx.test. hostmaster.mx.test. 1 7200 3600 1209600 300\n\
         mx.test. 3600 IN NS ns.mx.test.\n\
         mx.test. 3600 IN MX 10 mail.mx.test.\n",
    );
    for i in 1..=20 {
        text.push_str(&format!("mail.mx.test. 3600 IN AAAA 2001:db8::{i}\n"));
    }
    let handler = handler(parse_zone(&text, "mx.test."), 1232);
    let small = ask("Mx.Test.", RecordType::MX).wire();
    let fast = Message::from_vec(&fast_path(&handler, &small, Protocol::Udp)).expect("parses");
    assert!(!fast.metadata.truncation);
    assert_eq!((fast.answers.len(), fast.additionals.len()), (1, 0));
    let old = Message::from_vec(&old_path(&handler, &small, Protocol::Udp).await).expect("parses");
    assert_eq!((old.answers.len(), old.additionals.len()), (1, 0));
    let roomy = ask("Mx.Test.", RecordType::MX).edns(1232, false).wire();
    let fast = Message::from_vec(&fast_path(&handler, &roomy, Protocol::Udp)).expect("parses");
    assert_eq!(fast.additionals.len(), 20);
}
