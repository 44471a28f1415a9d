//! DNSSEC signing and TLSA generation for daned.
//!
//! # Background
//!
//! This crate turns zone content into a DNSSEC-signed zone ([RFC 4033], [RFC 4034],
//! [RFC 4035]) and certificates into TLSA records ([RFC 6698], [RFC 7671]).
//!
//! It is **pure**: it never reads the clock, the environment, files or the network. The
//! current time and a random number generator are arguments ([`sign::SignCtx`]), so every
//! result is reproducible in tests and the server decides when things happen.
//!
//! # Usage
//!
//! Build a [`zone::Zone`] from [`zone::Rrset`]s, sign it once with [`sign::sign_zone`], then
//! feed later content changes to [`sign::apply_changes`], which re-signs only what changed, and
//! call [`sign::refresh_signatures`] to renew signatures that approach expiry.
//!
//! ```
//! use daned_sign::hickory_proto::rr::rdata::{NS, SOA};
//! use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
//! use daned_sign::keys::{KeyAlgorithm, KeyRole, SigningKey};
//! use daned_sign::nsec3::Denial;
//! use daned_sign::sign::{SignCtx, SignPolicy, ZoneKey, sign_zone};
//! use daned_sign::zone::{Rrset, Zone};
//! use ring::rand::SystemRandom;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let origin: Name = "example.com.".parse()?;
//! let mut zone = Zone::new(&origin);
//! let soa = SOA::new("ns1.example.com.".parse()?, "hostmaster.example.com.".parse()?,
//!                    1, 7200, 3600, 1_209_600, 300);
//! zone.insert(Rrset::new(&origin, RecordType::SOA, 3600, [RData::SOA(soa)])?)?;
//! let ns = NS("ns1.example.com.".parse()?);
//! zone.insert(Rrset::new(&origin, RecordType::NS, 3600, [RData::NS(ns)])?)?;
//!
//! // The caller owns the clock and the randomness.
//! let rng = SystemRandom::new();
//! let pkcs8 = SigningKey::generate(KeyAlgorithm::Ed25519, &rng)?;
//! let key = SigningKey::from_pkcs8(&pkcs8, KeyRole::Csk, &rng)?;
//! let ctx = SignCtx {
//!     now: 1_800_000_000,
//!     policy: SignPolicy::default(),
//!     keys: &[ZoneKey::steady(&key)],
//!     dnskey_ttl: 3600,
//!     denial: Denial::Nsec,
//!     rng: &rng,
//! };
//! let signed = sign_zone(&ctx, &zone, 2026112801)?;
//! assert_eq!(signed.serial(), 2026112801);
//! // SOA, NS, DNSKEY and the apex NSEC, each with its RRSIG.
//! let rrsigs = signed.records().filter(|r| r.record_type() == RecordType::RRSIG).count();
//! assert_eq!(rrsigs, 4);
//! # Ok(())
//! # }
//! ```
//!
//! # Limitations
//!
//! NSEC3 without opt-out only; ring cannot generate RSA keys, so RSA keys can only be
//! loaded.
//!
//! [RFC 4033]: https://www.rfc-editor.org/rfc/rfc4033
//! [RFC 4034]: https://www.rfc-editor.org/rfc/rfc4034
//! [RFC 4035]: https://www.rfc-editor.org/rfc/rfc4035
//! [RFC 6698]: https://www.rfc-editor.org/rfc/rfc6698
//! [RFC 7671]: https://www.rfc-editor.org/rfc/rfc7671

pub mod bindkey;
mod error;
pub mod keys;
pub mod lifecycle;
mod nsec;
pub mod nsec3;
pub mod rrsig;
pub mod serial;
pub mod sign;
pub mod spki;
pub mod tlsa;
pub mod zone;

pub use error::SignError;
pub use hickory_proto;
