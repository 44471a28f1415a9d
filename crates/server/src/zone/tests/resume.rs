//! A restart serves the version published before it (issue 10, item 5): the kept signed zone
//! and the journal, not a new signing, whenever they still match the content, keys, policy
//! and clock; a whole signing with the reason otherwise.

use super::*;
use crate::zone::persist::journal::{self, Journal};
use crate::zone::persist::signed::{SignedFileError, signed_path};
use crate::zone::resume::NotResumed;
use daned_sign::hickory_proto::rr::Record;
use daned_sign::serial::serial_gt;

/// A zone with one TLSA binding (`mail.pem`, P-256, at `_25._tcp.mail`) and `signing` as its
/// `[zone.signing]` section.
fn config(d: &Dir, signing: &str) -> ZoneConfig {
    let path = d.dir.path().join("mail.pem");
    if !path.exists() {
        std::fs::write(&path, test_certificate("p256.pem")).unwrap();
    }
    let text = format!(
        "version = \"v1\"\n[[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n\
         [[zone.tlsa]]\nname = \"mail\"\ncertificate = \"mail.pem\"\n\
         names = [\"_25._tcp.mail\"]\n[zone.signing]\n{signing}\n"
    );
    let config = Config::parse(&text, &d.dir.path().join("daned.toml")).unwrap();
    config.zones[0].clone()
}

fn start(d: &Dir, signing: &str, now: u32) -> ZoneRuntime {
    d.start_zone(config(d, signing), now).unwrap()
}

/// Every record of the served version, RRSIGs included, in the order a transfer sends them.
fn records(rt: &ZoneRuntime) -> Vec<Record> {
    rt.signed().records().cloned().collect()
}

fn rrsigs(rt: &ZoneRuntime) -> Vec<Record> {
    records(rt)
        .into_iter()
        .filter(|r| r.record_type() == RecordType::RRSIG)
        .collect()
}

fn tlsa_owner() -> Name {
    Name::from_ascii("_25._tcp.mail.example.com.").unwrap()
}

/// RFC 4035 §5.3.1: a validator checks each RRSIG's inception and expiration; a restart at
/// an unchanged serial serves the very signatures of before (ECDSA signatures are randomised,
/// so equal bytes mean nothing was signed again), and the journal goes on from that serial.
#[test]
fn rfc4035_s5_3_1_restart_with_unchanged_content_serves_the_same_rrsigs() {
    let d = Dir::new();
    let first = start(&d, "", NOW);
    assert!(!first.resumed(), "a first start signs");
    assert!(signed_path(&d.state(), &origin()).is_file(), "kept at once");
    let before = records(&first);
    let serial = first.signed().serial();
    let first_signed = Arc::clone(first.signed());
    drop(first);

    let mut again = start(&d, "", NOW + 3600);
    assert!(again.resumed(), "{:?}", again.not_resumed());
    assert_eq!(again.signed().serial(), serial);
    assert!(again.take_start_deltas().is_empty(), "no new version");
    assert_eq!(records(&again), before, "byte-identical records and RRSIGs");
    assert!(
        again.signed().nodes().eq(first_signed.nodes()),
        "the same nodes, of the same kinds"
    );
    assert_eq!(
        again.next_refresh_at(),
        Some(
            again
                .earliest_expiration()
                .unwrap()
                .wrapping_sub(again.config().signing.policy.refresh)
                .wrapping_add(1)
        ),
        "the refresh schedule carries on from the kept signatures"
    );
}

/// RFC 1995 §4: a certificate changed while daned was stopped is one new version on top of
/// the kept one (serial + 1), whose delta is exactly the difference, so an IXFR from the old
/// serial works; the RRSIGs of everything else stay those of before.
#[test]
fn rfc1995_s4_certificate_changed_while_stopped_is_one_delta_on_top() {
    let d = Dir::new();
    let first = start(&d, "", NOW);
    let old_serial = first.signed().serial();
    let before = records(&first);
    drop(first);
    std::fs::write(
        d.dir.path().join("mail.pem"),
        test_certificate("rsa2048.pem"),
    )
    .unwrap();

    let mut rt = start(&d, "", NOW + 60);
    assert!(rt.resumed(), "{:?}", rt.not_resumed());
    let deltas = rt.take_start_deltas();
    let [delta] = deltas.as_slice() else {
        panic!("one delta: {deltas:?}");
    };
    assert_eq!(delta.from_serial, old_serial);
    assert_eq!(delta.to_serial, old_serial.wrapping_add(1));
    assert_eq!(rt.signed().serial(), delta.to_serial);
    assert!(
        delta
            .added
            .iter()
            .any(|r| r.name == tlsa_owner() && r.record_type() == RecordType::TLSA)
    );
    // The old version with the delta applied is the new one.
    let mut expected: Vec<Record> = before
        .iter()
        .filter(|r| !delta.removed.contains(r))
        .cloned()
        .chain(delta.added.iter().cloned())
        .collect();
    let mut now_served = records(&rt);
    expected.sort();
    now_served.sort();
    assert_eq!(now_served, expected);
    // The state says the new serial.
    let saved = state::load(&d.state(), &origin()).unwrap().unwrap();
    assert_eq!(saved.serial, delta.to_serial);
}

/// A version published after the snapshot is rebuilt from the snapshot and the journal's
/// deltas; without the journal the chain is broken and the zone is signed whole.
#[test]
fn restart_replays_the_journal_onto_the_snapshot() {
    let d = Dir::new();
    let rng = SystemRandom::new();
    let mut rt = start(&d, "", NOW);
    let kept_serial = rt.signed().serial();
    std::fs::write(d.dir.path().join("mail.pem"), test_certificate("p384.pem")).unwrap();
    let delta = rt
        .update_bindings(NOW + 10, &rng)
        .unwrap()
        .expect("a change");
    // What the manager does before it publishes.
    let mut journal = Journal::new(rt.config().journal);
    journal.push(delta).unwrap();
    journal::store(&d.state(), &origin(), &journal).unwrap();
    let published = records(&rt);
    let serial = rt.signed().serial();
    assert_ne!(serial, kept_serial);
    drop(rt);

    let again = start(&d, "", NOW + 20);
    assert!(again.resumed(), "{:?}", again.not_resumed());
    assert_eq!(again.signed().serial(), serial);
    let (mut got, mut want) = (records(&again), published);
    got.sort();
    want.sort();
    assert_eq!(got, want, "the version published last, RRSIGs and all");
    drop(again);

    std::fs::remove_file(journal::journal_path(&d.state(), &origin())).unwrap();
    let whole = start(&d, "", NOW + 30);
    assert!(!whole.resumed());
    assert!(
        matches!(
            whole.not_resumed(),
            Some(NotResumed::File(SignedFileError::NoChain { from, to, .. }))
                if *from == kept_serial && *to == serial
        ),
        "{:?}",
        whole.not_resumed()
    );
    assert_eq!(
        whole.signed().serial(),
        serial,
        "content unchanged: same serial"
    );
}

/// RFC 5155 §7.1: a zone switched from NSEC to NSEC3 while stopped is not served from the
/// NSEC version: it is signed whole (with NSEC3PARAM at the apex), and says why.
#[test]
fn rfc5155_s7_1_restart_with_nsec3_instead_of_nsec_signs_whole() {
    let d = Dir::new();
    let first = start(&d, "", NOW);
    let old = rrsigs(&first);
    drop(first);
    let rt = start(&d, "denial = \"nsec3\"", NOW + 60);
    assert!(!rt.resumed());
    assert!(
        matches!(rt.not_resumed(), Some(NotResumed::OtherPolicy)),
        "{:?}",
        rt.not_resumed()
    );
    let apex = rt.signed().node(&origin()).unwrap();
    assert!(apex.get(RecordType::NSEC3PARAM).is_some());
    assert!(apex.get(RecordType::NSEC).is_none());
    assert!(rrsigs(&rt).iter().all(|r| !old.contains(r)));
    let signed = Arc::clone(rt.signed());
    drop(rt);
    // The new version is kept in turn: the next start serves it, node for node (each NSEC3
    // alone at its hashed owner, RFC 5155 §7.2.8) and with the same NSEC3 owners in hash order.
    let rt = start(&d, "denial = \"nsec3\"", NOW + 120);
    assert!(rt.resumed(), "{:?}", rt.not_resumed());
    assert!(rt.signed().nodes().eq(signed.nodes()));
    assert!(rt.signed().nsec3_owners().eq(signed.nsec3_owners()));
    assert!(signed.nsec3_owners().next().is_some());
}

/// A damaged kept file is never served: the start signs whole, says which file and why, and
/// keeps the new version.
#[test]
fn damaged_kept_file_signs_whole_and_names_the_file() {
    let d = Dir::new();
    let first = start(&d, "", NOW);
    let serial = first.signed().serial();
    let old = rrsigs(&first);
    drop(first);
    let path = signed_path(&d.state(), &origin());
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let rt = start(&d, "", NOW + 60);
    assert!(!rt.resumed());
    let why = rt.not_resumed().expect("a reason");
    assert!(
        matches!(why, NotResumed::File(SignedFileError::Damaged { .. })),
        "{why}"
    );
    assert!(
        why.to_string().contains(&path.display().to_string()),
        "{why}"
    );
    assert_eq!(rt.signed().serial(), serial);
    assert!(rrsigs(&rt).iter().all(|r| !old.contains(r)), "signed again");
    // Rewritten: loadable again.
    assert!(
        crate::zone::persist::signed::load(&d.state(), &origin())
            .unwrap()
            .is_some()
    );
}

/// RFC 4035 §5.3.1 ("the validator's notion of the current time MUST be less than or equal to
/// the time listed in the RRSIG RR's Expiration field"): a restart after the refresh point
/// passed while stopped renews the due signatures before serving (serial + 1); a restart after
/// they expired too serves none of them.
#[test]
fn rfc4035_s5_3_1_restart_after_the_refresh_point_renews_before_serving() {
    let d = Dir::new();
    let first = start(&d, "", NOW);
    let serial = first.signed().serial();
    let refresh_at = first.next_refresh_at().unwrap();
    let expires = first.earliest_expiration().unwrap();
    drop(first);

    // The state directory as the first start left it, put back before each case.
    let saved: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(d.state())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    for (later, what) in [
        (refresh_at + 60, "refresh point"),
        (expires + 86_400, "expired"),
    ] {
        for (path, bytes) in &saved {
            std::fs::write(path, bytes).unwrap();
        }
        let mut rt = start(&d, "", later);
        assert!(rt.resumed(), "{what}: {:?}", rt.not_resumed());
        let deltas = rt.take_start_deltas();
        let [delta] = deltas.as_slice() else {
            panic!("{what}: one refresh: {deltas:?}");
        };
        assert_eq!(delta.from_serial, serial);
        assert_eq!(rt.signed().serial(), delta.to_serial);
        assert!(serial_gt(delta.to_serial, serial));
        assert!(
            serial_gt(rt.next_refresh_at().unwrap(), later),
            "{what}: nothing due any more"
        );
        assert!(serial_gt(rt.earliest_expiration().unwrap(), later));
    }
}

/// The kept version is written again before it leaves the journal: once more than half of the
/// journal's delta bound lies after it, or when the chain from it breaks; not while the
/// journal still leads from it to the served serial.
#[test]
fn snapshot_is_due_before_the_kept_serial_leaves_the_journal() {
    let d = Dir::new();
    let rng = SystemRandom::new();
    let mut rt = start(&d, "", NOW);
    let limits = crate::config::JournalLimits {
        max_deltas: 4,
        max_bytes: usize::MAX,
    };
    let mut journal = Journal::new(limits);
    assert!(!rt.snapshot_due(&journal), "kept at the served serial");
    let certs = ["p384.pem", "rsa2048.pem", "ed25519.pem"];
    for (i, cert) in certs.iter().enumerate() {
        std::fs::write(d.dir.path().join("mail.pem"), test_certificate(cert)).unwrap();
        let delta = rt
            .update_bindings(NOW + 10 * (i as u32 + 1), &rng)
            .unwrap()
            .expect("a change");
        journal.push(delta).unwrap();
        // 1 and 2 deltas after the kept serial are within half of 4; the third is not.
        assert_eq!(rt.snapshot_due(&journal), i == 2, "after {} deltas", i + 1);
    }
    let fingerprint = rt.kept.unwrap().1;
    rt.snapshot_written(rt.signed().serial(), fingerprint);
    assert!(!rt.snapshot_due(&journal));
    // A journal that no longer leads from the kept serial (cleared by a denial switch, or a
    // failed write) asks for a new snapshot at once.
    let kept_serial = rt.signed().serial();
    std::fs::write(d.dir.path().join("mail.pem"), test_certificate("ee.pem")).unwrap();
    rt.update_bindings(NOW + 100, &rng)
        .unwrap()
        .expect("a change");
    journal.clear();
    assert!(rt.snapshot_due(&journal), "chain from {kept_serial} broken");
}
