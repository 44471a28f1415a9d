//! Transfer message cutting and ACL decisions.

use std::path::Path;

use hickory_proto::rr::RecordType;

use super::*;
use crate::serve::query::tests::{example_zone, parse_zone};

#[test]
fn rfc5936_s2_2_soa_first_and_last_every_record_once() {
    // RFC 5936 §2.2: "The first message MUST begin with the SOA resource record of the zone,
    // and the last message MUST conclude with the same SOA resource record. Intermediate
    // messages MUST NOT contain the SOA resource record."
    let zone = example_zone();
    let all: Vec<&Record> = transfer_messages(&zone).flatten().collect();
    let soa = zone.soa().expect("has a SOA").rrset.records()[0].clone();
    assert_eq!(*all[0], soa);
    assert_eq!(**all.last().expect("records"), soa);
    let soas = all
        .iter()
        .filter(|r| r.record_type() == RecordType::SOA)
        .count();
    assert_eq!(soas, 2);
    // Every record of the snapshot once (RRSIG, NSEC, DNSKEY, glue included), in order.
    let expected: Vec<&Record> = zone.records().collect();
    assert_eq!(all[..all.len() - 1], expected[..]);
    for rtype in [RecordType::RRSIG, RecordType::NSEC, RecordType::NS] {
        assert!(all.iter().any(|r| r.record_type() == rtype), "{rtype}");
    }
}

#[test]
fn rfc5936_s2_2_large_zone_is_cut_into_bounded_messages() {
    let mut text = String::from(
        "big.test. 3600 IN SOA ns.big.test. h.big.test. 1 7200 3600 1209600 300\n\
         big.test. 3600 IN NS ns.big.test.\nns.big.test. 3600 IN A 192.0.2.1\n",
    );
    for i in 0..5000 {
        text.push_str(&format!(
            "host{i}.big.test. 3600 IN TXT \"some text for {i}\"\n"
        ));
    }
    let zone = parse_zone(&text, "big.test.");
    let messages: Vec<Vec<&Record>> = transfer_messages(&zone).collect();
    assert!(messages.len() > 5, "{} messages", messages.len());
    let total: usize = messages.iter().map(Vec::len).sum();
    assert_eq!(total, zone.records().count() + 1);
    for message in &messages {
        assert!(!message.is_empty());
        let mut buf = Vec::new();
        let mut encoder = BinEncoder::new(&mut buf);
        for record in message {
            record.emit(&mut encoder).expect("encodes");
        }
        // Uncompressed, each message stays within the target plus one record.
        assert!(buf.len() <= MESSAGE_TARGET + 512, "{}", buf.len());
    }
}

fn policy(zone_extra: &str) -> TransferPolicy {
    let text = format!(
        "version = \"v1\"\n[[tsig-key]]\nname = \"k1\"\nalgorithm = \"hmac-sha256\"\n\
         secret = \"c2VjcmV0\"\n[[tsig-key]]\nname = \"k2\"\nalgorithm = \"hmac-sha512\"\n\
         secret = \"c2VjcmV0\"\n[[zone]]\norigin = \"example.\"\nfile = \"z\"\n{zone_extra}\n"
    );
    let config = Config::parse(&text, Path::new("/etc/daned.toml")).expect("valid");
    TransferPolicy::from_config(&config)
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("valid ip")
}

#[test]
fn rfc5936_s6_acl_needs_prefix_and_key() {
    // RFC 5936 §6: "the primary server MUST be configured to restrict zone transfers to
    // specific peers and/or TSIG keys".
    let zone = Name::from_ascii("example.").expect("name");
    let k1 = Name::from_ascii("K1.").expect("name");
    let k2 = Name::from_ascii("k2.").expect("name");
    let nobody = policy("");
    assert!(!nobody.allowed(&zone, ip("127.0.0.1"), Some(&k1)));

    let p = policy(
        "allow-transfer = [{ prefix = \"127.0.0.0/8\", tsig-key = \"k1\" }, { prefix = \"::1\" }]\n\
         [[zone.secondary]]\naddress = \"192.0.2.53:53\"\ntsig-key = \"k2\"\n",
    );
    assert!(p.allowed(&zone, ip("127.0.0.9"), Some(&k1)));
    assert!(!p.allowed(&zone, ip("127.0.0.9"), None));
    assert!(!p.allowed(&zone, ip("127.0.0.9"), Some(&k2)));
    assert!(p.allowed(&zone, ip("::1"), None));
    assert!(!p.allowed(&zone, ip("::2"), None));
    // The secondary's own address, with its key only.
    assert!(p.allowed(&zone, ip("192.0.2.53"), Some(&k2)));
    assert!(!p.allowed(&zone, ip("192.0.2.53"), None));
    assert!(!p.allowed(&zone, ip("192.0.2.54"), Some(&k2)));
    // Another zone: nobody.
    let other = Name::from_ascii("other.").expect("name");
    assert!(!p.allowed(&other, ip("127.0.0.1"), Some(&k1)));
}

mod ixfr {
    use super::*;
    use crate::zone::persist::journal::tests::{a, delta, soa};
    use crate::zone::persist::journal::{Journal, JournalLimits};

    /// `ix.test.` at `serial`, with the SOA the journal helpers build and `www` at the address
    /// the last of their deltas leaves.
    fn zone_at(serial: u32) -> SignedZone {
        let octet = serial % 250;
        parse_zone(
            &format!(
                "ix.test. 3600 IN SOA ns.ix.test. hostmaster.ix.test. {serial} 7200 3600 1209600 300\n\
                 ix.test. 3600 IN NS ns.ix.test.\n\
                 ns.ix.test. 3600 IN A 192.0.2.200\n\
                 www.ix.test. 300 IN A 192.0.2.{octet}\n"
            ),
            "ix.test.",
        )
    }

    fn journal(from: u32, to: u32) -> Journal {
        let mut journal = Journal::new(JournalLimits::default());
        for serial in from..to {
            journal
                .push(delta("ix.test.", serial, serial + 1))
                .expect("push");
        }
        journal
    }

    #[test]
    fn rfc1995_s2_current_serial_gets_the_condensed_answer() {
        // RFC 1995 §2: "If an IXFR query with the same or newer version number than that of
        // the server is received, it is replied to with a single SOA record of the server's
        // current version, just as in AXFR."
        let zone = zone_at(13);
        let journal = journal(10, 13);
        let IxfrAnswer::Condensed(got) = ixfr_messages(&zone, &journal, 13) else {
            panic!("expected the condensed answer");
        };
        assert_eq!(*got, zone.soa().expect("soa").rrset.records()[0]);
    }

    #[test]
    fn rfc1995_s2_newer_serial_gets_the_condensed_answer() {
        // Same sentence: a client "newer" than us (RFC 1982) gets our SOA alone.
        let zone = zone_at(13);
        let journal = journal(10, 13);
        for client in [14, 13 + 0x7fff_ffff] {
            assert!(
                matches!(
                    ixfr_messages(&zone, &journal, client),
                    IxfrAnswer::Condensed(_)
                ),
                "{client}"
            );
        }
    }

    #[test]
    fn rfc1995_s4_chain_of_three_deltas() {
        // RFC 1995 §4: "the first and the last RR of the response is the SOA record of the
        // zone"; "Each difference sequence represents one update to the zone (one SOA serial
        // change) consisting of deleted RRs and added RRs. The first RR of the deleted RRs is
        // the older SOA RR and the first RR of the added RRs is the newer SOA RR."
        let zone = zone_at(13);
        let journal = journal(10, 13);
        let IxfrAnswer::Incremental(messages) = ixfr_messages(&zone, &journal, 10) else {
            panic!("expected an incremental answer");
        };
        let got: Vec<Record> = messages.into_iter().flatten().cloned().collect();
        let mut want = vec![soa("ix.test.", 13)];
        for serial in 10..13 {
            let o = |s: u32| u8::try_from(s).expect("small");
            want.extend([
                soa("ix.test.", serial),
                a("ix.test.", "www", o(serial)),
                soa("ix.test.", serial + 1),
                a("ix.test.", "www", o(serial + 1)),
            ]);
        }
        want.push(soa("ix.test.", 13));
        assert_eq!(got, want);
        // From the middle of the chain: only the later differences.
        let IxfrAnswer::Incremental(messages) = ixfr_messages(&zone, &journal, 12) else {
            panic!("expected an incremental answer");
        };
        assert_eq!(messages.flatten().count(), 6);
    }

    #[test]
    fn rfc1995_s4_unknown_serial_gets_a_full_transfer() {
        // RFC 1995 §4: "If incremental zone transfer is not available, the entire zone is
        // returned. The first and the last RR of the response is the SOA record of the zone."
        let zone = zone_at(13);
        let journal = journal(10, 13);
        for client in [9, 5, 14 + 0x8000_0000] {
            let IxfrAnswer::Full(messages) = ixfr_messages(&zone, &journal, client) else {
                panic!("{client}: expected a full transfer");
            };
            let got: Vec<Vec<&Record>> = messages.collect();
            let want: Vec<Vec<&Record>> = transfer_messages(&zone).collect();
            assert_eq!(got, want, "{client}");
        }
    }

    #[test]
    fn journal_not_ending_at_the_snapshot_gives_a_full_transfer() {
        // Never a wrong diff: a journal for another version of the zone is not used.
        let zone = zone_at(13);
        for journal in [
            journal(10, 12),
            journal(10, 14),
            Journal::new(JournalLimits::default()),
        ] {
            assert!(
                matches!(ixfr_messages(&zone, &journal, 10), IxfrAnswer::Full(_)),
                "{:?}",
                journal.last_serial()
            );
        }
        // A delta without the SOAs cannot be sent as a difference sequence.
        let mut broken = Journal::new(JournalLimits::default());
        let mut d = delta("ix.test.", 12, 13);
        d.removed.retain(|r| r.record_type() != RecordType::SOA);
        broken.push(d).expect("push");
        assert!(matches!(
            ixfr_messages(&zone, &broken, 12),
            IxfrAnswer::Full(_)
        ));
    }
}

#[test]
fn rfc5936_s2_2_messages_are_cut_one_at_a_time() {
    // A transfer starts at once and holds one message at a time: cutting the first message
    // reads only its records and the one that did not fit, whatever the zone's size.
    use std::sync::atomic::{AtomicUsize, Ordering};

    let mut text = String::from(
        "big.test. 3600 IN SOA ns.big.test. h.big.test. 1 7200 3600 1209600 300\n\
         big.test. 3600 IN NS ns.big.test.\nns.big.test. 3600 IN A 192.0.2.1\n",
    );
    for i in 0..5000 {
        text.push_str(&format!("host{i}.big.test. 3600 IN TXT \"text {i}\"\n"));
    }
    let zone = parse_zone(&text, "big.test.");
    let read = AtomicUsize::new(0);
    let mut messages = TransferMessages::new(zone.records().inspect(|_| {
        read.fetch_add(1, Ordering::Relaxed);
    }));
    let first = messages.next().expect("a first message");
    assert!(first.len() > 10, "{}", first.len());
    assert_eq!(read.load(Ordering::Relaxed), first.len() + 1);
    let second = messages.next().expect("a second message");
    assert_eq!(read.load(Ordering::Relaxed), first.len() + second.len() + 1);
    let rest: usize = messages.map(|m| m.len()).sum();
    assert_eq!(first.len() + second.len() + rest, zone.records().count());
    assert_eq!(read.load(Ordering::Relaxed), zone.records().count());
}
