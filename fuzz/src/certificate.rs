//! The certificate readers: bytes in as a certificate file (the TLSA chain reader) and as a
//! staged next-key file (the SubjectPublicKeyInfo reader), as daned reads both for a binding.

use daned_sign::spki::spki_from_pem_or_der;
use daned_sign::tlsa::{TlsaSpec, certificate_info, parse_chain, tlsa_from_chain, tlsa_from_spki};

/// Every TLSA usage, selector and matching type daned makes.
fn specs() -> impl Iterator<Item = TlsaSpec> {
    (0..=3).flat_map(|usage| {
        (0..=1).flat_map(move |selector| {
            (0..=2).map(move |matching| {
                TlsaSpec::new(usage, selector, matching).expect("every spec in range is valid")
            })
        })
    })
}

/// Reads `data` both ways and makes every TLSA record from what reads.
pub fn certificate(data: &[u8]) {
    if let Ok(chain) = parse_chain(data) {
        assert!(!chain.is_empty(), "a chain that parses has a certificate");
        for spec in specs() {
            let _ = tlsa_from_chain(&chain, spec);
        }
        let _ = certificate_info(&chain[0]);
        // `3 1 0` is the end entity's SubjectPublicKeyInfo itself, which is also what the
        // next-key reader takes from the same certificate.
        let full = TlsaSpec::new(3, 1, 0).expect("valid spec");
        if let (Ok(tlsa), Ok(spki)) = (
            tlsa_from_chain(&chain, full),
            spki_from_pem_or_der(&chain[0]),
        ) {
            assert_eq!(
                tlsa.cert_data, spki,
                "the TLSA reader and the next-key reader disagree on the certificate's key"
            );
        }
    }
    if let Ok(spki) = spki_from_pem_or_der(data) {
        for spec in specs() {
            let _ = tlsa_from_spki(&spki, spec);
        }
        // The reader's result is itself a public key it reads back unchanged.
        assert_eq!(
            spki_from_pem_or_der(&spki).as_deref().ok(),
            Some(spki.as_slice()),
            "the SubjectPublicKeyInfo read does not read back as itself"
        );
    }
}
