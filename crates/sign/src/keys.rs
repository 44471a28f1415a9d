//! DNSSEC signing keys: generation (with a caller-supplied RNG), PKCS#8 import and export,
//! the DNSKEY record, key tag and DS.
//!
//! DNSKEY public key formats:
//! - ECDSA (RFC 6605 §4): the uncompressed point without its `0x04` prefix, `x || y`.
//! - Ed25519 (RFC 8080 §3): the 32-byte public key.
//! - RSA (RFC 3110 §2): exponent length (1 octet, or 0 and 2 octets), exponent, modulus.

#![allow(
    clippy::result_large_err,
    reason = "SignError is the crate's one error type (error.rs); boxing it is a crate-wide decision"
)]

use std::fmt;
use std::str::FromStr;

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey, PublicKeyBuf};
use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use pkcs1::RsaPrivateKeyRef;
use pkcs8::der::asn1::{AnyRef, OctetStringRef, UintRef};
use pkcs8::der::{self, Decode, Encode};
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfoRef};
use ring::rand::SecureRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use sec1::EcPrivateKey;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::armour::{self, PemError};
use crate::error::SignError;

/// DNSKEY flags of a zone key with the Secure Entry Point bit (RFC 4034 §2.1.1).
const FLAGS_SEP: u16 = 257;
/// DNSKEY flags of a zone key without the SEP bit.
const FLAGS_ZONE: u16 = 256;

/// The algorithms daned signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA P-256 with SHA-256, algorithm 13 (RFC 6605). The default.
    EcdsaP256Sha256,
    /// ECDSA P-384 with SHA-384, algorithm 14 (RFC 6605).
    EcdsaP384Sha384,
    /// Ed25519, algorithm 15 (RFC 8080).
    Ed25519,
    /// RSA/SHA-256, algorithm 8 (RFC 5702). Import only: ring cannot generate RSA keys.
    RsaSha256,
}

impl KeyAlgorithm {
    /// Every algorithm, in the order of their DNSSEC numbers.
    pub const ALL: [KeyAlgorithm; 4] = [
        KeyAlgorithm::RsaSha256,
        KeyAlgorithm::EcdsaP256Sha256,
        KeyAlgorithm::EcdsaP384Sha384,
        KeyAlgorithm::Ed25519,
    ];

    /// The config-file name: `ecdsap256sha256`, `ecdsap384sha384`, `ed25519`, `rsasha256`.
    pub fn config_name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => "ecdsap256sha256",
            KeyAlgorithm::EcdsaP384Sha384 => "ecdsap384sha384",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::RsaSha256 => "rsasha256",
        }
    }

    /// hickory's algorithm for this one.
    pub fn dnssec_algorithm(self) -> Algorithm {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => Algorithm::ECDSAP256SHA256,
            KeyAlgorithm::EcdsaP384Sha384 => Algorithm::ECDSAP384SHA384,
            KeyAlgorithm::Ed25519 => Algorithm::ED25519,
            KeyAlgorithm::RsaSha256 => Algorithm::RSASHA256,
        }
    }

    /// The algorithm of a hickory [`Algorithm`].
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] for an algorithm daned does not sign with.
    pub fn from_dnssec_algorithm(algorithm: Algorithm) -> Result<Self, SignError> {
        match algorithm {
            Algorithm::ECDSAP256SHA256 => Ok(KeyAlgorithm::EcdsaP256Sha256),
            Algorithm::ECDSAP384SHA384 => Ok(KeyAlgorithm::EcdsaP384Sha384),
            Algorithm::ED25519 => Ok(KeyAlgorithm::Ed25519),
            Algorithm::RSASHA256 => Ok(KeyAlgorithm::RsaSha256),
            other => Err(SignError::Key(format!(
                "DNSSEC algorithm {} ({}) is not supported",
                u8::from(other),
                other.as_str()
            ))),
        }
    }

    fn ecdsa_signing(self) -> Option<&'static EcdsaSigningAlgorithm> {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => Some(&ECDSA_P256_SHA256_FIXED_SIGNING),
            KeyAlgorithm::EcdsaP384Sha384 => Some(&ECDSA_P384_SHA384_FIXED_SIGNING),
            KeyAlgorithm::Ed25519 | KeyAlgorithm::RsaSha256 => None,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = SignError;

    /// Parses a config-file name, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.config_name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                SignError::Key(format!(
                    "unknown key algorithm {s:?} (expected one of ecdsap256sha256, \
                     ecdsap384sha384, ed25519, rsasha256)"
                ))
            })
    }
}

impl From<KeyAlgorithm> for Algorithm {
    fn from(algorithm: KeyAlgorithm) -> Self {
        algorithm.dnssec_algorithm()
    }
}

impl TryFrom<Algorithm> for KeyAlgorithm {
    type Error = SignError;

    fn try_from(algorithm: Algorithm) -> Result<Self, Self::Error> {
        KeyAlgorithm::from_dnssec_algorithm(algorithm)
    }
}

/// What a key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyRole {
    /// Combined signing key: SEP flag set, signs every RRset.
    Csk,
    /// Key-signing key: SEP flag set, signs only the DNSKEY RRset (and CDS/CDNSKEY).
    Ksk,
    /// Zone-signing key: no SEP flag, signs everything but the DNSKEY RRset.
    Zsk,
}

impl KeyRole {
    /// The DNSKEY flags for this role: 257 (zone key + SEP) for CSK and KSK, 256 for ZSK.
    pub fn dnskey_flags(self) -> u16 {
        match self {
            KeyRole::Csk | KeyRole::Ksk => FLAGS_SEP,
            KeyRole::Zsk => FLAGS_ZONE,
        }
    }
}

/// The PEM label of a PKCS#8 private key (RFC 7468 §10).
const PKCS8_PEM_LABEL: &str = "PRIVATE KEY";

/// A private key in PKCS#8 DER form. Its bytes are cleared on drop and never appear in `Debug`
/// output.
pub struct Pkcs8Key(Zeroizing<Vec<u8>>);

impl Pkcs8Key {
    /// Wraps DER bytes. Nothing is checked until [`SigningKey::from_pkcs8`].
    pub fn from_der(der: Vec<u8>) -> Self {
        Pkcs8Key(Zeroizing::new(der))
    }

    /// Reads a PEM `PRIVATE KEY` block (RFC 7468 §10).
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] when the text is not PEM, has another label, or is empty.
    pub fn from_pem(pem: &str) -> Result<Self, SignError> {
        let der = armour::parse_one(pem, PKCS8_PEM_LABEL).map_err(|e| {
            SignError::Key(match e {
                PemError::Malformed(e) => format!("not a PEM key: {e}"),
                PemError::Label { .. } => format!("{e} (PKCS#8)"),
                PemError::Empty => "PEM key is empty".to_owned(),
                PemError::Truncated { .. } => e.to_string(),
            })
        })?;
        Ok(Pkcs8Key::from_der(der))
    }

    /// The key as a PEM `PRIVATE KEY` block with `\n` line endings.
    pub fn to_pem(&self) -> String {
        armour::encode(PKCS8_PEM_LABEL, &self.0)
    }

    /// The DER bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Pkcs8Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs8Key(<{} bytes, redacted>)", self.0.len())
    }
}

enum KeyPairInner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A loaded key, ready to sign.
pub struct SigningKey {
    algorithm: KeyAlgorithm,
    role: KeyRole,
    pair: KeyPairInner,
    dnskey: DNSKEY,
    key_tag: u16,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("role", &self.role)
            .field("key_tag", &self.key_tag)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key of `algorithm`.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] for RSA (not supported by ring) or when ring fails.
    pub fn generate(
        algorithm: KeyAlgorithm,
        rng: &dyn SecureRandom,
    ) -> Result<Pkcs8Key, SignError> {
        let doc = match algorithm {
            KeyAlgorithm::EcdsaP256Sha256 | KeyAlgorithm::EcdsaP384Sha384 => {
                let alg = ecdsa_alg(algorithm)?;
                EcdsaKeyPair::generate_pkcs8(alg, rng)
            }
            KeyAlgorithm::Ed25519 => Ed25519KeyPair::generate_pkcs8(rng),
            KeyAlgorithm::RsaSha256 => {
                return Err(SignError::Key(
                    "cannot generate RSA keys (ring does not support it); generate one with \
                     `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` and import it"
                        .into(),
                ));
            }
        }
        .map_err(|_| SignError::Key(format!("generating a {algorithm} key failed")))?;
        Ok(Pkcs8Key::from_der(doc.as_ref().to_vec()))
    }

    /// Loads a PKCS#8 key (DER). The algorithm is taken from the key itself (its
    /// AlgorithmIdentifier). `rng` seeds ring's ECDSA nonce hedging; it is not used for the
    /// other algorithms.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] when the bytes are not a PKCS#8 key of a supported algorithm.
    pub fn from_pkcs8(
        der: &Pkcs8Key,
        role: KeyRole,
        rng: &dyn SecureRandom,
    ) -> Result<Self, SignError> {
        let (algorithm, _) = decode_pkcs8(der.as_der())?;
        let rejected =
            |e: ring::error::KeyRejected| SignError::Key(format!("{algorithm} key rejected: {e}"));
        let pair = match algorithm {
            KeyAlgorithm::EcdsaP256Sha256 | KeyAlgorithm::EcdsaP384Sha384 => {
                let alg = ecdsa_alg(algorithm)?;
                KeyPairInner::Ecdsa(
                    EcdsaKeyPair::from_pkcs8(alg, der.as_der(), rng).map_err(rejected)?,
                )
            }
            // `openssl genpkey` writes PKCS#8 v1 (no public key); ring's strict parser wants v2.
            KeyAlgorithm::Ed25519 => KeyPairInner::Ed25519(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.as_der()).map_err(rejected)?,
            ),
            KeyAlgorithm::RsaSha256 => {
                KeyPairInner::Rsa(RsaKeyPair::from_pkcs8(der.as_der()).map_err(rejected)?)
            }
        };
        Self::from_pair(algorithm, role, pair)
    }

    /// Builds an Ed25519 key from its 32-byte private seed (RFC 8032 §5.1.5), deriving the
    /// public key. This is the form RFC 8080 §6 and BIND's `PrivateKey:` field give.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] when the seed is not 32 bytes.
    pub fn from_ed25519_seed(seed: &[u8], role: KeyRole) -> Result<Self, SignError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|e| SignError::Key(format!("ed25519 seed rejected: {e}")))?;
        Self::from_pair(KeyAlgorithm::Ed25519, role, KeyPairInner::Ed25519(pair))
    }

    /// Builds an ECDSA key from its private scalar (big-endian, fixed length, as BIND's
    /// `PrivateKey:` field and RFC 6605 §6 give it) and its DNSKEY public key (`x || y`).
    /// ring derives the public point from the scalar and refuses a public key that does not
    /// match it.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] when `algorithm` is not ECDSA, or the parts are malformed or do not
    /// belong together.
    pub fn from_ecdsa_private_key(
        algorithm: KeyAlgorithm,
        private_key: &[u8],
        dnskey_public_key: &[u8],
        role: KeyRole,
        rng: &dyn SecureRandom,
    ) -> Result<Self, SignError> {
        let alg = ecdsa_alg(algorithm)?;
        let mut point = Vec::with_capacity(dnskey_public_key.len() + 1);
        point.push(0x04);
        point.extend_from_slice(dnskey_public_key);
        let pair = EcdsaKeyPair::from_private_key_and_public_key(alg, private_key, &point, rng)
            .map_err(|e| SignError::Key(format!("{algorithm} key rejected: {e}")))?;
        Self::from_pair(algorithm, role, KeyPairInner::Ecdsa(pair))
    }

    fn from_pair(
        algorithm: KeyAlgorithm,
        role: KeyRole,
        pair: KeyPairInner,
    ) -> Result<Self, SignError> {
        let public = dnskey_public_key(&pair)?;
        let dnskey = DNSKEY::with_flags(
            role.dnskey_flags(),
            PublicKeyBuf::new(public, algorithm.dnssec_algorithm()),
        );
        let key_tag = key_tag(&dnskey)?;
        Ok(Self {
            algorithm,
            role,
            pair,
            dnskey,
            key_tag,
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The role.
    pub fn role(&self) -> KeyRole {
        self.role
    }

    /// The DNSKEY RDATA (flags 257 for KSK/CSK, 256 for ZSK; protocol 3).
    pub fn dnskey(&self) -> &DNSKEY {
        &self.dnskey
    }

    /// The key tag (RFC 4034 Appendix B).
    pub fn key_tag(&self) -> u16 {
        self.key_tag
    }

    /// The DS RDATA for this key at `owner`.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] for an unsupported digest type.
    pub fn ds(&self, owner: &Name, digest: DigestType) -> Result<DS, SignError> {
        ds_for(owner, &self.dnskey, digest)
    }

    /// Signs `data` (the RRSIG signed-data of RFC 4034 §3.1.8.1), returning the signature in the
    /// DNSSEC wire form (r||s for ECDSA, RFC 6605 §4).
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] when ring fails.
    pub fn sign(&self, data: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, SignError> {
        let failed = |_| SignError::Key(format!("signing with key {} failed", self.key_tag));
        match &self.pair {
            KeyPairInner::Ecdsa(pair) => {
                Ok(pair.sign(rng, data).map_err(failed)?.as_ref().to_vec())
            }
            KeyPairInner::Ed25519(pair) => Ok(pair.sign(data).as_ref().to_vec()),
            KeyPairInner::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, rng, data, &mut sig)
                    .map_err(failed)?;
                Ok(sig)
            }
        }
    }

    /// hickory's algorithm number for this key.
    pub fn dnssec_algorithm(&self) -> Algorithm {
        self.algorithm.dnssec_algorithm()
    }
}

/// The key tag of a DNSKEY RDATA (RFC 4034 Appendix B), for every algorithm but RSA/MD5.
///
/// # Errors
///
/// [`SignError::Key`] when the DNSKEY cannot be encoded.
pub fn key_tag(dnskey: &DNSKEY) -> Result<u16, SignError> {
    let rdata = dnskey_rdata(dnskey)?;
    // RFC 4034 Appendix B: sum the RDATA as 16-bit big-endian words, fold the carry once.
    let mut ac: u32 = 0;
    for (i, byte) in rdata.iter().enumerate() {
        ac += if i & 1 == 0 {
            u32::from(*byte) << 8
        } else {
            u32::from(*byte)
        };
    }
    ac += (ac >> 16) & 0xFFFF;
    Ok((ac & 0xFFFF) as u16)
}

/// The DS RDATA for `dnskey` at `owner` (RFC 4034 §5.1.4: digest over the canonical owner name
/// followed by the DNSKEY RDATA).
///
/// # Errors
///
/// [`SignError::Key`] for an unsupported digest type or an unencodable key.
pub fn ds_for(owner: &Name, dnskey: &DNSKEY, digest: DigestType) -> Result<DS, SignError> {
    let ring_digest = match digest {
        DigestType::SHA1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        DigestType::SHA256 => &ring::digest::SHA256,
        DigestType::SHA384 => &ring::digest::SHA384,
        other => {
            return Err(SignError::Key(format!(
                "DS digest type {} is not supported",
                u8::from(other)
            )));
        }
    };
    let mut owner = owner.to_lowercase();
    owner.set_fqdn(true);
    let mut data = Vec::with_capacity(256);
    {
        let mut encoder = BinEncoder::new(&mut data);
        encoder.set_name_encoding(NameEncoding::UncompressedLowercase);
        owner
            .emit(&mut encoder)
            .map_err(|e| SignError::Key(format!("cannot encode owner {owner}: {e}")))?;
    }
    data.extend_from_slice(&dnskey_rdata(dnskey)?);
    let hash = ring::digest::digest(ring_digest, &data);
    Ok(DS::new(
        key_tag(dnskey)?,
        dnskey.public_key().algorithm(),
        digest,
        hash.as_ref().to_vec(),
    ))
}

/// The wire RDATA of a DNSKEY: flags, protocol 3, algorithm, public key.
fn dnskey_rdata(dnskey: &DNSKEY) -> Result<Vec<u8>, SignError> {
    let mut buf = Vec::with_capacity(4 + dnskey.public_key().public_bytes().len());
    let mut encoder = BinEncoder::new(&mut buf);
    dnskey
        .emit(&mut encoder)
        .map_err(|e| SignError::Key(format!("cannot encode DNSKEY: {e}")))?;
    Ok(buf)
}

fn ecdsa_alg(algorithm: KeyAlgorithm) -> Result<&'static EcdsaSigningAlgorithm, SignError> {
    algorithm
        .ecdsa_signing()
        .ok_or_else(|| SignError::Key(format!("{algorithm} is not an ECDSA algorithm")))
}

/// The DNSKEY public key field of a key pair.
fn dnskey_public_key(pair: &KeyPairInner) -> Result<Vec<u8>, SignError> {
    match pair {
        KeyPairInner::Ecdsa(pair) => {
            // RFC 6605 §4: the DNSKEY holds x || y; ring gives the SEC1 uncompressed point
            // 0x04 || x || y.
            match pair.public_key().as_ref().split_first() {
                Some((0x04, xy)) => Ok(xy.to_vec()),
                _ => Err(SignError::Key(
                    "ECDSA public key is not an uncompressed point".into(),
                )),
            }
        }
        KeyPairInner::Ed25519(pair) => Ok(pair.public_key().as_ref().to_vec()),
        KeyPairInner::Rsa(pair) => {
            let parts: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
            rsa_dnskey_public_key(&parts.e, &parts.n)
        }
    }
}

/// RFC 3110 §2: exponent length (one octet, or zero then two octets when over 255), exponent,
/// modulus; both big-endian without leading zeros.
fn rsa_dnskey_public_key(exponent: &[u8], modulus: &[u8]) -> Result<Vec<u8>, SignError> {
    let strip = |b: &[u8]| -> Vec<u8> {
        let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
        b[start..].to_vec()
    };
    let e = strip(exponent);
    let n = strip(modulus);
    let mut out = Vec::with_capacity(3 + e.len() + n.len());
    match u8::try_from(e.len()) {
        Ok(len) if len > 0 => out.push(len),
        _ => {
            let len = u16::try_from(e.len())
                .ok()
                .filter(|&l| l > 0)
                .ok_or_else(|| SignError::Key("RSA exponent has a bad length".into()))?;
            out.push(0);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&e);
    out.extend_from_slice(&n);
    Ok(out)
}

// Object identifiers of the PKCS#8 AlgorithmIdentifier (RFC 5208 §5).

/// `id-ecPublicKey`, RFC 5480 §2.1.1.
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1`, RFC 5480 §2.1.1.1.
const OID_SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1`, RFC 5480 §2.1.1.1.
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// `id-Ed25519`, RFC 8410 §3.
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// `rsaEncryption`, RFC 8017 Appendix A.1.
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Reads a PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (RFC 5208 §5, RFC 5958 §2):
/// `SEQUENCE { version, privateKeyAlgorithm AlgorithmIdentifier, privateKey OCTET STRING,
/// [0] attributes, [1] publicKey }`, and the algorithm its AlgorithmIdentifier names.
fn decode_pkcs8(der: &[u8]) -> Result<(KeyAlgorithm, PrivateKeyInfoRef<'_>), SignError> {
    let not_pkcs8 = |what: &str| SignError::Key(format!("not a PKCS#8 private key: {what}"));
    if der.is_empty() {
        return Err(not_pkcs8("empty"));
    }
    let info = PrivateKeyInfoRef::from_der(der).map_err(|e| not_pkcs8(&e.to_string()))?;
    let algorithm = match info.algorithm.oid {
        OID_ED25519 => KeyAlgorithm::Ed25519,
        OID_RSA_ENCRYPTION => KeyAlgorithm::RsaSha256,
        OID_EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|_| SignError::Key("EC key without a named curve".into()))?;
            match curve {
                OID_SECP256R1 => KeyAlgorithm::EcdsaP256Sha256,
                OID_SECP384R1 => KeyAlgorithm::EcdsaP384Sha384,
                other => {
                    return Err(SignError::Key(format!(
                        "EC curve {other} is not supported (P-256 and P-384 are)"
                    )));
                }
            }
        }
        other => {
            return Err(SignError::Key(format!(
                "key algorithm {other} is not supported (ECDSA P-256/P-384, Ed25519, RSA are)"
            )));
        }
    };
    Ok((algorithm, info))
}

/// A DER encoding or decoding error of `what` as [`SignError::Key`].
fn der_error(what: &str) -> impl Fn(der::Error) -> SignError + '_ {
    move |e| SignError::Key(format!("malformed DER in {what}: {e}"))
}

/// The private half of an RSA key, as RFC 8017 Appendix A.1.2 `RSAPrivateKey` (and BIND's
/// `.private` file) lists it. All integers are big-endian and unsigned. The bytes are cleared
/// when the value is dropped (each clone's too), and never appear in `Debug` output.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RsaPrivateParts {
    /// n.
    pub modulus: Vec<u8>,
    /// e.
    pub public_exponent: Vec<u8>,
    /// d.
    pub private_exponent: Vec<u8>,
    /// p.
    pub prime1: Vec<u8>,
    /// q.
    pub prime2: Vec<u8>,
    /// d mod (p - 1).
    pub exponent1: Vec<u8>,
    /// d mod (q - 1).
    pub exponent2: Vec<u8>,
    /// (inverse of q) mod p.
    pub coefficient: Vec<u8>,
}

impl RsaPrivateParts {
    /// The eight integers in the order PKCS#1 (RFC 8017 §A.1.2) and BIND's `.private` file
    /// list them: n, e, d, p, q, d mod (p - 1), d mod (q - 1), (inverse of q) mod p.
    pub fn fields(&self) -> [&Vec<u8>; 8] {
        [
            &self.modulus,
            &self.public_exponent,
            &self.private_exponent,
            &self.prime1,
            &self.prime2,
            &self.exponent1,
            &self.exponent2,
            &self.coefficient,
        ]
    }
}

impl fmt::Debug for RsaPrivateParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RsaPrivateParts(<{}-bit modulus, redacted>)",
            significant(&self.modulus).len() * 8
        )
    }
}

/// The private key of any algorithm daned signs with, in the raw form the DNSSEC RFCs and BIND
/// key files use. Convert with [`Pkcs8Key::from_parts`] and [`Pkcs8Key::parts`]. Secret bytes
/// are cleared on drop and never appear in `Debug` output.
#[derive(Zeroize, ZeroizeOnDrop)]
#[non_exhaustive]
pub enum PrivateKeyParts {
    /// RSA (RFC 3110, RFC 5702).
    Rsa(RsaPrivateParts),
    /// ECDSA (RFC 6605 §6): the private scalar, fixed length, and the public point `x || y`
    /// (the DNSKEY public key field) that PKCS#8 carries beside it.
    Ecdsa {
        /// P-256 or P-384.
        #[zeroize(skip)]
        algorithm: KeyAlgorithm,
        /// The private scalar, big-endian.
        private_key: Vec<u8>,
        /// The public point without its `0x04` prefix.
        #[zeroize(skip)]
        public_key: Vec<u8>,
    },
    /// Ed25519 (RFC 8080 §6): the 32-byte private seed of RFC 8032 §5.1.5.
    Ed25519 {
        /// The seed.
        seed: Vec<u8>,
    },
}

impl PrivateKeyParts {
    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PrivateKeyParts::Rsa(_) => KeyAlgorithm::RsaSha256,
            PrivateKeyParts::Ecdsa { algorithm, .. } => *algorithm,
            PrivateKeyParts::Ed25519 { .. } => KeyAlgorithm::Ed25519,
        }
    }
}

impl fmt::Debug for PrivateKeyParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivateKeyParts::Rsa(rsa) => rsa.fmt(f),
            other => write!(f, "PrivateKeyParts({}, <redacted>)", other.algorithm()),
        }
    }
}

/// The length of a private scalar of an ECDSA curve (RFC 5915 §3: ceiling(log2(n)/8) octets).
pub(crate) fn ecdsa_scalar_len(algorithm: KeyAlgorithm) -> Result<usize, SignError> {
    match algorithm {
        KeyAlgorithm::EcdsaP256Sha256 => Ok(32),
        KeyAlgorithm::EcdsaP384Sha384 => Ok(48),
        other => Err(SignError::Key(format!("{other} is not an ECDSA algorithm"))),
    }
}

/// `bytes` without leading zero octets.
fn significant(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// `bytes` left-padded with zeros to `len`, or an error when it is longer (after dropping
/// leading zeros).
pub(crate) fn left_pad(bytes: &[u8], len: usize, what: &str) -> Result<Vec<u8>, SignError> {
    let bytes = significant(bytes);
    if bytes.len() > len {
        return Err(SignError::Key(format!(
            "{what} is {} bytes, expected at most {len}",
            bytes.len()
        )));
    }
    let mut out = vec![0; len - bytes.len()];
    out.extend_from_slice(bytes);
    Ok(out)
}

impl Pkcs8Key {
    /// Encodes raw key parts as PKCS#8 (RFC 5208 §5) DER that [`SigningKey::from_pkcs8`] and
    /// OpenSSL read: RSA as a PKCS#1 `RSAPrivateKey` (RFC 8017 Appendix A.1.2), ECDSA as an
    /// `ECPrivateKey` with its public key (RFC 5915 §3, RFC 5480), Ed25519 as a version 1
    /// `OneAsymmetricKey` holding the seed (RFC 8410 §7).
    ///
    /// Nothing checks that the parts belong together; load the result with
    /// [`SigningKey::from_pkcs8`] for that.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] when an ECDSA scalar or seed has the wrong length or an RSA field is
    /// empty.
    pub fn from_parts(parts: &PrivateKeyParts) -> Result<Self, SignError> {
        // The DER of the inner private key (`privateKey` OCTET STRING content) is secret too.
        let (oid, parameters, private_key): (_, Option<AnyRef<'_>>, Zeroizing<Vec<u8>>) =
            match parts {
                PrivateKeyParts::Rsa(rsa) => {
                    let fields = rsa.fields();
                    if fields.iter().any(|f| significant(f).is_empty()) {
                        return Err(SignError::Key("an RSA key field is zero or empty".into()));
                    }
                    fn uint(field: &[u8]) -> Result<UintRef<'_>, SignError> {
                        UintRef::new(field).map_err(der_error("RSAPrivateKey"))
                    }
                    // RFC 8017 A.1.2: version 0 (two-prime), then n, e, d, p, q, dP, dQ, qInv.
                    let key = RsaPrivateKeyRef {
                        modulus: uint(&rsa.modulus)?,
                        public_exponent: uint(&rsa.public_exponent)?,
                        private_exponent: uint(&rsa.private_exponent)?,
                        prime1: uint(&rsa.prime1)?,
                        prime2: uint(&rsa.prime2)?,
                        exponent1: uint(&rsa.exponent1)?,
                        exponent2: uint(&rsa.exponent2)?,
                        coefficient: uint(&rsa.coefficient)?,
                        other_prime_infos: None,
                    };
                    let der = key.to_der().map_err(der_error("RSAPrivateKey"))?;
                    (OID_RSA_ENCRYPTION, Some(AnyRef::NULL), Zeroizing::new(der))
                }
                PrivateKeyParts::Ecdsa {
                    algorithm,
                    private_key,
                    public_key,
                } => {
                    let len = ecdsa_scalar_len(*algorithm)?;
                    let curve = match algorithm {
                        KeyAlgorithm::EcdsaP384Sha384 => &OID_SECP384R1,
                        _ => &OID_SECP256R1,
                    };
                    if public_key.len() != 2 * len {
                        return Err(SignError::Key(format!(
                            "{algorithm} public key is {} bytes, expected {}",
                            public_key.len(),
                            2 * len
                        )));
                    }
                    let scalar = Zeroizing::new(left_pad(private_key, len, "ECDSA private key")?);
                    let mut point = Vec::with_capacity(1 + public_key.len());
                    point.push(0x04);
                    point.extend_from_slice(public_key);
                    // RFC 5915 §3: ECPrivateKey { version 1, privateKey, [1] publicKey }; the
                    // curve is in the AlgorithmIdentifier (RFC 5915 §5), not in `[0]`.
                    let key = EcPrivateKey {
                        private_key: &scalar,
                        parameters: None,
                        public_key: Some(&point),
                    };
                    let der = key.to_der().map_err(der_error("ECPrivateKey"))?;
                    (
                        OID_EC_PUBLIC_KEY,
                        Some(AnyRef::from(curve)),
                        Zeroizing::new(der),
                    )
                }
                PrivateKeyParts::Ed25519 { seed } => {
                    if seed.len() != 32 {
                        return Err(SignError::Key(format!(
                            "ed25519 seed is {} bytes, expected 32",
                            seed.len()
                        )));
                    }
                    // RFC 8410 §7: CurvePrivateKey ::= OCTET STRING; no parameters (§3).
                    let der = OctetStringRef::new(seed)
                        .and_then(|octets| octets.to_der())
                        .map_err(der_error("CurvePrivateKey"))?;
                    (OID_ED25519, None, Zeroizing::new(der))
                }
            };
        let private_key = OctetStringRef::new(&private_key).map_err(der_error("privateKey"))?;
        let info = PrivateKeyInfoRef::new(AlgorithmIdentifierRef { oid, parameters }, private_key);
        let der = info.to_der().map_err(der_error("PrivateKeyInfo"))?;
        Ok(Pkcs8Key::from_der(der))
    }

    /// Decodes the key into its raw parts (the inverse of [`Pkcs8Key::from_parts`]). Reads what
    /// ring, OpenSSL and [`Pkcs8Key::from_parts`] write: PKCS#8 v1 or v2.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] when the DER is malformed, of an unsupported algorithm, a multi-prime
    /// RSA key, or an EC key without its public key.
    pub fn parts(&self) -> Result<PrivateKeyParts, SignError> {
        let (algorithm, info) = decode_pkcs8(&self.0)?;
        let private_key = info.private_key.as_bytes();
        match algorithm {
            KeyAlgorithm::RsaSha256 => {
                let rsa =
                    RsaPrivateKeyRef::from_der(private_key).map_err(der_error("RSAPrivateKey"))?;
                if rsa.other_prime_infos.is_some() {
                    return Err(SignError::Key(
                        "multi-prime RSA keys are not supported".into(),
                    ));
                }
                let field = |value: UintRef<'_>| value.as_bytes().to_vec();
                Ok(PrivateKeyParts::Rsa(RsaPrivateParts {
                    modulus: field(rsa.modulus),
                    public_exponent: field(rsa.public_exponent),
                    private_exponent: field(rsa.private_exponent),
                    prime1: field(rsa.prime1),
                    prime2: field(rsa.prime2),
                    exponent1: field(rsa.exponent1),
                    exponent2: field(rsa.exponent2),
                    coefficient: field(rsa.coefficient),
                }))
            }
            KeyAlgorithm::EcdsaP256Sha256 | KeyAlgorithm::EcdsaP384Sha384 => {
                let len = ecdsa_scalar_len(algorithm)?;
                let ec = EcPrivateKey::from_der(private_key).map_err(der_error("ECPrivateKey"))?;
                // Knot's keymgr (GnuTLS) writes a scalar with its top bit set as 33 bytes with a
                // leading zero; RFC 5915 §3 wants exactly `len`.
                let scalar = left_pad(ec.private_key, len, "ECDSA private key")?;
                let Some(point) = ec.public_key else {
                    return Err(SignError::Key(
                        "EC private key does not carry its public key".into(),
                    ));
                };
                let public_key = match point {
                    [0x04, xy @ ..] if xy.len() == 2 * len => xy.to_vec(),
                    _ => {
                        return Err(SignError::Key(
                            "EC public key is not an uncompressed point".into(),
                        ));
                    }
                };
                Ok(PrivateKeyParts::Ecdsa {
                    algorithm,
                    private_key: scalar,
                    public_key,
                })
            }
            KeyAlgorithm::Ed25519 => {
                let seed = <&OctetStringRef>::from_der(private_key)
                    .map_err(der_error("CurvePrivateKey"))?
                    .as_bytes();
                if seed.len() != 32 {
                    return Err(SignError::Key(format!(
                        "ed25519 seed is {} bytes, expected 32",
                        seed.len()
                    )));
                }
                Ok(PrivateKeyParts::Ed25519 {
                    seed: seed.to_vec(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_parse_case_insensitively() {
        for a in KeyAlgorithm::ALL {
            assert_eq!(a.config_name().parse::<KeyAlgorithm>().ok(), Some(a));
            let upper = a.config_name().to_ascii_uppercase();
            assert_eq!(upper.parse::<KeyAlgorithm>().ok(), Some(a));
            assert_eq!(KeyAlgorithm::try_from(Algorithm::from(a)).ok(), Some(a));
        }
        assert!(matches!(
            "rsasha1".parse::<KeyAlgorithm>(),
            Err(SignError::Key(_))
        ));
        assert!(matches!(
            KeyAlgorithm::try_from(Algorithm::RSASHA512),
            Err(SignError::Key(_))
        ));
    }

    #[test]
    fn rfc3110_s2_exponent_length_forms() {
        // RFC 3110 §2: "If the first octet is zero, the next two octets contain the
        // length of the exponent."
        let short = rsa_dnskey_public_key(&[0x01, 0x00, 0x01], &[0x00, 0xc3, 0x55]).ok();
        assert_eq!(short, Some(vec![3, 1, 0, 1, 0xc3, 0x55]));
        let e = vec![1u8; 300];
        let long = rsa_dnskey_public_key(&e, &[0xc3]).unwrap_or_default();
        assert_eq!(&long[..3], &[0, 1, 44]);
        assert_eq!(long.len(), 3 + 300 + 1);
    }

    #[test]
    fn pkcs8_debug_hides_bytes() {
        let key = Pkcs8Key::from_der(vec![0xde, 0xad, 0xbe, 0xef]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("de") && !shown.contains("222"), "{shown}");
        assert!(shown.contains("4 bytes"));
    }

    #[test]
    fn rsa_generation_is_a_typed_error() {
        let rng = ring::rand::SystemRandom::new();
        assert!(matches!(
            SigningKey::generate(KeyAlgorithm::RsaSha256, &rng),
            Err(SignError::Key(_))
        ));
    }

    /// PKCS#8 from OpenSSL (`openssl genpkey`) and from ring decodes into parts that encode back
    /// into a key with the same DNSKEY (RFC 5208 §5, RFC 5915 §3, RFC 8410 §7, RFC 8017 A.1.2).
    #[test]
    fn pkcs8_parts_round_trip_for_openssl_and_ring_keys() {
        let rng = ring::rand::SystemRandom::new();
        let mut keys = vec![
            Pkcs8Key::from_pem(include_str!("../tests/data/pkcs8/rsa2048.pem")).unwrap(),
            Pkcs8Key::from_pem(include_str!("../tests/data/pkcs8/p256.pem")).unwrap(),
            Pkcs8Key::from_pem(include_str!("../tests/data/pkcs8/ed25519.pem")).unwrap(),
        ];
        for alg in [
            KeyAlgorithm::EcdsaP256Sha256,
            KeyAlgorithm::EcdsaP384Sha384,
            KeyAlgorithm::Ed25519,
        ] {
            keys.push(SigningKey::generate(alg, &rng).unwrap());
        }
        for pkcs8 in &keys {
            let key = SigningKey::from_pkcs8(pkcs8, KeyRole::Csk, &rng).unwrap();
            let parts = pkcs8.parts().unwrap();
            assert_eq!(parts.algorithm(), key.algorithm());
            let again = Pkcs8Key::from_parts(&parts).unwrap();
            let back = SigningKey::from_pkcs8(&again, KeyRole::Csk, &rng).unwrap();
            assert_eq!(back.dnskey(), key.dnskey(), "{:?}", key.algorithm());
            assert!(!format!("{parts:?}").contains(&format!("{:?}", &again.as_der()[..8])));
        }
    }

    /// The DER written from a key's parts is the DER OpenSSL and ring write for that key, byte
    /// for byte (RFC 5208 §5, RFC 5915 §3, RFC 8410 §7, RFC 8017 A.1.2): PKCS#8 v1, the EC
    /// curve in the AlgorithmIdentifier only, the EC public key beside the scalar. Knot's key
    /// with a 33-byte scalar comes out as `openssl pkey` rewrites it.
    #[test]
    fn rfc5208_s5_parts_encode_to_the_bytes_openssl_and_ring_write() {
        let pem = |text: &str| Pkcs8Key::from_pem(text).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let mut cases = vec![
            (
                pem(include_str!("../tests/data/pkcs8/rsa2048.pem")),
                pem(include_str!("../tests/data/pkcs8/rsa2048.pem")),
            ),
            (
                pem(include_str!("../tests/data/pkcs8/p256.pem")),
                pem(include_str!("../tests/data/pkcs8/p256.pem")),
            ),
            (
                pem(include_str!("../tests/data/pkcs8/ed25519.pem")),
                pem(include_str!("../tests/data/pkcs8/ed25519.pem")),
            ),
            (
                pem(include_str!(
                    "../tests/data/pkcs8/knot-p256-33-byte-scalar.pem"
                )),
                pem(include_str!("../tests/data/pkcs8/knot-p256-openssl.pem")),
            ),
        ];
        for alg in [KeyAlgorithm::EcdsaP256Sha256, KeyAlgorithm::EcdsaP384Sha384] {
            let ring = SigningKey::generate(alg, &rng).unwrap();
            cases.push((Pkcs8Key::from_der(ring.as_der().to_vec()), ring));
        }
        for (input, expected) in &cases {
            let parts = input.parts().unwrap();
            let written = Pkcs8Key::from_parts(&parts).unwrap();
            assert_eq!(
                written.as_der(),
                expected.as_der(),
                "{:?}",
                parts.algorithm()
            );
        }
    }

    /// RFC 5208 §5: a PrivateKeyInfo is one DER SEQUENCE, so bytes after it are an error; an
    /// AlgorithmIdentifier daned does not sign with is named in the error (RFC 5480 §2.1.1.1
    /// curves, RFC 8410 §3 algorithms).
    #[test]
    fn rfc5208_s5_trailing_bytes_and_unsupported_oids_are_typed_errors() {
        let rng = ring::rand::SystemRandom::new();
        let p256 = Pkcs8Key::from_pem(include_str!("../tests/data/pkcs8/p256.pem")).unwrap();
        let ed25519 = Pkcs8Key::from_pem(include_str!("../tests/data/pkcs8/ed25519.pem")).unwrap();
        let key_error =
            |key: &Pkcs8Key| match (key.parts(), SigningKey::from_pkcs8(key, KeyRole::Csk, &rng)) {
                (Err(SignError::Key(parts)), Err(SignError::Key(load))) => {
                    assert_eq!(parts, load);
                    parts
                }
                other => panic!("expected two key errors, got {other:?}"),
            };
        let mut trailing = p256.as_der().to_vec();
        trailing.push(0);
        let reason = key_error(&Pkcs8Key::from_der(trailing));
        assert!(reason.starts_with("not a PKCS#8 private key"), "{reason}");

        // Same lengths, other OIDs: secp256r1 (1.2.840.10045.3.1.7) becomes prime239v3 (…1.6),
        // id-Ed25519 (1.3.101.112) becomes id-Ed448 (1.3.101.113).
        let replace = |der: &[u8], from: &[u8], to: &[u8]| {
            let at = der.windows(from.len()).position(|w| w == from).unwrap();
            let mut out = der.to_vec();
            out[at..at + to.len()].copy_from_slice(to);
            Pkcs8Key::from_der(out)
        };
        let curve = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01];
        let other_curve = replace(
            p256.as_der(),
            &[&curve[..], &[0x07]].concat(),
            &[&curve[..], &[0x06]].concat(),
        );
        let reason = key_error(&other_curve);
        assert!(reason.contains("EC curve 1.2.840.10045.3.1.6"), "{reason}");
        let ed448 = replace(
            ed25519.as_der(),
            &[0x06, 0x03, 0x2b, 0x65, 0x70],
            &[0x06, 0x03, 0x2b, 0x65, 0x71],
        );
        let reason = key_error(&ed448);
        assert!(reason.contains("key algorithm 1.3.101.113"), "{reason}");

        // RFC 5915 §3: `publicKey` is OPTIONAL in ECPrivateKey, but daned needs it for parts.
        let scalar = [7; 32];
        let bare = EcPrivateKey {
            private_key: &scalar,
            parameters: None,
            public_key: None,
        }
        .to_der()
        .unwrap();
        let algorithm = AlgorithmIdentifierRef {
            oid: OID_EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&OID_SECP256R1)),
        };
        let info = PrivateKeyInfoRef::new(algorithm, OctetStringRef::new(&bare).unwrap());
        let no_public = Pkcs8Key::from_der(info.to_der().unwrap());
        assert!(matches!(
            no_public.parts(),
            Err(SignError::Key(reason)) if reason.contains("does not carry its public key")
        ));
    }

    #[test]
    fn malformed_pkcs8_is_a_typed_error() {
        let good = Pkcs8Key::from_pem(include_str!("../tests/data/pkcs8/p256.pem")).unwrap();
        for len in [0, 1, 10, 30, good.as_der().len() - 1] {
            let cut = Pkcs8Key::from_der(good.as_der()[..len].to_vec());
            assert!(
                matches!(cut.parts(), Err(SignError::Key(_))),
                "length {len}"
            );
        }
        let short_seed = PrivateKeyParts::Ed25519 { seed: vec![1; 31] };
        assert!(matches!(
            Pkcs8Key::from_parts(&short_seed),
            Err(SignError::Key(_))
        ));
    }
}
