//! Matching a presented chain against TLSA records (RFC 6698 §2.1, RFC 7671 §5). Every
//! expected digest was computed with openssl in tests/data/certs, never by this crate:
//! `openssl x509 -in F -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256`
//! (selector 1) and `openssl x509 -in F -outform DER | openssl dgst -sha256` (selector 0).

use daned_sign::dane::{
    KeyFamily, chain_matches, key_family_of_certificate, key_family_of_spki, not_after, spki_sha256,
};
use daned_sign::tlsa::{parse_chain, subject_public_key_info};
use data_encoding::HEXLOWER;

const EE_SPKI_SHA256: &str = "0cf985404681bbcbd7fe7b741d207143e5ccb3bfb933b681a88d6685c2b057e1";
const EE_CERT_SHA256: &str = "36a3046d5280aa6819ff4072fce48b31fd925c8d829d9d7e918ca2c3b2123369";
const EE_SPKI_SHA512: &str = "54b8f392268d5c9e14c21b09e08731ea993accce1e40916a7c5750200bb42340887c298d1c4b9c9e4960f1f8a5ac93e0187816767dc7afd8c1ff8222c2beed43";
const CA_SPKI_SHA256: &str = "dbb10bbb03733a81f9535c19e1a031176bd50f4ed3860bf9254c7a8f6464e3ca";
const CA_CERT_SHA256: &str = "6668bb318cc2f4735784d7075f69a1e40168cd0ce515b50b2a4f6ff625121253";
const RSA_SPKI_SHA256: &str = "2c3f2e093b33669b2291daa05fa2606f49232365bc68babd67ac320aeba30246";

fn chain(name: &str) -> Vec<Vec<u8>> {
    let path = format!("{}/tests/data/certs/{name}", env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    parse_chain(&data).expect("test chains parse")
}

fn hex(text: &str) -> Vec<u8> {
    HEXLOWER.decode(text.as_bytes()).expect("hex")
}

/// RFC 7671 §5.1: "DANE-EE(3) ... the TLSA record matches the server's end-entity
/// certificate"; selector 1 takes its SubjectPublicKeyInfo, selector 0 the whole certificate.
#[test]
fn rfc7671_s5_1_dane_ee_matches_the_end_entity_only() {
    let presented = chain("chain.pem");
    assert!(chain_matches(&presented, 3, 1, 1, &hex(EE_SPKI_SHA256)));
    assert!(chain_matches(&presented, 3, 0, 1, &hex(EE_CERT_SHA256)));
    assert!(chain_matches(&presented, 3, 1, 2, &hex(EE_SPKI_SHA512)));
    assert!(chain_matches(&presented, 1, 1, 1, &hex(EE_SPKI_SHA256)));
    // The issuer's key is not the end entity's.
    assert!(!chain_matches(&presented, 3, 1, 1, &hex(CA_SPKI_SHA256)));
    // Selector and matching type must agree with the data.
    assert!(!chain_matches(&presented, 3, 0, 1, &hex(EE_SPKI_SHA256)));
    assert!(!chain_matches(&presented, 3, 1, 2, &hex(EE_SPKI_SHA256)));
}

/// RFC 6698 §2.1.3 matching type 0: "Exact match on selected content".
#[test]
fn rfc6698_s2_1_3_exact_match_compares_the_selected_bytes() {
    let presented = chain("chain.pem");
    let spki = subject_public_key_info(&presented[0]).expect("spki");
    assert!(chain_matches(&presented, 3, 1, 0, &spki));
    assert!(chain_matches(&presented, 3, 0, 0, &presented[0]));
    let mut wrong = spki.clone();
    let last = wrong.len() - 1;
    wrong[last] ^= 1;
    assert!(!chain_matches(&presented, 3, 1, 0, &wrong));
}

/// RFC 7671 §5.2: DANE-TA(2) names a trust anchor the server sends after the end entity.
#[test]
fn rfc7671_s5_2_dane_ta_matches_an_issuer_in_the_chain() {
    let presented = chain("chain.pem");
    assert!(chain_matches(&presented, 2, 1, 1, &hex(CA_SPKI_SHA256)));
    assert!(chain_matches(&presented, 2, 0, 1, &hex(CA_CERT_SHA256)));
    assert!(chain_matches(&presented, 0, 0, 1, &hex(CA_CERT_SHA256)));
    // A trust-anchor record never matches the end entity itself.
    assert!(!chain_matches(&presented, 2, 1, 1, &hex(EE_SPKI_SHA256)));
    // Without the issuer in the chain there is nothing to match.
    let ee_only = chain("ee.pem");
    assert!(!chain_matches(&ee_only, 2, 1, 1, &hex(CA_SPKI_SHA256)));
}

#[test]
fn unknown_parameters_and_garbage_match_nothing() {
    let presented = chain("chain.pem");
    assert!(!chain_matches(&presented, 4, 1, 1, &hex(EE_SPKI_SHA256)));
    assert!(!chain_matches(&presented, 3, 2, 1, &hex(EE_SPKI_SHA256)));
    assert!(!chain_matches(&presented, 3, 1, 3, &hex(EE_SPKI_SHA256)));
    let empty: Vec<Vec<u8>> = Vec::new();
    assert!(!chain_matches(&empty, 3, 1, 1, &hex(EE_SPKI_SHA256)));
    let garbage = vec![b"not a certificate".to_vec()];
    assert!(!chain_matches(&garbage, 3, 1, 1, &hex(EE_SPKI_SHA256)));
    assert_eq!(spki_sha256(b"not a certificate"), None);
}

#[test]
fn spki_digest_is_the_3_1_1_data() {
    assert_eq!(
        spki_sha256(&chain("rsa2048.pem")[0]).map(|d| HEXLOWER.encode(&d)),
        Some(RSA_SPKI_SHA256.to_owned())
    );
}

#[test]
fn key_families_and_expiry() {
    assert_eq!(
        key_family_of_certificate(&chain("rsa2048.pem")[0]),
        KeyFamily::Rsa
    );
    assert_eq!(
        key_family_of_certificate(&chain("p256.pem")[0]),
        KeyFamily::Ecdsa
    );
    assert_eq!(
        key_family_of_certificate(&chain("p384.pem")[0]),
        KeyFamily::Ecdsa
    );
    assert_eq!(
        key_family_of_certificate(&chain("ed25519.pem")[0]),
        KeyFamily::Ed25519
    );
    assert_eq!(key_family_of_certificate(b"junk"), KeyFamily::Other);
    let spki = subject_public_key_info(&chain("rsa2048.pem")[0]).expect("spki");
    assert_eq!(key_family_of_spki(&spki), KeyFamily::Rsa);
    // openssl x509 -in ee.pem -noout -enddate: notAfter=Nov  4 19:34:39 2126 GMT
    assert_eq!(not_after(&chain("ee.pem")[0]), Some(4_949_494_479));
}
