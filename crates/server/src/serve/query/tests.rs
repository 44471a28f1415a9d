//! Unit tests of [`answer`] and [`Catalog`] on small hand-written pre-signed zones.
//!
//! The zone is `tests/data/query/example.zone`; its header comment lists the names in canonical
//! order. Its RRSIGs are well-formed but not real signatures: these tests check which records
//! are selected, not cryptography.

use std::borrow::Cow;
use std::sync::Arc;

use daned_sign::zone::SignedZone;
use data_encoding::{BASE64, HEXUPPER_PERMISSIVE};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::SerialNumber;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_proto::serialize::txt::Parser;

use super::{Answer, Catalog, answer};

pub(crate) const EXAMPLE: &str = include_str!("../../../tests/data/query/example.zone");

/// A child zone `sub.example.` delegated (with DS) from `example.`.
const SUB: &str = "$ORIGIN sub.example.
sub.example. 3600 IN SOA ns.sub.example. hostmaster.sub.example. 7 7200 3600 1209600 300
sub.example. 3600 IN NS ns.sub.example.
sub.example. 300 IN NSEC ns.sub.example. NS SOA RRSIG NSEC
ns.sub.example. 3600 IN A 192.0.2.54
ns.sub.example. 300 IN NSEC sub.example. A RRSIG NSEC
";

/// A zone parsed from master-file text, RRSIGs attached to the RRsets they cover.
///
/// hickory's master-file parser refuses DNSSEC types (it expects a signer to make them), so
/// lines of the form `owner ttl IN NSEC|RRSIG|DS|DNSKEY rdata` are parsed here and the rest by
/// hickory's `Parser`.
pub(crate) fn parse_zone(text: &str, origin: &str) -> SignedZone {
    let origin = name(origin);
    let mut plain = String::new();
    let mut records = Vec::new();
    for line in text.lines() {
        match dnssec_record(line) {
            Some(record) => records.push(record),
            None => {
                plain.push_str(line);
                plain.push('\n');
            }
        }
    }
    let (_, sets) = Parser::new(plain, None, Some(origin.clone()))
        .parse()
        .expect("test zone parses");
    records.extend(sets.into_values().flat_map(|set| set.into_iter()));
    SignedZone::from_records(&origin, records).expect("test zone is valid")
}

/// An NSEC, RRSIG, DS or DNSKEY record from one `owner ttl IN type rdata` line.
fn dnssec_record(line: &str) -> Option<Record> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [owner, ttl, "IN", rtype, rdata @ ..] = fields.as_slice() else {
        return None;
    };
    let data = match *rtype {
        "NSEC" => {
            let types = rdata[1..]
                .iter()
                .map(|t| t.parse::<RecordType>().expect("type"));
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(name(rdata[0]), types)))
        }
        "DS" => RData::DNSSEC(DNSSECRData::DS(DS::new(
            rdata[0].parse().expect("key tag"),
            Algorithm::from_u8(rdata[1].parse().expect("algorithm")),
            DigestType::from(rdata[2].parse::<u8>().expect("digest type")),
            HEXUPPER_PERMISSIVE
                .decode(rdata[3].as_bytes())
                .expect("hex digest"),
        ))),
        "DNSKEY" => {
            let flags: u16 = rdata[0].parse().expect("flags");
            let algorithm = Algorithm::from_u8(rdata[2].parse().expect("algorithm"));
            let key = BASE64.decode(rdata[3].as_bytes()).expect("base64 key");
            RData::DNSSEC(DNSSECRData::DNSKEY(DNSKEY::with_flags(
                flags,
                PublicKeyBuf::new(key, algorithm),
            )))
        }
        "RRSIG" => {
            let number = |i: usize| -> u32 { rdata[i].parse().expect("number") };
            let input = SigInput {
                type_covered: rdata[0].parse().expect("covered type"),
                algorithm: Algorithm::from_u8(rdata[1].parse().expect("algorithm")),
                num_labels: rdata[2].parse().expect("labels"),
                original_ttl: number(3),
                sig_expiration: SerialNumber::new(number(4)),
                sig_inception: SerialNumber::new(number(5)),
                key_tag: rdata[6].parse().expect("key tag"),
                signer_name: name(rdata[7]),
            };
            let sig = BASE64
                .decode(rdata[8].as_bytes())
                .expect("base64 signature");
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig)))
        }
        _ => return None,
    };
    Some(Record::from_rdata(
        name(owner),
        ttl.parse().expect("ttl"),
        data,
    ))
}

pub(crate) fn example_zone() -> SignedZone {
    parse_zone(EXAMPLE, "example.")
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("test name parses")
}

/// One line per record: owner, TTL, type and RDATA; RRSIGs shortened to the covered type and
/// the Labels field.
pub(crate) fn show(record: &Record) -> String {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => format!(
            "{} {} RRSIG {} {}",
            record.name,
            record.ttl,
            sig.input().type_covered,
            sig.input().num_labels
        ),
        data => format!(
            "{} {} {} {}",
            record.name,
            record.ttl,
            record.record_type(),
            data
        ),
    }
}

fn lines(section: &[Cow<'_, Record>]) -> Vec<String> {
    section.iter().map(|r| show(r)).collect()
}

fn ask<'z>(zone: &'z SignedZone, qname: &str, qtype: RecordType, dnssec_ok: bool) -> Answer<'z> {
    answer(zone, &name(qname), qtype, dnssec_ok)
}

const SOA_NEG: &str =
    "example. 300 SOA ns.example. hostmaster.example. 2024010101 7200 3600 1209600 300";
const SOA_NEG_SIG: &str = "example. 300 RRSIG SOA 1";

#[test]
fn rfc4035_s3_1_1_positive_answer_without_do_has_no_dnssec_records() {
    // RFC 4035 §3.1: "a security-aware name server MUST NOT include DNSSEC RRs in responses
    // to queries that do not have the DO bit set" (unless explicitly queried).
    let zone = example_zone();
    let a = ask(&zone, "a.example.", RecordType::A, false);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(lines(&a.answers), ["a.example. 3600 A 192.0.2.1"]);
    assert!(a.authorities.is_empty());
    assert!(a.additionals.is_empty());
}

#[test]
fn rfc4035_s3_1_1_positive_answer_with_do_includes_rrsig() {
    // RFC 4035 §3.1.1: "When placing a signed RRset in the Answer section, the name server
    // MUST also place its RRSIG RRs in the Answer section."
    let zone = example_zone();
    let a = ask(&zone, "a.example.", RecordType::AAAA, true);
    assert_eq!(
        lines(&a.answers),
        [
            "a.example. 3600 AAAA 2001:db8::1",
            "a.example. 3600 RRSIG AAAA 2"
        ]
    );
    // Minimal responses: no NS in authority, no additional-section processing.
    assert!(a.authorities.is_empty());
    assert!(a.additionals.is_empty());
}

#[test]
fn rfc1034_s4_3_2_qname_matching_is_case_insensitive() {
    let zone = example_zone();
    let a = ask(&zone, "A.ExAmPlE.", RecordType::A, false);
    assert_eq!(lines(&a.answers), ["a.example. 3600 A 192.0.2.1"]);
}

#[test]
fn rfc4035_s3_1_3_1_nodata_has_soa_and_nsec_of_the_name() {
    // RFC 4035 §3.1.3.1: "If the zone contains RRsets matching <SNAME, SCLASS> but contains no
    // RRset matching <SNAME, SCLASS, STYPE>, then the name server MUST include the NSEC RR for
    // <SNAME, SCLASS> along with its associated RRSIG RR(s) in the Authority section".
    let zone = example_zone();
    let a = ask(&zone, "a.example.", RecordType::MX, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert!(a.answers.is_empty());
    assert_eq!(
        lines(&a.authorities),
        [
            SOA_NEG,
            SOA_NEG_SIG,
            "a.example. 300 NSEC x.b.example. A AAAA RRSIG NSEC",
            "a.example. 300 RRSIG NSEC 2",
        ]
    );
}

#[test]
fn rfc2308_s3_negative_soa_ttl_is_capped_by_soa_minimum() {
    // RFC 2308 §3: "The TTL of this record is set from the minimum of the MINIMUM field of the
    // SOA record and the TTL of the SOA itself".
    let zone = example_zone();
    let negative = ask(&zone, "a.example.", RecordType::MX, false);
    assert_eq!(lines(&negative.authorities), [SOA_NEG]);
    // A positive SOA answer keeps the SOA's own TTL.
    let positive = ask(&zone, "example.", RecordType::SOA, false);
    assert_eq!(
        lines(&positive.answers),
        ["example. 3600 SOA ns.example. hostmaster.example. 2024010101 7200 3600 1209600 300"]
    );
}

#[test]
fn rfc4035_s3_1_3_2_nxdomain_has_nsec_for_name_and_for_wildcard() {
    // RFC 4035 §3.1.3.2: "An NSEC RR proving that there is no exact match for <SNAME, SCLASS>.
    // An NSEC RR proving that the zone contains no RRsets that would match <SNAME, SCLASS> via
    // wildcard name expansion."
    let zone = example_zone();
    // nx.example sorts between ns.example and sub.example; *.example between example and a.
    let a = ask(&zone, "nx.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert!(a.authoritative);
    assert!(a.answers.is_empty());
    assert_eq!(
        lines(&a.authorities),
        [
            SOA_NEG,
            SOA_NEG_SIG,
            "ns.example. 300 NSEC sub.example. A RRSIG NSEC",
            "ns.example. 300 RRSIG NSEC 2",
            "example. 300 NSEC a.example. NS SOA RRSIG NSEC",
            "example. 300 RRSIG NSEC 1",
        ]
    );
}

#[test]
fn rfc4035_s3_1_3_2_nxdomain_single_nsec_proving_both_is_sent_once() {
    // RFC 4035 §3.1.3.2: "In some cases, a single NSEC RR may prove both of these points. If
    // it does, the name server SHOULD only include the NSEC RR and its RRSIG RR(s) once".
    let zone = example_zone();
    // 0.example and *.example both fall between example and a.example.
    let a = ask(&zone, "0.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert_eq!(
        lines(&a.authorities),
        [
            SOA_NEG,
            SOA_NEG_SIG,
            "example. 300 NSEC a.example. NS SOA RRSIG NSEC",
            "example. 300 RRSIG NSEC 1",
        ]
    );
}

#[test]
fn rfc4035_s3_1_3_2_nxdomain_without_do_has_only_the_soa() {
    let zone = example_zone();
    let a = ask(&zone, "nx.example.", RecordType::A, false);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert_eq!(lines(&a.authorities), [SOA_NEG]);
}

#[test]
fn rfc4035_s3_1_3_2_nxdomain_after_an_occluded_name_uses_the_cut_nsec() {
    // ns.unsigned.example is glue (no NSEC); a name after it in canonical order is covered by
    // the NSEC at the cut, unsigned.example -> *.w.example.
    let zone = example_zone();
    let a = ask(&zone, "v.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    let nsecs: Vec<_> = lines(&a.authorities)
        .into_iter()
        .filter(|l| l.split(' ').nth(2) == Some("NSEC"))
        .collect();
    assert_eq!(
        nsecs,
        [
            "unsigned.example. 300 NSEC *.w.example. NS RRSIG NSEC",
            "example. 300 NSEC a.example. NS SOA RRSIG NSEC",
        ]
    );
}

#[test]
fn rfc4035_s3_1_3_1_empty_non_terminal_is_nodata_proven_by_covering_nsec() {
    // b.example owns nothing but x.b.example exists below it: the name exists (RFC 4592 §2.2.2
    // "empty non-terminals"), so the answer is NODATA, not NXDOMAIN; the NSEC a.example ->
    // x.b.example spans it and proves it has no RRsets.
    let zone = example_zone();
    let a = ask(&zone, "b.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert!(a.answers.is_empty());
    assert_eq!(
        lines(&a.authorities),
        [
            SOA_NEG,
            SOA_NEG_SIG,
            "a.example. 300 NSEC x.b.example. A AAAA RRSIG NSEC",
            "a.example. 300 RRSIG NSEC 2",
        ]
    );
}

#[test]
fn rfc4592_s2_2_2_empty_non_terminal_parent_of_wildcard_is_not_synthesised() {
    // c.example is an empty non-terminal whose only child is *.c.example: the wildcard does not
    // match its own parent.
    let zone = example_zone();
    let a = ask(&zone, "c.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.answers.is_empty());
    assert_eq!(
        lines(&a.authorities)[2],
        "x.b.example. 300 NSEC *.c.example. TXT RRSIG NSEC"
    );
}

#[test]
fn rfc4035_s3_1_3_3_wildcard_answer_rewrites_owner_and_proves_no_closer_match() {
    // RFC 4035 §3.1.3.3: "the name server MUST include the wildcard-expanded answer RRset and
    // the corresponding wildcard-expanded RRSIG RRs in the Answer section and MUST include in
    // the Authority section an NSEC RR and associated RRSIG RR(s) proving that the zone does
    // not contain a closer match for <SNAME, SCLASS>."
    let zone = example_zone();
    let a = ask(&zone, "foo.w.example.", RecordType::TXT, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    // The RRSIG keeps Labels = 2 (the wildcard's), which tells the validator it was expanded.
    assert_eq!(
        lines(&a.answers),
        [
            "foo.w.example. 3600 TXT wildcard",
            "foo.w.example. 3600 RRSIG TXT 2",
        ]
    );
    assert_eq!(
        lines(&a.authorities),
        [
            "*.w.example. 300 NSEC m.w.example. TXT RRSIG NSEC",
            "*.w.example. 300 RRSIG NSEC 2",
        ]
    );
    // The signature RDATA is copied unchanged.
    let original = zone
        .node(&name("*.w.example."))
        .and_then(|n| n.get(RecordType::TXT))
        .map(|s| s.rrsigs[0].data.clone());
    assert_eq!(Some(a.answers[1].data.clone()), original);
}

#[test]
fn rfc4035_s3_1_3_3_wildcard_answer_without_do_has_no_proof() {
    let zone = example_zone();
    let a = ask(&zone, "deep.er.w.example.", RecordType::TXT, false);
    assert_eq!(lines(&a.answers), ["deep.er.w.example. 3600 TXT wildcard"]);
    assert!(a.authorities.is_empty());
}

#[test]
fn rfc4592_s3_3_1_wildcard_does_not_match_below_an_existing_name() {
    // RFC 4592 §3.3.1: the closest encloser of x.m.w.example is m.w.example (it exists), and
    // there is no *.m.w.example, so *.w.example does not apply: NXDOMAIN.
    let zone = example_zone();
    let a = ask(&zone, "x.m.w.example.", RecordType::TXT, true);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert!(a.answers.is_empty());
    // m.w.example -> example covers both x.m.w.example and *.m.w.example: sent once.
    assert_eq!(
        lines(&a.authorities)[2..],
        [
            "m.w.example. 300 NSEC example. A RRSIG NSEC",
            "m.w.example. 300 RRSIG NSEC 3",
        ]
    );
}

#[test]
fn rfc4035_s3_1_3_4_wildcard_nodata_has_both_proofs() {
    // RFC 4035 §3.1.3.4: "An NSEC RR proving that there are no RRsets matching STYPE at the
    // wildcard owner name that matched <SNAME, SCLASS> via wildcard expansion. An NSEC RR
    // proving that there are no RRsets in the zone that would have been a closer match for
    // <SNAME, SCLASS>."
    let zone = example_zone();
    let a = ask(&zone, "zz.w.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert!(a.answers.is_empty());
    assert_eq!(
        lines(&a.authorities),
        [
            SOA_NEG,
            SOA_NEG_SIG,
            "m.w.example. 300 NSEC example. A RRSIG NSEC",
            "m.w.example. 300 RRSIG NSEC 3",
            "*.w.example. 300 NSEC m.w.example. TXT RRSIG NSEC",
            "*.w.example. 300 RRSIG NSEC 2",
        ]
    );
}

#[test]
fn rfc4035_s3_1_3_4_wildcard_nodata_single_nsec_is_sent_once() {
    // "In some cases, a single NSEC RR may prove both of these points. If it does, the name
    // server SHOULD only include the NSEC RR and its associated RRSIG RR(s) once".
    let zone = example_zone();
    let a = ask(&zone, "foo.w.example.", RecordType::A, true);
    assert_eq!(
        lines(&a.authorities),
        [
            SOA_NEG,
            SOA_NEG_SIG,
            "*.w.example. 300 NSEC m.w.example. TXT RRSIG NSEC",
            "*.w.example. 300 RRSIG NSEC 2",
        ]
    );
}

#[test]
fn rfc1034_s4_3_2_cname_is_followed_inside_the_zone() {
    // RFC 1034 §4.3.2 step 3a: "If the data at the node is a CNAME, and QTYPE doesn't match
    // CNAME, copy the CNAME RR into the answer section of the response, change QNAME to the
    // canonical name in the CNAME RR, and go back to step 1."
    let zone = example_zone();
    let a = ask(&zone, "cname.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(
        lines(&a.answers),
        [
            "cname.example. 3600 CNAME a.example.",
            "cname.example. 3600 RRSIG CNAME 2",
            "a.example. 3600 A 192.0.2.1",
            "a.example. 3600 RRSIG A 2",
        ]
    );
    assert!(a.authorities.is_empty());
}

#[test]
fn rfc4035_s2_5_nsec_query_at_a_cname_owner_answers_the_owners_nsec() {
    // The NSEC at a CNAME owner (RFC 4035 §2.5) is the answer, not the alias' target's.
    let zone = example_zone();
    let a = ask(&zone, "cname.example.", RecordType::NSEC, false);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(a.answers.len(), 1, "{:?}", lines(&a.answers));
    assert_eq!(a.answers[0].record_type(), RecordType::NSEC);
    assert_eq!(a.answers[0].name.to_ascii(), "cname.example.");
}

#[test]
fn rfc1034_s4_3_2_qtype_cname_returns_the_cname_itself() {
    let zone = example_zone();
    let a = ask(&zone, "cname.example.", RecordType::CNAME, false);
    assert_eq!(lines(&a.answers), ["cname.example. 3600 CNAME a.example."]);
}

#[test]
fn rfc1034_s4_3_2_cname_to_nodata_target_has_the_target_proof() {
    let zone = example_zone();
    let a = ask(&zone, "cname.example.", RecordType::MX, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(
        lines(&a.answers),
        [
            "cname.example. 3600 CNAME a.example.",
            "cname.example. 3600 RRSIG CNAME 2"
        ]
    );
    assert_eq!(
        lines(&a.authorities)[2],
        "a.example. 300 NSEC x.b.example. A AAAA RRSIG NSEC"
    );
}

#[test]
fn rfc6604_s2_rcode_comes_from_the_last_name_of_the_chain() {
    // RFC 6604 §2: "the RCODE in the ultimate DNS response MUST BE set based on the final
    // query cycle leading to that response."
    let zone = example_zone();
    let a = ask(&zone, "missing.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert!(a.authoritative);
    assert_eq!(
        lines(&a.answers),
        [
            "missing.example. 3600 CNAME nothere.example.",
            "missing.example. 3600 RRSIG CNAME 2",
        ]
    );
    // nothere.example sorts between missing.example and ns.example.
    assert_eq!(
        lines(&a.authorities),
        [
            SOA_NEG,
            SOA_NEG_SIG,
            "missing.example. 300 NSEC ns.example. CNAME RRSIG NSEC",
            "missing.example. 300 RRSIG NSEC 2",
            "example. 300 NSEC a.example. NS SOA RRSIG NSEC",
            "example. 300 RRSIG NSEC 1",
        ]
    );
}

#[test]
fn rfc1034_s3_6_2_cname_loop_is_bounded() {
    // RFC 1034 §3.6.2: "CNAME chains should be followed and CNAME loops signalled as an error"
    // (by the resolver); the server answers the chain once and stops at the repeat.
    let zone = example_zone();
    let a = ask(&zone, "loop1.example.", RecordType::A, false);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(
        lines(&a.answers),
        [
            "loop1.example. 3600 CNAME loop2.example.",
            "loop2.example. 3600 CNAME loop1.example.",
        ]
    );
}

#[test]
fn rfc1034_s4_3_2_cname_out_of_zone_is_left_to_the_resolver() {
    let zone = example_zone();
    let a = ask(&zone, "ext.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(
        lines(&a.answers),
        [
            "ext.example. 3600 CNAME www.example.net.",
            "ext.example. 3600 RRSIG CNAME 2",
        ]
    );
    assert!(a.authorities.is_empty());
}

#[test]
fn rfc4592_s4_4_wildcard_cname_is_expanded_and_followed() {
    let zone = example_zone();
    let a = ask(&zone, "foo.c.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(
        lines(&a.answers),
        [
            "foo.c.example. 3600 CNAME a.example.",
            "foo.c.example. 3600 RRSIG CNAME 2",
            "a.example. 3600 A 192.0.2.1",
            "a.example. 3600 RRSIG A 2",
        ]
    );
    assert_eq!(
        lines(&a.authorities),
        [
            "*.c.example. 300 NSEC cname.example. CNAME RRSIG NSEC",
            "*.c.example. 300 RRSIG NSEC 2",
        ]
    );
}

#[test]
fn rfc4035_s3_1_4_referral_with_ds_and_glue() {
    // RFC 4035 §3.1.4: "If a DS RRset is present at the delegation point, the name server MUST
    // return both the DS RRset and its associated RRSIG RR(s) in the Authority section along
    // with the NS RRset."
    let zone = example_zone();
    let a = ask(&zone, "www.sub.example.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(!a.authoritative, "a referral is not authoritative");
    assert!(a.answers.is_empty());
    assert_eq!(
        lines(&a.authorities),
        [
            "sub.example. 3600 NS ns.sub.example.",
            "sub.example. 3600 NS ns.example.",
            "sub.example. 3600 DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
            "sub.example. 3600 RRSIG DS 2",
        ]
    );
    // Glue below the cut is unsigned; the in-zone ns.example address is signed.
    assert_eq!(
        lines(&a.additionals),
        [
            "ns.sub.example. 3600 A 192.0.2.54",
            "ns.sub.example. 3600 AAAA 2001:db8::54",
            "ns.example. 3600 A 192.0.2.53",
            "ns.example. 3600 RRSIG A 2",
        ]
    );
}

#[test]
fn rfc4035_s3_1_4_referral_without_ds_has_the_nsec_proving_no_ds() {
    // RFC 4035 §3.1.4: "If no DS RRset is present at the delegation point, the name server MUST
    // return the NSEC RR that proves that the DS RRset is not present. The NSEC RR along with
    // its associated RRSIG RR(s) MUST be placed in the Authority section after the NS RRset."
    let zone = example_zone();
    let a = ask(&zone, "deep.host.unsigned.example.", RecordType::AAAA, true);
    assert!(!a.authoritative);
    assert_eq!(
        lines(&a.authorities),
        [
            "unsigned.example. 3600 NS ns.unsigned.example.",
            "unsigned.example. 300 NSEC *.w.example. NS RRSIG NSEC",
            "unsigned.example. 300 RRSIG NSEC 2",
        ]
    );
    assert_eq!(
        lines(&a.additionals),
        ["ns.unsigned.example. 3600 A 192.0.2.55"]
    );
}

#[test]
fn rfc4035_s3_1_4_referral_without_do_has_only_ns_and_glue() {
    let zone = example_zone();
    let a = ask(&zone, "www.sub.example.", RecordType::A, false);
    assert_eq!(
        lines(&a.authorities),
        [
            "sub.example. 3600 NS ns.sub.example.",
            "sub.example. 3600 NS ns.example.",
        ]
    );
    assert_eq!(a.additionals.len(), 3);
}

#[test]
fn rfc1034_s4_3_2_queries_at_the_cut_and_for_glue_are_referrals() {
    let zone = example_zone();
    for (qname, qtype) in [
        ("sub.example.", RecordType::NS),
        ("sub.example.", RecordType::A),
        ("sub.example.", RecordType::ANY),
        ("ns.sub.example.", RecordType::A),
        ("ns.unsigned.example.", RecordType::A),
    ] {
        let a = ask(&zone, qname, qtype, false);
        assert!(!a.authoritative, "{qname} {qtype}");
        assert!(a.answers.is_empty(), "{qname} {qtype}");
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert!(
            a.authorities
                .iter()
                .all(|r| r.record_type() == RecordType::NS),
            "{qname} {qtype}"
        );
    }
}

#[test]
fn rfc4035_s3_1_4_1_ds_query_at_a_cut_is_answered_by_the_parent() {
    // RFC 4035 §3.1.4.1: "The DS resource record type is unusual in that it appears only on the
    // parent zone's side of a zone cut."
    let zone = example_zone();
    let a = ask(&zone, "sub.example.", RecordType::DS, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(
        lines(&a.answers),
        [
            "sub.example. 3600 DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
            "sub.example. 3600 RRSIG DS 2",
        ]
    );
    // No DS at the cut: an authoritative NODATA with the cut's NSEC.
    let a = ask(&zone, "unsigned.example.", RecordType::DS, true);
    assert!(a.authoritative);
    assert!(a.answers.is_empty());
    assert_eq!(
        lines(&a.authorities),
        [
            SOA_NEG,
            SOA_NEG_SIG,
            "unsigned.example. 300 NSEC *.w.example. NS RRSIG NSEC",
            "unsigned.example. 300 RRSIG NSEC 2",
        ]
    );
    // Below a cut, DS is a referral like anything else.
    let a = ask(&zone, "ns.sub.example.", RecordType::DS, false);
    assert!(!a.authoritative);
}

#[test]
fn rfc8482_s4_2_any_returns_one_rrset_of_the_node() {
    let zone = example_zone();
    let a = ask(&zone, "a.example.", RecordType::ANY, false);
    assert_eq!(lines(&a.answers), ["a.example. 3600 A 192.0.2.1"]);
    // With DO, that RRset's signatures.
    let a = ask(&zone, "a.example.", RecordType::ANY, true);
    assert_eq!(
        lines(&a.answers),
        ["a.example. 3600 A 192.0.2.1", "a.example. 3600 RRSIG A 2"]
    );
    // ANY at a CNAME is not chased.
    let a = ask(&zone, "cname.example.", RecordType::ANY, false);
    assert_eq!(a.answers.len(), 1);
    assert_eq!(a.answers[0].record_type(), RecordType::CNAME);
    assert!(a.answers.iter().all(|r| r.name == name("cname.example.")));
}

#[test]
fn rfc8482_rfc4592_s4_7_wildcard_any_synthesises_one_data_rrset_never_the_nsec() {
    let zone = example_zone();
    let a = ask(&zone, "foo.w.example.", RecordType::ANY, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    let types: Vec<_> = a.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, [RecordType::TXT, RecordType::RRSIG]);
    assert!(a.answers.iter().all(|r| r.name == name("foo.w.example.")));
    // The only NSEC is the proof that the query name itself does not exist, at its own owner.
    assert!(
        a.authorities
            .iter()
            .filter(|r| r.record_type() == RecordType::NSEC)
            .all(|r| r.name != name("foo.w.example."))
    );
}

#[test]
fn rfc4035_s3_1_rrsig_query_returns_the_signatures_at_the_name() {
    let zone = example_zone();
    let a = ask(&zone, "a.example.", RecordType::RRSIG, false);
    assert_eq!(
        lines(&a.answers),
        [
            "a.example. 3600 RRSIG A 2",
            "a.example. 3600 RRSIG AAAA 2",
            "a.example. 300 RRSIG NSEC 2",
        ]
    );
}

/// A zone whose MX, SRV and NS targets are in the zone, below a cut, and outside it.
const TARGETS: &str = "$ORIGIN t.example.
t.example. 3600 IN SOA ns.t.example. hostmaster.t.example. 1 7200 3600 1209600 300
t.example. 3600 IN NS ns.t.example.
t.example. 3600 IN NS ns.elsewhere.example.
t.example. 3600 IN MX 10 mail.t.example.
t.example. 3600 IN MX 20 MAIL.t.example.
t.example. 3600 IN MX 30 mx.sub.t.example.
t.example. 3600 IN MX 40 mx.other.example.
_sip._tcp.t.example. 3600 IN SRV 0 5 5060 sip.t.example.
alias.t.example. 3600 IN CNAME t.example.
mail.t.example. 3600 IN A 192.0.2.25
mail.t.example. 3600 IN AAAA 2001:db8::25
ns.t.example. 3600 IN A 192.0.2.53
sip.t.example. 3600 IN AAAA 2001:db8::5060
sub.t.example. 3600 IN NS ns.sub.t.example.
mx.sub.t.example. 3600 IN A 192.0.2.99
t.example. 3600 IN RRSIG MX 13 2 3600 1893456000 1704067200 4242 t.example. AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==
mail.t.example. 3600 IN RRSIG A 13 3 3600 1893456000 1704067200 4242 t.example. AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg==
mail.t.example. 3600 IN RRSIG AAAA 13 3 3600 1893456000 1704067200 4242 t.example. AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw==
";

#[test]
fn rfc1035_s3_3_9_mx_targets_get_their_addresses_in_the_additional_section() {
    // RFC 1035 §3.3.9: MX "cause[s] type A additional section processing for the host
    // specified by EXCHANGE". Each target's A then AAAA, once however often it is named
    // (case-insensitively), glue below a cut too, nothing for a name outside the zone.
    let zone = parse_zone(TARGETS, "t.example.");
    let a = ask(&zone, "t.example.", RecordType::MX, false);
    assert_eq!(a.answers.len(), 4);
    assert!(a.additionals.is_empty(), "nothing required");
    assert_eq!(
        lines(&a.optional),
        [
            "mail.t.example. 3600 A 192.0.2.25",
            "mail.t.example. 3600 AAAA 2001:db8::25",
            "mx.sub.t.example. 3600 A 192.0.2.99",
        ]
    );
    // With DO the authoritative addresses come with their RRSIGs; glue has none.
    let a = ask(&zone, "t.example.", RecordType::MX, true);
    assert_eq!(
        lines(&a.optional),
        [
            "mail.t.example. 3600 A 192.0.2.25",
            "mail.t.example. 3600 RRSIG A 3",
            "mail.t.example. 3600 AAAA 2001:db8::25",
            "mail.t.example. 3600 RRSIG AAAA 3",
            "mx.sub.t.example. 3600 A 192.0.2.99",
        ]
    );
    // Reached through a CNAME, the MX answer gets the same addresses.
    let a = ask(&zone, "alias.t.example.", RecordType::MX, false);
    assert_eq!(a.answers.len(), 5);
    assert_eq!(a.optional.len(), 3);
}

#[test]
fn rfc2782_and_rfc1035_s3_3_11_srv_and_ns_targets_get_their_addresses() {
    let zone = parse_zone(TARGETS, "t.example.");
    let a = ask(&zone, "_sip._tcp.t.example.", RecordType::SRV, false);
    assert_eq!(
        lines(&a.optional),
        ["sip.t.example. 3600 AAAA 2001:db8::5060"]
    );
    let a = ask(&zone, "t.example.", RecordType::NS, false);
    assert_eq!(lines(&a.optional), ["ns.t.example. 3600 A 192.0.2.53"]);
    // Other types, negative answers and referrals have no optional records.
    for (qname, qtype) in [
        ("mail.t.example.", RecordType::A),
        ("mail.t.example.", RecordType::MX),
        ("nothere.t.example.", RecordType::MX),
        ("www.sub.t.example.", RecordType::MX),
    ] {
        assert!(
            ask(&zone, qname, qtype, true).optional.is_empty(),
            "{qname} {qtype}"
        );
    }
}

#[test]
fn rfc1034_s4_3_2_name_outside_the_zone_is_refused() {
    let zone = example_zone();
    let a = ask(&zone, "www.example.net.", RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::Refused);
    assert!(!a.authoritative);
    assert_eq!(a.record_count(), 0);
}

#[test]
fn size_bound_is_at_least_the_uncompressed_wire_size() {
    let zone = example_zone();
    let queries = [
        ("a.example.", RecordType::ANY),
        ("nx.example.", RecordType::A),
        ("foo.w.example.", RecordType::TXT),
        ("www.sub.example.", RecordType::A),
        ("example.", RecordType::SOA),
        ("zz.w.example.", RecordType::A),
    ];
    for (qname, qtype) in queries {
        let a = ask(&zone, qname, qtype, true);
        let mut buf = Vec::new();
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        for record in a.answers.iter().chain(&a.authorities).chain(&a.additionals) {
            record.emit(&mut encoder).expect("record encodes");
        }
        let bound = a.size_bound();
        assert!(
            bound >= buf.len(),
            "{qname} {qtype}: {bound} < {}",
            buf.len()
        );
        // And it is a useful bound, not a huge constant.
        assert!(
            bound <= buf.len() + 4 * a.record_count(),
            "{qname} {qtype}: {bound}"
        );
    }
}

#[test]
fn rfc1034_s4_3_2_catalog_finds_the_nearest_ancestor_zone() {
    // RFC 1034 §4.3.2 step 2: "Search the available zones for the zone which is the nearest
    // ancestor to QNAME."
    let parent = Arc::new(example_zone());
    let child = Arc::new(parse_zone(SUB, "sub.example."));
    let other = Arc::new(parse_zone(
        "$ORIGIN a.example.\na.example. 3600 IN SOA ns.a.example. h.a.example. 1 1 1 1 1\n",
        "a.example.",
    ));
    let catalog = Catalog::new([parent, child, other]);
    let origin = |q: &str| catalog.find(&name(q)).map(|z| z.origin().to_string());
    assert_eq!(origin("www.sub.example."), Some("sub.example.".into()));
    assert_eq!(origin("sub.example."), Some("sub.example.".into()));
    assert_eq!(origin("SUB.Example."), Some("sub.example.".into()));
    // b.example sorts after a.example and its subtree, which is not its ancestor.
    assert_eq!(origin("x.b.example."), Some("example.".into()));
    assert_eq!(origin("zzz.a.example."), Some("a.example.".into()));
    assert_eq!(origin("example."), Some("example.".into()));
    assert_eq!(origin("example.net."), None);
    assert_eq!(origin("net."), None);
    assert_eq!(origin("."), None);
    assert_eq!(catalog.zones().count(), 3);
}

#[test]
fn rfc4035_s3_1_4_1_catalog_sends_ds_at_a_child_apex_to_the_parent() {
    let parent = Arc::new(example_zone());
    let child = Arc::new(parse_zone(SUB, "sub.example."));
    let catalog = Catalog::new([parent, child.clone()]);
    let origin = |q: &str, t| {
        catalog
            .find_for_query(&name(q), t)
            .map(|z| z.origin().to_string())
    };
    assert_eq!(
        origin("sub.example.", RecordType::DS),
        Some("example.".into())
    );
    assert_eq!(
        origin("sub.example.", RecordType::NS),
        Some("sub.example.".into())
    );
    assert_eq!(origin("example.", RecordType::DS), Some("example.".into()));
    // Without the parent, the child answers (NODATA from its apex).
    let alone = Catalog::new([child]);
    assert_eq!(
        alone
            .find_for_query(&name("sub.example."), RecordType::DS)
            .map(|z| z.origin().to_string()),
        Some("sub.example.".into())
    );
}

pub(crate) mod nsec3;
