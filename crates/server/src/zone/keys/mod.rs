//! A zone's signing keys: the lifecycle at run time ([`lifecycle`]) beside the key store on
//! disk ([`store`]).

pub mod lifecycle;
pub mod store;
