//! TSIG verification: bytes in as a signed request (and as a signed response), as the handler
//! and the NOTIFY task verify them.

use std::sync::OnceLock;

use daned::config::Config;
use daned::serve::tsig::{
    KeyRing, Outcome, ResponseSigner, append, sign_request, verify_request, verify_response,
};
use hickory_proto::op::Message;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// The keys daned knows: the one the seeds sign with, and one of the other algorithm.
const CONFIG: &str = r#"version = "v1"
[[tsig-key]]
name = "xfr-key"
algorithm = "hmac-sha256"
secret = "c2VjcmV0LXNoYTI1Ni1rZXktZm9yLXRlc3Rz"
[[tsig-key]]
name = "other.key."
algorithm = "hmac-sha512"
secret = "b3RoZXItc2VjcmV0LWZvci1obWFjLXNoYTUxMi10ZXN0cw=="
"#;

/// The verifier's clock: the time the seeds were signed at.
pub(crate) const NOW: u64 = 1_796_083_200;

fn keys() -> &'static KeyRing {
    static KEYS: OnceLock<KeyRing> = OnceLock::new();
    KEYS.get_or_init(|| {
        let config = Config::parse(CONFIG, "/nonexistent/daned.toml".as_ref())
            .expect("the fixture config parses");
        KeyRing::new(&config.tsig_keys)
    })
}

/// Verifies `data` as a request and as a response; a message without TSIG that parses is
/// signed with a known key and must then verify, and so must our signed answer to it.
pub fn tsig(data: &[u8]) {
    let keys = keys();
    let key = keys
        .get(&"xfr-key.".parse().expect("key name"))
        .expect("the fixture key");
    let outcome = verify_request(data, keys, NOW);
    // The response signer for whatever verified (or failed with BADTIME), over the input.
    match &outcome {
        Ok(Outcome::Verified(verified)) => {
            let _ = ResponseSigner::new(verified).sign(data, NOW);
        }
        Ok(Outcome::Failed(failure)) => {
            if let Some(verified) = &failure.verified {
                let _ = ResponseSigner::bad_time(verified, failure.time, NOW).sign(data, NOW);
            }
        }
        _ => {}
    }
    let _ = verify_response(data, key, &[0x5a; 32], NOW);

    // Only a whole message (hickory ignores bytes after the last record; the verifier reads
    // them as the start of the next) is signed.
    let mut decoder = BinDecoder::new(data);
    if !matches!(outcome, Ok(Outcome::Unsigned))
        || Message::read(&mut decoder).is_err()
        || !decoder.is_empty()
    {
        return;
    }
    let Some((record, _mac)) = sign_request(data, key, NOW) else {
        return;
    };
    let Some(signed) = append(data, &record) else {
        return;
    };
    let verified = match verify_request(&signed, keys, NOW) {
        Ok(Outcome::Verified(verified)) => verified,
        // hickory reads some messages that our stricter split refuses (trailing bytes).
        Err(_) => return,
        Ok(other) => panic!("a request we signed does not verify: {other:?}"),
    };
    let mut signer = ResponseSigner::new(&verified);
    let Some(record) = signer.sign(data, NOW) else {
        return;
    };
    let response = append(data, &record).expect("a message with a header takes a TSIG RR");
    assert!(
        verify_response(&response, key, &verified.request_mac, NOW),
        "a response we signed does not verify"
    );
}
