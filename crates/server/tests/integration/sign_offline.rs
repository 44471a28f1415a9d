//! `daned sign`: the streamed full signer writes a whole zone whose every signature verifies,
//! with the content of the file it read, and nothing at all when it fails (issue 10 item 4).

use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::Path;
use std::process::Command;

use daned::zone::zonefile::{self, ZoneLimits};
use daned_sign::hickory_proto::dnssec::rdata::DNSSECRData;
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::validate::validate_sample;
use daned_sign::zone::is_signer_owned;

use crate::support::daned_bin;

/// A zone of a few hundred names: addresses, TLSA under empty non-terminals, a delegation
/// with glue, a wildcard. More nodes than one of the signer's chunks, so two threads work.
fn zone_text() -> String {
    let mut text = String::from(
        "$ORIGIN example.\n$TTL 3600\n\
         @ IN SOA ns1 hostmaster 7 3600 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\n\
         sub IN NS ns.sub\nns.sub IN A 192.0.2.2\n*.wild IN TXT \"wild\"\n",
    );
    for i in 0..300 {
        let _ = writeln!(text, "host{i} IN A 10.0.{}.{}", i / 250, i % 250);
        if i % 4 == 0 {
            let _ = writeln!(
                text,
                "_25._tcp.host{i} IN TLSA 3 1 1 23b8c1e9392456de3eb13b9046685257bdd640fb06671ad11c80317fa3b1799d"
            );
        }
    }
    text
}

fn sign(dir: &Path, zone: &str, extra: &[&str]) -> std::process::Output {
    let input = dir.join("in.zone");
    std::fs::write(&input, zone).expect("write the zone");
    let mut cmd = Command::new(daned_bin());
    cmd.arg("sign")
        .arg("--zone")
        .arg(&input)
        .args(["--origin", "example.", "--threads", "2"])
        .arg("--out")
        .arg(dir.join("out.zone"))
        .args(extra);
    cmd.output().expect("run daned sign")
}

/// RFC 4035 §2.2 and §5.3: every authoritative RRset of the written zone is signed and every
/// signature verifies with its DNSKEYs; the NSEC or NSEC3 chain links every name (RFC 4035
/// §2.3, RFC 5155 §7.1); the content is the file's.
fn check_signed(extra: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = zone_text();
    let out = sign(dir.path(), &text, extra);
    assert!(
        out.status.success(),
        "daned sign {extra:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let origin = Name::from_ascii("example.").expect("origin");
    let limits = ZoneLimits::default();
    let signed = zonefile::load_signed(&dir.path().join("out.zone"), &origin, &limits)
        .expect("the written zone reads back");
    // Judged at the signatures' own inception plus an hour: no clock in the test.
    let inception = signed
        .soa()
        .and_then(|s| s.rrsigs.first())
        .and_then(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().sig_inception.get()),
            _ => None,
        })
        .expect("a signed SOA");
    validate_sample(
        &signed,
        inception + 7200,
        usize::MAX,
        &[],
        NonZeroUsize::MIN,
    )
    .expect("every signature verifies");
    let unsigned = zonefile::load_zone(&dir.path().join("in.zone"), &origin, &limits)
        .expect("the input reads");
    let content = signed.to_zone();
    for rrset in unsigned.zone.rrsets() {
        let written = content.get(rrset.name(), rrset.rtype());
        if rrset.rtype() == RecordType::SOA {
            assert!(written.is_some(), "no SOA written");
        } else {
            assert_eq!(written, Some(rrset), "{} {}", rrset.name(), rrset.rtype());
        }
    }
    assert_eq!(
        content
            .rrsets()
            .filter(|r| !is_signer_owned(r.rtype()))
            .count(),
        unsigned.zone.rrsets().count(),
        "only the file's RRsets besides the signer's"
    );
    assert!(
        !dir.path().join("out.zone.partial").exists(),
        "the partial file stayed"
    );
}

#[test]
fn rfc4035_s2_daned_sign_nsec_writes_a_zone_whose_signatures_all_verify() {
    check_signed(&[]);
}

#[test]
fn rfc5155_s7_1_daned_sign_nsec3_writes_a_zone_whose_signatures_all_verify() {
    check_signed(&["--nsec3", "--verify-all"]);
}

#[test]
fn rfc4035_s2_4_daned_sign_of_a_zone_the_signer_refuses_writes_nothing() {
    // RFC 4035 §2.4: "The DS RR type is the only DNSSEC type that is not placed at a zone's
    // apex" but at a delegation point; the file reads, the signer refuses it while streaming.
    let dir = tempfile::tempdir().expect("temp dir");
    let ds = "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118CFBA6A1C3A5A5DF3E6C0B8E4";
    let text = format!("{}host99 IN DS {ds}\n", zone_text());
    let out = sign(dir.path(), &text, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a DS away from a delegation was signed"
    );
    assert!(
        stderr.contains("DS record away from a delegation"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out.zone").exists(),
        "an output was written"
    );
    assert!(
        !dir.path().join("out.zone.partial").exists(),
        "a partial output was left"
    );
}
