//! The RFC 5155 §7.2 proofs on `tests/data/query/example.zone` re-signed with NSEC3 by our
//! signer (real signatures, RFC 9276 parameters).
//!
//! Every check of an NSEC3 proof is made from the NSEC3 RDATA in the response (owner hash,
//! next hash), not from the engine's own lookups.

use std::borrow::Cow;

use daned_sign::keys::{KeyRole, SigningKey};
use daned_sign::nsec3::{Denial, Nsec3Params, owner_hash};
use daned_sign::sign::{SignCtx, SignPolicy, ZoneKey, sign_zone};
use daned_sign::zone::SignedZone;
use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{EXAMPLE, parse_zone};
use crate::serve::query::answer;

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("test name parses")
}

/// `example.zone`'s content signed with NSEC3 at `now` by an Ed25519 CSK from a fixed seed.
pub(crate) fn nsec3_example_zone(now: u32) -> (SignedZone, SigningKey) {
    let content = parse_zone(EXAMPLE, "example.").to_zone();
    let key = SigningKey::from_ed25519_seed(&[7; 32], KeyRole::Csk).expect("seeded key");
    let rng = ring::rand::SystemRandom::new();
    let ctx = SignCtx {
        now,
        policy: SignPolicy::default(),
        keys: &[ZoneKey::steady(&key)],
        dnskey_ttl: 3600,
        rng: &rng,
        denial: Denial::Nsec3(Nsec3Params::default()),
        threads: std::num::NonZeroUsize::MIN,
    };
    let signed = sign_zone(&ctx, &content, 2024010101).expect("the example zone signs");
    (signed, key)
}

fn zone() -> SignedZone {
    nsec3_example_zone(1_767_225_600).0
}

fn hash(text: &str) -> Vec<u8> {
    Nsec3Params::default().hash(&name(text)).to_vec()
}

/// The NSEC3 records of a section, as (owner hash, next hash), each checked to carry an RRSIG.
fn nsec3s(section: &[Cow<'_, Record>]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for record in section {
        if let RData::DNSSEC(DNSSECRData::NSEC3(n)) = &record.data {
            let signed = section.iter().any(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
                    r.name == record.name && sig.input().type_covered == RecordType::NSEC3
                }
                _ => false,
            });
            assert!(signed, "{} NSEC3 comes with its RRSIG", record.name);
            let owner = owner_hash(&record.name).expect("NSEC3 owner is a hash");
            out.push((owner, n.next_hashed_owner_name().to_vec()));
        }
    }
    let mut unique = out.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), out.len(), "each NSEC3 once");
    out
}

/// RFC 5155 §1.3: an NSEC3 "matches" a name whose hash is its owner hash.
fn matches(proof: &[(Vec<u8>, Vec<u8>)], name: &str) -> bool {
    proof.iter().any(|(owner, _)| *owner == hash(name))
}

/// RFC 5155 §1.3: an NSEC3 "covers" a name when the name's hash sorts after the owner hash and
/// before the next hash (wrapping around at the end of the chain).
fn covers(proof: &[(Vec<u8>, Vec<u8>)], name: &str) -> bool {
    let h = hash(name);
    proof.iter().any(|(owner, next)| {
        if owner < next {
            *owner < h && h < *next
        } else {
            *owner < h || h < *next
        }
    })
}

fn negative_soa(section: &[Cow<'_, Record>]) -> bool {
    section.first().map(|r| r.record_type()) == Some(RecordType::SOA)
}

#[test]
fn rfc5155_s7_2_2_nxdomain_has_closest_encloser_proof_and_wildcard_cover() {
    // RFC 5155 §7.2.2: "To prove the nonexistence of QNAME, a closest encloser proof and an
    // NSEC3 RR covering the (nonexistent) wildcard RR at the closest encloser MUST be included
    // in the response."
    // §7.2.1: the proof is the NSEC3 matching the closest encloser and the one covering the
    // next closer name.
    let zone = zone();
    for (qname, encloser, next_closer) in [
        ("nx.example.", "example.", "nx.example."),
        ("deep.nx.example.", "example.", "nx.example."),
        ("q.b.example.", "b.example.", "q.b.example."),
        ("z.y.x.b.example.", "x.b.example.", "y.x.b.example."),
    ] {
        let a = answer(&zone, &name(qname), RecordType::A, true);
        assert_eq!(a.rcode, ResponseCode::NXDomain, "{qname}");
        assert!(a.answers.is_empty(), "{qname}");
        assert!(negative_soa(&a.authorities), "{qname}");
        let proof = nsec3s(&a.authorities);
        assert!(matches(&proof, encloser), "{qname}: encloser {encloser}");
        assert!(covers(&proof, next_closer), "{qname}: next closer");
        assert!(
            covers(&proof, &format!("*.{encloser}")),
            "{qname}: wildcard"
        );
        assert!(proof.len() <= 3, "{qname}: {proof:?}");
        assert!(
            !a.authorities
                .iter()
                .any(|r| r.record_type() == RecordType::NSEC)
        );
    }
}

#[test]
fn rfc5155_s7_2_3_nodata_has_the_nsec3_matching_qname() {
    // RFC 5155 §7.2.3: "the server MUST include the NSEC3 RR that matches QNAME".
    let zone = zone();
    let a = answer(&zone, &name("a.example."), RecordType::MX, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.answers.is_empty());
    assert!(negative_soa(&a.authorities));
    let proof = nsec3s(&a.authorities);
    assert_eq!(proof.len(), 1);
    assert!(matches(&proof, "a.example."));
}

#[test]
fn rfc4035_s2_5_nsec_query_at_a_cname_owner_is_nodata_at_the_owner() {
    // RFC 4035 §2.5: "If a CNAME RR is present at a name in a signed zone, appropriate RRSIG
    // and NSEC RRs are REQUIRED at that name": an NSEC query there is not an alias query. An
    // NSEC3 zone has no NSEC at the owner: NODATA with the NSEC3 matching it, no CNAME.
    let zone = zone();
    let a = answer(&zone, &name("cname.example."), RecordType::NSEC, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.answers.is_empty(), "{:?}", a.answers);
    assert!(negative_soa(&a.authorities));
    let proof = nsec3s(&a.authorities);
    assert_eq!(proof.len(), 1);
    assert!(matches(&proof, "cname.example."));
    // Any other type at the owner still follows the alias (RFC 1034 §4.3.2 step 3a).
    let a = answer(&zone, &name("cname.example."), RecordType::TXT, true);
    assert!(
        a.answers
            .iter()
            .any(|r| r.record_type() == RecordType::CNAME)
    );
}

#[test]
fn rfc5155_s7_2_3_empty_non_terminal_nodata_has_its_own_nsec3() {
    // RFC 5155 §7.1: "Each empty non-terminal MUST have a corresponding NSEC3 RR", so a NODATA
    // response for one carries the NSEC3 that matches it (§7.2.3).
    let zone = zone();
    for ent in ["b.example.", "w.example.", "c.example."] {
        let a = answer(&zone, &name(ent), RecordType::A, true);
        assert_eq!(a.rcode, ResponseCode::NoError, "{ent}");
        assert!(a.answers.is_empty(), "{ent}");
        let proof = nsec3s(&a.authorities);
        assert_eq!(proof.len(), 1, "{ent}");
        assert!(matches(&proof, ent), "{ent}");
    }
}

#[test]
fn rfc5155_s7_2_4_ds_nodata_at_an_insecure_delegation_has_the_matching_nsec3() {
    // RFC 5155 §7.2.4: "If there is an NSEC3 RR that matches QNAME, the server MUST return it in
    // the response." The DS query is answered by the parent side, authoritatively.
    let zone = zone();
    let a = answer(&zone, &name("unsigned.example."), RecordType::DS, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert!(a.answers.is_empty());
    let proof = nsec3s(&a.authorities);
    assert_eq!(proof.len(), 1);
    assert!(matches(&proof, "unsigned.example."));
}

#[test]
fn rfc5155_s7_2_5_wildcard_nodata_has_encloser_proof_and_wildcard_match() {
    // RFC 5155 §7.2.5: "the response MUST include a closest encloser proof for QNAME and MUST
    // include the NSEC3 RR that matches the wildcard". §7.2.1: the closest encloser proof is
    // the NSEC3 matching the closest encloser and the one covering the next closer name.
    let zone = zone();
    let a = answer(&zone, &name("zz.w.example."), RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.answers.is_empty());
    let proof = nsec3s(&a.authorities);
    assert!(matches(&proof, "w.example."));
    assert!(covers(&proof, "zz.w.example."));
    assert!(matches(&proof, "*.w.example."));
    assert_eq!(proof.len(), 3);
}

#[test]
fn rfc5155_s7_2_6_wildcard_answer_has_the_nsec3_covering_the_next_closer_name() {
    // RFC 5155 §7.2.6: "the NSEC3 RR that covers the "next closer" name of the immediate
    // ancestor of the wildcard MUST be returned".
    let zone = zone();
    let a = answer(&zone, &name("deep.foo.w.example."), RecordType::TXT, true);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(
        a.answers
            .iter()
            .any(|r| r.record_type() == RecordType::TXT && r.name == name("deep.foo.w.example."))
    );
    let proof = nsec3s(&a.authorities);
    assert_eq!(proof.len(), 1);
    assert!(covers(&proof, "foo.w.example."));
    // Without DO: no proof at all.
    let plain = answer(&zone, &name("foo.w.example."), RecordType::TXT, false);
    assert!(plain.authorities.is_empty());
}

#[test]
fn rfc5155_s7_2_7_referral_to_an_unsigned_delegation_has_the_matching_nsec3() {
    // RFC 5155 §7.2.7: "If there is an NSEC3 RR that matches the delegation name, then that
    // NSEC3 RR MUST be included in the response."
    let zone = zone();
    let a = answer(&zone, &name("www.unsigned.example."), RecordType::A, true);
    assert!(!a.authoritative);
    assert!(
        a.authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NS)
    );
    let proof = nsec3s(&a.authorities);
    assert_eq!(proof.len(), 1);
    assert!(matches(&proof, "unsigned.example."));
    // A signed delegation sends its DS instead.
    let a = answer(&zone, &name("www.sub.example."), RecordType::A, true);
    assert!(nsec3s(&a.authorities).is_empty());
    assert!(
        a.authorities
            .iter()
            .any(|r| r.record_type() == RecordType::DS)
    );
}

#[test]
fn rfc5155_s7_2_8_nsec3_owner_names_are_not_names_of_the_zone() {
    // RFC 5155 §7.2.8: if "the QNAME equals the owner name of an existing NSEC3 RR" and "no RR
    // types exist at the QNAME, nor at any descendant of QNAME", "then the response MUST be
    // constructed as a Name Error response (Section 7.2.2)".
    let zone = zone();
    let owner = Nsec3Params::default()
        .hashed_owner(&name("example."), &name("a.example."))
        .expect("owner");
    assert!(zone.nsec3_matching(&owner).is_some());
    for qtype in [RecordType::NSEC3, RecordType::A] {
        let a = answer(&zone, &owner, qtype, true);
        assert_eq!(a.rcode, ResponseCode::NXDomain, "{qtype}");
        assert!(a.answers.is_empty(), "{qtype}");
        let proof = nsec3s(&a.authorities);
        assert!(matches(&proof, "example."));
        assert!(covers(&proof, "*.example."));
    }
    // A name below one is not in the zone either.
    let below = owner.prepend_label("x").expect("name");
    let a = answer(&zone, &below, RecordType::A, true);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
}
