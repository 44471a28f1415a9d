//! daned: an authoritative DNS server that publishes DNSSEC-signed DANE TLSA records for the
//! certificates it watches.
//!
//! This crate does all the I/O (config, zone files, keys, certificates, sockets, timers); the
//! signing itself is the pure `daned-sign` crate. See ARCHITECTURE.md for the map and the
//! layers (a module imports only from its own layer or the layers below it).
//!
//! Modules are `pub` only where the binary, the integration tests or the fuzz targets use
//! them; the rest are `pub(crate)`. These docs are read with `--document-private-items`
//! (`make lint` builds them so), so a module's documentation links to its private siblings.
#![allow(rustdoc::private_intra_doc_links)]

pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod events;
pub mod fsutil;
pub mod metrics;
pub mod secondaries;
pub mod serve;
pub mod status;
pub mod zone;
