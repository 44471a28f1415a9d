//! TLSA records from the certificates in tests/data/certs (see its README for how they were
//! made). Every expected value was computed by the openssl pipeline written next to it, run in
//! tests/data/certs, never by this crate.

use daned_sign::SignError;
use daned_sign::hickory_proto::rr::rdata::TLSA;
use daned_sign::hickory_proto::rr::{RData, RecordType};
use daned_sign::tlsa::{
    CertificateInfo, TlsaSpec, certificate_info, parse_chain, subject_public_key_info,
    tlsa_from_chain, tlsa_from_spki,
};
use data_encoding::HEXLOWER;

fn cert_file(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/certs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn spec(usage: u8, selector: u8, matching: u8) -> TlsaSpec {
    TlsaSpec::new(usage, selector, matching).expect("test specs are in range")
}

/// The TLSA record for the certificate file `name` under `usage selector matching`.
fn tlsa_for(name: &str, usage: u8, selector: u8, matching: u8) -> TLSA {
    let chain = parse_chain(&cert_file(name)).expect("test certificate parses");
    tlsa_from_chain(&chain, spec(usage, selector, matching)).expect("TLSA is made")
}

/// Asserts the record's fields and its association data, given in hex.
fn check(tlsa: &TLSA, usage: u8, selector: u8, matching: u8, hex: &str) {
    assert_eq!(u8::from(tlsa.cert_usage), usage);
    assert_eq!(u8::from(tlsa.selector), selector);
    assert_eq!(u8::from(tlsa.matching), matching);
    assert_eq!(HEXLOWER.encode(&tlsa.cert_data), hex);
    // The presentation form is what the zone will carry (RFC 6698 §2.2).
    assert_eq!(
        tlsa.to_string(),
        format!("{usage} {selector} {matching} {hex}")
    );
}

fn certificate_reason(result: Result<impl std::fmt::Debug, SignError>) -> String {
    match result {
        Err(SignError::Certificate(reason)) => reason,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

// RFC 7672 §3.1.1: "TLSA records published for SMTP servers SHOULD, in most cases, be
// "DANE-EE(3) SPKI(1) SHA2-256(1)" records." The default record, for each key type.

#[test]
fn rfc7672_s3_1_1_dane_ee_3_1_1_rsa2048() {
    // openssl x509 -in rsa2048.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256
    let want = "2c3f2e093b33669b2291daa05fa2606f49232365bc68babd67ac320aeba30246";
    check(&tlsa_for("rsa2048.pem", 3, 1, 1), 3, 1, 1, want);
}

#[test]
fn rfc7672_s3_1_1_dane_ee_3_1_1_ecdsa_p256() {
    // openssl x509 -in p256.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256
    let want = "ff5c18505c305e521484e3f3183ac5a1d45259298aaa42d7e6bd55de74806e4c";
    check(&tlsa_for("p256.pem", 3, 1, 1), 3, 1, 1, want);
}

#[test]
fn rfc7672_s3_1_1_dane_ee_3_1_1_ecdsa_p384() {
    // openssl x509 -in p384.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256
    let want = "f4ad90fcac620cef6887236af42e17e8b437f8980f0bb43bf085c029a1b20686";
    check(&tlsa_for("p384.pem", 3, 1, 1), 3, 1, 1, want);
}

#[test]
fn rfc7672_s3_1_1_dane_ee_3_1_1_ed25519() {
    // openssl x509 -in ed25519.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256
    let want = "d76c2a60dacf2c65c5ee99d02c3fe99dad0aa5a889dd8b52e3cbacc69a878a91";
    check(&tlsa_for("ed25519.pem", 3, 1, 1), 3, 1, 1, want);
}

// RFC 6698 §2.1.3: "2 -- SHA-512 hash of selected content [RFC6234]".

#[test]
fn rfc6698_s2_1_3_matching_2_sha512_of_spki() {
    // openssl x509 -in p256.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha512
    let want = "fbf1daa7131ea8615a90a91ab2b013208befce7a765d9004907b06c713c024f6\
                2810e6681597423e8c2d50bc01a164a70148b4d2aa8b70556798dedb4152400d";
    check(&tlsa_for("p256.pem", 3, 1, 2), 3, 1, 2, want);
    // openssl x509 -in rsa2048.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha512
    let want = "792fc34b6b60b9fbb5df6f3e654fbf94f586ee890097cdecbe4ae2ca127ab6b3\
                7cfc370a6aedbe5816185f7a6096f02f157682253cee69bd60f9cd2734c1b3e3";
    check(&tlsa_for("rsa2048.pem", 3, 1, 2), 3, 1, 2, want);
}

// RFC 6698 §2.1.2: "0 -- Full certificate: the Certificate binary structure as defined in
// [RFC5280]".

#[test]
fn rfc6698_s2_1_2_selector_0_full_certificate_sha256() {
    // openssl x509 -in p384.pem -outform DER | openssl dgst -sha256
    let want = "c377b2f0f0e45ad09d10c5154d9c8880eed725c42186c3c1ab395e83ccc0c948";
    check(&tlsa_for("p384.pem", 3, 0, 1), 3, 0, 1, want);
    // openssl x509 -in ed25519.pem -outform DER | openssl dgst -sha256
    let want = "bcabb7a11ef7ac105a86b09541f31f6ee5b9c41b14663d65777b64d3b74460ea";
    check(&tlsa_for("ed25519.pem", 3, 0, 1), 3, 0, 1, want);
}

#[test]
fn rfc6698_s2_1_2_selector_0_full_certificate_sha512() {
    // openssl x509 -in p384.pem -outform DER | openssl dgst -sha512
    let want = "bf65b7122cb26ba7977710f0c95e4e0b8bc47ec07585163a338343faa6317a80\
                af9d2fd2520f92a4e6d460ac6ce752260949aef41ff8ae8a01b6ec480c6267c7";
    check(&tlsa_for("p384.pem", 3, 0, 2), 3, 0, 2, want);
}

// RFC 6698 §2.1.3: "0 -- Exact match on selected content".

#[test]
fn rfc6698_s2_1_3_matching_0_exact_spki() {
    // openssl x509 -in ed25519.pem -pubkey -noout | openssl pkey -pubin -outform DER | xxd -p
    let want =
        "302a300506032b6570032100d2e4fde92b4f40c46ffcc848ed7ea698c558112f3a7d914e90da10ea815af175";
    check(&tlsa_for("ed25519.pem", 3, 1, 0), 3, 1, 0, want);
    // openssl x509 -in p256.pem -pubkey -noout | openssl pkey -pubin -outform DER | xxd -p
    let want = "3059301306072a8648ce3d020106082a8648ce3d030107034200044c91fc51817208a026fad7f7a9b0d1fe\
                de6a5c3ee8df8f5f68d5de68d5f5d789ea89cb46d118915b07e37606c24602cf6c4f7d866e708c0a663f0b96ded9aecb";
    check(&tlsa_for("p256.pem", 3, 1, 0), 3, 1, 0, want);
}

#[test]
fn rfc6698_s2_1_3_matching_0_exact_full_certificate() {
    // p256.der was written by `openssl x509 -in p256.pem -outform DER -out p256.der`.
    let der = cert_file("p256.der");
    let tlsa = tlsa_for("p256.pem", 3, 0, 0);
    check(&tlsa, 3, 0, 0, &HEXLOWER.encode(&der));
}

// RFC 6698 §2.1.1: "2 -- Certificate usage 2 is used to specify a certificate, or the public key
// of such a certificate, that MUST be used as the trust anchor when validating the end entity
// certificate given by the server in TLS."

#[test]
fn rfc6698_s2_1_1_usage_2_hashes_the_issuer() {
    // openssl x509 -in ca.pem -outform DER | openssl dgst -sha256
    let want = "6668bb318cc2f4735784d7075f69a1e40168cd0ce515b50b2a4f6ff625121253";
    check(&tlsa_for("chain.pem", 2, 0, 1), 2, 0, 1, want);
    // openssl x509 -in ca.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256
    let want = "dbb10bbb03733a81f9535c19e1a031176bd50f4ed3860bf9254c7a8f6464e3ca";
    check(&tlsa_for("chain.pem", 2, 1, 1), 2, 1, 1, want);
    // Usage 0 (PKIX-TA) names the CA too.
    check(&tlsa_for("chain.pem", 0, 1, 1), 0, 1, 1, want);
}

#[test]
fn rfc6698_s2_1_1_usage_2_without_issuer_is_refused() {
    let chain = parse_chain(&cert_file("p256.pem")).expect("parses");
    let reason = certificate_reason(tlsa_from_chain(&chain, spec(2, 0, 1)));
    assert!(
        reason.contains("usage 2 needs the issuer certificate in the chain"),
        "{reason}"
    );
}

#[test]
fn rfc6698_s2_1_1_usage_2_refuses_a_chain_out_of_order() {
    let mut chain = parse_chain(&cert_file("chain.pem")).expect("parses");
    chain.reverse();
    let reason = certificate_reason(tlsa_from_chain(&chain, spec(2, 0, 1)));
    assert!(
        reason.contains("is not the issuer of the first"),
        "{reason}"
    );
}

#[test]
fn chain_file_end_entity_first_for_usage_3() {
    let chain = parse_chain(&cert_file("chain.pem")).expect("parses");
    assert_eq!(chain.len(), 2);
    // openssl x509 -in ee.pem -outform DER | openssl dgst -sha256
    let ee_hash = "36a3046d5280aa6819ff4072fce48b31fd925c8d829d9d7e918ca2c3b2123369";
    check(&tlsa_for("chain.pem", 3, 0, 1), 3, 0, 1, ee_hash);
    // openssl x509 -in ee.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256
    let ee_spki = "0cf985404681bbcbd7fe7b741d207143e5ccb3bfb933b681a88d6685c2b057e1";
    check(&tlsa_for("chain.pem", 3, 1, 1), 3, 1, 1, ee_spki);
    check(&tlsa_for("ee.pem", 3, 1, 1), 3, 1, 1, ee_spki);
}

#[test]
fn der_input_gives_the_same_record_as_pem() {
    let der = cert_file("p256.der");
    let chain = parse_chain(&der).expect("DER parses");
    assert_eq!(chain, vec![der]);
    // openssl x509 -in p256.der -inform DER -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256
    let want = "ff5c18505c305e521484e3f3183ac5a1d45259298aaa42d7e6bd55de74806e4c";
    check(&tlsa_for("p256.der", 3, 1, 1), 3, 1, 1, want);
    assert_eq!(tlsa_for("p256.der", 3, 1, 1), tlsa_for("p256.pem", 3, 1, 1));
}

#[test]
fn combined_file_with_private_key_uses_only_the_certificate() {
    let mut combined = private_key_pem().into_bytes();
    combined.extend_from_slice(&cert_file("p256.pem"));
    let chain = parse_chain(&combined).expect("the key block is ignored");
    assert_eq!(chain, vec![cert_file("p256.der")]);
}

#[test]
fn crlf_pem_and_surrounding_text_are_accepted() {
    // A chain saved on Windows, with `openssl x509 -text` style text around the blocks.
    let chain = String::from_utf8(cert_file("chain.pem")).expect("PEM is ASCII");
    let crlf = format!(
        "Certificate:\r\n    Data: ...\r\n{}\r\ntrailing note\r\n",
        chain.replace('\n', "\r\n")
    );
    assert_eq!(
        parse_chain(crlf.as_bytes()).expect("parses"),
        parse_chain(chain.as_bytes()).expect("parses")
    );
}

#[test]
fn pem_with_only_a_private_key_is_refused() {
    let reason = certificate_reason(parse_chain(private_key_pem().as_bytes()));
    assert!(reason.contains("no CERTIFICATE block"), "{reason}");
    assert!(reason.contains("PRIVATE KEY"), "{reason}");
}

#[test]
fn empty_input_is_refused() {
    for empty in [&b""[..], b"\n\n  \n"] {
        let reason = certificate_reason(parse_chain(empty));
        assert!(reason.contains("no CERTIFICATE block"), "{reason}");
    }
}

#[test]
fn garbage_is_refused() {
    let reason = certificate_reason(parse_chain(b"this is not a certificate\n"));
    assert!(reason.starts_with("not a DER certificate"), "{reason}");
    let reason = certificate_reason(parse_chain(&[0x30, 0x03, 0x02, 0x01, 0x00]));
    assert!(reason.starts_with("not a DER certificate"), "{reason}");
}

#[test]
fn half_written_pem_is_refused_at_every_cut() {
    // A file caught while being written: cut it at every offset inside the last block, and the
    // chain must never come back shorter than the file meant.
    let full = cert_file("chain.pem");
    let second_begin = full
        .windows(11)
        .rposition(|w| w == b"-----BEGIN ")
        .expect("chain.pem has two blocks");
    // `full` ends in "-----END CERTIFICATE-----\n": only the final newline may go.
    for cut in (second_begin + 1)..(full.len() - 1) {
        let result = parse_chain(&full[..cut]);
        let reason = certificate_reason(result);
        assert!(
            reason.contains("truncated PEM") || reason.contains("bad PEM"),
            "cut at {cut}: {reason}"
        );
    }
    // Cut inside the first (only) block of a single certificate too.
    let single = cert_file("p256.pem");
    let reason = certificate_reason(parse_chain(&single[..single.len() / 2]));
    assert!(reason.contains("truncated PEM"), "{reason}");
}

#[test]
fn truncated_der_is_refused() {
    let der = cert_file("p256.der");
    for cut in [1, 10, der.len() / 2, der.len() - 1] {
        let reason = certificate_reason(parse_chain(&der[..cut]));
        assert!(
            reason.starts_with("not a DER certificate"),
            "cut at {cut}: {reason}"
        );
    }
    let mut trailing = der.clone();
    trailing.extend_from_slice(b"junk");
    let reason = certificate_reason(parse_chain(&trailing));
    assert!(reason.contains("4 trailing bytes"), "{reason}");
}

#[test]
fn rfc6698_s2_1_unknown_field_values_are_refused() {
    for (u, s, m, field) in [
        (4, 1, 1, "usage 4"),
        (255, 1, 1, "usage 255"),
        (3, 2, 1, "selector 2"),
        (3, 1, 3, "matching type 3"),
    ] {
        let reason = certificate_reason(TlsaSpec::new(u, s, m));
        assert!(reason.contains(field), "{reason}");
        // A spec built field by field is checked when used.
        let raw = TlsaSpec {
            usage: u,
            selector: s,
            matching: m,
        };
        let chain = parse_chain(&cert_file("chain.pem")).expect("parses");
        let reason = certificate_reason(tlsa_from_chain(&chain, raw));
        assert!(reason.contains(field), "{reason}");
    }
    assert_eq!(TlsaSpec::new(3, 1, 1).ok(), Some(TlsaSpec::default()));
}

#[test]
fn spki_alone_makes_the_same_selector_1_records() {
    let der = cert_file("p256.der");
    let spki = subject_public_key_info(&der).expect("SPKI");
    for matching in 0..=2 {
        let s = spec(3, 1, matching);
        assert_eq!(
            tlsa_from_spki(&spki, s).expect("made"),
            tlsa_from_chain(std::slice::from_ref(&der), s).expect("made")
        );
    }
    // openssl x509 -in p256.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256
    let want = "ff5c18505c305e521484e3f3183ac5a1d45259298aaa42d7e6bd55de74806e4c";
    check(
        &tlsa_from_spki(&spki, spec(3, 1, 1)).expect("made"),
        3,
        1,
        1,
        want,
    );

    let reason = certificate_reason(tlsa_from_spki(&spki, spec(3, 0, 1)));
    assert!(
        reason.contains("selector 0 needs the full certificate"),
        "{reason}"
    );
    let reason = certificate_reason(tlsa_from_spki(&spki[..spki.len() - 3], spec(3, 1, 1)));
    assert!(reason.starts_with("not a DER public key"), "{reason}");
    let reason = certificate_reason(tlsa_from_spki(&der, spec(3, 1, 1)));
    assert!(reason.starts_with("not a DER public key"), "{reason}");
}

#[test]
fn certificate_info_reports_validity_and_subject() {
    // date -u -d "$(openssl x509 -in p256.pem -noout -startdate | cut -d= -f2)" +%s  -> 1795894479
    // date -u -d "$(openssl x509 -in p256.pem -noout -enddate | cut -d= -f2)" +%s    -> 4949494479
    // openssl x509 -in p256.pem -noout -subject -nameopt RFC2253                    -> CN=p256.example.com
    assert_eq!(
        certificate_info(&cert_file("p256.der")).expect("parses"),
        CertificateInfo {
            not_before: 1_795_894_479,
            not_after: 4_949_494_479,
            subject: "CN=p256.example.com".to_owned(),
        }
    );
    let reason = certificate_reason(certificate_info(b"nope"));
    assert!(reason.starts_with("not a DER certificate"), "{reason}");
}

// RFC 6698 §2.3: the three example records. They hash certificates the RFC does not include,
// so only their presentation form is checked: parsed and printed back unchanged.

#[test]
fn rfc6698_s2_3_examples_round_trip_through_presentation_format() {
    // "An example of a hashed (SHA-256) association of a PKIX CA certificate"
    let ca = "0 0 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971";
    // "An example of a hashed (SHA-512) subject public key association of a PKIX end entity
    // certificate"
    let ee = "1 1 2 92003ba34942dc74152e2f2c408d29eca5a520e7f2e06bb944f4dca346baf63c\
              1b177615d466f6c4b71c216a50292bd58c9ebdd2f74e38fe51ffd48c43326cbc";
    for text in [ca, ee] {
        let rdata = RData::try_from_str(RecordType::TLSA, text).expect("RFC example parses");
        assert_eq!(rdata.to_string(), text);
    }
    // The same records as the RFC prints them, split over lines in parentheses.
    let split = "( 1 1 2 92003ba34942dc74152e2f2c408d29ec\n a5a520e7f2e06bb944f4dca346baf63c\n \
                 1b177615d466f6c4b71c216a50292bd5\n 8c9ebdd2f74e38fe51ffd48c43326cbc )";
    let rdata = RData::try_from_str(RecordType::TLSA, split).expect("multi-line form parses");
    assert_eq!(rdata.to_string(), ee);
    // "An example of a full certificate association of a PKIX end entity certificate":
    // the RFC prints it cut short (`30820307308201efa003020102020...`), an odd number of hex
    // digits, which must not parse into a record.
    assert!(RData::try_from_str(RecordType::TLSA, "3 0 0 30820307308201efa003020102020").is_err());
}

/// A PEM PKCS#8 private key made at test time, so no private key is committed.
fn private_key_pem() -> String {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("ring generates");
    pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref()))
}
