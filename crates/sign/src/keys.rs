//! DNSSEC signing keys: generation (with a caller-supplied RNG), PKCS#8 import and export,
//! the DNSKEY record, key tag and DS.

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType};
use hickory_proto::rr::Name;
use ring::rand::SecureRandom;

use crate::error::SignError;

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

/// A private key in PKCS#8 DER form. Its bytes never appear in `Debug` output.
pub struct Pkcs8Key(Vec<u8>);

/// A loaded key, ready to sign.
pub struct SigningKey {
    _private: (),
}

impl SigningKey {
    /// Generates a new key of `algorithm`.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] for RSA (not supported by ring) or when ring fails.
    pub fn generate(
        _algorithm: KeyAlgorithm,
        _rng: &dyn SecureRandom,
    ) -> Result<Pkcs8Key, SignError> {
        todo!()
    }

    /// Loads a PKCS#8 key (DER). The algorithm is taken from the key itself.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] when the bytes are not a PKCS#8 key of a supported algorithm.
    pub fn from_pkcs8(_der: &Pkcs8Key, _role: KeyRole) -> Result<Self, SignError> {
        todo!()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        todo!()
    }

    /// The role.
    pub fn role(&self) -> KeyRole {
        todo!()
    }

    /// The DNSKEY RDATA (flags 257 for KSK/CSK, 256 for ZSK; protocol 3).
    pub fn dnskey(&self) -> &DNSKEY {
        todo!()
    }

    /// The key tag (RFC 4034 Appendix B).
    pub fn key_tag(&self) -> u16 {
        todo!()
    }

    /// The DS RDATA for this key at `owner`.
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] for an unsupported digest type.
    pub fn ds(&self, _owner: &Name, _digest: DigestType) -> Result<DS, SignError> {
        todo!()
    }

    /// Signs `data` (the RRSIG signed-data of RFC 4034 §3.1.8.1), returning the signature in the
    /// DNSSEC wire form (r||s for ECDSA, RFC 6605 §4).
    ///
    /// # Errors
    ///
    /// [`SignError::Key`] when ring fails.
    pub fn sign(&self, _data: &[u8], _rng: &dyn SecureRandom) -> Result<Vec<u8>, SignError> {
        todo!()
    }

    /// hickory's algorithm number for this key.
    pub fn dnssec_algorithm(&self) -> Algorithm {
        todo!()
    }
}
