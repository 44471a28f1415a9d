//! The sign crate's integration tests, in one binary (one link, one run): each module was a
//! test binary of its own before.
//!
//! Test data lives in `tests/data` (see its README).

mod cds;
mod dane;
mod golden;
mod imports;
mod lifecycle;
mod parallel;
mod pkcs8_keys;
mod rfc_vectors;
mod signer;
mod spki;
mod tlsa;
