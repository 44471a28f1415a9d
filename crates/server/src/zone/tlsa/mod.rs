//! TLSA bindings: the pure rollover machine of one binding ([`rollover`]) and the TLS probe
//! that checks what the servers present ([`probe`]).

pub mod probe;
pub mod rollover;
