//! A zone's signing keys: the lifecycle at run time ([`lifecycle`]) beside the key store on
//! disk ([`store`]).

pub(crate) mod lifecycle;
pub mod store;
