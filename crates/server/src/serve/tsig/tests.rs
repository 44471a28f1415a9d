//! TSIG tests: requests captured from `dig -y` (BIND's implementation), response MACs computed
//! independently with Python's `hmac`, and tampered messages.

use std::str::FromStr;

use super::*;

/// `dig -y hmac-sha256:xfr-key.:c2VjcmV0LXNoYTI1Ni1rZXktZm9yLXRlc3Rz example.com SOA`,
/// captured on a UDP socket.
const DIG_SHA256: &[u8] = include_bytes!("data/q256.bin");
/// `dig -y hmac-sha512:big.key.:c2VjcmV0LXNoYTUxMi1rZXktZm9yLXRlc3RzLWxvbmdlcg==
/// Example.COM TLSA`.
const DIG_SHA512: &[u8] = include_bytes!("data/q512.bin");

fn key(name: &str, algorithm: TsigAlgorithmConfig, secret: &[u8]) -> TsigKeyConfig {
    TsigKeyConfig {
        name: Name::from_str(name).expect("valid name"),
        algorithm,
        secret: secret.to_vec(),
    }
}

fn ring() -> KeyRing {
    KeyRing::new(&[
        key(
            "xfr-key.",
            TsigAlgorithmConfig::HmacSha256,
            b"secret-sha256-key-for-tests",
        ),
        key(
            "big.key.",
            TsigAlgorithmConfig::HmacSha512,
            b"secret-sha512-key-for-tests-longer",
        ),
    ])
}

/// The Time Signed of a captured request (48 bits after the algorithm name).
fn time_signed(raw: &[u8]) -> u64 {
    match split(raw) {
        Ok(Some(split)) => split.tsig.data.time,
        other => panic!("no TSIG: {}", other.is_ok()),
    }
}

fn error_of(outcome: Outcome) -> Option<TsigError> {
    match outcome {
        Outcome::Failed(failure) => Some(failure.error),
        Outcome::Verified(_) => None,
        Outcome::Unsigned => panic!("request seen as unsigned"),
    }
}

#[test]
fn rfc8945_s4_3_3_dig_requests_verify_with_both_algorithms() {
    // §4.3.3: "the MAC is computed over the DNS message ... with the TSIG RR removed, the
    // ARCOUNT decremented and the original ID, followed by the TSIG variables".
    for raw in [DIG_SHA256, DIG_SHA512] {
        let now = time_signed(raw);
        let outcome = verify_request(raw, &ring(), now).expect("parses");
        assert_eq!(error_of(outcome), None);
    }
}

#[test]
fn rfc8945_s5_2_2_tampered_request_is_badsig() {
    // §5.2.2: "If the MAC fails to verify, the server MUST generate an error response ...
    // TSIG ERROR 16 (BADSIG)."
    let now = time_signed(DIG_SHA256);
    // Flip one bit of the question name (byte 13 is inside "example").
    let mut raw = DIG_SHA256.to_vec();
    raw[13] ^= 0x20;
    let outcome = verify_request(&raw, &ring(), now).expect("parses");
    assert_eq!(error_of(outcome), Some(TsigError::BadSig));
    // And a flipped MAC byte (the last bytes are MAC, original ID, error, other len).
    let mut raw = DIG_SHA256.to_vec();
    let at = raw.len() - 7;
    raw[at] ^= 1;
    let outcome = verify_request(&raw, &ring(), now).expect("parses");
    assert_eq!(error_of(outcome), Some(TsigError::BadSig));
    // The right key name with another secret.
    let wrong = KeyRing::new(&[key(
        "xfr-key.",
        TsigAlgorithmConfig::HmacSha256,
        b"another secret",
    )]);
    let outcome = verify_request(DIG_SHA256, &wrong, now).expect("parses");
    assert_eq!(error_of(outcome), Some(TsigError::BadSig));
}

#[test]
fn rfc8945_s5_2_1_unknown_key_or_algorithm_is_badkey() {
    // §5.2.1: "If a non-forwarding server does not recognize the key or algorithm used by the
    // client ..., the server MUST generate an error response with RCODE 9 (NOTAUTH) and TSIG
    // ERROR 17 (BADKEY)."
    let now = time_signed(DIG_SHA256);
    let empty = KeyRing::default();
    let outcome = verify_request(DIG_SHA256, &empty, now).expect("parses");
    assert_eq!(error_of(outcome), Some(TsigError::BadKey));
    let other_alg = KeyRing::new(&[key(
        "xfr-key.",
        TsigAlgorithmConfig::HmacSha512,
        b"secret-sha256-key-for-tests",
    )]);
    let outcome = verify_request(DIG_SHA256, &other_alg, now).expect("parses");
    assert_eq!(error_of(outcome), Some(TsigError::BadKey));
}

#[test]
fn rfc8945_s5_2_3_time_outside_fudge_is_badtime() {
    // §5.2.3: "If the server time is outside the time interval specified by the request
    // (which is: Time Signed, plus/minus Fudge), the server MUST generate an error response
    // with RCODE 9 (NOTAUTH) and TSIG ERROR 18 (BADTIME)." dig's fudge is 300.
    let signed = time_signed(DIG_SHA256);
    for now in [signed - 300, signed + 300] {
        let outcome = verify_request(DIG_SHA256, &ring(), now).expect("parses");
        assert_eq!(error_of(outcome), None, "at {now}");
    }
    for now in [signed - 301, signed + 301, signed + 86_400] {
        let outcome = verify_request(DIG_SHA256, &ring(), now).expect("parses");
        assert_eq!(error_of(outcome), Some(TsigError::BadTime), "at {now}");
    }
}

#[test]
fn rfc8945_s5_1_unsigned_request_and_tsig_not_last() {
    // A message without TSIG is unsigned.
    let unsigned = hex("123401000001000000000000076578616d706c6503636f6d0000060001");
    assert!(matches!(
        verify_request(&unsigned, &ring(), 0),
        Ok(Outcome::Unsigned)
    ));
    // §5.1: "If the TSIG RR is not the last record, the server MUST return a FORMERR". Move
    // dig's OPT record after its TSIG: the TSIG is then the first of two additionals.
    let raw = DIG_SHA256;
    let question_end = 12 + 13 + 4;
    let opt_end = question_end + 23;
    let mut moved = raw[..question_end].to_vec();
    moved.extend_from_slice(&raw[opt_end..]);
    moved.extend_from_slice(&raw[question_end..opt_end]);
    assert!(verify_request(&moved, &ring(), time_signed(raw)).is_err());
}

fn hex(text: &str) -> Vec<u8> {
    data_encoding::HEXLOWER
        .decode(text.as_bytes())
        .expect("valid hex")
}

fn verified_sha256(request_mac: Vec<u8>) -> Verified {
    let ring = ring();
    let key = Arc::clone(
        ring.get(&Name::from_str("xfr-key.").expect("name"))
            .expect("key"),
    );
    Verified { key, request_mac }
}

#[test]
fn rfc8945_s5_3_1_response_macs_match_an_independent_hmac() {
    // Computed with Python's hmac: first message over len(request MAC) | request MAC |
    // message | TSIG variables; the second over len(prior MAC) | prior MAC | message |
    // timers (§5.3.1: "Prior MAC ... DNS Messages ... TSIG Timers").
    let first = hex("123484000001000000000000076578616d706c6503636f6d0000060001");
    let second = hex("123484000000000000000000");
    let mut signer = ResponseSigner::new(&verified_sha256(vec![0x11; 32]));
    let tsig = signer.sign(&first, 1_700_000_000).expect("has a header");
    assert_eq!(
        tsig.data.mac,
        hex("447e4c82143060b6d9127c588f3d3d12e852f01aedb905ad38633edaba33e2eb")
    );
    assert_eq!(tsig.data.oid, 0x1234);
    assert_eq!(tsig.data.fudge, 300);
    let tsig = signer.sign(&second, 1_700_000_001).expect("has a header");
    assert_eq!(
        tsig.data.mac,
        hex("fc4cea98e7b0be674b83ac3a8b40d910ff6b856d396f1ebd88c3b846d7df981b")
    );
}

#[test]
fn rfc8945_s5_3_signed_response_verifies_and_a_tampered_one_does_not() {
    let ring = ring();
    let key = Arc::clone(
        ring.get(&Name::from_str("XFR-key.").expect("name"))
            .expect("key"),
    );
    let request = hex("abcd00000001000000000000076578616d706c6503636f6d0000060001");
    let (tsig, mac) = sign_request(&request, &key, 1_000_000).expect("header");
    let signed = append(&request, &tsig).expect("appends");
    let Ok(Outcome::Verified(verified)) = verify_request(&signed, &ring, 1_000_100) else {
        panic!("our own request does not verify");
    };
    assert_eq!(verified.request_mac, mac);
    let response = hex("abcd84000001000000000000076578616d706c6503636f6d0000060001");
    let mut signer = ResponseSigner::new(&verified);
    let tsig = signer.sign(&response, 1_000_101).expect("header");
    let sent = append(&response, &tsig).expect("appends");
    assert!(verify_response(&sent, &key, &mac, 1_000_102));
    let mut tampered = sent.clone();
    tampered[3] ^= 0x0f;
    assert!(!verify_response(&tampered, &key, &mac, 1_000_102));
    assert!(!verify_response(&sent, &key, &[0; 32], 1_000_102));
}

#[test]
fn rfc8945_s5_2_3_badtime_answer_carries_server_time_and_is_signed() {
    // §5.2.3: "It MUST include the client's current time in the Time Signed field, the
    // server's current time (an unsigned 48-bit integer) in the Other Data field, and an
    // Other Len field of 6."
    let mut signer = ResponseSigner::bad_time(&verified_sha256(vec![7; 32]), 1000, 0x0102_0304);
    let tsig = signer
        .sign(&hex("123484090000000000000000"), 5000)
        .expect("header");
    assert_eq!(tsig.data.time, 1000);
    assert_eq!(tsig.data.error, Some(TsigError::BadTime));
    assert_eq!(tsig.data.other, vec![0, 0, 1, 2, 3, 4]);
    assert_eq!(tsig.data.mac.len(), 32);
}

#[test]
fn rfc8945_s4_2_key_names_match_in_any_case() {
    // RFC 8945 §4.2: the TSIG RR's NAME is the key name, in domain name syntax, and domain
    // names compare without regard to case (RFC 4343). The ring relies on `Name`'s
    // case-insensitive hash and equality, with no lowercase copy per lookup.
    let ring = ring();
    for name in ["xfr-key.", "XFR-Key.", "BIG.KEY."] {
        let name = Name::from_str(name).expect("valid name");
        let found = ring.get(&name).expect("configured key");
        assert_eq!(found.name(), &name);
    }
    assert!(
        ring.get(&Name::from_str("other.").expect("valid name"))
            .is_none()
    );
}
