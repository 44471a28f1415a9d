//! The public key of a staged next-key file, checked against openssl.
//!
//! Every expected value below is the SHA-256 of the SubjectPublicKeyInfo that openssl prints for
//! the same file (the commands are in `data/nextkeys/README.md` and `make-nextkeys.sh`), so a
//! pass means our DER is byte-for-byte openssl's.

use std::path::PathBuf;

use daned_sign::SignError;
use daned_sign::spki::spki_from_pem_or_der;
use daned_sign::tlsa::{TlsaSpec, tlsa_from_spki};
use data_encoding::HEXLOWER;
use ring::digest::{SHA256, digest};

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nextkeys")
        .join(name);
    // A missing fixture is a broken checkout, not an input error of the code under test.
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(digest(&SHA256, bytes).as_ref())
}

/// (file, SHA-256 of `openssl ... -pubout -outform DER` for it), from `make-nextkeys.sh`.
const OPENSSL_SPKI_SHA256: &[(&str, &str)] = &[
    (
        "pkcs8-p256.pem",
        "b8b45557f8c4953a503e980d6704332cba3b436dcfa58ecef2d1309c00d39fa6",
    ),
    (
        "pkcs8-p384.pem",
        "260d6b23a250243cebf184dcb85d116382c216f23fec635224779f6ce6ded46d",
    ),
    (
        "pkcs8-ed25519.pem",
        "f90aa4b38c32735996a33740c63306d96ad58da6be3709bd65930c3a51e9304c",
    ),
    (
        "pkcs8-rsa2048.pem",
        "4b1f7c6056ba4cc7ef6dbb5662b5e5f738b619a99629facd8eea7988ecd6a342",
    ),
    (
        "pkcs8-p256.der",
        "b8b45557f8c4953a503e980d6704332cba3b436dcfa58ecef2d1309c00d39fa6",
    ),
    (
        "sec1-p256.pem",
        "99a1468d5a98b4c32385d5754c0594dd89846c296baa4a3d7d886d62a9b62c5c",
    ),
    (
        "sec1-p384.pem",
        "6afedb1493550d3381a2cbabe4fa1ba034a56e640186f50deddf305525f9f291",
    ),
    (
        "sec1-p256-params.pem",
        "8d379ac7937950717137e13f8b7c5bf1e796e67ec30331f822e87bb44b4062b7",
    ),
    (
        "pkcs1-rsa2048.pem",
        "597a308a7a037257feb66928309143046b89669de804b692682f6ad1eeba8ee1",
    ),
    (
        "spki-p256.pem",
        "e5a01b764924cb5c83bbde6721171d87090e48ed20885761c7f0aa5b88e3f945",
    ),
    (
        "spki-p256.der",
        "e5a01b764924cb5c83bbde6721171d87090e48ed20885761c7f0aa5b88e3f945",
    ),
    (
        "pkcs1-rsa2048-pub.pem",
        "8df07d5d23b9d10e0e674acfdcfe26bf640f4370d588ff327305ebf5d44b9cf6",
    ),
    (
        "csr-p256.pem",
        "3928bfbdec3e8eaad11baf4123d1d8a2297c496e9d3807985a2b29c613eca189",
    ),
    (
        "csr-rsa2048-newhdr.pem",
        "bcdab24558cba94a02dd4e65aca5d7fc75db1fc87b30efb6124f579da140acbb",
    ),
    (
        "cert-p256.pem",
        "24d44bd85583bafc944af81d2fa3e0a46339004ddfeca0e5d90c17322f899474",
    ),
    (
        "cert-p256.der",
        "24d44bd85583bafc944af81d2fa3e0a46339004ddfeca0e5d90c17322f899474",
    ),
];

#[test]
fn every_staged_form_gives_the_spki_openssl_gives() {
    let mut failures = Vec::new();
    for (file, expected) in OPENSSL_SPKI_SHA256 {
        match spki_from_pem_or_der(&data(file)) {
            Ok(spki) if sha256_hex(&spki) == *expected => {}
            Ok(spki) => failures.push(format!("{file}: SPKI SHA-256 {}", sha256_hex(&spki))),
            Err(e) => failures.push(format!("{file}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// RFC 7671 §8.1: "TLSA records matching the existing server certificate chain (or raw public
/// keys) are first augmented with corresponding records matching the future keys". For the
/// default `3 1 1` the record of the future key is the SHA-256 of its SPKI, whatever file it
/// came from.
#[test]
fn rfc7671_s8_1_staged_key_makes_the_3_1_1_record_of_the_future_key() {
    for (file, expected) in OPENSSL_SPKI_SHA256 {
        let spki = spki_from_pem_or_der(&data(file)).expect("fixture parses (checked above)");
        let tlsa = tlsa_from_spki(&spki, TlsaSpec::default()).expect("3 1 1 from an SPKI");
        assert_eq!(tlsa.to_string(), format!("3 1 1 {expected}"));
    }
}

/// A certificate file and the key it was made from give the same public key, so a staged key
/// matches the certificate later deployed with it.
#[test]
fn private_key_and_its_certificate_give_the_same_spki() {
    let key = spki_from_pem_or_der(&data("pkcs8-p256.pem")).expect("key parses");
    let public = spki_from_pem_or_der(&data("pkcs8-p256.der")).expect("DER key parses");
    assert_eq!(key, public);
    let cert = spki_from_pem_or_der(&data("cert-p256.pem")).expect("cert parses");
    let cert_der = spki_from_pem_or_der(&data("cert-p256.der")).expect("DER cert parses");
    assert_eq!(cert, cert_der);
}

/// In a combined PEM (key followed by certificate) the first usable block is taken.
#[test]
fn combined_pem_uses_the_first_key_block() {
    let mut combined = data("sec1-p256.pem");
    combined.extend(data("cert-p256.pem"));
    let spki = spki_from_pem_or_der(&combined).expect("combined file parses");
    assert_eq!(
        sha256_hex(&spki),
        "99a1468d5a98b4c32385d5754c0594dd89846c296baa4a3d7d886d62a9b62c5c"
    );
}

fn key_error(input: &[u8]) -> String {
    match spki_from_pem_or_der(input) {
        Err(SignError::Key(reason)) => reason,
        Err(other) => panic!("expected SignError::Key, got {other}"),
        Ok(spki) => panic!("expected an error, got an SPKI of {} bytes", spki.len()),
    }
}

#[test]
fn bad_inputs_are_refused_with_a_reason() {
    let pem = data("pkcs8-p256.pem");
    let der = data("cert-p256.der");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty input"),
        ("whitespace", b" \n\t\n".to_vec(), "empty input"),
        (
            "garbage",
            b"this is not a key at all".to_vec(),
            "neither PEM nor",
        ),
        (
            "random DER-ish bytes",
            vec![0x30, 0x03, 0x02, 0x01, 0x07],
            "neither PEM nor",
        ),
        (
            "truncated PEM",
            pem[..pem.len() / 2].to_vec(),
            "truncated PEM",
        ),
        (
            "truncated DER",
            der[..der.len() / 2].to_vec(),
            "truncated DER",
        ),
        (
            "bad base64 in PEM",
            b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n".to_vec(),
            "bad PEM",
        ),
        (
            "PEM with a corrupt key inside",
            b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n".to_vec(),
            "PRIVATE KEY block",
        ),
        (
            "PEM without a key",
            b"-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n".to_vec(),
            "no key in the PEM (found: X509 CRL)",
        ),
        (
            "encrypted private key",
            data("encrypted-p256.pem"),
            "cannot read an encrypted key",
        ),
        (
            "EC key without its public key",
            data("sec1-p256-nopub.pem"),
            "does not carry its public key",
        ),
        (
            "Ed448",
            data("pkcs8-ed448.pem"),
            "unsupported key algorithm 1.3.101.113",
        ),
    ];
    for (what, input, expected) in cases {
        let reason = key_error(&input);
        assert!(
            reason.contains(expected),
            "{what}: reason {reason:?} lacks {expected:?}"
        );
    }
}

/// RFC 6698 §2.1.2: selector 0 is "Full certificate: the Certificate binary structure as
/// defined in [RFC5280]", which a bare staged key does not have.
#[test]
fn rfc6698_s2_1_2_selector_0_cannot_be_staged_from_a_bare_key() {
    let spki = spki_from_pem_or_der(&data("sec1-p256.pem")).expect("key parses");
    let spec = TlsaSpec::new(3, 0, 1).expect("valid spec");
    match tlsa_from_spki(&spki, spec) {
        Err(SignError::Certificate(reason)) => {
            assert!(reason.contains("selector 0"), "{reason}");
        }
        other => panic!("expected a selector error, got {other:?}"),
    }
}
