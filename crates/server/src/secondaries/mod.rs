//! The other name servers: NOTIFY to the secondaries ([`notify`]), polling their SOA serials
//! to learn what each serves ([`propagation`]), and polling the parent's servers for the
//! zone's DS ([`parent`]).

pub mod notify;
pub mod parent;
pub mod propagation;
