//! The other name servers: NOTIFY to the secondaries ([`notify`]), polling their SOA serials
//! to learn what each serves ([`propagation`]), and polling the parent's servers for the
//! zone's DS ([`parent`]). All three talk through the one DNS client ([`client`]); the first
//! two report to the manager over a channel of [`report::SecondaryReport`]s.

pub mod client;
pub(crate) mod notify;
pub(crate) mod parent;
pub mod propagation;
pub(crate) mod report;
