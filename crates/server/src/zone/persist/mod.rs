//! What a zone keeps across restarts: the state file ([`state`]) and the IXFR journal
//! ([`journal`]).

pub mod journal;
pub mod state;
