//! Signing on several threads (issue 10) gives what one thread gives.
//!
//! Ed25519 signatures are deterministic (RFC 8032 §5.1.6: the nonce is a hash of the key and
//! the message), so with no jitter a pass on several threads must equal the one-thread pass
//! byte for byte, record for record. ECDSA signing draws a random nonce for every signature,
//! so two ECDSA passes never share signature bytes; there "the same" means: the same nodes,
//! RRsets and NSEC or NSEC3 chain, RRSIGs on the same RRsets with the same RDATA fields but
//! the signature (RFC 4034 §3.1), and every signature verifying (RFC 4035 §5.3).
//!
//! The zones are large enough that a pass has many chunks of RRsets to sign and names to hash,
//! so that several threads do take part (`threads.rs` checks that they do).

use std::num::NonZeroUsize;

use daned_sign::SignError;
use daned_sign::hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG};
use daned_sign::hickory_proto::rr::{Name, RData, Record, RecordType};
use daned_sign::keys::{KeyAlgorithm, KeyRole, SigningKey};
use daned_sign::nsec3::{Denial, Nsec3Params};
use daned_sign::rrsig::verify_rrsig;
use daned_sign::sign::{
    SignCtx, SignPolicy, ZoneKey, apply_changes, refresh_signatures, sign_zone,
};
use daned_sign::zone::{Rrset, RrsetChange, SignedZone, Zone};
use ring::rand::SystemRandom;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z
const DAY: u32 = 86_400;
/// Names in the test zones: a few hundred RRsets to sign, several chunks of 64 (threads.rs).
const NAMES: usize = 100;

fn name(text: &str) -> Result<Name, SignError> {
    Name::from_ascii(text).map_err(|e| SignError::Key(e.to_string()))
}

fn rrset(owner: &str, rtype: RecordType, rdata: &str) -> Result<Rrset, Box<dyn std::error::Error>> {
    let rdata = RData::try_from_str(rtype, rdata)?;
    Ok(Rrset::new(&name(owner)?, rtype, 3600, [rdata])?)
}

/// A zone of `n` names below the apex: addresses, every third name with a TXT, every fifth
/// under an empty non-terminal, every seventh a secure delegation with glue.
fn zone(n: usize) -> Result<Zone, Box<dyn std::error::Error>> {
    let mut zone = Zone::new(&name("example.")?);
    let soa = "ns1.example. hostmaster.example. 1 7200 3600 1209600 300";
    zone.insert(rrset("example.", RecordType::SOA, soa)?)?;
    zone.insert(rrset("example.", RecordType::NS, "ns1.example.")?)?;
    zone.insert(rrset("ns1.example.", RecordType::A, "192.0.2.1")?)?;
    for i in 0..n {
        let address = format!("10.0.{}.{}", i / 250, i % 250);
        if i % 7 == 0 {
            let cut = format!("d{i}.example.");
            zone.insert(rrset(&cut, RecordType::NS, &format!("ns.{cut}"))?)?;
            let ds = "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118CFBA6A1C3A5A5DF3E6C0B8E4";
            zone.insert(rrset(&cut, RecordType::DS, ds)?)?;
            zone.insert(rrset(&format!("ns.{cut}"), RecordType::A, &address)?)?;
            continue;
        }
        let owner = if i % 5 == 0 {
            format!("a.e{i}.example.")
        } else {
            format!("h{i}.example.")
        };
        zone.insert(rrset(&owner, RecordType::A, &address)?)?;
        if i % 3 == 0 {
            zone.insert(rrset(&owner, RecordType::TXT, &format!("name {i}"))?)?;
        }
    }
    Ok(zone)
}

fn ctx<'a>(
    now: u32,
    keys: &'a [ZoneKey<'a>],
    rng: &'a SystemRandom,
    denial: Denial,
) -> SignCtx<'a> {
    SignCtx {
        now,
        // No jitter: each RRset's times are then fixed, and equal between two passes.
        policy: SignPolicy {
            jitter: 0,
            ..SignPolicy::default()
        },
        keys,
        dnskey_ttl: 3600,
        rng,
        denial,
        threads: NonZeroUsize::MIN,
    }
}

/// `ctx` on `threads` threads.
fn on<'a>(threads: usize, ctx: &SignCtx<'a>) -> SignCtx<'a> {
    SignCtx {
        threads: NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN),
        rng: ctx.rng,
        keys: ctx.keys,
        ..*ctx
    }
}

fn denials() -> [Denial; 2] {
    [Denial::Nsec, Denial::Nsec3(Nsec3Params::default())]
}

/// A KSK and a ZSK, Ed25519 from fixed seeds.
fn ed25519_keys() -> Result<[SigningKey; 2], SignError> {
    Ok([
        SigningKey::from_ed25519_seed(&[1; 32], KeyRole::Ksk)?,
        SigningKey::from_ed25519_seed(&[2; 32], KeyRole::Zsk)?,
    ])
}

/// Every record of the zone with its TTL (which `Record`'s `==` leaves out), in order, and
/// the NSEC3 owners.
fn contents(zone: &SignedZone) -> (u32, Vec<(u32, Record)>, Vec<Name>) {
    let records = zone.records().map(|r| (r.ttl, r.clone())).collect();
    (
        zone.serial(),
        records,
        zone.nsec3_owners().cloned().collect(),
    )
}

/// The changes of an incremental pass: a tenth of the names change address, some go, some
/// come, and a delegation appears over existing names.
fn changes(n: usize) -> Result<Vec<RrsetChange>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for i in (1..n).filter(|i| i % 10 == 1) {
        out.push(RrsetChange::put(rrset(
            &format!("h{i}.example."),
            RecordType::A,
            "192.0.2.99",
        )?));
    }
    for i in (1..n).filter(|i| i % 10 == 2) {
        out.push(RrsetChange::remove(
            name(&format!("h{i}.example."))?,
            RecordType::A,
        ));
    }
    for i in 0..n / 10 {
        out.push(RrsetChange::put(rrset(
            &format!("new{i}.example."),
            RecordType::A,
            "192.0.2.98",
        )?));
    }
    out.push(RrsetChange::put(rrset(
        "e5.example.",
        RecordType::NS,
        "ns1.example.",
    )?));
    Ok(out)
}

#[test]
fn ed25519_full_incremental_and_refresh_passes_equal_one_thread_byte_for_byte() -> TestResult {
    let rng = SystemRandom::new();
    let keys = ed25519_keys()?;
    let zone_keys: Vec<ZoneKey<'_>> = keys.iter().map(ZoneKey::steady).collect();
    let content = zone(NAMES)?;
    let changes = changes(NAMES)?;
    for denial in denials() {
        let signing = ctx(T0, &zone_keys, &rng, denial);
        let one = sign_zone(&signing, &content, 10)?;
        let (changed, delta) = apply_changes(&signing, &one, &changes, 11)?;
        // Eight days later every signature is within the 7-day refresh window.
        let later = ctx(T0 + 8 * DAY, &zone_keys, &rng, denial);
        let (refreshed, refresh_delta) =
            refresh_signatures(&later, &changed, 12)?.ok_or("nothing was due")?;
        // Every signature was renewed.
        let rrsigs = |records: &mut dyn Iterator<Item = &Record>| {
            records
                .filter(|r| r.record_type() == RecordType::RRSIG)
                .count()
        };
        assert_eq!(
            rrsigs(&mut refresh_delta.added.iter()),
            rrsigs(&mut refreshed.records()),
            "{denial:?}"
        );
        for threads in [2, 5] {
            let what = format!("{denial:?}, {threads} threads");
            let many = sign_zone(&on(threads, &signing), &content, 10)?;
            assert!(contents(&many) == contents(&one), "{what}: sign_zone");
            let (many_changed, many_delta) =
                apply_changes(&on(threads, &signing), &many, &changes, 11)?;
            assert!(
                contents(&many_changed) == contents(&changed),
                "{what}: apply"
            );
            assert_eq!(many_delta, delta, "{what}: apply delta");
            let (many_refreshed, many_refresh_delta) =
                refresh_signatures(&on(threads, &later), &many_changed, 12)?
                    .ok_or("nothing was due")?;
            assert!(
                contents(&many_refreshed) == contents(&refreshed),
                "{what}: refresh"
            );
            assert_eq!(many_refresh_delta, refresh_delta, "{what}: refresh delta");
        }
    }
    Ok(())
}

fn rrsig_of(record: &Record) -> Result<&RRSIG, String> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Ok(sig),
        other => Err(format!("not an RRSIG: {other}")),
    }
}

/// Checks that `many` is `one` but for the ECDSA signature bytes: the same nodes and RRsets
/// (so the same NSEC or NSEC3 chain), RRSIGs on the same RRsets with equal header fields, and
/// every RRSIG of `many` verifying against its key (RFC 4035 §5.3).
fn same_but_signature_bytes(
    one: &SignedZone,
    many: &SignedZone,
    keys: &[SigningKey],
) -> TestResult {
    assert_eq!(one.serial(), many.serial());
    assert!(one.nsec3_owners().eq(many.nsec3_owners()));
    assert_eq!(one.nodes().count(), many.nodes().count());
    let mut verified = 0;
    for ((name, a), (other, b)) in one.nodes().zip(many.nodes()) {
        assert_eq!(name, other);
        assert_eq!(a.kind, b.kind, "{name}");
        assert_eq!(a.rrsets.len(), b.rrsets.len(), "{name}");
        for (x, y) in a.rrsets.iter().zip(&b.rrsets) {
            let what = format!("{name} {}", x.rrset.rtype());
            assert_eq!(x.rrset, y.rrset, "{what}");
            assert_eq!(x.rrset.ttl(), y.rrset.ttl(), "{what}");
            assert_eq!(x.rrsigs.len(), y.rrsigs.len(), "{what}");
            for (s, t) in x.rrsigs.iter().zip(&y.rrsigs) {
                let (s, t) = (rrsig_of(s)?, rrsig_of(t)?);
                assert_eq!(s.input(), t.input(), "{what}: RRSIG fields");
                let key = keys
                    .iter()
                    .find(|k| k.key_tag() == t.input().key_tag)
                    .ok_or("an RRSIG by an unknown key")?;
                let dnskey: &DNSKEY = key.dnskey();
                verify_rrsig(&y.rrset, t, dnskey)?;
                verified += 1;
            }
        }
    }
    // More than one chunk of RRsets for each of two threads (threads.rs: 64 a chunk).
    assert!(verified > 2 * 64, "only {verified} RRSIGs");
    Ok(())
}

#[test]
fn ecdsa_p256_passes_equal_one_thread_but_for_the_signature_bytes() -> TestResult {
    let rng = SystemRandom::new();
    let der = SigningKey::generate(KeyAlgorithm::EcdsaP256Sha256, &rng)?;
    let keys = [SigningKey::from_pkcs8(&der, KeyRole::Csk, &rng)?];
    let zone_keys: Vec<ZoneKey<'_>> = keys.iter().map(ZoneKey::steady).collect();
    let content = zone(NAMES)?;
    let changes = changes(NAMES)?;
    for denial in denials() {
        let signing = ctx(T0, &zone_keys, &rng, denial);
        let one = sign_zone(&signing, &content, 10)?;
        let (changed, _) = apply_changes(&signing, &one, &changes, 11)?;
        let many = sign_zone(&on(2, &signing), &content, 10)?;
        same_but_signature_bytes(&one, &many, &keys)?;
        let (many_changed, _) = apply_changes(&on(2, &signing), &many, &changes, 11)?;
        same_but_signature_bytes(&changed, &many_changed, &keys)?;
    }
    Ok(())
}

#[test]
fn jitter_applies_on_every_thread() -> TestResult {
    // BIND's `signatures-jitter`, as `SignPolicy::jitter` documents: each RRset's expiration is
    // now + validity - r, r in [0, jitter), drawn on the calling thread for every RRset.
    let rng = SystemRandom::new();
    let keys = ed25519_keys()?;
    let zone_keys: Vec<ZoneKey<'_>> = keys.iter().map(ZoneKey::steady).collect();
    let policy = SignPolicy::default();
    let signing = SignCtx {
        policy,
        ..ctx(T0, &zone_keys, &rng, Denial::Nsec)
    };
    let signed = sign_zone(&on(2, &signing), &zone(NAMES)?, 10)?;
    let mut expirations = Vec::new();
    for record in signed
        .records()
        .filter(|r| r.record_type() == RecordType::RRSIG)
    {
        let expiration = rrsig_of(record)?.input().sig_expiration.get();
        let latest = T0 + policy.validity;
        assert!(expiration <= latest && expiration > latest - policy.jitter);
        expirations.push(expiration);
    }
    expirations.sort_unstable();
    expirations.dedup();
    assert!(
        expirations.len() > 100,
        "{} distinct expirations",
        expirations.len()
    );
    Ok(())
}

#[test]
fn a_bad_zone_is_the_same_error_on_every_thread_count() -> TestResult {
    // RFC 1034 §3.6.2: a CNAME "and no other data" at its name.
    let rng = SystemRandom::new();
    let keys = ed25519_keys()?;
    let zone_keys: Vec<ZoneKey<'_>> = keys.iter().map(ZoneKey::steady).collect();
    let mut content = zone(NAMES)?;
    content.insert(rrset("h1.example.", RecordType::CNAME, "h2.example.")?)?;
    for denial in denials() {
        let signing = ctx(T0, &zone_keys, &rng, denial);
        let one = sign_zone(&signing, &content, 10)
            .err()
            .map(|e| e.to_string());
        assert!(one.as_ref().is_some_and(|e| e.contains("CNAME")), "{one:?}");
        let many = sign_zone(&on(4, &signing), &content, 10);
        assert_eq!(many.err().map(|e| e.to_string()), one);
    }
    Ok(())
}
