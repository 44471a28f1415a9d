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
//!     threads: std::num::NonZeroUsize::MIN,
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
//! A pass can sign on several threads: [`sign::SignCtx::threads`] (chosen by the caller; the
//! threads share the context's `Sync` RNG), and gives what one thread gives (with ECDSA, other
//! signature bytes).
//!
//! Each [`sign::ZoneKey`] says what its key does in the pass ([`sign::KeyUse`]): published in
//! the DNSKEY RRset, signing the DNSKEY/CDS/CDNSKEY RRsets, signing the rest, named in the apex
//! CDS and CDNSKEY RRsets ([RFC 7344]; SHA-256 digests, TTL of the DNSKEY RRset, signed only by
//! the keys that sign the DNSKEY RRset; absent when no key is named). The signer owns the apex
//! CDS and CDNSKEY RRsets as it owns the DNSKEY RRset. Each RRset's signatures expire at
//! `now + validity - r`, `r` uniform in `[0, jitter)` ([`sign::SignPolicy::jitter`], as BIND's
//! `signatures-jitter`), so that refreshes spread out.
//!
//! # Key rollovers
//!
//! [`lifecycle`] is the pure key lifecycle: from the zone's [`lifecycle::KeyRecord`]s, a
//! [`lifecycle::KeyPolicy`] and the time, [`lifecycle::advance`] moves keys through their states
//! with the RFC 7583 timings (ZSK pre-publication, KSK/CSK double-DS waiting for the parent,
//! RFC 6781 §4.1.4 algorithm rollover), asks for new keys and says when to call it again;
//! [`lifecycle::KeyRecord::usage`] turns each key's state into the [`sign::KeyUse`] of the
//! next signing pass, and [`sign::refresh_signatures`] applies a step (it re-signs whatever
//! RRset's signer set changed and rebuilds the apex key RRsets).
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
//! [RFC 7344]: https://www.rfc-editor.org/rfc/rfc7344

mod armour;
pub mod bindkey;
pub mod civil;
pub mod dane;
mod error;
pub mod keys;
pub mod lifecycle;
mod names;
mod nsec;
pub mod nsec3;
pub mod rollover;
pub mod rrsig;
pub mod serial;
pub mod sign;
pub mod spki;
mod threads;
pub mod tlsa;
pub mod validate;
pub mod zone;

pub use error::SignError;
pub use hickory_proto;
