//! The kept signed zone's file format: round trip, journal replay, and every damage refused
//! with a typed error naming the file.

use super::*;
use crate::zone::persist::journal::tests::{a, delta, name, soa};

/// A small zone at `serial`: SOA, NS and a few addresses (no signatures are needed to test
/// the file format; the zone tests keep real signed versions).
fn zone(serial: u32) -> SignedZone {
    let mut records = vec![soa("example.", serial)];
    records.push(Record::from_rdata(
        name("example."),
        3600,
        hickory_proto::rr::RData::NS(hickory_proto::rr::rdata::NS(name("ns.example."))),
    ));
    records.push(a("example.", "ns", 1));
    records.push(a(
        "example.",
        "www",
        u8::try_from(serial % 250).expect("small"),
    ));
    SignedZone::from_records(&name("example."), records).expect("zone")
}

fn records(zone: &SignedZone) -> Vec<Record> {
    zone.records().cloned().collect()
}

const FP: Fingerprint = [7; 32];

#[test]
fn round_trip_keeps_serial_records_and_fingerprint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zone = zone(10);
    store(dir.path(), &zone, &FP).expect("store");
    assert_eq!(
        signed_path(dir.path(), &name("example.")),
        dir.path().join("example.signed")
    );
    let kept = load(dir.path(), &name("example."))
        .expect("load")
        .expect("present");
    assert_eq!(kept.serial, 10);
    assert_eq!(kept.fingerprint, FP);
    let back = kept.into_zone(10, []).expect("zone");
    assert_eq!(records(&back), records(&zone));
    assert_eq!(back.serial(), 10);
}

#[test]
fn missing_file_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(load(dir.path(), &name("example.")).expect("load").is_none());
}

/// RFC 1995 §4: a journal's deltas applied in order to the snapshot give the newest version;
/// a chain that does not start at the snapshot or end at the serial wanted is refused.
#[test]
fn journal_chain_replays_onto_the_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    store(dir.path(), &zone(10), &FP).expect("store");
    let chain = [delta("example.", 10, 11), delta("example.", 11, 12)];
    let load = || {
        load(dir.path(), &name("example."))
            .expect("load")
            .expect("present")
    };
    let replayed = load().into_zone(12, &chain).expect("replayed");
    assert_eq!(replayed.serial(), 12);
    let mut got = records(&replayed);
    let mut want = records(&zone(12));
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(matches!(
        load().into_zone(13, &chain),
        Err(SignedFileError::NoChain {
            from: 10,
            to: 13,
            ..
        })
    ));
    assert!(matches!(
        load().into_zone(12, &chain[1..]),
        Err(SignedFileError::NoChain { .. })
    ));
    // A delta that removes what the snapshot lacks does not apply to it.
    let mut wrong = delta("example.", 10, 11);
    wrong.removed.push(a("example.", "mail", 9));
    let err = load().into_zone(11, [&wrong]).expect_err("mismatch");
    assert!(matches!(
        err,
        SignedFileError::ChainMismatch { serial: 10, .. }
    ));
}

fn assert_names_file(err: &SignedFileError, dir: &Path) {
    let text = err.to_string();
    assert!(
        text.contains(&dir.join("example.signed").display().to_string()),
        "{text}"
    );
}

#[test]
fn truncated_file_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = encode(Path::new("x"), &zone(10), &FP).expect("encode");
    let path = signed_path(dir.path(), &name("example."));
    for cut in [
        1,
        5,
        CHECK_LEN,
        bytes.len() / 2,
        bytes.len() - MAGIC.len() - 1,
    ] {
        fs::write(&path, &bytes[..bytes.len() - cut]).expect("write");
        let err = load(dir.path(), &name("example.")).expect_err("refused");
        assert!(
            matches!(
                err,
                SignedFileError::Damaged { .. } | SignedFileError::Truncated { .. }
            ),
            "cut {cut}: {err}"
        );
        assert_names_file(&err, dir.path());
    }
    fs::write(&path, &MAGIC[..3]).expect("write");
    assert!(matches!(
        load(dir.path(), &name("example.")),
        Err(SignedFileError::Truncated { .. })
    ));
}

#[test]
fn damaged_byte_is_refused_by_the_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = encode(Path::new("x"), &zone(10), &FP).expect("encode");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    fs::write(signed_path(dir.path(), &name("example.")), &bytes).expect("write");
    let err = load(dir.path(), &name("example.")).expect_err("refused");
    assert!(matches!(err, SignedFileError::Damaged { .. }), "{err}");
    assert_names_file(&err, dir.path());
}

#[test]
fn wrong_magic_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = encode(Path::new("x"), &zone(10), &FP).expect("encode");
    // Another version of the format.
    bytes[6] = b'2';
    fs::write(signed_path(dir.path(), &name("example.")), &bytes).expect("write");
    let err = load(dir.path(), &name("example.")).expect_err("refused");
    assert!(matches!(err, SignedFileError::BadMagic { .. }), "{err}");
    assert_names_file(&err, dir.path());
}

#[test]
fn file_of_another_zone_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // example.net's file copied over example.'s.
    let other =
        SignedZone::from_records(&name("example.net."), [soa("example.net.", 3)]).expect("zone");
    let bytes = encode(Path::new("x"), &other, &FP).expect("encode");
    fs::write(signed_path(dir.path(), &name("example.")), &bytes).expect("write");
    let err = load(dir.path(), &name("example.")).expect_err("refused");
    match &err {
        SignedFileError::WrongOrigin {
            found, expected, ..
        } => {
            assert_eq!(found, &name("example.net."));
            assert_eq!(expected, &name("example."));
        }
        other => panic!("not WrongOrigin: {other}"),
    }
    assert_names_file(&err, dir.path());
}
