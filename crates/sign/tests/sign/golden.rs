//! The signed output of a fixed zone, with fixed keys, a fixed time and a fixed RNG, does not
//! change when the signer's insides do (issue 10: a faster signer must sign the same zone).
//!
//! The digests below were captured from the signer of main at b36cc8b (before the streaming
//! signer of issue 10 item 4): SHA-256 over every record of `sign_zone`'s result in
//! `SignedZone::records` order, each in presentation form (owner, TTL, class, type, RDATA)
//! followed by a newline; the streamed pass (`sign_zone_streamed`) must hand out the same
//! records in the same order. ring's `FixedByteRandom` fills every draw with one byte, so the
//! jitter (RFC 4034 §3.1.5 expiration spread) is one fixed value and ECDSA P-256, whose nonce
//! ring derives from the key, the message and the RNG's bytes, signs deterministically too.
//! It cannot tell draws apart, so the order in which a pass draws is not covered here
//! (parallel.rs compares thread counts with jitter 0).

use std::num::NonZeroUsize;

use daned_sign::SignError;
use daned_sign::hickory_proto::rr::{Name, RData, Record, RecordType};
use daned_sign::keys::{KeyAlgorithm, KeyRole, SigningKey};
use daned_sign::nsec3::{Denial, Nsec3Params};
use daned_sign::sign::{SignCtx, SignPolicy, ZoneKey, sign_zone, sign_zone_streamed};
use daned_sign::zone::{Rrset, Zone};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z

#[allow(
    deprecated,
    reason = "ring's only deterministic SecureRandom lives in its deprecated test module"
)]
type FixedRandom = ring::test::rand::FixedByteRandom;

fn name(text: &str) -> Result<Name, SignError> {
    Name::from_ascii(text).map_err(|e| SignError::Key(e.to_string()))
}

fn rrset(owner: &str, rtype: RecordType, rdata: &str) -> Result<Rrset, Box<dyn std::error::Error>> {
    let rdata = RData::try_from_str(rtype, rdata)?;
    Ok(Rrset::new(&name(owner)?, rtype, 3600, [rdata])?)
}

/// A zone with what the signer treats differently: mixed-case owners, an empty non-terminal,
/// a wildcard, secure and insecure delegations with glue, occluded data, a multi-record RRset
/// and TLSA records.
fn zone() -> Result<Zone, Box<dyn std::error::Error>> {
    let mut zone = Zone::new(&name("Example.")?);
    let soa = "ns1.example. hostmaster.example. 1 7200 3600 1209600 300";
    zone.insert(rrset("example.", RecordType::SOA, soa)?)?;
    zone.insert(rrset("example.", RecordType::NS, "ns1.example.")?)?;
    zone.insert(rrset("example.", RecordType::MX, "10 mail.example.")?)?;
    zone.insert(rrset("ns1.example.", RecordType::A, "192.0.2.1")?)?;
    zone.insert(rrset("*.wild.example.", RecordType::TXT, "wild")?)?;
    let tlsa = "3 1 1 23b8c1e9392456de3eb13b9046685257bdd640fb06671ad11c80317fa3b1799d";
    for i in 0..150 {
        let address = format!("10.0.{}.{}", i / 250, i % 250);
        if i % 11 == 0 {
            let cut = format!("D{i}.example.");
            zone.insert(rrset(&cut, RecordType::NS, &format!("ns.{cut}"))?)?;
            if i % 22 == 0 {
                let ds =
                    "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118CFBA6A1C3A5A5DF3E6C0B8E4";
                zone.insert(rrset(&cut, RecordType::DS, ds)?)?;
            }
            zone.insert(rrset(&format!("ns.{cut}"), RecordType::A, &address)?)?;
            zone.insert(rrset(&format!("deep.x.{cut}"), RecordType::A, &address)?)?;
            continue;
        }
        let owner = if i % 5 == 0 {
            format!("a.E{i}.example.")
        } else {
            format!("host{i}.example.")
        };
        let a = RData::try_from_str(RecordType::A, &address)?;
        let b = RData::try_from_str(RecordType::A, "192.0.2.200")?;
        zone.insert(Rrset::new(&name(&owner)?, RecordType::A, 300, [a, b])?)?;
        if i % 3 == 0 {
            zone.insert(rrset(&owner, RecordType::TXT, &format!("name {i}"))?)?;
        }
        if i % 4 == 0 {
            zone.insert(rrset(&format!("_25._tcp.{owner}"), RecordType::TLSA, tlsa)?)?;
        }
    }
    Ok(zone)
}

/// A KSK and a ZSK of `algorithm`, fixed.
fn keys(algorithm: KeyAlgorithm, rng: &FixedRandom) -> Result<Vec<SigningKey>, SignError> {
    match algorithm {
        KeyAlgorithm::Ed25519 => Ok(vec![
            SigningKey::from_ed25519_seed(&[1; 32], KeyRole::Ksk)?,
            SigningKey::from_ed25519_seed(&[2; 32], KeyRole::Zsk)?,
        ]),
        _ => {
            let ksk = SigningKey::generate(algorithm, &FixedRandom { byte: 3 })?;
            let zsk = SigningKey::generate(algorithm, &FixedRandom { byte: 4 })?;
            Ok(vec![
                SigningKey::from_pkcs8(&ksk, KeyRole::Ksk, rng)?,
                SigningKey::from_pkcs8(&zsk, KeyRole::Zsk, rng)?,
            ])
        }
    }
}

fn ctx<'a>(
    keys: &'a [ZoneKey<'a>],
    rng: &'a FixedRandom,
    denial: Denial,
    threads: usize,
) -> SignCtx<'a> {
    SignCtx {
        now: T0,
        policy: SignPolicy::default(),
        keys,
        dnskey_ttl: 3600,
        rng,
        denial,
        threads: NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN),
    }
}

/// SHA-256 of the presentation form of `records`, one per line, in lowercase hex.
fn digest<'r>(
    records: impl Iterator<Item = &'r daned_sign::hickory_proto::rr::Record>,
) -> (usize, String) {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut count = 0;
    for record in records {
        ctx.update(record.to_string().as_bytes());
        ctx.update(b"\n");
        count += 1;
    }
    let hex = ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (count, hex)
}

fn check(algorithm: KeyAlgorithm, denial: Denial, expected: (usize, &str)) -> TestResult {
    let rng = FixedRandom { byte: 7 };
    let keys = keys(algorithm, &rng)?;
    let zone_keys: Vec<ZoneKey<'_>> = keys.iter().map(ZoneKey::steady).collect();
    let zone = zone()?;
    for threads in [1, 3] {
        let signed = sign_zone(&ctx(&zone_keys, &rng, denial, threads), &zone, 2026)?;
        let (count, hex) = digest(signed.records());
        assert_eq!(
            (count, hex.as_str()),
            expected,
            "{algorithm} {denial:?} on {threads} threads"
        );
        // The streamed pass hands out the same records in the same order.
        let mut streamed: Vec<Record> = Vec::new();
        sign_zone_streamed(
            &ctx(&zone_keys, &rng, denial, threads),
            &zone,
            2026,
            |_, node| node.records().cloned().collect::<Vec<Record>>(),
            |batch| {
                streamed.extend(batch.into_iter().flatten());
                Ok::<(), SignError>(())
            },
        )?;
        let (count, hex) = digest(streamed.iter());
        assert_eq!(
            (count, hex.as_str()),
            expected,
            "streamed, {algorithm} {denial:?} on {threads} threads"
        );
    }
    Ok(())
}

#[test]
fn rfc1034_s3_6_2_streamed_pass_refuses_what_sign_zone_refuses() -> TestResult {
    // RFC 1034 §3.6.2: "If a CNAME RR is present at a node, no other data should be present".
    let rng = FixedRandom { byte: 7 };
    let keys = keys(KeyAlgorithm::Ed25519, &rng)?;
    let zone_keys: Vec<ZoneKey<'_>> = keys.iter().map(ZoneKey::steady).collect();
    let mut zone = zone()?;
    zone.insert(rrset(
        "host7.example.",
        RecordType::CNAME,
        "host8.example.",
    )?)?;
    for denial in [Denial::Nsec, Denial::Nsec3(Nsec3Params::default())] {
        for threads in [1, 3] {
            let ctx = ctx(&zone_keys, &rng, denial, threads);
            let whole = sign_zone(&ctx, &zone, 2026).err().map(|e| e.to_string());
            let mut batches = 0;
            let streamed = sign_zone_streamed(
                &ctx,
                &zone,
                2026,
                |_, _| (),
                |_| {
                    batches += 1;
                    Ok::<(), SignError>(())
                },
            );
            assert!(
                whole.is_some(),
                "{denial:?}: sign_zone accepted a CNAME beside data"
            );
            assert_eq!(streamed.err().map(|e| e.to_string()), whole, "{denial:?}");
            assert_eq!(
                batches, 0,
                "{denial:?}: a batch was handed out before the error"
            );
        }
    }
    Ok(())
}

#[test]
fn rfc4035_s2_signed_nsec_zone_is_unchanged_ed25519() -> TestResult {
    check(
        KeyAlgorithm::Ed25519,
        Denial::Nsec,
        (
            1009,
            "7db4a3a2abc5d58c276f4f11c8c853f1e7cb8da80afeb46834e4c9b5af26a54d",
        ),
    )
}

#[test]
fn rfc4035_s2_signed_nsec_zone_is_unchanged_ecdsa_p256() -> TestResult {
    check(
        KeyAlgorithm::EcdsaP256Sha256,
        Denial::Nsec,
        (
            1009,
            "157cdfaf5bba3492a70499d69297ebae384e581da275f2edbc19572498b831a6",
        ),
    )
}

#[test]
fn rfc5155_s7_1_signed_nsec3_zone_is_unchanged_ed25519() -> TestResult {
    let denial = Denial::Nsec3(Nsec3Params::default());
    check(
        KeyAlgorithm::Ed25519,
        denial,
        (
            1135,
            "f7a705ef0b49b4fdef30c610c44d50cf683e90e67ea17494513effcb9bb66f22",
        ),
    )
}

#[test]
fn rfc5155_s7_1_signed_nsec3_zone_is_unchanged_ecdsa_p256() -> TestResult {
    let denial = Denial::Nsec3(Nsec3Params::default());
    check(
        KeyAlgorithm::EcdsaP256Sha256,
        denial,
        (
            1135,
            "1a09cc961d8d9e093c7f52f314c516c12414cc1357425ef95733e3e783c39dff",
        ),
    )
}
