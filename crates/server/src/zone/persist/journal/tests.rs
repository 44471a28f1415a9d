//! Journal bounds, chaining, and the file format.

use std::str::FromStr;

use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::{A, SOA};

use super::*;

pub(crate) fn name(text: &str) -> Name {
    Name::from_str(text).expect("test name parses")
}

/// The SOA of `origin` at `serial`.
pub(crate) fn soa(origin: &str, serial: u32) -> Record {
    let origin = name(origin);
    Record::from_rdata(
        origin.clone(),
        3600,
        RData::SOA(SOA::new(
            name("ns").append_domain(&origin).expect("fits"),
            name("hostmaster").append_domain(&origin).expect("fits"),
            serial,
            7200,
            3600,
            1_209_600,
            300,
        )),
    )
}

/// An A record `host.<origin>` with address 192.0.2.`octet`.
pub(crate) fn a(origin: &str, host: &str, octet: u8) -> Record {
    let owner = name(host).append_domain(&name(origin)).expect("fits");
    Record::from_rdata(owner, 300, RData::A(A::new(192, 0, 2, octet)))
}

/// A delta of `origin` from `from` to `to` that replaces `www`'s address `from % 250` with
/// `to % 250`, with the SOAs among the records as the signer produces them.
pub(crate) fn delta(origin: &str, from: u32, to: u32) -> ZoneDelta {
    let octet = |s: u32| u8::try_from(s % 250).expect("below 250");
    ZoneDelta {
        from_serial: from,
        to_serial: to,
        removed: vec![soa(origin, from), a(origin, "www", octet(from))],
        added: vec![soa(origin, to), a(origin, "www", octet(to))],
    }
}

fn limits(max_deltas: usize, max_bytes: usize) -> JournalLimits {
    JournalLimits {
        max_deltas,
        max_bytes,
    }
}

#[test]
fn count_bound_drops_the_oldest() {
    let mut journal = Journal::new(limits(3, usize::MAX));
    for serial in 1..=5 {
        journal.push(delta("t.", serial, serial + 1)).expect("push");
    }
    assert_eq!(journal.len(), 3);
    assert_eq!(journal.first_serial(), Some(3));
    assert_eq!(journal.last_serial(), Some(6));
    assert!(journal.chain_from(2).is_none());
    let chain: Vec<u32> = journal
        .chain_from(4)
        .expect("chain")
        .map(|d| d.from_serial)
        .collect();
    assert_eq!(chain, [4, 5]);
    assert!(
        journal.chain_from(6).is_none(),
        "the newest serial starts no delta"
    );
}

#[test]
fn byte_bound_drops_the_oldest() {
    let one = encode_entry(&delta("t.", 1, 2)).expect("encodes").len();
    let mut journal = Journal::new(limits(1000, 2 * one + one / 2));
    for serial in 1..=5 {
        journal.push(delta("t.", serial, serial + 1)).expect("push");
    }
    assert_eq!(journal.len(), 2);
    assert!(journal.bytes() <= 2 * one + one / 2);
    assert_eq!(journal.first_serial(), Some(4));
    // A single delta over the byte bound leaves nothing rather than a broken chain.
    let mut tiny = Journal::new(limits(1000, 10));
    tiny.push(delta("t.", 1, 2)).expect("push");
    assert!(tiny.is_empty());
    assert_eq!(tiny.bytes(), 0);
}

#[test]
fn a_delta_that_does_not_chain_on_clears_the_older_ones() {
    let mut journal = Journal::new(JournalLimits::default());
    journal.push(delta("t.", 1, 2)).expect("push");
    journal.push(delta("t.", 2, 3)).expect("push");
    journal.push(delta("t.", 7, 8)).expect("push");
    assert_eq!(journal.len(), 1);
    assert_eq!(journal.first_serial(), Some(7));
    assert!(journal.chain_from(1).is_none());
}

#[test]
fn persistence_round_trip_through_the_state_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = name("example.");
    let mut journal = Journal::new(JournalLimits::default());
    for serial in 10..13 {
        journal
            .push(delta("example.", serial, serial + 1))
            .expect("push");
    }
    store(dir.path(), &origin, &journal).expect("store");
    assert_eq!(
        journal_path(dir.path(), &origin),
        dir.path().join("example.journal")
    );
    let loaded = load(dir.path(), &origin, 13, JournalLimits::default());
    assert_eq!(loaded.len(), 3);
    let want: Vec<&ZoneDelta> = journal.deltas().collect();
    let got: Vec<&ZoneDelta> = loaded.deltas().collect();
    assert_eq!(got, want);
    assert_eq!(loaded.bytes(), journal.bytes());
    // The loaded journal goes on chaining.
    let mut loaded = loaded;
    loaded.push(delta("example.", 13, 14)).expect("push");
    assert_eq!(loaded.len(), 4);
}

#[test]
fn missing_file_is_an_empty_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = load(dir.path(), &name("example."), 5, JournalLimits::default());
    assert!(journal.is_empty());
}

/// Issue 11 (a journal discarded whole after `kill -9`): a journal that ends before the zone's
/// serial (the state file is written first, so a crash between the two writes leaves the
/// journal one delta behind) is kept whole; deltas leading past the zone's serial (never
/// published) are cut, so no IXFR answer ever leads to a version that was not served.
#[test]
fn journal_behind_the_zone_serial_is_kept_and_past_it_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = name("example.");
    let mut journal = Journal::new(JournalLimits::default());
    for serial in 1..4 {
        journal
            .push(delta("example.", serial, serial + 1))
            .expect("push");
    }
    store(dir.path(), &origin, &journal).expect("store");
    let behind = load(dir.path(), &origin, 5, JournalLimits::default());
    assert_eq!(behind.len(), 3, "kept whole");
    assert_eq!(behind.last_serial(), Some(4));
    let cut = load(dir.path(), &origin, 3, JournalLimits::default());
    assert_eq!(cut.len(), 2, "the delta 3 -> 4 was never published");
    assert_eq!(cut.last_serial(), Some(3));
    assert_eq!(
        load(dir.path(), &origin, 4, JournalLimits::default()).len(),
        3
    );
}

#[test]
fn truncated_last_entry_keeps_the_intact_prefix() {
    let mut journal = Journal::new(JournalLimits::default());
    for serial in 1..4 {
        journal.push(delta("t.", serial, serial + 1)).expect("push");
    }
    let bytes = journal.encode();
    let (whole, damaged) = Journal::decode(&bytes, JournalLimits::default()).expect("magic");
    assert!(!damaged);
    assert_eq!(whole.len(), 3);
    // Every cut inside the last entry leaves the first two.
    let last = encode_entry(&delta("t.", 3, 4)).expect("encodes").len();
    for cut in 1..last {
        let (partial, damaged) =
            Journal::decode(&bytes[..bytes.len() - cut], JournalLimits::default()).expect("magic");
        assert!(damaged, "cut {cut}");
        assert_eq!(partial.last_serial(), Some(3), "cut {cut}");
    }
    // A flipped byte in the last entry is caught by the check value.
    let mut flipped = bytes.clone();
    let at = flipped.len() - CHECK_LEN - 3;
    flipped[at] ^= 0x40;
    let (partial, damaged) = Journal::decode(&flipped, JournalLimits::default()).expect("magic");
    assert!(damaged);
    assert_eq!(partial.len(), 2);
    // On disk: a truncated file loads its intact prefix, cut at the torn tail, never dropped
    // whole (it ends before the zone's serial 4: kept, unused by IXFR until it chains again).
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = name("t.");
    fs::write(journal_path(dir.path(), &origin), &bytes[..bytes.len() - 5]).expect("write");
    assert_eq!(
        load(dir.path(), &origin, 3, JournalLimits::default()).len(),
        2
    );
    let torn = load(dir.path(), &origin, 4, JournalLimits::default());
    assert_eq!(torn.len(), 2);
    assert_eq!(torn.last_serial(), Some(3));
}

#[test]
fn other_version_or_garbage_is_refused() {
    assert!(Journal::decode(b"DANEDJ2\n", JournalLimits::default()).is_none());
    assert!(Journal::decode(b"", JournalLimits::default()).is_none());
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = name("t.");
    fs::write(journal_path(dir.path(), &origin), b"garbage").expect("write");
    assert!(load(dir.path(), &origin, 1, JournalLimits::default()).is_empty());
}
