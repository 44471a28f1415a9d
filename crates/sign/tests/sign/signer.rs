//! Zone signer tests: full signing, the NSEC chain, incremental changes, signature refresh and
//! structural checks (RFC 4034, RFC 4035, RFC 1034, RFC 2181, RFC 9077).
//!
//! Zones are written as small master-file-like texts (`owner ttl TYPE rdata`, owners relative
//! to `example.`, `@` for the apex) and every check is driven by tables.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use daned_sign::SignError;
use daned_sign::hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, NSEC3, RRSIG};
use daned_sign::hickory_proto::rr::{Name, RData, Record, RecordType};
use daned_sign::keys::{KeyAlgorithm, KeyRole, SigningKey};
use daned_sign::nsec3::{Denial, Nsec3Params};
use daned_sign::rrsig::verify_rrsig;
use daned_sign::sign::{
    SignCtx, SignPolicy, ZoneKey, apply_changes, refresh_signatures, sign_zone,
};
use daned_sign::validate::{validate_delta, validate_sample};
use daned_sign::zone::{NodeKind, Rrset, SignedZone, Zone, ZoneDelta};
use ring::rand::SystemRandom;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z
const DAY: u32 = 86_400;
const DS_DIGEST: &str = "2BB183AF5F22588179A53B0A98631FAD1A292118CFBA6A1C3A5A5DF3E6C0B8E4";

/// The base zone: apex data, an ENT (`b`), a wildcard under an ENT (`*.w`), a CNAME, a TLSA
/// under two ENTs, a secure delegation with glue and occluded data, an insecure delegation.
const BASE: &str = "
@ 3600 SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300
@ 3600 NS ns1.example.
@ 3600 NS ns2.example.
@ 3600 MX 10 mail.example.
ns1 3600 A 192.0.2.1
ns2 3600 A 192.0.2.2
mail 3600 A 192.0.2.3
_443._tcp.mail 3600 TLSA 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6
a.b 3600 A 192.0.2.4
*.w 3600 TXT wild
www 3600 CNAME mail.example.
sub 3600 NS ns.sub.example.
sub 3600 DS 12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118CFBA6A1C3A5A5DF3E6C0B8E4
ns.sub 3600 A 192.0.2.5
deep.ns.sub 3600 A 192.0.2.6
insecure 3600 NS ns1.example.
";

fn origin() -> Name {
    name("@")
}

/// `rel` relative to `example.` (`@` is the apex).
fn name(rel: &str) -> Name {
    let text = if rel == "@" {
        "example.".to_owned()
    } else {
        format!("{rel}.example.")
    };
    // The test tables only hold valid names.
    Name::from_ascii(text).expect("test names are valid")
}

/// Parses a zone text (see the module docs) into a [`Zone`]. Lines with the same owner and type
/// form one RRset.
fn zone(text: &str) -> Result<Zone, Box<dyn std::error::Error>> {
    let mut sets: BTreeMap<(Name, u16), (u32, Vec<RData>)> = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(4, ' ');
        let (Some(owner), Some(ttl), Some(rtype), Some(rdata)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("bad test line {line:?}").into());
        };
        let rtype: RecordType = rtype.parse()?;
        let rdata = RData::try_from_str(rtype, rdata)?;
        let entry = sets
            .entry((name(owner), u16::from(rtype)))
            .or_insert((ttl.parse()?, Vec::new()));
        entry.1.push(rdata);
    }
    let mut zone = Zone::new(&origin());
    for ((owner, code), (ttl, rdatas)) in sets {
        zone.insert(Rrset::new(&owner, RecordType::from(code), ttl, rdatas)?)?;
    }
    Ok(zone)
}

/// `BASE` without the lines that start with one of `drop`, plus `add`.
fn edited(drop: &[&str], add: &[&str]) -> String {
    let mut out: Vec<&str> = BASE
        .lines()
        .filter(|l| !drop.iter().any(|d| l.starts_with(d)))
        .collect();
    out.extend(add);
    out.join("\n")
}

/// A KSK and a ZSK, Ed25519 from fixed seeds (deterministic).
fn ksk_zsk() -> Result<Vec<SigningKey>, SignError> {
    Ok(vec![
        SigningKey::from_ed25519_seed(&[1; 32], KeyRole::Ksk)?,
        SigningKey::from_ed25519_seed(&[2; 32], KeyRole::Zsk)?,
    ])
}

/// One ECDSA P-256 CSK, freshly generated.
fn p256_csk(rng: &SystemRandom) -> Result<Vec<SigningKey>, SignError> {
    let der = SigningKey::generate(KeyAlgorithm::EcdsaP256Sha256, rng)?;
    Ok(vec![SigningKey::from_pkcs8(&der, KeyRole::Csk, rng)?])
}

fn ctx<'a>(now: u32, keys: &'a [SigningKey], rng: &'a SystemRandom) -> SignCtx<'a> {
    ctx_with(now, keys, rng, Denial::Nsec)
}

/// NSEC3 with the RFC 9276 parameters.
fn nsec3() -> Denial {
    Denial::Nsec3(Nsec3Params::default())
}

fn ctx_with<'a>(
    now: u32,
    keys: &'a [SigningKey],
    rng: &'a SystemRandom,
    denial: Denial,
) -> SignCtx<'a> {
    // Each test builds a handful of contexts: leaking their small key lists keeps the helper's
    // signature (borrowed keys in, context out) without a holder type.
    let keys: &'a [ZoneKey<'a>] = Vec::leak(keys.iter().map(ZoneKey::steady).collect());
    SignCtx {
        now,
        // No jitter: these tests check exact signature times (cds.rs checks jitter).
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

fn rrsig_of(record: &Record) -> Result<&RRSIG, String> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Ok(sig),
        other => Err(format!("not an RRSIG: {other}")),
    }
}

fn dnskeys(zone: &SignedZone) -> Result<Vec<DNSKEY>, String> {
    let apex = zone.node(zone.origin()).ok_or("no apex")?;
    let set = apex.get(RecordType::DNSKEY).ok_or("no DNSKEY RRset")?;
    set.rrset
        .rdatas()
        .map(|r| match r {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Ok(k.clone()),
            other => Err(format!("not a DNSKEY: {other}")),
        })
        .collect()
}

/// Whether RRsets of `rtype` at a node of `kind` must be signed (RFC 4035 §2.2).
fn must_be_signed(kind: NodeKind, rtype: RecordType) -> bool {
    match kind {
        NodeKind::Authoritative => true,
        NodeKind::Delegation => matches!(rtype, RecordType::DS | RecordType::NSEC),
        NodeKind::Nsec3 => rtype == RecordType::NSEC3,
        _ => false,
    }
}

/// The key tags that must sign `rtype`: KSK and CSK for DNSKEY, ZSK and CSK otherwise.
fn expected_signers(keys: &[SigningKey], rtype: RecordType) -> Vec<u16> {
    let mut tags: Vec<u16> = keys
        .iter()
        .filter(|k| match k.role() {
            KeyRole::Csk => true,
            KeyRole::Ksk => rtype == RecordType::DNSKEY,
            _ => rtype != RecordType::DNSKEY,
        })
        .map(SigningKey::key_tag)
        .collect();
    tags.sort_unstable();
    tags
}

/// Checks every RRSIG of `zone`: it verifies against the apex DNSKEY RRset, has the right
/// fields, comes from exactly the keys that must sign the RRset, and sits only on RRsets that
/// must be signed.
fn check_signatures(zone: &SignedZone, keys: &[SigningKey]) -> TestResult {
    let dnskeys = dnskeys(zone)?;
    for (owner, node) in zone.nodes() {
        for set in &node.rrsets {
            let rtype = set.rrset.rtype();
            let what = format!("{owner} {rtype} ({:?})", node.kind);
            if !must_be_signed(node.kind, rtype) {
                assert!(set.rrsigs.is_empty(), "{what} must not be signed");
                continue;
            }
            let mut tags = Vec::new();
            for record in &set.rrsigs {
                let sig = rrsig_of(record)?;
                let input = sig.input();
                let key = dnskeys
                    .iter()
                    .find(|k| daned_sign::keys::key_tag(k).ok() == Some(input.key_tag))
                    .ok_or_else(|| format!("{what}: no DNSKEY {}", input.key_tag))?;
                verify_rrsig(&set.rrset, sig, key).map_err(|e| format!("{what}: {e}"))?;
                // RFC 4034 §3.1.3: "The Labels field ... does not count the root label or a
                // leading wildcard label".
                let labels = owner
                    .to_ascii()
                    .trim_end_matches('.')
                    .split('.')
                    .enumerate()
                    .filter(|(i, l)| !(*i == 0 && *l == "*"))
                    .count();
                assert_eq!(usize::from(input.num_labels), labels, "{what} Labels");
                // RFC 4034 §3.1.4: "The Original TTL field specifies the TTL of the covered
                // RRset as it appears in the authoritative zone."
                assert_eq!(input.original_ttl, set.rrset.ttl(), "{what} Original TTL");
                assert_eq!(record.ttl, set.rrset.ttl(), "{what} RRSIG TTL");
                assert_eq!(&record.name, owner, "{what} RRSIG owner");
                assert_eq!(&input.signer_name, zone.origin(), "{what} Signer's Name");
                tags.push(input.key_tag);
            }
            tags.sort_unstable();
            assert_eq!(tags, expected_signers(keys, rtype), "{what} signed by");
        }
    }
    Ok(())
}

/// What a signed zone holds apart from signatures: names, kinds and RRsets.
fn structure(zone: &SignedZone) -> Vec<(Name, NodeKind, Vec<Rrset>)> {
    zone.nodes()
        .map(|(n, node)| {
            let sets = node.rrsets.iter().map(|s| s.rrset.clone()).collect();
            (n.clone(), node.kind, sets)
        })
        .collect()
}

/// A record as text with its TTL (hickory's `Record` equality ignores the TTL).
fn key(record: &Record) -> String {
    record.to_string()
}

fn record_set(zone: &SignedZone) -> Vec<String> {
    let mut all: Vec<String> = zone.records().map(key).collect();
    all.sort();
    all
}

/// RFC 1995 §4: the delta between two versions is the records of the old one that are not in
/// the new one, then those of the new one not in the old one, each list led by its SOA.
fn check_delta(old: &SignedZone, new: &SignedZone, delta: &ZoneDelta) -> TestResult {
    let (before, after) = (record_set(old), record_set(new));
    let mut removed: Vec<String> = before
        .iter()
        .filter(|r| after.binary_search(r).is_err())
        .cloned()
        .collect();
    let mut added: Vec<String> = after
        .iter()
        .filter(|r| before.binary_search(r).is_err())
        .cloned()
        .collect();
    removed.sort();
    added.sort();
    let mut got_removed: Vec<String> = delta.removed.iter().map(key).collect();
    let mut got_added: Vec<String> = delta.added.iter().map(key).collect();
    got_removed.sort();
    got_added.sort();
    assert_eq!(got_removed, removed, "removed records");
    assert_eq!(got_added, added, "added records");
    assert_eq!(delta.from_serial, old.serial());
    assert_eq!(delta.to_serial, new.serial());
    if old.serial() != new.serial() {
        let first = |v: &[Record]| v.first().map(Record::record_type);
        assert_eq!(
            first(&delta.removed),
            Some(RecordType::SOA),
            "old SOA first"
        );
        assert_eq!(first(&delta.added), Some(RecordType::SOA), "new SOA first");
    }
    Ok(())
}

fn inception(record: &Record) -> Result<u32, String> {
    Ok(rrsig_of(record)?.input().sig_inception.get())
}

fn expiration(record: &Record) -> Result<u32, String> {
    Ok(rrsig_of(record)?.input().sig_expiration.get())
}

#[test]
fn rfc4035_s2_2_every_rrset_signed_and_verifies() -> TestResult {
    // RFC 4035 §2.2: "every authoritative RRset in the zone MUST be signed using each private
    // key of the DNSKEY RRset ... The NS RRset that appears at a delegation point ... MUST NOT
    // be signed. Glue address RRsets associated with delegations MUST NOT be signed."
    let rng = SystemRandom::new();
    for keys in [ksk_zsk()?, p256_csk(&rng)?] {
        let signed = sign_zone(&ctx(T0, &keys, &rng), &zone(BASE)?, 7)?;
        check_signatures(&signed, &keys)?;
        assert_eq!(signed.serial(), 7);
        for record in signed.records() {
            if let Ok(sig) = rrsig_of(record) {
                // RFC 4034 §3.1.5: inception and expiration; ours back-dated by the policy.
                assert_eq!(sig.input().sig_inception.get(), T0 - 3600);
                assert_eq!(sig.input().sig_expiration.get(), T0 + 14 * DAY);
            }
        }
        let sub = signed.node(&name("sub")).ok_or("no sub")?;
        assert_eq!(sub.kind, NodeKind::Delegation);
        assert!(sub.get(RecordType::NS).ok_or("NS")?.rrsigs.is_empty());
        assert!(!sub.get(RecordType::DS).ok_or("DS")?.rrsigs.is_empty());
        let glue = signed.node(&name("ns.sub")).ok_or("no glue")?;
        assert_eq!(glue.kind, NodeKind::Occluded);
        assert!(glue.rrsets.iter().all(|s| s.rrsigs.is_empty()));
        assert_eq!(signed.earliest_expiration(), Some(T0 + 14 * DAY));
    }
    Ok(())
}

#[test]
fn rfc4035_s2_1_dnskey_rrset_at_apex_from_the_keys() -> TestResult {
    // RFC 4035 §2.1: "the zone apex DNSKEY RRset ... MUST be signed"; the DNSKEY RRset holds
    // each key once, with the configured TTL, and the KSK signs it.
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let signed = sign_zone(&ctx(T0, &keys, &rng), &zone(BASE)?, 1)?;
    let apex = signed.node(&origin()).ok_or("apex")?;
    let set = apex.get(RecordType::DNSKEY).ok_or("DNSKEY")?;
    assert_eq!(set.rrset.ttl(), 3600);
    let mut published: Vec<u16> = dnskeys(&signed)?
        .iter()
        .map(daned_sign::keys::key_tag)
        .collect::<Result<_, _>>()?;
    published.sort_unstable();
    let mut tags: Vec<u16> = keys.iter().map(SigningKey::key_tag).collect();
    tags.sort_unstable();
    assert_eq!(published, tags);
    let signed_by: Vec<u16> = set
        .rrsigs
        .iter()
        .map(|r| rrsig_of(r).map(|s| s.input().key_tag))
        .collect::<Result<_, _>>()?;
    assert_eq!(signed_by, [keys[0].key_tag()]);
    Ok(())
}

#[test]
fn rfc4035_s2_3_nsec_chain_closed_in_canonical_order() -> TestResult {
    // RFC 4035 §2.3: "The NSEC records MUST form a chain, in canonical order (RFC 4034 §6.1),
    // ... The last NSEC record ... points back to the zone apex" and each bitmap lists the
    // types present plus NSEC and RRSIG. Empty non-terminals (b, w, _tcp.mail), glue and
    // occluded names (ns.sub, deep.ns.sub) have no NSEC; the wildcard owner is in the chain.
    use RecordType::{A, CNAME, DNSKEY, DS, MX, NS, NSEC, RRSIG, SOA, TLSA, TXT};
    let expected: &[(&str, &[RecordType])] = &[
        ("@", &[NS, SOA, MX, RRSIG, NSEC, DNSKEY]),
        ("a.b", &[A, RRSIG, NSEC]),
        ("insecure", &[NS, RRSIG, NSEC]),
        ("mail", &[A, RRSIG, NSEC]),
        ("_443._tcp.mail", &[TLSA, RRSIG, NSEC]),
        ("ns1", &[A, RRSIG, NSEC]),
        ("ns2", &[A, RRSIG, NSEC]),
        ("sub", &[NS, DS, RRSIG, NSEC]),
        ("*.w", &[TXT, RRSIG, NSEC]),
        ("www", &[CNAME, RRSIG, NSEC]),
    ];
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let signed = sign_zone(&ctx(T0, &keys, &rng), &zone(BASE)?, 1)?;
    let chain: Vec<(Name, Name, Vec<RecordType>, u32)> = signed
        .nodes()
        .filter_map(|(owner, node)| {
            let set = node.get(NSEC)?;
            match set.rrset.rdatas().next() {
                Some(RData::DNSSEC(DNSSECRData::NSEC(nsec))) => Some((
                    owner.clone(),
                    nsec.next_domain_name().clone(),
                    nsec.type_bit_maps().collect(),
                    set.rrset.ttl(),
                )),
                _ => None,
            }
        })
        .collect();
    assert_eq!(chain.len(), expected.len(), "{chain:?}");
    for (i, ((owner, types), got)) in expected.iter().zip(&chain).enumerate() {
        assert_eq!(got.0, name(owner), "NSEC owner {i}");
        let next = expected.get(i + 1).map_or("@", |e| e.0);
        assert_eq!(got.1, name(next), "next name of {owner}");
        let mut want: Vec<u16> = types.iter().map(|t| u16::from(*t)).collect();
        let mut have: Vec<u16> = got.2.iter().map(|t| u16::from(*t)).collect();
        want.sort_unstable();
        have.sort_unstable();
        assert_eq!(have, want, "bitmap of {owner}");
        // RFC 9077 §3.3: min(SOA MINIMUM 300, SOA TTL 3600).
        assert_eq!(got.3, 300, "NSEC TTL of {owner}");
    }
    for ent in ["b", "w", "_tcp.mail"] {
        assert!(signed.node(&name(ent)).is_none(), "{ent} is an ENT");
    }
    for occluded in ["ns.sub", "deep.ns.sub"] {
        let node = signed.node(&name(occluded)).ok_or(occluded)?;
        assert!(node.get(NSEC).is_none(), "{occluded} has no NSEC");
    }
    Ok(())
}

/// One incremental scenario: the lines of `BASE` to drop and the lines to add.
struct Scenario {
    label: &'static str,
    drop: &'static [&'static str],
    add: &'static [&'static str],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        label: "replace an RRset",
        drop: &["mail 3600 A"],
        add: &["mail 3600 A 192.0.2.33"],
    },
    Scenario {
        label: "add an RRset at a name (bitmap change)",
        drop: &[],
        add: &["mail 3600 AAAA 2001:db8::3"],
    },
    Scenario {
        label: "remove an apex RRset",
        drop: &["@ 3600 MX"],
        add: &[],
    },
    Scenario {
        label: "TTL change",
        drop: &["ns1 3600 A"],
        add: &["ns1 7200 A 192.0.2.1"],
    },
    Scenario {
        label: "add a name in the middle",
        drop: &[],
        add: &["c 3600 A 192.0.2.7"],
    },
    Scenario {
        label: "add a name after the last one",
        drop: &[],
        add: &["zzz 3600 A 192.0.2.8"],
    },
    Scenario {
        label: "remove a name (and the apex NS that named it)",
        drop: &["ns2 3600 A", "@ 3600 NS ns2"],
        add: &[],
    },
    Scenario {
        label: "remove the last name",
        drop: &["www 3600 CNAME"],
        add: &[],
    },
    Scenario {
        label: "remove the only name below an ENT",
        drop: &["a.b 3600 A"],
        add: &[],
    },
    Scenario {
        label: "add a name under a new ENT",
        drop: &[],
        add: &["x.y.z 3600 TXT new"],
    },
    Scenario {
        label: "add a delegation over existing names",
        drop: &[],
        add: &["mail 3600 NS ns1.example."],
    },
    Scenario {
        label: "remove a delegation with DS",
        drop: &["sub 3600 NS", "sub 3600 DS"],
        add: &[],
    },
    Scenario {
        label: "turn an insecure delegation secure",
        drop: &[],
        add: &[
            "insecure 3600 DS 54321 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118CFBA6A1C3A5A5DF3E6C0B8E4",
        ],
    },
    Scenario {
        label: "SOA minimum change moves every NSEC TTL",
        drop: &["@ 3600 SOA"],
        add: &["@ 3600 SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 600"],
    },
    Scenario {
        label: "wildcard and CNAME replaced, glue changed",
        drop: &["*.w 3600 TXT", "www 3600 CNAME", "ns.sub 3600 A"],
        add: &[
            "*.w 3600 TXT wilder",
            "www 3600 A 192.0.2.9",
            "ns.sub 3600 A 192.0.2.55",
        ],
    },
];

/// Runs one incremental scenario and checks it against a full signing of the result.
fn check_incremental(keys: &[SigningKey], s: &Scenario) -> TestResult {
    check_incremental_with(keys, s, Denial::Nsec)
}

/// [`check_incremental`] with NSEC or NSEC3.
fn check_incremental_with(keys: &[SigningKey], s: &Scenario, denial: Denial) -> TestResult {
    let rng = SystemRandom::new();
    let t1 = T0 + DAY;
    let a = zone(BASE)?;
    let b = zone(&edited(s.drop, s.add))?;
    let signed_a = sign_zone(&ctx_with(T0, keys, &rng, denial), &a, 1)?;
    let before = record_set(&signed_a);
    let (inc, delta) = apply_changes(&ctx_with(t1, keys, &rng, denial), &signed_a, &a.diff(&b), 2)?;
    let full = sign_zone(&ctx_with(t1, keys, &rng, denial), &b, 2)?;
    let owners = |z: &SignedZone| z.nsec3_owners().cloned().collect::<Vec<_>>();
    assert_eq!(owners(&inc), owners(&full), "{}: NSEC3 index", s.label);

    assert_eq!(record_set(&signed_a), before, "{}: prev untouched", s.label);
    assert_eq!(structure(&inc), structure(&full), "{}: structure", s.label);
    assert_eq!(inc.serial(), 2);
    check_signatures(&inc, keys).map_err(|e| format!("{}: {e}", s.label))?;
    check_delta(&signed_a, &inc, &delta).map_err(|e| format!("{}: {e}", s.label))?;
    // What the server checks before serving each new version.
    validate_delta(&inc, &delta, t1, &[]).map_err(|e| format!("{}: {e}", s.label))?;
    validate_sample(&full, t1, usize::MAX, &[], NonZeroUsize::MIN)
        .map_err(|e| format!("{}: {e}", s.label))?;

    // Unchanged RRsets keep their RRSIGs byte for byte; changed ones were signed at t1.
    for (owner, node) in inc.nodes() {
        let old_node = signed_a.node(owner);
        for set in &node.rrsets {
            let old = old_node.and_then(|n| n.get(set.rrset.rtype()));
            let unchanged = old.is_some_and(|o| o.rrset == set.rrset && !o.rrsigs.is_empty());
            let what = format!("{}: {owner} {}", s.label, set.rrset.rtype());
            if unchanged && must_be_signed(node.kind, set.rrset.rtype()) {
                let old = old.ok_or("checked above")?;
                let keys_of = |v: &[Record]| v.iter().map(key).collect::<Vec<_>>();
                assert_eq!(keys_of(&set.rrsigs), keys_of(&old.rrsigs), "{what} kept");
            } else {
                for sig in &set.rrsigs {
                    assert_eq!(inception(sig)?, t1 - 3600, "{what} re-signed");
                }
            }
        }
    }
    Ok(())
}

#[test]
fn rfc4035_s2_incremental_matches_full_signing() -> TestResult {
    let rng = SystemRandom::new();
    for keys in [ksk_zsk()?, p256_csk(&rng)?] {
        for scenario in SCENARIOS {
            check_incremental(&keys, scenario)?;
        }
    }
    Ok(())
}

/// The NSEC3 RDATA of an NSEC3 node.
fn nsec3_of(node: &daned_sign::zone::SignedNode) -> Result<NSEC3, String> {
    match node
        .get(RecordType::NSEC3)
        .and_then(|s| s.rrset.records().first())
    {
        Some(r) => match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC3(n)) => Ok(n.clone()),
            other => Err(format!("not an NSEC3: {other:?}")),
        },
        None => Err("no NSEC3 RRset".into()),
    }
}

#[test]
fn rfc5155_s7_1_nsec3_chain_covers_every_name_and_ent() -> TestResult {
    // RFC 5155 §7.1: "Each owner name within the zone that owns authoritative RRSets MUST have
    // a corresponding NSEC3 RR. Owner names that correspond to unsigned delegations MAY have a
    // corresponding NSEC3 RR [without opt-out they do] ... Each empty non-terminal MUST have a
    // corresponding NSEC3 RR ... The NSEC3 RRs are linked in hash order; the last one's Next
    // Hashed Owner Name is the first one's hash." Occluded names and glue get none.
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let params = Nsec3Params::default();
    let signed = sign_zone(&ctx_with(T0, &keys, &rng, nsec3()), &zone(BASE)?, 1)?;
    check_signatures(&signed, &keys)?;

    // The members, by hand: authoritative names, both delegations, and the ENTs b, w and
    // _tcp.mail; not ns.sub or deep.ns.sub (below the cut) and not the absent ns.sub ENT.
    let members: [(&str, &[RecordType]); 13] = {
        use RecordType::*;
        [
            ("@", &[NS, SOA, MX, RRSIG, DNSKEY, NSEC3PARAM]),
            ("ns1", &[A, RRSIG]),
            ("ns2", &[A, RRSIG]),
            ("mail", &[A, RRSIG]),
            ("_tcp.mail", &[]),
            ("_443._tcp.mail", &[TLSA, RRSIG]),
            ("b", &[]),
            ("a.b", &[A, RRSIG]),
            ("w", &[]),
            ("*.w", &[TXT, RRSIG]),
            ("www", &[CNAME, RRSIG]),
            ("sub", &[NS, DS, RRSIG]),
            ("insecure", &[NS]),
        ]
    };
    let mut expected: Vec<(Name, Vec<RecordType>)> = Vec::new();
    for (rel, types) in members {
        let owner = params.hashed_owner(&origin(), &name(rel))?;
        expected.push((owner, types.to_vec()));
    }
    expected.sort();
    let owners: Vec<Name> = signed.nsec3_owners().cloned().collect();
    let want: Vec<Name> = expected.iter().map(|(o, _)| o.clone()).collect();
    assert_eq!(owners, want, "one NSEC3 per member, in hash order");

    // RFC 9077 §3.3 (NSEC3 too): TTL = min(SOA MINIMUM, SOA TTL) = 300.
    for (i, (owner, types)) in expected.iter().enumerate() {
        let node = signed.node(owner).ok_or("NSEC3 node")?;
        assert_eq!(node.kind, NodeKind::Nsec3);
        assert_eq!(node.rrsets.len(), 1, "{owner}: only the NSEC3 RRset");
        let set = node.get(RecordType::NSEC3).ok_or("NSEC3")?;
        assert_eq!(set.rrset.ttl(), 300, "{owner} TTL");
        let n = nsec3_of(node)?;
        assert_eq!((n.iterations(), n.salt(), n.opt_out()), (0, &[][..], false));
        let mut got: Vec<RecordType> = n.type_bit_maps().collect();
        got.sort_by_key(|t| u16::from(*t));
        let mut want = types.clone();
        want.sort_by_key(|t| u16::from(*t));
        assert_eq!(got, want, "{owner} bitmap");
        // The chain is closed: each next hash is the following owner, the last the first.
        let (next, _) = &expected[(i + 1) % expected.len()];
        let next_label = next.iter().next().ok_or("label")?;
        let decoded = data_encoding::BASE32_DNSSEC.decode(next_label)?;
        assert_eq!(n.next_hashed_owner_name(), &decoded[..], "{owner} next");
    }
    // No NSEC anywhere; one NSEC3PARAM, at the apex, flags 0, signed.
    assert!(
        !signed
            .records()
            .any(|r| r.record_type() == RecordType::NSEC)
    );
    let apex = signed.node(&origin()).ok_or("apex")?;
    let param = apex.get(RecordType::NSEC3PARAM).ok_or("NSEC3PARAM")?;
    assert!(!param.rrsigs.is_empty(), "NSEC3PARAM is signed");
    match &param.rrset.records()[0].data {
        RData::DNSSEC(DNSSECRData::NSEC3PARAM(p)) => {
            assert_eq!((p.flags(), p.iterations(), p.salt()), (0, 0, &[][..]));
        }
        other => return Err(format!("not an NSEC3PARAM: {other:?}").into()),
    }
    assert_eq!(signed.nsec3_params(), Some(params));
    Ok(())
}

#[test]
fn rfc5155_s7_1_incremental_nsec3_matches_full_signing() -> TestResult {
    // RFC 5155 §7.1: "Whenever there is a change in the zone, the NSEC3 chain MUST be updated".
    // Every scenario, applied incrementally to an NSEC3 zone, gives the zone a full signing
    // gives, re-signing only what changed.
    let rng = SystemRandom::new();
    for keys in [ksk_zsk()?, p256_csk(&rng)?] {
        for scenario in SCENARIOS {
            check_incremental_with(&keys, scenario, nsec3())?;
        }
    }
    Ok(())
}

#[test]
fn rfc5155_s7_1_incremental_nsec3_all_scenarios_at_once() -> TestResult {
    let drop: Vec<&'static str> = SCENARIOS
        .iter()
        .flat_map(|s| s.drop.iter().copied())
        .collect();
    let add: Vec<&'static str> = SCENARIOS
        .iter()
        .flat_map(|s| s.add.iter().copied())
        .collect();
    let all = Scenario {
        label: "everything at once (NSEC3)",
        drop: Box::leak(drop.into_boxed_slice()),
        add: Box::leak(add.into_boxed_slice()),
    };
    check_incremental_with(&ksk_zsk()?, &all, nsec3())
}

#[test]
fn rfc5155_s12_switching_denial_resigns_the_whole_zone() -> TestResult {
    // Switching between NSEC and NSEC3 (or changing NSEC3 parameters) replaces the whole
    // denial chain: the result equals a full signing with the new setting, with no NSEC left
    // in an NSEC3 zone and no NSEC3 left in an NSEC zone.
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let a = zone(BASE)?;
    let salted = Denial::Nsec3(Nsec3Params {
        iterations: 1,
        salt: daned_sign::nsec3::Nsec3Salt::new(&[0xaa, 0xbb]).ok_or("salt")?,
    });
    let mut prev = sign_zone(&ctx(T0, &keys, &rng), &a, 1)?;
    for (serial, denial) in [(2, nsec3()), (3, salted), (4, Denial::Nsec)] {
        let c = ctx_with(T0 + DAY, &keys, &rng, denial);
        let (next, delta) = apply_changes(&c, &prev, &[], serial)?;
        let full = sign_zone(&c, &a, serial)?;
        assert_eq!(structure(&next), structure(&full), "{denial:?}");
        check_signatures(&next, &keys)?;
        check_delta(&prev, &next, &delta)?;
        let has = |t: RecordType| next.records().any(|r| r.record_type() == t);
        let is_nsec3 = denial != Denial::Nsec;
        assert_eq!(has(RecordType::NSEC3), is_nsec3, "{denial:?}");
        assert_eq!(has(RecordType::NSEC3PARAM), is_nsec3, "{denial:?}");
        assert_eq!(has(RecordType::NSEC), !is_nsec3, "{denial:?}");
        prev = next;
    }
    Ok(())
}

#[test]
fn rfc4035_s2_incremental_all_scenarios_at_once() -> TestResult {
    let drop: Vec<&'static str> = SCENARIOS
        .iter()
        .flat_map(|s| s.drop.iter().copied())
        .collect();
    // The delegation over `mail` would occlude the new `mail` AAAA; both are fine together.
    let add: Vec<&'static str> = SCENARIOS
        .iter()
        .flat_map(|s| s.add.iter().copied())
        .collect();
    let all = Scenario {
        label: "everything at once",
        drop: Box::leak(drop.into_boxed_slice()),
        add: Box::leak(add.into_boxed_slice()),
    };
    check_incremental(&ksk_zsk()?, &all)
}

#[test]
fn rfc4035_s2_2_key_change_resigns_everything() -> TestResult {
    // A new ZSK in the DNSKEY RRset must sign every RRset (RFC 4035 §2.2), so a change of keys
    // re-signs the whole zone.
    let rng = SystemRandom::new();
    let t1 = T0 + DAY;
    let old_keys = ksk_zsk()?;
    let mut new_keys = ksk_zsk()?;
    new_keys.push(SigningKey::from_ed25519_seed(&[3; 32], KeyRole::Zsk)?);
    let a = zone(BASE)?;
    let b = zone(&edited(&[], &["c 3600 A 192.0.2.7"]))?;
    let signed_a = sign_zone(&ctx(T0, &old_keys, &rng), &a, 1)?;
    let (inc, delta) = apply_changes(&ctx(t1, &new_keys, &rng), &signed_a, &a.diff(&b), 2)?;
    let full = sign_zone(&ctx(t1, &new_keys, &rng), &b, 2)?;
    assert_eq!(structure(&inc), structure(&full));
    check_signatures(&inc, &new_keys)?;
    check_delta(&signed_a, &inc, &delta)?;
    for record in inc.records() {
        if rrsig_of(record).is_ok() {
            assert_eq!(inception(record)?, t1 - 3600, "{record}");
        }
    }
    Ok(())
}

#[test]
fn rfc1034_s3_6_2_bad_zones_rejected() -> TestResult {
    // RFC 1034 §3.6.2: "If a CNAME RR is present at a node, no other data should be present";
    // RFC 2181 §10.1: "there may be only one such record"; RFC 4035 §2.4: DS only at a
    // delegation point, never at the apex; a zone has one SOA and NS at its apex.
    let cases: &[(&str, String, &str)] = &[
        ("CNAME and A", edited(&[], &["www 3600 A 192.0.2.9"]), "www"),
        (
            "two CNAME records",
            edited(&[], &["www 3600 CNAME ns1.example."]),
            "www",
        ),
        ("no SOA", edited(&["@ 3600 SOA"], &[]), "@"),
        (
            "two SOA records",
            edited(
                &[],
                &["@ 3600 SOA ns2.example. hostmaster.example. 1 7200 3600 1209600 300"],
            ),
            "@",
        ),
        ("no apex NS", edited(&["@ 3600 NS"], &[]), "@"),
        (
            "CNAME at apex",
            edited(&[], &["@ 3600 CNAME mail.example."]),
            "@",
        ),
        (
            "DS at apex",
            edited(&[], &[&format!("@ 3600 DS 1 13 2 {DS_DIGEST}")]),
            "@",
        ),
        (
            "DS away from a cut",
            edited(&[], &[&format!("mail 3600 DS 1 13 2 {DS_DIGEST}")]),
            "mail",
        ),
        (
            "DS left behind by a removed delegation",
            edited(&["sub 3600 NS"], &[]),
            "sub",
        ),
    ];
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let base = zone(BASE)?;
    let signed = sign_zone(&ctx(T0, &keys, &rng), &base, 1)?;
    let before = record_set(&signed);
    for (label, text, at) in cases {
        let bad = zone(text)?;
        let full = sign_zone(&ctx(T0, &keys, &rng), &bad, 1);
        let inc = apply_changes(&ctx(T0, &keys, &rng), &signed, &base.diff(&bad), 2);
        for (how, result) in [("sign_zone", full.err()), ("apply_changes", inc.err())] {
            match result {
                Some(SignError::BadZone { name: got, .. }) => {
                    assert_eq!(got, name(at), "{label} ({how}) names the wrong owner")
                }
                other => panic!("{label} ({how}): expected BadZone, got {other:?}"),
            }
        }
        assert_eq!(record_set(&signed), before, "{label}: prev untouched");
    }
    Ok(())
}

#[test]
fn rfc4035_s2_2_refresh_resigns_exactly_what_is_due() -> TestResult {
    // RFC 4035 §2.2 / RFC 4034 §3.1.5: a signature is only good until its expiration; the
    // signer renews each RRset whose signatures expire within the refresh window.
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let policy = SignPolicy::default();
    let t1 = T0 + 3 * DAY;
    let a = zone(BASE)?;
    let b = zone(&edited(&["mail 3600 A"], &["mail 3600 A 192.0.2.33"]))?;
    let signed = sign_zone(&ctx(T0, &keys, &rng), &a, 1)?;

    // Nothing is due one day in.
    assert!(refresh_signatures(&ctx(T0 + DAY, &keys, &rng), &signed, 2)?.is_none());

    // Some RRsets signed at t1, the rest at T0.
    let (mixed, _) = apply_changes(&ctx(t1, &keys, &rng), &signed, &a.diff(&b), 2)?;
    let now = T0 + policy.validity - policy.refresh + 1;
    let (fresh, delta) =
        refresh_signatures(&ctx(now, &keys, &rng), &mixed, 3)?.ok_or("refresh is due")?;
    assert_eq!(fresh.serial(), 3);
    assert_eq!(structure(&fresh).len(), structure(&mixed).len());
    check_signatures(&fresh, &keys)?;
    check_delta(&mixed, &fresh, &delta)?;
    let mut renewed = 0;
    for (owner, node) in fresh.nodes() {
        let old = mixed.node(owner).ok_or("same names")?;
        for set in node.rrsets.iter().filter(|s| !s.rrsigs.is_empty()) {
            let what = format!("{owner} {}", set.rrset.rtype());
            let old_set = old.get(set.rrset.rtype()).ok_or("same RRsets")?;
            let was_due = old_set
                .rrsigs
                .iter()
                .map(expiration)
                .collect::<Result<Vec<_>, _>>()?
                .iter()
                .any(|&e| e < now + policy.refresh);
            let is_soa = set.rrset.rtype() == RecordType::SOA;
            for sig in &set.rrsigs {
                // "no signature in the result expires before now + refresh"
                assert!(expiration(sig)? >= now + policy.refresh, "{what}");
                let resigned = inception(sig)? == now - policy.inception_offset;
                assert_eq!(resigned, was_due || is_soa, "{what} re-signed iff due");
            }
            if !(was_due || is_soa) {
                assert_eq!(set.rrsigs, old_set.rrsigs, "{what} kept");
            } else {
                renewed += 1;
            }
        }
    }
    // Only mail A and the SOA were signed at t1 (mail's NSEC bitmap did not change); every
    // other RRset was signed at T0 and is due.
    assert!(renewed > 10, "most RRsets were due, got {renewed}");
    let not_due = mixed
        .node(&name("mail"))
        .and_then(|n| n.get(RecordType::A))
        .ok_or("mail A")?;
    let kept = fresh
        .node(&name("mail"))
        .and_then(|n| n.get(RecordType::A))
        .ok_or("mail A")?;
    assert_eq!(
        kept.rrsigs, not_due.rrsigs,
        "mail A signed at t1 is not due"
    );
    assert_eq!(fresh.earliest_expiration(), Some(t1 + policy.validity));
    Ok(())
}

#[test]
fn rfc5155_s7_1_refresh_renews_nsec3_and_nsec3param_signatures() -> TestResult {
    // RFC 4034 §3.1.5: a signature is only good until its expiration; in an NSEC3 zone the
    // NSEC3 and NSEC3PARAM RRsets are renewed like every other signed RRset, and the chain
    // itself does not change.
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let policy = SignPolicy::default();
    let signed = sign_zone(&ctx_with(T0, &keys, &rng, nsec3()), &zone(BASE)?, 1)?;
    let now = T0 + policy.validity - policy.refresh + 1;
    let (fresh, delta) = refresh_signatures(&ctx_with(now, &keys, &rng, nsec3()), &signed, 2)?
        .ok_or("refresh is due")?;
    check_signatures(&fresh, &keys)?;
    check_delta(&signed, &fresh, &delta)?;
    let owners = |z: &SignedZone| z.nsec3_owners().cloned().collect::<Vec<_>>();
    assert_eq!(owners(&fresh), owners(&signed));
    // Everything but the SOA (new serial) is the same data.
    let without_soa = |z: &SignedZone| {
        let mut st = structure(z);
        for (_, _, sets) in &mut st {
            sets.retain(|s| s.rtype() != RecordType::SOA);
        }
        st
    };
    assert_eq!(without_soa(&fresh), without_soa(&signed));
    let mut renewed = 0;
    for (owner, node) in fresh.nodes() {
        for set in &node.rrsets {
            if matches!(
                set.rrset.rtype(),
                RecordType::NSEC3 | RecordType::NSEC3PARAM
            ) {
                for sig in &set.rrsigs {
                    assert_eq!(inception(sig)?, now - policy.inception_offset, "{owner}");
                    renewed += 1;
                }
            }
        }
    }
    assert!(
        renewed >= 14,
        "13 NSEC3 and the NSEC3PARAM renewed, got {renewed}"
    );
    Ok(())
}

#[test]
fn rfc5155_s7_1_a_name_equal_to_an_nsec3_owner_is_refused() -> TestResult {
    // RFC 5155 §7.1 puts each NSEC3 at `<hash>.<zone>`; a content name equal to one would
    // mix the zone's data with its chain, so the signer refuses it (full and incremental).
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let c = ctx_with(T0, &keys, &rng, nsec3());
    let owner = Nsec3Params::default().hashed_owner(&origin(), &name("mail"))?;
    let rel = owner.to_ascii().replace(".example.", "");
    let line = format!("{rel} 3600 A 192.0.2.99");
    let with = zone(&edited(&[], &[&line]))?;
    assert!(matches!(
        sign_zone(&c, &with, 1),
        Err(SignError::BadZone { .. })
    ));
    let base = zone(BASE)?;
    let signed = sign_zone(&c, &base, 1)?;
    assert!(matches!(
        apply_changes(&c, &signed, &base.diff(&with), 2),
        Err(SignError::BadZone { .. })
    ));
    Ok(())
}

#[test]
fn rfc4035_s2_2_refresh_after_key_added_signs_with_it() -> TestResult {
    // RFC 4035 §2.2: each RRset is signed with each key of the DNSKEY RRset of its role; a new
    // ZSK makes every RRset due, even when no signature is near expiry.
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let signed = sign_zone(&ctx(T0, &keys, &rng), &zone(BASE)?, 1)?;
    let mut more = ksk_zsk()?;
    more.push(SigningKey::from_ed25519_seed(&[3; 32], KeyRole::Zsk)?);
    let (fresh, delta) =
        refresh_signatures(&ctx(T0 + DAY, &more, &rng), &signed, 2)?.ok_or("new key is due")?;
    check_signatures(&fresh, &more)?;
    check_delta(&signed, &fresh, &delta)?;
    // Back to the old keys: the extra ZSK's signatures are due again.
    let (back, _) =
        refresh_signatures(&ctx(T0 + DAY, &keys, &rng), &fresh, 3)?.ok_or("old key is due")?;
    check_signatures(&back, &keys)?;
    Ok(())
}

#[test]
fn to_zone_round_trips_the_content() -> TestResult {
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let a = zone(BASE)?;
    let signed = sign_zone(&ctx(T0, &keys, &rng), &a, 1)?;
    let back = signed.to_zone();
    assert!(a.diff(&back).is_empty(), "{:?}", a.diff(&back));
    Ok(())
}

#[test]
fn no_signing_key_is_an_error() -> TestResult {
    let rng = SystemRandom::new();
    let zsk_only = vec![SigningKey::from_ed25519_seed(&[2; 32], KeyRole::Zsk)?];
    let result = sign_zone(&ctx(T0, &zsk_only, &rng), &zone(BASE)?, 1);
    assert!(
        matches!(result, Err(SignError::NoKeys { .. })),
        "{result:?}"
    );
    Ok(())
}

/// Runs `tool args... file` on the master-file dump of `zone`; `None` when the tool is missing.
fn run_validator(
    zone: &SignedZone,
    tool: &str,
    args: &[&str],
    file_name: &str,
) -> Result<Option<std::process::Output>, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(file_name);
    let mut text = String::new();
    for record in zone.records() {
        text.push_str(&record.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text)?;
    let output = match std::process::Command::new(tool)
        .args(args)
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var("DANED_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "{tool} is not installed and DANED_REQUIRE_TOOLS=1"
            );
            eprintln!(
                "\n********** SKIPPING: {tool} is not installed; this check did not run **********\n"
            );
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Some(output))
}

#[test]
// The validators check signature times against their own clock, so this test signs at the
// wall-clock time (the only test here that reads it).
#[ignore = "needs ldns-verify-zone, dnssec-verify, kzonecheck"]
fn external_validators_accept_signed_and_incremental_zones() -> TestResult {
    let rng = SystemRandom::new();
    let now = u32::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    )?;
    for (label, keys, denial) in [
        ("ksk-zsk", ksk_zsk()?, Denial::Nsec),
        ("csk", p256_csk(&rng)?, Denial::Nsec),
        ("nsec3-ksk-zsk", ksk_zsk()?, nsec3()),
        ("nsec3-csk", p256_csk(&rng)?, nsec3()),
    ] {
        let a = zone(BASE)?;
        let drop: Vec<&str> = SCENARIOS
            .iter()
            .flat_map(|s| s.drop.iter().copied())
            .collect();
        let add: Vec<&str> = SCENARIOS
            .iter()
            .flat_map(|s| s.add.iter().copied())
            .collect();
        let b = zone(&edited(&drop, &add))?;
        let c = ctx_with(now, &keys, &rng, denial);
        let signed = sign_zone(&c, &a, 1)?;
        let (inc, _) = apply_changes(&c, &signed, &a.diff(&b), 2)?;
        for (version, z) in [("full", &signed), ("incremental", &inc)] {
            let file = format!("{label}-{version}.zone");
            if let Some(out) = run_validator(z, "ldns-verify-zone", &[], &file)? {
                assert!(
                    out.status.success(),
                    "ldns-verify-zone {file}: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            // A lone CSK has the SEP flag; `-z` tells dnssec-verify not to look for a ZSK.
            let tools: [(&str, &[&str]); 2] = [
                (
                    "dnssec-verify",
                    if label.ends_with("csk") {
                        &["-o", "example.", "-z"]
                    } else {
                        &["-o", "example."]
                    },
                ),
                ("kzonecheck", &["-o", "example.", "-d", "on"]),
            ];
            for (tool, args) in tools {
                if let Some(out) = run_validator(z, tool, args, &file)? {
                    assert!(
                        out.status.success(),
                        "{tool} {file}: {}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    }
    // Best effort: the files are only useful for looking at a failure.
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("daned-sign-{}", std::process::id())),
    );
    Ok(())
}

/// `validate_sample` on several threads reports the error one thread reports: the first in
/// canonical order. A zone of 300 names makes several chunks of work (64 RRsets each), and two
/// corrupted signatures in different chunks make "first" matter.
#[test]
fn rfc4035_s5_3_validate_sample_on_threads_reports_the_first_error_as_on_one() -> TestResult {
    let rng = SystemRandom::new();
    let keys = p256_csk(&rng)?;
    let mut text = BASE.to_owned();
    for i in 0..300 {
        text.push_str(&format!("h{i:03} 3600 A 192.0.2.{}\n", i % 250));
    }
    let signed = sign_zone(&ctx_with(T0, &keys, &rng, Denial::Nsec), &zone(&text)?, 1)?;
    let t1 = T0 + DAY;
    let three = NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN);
    validate_sample(&signed, t1, usize::MAX, &[], three)?;
    let corrupt = tampered(&signed, |mut record| {
        if let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &record.data
            && (record.name == name("h120") || record.name == name("h250"))
            && sig.input().type_covered == RecordType::A
        {
            let mut bytes = sig.sig().to_vec();
            bytes[0] ^= 1;
            record.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                sig.input().clone(),
                bytes,
            )));
        }
        record
    })?;
    let one = validate_sample(&corrupt, t1, usize::MAX, &[], NonZeroUsize::MIN)
        .expect_err("two corrupted signatures");
    assert!(one.to_string().contains("h120"), "{one}");
    let many = validate_sample(&corrupt, t1, usize::MAX, &[], three).expect_err("the same");
    assert_eq!(one.to_string(), many.to_string());
    Ok(())
}

/// `zone`'s records with `edit` applied to each, rebuilt as a served zone (nothing re-signed).
fn tampered(zone: &SignedZone, edit: impl Fn(Record) -> Record) -> Result<SignedZone, SignError> {
    SignedZone::from_records(zone.origin(), zone.records().cloned().map(edit))
}

/// RFC 4035 §5.3.3: "the validator MUST verify the signature" — before serving, a new version
/// whose changed RRset carries a corrupted signature, or whose changed NSEC points past a name,
/// is refused; the untouched version passes.
#[test]
fn rfc4035_s5_3_validate_delta_refuses_a_corrupted_signature_or_chain() -> TestResult {
    let rng = SystemRandom::new();
    for denial in [Denial::Nsec, nsec3()] {
        let keys = p256_csk(&rng)?;
        let t1 = T0 + DAY;
        let a = zone(BASE)?;
        let b = zone(&edited(&["mail 3600 A"], &["mail 3600 A 192.0.2.33"]))?;
        let signed_a = sign_zone(&ctx_with(T0, &keys, &rng, denial), &a, 1)?;
        let (good, delta) = apply_changes(
            &ctx_with(t1, &keys, &rng, denial),
            &signed_a,
            &a.diff(&b),
            2,
        )?;
        validate_delta(&good, &delta, t1, &[])?;
        // Expired by then: the signatures made at t1 are not valid a year later.
        assert!(validate_delta(&good, &delta, t1 + 400 * DAY, &[]).is_err());

        // One bit of the new A RRset's signature flipped.
        let corrupt = tampered(&good, |mut record| {
            if let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &record.data
                && record.name == name("mail")
                && sig.input().type_covered == RecordType::A
            {
                let mut bytes = sig.sig().to_vec();
                bytes[0] ^= 1;
                record.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                    sig.input().clone(),
                    bytes,
                )));
            }
            record
        })?;
        let err = validate_delta(&corrupt, &delta, t1, &[]).expect_err("corrupted signature");
        assert!(err.to_string().contains("does not verify"), "{err}");
        // The check of a whole version (a start) finds it too when it verifies everything.
        // The same first error on one thread and on three.
        let one = validate_sample(&corrupt, t1, usize::MAX, &[], NonZeroUsize::MIN);
        let three = NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN);
        let many = validate_sample(&corrupt, t1, usize::MAX, &[], three);
        assert!(one.is_err());
        assert_eq!(format!("{one:?}"), format!("{many:?}"));
        validate_sample(&good, t1, usize::MAX, &[], three)?;
    }

    // NSEC: the changed name's NSEC skips the next name of the chain.
    let keys = p256_csk(&rng)?;
    let a = zone(BASE)?;
    let b = zone(&edited(&[], &["mail 3600 AAAA 2001:db8::3"]))?;
    let signed_a = sign_zone(&ctx(T0, &keys, &rng), &a, 1)?;
    let (good, delta) = apply_changes(&ctx(T0 + DAY, &keys, &rng), &signed_a, &a.diff(&b), 2)?;
    validate_delta(&good, &delta, T0 + DAY, &[])?;
    let broken = tampered(&good, |mut record| {
        if let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &record.data
            && record.name == name("mail")
        {
            record.data = RData::DNSSEC(DNSSECRData::NSEC(
                daned_sign::hickory_proto::dnssec::rdata::NSEC::new(
                    name("sub"),
                    nsec.type_bit_maps().collect::<Vec<_>>(),
                ),
            ));
        }
        record
    })?;
    // Its signature made again, so that only the chain is wrong.
    let nsec = broken
        .node(&name("mail"))
        .and_then(|n| n.get(RecordType::NSEC))
        .ok_or("mail has an NSEC")?
        .rrset
        .clone();
    let times = daned_sign::rrsig::SigTimes {
        inception: T0,
        expiration: T0 + 30 * DAY,
    };
    let resigned = daned_sign::rrsig::sign_rrset(&nsec, &keys[0], &origin(), times, &rng)?;
    let broken = tampered(&broken, |record| match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig))
            if record.name == name("mail") && sig.input().type_covered == RecordType::NSEC =>
        {
            resigned.clone()
        }
        _ => record,
    })?;
    let err = validate_delta(&broken, &delta, T0 + DAY, &[]).expect_err("broken chain");
    assert!(err.to_string().contains("next name"), "{err}");
    let err = validate_sample(&broken, T0 + DAY, 0, &[], NonZeroUsize::MIN)
        .expect_err("broken chain, whole");
    assert!(err.to_string().contains("next name"), "{err}");
    Ok(())
}

/// RFC 4034 §6.1: a served zone built from records is the same whatever order they come in:
/// canonical order (a master file, a transfer), reversed, or with a name's records split apart
/// and mixed case in the owners (grouped, ordered and joined once, not per record).
#[test]
fn rfc4034_s6_1_from_records_is_the_same_in_any_order() -> TestResult {
    let rng = SystemRandom::new();
    for denial in [Denial::Nsec, nsec3()] {
        let keys = ksk_zsk()?;
        let signed = sign_zone(&ctx_with(T0, &keys, &rng, denial), &zone(BASE)?, 7)?;
        let in_order: Vec<Record> = signed.records().cloned().collect();
        let reversed: Vec<Record> = in_order.iter().rev().cloned().collect();
        let (even, odd): (Vec<_>, Vec<_>) = in_order
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        let split: Vec<Record> = odd
            .into_iter()
            .chain(even)
            .map(|(_, mut record)| {
                record.name = Name::from_ascii(record.name.to_ascii().to_uppercase())
                    .expect("uppercase owner");
                record
            })
            .collect();
        for records in [in_order, reversed, split] {
            let rebuilt = SignedZone::from_records(signed.origin(), records)?;
            assert_eq!(structure(&rebuilt), structure(&signed));
            assert_eq!(record_set(&rebuilt), record_set(&signed));
            assert_eq!(rebuilt.serial(), 7);
            assert_eq!(
                rebuilt.nsec3_owners().count(),
                signed.nsec3_owners().count()
            );
        }
    }
    Ok(())
}

/// RFC 4035 §2.2 and §5.3: `check_node`, the per-node check of a signer that never holds the
/// zone whole, refuses an authoritative RRset left unsigned and an RRSIG by another signer,
/// and accepts every node of a correctly signed zone (the glue's and delegation NS's missing
/// RRSIGs included).
#[test]
fn rfc4035_s2_2_check_node_refuses_an_unsigned_rrset_and_a_foreign_signer() -> TestResult {
    let rng = SystemRandom::new();
    let keys = ksk_zsk()?;
    let signed = sign_zone(&ctx(T0, &keys, &rng), &zone(BASE)?, 7)?;
    let dnskeys: Vec<DNSKEY> = keys.iter().map(|k| k.dnskey().clone()).collect();
    let tagged = daned_sign::validate::tagged_keys(&dnskeys)?;
    for (_, node) in signed.nodes() {
        daned_sign::validate::check_node(signed.origin(), node, &tagged, T0)?;
    }
    let apex = signed.node(signed.origin()).ok_or("no apex")?;
    let mut unsigned = (**apex).clone();
    unsigned.rrsets[0].rrsigs.clear();
    let refused = daned_sign::validate::check_node(signed.origin(), &unsigned, &tagged, T0);
    assert!(refused.is_err_and(|e| e.to_string().contains("not signed")));
    let other = Name::from_ascii("example.net.")?;
    assert!(
        daned_sign::validate::check_node(&other, apex, &tagged, T0)
            .is_err_and(|e| e.to_string().contains("is not the zone"))
    );
    // Valid now, not a year later.
    assert!(
        daned_sign::validate::check_node(signed.origin(), apex, &tagged, T0 + 365 * DAY).is_err()
    );
    Ok(())
}
