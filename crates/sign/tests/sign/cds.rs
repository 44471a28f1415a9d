//! CDS and CDNSKEY at the apex (RFC 7344, RFC 8078) and signature jitter.

use std::net::Ipv4Addr;

use daned_sign::SignError;
use daned_sign::hickory_proto::dnssec::rdata::{CDNSKEY, CDS, DNSSECRData, NSEC, NSEC3, RRSIG};
use daned_sign::hickory_proto::dnssec::{DigestType, PublicKey};
use daned_sign::hickory_proto::rr::rdata::{A, NS, SOA, TXT};
use daned_sign::hickory_proto::rr::{Name, RData, Record, RecordType};
use daned_sign::keys::{KeyRole, SigningKey};
use daned_sign::nsec3::{Denial, Nsec3Params};
use daned_sign::rrsig::verify_rrsig;
use daned_sign::sign::{
    KeyUse, SignCtx, SignPolicy, ZoneKey, apply_changes, refresh_signatures, sign_zone,
};
use daned_sign::zone::{Rrset, RrsetChange, SignedZone, Zone};
use ring::rand::SystemRandom;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z
const DNSKEY_TTL: u32 = 1800;

fn name(text: &str) -> Name {
    // The tests only use valid names.
    Name::from_ascii(text).expect("test names are valid")
}

/// `example.` with SOA, NS, a few A records and `extra` more names.
fn zone(extra: usize) -> Result<Zone, Box<dyn std::error::Error>> {
    let origin = name("example.");
    let mut zone = Zone::new(&origin);
    let soa = SOA::new(
        name("ns1.example."),
        name("hostmaster.example."),
        1,
        7200,
        3600,
        1_209_600,
        300,
    );
    zone.insert(Rrset::new(
        &origin,
        RecordType::SOA,
        3600,
        [RData::SOA(soa)],
    )?)?;
    let ns = NS(name("ns1.example."));
    zone.insert(Rrset::new(&origin, RecordType::NS, 3600, [RData::NS(ns)])?)?;
    for (i, owner) in ["ns1", "mail", "www"].into_iter().enumerate() {
        let a = A(Ipv4Addr::new(192, 0, 2, u8::try_from(i + 1)?));
        zone.insert(Rrset::new(
            &name(&format!("{owner}.example.")),
            RecordType::A,
            3600,
            [RData::A(a)],
        )?)?;
    }
    for i in 0..extra {
        let a = A(Ipv4Addr::new(
            198,
            51,
            u8::try_from(i / 256)?,
            u8::try_from(i % 256)?,
        ));
        zone.insert(Rrset::new(
            &name(&format!("h{i}.example.")),
            RecordType::A,
            300,
            [RData::A(a)],
        )?)?;
    }
    Ok(zone)
}

/// KSK, ZSK and a successor KSK (Ed25519 from fixed seeds).
fn keys() -> Result<[SigningKey; 3], SignError> {
    Ok([
        SigningKey::from_ed25519_seed(&[1; 32], KeyRole::Ksk)?,
        SigningKey::from_ed25519_seed(&[2; 32], KeyRole::Zsk)?,
        SigningKey::from_ed25519_seed(&[3; 32], KeyRole::Ksk)?,
    ])
}

/// A double-DS roll's key use: the old KSK and the ready successor both in CDS (when `cds`),
/// both signing the key RRsets; the successor only when `successor`.
fn roll<'a>(keys: &'a [SigningKey; 3], successor: bool, cds: bool) -> Vec<ZoneKey<'a>> {
    let ksk = KeyUse {
        cds,
        ..KeyUse::steady(KeyRole::Ksk)
    };
    let mut out = vec![
        ZoneKey {
            key: &keys[0],
            usage: ksk,
        },
        ZoneKey::steady(&keys[1]),
    ];
    if successor {
        out.push(ZoneKey {
            key: &keys[2],
            usage: ksk,
        });
    }
    out
}

fn ctx<'a>(
    now: u32,
    keys: &'a [ZoneKey<'a>],
    rng: &'a SystemRandom,
    denial: Denial,
    jitter: u32,
) -> SignCtx<'a> {
    SignCtx {
        now,
        policy: SignPolicy {
            jitter,
            ..SignPolicy::default()
        },
        keys,
        dnskey_ttl: DNSKEY_TTL,
        rng,
        denial,
        threads: std::num::NonZeroUsize::MIN,
    }
}

fn rrsig(record: &Record) -> Result<&RRSIG, String> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Ok(sig),
        other => Err(format!("not an RRSIG: {other:?}")),
    }
}

/// The types in the apex NSEC, or in the apex's NSEC3 for an NSEC3 zone.
fn apex_bitmap(zone: &SignedZone) -> Result<Vec<RecordType>, Box<dyn std::error::Error>> {
    let origin = name("example.");
    if let Some(params) = zone.nsec3_params() {
        let owner = params.hashed_owner(&origin, &origin)?;
        let node = zone.node(&owner).ok_or("no apex NSEC3")?;
        let set = node.get(RecordType::NSEC3).ok_or("no NSEC3")?;
        let nsec3: &NSEC3 = match &set.rrset.records()[0].data {
            RData::DNSSEC(DNSSECRData::NSEC3(n)) => n,
            _ => return Err("bad NSEC3".into()),
        };
        return Ok(nsec3.type_bit_maps().collect());
    }
    let apex = zone.node(&origin).ok_or("no apex")?;
    let set = apex.get(RecordType::NSEC).ok_or("no NSEC")?;
    let nsec: &NSEC = match &set.rrset.records()[0].data {
        RData::DNSSEC(DNSSECRData::NSEC(n)) => n,
        _ => return Err("bad NSEC".into()),
    };
    Ok(nsec.type_bit_maps().collect())
}

/// Checks the apex CDS and CDNSKEY RRsets name exactly `cds_keys` and are signed by exactly
/// `signers` (and that the bitmap lists them); with `cds_keys` empty, that they are absent.
fn check_apex(zone: &SignedZone, cds_keys: &[&SigningKey], signers: &[&SigningKey]) -> TestResult {
    let origin = name("example.");
    let apex = zone.node(&origin).ok_or("no apex")?;
    let bitmap = apex_bitmap(zone)?;
    if cds_keys.is_empty() {
        assert!(apex.get(RecordType::CDS).is_none());
        assert!(apex.get(RecordType::CDNSKEY).is_none());
        assert!(!bitmap.contains(&RecordType::CDS) && !bitmap.contains(&RecordType::CDNSKEY));
        return Ok(());
    }
    // RFC 4034 §4.1.2 / RFC 5155 §3.2.1: the bitmap lists the types present at the name.
    assert!(bitmap.contains(&RecordType::CDS), "{bitmap:?}");
    assert!(bitmap.contains(&RecordType::CDNSKEY), "{bitmap:?}");
    let cds = apex.get(RecordType::CDS).ok_or("no CDS")?;
    let cdnskey = apex.get(RecordType::CDNSKEY).ok_or("no CDNSKEY")?;
    for set in [cds, cdnskey] {
        assert_eq!(set.rrset.ttl(), DNSKEY_TTL);
        assert_eq!(set.rrset.records().len(), cds_keys.len());
        // RFC 7344 §4.1: "the CDS/CDNSKEY RRset MUST be signed with a key that is represented
        // in both the current DNSKEY and DS RRsets": the keys that sign the DNSKEY RRset.
        let mut tags: Vec<u16> = set
            .rrsigs
            .iter()
            .map(|r| rrsig(r).map(|s| s.input().key_tag))
            .collect::<Result<_, _>>()?;
        tags.sort_unstable();
        let mut want: Vec<u16> = signers.iter().map(|k| k.key_tag()).collect();
        want.sort_unstable();
        assert_eq!(tags, want, "{} signers", set.rrset.rtype());
        for record in &set.rrsigs {
            let sig = rrsig(record)?;
            let key = signers
                .iter()
                .find(|k| k.key_tag() == sig.input().key_tag)
                .ok_or("unknown signer")?;
            verify_rrsig(&set.rrset, sig, key.dnskey())?;
        }
    }
    for key in cds_keys {
        // RFC 7344 §3.1 and RFC 8624 §3.3: the CDS is the DS the parent should publish,
        // digest SHA-256 (the mandatory one).
        let ds = key.ds(&origin, DigestType::SHA256)?;
        let want = CDS::new(
            ds.key_tag(),
            Some(ds.algorithm()),
            DigestType::SHA256,
            ds.digest().to_vec(),
        );
        assert!(
            cds.rrset
                .rdatas()
                .any(|r| r == &RData::DNSSEC(DNSSECRData::CDS(want.clone()))),
            "CDS for {}",
            key.key_tag()
        );
        // RFC 7344 §3.2: the CDNSKEY is the DNSKEY (flags, algorithm, key).
        let dnskey = key.dnskey();
        let want = CDNSKEY::with_flags(
            dnskey.flags(),
            Some(dnskey.public_key().algorithm()),
            dnskey.public_key().public_bytes().to_vec(),
        );
        assert!(
            cdnskey
                .rrset
                .rdatas()
                .any(|r| r == &RData::DNSSEC(DNSSECRData::CDNSKEY(want.clone()))),
            "CDNSKEY for {}",
            key.key_tag()
        );
    }
    Ok(())
}

fn denials() -> [Denial; 2] {
    [Denial::Nsec, Denial::Nsec3(Nsec3Params::default())]
}

#[test]
fn rfc7344_s4_cds_and_cdnskey_published_for_the_cds_keys() -> TestResult {
    let rng = SystemRandom::new();
    let k = keys()?;
    for denial in denials() {
        let both = roll(&k, true, true);
        let signed = sign_zone(&ctx(T0, &both, &rng, denial, 0), &zone(0)?, 1)?;
        check_apex(&signed, &[&k[0], &k[2]], &[&k[0], &k[2]])?;
        // Only the key with `cds` is named; both KSKs still sign.
        let mut one = roll(&k, true, false);
        one[2].usage.cds = true;
        let signed = sign_zone(&ctx(T0, &one, &rng, denial, 0), &zone(0)?, 1)?;
        check_apex(&signed, &[&k[2]], &[&k[0], &k[2]])?;
        // No key with `cds`: no CDS or CDNSKEY.
        let none = roll(&k, false, false);
        let signed = sign_zone(&ctx(T0, &none, &rng, denial, 0), &zone(0)?, 1)?;
        check_apex(&signed, &[], &[])?;
    }
    Ok(())
}

#[test]
fn rfc7344_s4_signer_owns_the_apex_cds() -> TestResult {
    let rng = SystemRandom::new();
    let k = keys()?;
    let origin = name("example.");
    // A stale CDS in the content is replaced by the keys' own (here: none).
    let mut content = zone(0)?;
    let stale = CDS::new(1, None, DigestType::SHA256, vec![0]);
    content.insert(Rrset::new(
        &origin,
        RecordType::CDS,
        60,
        [RData::DNSSEC(DNSSECRData::CDS(stale))],
    )?)?;
    let none = roll(&k, false, false);
    let c = ctx(T0, &none, &rng, Denial::Nsec, 0);
    let signed = sign_zone(&c, &content, 1)?;
    check_apex(&signed, &[], &[])?;
    // A change of the apex CDS is refused: the signer makes it.
    let change = RrsetChange::remove(origin, RecordType::CDS);
    assert!(matches!(
        apply_changes(&c, &signed, &[change], 2),
        Err(SignError::SignerOwnedType { .. })
    ));
    Ok(())
}

#[test]
fn rfc7344_s4_refresh_and_changes_follow_the_cds_set() -> TestResult {
    let rng = SystemRandom::new();
    let k = keys()?;
    let www = name("www.example.");
    for denial in denials() {
        // Steady state, no CDS.
        let steady = roll(&k, false, false);
        let v1 = sign_zone(&ctx(T0, &steady, &rng, denial, 0), &zone(5)?, 1)?;
        check_apex(&v1, &[], &[])?;

        // A lifecycle step: the successor KSK is published and ready, CDS names both. The
        // server applies it with refresh_signatures.
        let rolling = roll(&k, true, true);
        let c2 = ctx(T0 + 60, &rolling, &rng, denial, 0);
        let (v2, _) = refresh_signatures(&c2, &v1, 2)?.ok_or("refresh saw no change")?;
        check_apex(&v2, &[&k[0], &k[2]], &[&k[0], &k[2]])?;
        // The ZSK's signatures elsewhere are kept: their signer set did not change.
        let www_sigs = |z: &SignedZone| {
            z.node(&www)
                .and_then(|n| n.get(RecordType::A))
                .map(|s| s.rrsigs.clone())
        };
        assert_eq!(www_sigs(&v2), www_sigs(&v1));
        // The result is the zone a full signing makes (up to signatures).
        let full = sign_zone(&c2, &zone(5)?, 2)?;
        assert_eq!(unsigned(&v2), unsigned(&full));
        // Nothing more to do at the same step.
        assert!(refresh_signatures(&c2, &v2, 3)?.is_none());

        // A content change keeps the CDS and CDNSKEY.
        let txt = Rrset::new(
            &www,
            RecordType::TXT,
            300,
            [RData::TXT(TXT::new(vec!["hello".into()]))],
        )?;
        let (v3, _) = apply_changes(&c2, &v2, &[RrsetChange::put(txt)], 3)?;
        check_apex(&v3, &[&k[0], &k[2]], &[&k[0], &k[2]])?;

        // The roll ends: the old KSK leaves, CDS gone (CdsPolicy::Rollover).
        let done = vec![ZoneKey::steady(&k[1]), ZoneKey::steady(&k[2])];
        let c4 = ctx(T0 + 120, &done, &rng, denial, 0);
        let (v4, _) = refresh_signatures(&c4, &v3, 4)?.ok_or("refresh saw no change")?;
        check_apex(&v4, &[], &[])?;
        let apex = v4.node(&name("example.")).ok_or("apex")?;
        let dnskey = apex.get(RecordType::DNSKEY).ok_or("DNSKEY")?;
        let tags: Vec<u16> = dnskey
            .rrsigs
            .iter()
            .map(|r| rrsig(r).map(|s| s.input().key_tag))
            .collect::<Result<_, _>>()?;
        assert_eq!(tags, vec![k[2].key_tag()]);
        let mut content = zone(5)?;
        content.insert(
            v3.node(&www)
                .and_then(|n| n.get(RecordType::TXT))
                .ok_or("TXT")?
                .rrset
                .clone(),
        )?;
        assert_eq!(unsigned(&v4), unsigned(&sign_zone(&c4, &content, 4)?));
    }
    Ok(())
}

/// Every record of `zone` but the RRSIGs, as text.
fn unsigned(zone: &SignedZone) -> Vec<String> {
    let mut out: Vec<String> = zone
        .records()
        .filter(|r| r.record_type() != RecordType::RRSIG)
        .map(|r| r.to_string())
        .collect();
    out.sort();
    out
}

fn expirations(zone: &SignedZone) -> Result<Vec<(String, Vec<u32>)>, String> {
    let mut out = Vec::new();
    for (owner, node) in zone.nodes() {
        for set in &node.rrsets {
            let exps: Vec<u32> = set
                .rrsigs
                .iter()
                .map(|r| rrsig(r).map(|s| s.input().sig_expiration.get()))
                .collect::<Result<_, _>>()?;
            if !exps.is_empty() {
                out.push((format!("{owner} {}", set.rrset.rtype()), exps));
            }
        }
    }
    Ok(out)
}

#[test]
fn jitter_spreads_expirations_within_bounds() -> TestResult {
    // Jitter (BIND's `signatures-jitter`): expirations are spread so that signatures made
    // together do not all expire, and get renewed, together.
    let rng = SystemRandom::new();
    let k = keys()?;
    let steady = roll(&k, false, false);
    let jitter = 43_200;
    let c = ctx(T0, &steady, &rng, Denial::Nsec, jitter);
    let policy = c.policy;
    let signed = sign_zone(&c, &zone(300)?, 1)?;
    let exps = expirations(&signed)?;
    assert!(exps.len() > 600, "{}", exps.len());
    let mut distinct: Vec<u32> = Vec::new();
    for (what, e) in &exps {
        // One expiration per RRset, shared by all its signatures.
        assert!(e.iter().all(|x| *x == e[0]), "{what}: {e:?}");
        let x = e[0];
        assert!(
            x <= T0 + policy.validity && x > T0 + policy.validity - jitter,
            "{what}: {x}"
        );
        distinct.push(x);
    }
    distinct.sort_unstable();
    distinct.dedup();
    // 600+ draws from 43200 values: almost all distinct (a constant would give 1).
    assert!(
        distinct.len() > exps.len() * 9 / 10,
        "{} distinct",
        distinct.len()
    );
    let spread = distinct.last().copied().unwrap_or(0) - distinct.first().copied().unwrap_or(0);
    assert!(spread > jitter / 2, "spread {spread}");

    // Nothing is due before the earliest expiration comes within `refresh`.
    let quiet = T0 + policy.validity - jitter - policy.refresh;
    assert!(
        refresh_signatures(&ctx(quiet, &steady, &rng, Denial::Nsec, jitter), &signed, 2)?.is_none()
    );
    // Half-way through the jitter window, exactly the RRsets expiring within `refresh` are
    // renewed, and afterwards none expires within `refresh`.
    let mid = quiet + jitter / 2;
    let c2 = ctx(mid, &steady, &rng, Denial::Nsec, jitter);
    let (renewed, _) = refresh_signatures(&c2, &signed, 2)?.ok_or("nothing due")?;
    let before: std::collections::BTreeMap<String, u32> =
        exps.iter().map(|(w, e)| (w.clone(), e[0])).collect();
    let mut kept = 0;
    for (what, e) in expirations(&renewed)? {
        assert!(e[0] >= mid + policy.refresh, "{what}");
        let old = before.get(&what).copied().ok_or("new RRset")?;
        // The SOA is always signed again (new serial).
        if old >= mid + policy.refresh && !what.ends_with(" SOA") {
            assert_eq!(e[0], old, "{what} was not due");
            kept += 1;
        } else {
            assert!(e[0] > mid + policy.validity - jitter, "{what} renewed");
        }
    }
    assert!(
        kept > 100 && kept < exps.len() - 100,
        "kept {kept} of {}",
        exps.len()
    );
    Ok(())
}

#[test]
fn jitter_at_or_above_validity_minus_refresh_is_clamped() -> TestResult {
    let rng = SystemRandom::new();
    let k = keys()?;
    let steady = roll(&k, false, false);
    let c = ctx(T0, &steady, &rng, Denial::Nsec, u32::MAX);
    let signed = sign_zone(&c, &zone(50)?, 1)?;
    for (what, e) in expirations(&signed)? {
        assert!(
            e[0] > T0 + c.policy.refresh,
            "{what}: a fresh signature would be due"
        );
    }
    // So the very next refresh finds nothing due.
    assert!(
        refresh_signatures(
            &ctx(T0 + 1, &steady, &rng, Denial::Nsec, u32::MAX),
            &signed,
            2
        )?
        .is_none()
    );
    Ok(())
}

/// Runs `tool args... file` on the dump of `zone`; `None` when the tool is missing.
fn run_tool(
    zone: &SignedZone,
    tool: &str,
    args: &[&str],
) -> Result<Option<std::process::Output>, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("example.zone");
    let text: String = zone.records().map(|r| format!("{r}\n")).collect();
    std::fs::write(&path, text)?;
    match std::process::Command::new(tool)
        .args(args)
        .arg(&path)
        .output()
    {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var("DANED_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "{tool} is not installed and DANED_REQUIRE_TOOLS=1"
            );
            eprintln!(
                "\n********** SKIPPING: {tool} is not installed; this check did not run **********\n"
            );
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

#[test]
// The validators check signature times against their own clock: sign at wall-clock time.
#[ignore = "needs ldns-verify-zone, dnssec-verify, kzonecheck"]
fn external_validators_accept_a_zone_with_cds() -> TestResult {
    let rng = SystemRandom::new();
    let now = u32::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    )?;
    let k = keys()?;
    let both = roll(&k, true, true);
    for denial in denials() {
        let signed = sign_zone(&ctx(now, &both, &rng, denial, 43_200), &zone(5)?, 1)?;
        let tools: [(&str, &[&str]); 3] = [
            ("ldns-verify-zone", &[]),
            ("dnssec-verify", &["-o", "example."]),
            ("kzonecheck", &["-o", "example.", "-d", "on"]),
        ];
        for (tool, args) in tools {
            if let Some(out) = run_tool(&signed, tool, args)? {
                assert!(
                    out.status.success(),
                    "{tool} ({denial:?}): {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    Ok(())
}
