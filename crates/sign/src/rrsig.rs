//! RRSIG creation and verification (RFC 4034 §3, RFC 4035 §2.2 and §5.3).
//!
//! The signed data is built here, not with hickory's `TBS`: RFC 4034 §6.3 orders the records
//! of an RRset by their canonical RDATA octets, which is the order [`Rrset`] keeps.

#![allow(
    clippy::result_large_err,
    reason = "SignError is the crate's one error type (error.rs); boxing it is a crate-wide decision"
)]

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, PublicKey};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use ring::rand::SecureRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256,
    RsaPublicKeyComponents, UnparsedPublicKey,
};

use crate::error::SignError;
use crate::keys::{SigningKey, key_tag};
use crate::zone::{Rrset, canonical_name, canonical_rdata};

/// The validity window of a signature, in seconds since the epoch (RFC 1982 arithmetic applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigTimes {
    /// Signature inception.
    pub inception: u32,
    /// Signature expiration.
    pub expiration: u32,
}

/// Signs `rrset` with `key` as zone `signer`, returning the RRSIG record (owner and TTL of the
/// RRset, Labels without a leading wildcard label, Original TTL = the RRset's TTL).
///
/// # Errors
///
/// [`SignError::Signing`] when the key fails, [`SignError::Encode`] when the RRset cannot be put
/// in canonical form, [`SignError::OutOfZone`] when the RRset is not at or below `signer`,
/// [`SignError::BadZone`] for an RRSIG RRset (RFC 4035 §2.2: RRSIGs are not signed).
pub fn sign_rrset(
    rrset: &Rrset,
    key: &SigningKey,
    signer: &Name,
    times: SigTimes,
    rng: &dyn SecureRandom,
) -> Result<Record, SignError> {
    let signer = canonical_name(signer);
    if !signer.zone_of(rrset.name()) {
        return Err(SignError::OutOfZone {
            name: rrset.name().clone(),
            origin: signer,
        });
    }
    if rrset.rtype() == RecordType::RRSIG {
        return Err(SignError::BadZone {
            name: rrset.name().clone(),
            reason: "an RRSIG RRset is never signed (RFC 4035 §2.2)".into(),
        });
    }
    let input = SigInput {
        type_covered: rrset.rtype(),
        algorithm: key.dnssec_algorithm(),
        // RFC 4034 §3.1.3: not counting the root label nor a leading "*" label; hickory's
        // num_labels does exactly this.
        num_labels: rrset.name().num_labels(),
        original_ttl: rrset.ttl(),
        sig_expiration: SerialNumber::new(times.expiration),
        sig_inception: SerialNumber::new(times.inception),
        key_tag: key.key_tag(),
        signer_name: signer,
    };
    let data = signed_data(rrset, &input)?;
    let sig = key.sign(&data, rng).map_err(|_| SignError::Signing {
        name: rrset.name().clone(),
        rtype: rrset.rtype(),
        key_tag: key.key_tag(),
    })?;
    let mut record = Record::from_rdata(
        rrset.name().clone(),
        rrset.ttl(),
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
    );
    record.dns_class = DNSClass::IN;
    Ok(record)
}

/// Checks that `rrsig` is a valid signature over `rrset` by `dnskey` (RFC 4035 §5.3), ignoring
/// the validity window. Used by tests and by the signer's self-check.
///
/// Checked: the type covered, the algorithm and key tag against the DNSKEY, the DNSKEY's Zone
/// Key flag, that the Signer's Name is at or above the owner, that Labels does not exceed the
/// owner's label count, and the signature itself. The DNSKEY's owner is not known here, so the
/// caller must pass a DNSKEY published at the Signer's Name. When Labels is below the owner's
/// count the RRset is a wildcard expansion and is verified as the "*" name (RFC 4035 §5.3.2).
/// RSA keys must be 2048 to 8192 bits.
///
/// # Errors
///
/// [`SignError::BadZone`] naming what does not match.
pub fn verify_rrsig(rrset: &Rrset, rrsig: &RRSIG, dnskey: &DNSKEY) -> Result<(), SignError> {
    let bad = |reason: String| SignError::BadZone {
        name: rrset.name().clone(),
        reason: format!("RRSIG {}: {reason}", rrset.rtype()),
    };
    let input = rrsig.input();
    if input.type_covered != rrset.rtype() {
        return Err(bad(format!("covers type {}", input.type_covered)));
    }
    let key_algorithm = dnskey.public_key().algorithm();
    if input.algorithm != key_algorithm {
        return Err(bad(format!(
            "algorithm {} does not match the DNSKEY's {}",
            u8::from(input.algorithm),
            u8::from(key_algorithm)
        )));
    }
    let tag = key_tag(dnskey)?;
    if input.key_tag != tag {
        return Err(bad(format!(
            "key tag {} does not match the DNSKEY's {tag}",
            input.key_tag
        )));
    }
    if !dnskey.zone_key() {
        return Err(bad(format!(
            "DNSKEY {tag} does not have the Zone Key flag (RFC 4034 §2.1.1)"
        )));
    }
    if !input.signer_name.zone_of(rrset.name()) {
        return Err(bad(format!(
            "signer {} is not an ancestor of the owner (RFC 4035 §5.3.1)",
            input.signer_name
        )));
    }
    let data = signed_data(rrset, input)?;
    let public = dnskey.public_key().public_bytes();
    let sig = rrsig.sig();
    let verified = match key_algorithm {
        Algorithm::ECDSAP256SHA256 | Algorithm::ECDSAP384SHA384 => {
            let alg = if key_algorithm == Algorithm::ECDSAP256SHA256 {
                &ECDSA_P256_SHA256_FIXED
            } else {
                &ECDSA_P384_SHA384_FIXED
            };
            // RFC 6605 §4: the DNSKEY holds x || y; ring wants the SEC1 point 0x04 || x || y.
            let mut point = Vec::with_capacity(public.len() + 1);
            point.push(0x04);
            point.extend_from_slice(public);
            UnparsedPublicKey::new(alg, point).verify(&data, sig)
        }
        Algorithm::ED25519 => UnparsedPublicKey::new(&ED25519, public).verify(&data, sig),
        Algorithm::RSASHA256 => {
            let (e, n) = rsa_parts(public).ok_or_else(|| {
                bad(format!(
                    "DNSKEY {tag} has a malformed RSA key (RFC 3110 §2)"
                ))
            })?;
            RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, &data, sig)
        }
        other => {
            return Err(bad(format!(
                "algorithm {} is not supported",
                u8::from(other)
            )));
        }
    };
    verified.map_err(|_| bad(format!("signature by key {tag} does not verify")))
}

/// The data an RRSIG signs (RFC 4034 §3.1.8.1):
/// `RRSIG_RDATA (without the signature, Signer's Name in canonical form) | RR(1) | RR(2) ...`,
/// each RR being `owner | type | class | Original TTL | RDLENGTH | canonical RDATA`, in the
/// canonical order of RFC 4034 §6.3 (the order [`Rrset`] keeps).
///
/// The owner is the lowercase owner name, or, when `input`'s Labels is smaller than the owner's
/// label count (a wildcard expansion), `"*."` followed by the rightmost Labels labels
/// (RFC 4035 §5.3.2).
///
/// # Errors
///
/// [`SignError::BadZone`] when Labels exceeds the owner's label count, [`SignError::Encode`]
/// when a record cannot be encoded.
pub fn signed_data(rrset: &Rrset, input: &SigInput) -> Result<Vec<u8>, SignError> {
    let encode_err = |e: hickory_proto::ProtoError| SignError::Encode {
        name: rrset.name().clone(),
        rtype: rrset.rtype(),
        reason: e.to_string(),
    };
    let owner = signed_owner(rrset, input.num_labels)?;

    let mut data = Vec::with_capacity(256);
    {
        let mut encoder = BinEncoder::new(&mut data);
        encoder.set_name_encoding(NameEncoding::UncompressedLowercase);
        // RRSIG_RDATA without the Signature field.
        encoder
            .emit_u16(u16::from(input.type_covered))
            .map_err(encode_err)?;
        encoder
            .emit(u8::from(input.algorithm))
            .map_err(encode_err)?;
        encoder.emit(input.num_labels).map_err(encode_err)?;
        encoder.emit_u32(input.original_ttl).map_err(encode_err)?;
        encoder
            .emit_u32(input.sig_expiration.get())
            .map_err(encode_err)?;
        encoder
            .emit_u32(input.sig_inception.get())
            .map_err(encode_err)?;
        encoder.emit_u16(input.key_tag).map_err(encode_err)?;
        canonical_name(&input.signer_name)
            .emit(&mut encoder)
            .map_err(encode_err)?;
    }
    let mut owner_wire = Vec::with_capacity(64);
    {
        let mut encoder = BinEncoder::new(&mut owner_wire);
        encoder.set_name_encoding(NameEncoding::UncompressedLowercase);
        owner.emit(&mut encoder).map_err(encode_err)?;
    }
    let rtype = u16::from(rrset.rtype()).to_be_bytes();
    let class = u16::from(DNSClass::IN).to_be_bytes();
    let ttl = input.original_ttl.to_be_bytes();
    for rdata in rrset.rdatas() {
        let wire = canonical_rdata(rdata).map_err(encode_err)?;
        let len = u16::try_from(wire.len()).map_err(|_| SignError::Encode {
            name: rrset.name().clone(),
            rtype: rrset.rtype(),
            reason: format!("RDATA of {} octets is too long", wire.len()),
        })?;
        data.extend_from_slice(&owner_wire);
        data.extend_from_slice(&rtype);
        data.extend_from_slice(&class);
        data.extend_from_slice(&ttl);
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(&wire);
    }
    Ok(data)
}

/// The owner name as it appears in the signed data (RFC 4035 §5.3.2).
fn signed_owner(rrset: &Rrset, labels: u8) -> Result<Name, SignError> {
    let owner = canonical_name(rrset.name());
    let owner_labels = owner.num_labels();
    if labels == owner_labels {
        return Ok(owner);
    }
    if labels > owner_labels {
        return Err(SignError::BadZone {
            name: owner.clone(),
            reason: format!(
                "RRSIG {}: Labels {labels} exceeds the owner's {owner_labels} labels \
                 (RFC 4035 §5.3.1)",
                rrset.rtype()
            ),
        });
    }
    // RFC 4035 §5.3.2: "*." followed by the rightmost Labels labels of the owner.
    let suffix = owner.trim_to(usize::from(labels));
    suffix.prepend_label("*").map_err(|e| SignError::Encode {
        name: owner.clone(),
        rtype: rrset.rtype(),
        reason: e.to_string(),
    })
}

/// Splits an RFC 3110 §2 RSA public key into (exponent, modulus).
fn rsa_parts(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = key.split_first()?;
    let (e_len, rest) = if first == 0 {
        let (len, rest) = rest.split_at_checked(2)?;
        (usize::from(u16::from_be_bytes([len[0], len[1]])), rest)
    } else {
        (usize::from(first), rest)
    };
    let (e, n) = rest.split_at_checked(e_len)?;
    (!e.is_empty() && !n.is_empty()).then_some((e, n))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use hickory_proto::rr::rdata::A;
    use ring::rand::SystemRandom;

    use super::*;
    use crate::keys::{KeyAlgorithm, KeyRole, Pkcs8Key};

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap_or_else(|e| panic!("test name {s}: {e}"))
    }

    fn a_rrset(owner: &str) -> Rrset {
        let rdatas = [
            RData::A(A::new(192, 0, 2, 2)),
            RData::A(A::new(192, 0, 2, 1)),
        ];
        Rrset::new(&name(owner), RecordType::A, 3600, rdatas).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rrsig_of(record: &Record) -> &RRSIG {
        match &record.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sig,
            other => panic!("not an RRSIG: {other:?}"),
        }
    }

    const TIMES: SigTimes = SigTimes {
        inception: 1_700_000_000,
        expiration: 1_700_864_000,
    };

    #[test]
    fn sign_then_verify_every_generated_algorithm() {
        let rng = SystemRandom::new();
        for algorithm in [
            KeyAlgorithm::EcdsaP256Sha256,
            KeyAlgorithm::EcdsaP384Sha384,
            KeyAlgorithm::Ed25519,
        ] {
            let pkcs8 = SigningKey::generate(algorithm, &rng).unwrap_or_else(|e| panic!("{e}"));
            let pem = pkcs8.to_pem();
            let again = Pkcs8Key::from_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
            let key = SigningKey::from_pkcs8(&again, KeyRole::Csk, &rng)
                .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
            assert_eq!(key.algorithm(), algorithm);
            assert_eq!(key.dnskey().flags(), 257);
            let rrset = a_rrset("www.Example.com.");
            let record = sign_rrset(&rrset, &key, &name("example.com."), TIMES, &rng)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(record.name, name("www.example.com."));
            assert_eq!(record.ttl, 3600);
            let sig = rrsig_of(&record);
            assert_eq!(sig.input().num_labels, 3);
            assert_eq!(sig.input().key_tag, key.key_tag());
            verify_rrsig(&rrset, sig, key.dnskey()).unwrap_or_else(|e| panic!("{algorithm}: {e}"));

            // A different RRset must not verify with this signature.
            let other = Rrset::new(
                &name("www.example.com."),
                RecordType::A,
                3600,
                [RData::A(A::new(192, 0, 2, 3))],
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(
                verify_rrsig(&other, sig, key.dnskey()),
                Err(SignError::BadZone { .. })
            ));
        }
    }

    #[test]
    fn rfc4035_s5_3_2_wildcard_expansion_verifies_as_star_name() {
        // RFC 4035 §5.3.2: "If the RRSIG RR's Labels field is less than the number of labels
        // in the owner name, ... the validator MUST reconstruct the original owner name"
        // as "*." followed by the rightmost Labels labels.
        let rng = SystemRandom::new();
        let pkcs8 =
            SigningKey::generate(KeyAlgorithm::Ed25519, &rng).unwrap_or_else(|e| panic!("{e}"));
        let key =
            SigningKey::from_pkcs8(&pkcs8, KeyRole::Zsk, &rng).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(key.dnskey().flags(), 256);
        let wild = a_rrset("*.example.com.");
        let record = sign_rrset(&wild, &key, &name("example.com."), TIMES, &rng)
            .unwrap_or_else(|e| panic!("{e}"));
        let sig = rrsig_of(&record);
        // RFC 4034 §3.1.3: "The value of the Labels field MUST NOT count either the null
        // (root) label that terminates the owner name or the wildcard label (if present)."
        assert_eq!(sig.input().num_labels, 2);
        verify_rrsig(&wild, sig, key.dnskey()).unwrap_or_else(|e| panic!("{e}"));
        let expanded = a_rrset("a.b.example.com.");
        verify_rrsig(&expanded, sig, key.dnskey()).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn verify_rejects_mismatched_fields() {
        let rng = SystemRandom::new();
        let pkcs8 = SigningKey::generate(KeyAlgorithm::EcdsaP256Sha256, &rng)
            .unwrap_or_else(|e| panic!("{e}"));
        let key =
            SigningKey::from_pkcs8(&pkcs8, KeyRole::Csk, &rng).unwrap_or_else(|e| panic!("{e}"));
        let other_pkcs8 = SigningKey::generate(KeyAlgorithm::EcdsaP256Sha256, &rng)
            .unwrap_or_else(|e| panic!("{e}"));
        let other = SigningKey::from_pkcs8(&other_pkcs8, KeyRole::Csk, &rng)
            .unwrap_or_else(|e| panic!("{e}"));
        let rrset = a_rrset("www.example.com.");
        let record = sign_rrset(&rrset, &key, &name("example.com."), TIMES, &rng)
            .unwrap_or_else(|e| panic!("{e}"));
        let sig = rrsig_of(&record);
        assert!(verify_rrsig(&rrset, sig, other.dnskey()).is_err());
        let mx_type = Rrset::new(
            &name("www.example.com."),
            RecordType::TXT,
            3600,
            [RData::TXT(hickory_proto::rr::rdata::TXT::new(vec![
                "x".into(),
            ]))],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(verify_rrsig(&mx_type, sig, key.dnskey()).is_err());
        // Labels greater than the owner's count is refused, not a panic.
        let short = a_rrset("example.com.");
        assert!(verify_rrsig(&short, sig, key.dnskey()).is_err());
        // Signing outside the signer's zone is refused.
        assert!(matches!(
            sign_rrset(&rrset, &key, &name("example.net."), TIMES, &rng),
            Err(SignError::OutOfZone { .. })
        ));
    }
}
