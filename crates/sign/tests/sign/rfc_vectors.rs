//! Published DNSSEC test vectors: RFC 6605 §6 (ECDSA P-256 and P-384) and RFC 8080 §6.1
//! (Ed25519, with the values of Errata 4935).
//!
//! ECDSA signatures are randomised, so for RFC 6605 the published RRSIG is verified and our own
//! RRSIG is compared field by field without its signature bytes. Ed25519 is deterministic, so
//! for RFC 8080 our RRSIG must equal the published one byte for byte.

use std::str::FromStr;

use daned_sign::SignError;
use daned_sign::hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG, SigInput};
use daned_sign::hickory_proto::dnssec::{Algorithm, DigestType, PublicKey};
use daned_sign::hickory_proto::rr::rdata::{A, MX};
use daned_sign::hickory_proto::rr::{Name, RData, Record, RecordType, SerialNumber};
use daned_sign::hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use daned_sign::keys::{KeyAlgorithm, KeyRole, SigningKey, ds_for, key_tag};
use daned_sign::rrsig::{SigTimes, sign_rrset, signed_data, verify_rrsig};
use daned_sign::zone::Rrset;
use data_encoding::{BASE64, HEXLOWER_PERMISSIVE};
use ring::rand::SystemRandom;

/// One published key with the records it signs.
struct Vector {
    zone: &'static str,
    algorithm: KeyAlgorithm,
    /// BIND `PrivateKey:` field (base64): ECDSA scalar or Ed25519 seed.
    private_key: &'static str,
    /// DNSKEY public key field (base64).
    dnskey: &'static str,
    key_tag: u16,
    ds_digest_type: DigestType,
    ds_digest: &'static str,
    /// The RRSIG's Labels, Original TTL, expiration, inception and signature (base64).
    labels: u8,
    original_ttl: u32,
    expiration: u32,
    inception: u32,
    signature: &'static str,
}

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap_or_else(|e| panic!("test name {s}: {e}"))
}

fn b64(s: &str) -> Vec<u8> {
    let joined: String = s.split_whitespace().collect();
    BASE64
        .decode(joined.as_bytes())
        .unwrap_or_else(|e| panic!("test base64: {e}"))
}

fn hex(s: &str) -> Vec<u8> {
    let joined: String = s.split_whitespace().collect();
    HEXLOWER_PERMISSIVE
        .decode(joined.as_bytes())
        .unwrap_or_else(|e| panic!("test hex: {e}"))
}

fn load(v: &Vector) -> SigningKey {
    let rng = SystemRandom::new();
    let private = b64(v.private_key);
    match v.algorithm {
        KeyAlgorithm::Ed25519 => SigningKey::from_ed25519_seed(&private, KeyRole::Ksk),
        other => {
            SigningKey::from_ecdsa_private_key(other, &private, &b64(v.dnskey), KeyRole::Ksk, &rng)
        }
    }
    .unwrap_or_else(|e| panic!("loading the {} key: {e}", v.algorithm))
}

fn published_rrsig(v: &Vector, rtype: RecordType) -> RRSIG {
    RRSIG::from_sig(
        SigInput {
            type_covered: rtype,
            algorithm: v.algorithm.dnssec_algorithm(),
            num_labels: v.labels,
            original_ttl: v.original_ttl,
            sig_expiration: SerialNumber::new(v.expiration),
            sig_inception: SerialNumber::new(v.inception),
            key_tag: v.key_tag,
            signer_name: name(v.zone),
        },
        b64(v.signature),
    )
}

fn rrsig_of(record: &Record) -> &RRSIG {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sig,
        other => panic!("not an RRSIG: {other:?}"),
    }
}

fn wire(rrsig: &RRSIG) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut encoder = BinEncoder::new(&mut buf);
    rrsig
        .emit(&mut encoder)
        .unwrap_or_else(|e| panic!("encoding RRSIG: {e}"));
    buf
}

/// Checks the key half of a vector: private key -> DNSKEY, key tag, DS.
fn check_key(v: &Vector) -> SigningKey {
    let key = load(v);
    // RFC 4034 §2.1.1: flags 257 = Zone Key + Secure Entry Point; protocol 3.
    assert_eq!(key.dnskey().flags(), 257);
    assert_eq!(
        key.dnskey().public_key().algorithm(),
        v.algorithm.dnssec_algorithm()
    );
    assert_eq!(
        key.dnskey().public_key().public_bytes(),
        b64(v.dnskey).as_slice(),
        "{}: public key derived from the private key",
        v.algorithm
    );
    assert_eq!(key.key_tag(), v.key_tag, "{}: key tag", v.algorithm);
    let published = DNSKEY::with_flags(
        257,
        daned_sign::hickory_proto::dnssec::PublicKeyBuf::new(
            b64(v.dnskey),
            v.algorithm.dnssec_algorithm(),
        ),
    );
    assert_eq!(key_tag(&published).ok(), Some(v.key_tag));
    let ds = key
        .ds(&name(v.zone), v.ds_digest_type)
        .unwrap_or_else(|e| panic!("DS: {e}"));
    assert_eq!(ds.key_tag(), v.key_tag);
    assert_eq!(ds.algorithm(), v.algorithm.dnssec_algorithm());
    assert_eq!(ds.digest_type(), v.ds_digest_type);
    assert_eq!(
        ds.digest(),
        hex(v.ds_digest).as_slice(),
        "{}: DS digest",
        v.algorithm
    );
    // The DS of the published DNSKEY, owner given in upper case: the digest uses the
    // canonical (lowercase) owner, RFC 4034 §5.1.4.
    let upper = ds_for(&name(&v.zone.to_uppercase()), &published, v.ds_digest_type)
        .unwrap_or_else(|e| panic!("DS: {e}"));
    assert_eq!(upper, ds);
    key
}

// RFC 6605 §6.1 (P-256): `www.example.net. 3600 IN A 192.0.2.1` signed by key 55648.
const RFC6605_P256: Vector = Vector {
    zone: "example.net.",
    algorithm: KeyAlgorithm::EcdsaP256Sha256,
    private_key: "GU6SnQ/Ou+xC5RumuIUIuJZteXT2z0O/ok1s38Et6mQ=",
    dnskey: "GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb
             krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
    key_tag: 55648,
    ds_digest_type: DigestType::SHA256,
    ds_digest: "b4c8c1fe2e7477127b27115656ad6256f424625bf5c1
                e2770ce6d6e37df61d17",
    labels: 3,
    original_ttl: 3600,
    // 20100909100439 and 20100812100439 UTC.
    expiration: 1_284_026_679,
    inception: 1_281_607_479,
    signature: "qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXA
                yGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==",
};

// RFC 6605 §6.2 (P-384): the same A record signed by key 10771; the DS uses SHA-384.
const RFC6605_P384: Vector = Vector {
    zone: "example.net.",
    algorithm: KeyAlgorithm::EcdsaP384Sha384,
    private_key: "WURgWHCcYIYUPWgeLmiPY2DJJk02vgrmTfitxgqcL4vwW7BOrbawVmVe0d9V94SR",
    dnskey: "xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+SErKivBVSum1
             w/egsXvSADtNJhyem5RCOpgQ6K8X1DRSEkrbYQ+OB+v8
             /uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40",
    key_tag: 10771,
    ds_digest_type: DigestType::SHA384,
    ds_digest: "72d7b62976ce06438e9c0bf319013cf801f09ecc84b8
                d7e9495f27e305c6a9b0563a9b5f4d288405c3008a94
                6df983d6",
    labels: 3,
    original_ttl: 3600,
    // 20100909102025 and 20100812102025 UTC.
    expiration: 1_284_027_625,
    inception: 1_281_608_425,
    signature: "/L5hDKIvGDyI1fcARX3z65qrmPsVz73QD1Mr5CEqOiLP
                95hxQouuroGCeZOvzFaxsT8Glr74hbavRKayJNuydCuz
                WTSSPdz7wnqXL5bdcJzusdnI0RSMROxxwGipWcJm",
};

// RFC 8080 §6.1, first key, with Errata 4935: `example.com. 3600 IN MX 10 mail.example.com.`
// signed as `RRSIG MX 15 2 3600 1440021600 1438207200 3613 example.com.`
const RFC8080_KEY1: Vector = Vector {
    zone: "example.com.",
    algorithm: KeyAlgorithm::Ed25519,
    private_key: "ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=",
    dnskey: "l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
    key_tag: 3613,
    ds_digest_type: DigestType::SHA256,
    ds_digest: "3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b",
    labels: 2,
    original_ttl: 3600,
    expiration: 1_440_021_600,
    inception: 1_438_207_200,
    signature: "oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3f
                x8A4M3e23mRZ9VrbpMngwcrqNAg==",
};

// RFC 8080 §6.1, second key (tag 35217), Errata 4935.
const RFC8080_KEY2: Vector = Vector {
    zone: "example.com.",
    algorithm: KeyAlgorithm::Ed25519,
    private_key: "DSSF3o0s0f+ElWzj9E/Osxw8hLpk55chkmx0LYN5WiY=",
    dnskey: "zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=",
    key_tag: 35217,
    ds_digest_type: DigestType::SHA256,
    ds_digest: "401781b934e392de492ec77ae2e15d70f6575a1c0bc59c5275c04ebe80c6614c",
    labels: 2,
    original_ttl: 3600,
    expiration: 1_440_021_600,
    inception: 1_438_207_200,
    signature: "zXQ0bkYgQTEFyfLyi9QoiY6D8ZdYo4wyUhVioYZXFdT410QPRITQSqJSnzQ
                oSm5poJ7gD7AQR0O7KuI5k2pcBg==",
};

fn www_example_net_a() -> Rrset {
    Rrset::new(
        &name("www.example.net."),
        RecordType::A,
        3600,
        [RData::A(A::new(192, 0, 2, 1))],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn example_com_mx() -> Rrset {
    Rrset::new(
        &name("example.com."),
        RecordType::MX,
        3600,
        [RData::MX(MX::new(10, name("mail.example.com.")))],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// RFC 6605: the published RRSIG verifies; ours matches it in every field but the signature
/// and verifies too.
fn check_ecdsa(v: &Vector) {
    let key = check_key(v);
    let rrset = www_example_net_a();
    let published = published_rrsig(v, RecordType::A);
    verify_rrsig(&rrset, &published, key.dnskey())
        .unwrap_or_else(|e| panic!("{}: the RFC's RRSIG does not verify: {e}", v.algorithm));

    let rng = SystemRandom::new();
    let times = SigTimes {
        inception: v.inception,
        expiration: v.expiration,
    };
    let record =
        sign_rrset(&rrset, &key, &name(v.zone), times, &rng).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.name, name("www.example.net."));
    assert_eq!(record.ttl, 3600);
    let ours = rrsig_of(&record);
    // ECDSA is randomised (RFC 6605 §4 signatures depend on a random k): compare the fields,
    // never the signature bytes.
    assert_eq!(ours.input(), published.input());
    assert_eq!(ours.sig().len(), published.sig().len());
    verify_rrsig(&rrset, ours, key.dnskey()).unwrap_or_else(|e| panic!("{e}"));

    // A flipped bit in the published signature must not verify.
    let mut broken = published.sig().to_vec();
    broken[0] ^= 1;
    let broken = RRSIG::from_sig(published.input().clone(), broken);
    assert!(matches!(
        verify_rrsig(&rrset, &broken, key.dnskey()),
        Err(SignError::BadZone { .. })
    ));
}

/// RFC 8080 (Ed25519 is deterministic): our RRSIG equals the errata's byte for byte.
fn check_ed25519(v: &Vector) {
    let key = check_key(v);
    let rrset = example_com_mx();
    let published = published_rrsig(v, RecordType::MX);
    verify_rrsig(&rrset, &published, key.dnskey())
        .unwrap_or_else(|e| panic!("the errata's RRSIG does not verify: {e}"));
    let rng = SystemRandom::new();
    let times = SigTimes {
        inception: v.inception,
        expiration: v.expiration,
    };
    let record =
        sign_rrset(&rrset, &key, &name(v.zone), times, &rng).unwrap_or_else(|e| panic!("{e}"));
    let ours = rrsig_of(&record);
    assert_eq!(ours, &published);
    assert_eq!(wire(ours), wire(&published));
}

#[test]
fn rfc6605_s6_1_p256_example() {
    // RFC 6605 §6.1: "This section shows the private key, the DNSKEY, the DS, an A record, and
    // the RRSIG for that A record" for ECDSA P-256 with SHA-256.
    check_ecdsa(&RFC6605_P256);
}

#[test]
fn rfc6605_s6_2_p384_example() {
    // RFC 6605 §6.2: the same for ECDSA P-384 with SHA-384, whose DS uses SHA-384 (type 4).
    check_ecdsa(&RFC6605_P384);
}

#[test]
fn rfc8080_s6_1_ed25519_example_1() {
    // RFC 8080 §6.1 with Errata 4935: the Labels field of the RRSIG over example.com. MX is 2,
    // not the 3 the RFC text prints; the signature was recomputed with Labels=2.
    check_ed25519(&RFC8080_KEY1);
}

#[test]
fn rfc8080_s6_1_ed25519_example_2() {
    // RFC 8080 §6.1, second example (key tag 35217), Errata 4935 values.
    check_ed25519(&RFC8080_KEY2);
}

#[test]
fn rfc8080_pre_errata_labels_3_signature_does_not_verify() {
    // The RFC text prints "RRSIG MX 3 3600 ..." (Labels = 3) for a two-label owner; RFC 4035
    // §5.3.1: "The number of labels in the RRset owner name MUST be greater than or equal to
    // the value in the RRSIG RR's Labels field." Such an RRSIG must be rejected.
    let key = load(&RFC8080_KEY1);
    let mut v_bad = published_rrsig(&RFC8080_KEY1, RecordType::MX)
        .input()
        .clone();
    v_bad.num_labels = 3;
    let bad = RRSIG::from_sig(v_bad, b64(RFC8080_KEY1.signature));
    assert!(matches!(
        verify_rrsig(&example_com_mx(), &bad, key.dnskey()),
        Err(SignError::BadZone { .. })
    ));
}

#[test]
fn rfc4034_s3_1_8_1_signed_data_layout() {
    // RFC 4034 §3.1.8.1: "signature = sign(RRSIG_RDATA | RR(1) | RR(2)... )" where
    // "RR(i) = owner | type | class | TTL | RDATA length | RDATA" and "RRSIG_RDATA is the wire
    // format of the RRSIG RDATA fields with the Signer's Name field in canonical form and the
    // Signature field excluded". Built by hand for the RFC 8080 MX example.
    let input = published_rrsig(&RFC8080_KEY1, RecordType::MX)
        .input()
        .clone();
    let mut expected = Vec::new();
    expected.extend_from_slice(&[0, 15]); // type covered MX
    expected.push(15); // algorithm Ed25519
    expected.push(2); // labels
    expected.extend_from_slice(&3600u32.to_be_bytes());
    expected.extend_from_slice(&1_440_021_600u32.to_be_bytes());
    expected.extend_from_slice(&1_438_207_200u32.to_be_bytes());
    expected.extend_from_slice(&3613u16.to_be_bytes());
    let example_com = b"\x07example\x03com\x00";
    expected.extend_from_slice(example_com); // signer
    expected.extend_from_slice(example_com); // owner
    expected.extend_from_slice(&[0, 15, 0, 1]); // MX IN
    expected.extend_from_slice(&3600u32.to_be_bytes());
    let rdata = b"\x00\x0a\x04mail\x07example\x03com\x00";
    expected.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    expected.extend_from_slice(rdata);
    let got = signed_data(&example_com_mx(), &input).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, expected);

    // The owner and signer are lowercased (RFC 4034 §6.2) whatever case they came in.
    let mut upper_input = input.clone();
    upper_input.signer_name = name("EXAMPLE.COM.");
    let upper_rrset = Rrset::new(
        &name("Example.COM."),
        RecordType::MX,
        3600,
        [RData::MX(MX::new(10, name("MAIL.example.com.")))],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let got = signed_data(&upper_rrset, &upper_input).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, expected);
}

#[test]
fn rfc4034_s6_3_records_sorted_by_canonical_rdata() {
    // RFC 4034 §6.3: "RRs with the same owner name, class, and type are sorted by treating the
    // RDATA portion of the canonical form of each RR as a left-justified unsigned octet
    // sequence". MX 9 (0x0009) sorts before MX 10 (0x000a), and MX 10 a.b.example.com. sorts
    // before MX 10 b.example.com. (octet 'a' < 'b'), the reverse of the canonical *name* order
    // of RFC 4034 §6.1, where b.example.com. comes first as an ancestor.
    let rrset = Rrset::new(
        &name("example.com."),
        RecordType::MX,
        3600,
        [
            RData::MX(MX::new(10, name("a.b.example.com."))),
            RData::MX(MX::new(10, name("b.example.com."))),
            RData::MX(MX::new(9, name("z.example.com."))),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let input = published_rrsig(&RFC8080_KEY1, RecordType::MX)
        .input()
        .clone();
    let data = signed_data(&rrset, &input).unwrap_or_else(|e| panic!("{e}"));
    let find = |needle: &[u8]| {
        data.windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the signed data"))
    };
    let mx9 = find(b"\x00\x09\x01z\x07example");
    let mx10_b = find(b"\x00\x0a\x01b\x07example");
    let mx10_ab = find(b"\x00\x0a\x01a\x01b\x07example");
    assert!(
        mx9 < mx10_ab && mx10_ab < mx10_b,
        "{mx9} {mx10_ab} {mx10_b}"
    );
}

#[test]
fn rfc4034_appendix_b_key_tag_matches_hickory() {
    // RFC 4034 Appendix B gives the key tag algorithm; hickory implements the same one.
    for v in [&RFC6605_P256, &RFC6605_P384, &RFC8080_KEY1, &RFC8080_KEY2] {
        let dnskey = DNSKEY::with_flags(
            257,
            daned_sign::hickory_proto::dnssec::PublicKeyBuf::new(
                b64(v.dnskey),
                v.algorithm.dnssec_algorithm(),
            ),
        );
        assert_eq!(key_tag(&dnskey).ok(), Some(v.key_tag));
        assert_eq!(dnskey.calculate_key_tag().ok(), Some(v.key_tag));
    }
    assert_eq!(
        KeyAlgorithm::try_from(Algorithm::ED25519).ok(),
        Some(KeyAlgorithm::Ed25519)
    );
}
