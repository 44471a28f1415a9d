//! A zone's signing keys: the key store on disk ([`store`]).

pub mod store;
