//! PKCS#8 keys: generate -> PEM -> load -> sign -> verify, keys made by `openssl genpkey`
//! (see tests/data/make-keys.sh), and malformed input.

use std::path::PathBuf;
use std::str::FromStr;

use daned_sign::SignError;
use daned_sign::hickory_proto::dnssec::rdata::{DNSSECRData, RRSIG};
use daned_sign::hickory_proto::dnssec::{DigestType, PublicKey};
use daned_sign::hickory_proto::rr::rdata::A;
use daned_sign::hickory_proto::rr::{Name, RData, Record, RecordType};
use daned_sign::keys::{KeyAlgorithm, KeyRole, Pkcs8Key, SigningKey};
use daned_sign::rrsig::{SigTimes, sign_rrset, verify_rrsig};
use daned_sign::zone::Rrset;
use data_encoding::{BASE64, HEXUPPER_PERMISSIVE};
use ring::rand::SystemRandom;

const TIMES: SigTimes = SigTimes {
    inception: 1_700_000_000,
    expiration: 1_702_592_000,
};

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap_or_else(|e| panic!("test name {s}: {e}"))
}

fn data_file(file: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", file]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rrset() -> Rrset {
    Rrset::new(
        &name("www.example.com."),
        RecordType::A,
        300,
        [RData::A(A::new(192, 0, 2, 7))],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn rrsig_of(record: &Record) -> &RRSIG {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sig,
        other => panic!("not an RRSIG: {other:?}"),
    }
}

fn sign_and_verify(key: &SigningKey) {
    let rng = SystemRandom::new();
    let rrset = rrset();
    let record = sign_rrset(&rrset, key, &name("example.com."), TIMES, &rng)
        .unwrap_or_else(|e| panic!("{}: {e}", key.algorithm()));
    let sig = rrsig_of(&record);
    assert_eq!(sig.input().algorithm, key.dnssec_algorithm());
    verify_rrsig(&rrset, sig, key.dnskey()).unwrap_or_else(|e| panic!("{}: {e}", key.algorithm()));
}

#[test]
fn generate_pem_round_trip_sign_verify() {
    let rng = SystemRandom::new();
    for algorithm in [
        KeyAlgorithm::EcdsaP256Sha256,
        KeyAlgorithm::EcdsaP384Sha384,
        KeyAlgorithm::Ed25519,
    ] {
        let pkcs8 = SigningKey::generate(algorithm, &rng).unwrap_or_else(|e| panic!("{e}"));
        let pem = pkcs8.to_pem();
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{algorithm}"
        );
        assert!(!pem.contains('\r'));
        let again = Pkcs8Key::from_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.as_der(), pkcs8.as_der());
        let first = SigningKey::from_pkcs8(&pkcs8, KeyRole::Zsk, &rng)
            .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        let key = SigningKey::from_pkcs8(&again, KeyRole::Zsk, &rng)
            .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        assert_eq!(key.algorithm(), algorithm);
        assert_eq!(key.role(), KeyRole::Zsk);
        // RFC 4034 §2.1.1: a ZSK has the Zone Key flag (256) and no SEP flag.
        assert_eq!(key.dnskey().flags(), 256);
        assert_eq!(key.dnskey(), first.dnskey());
        assert_eq!(key.key_tag(), first.key_tag());
        sign_and_verify(&key);
    }
}

#[test]
fn generated_keys_differ() {
    let rng = SystemRandom::new();
    let a = SigningKey::generate(KeyAlgorithm::Ed25519, &rng).unwrap_or_else(|e| panic!("{e}"));
    let b = SigningKey::generate(KeyAlgorithm::Ed25519, &rng).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a.as_der(), b.as_der());
}

/// The expected DNSKEY public key (base64) and DS line written by make-keys.sh with tools
/// independent of daned (Python `cryptography`, `openssl rsa -modulus`, BIND's
/// dnssec-dsfromkey).
fn expected(stem: &str) -> (u8, Vec<u8>, u16, Vec<u8>) {
    let dnskey = data_file(&format!("{stem}.dnskey"));
    let fields: Vec<&str> = dnskey.split_whitespace().collect();
    // example.com. 3600 IN DNSKEY 257 3 ALG KEY
    assert_eq!(&fields[3..6], &["DNSKEY", "257", "3"], "{stem}.dnskey");
    let alg: u8 = fields[6].parse().unwrap_or_else(|e| panic!("{e}"));
    let public = BASE64
        .decode(fields[7..].concat().as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let ds = data_file(&format!("{stem}.ds"));
    let fields: Vec<&str> = ds.split_whitespace().collect();
    // example.com. IN DS TAG ALG 2 HEX
    assert_eq!(fields[2], "DS", "{stem}.ds");
    let tag: u16 = fields[3].parse().unwrap_or_else(|e| panic!("{e}"));
    let digest = HEXUPPER_PERMISSIVE
        .decode(fields[6..].concat().as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    (alg, public, tag, digest)
}

fn check_openssl_key(stem: &str, algorithm: KeyAlgorithm) {
    let rng = SystemRandom::new();
    let pkcs8 = Pkcs8Key::from_pem(&data_file(&format!("{stem}.pem")))
        .unwrap_or_else(|e| panic!("{stem}: {e}"));
    let key = SigningKey::from_pkcs8(&pkcs8, KeyRole::Csk, &rng).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(key.algorithm(), algorithm);
    let (alg, public, tag, digest) = expected(stem);
    assert_eq!(u8::from(key.dnssec_algorithm()), alg);
    assert_eq!(key.dnskey().flags(), 257);
    assert_eq!(
        key.dnskey().public_key().public_bytes(),
        public.as_slice(),
        "{stem}"
    );
    assert_eq!(key.key_tag(), tag, "{stem}: key tag (dnssec-dsfromkey)");
    let ds = key
        .ds(&name("example.com."), DigestType::SHA256)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ds.digest(),
        digest.as_slice(),
        "{stem}: DS (dnssec-dsfromkey)"
    );
    sign_and_verify(&key);
}

#[test]
fn rfc6605_s4_openssl_p256_pkcs8_loads_and_signs() {
    // RFC 6605 §4: "the public key is represented as ... the concatenation of two 32-byte
    // field elements, x and y" (the SEC1 point without its 0x04 prefix).
    check_openssl_key("openssl-p256", KeyAlgorithm::EcdsaP256Sha256);
}

#[test]
fn rfc8080_s3_openssl_ed25519_pkcs8_v1_loads_and_signs() {
    // RFC 8080 §3: "An Ed25519 public key consists of a 32-octet value". openssl writes a
    // PKCS#8 v1 key without the public key, which ring's strict parser refuses.
    check_openssl_key("openssl-ed25519", KeyAlgorithm::Ed25519);
}

#[test]
fn rfc3110_s2_openssl_rsa2048_pkcs8_loads_and_signs() {
    // RFC 3110 §2: "The public key consists of an exponent length field, the exponent, and
    // the modulus". Expected value built from `openssl rsa -modulus` and the exponent.
    check_openssl_key("openssl-rsa2048", KeyAlgorithm::RsaSha256);
}

#[test]
fn garbage_empty_and_truncated_pem_are_key_errors() {
    let rng = SystemRandom::new();
    let good = data_file("openssl-p256.pem");
    let cases = [
        String::new(),
        "not a key at all".to_string(),
        "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n".to_string(),
        good.replace("PRIVATE KEY", "CERTIFICATE"),
        good.replace("PRIVATE KEY", "EC PRIVATE KEY"),
        good[..good.len() / 2].to_string(),
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n".to_string(),
    ];
    for case in &cases {
        assert!(
            matches!(Pkcs8Key::from_pem(case), Err(SignError::Key(_))),
            "accepted {case:?}"
        );
    }

    // Well-formed PEM around a damaged DER body must fail when loading, not panic.
    let der = Pkcs8Key::from_pem(&good)
        .unwrap_or_else(|e| panic!("{e}"))
        .as_der()
        .to_vec();
    let mut bodies: Vec<Vec<u8>> = (0..der.len()).map(|n| der[..n].to_vec()).collect();
    bodies.push(b"hello".to_vec());
    let mut flipped = der.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff; // damage the public key: no longer matches the private key
    bodies.push(flipped);
    for body in bodies {
        let pem = pem_of(&body);
        let outcome = Pkcs8Key::from_pem(&pem)
            .and_then(|k| SigningKey::from_pkcs8(&k, KeyRole::Csk, &rng).map(|_| ()));
        assert!(
            matches!(outcome, Err(SignError::Key(_))),
            "accepted {} bytes",
            body.len()
        );
    }
}

#[test]
fn unsupported_pkcs8_algorithms_are_named() {
    let rng = SystemRandom::new();
    // An X25519 key (OID 1.3.101.110) is PKCS#8 but not a signing algorithm.
    let x25519 = "-----BEGIN PRIVATE KEY-----\n\
                  MC4CAQAwBQYDK2VuBCIEIKiBmsb1RPmcvZd4eYEqhJHH8wW+sQ8jhtdqIqQTuP5D\n\
                  -----END PRIVATE KEY-----\n";
    let key = Pkcs8Key::from_pem(x25519).unwrap_or_else(|e| panic!("{e}"));
    match SigningKey::from_pkcs8(&key, KeyRole::Csk, &rng) {
        Err(SignError::Key(msg)) => assert!(msg.contains("1.3.101.110"), "{msg}"),
        other => panic!("expected a key error, got {other:?}"),
    }
}

fn pem_of(der: &[u8]) -> String {
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    let b64 = BASE64.encode(der);
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}
