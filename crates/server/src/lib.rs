//! daned: an authoritative DNS server that publishes DNSSEC-signed DANE TLSA records for the
//! certificates it watches.
//!
//! This crate does all the I/O (config, zone files, keys, certificates, sockets, timers); the
//! signing itself is the pure `daned-sign` crate. See ARCHITECTURE.md for the map.

pub mod config;
pub mod control;
pub mod cookie;
pub mod fsutil;
pub mod handler;
pub mod journal;
pub mod keystore;
pub mod manager;
pub mod metrics;
pub mod notify;
pub mod parent;
pub mod privileges;
pub mod probe;
pub mod propagation;
pub mod query;
pub mod ratelog;
pub mod rollover;
pub mod rrl;
pub mod serve;
pub mod state;
pub mod status;
pub mod tsig;
pub mod watch;
pub mod xfr;
pub mod zonefile;
pub mod zones;
