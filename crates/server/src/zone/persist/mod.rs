//! What a zone keeps across restarts: the state file ([`state`]), the IXFR journal
//! ([`journal`]) and the signed zone last published ([`signed`], a snapshot the journal
//! continues).

pub mod journal;
pub(crate) mod signed;
pub mod state;
