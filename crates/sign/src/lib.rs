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
//! # Limitations
//!
//! NSEC only for now (NSEC3 comes later); ring cannot generate RSA keys, so RSA keys can only be
//! loaded.
//!
//! [RFC 4033]: https://www.rfc-editor.org/rfc/rfc4033
//! [RFC 4034]: https://www.rfc-editor.org/rfc/rfc4034
//! [RFC 4035]: https://www.rfc-editor.org/rfc/rfc4035
//! [RFC 6698]: https://www.rfc-editor.org/rfc/rfc6698
//! [RFC 7671]: https://www.rfc-editor.org/rfc/rfc7671

mod error;
pub mod keys;
mod nsec;
pub mod rrsig;
pub mod serial;
pub mod sign;
pub mod spki;
pub mod tlsa;
pub mod zone;

pub use error::SignError;
pub use hickory_proto;
