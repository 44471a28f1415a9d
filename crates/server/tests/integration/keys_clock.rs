//! Automatic key rollovers driven through the manager with an injected clock (a paused tokio
//! runtime, no sleeping): a ZSK roll by pre-publication and a CSK roll by double-DS with
//! `ds-seen`, checking at every transition the served DNSKEY, CDS and CDNSKEY sets and that
//! every signed RRset validates; a restart in the middle of the CSK roll resumes it; the zone
//! mid-roll (CDS with both keys) is accepted by dnssec-verify, ldns-verify-zone and kzonecheck.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use daned::clock::{Clock, SystemClock, TokioClock};
use daned::events::manager::Manager;
use daned::status::KeyStatus;
use daned::zone::KeyAction;
use daned_sign::hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData};
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::keys::key_tag;
use daned_sign::rrsig::verify_rrsig;

use crate::support::{Workspace, run, start_manager, tool};

fn origin() -> Name {
    Name::from_ascii("example.com.").unwrap()
}

/// Short waits: Dprp 10 s, TTLkey 60 s, margin 5 s, TTLds 60 s, DprpP 10 s.
fn keys_config(mode: &str, zsk_lifetime: u32) -> String {
    format!(
        "[zone.signing]\ndnskey-ttl = 60\n[zone.keys]\nmode = \"{mode}\"\n\
         zsk-lifetime = {zsk_lifetime}\nksk-lifetime = 0\npropagation-delay = 10\n\
         parent-ds-ttl = 60\nparent-propagation-delay = 10\nsafety-margin = 5\n"
    )
}

fn keys(manager: &Manager) -> Vec<KeyStatus> {
    manager.status().zones[0].keys.clone()
}

fn tags_in(keys: &[KeyStatus], pred: impl Fn(&KeyStatus) -> bool) -> BTreeSet<u16> {
    keys.iter().filter(|k| pred(k)).map(|k| k.key_tag).collect()
}

/// The served zone against the key states: RFC 4035 §2.1 (the DNSKEY RRset holds the keys that
/// are published: published, ready, active, retired), RFC 7344 §4 (CDS and CDNSKEY name the
/// SEP keys whose DS the parent should hold: ready or active), RFC 4035 §2.2 (every signed
/// RRset has a valid RRSIG by an active key of the role that signs it; the DNSKEY RRset one by
/// every published SEP key that is published, ready or active, so it validates from the old
/// DS and from the new one). Returns the keys.
fn check_served(manager: &Manager) -> Vec<KeyStatus> {
    let keys = keys(manager);
    let catalog = manager.snapshot();
    let snapshot = Arc::clone(catalog.load().catalog());
    let zone = snapshot.zones().next().expect("one zone").clone();
    let apex = zone.node(&origin()).expect("apex");
    let dnskeys: Vec<DNSKEY> = apex
        .get(RecordType::DNSKEY)
        .expect("DNSKEY RRset")
        .rrset
        .rdatas()
        .filter_map(|r| match r {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect();
    let published: BTreeSet<u16> = dnskeys.iter().map(|k| key_tag(k).unwrap()).collect();
    let want_published = tags_in(&keys, |k| {
        matches!(
            k.state.as_str(),
            "published" | "ready" | "active" | "retired"
        )
    });
    assert_eq!(published, want_published, "DNSKEY RRset vs {keys:#?}");

    let want_cds = tags_in(&keys, |k| {
        k.role != "zsk" && matches!(k.state.as_str(), "ready" | "active")
    });
    let cds: BTreeSet<u16> = apex
        .get(RecordType::CDS)
        .map(|s| {
            s.rrset
                .rdatas()
                .filter_map(|r| match r {
                    RData::DNSSEC(DNSSECRData::CDS(c)) => Some(c.key_tag()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(cds, want_cds, "CDS vs {keys:#?}");
    let cdnskeys: BTreeSet<u16> = apex
        .get(RecordType::CDNSKEY)
        .map(|s| {
            s.rrset
                .rdatas()
                .filter_map(|r| match r {
                    RData::DNSSEC(DNSSECRData::CDNSKEY(c)) => dnskeys
                        .iter()
                        .find(|k| Some(k.public_key().clone()) == c.public_key())
                        .map(|k| key_tag(k).unwrap()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(cdnskeys, want_cds, "CDNSKEY vs {keys:#?}");

    let active = |role: &str| {
        tags_in(&keys, |k| {
            k.state == "active" && (k.role == role || k.role == "csk")
        })
    };
    let sep_signers = tags_in(&keys, |k| {
        k.role != "zsk" && matches!(k.state.as_str(), "published" | "ready" | "active")
    });
    let zone_signers = active("zsk");
    assert!(
        !zone_signers.is_empty(),
        "no active zone-signing key: {keys:#?}"
    );
    let mut signed = 0;
    for (_, node) in zone.nodes() {
        for set in &node.rrsets {
            if set.rrsigs.is_empty() {
                continue;
            }
            signed += 1;
            let valid: BTreeSet<u16> = set
                .rrsigs
                .iter()
                .filter_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig),
                    _ => None,
                })
                .filter_map(|sig| {
                    let tag = sig.input().key_tag;
                    let key = dnskeys.iter().find(|k| key_tag(k).unwrap() == tag)?;
                    verify_rrsig(&set.rrset, sig, key).ok().map(|()| tag)
                })
                .collect();
            let need = match set.rrset.rtype() {
                RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY => &sep_signers,
                _ => &zone_signers,
            };
            assert!(
                need.is_subset(&valid),
                "{} {}: valid RRSIGs by {valid:?}, need {need:?}; keys {keys:#?}",
                set.rrset.name(),
                set.rrset.rtype()
            );
        }
    }
    assert!(signed > 10, "only {signed} signed RRsets");
    keys
}

/// Advances the clock to the next key event and runs the timers; returns the new key states.
async fn step(manager: &mut Manager, clock: &TokioClock) -> Vec<KeyStatus> {
    let event = manager.status().zones[0]
        .next_key_event
        .clone()
        .expect("a next key event");
    let now = clock.now();
    assert!(event.at >= now, "event in the past: {event:?}");
    // One second early nothing moves; at the deadline it does.
    if event.at > now {
        tokio::time::advance(Duration::from_secs(u64::from(event.at - now - 1))).await;
        let before = keys(manager);
        manager.run_timers();
        assert_eq!(keys(manager), before, "moved before {event:?}");
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    let serial = manager.status().zones[0].serial;
    manager.run_timers();
    let after = check_served(manager);
    assert!(
        manager.status().zones[0].serial > serial,
        "a key event re-signs under a new serial: {event:?}"
    );
    after
}

fn states(keys: &[KeyStatus]) -> Vec<(String, String)> {
    keys.iter()
        .map(|k| (k.role.clone(), k.state.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// RFC 7583 §3.2.1 (ZSK pre-publication): "the new key is introduced into the DNSKEY RRset ...
/// Once the new DNSKEY RRset has propagated, the new ZSK can be used", and the old key stays
/// published until the signatures it made have expired from caches.
#[tokio::test(start_paused = true)]
async fn rfc7583_s3_2_1_zsk_roll_by_pre_publication_under_an_injected_clock() {
    let ws = Workspace::example();
    // ZSK lifetime 5000 s (more than its roll: 75 s to publish, 3615 s to retire).
    ws.write_config(&keys_config("ksk-zsk", 5000));
    let clock = Arc::new(TokioClock::new(SystemClock.now()));
    let mut manager = start_manager(&ws, clock.clone());
    let first = check_served(&manager);
    assert_eq!(
        states(&first),
        pairs(&[("ksk", "active"), ("zsk", "active")]),
        "{first:#?}"
    );
    let old_zsk = first[1].key_tag;

    let mut seen = vec![states(&first)];
    for _ in 0..6 {
        let keys = step(&mut manager, &clock).await;
        seen.push(states(&keys));
        if keys
            .iter()
            .any(|k| k.key_tag == old_zsk && k.state == "removed")
        {
            break;
        }
    }
    let last = seen.last().unwrap().clone();
    assert_eq!(
        last,
        pairs(&[("ksk", "active"), ("zsk", "removed"), ("zsk", "active")]),
        "steps: {seen:#?}"
    );
    // Every step in order: published, then (ready and) active with the old retired, then
    // removed.
    assert!(
        seen.contains(&pairs(&[
            ("ksk", "active"),
            ("zsk", "active"),
            ("zsk", "published")
        ])),
        "{seen:#?}"
    );
    assert!(
        seen.contains(&pairs(&[
            ("ksk", "active"),
            ("zsk", "retired"),
            ("zsk", "active")
        ])),
        "{seen:#?}"
    );
    // The key files stay, removed or not.
    let files = std::fs::read_dir(ws.path("keys")).unwrap().count();
    assert_eq!(files, 3);
}

/// RFC 7583 §3.3.2 (double-DS) with RFC 7344 §4: the new CSK is published, then announced with
/// CDS/CDNSKEY beside the old one; only once its DS is seen at the parent (`ds-seen`) and the
/// parent's caches had time (DprpP + TTLds) is it swapped in. A restart while waiting for the
/// DS resumes there; the zone at that point passes three external validators.
#[tokio::test(start_paused = true)]
#[ignore = "needs dnssec-verify, kzonecheck, ldns-keygen, ldns-signzone, ldns-verify-zone"]
async fn rfc7583_s3_3_csk_roll_by_double_ds_with_ds_seen_and_restart() {
    let ws = Workspace::example();
    ws.write_config(&keys_config("csk", 0));
    let clock = Arc::new(TokioClock::new(SystemClock.now()));
    let mut manager = start_manager(&ws, clock.clone());
    let first = check_served(&manager);
    assert_eq!(states(&first), pairs(&[("csk", "active")]));
    let old = first[0].key_tag;
    // The first key's DS is wanted at the parent; the operator says it is there.
    manager
        .key_action(&origin(), KeyAction::DsSeen(old))
        .expect("ds-seen for the first key");
    assert!(
        manager.status().zones[0].next_key_event.is_none(),
        "nothing scheduled"
    );

    // A second roll cannot start while one runs; an unknown tag is refused.
    let report = manager
        .key_action(&origin(), KeyAction::Roll(daned_sign::keys::KeyRole::Csk))
        .expect("roll starts");
    assert_eq!(report.keys.len(), 2);
    let new = report.keys[1].key_tag;
    assert_eq!(report.keys[1].state, "published");
    check_served(&manager);
    assert!(
        manager
            .key_action(&origin(), KeyAction::Roll(daned_sign::keys::KeyRole::Csk))
            .is_err()
    );
    let unknown = (0..=u16::MAX).find(|t| *t != old && *t != new).unwrap();
    let refused = manager
        .key_action(&origin(), KeyAction::DsSeen(unknown))
        .unwrap_err()
        .to_string();
    assert!(refused.contains(&unknown.to_string()), "{refused}");

    // Published -> ready: CDS/CDNSKEY carry both keys; the new DS is awaited.
    let keys = step(&mut manager, &clock).await;
    assert_eq!(states(&keys), pairs(&[("csk", "active"), ("csk", "ready")]));
    assert_eq!(manager.status().zones[0].awaiting_ds, vec![new]);
    assert!(
        manager.status().zones[0].next_key_event.is_none(),
        "waits for the parent only"
    );
    validators_accept(&ws, &manager);

    // A restart while waiting: same states, same wait.
    tokio::time::advance(Duration::from_secs(30)).await;
    let serial = manager.status().zones[0].serial;
    drop(manager);
    let mut manager = start_manager(&ws, clock.clone());
    assert_eq!(states(&check_served(&manager)), states(&keys));
    assert_eq!(
        manager.status().zones[0].serial,
        serial,
        "restart keeps the serial"
    );
    assert_eq!(manager.status().zones[0].awaiting_ds, vec![new]);

    // The parent has the new DS: after DprpP + TTLds (+ margin) the new key takes over.
    let report = manager
        .key_action(&origin(), KeyAction::DsSeen(new))
        .expect("ds-seen");
    assert!(report.awaiting_ds.is_empty());
    let event = report.next_key_event.expect("swap scheduled");
    assert_eq!(event.at, clock.now() + 10 + 60 + 5, "{event:?}");
    let keys = step(&mut manager, &clock).await;
    assert_eq!(
        states(&keys),
        pairs(&[("csk", "retired"), ("csk", "active")])
    );
    // ... and the old one leaves after its signatures and DNSKEY expired from caches.
    let keys = step(&mut manager, &clock).await;
    assert_eq!(
        states(&keys),
        pairs(&[("csk", "removed"), ("csk", "active")])
    );
    assert_eq!(keys[1].key_tag, new);
    assert!(manager.status().zones[0].next_key_event.is_none());

    // Restarted after the roll: nothing moves, the removed key's file stays.
    drop(manager);
    let manager = start_manager(&ws, clock.clone());
    assert_eq!(states(&check_served(&manager)), states(&keys));
    assert_eq!(std::fs::read_dir(ws.path("keys")).unwrap().count(), 2);
}

/// RFC 4035 §2: the zone being served mid-roll (two CSKs, CDS/CDNSKEY with both), written as
/// `daned dump` writes it, is a correctly signed zone for three independent validators.
fn validators_accept(ws: &Workspace, manager: &Manager) {
    let tools = [
        tool("dnssec-verify"),
        tool("ldns-verify-zone"),
        tool("kzonecheck"),
    ];
    if tools.iter().any(Option::is_none) {
        return;
    }
    let catalog = manager.snapshot();
    let snapshot = Arc::clone(catalog.load().catalog());
    let zone = snapshot.zones().next().unwrap().clone();
    assert!(
        zone.node(&origin())
            .and_then(|n| n.get(RecordType::CDS))
            .is_some_and(|s| s.rrset.records().len() == 2),
        "CDS with both keys"
    );
    let mut text = Vec::new();
    daned::zone::zonefile::write_records(zone.records(), &mut text).unwrap();
    let file = ws.path("midroll.zone");
    std::fs::write(&file, &text).unwrap();
    let checks: [(&str, Command); 3] = [
        ("dnssec-verify", {
            let mut c = Command::new("dnssec-verify");
            c.args(["-z", "-o", "example.com."]).arg(&file);
            c
        }),
        ("ldns-verify-zone", {
            let mut c = Command::new("ldns-verify-zone");
            c.arg(&file);
            c
        }),
        ("kzonecheck", {
            let mut c = Command::new("kzonecheck");
            c.args(["-o", "example.com.", "--dnssec", "on"]).arg(&file);
            c
        }),
    ];
    for (name, mut cmd) in checks {
        let (ok, text) = run(&mut cmd);
        if !ok && name == "kzonecheck" && kzonecheck_rejects_any_two_key_zone(ws) {
            eprintln!(
                "\n**********\nkzonecheck rejects even a zone that ldns-signzone signed with two \
                 keys of one algorithm (a defect of this kzonecheck version); its verdict on \
                 the zone mid-roll is not counted:\n{text}\n**********\n"
            );
            continue;
        }
        assert!(ok, "{name} on the zone mid-roll:\n{text}");
    }
}

/// Whether kzonecheck also rejects the example zone signed by ldns-signzone with two fresh
/// keys of one algorithm, each signing everything (Knot 3.2.6 does: "no valid signature for a
/// record" on a correctly signed zone).
fn kzonecheck_rejects_any_two_key_zone(ws: &Workspace) -> bool {
    let (Some(keygen), Some(signzone)) = (tool("ldns-keygen"), tool("ldns-signzone")) else {
        return false;
    };
    let dir = ws.path("ldns-reference");
    std::fs::create_dir_all(&dir).unwrap();
    let zone = dir.join("example.com.zone");
    std::fs::copy(ws.path("example.com.zone"), &zone).unwrap();
    let mut keys = Vec::new();
    for _ in 0..2 {
        let out = Command::new(&keygen)
            .args(["-a", "ECDSAP256SHA256", "-k", "example.com."])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "ldns-keygen failed");
        keys.push(String::from_utf8(out.stdout).unwrap().trim().to_owned());
    }
    let (ok, text) = run(Command::new(&signzone)
        .arg(&zone)
        .args(&keys)
        .args(["-o", "example.com."])
        .current_dir(&dir));
    assert!(ok, "ldns-signzone: {text}");
    let (ok, _) = run(Command::new("kzonecheck")
        .args(["-o", "example.com.", "--dnssec", "on"])
        .arg(dir.join("example.com.zone.signed")));
    !ok
}
