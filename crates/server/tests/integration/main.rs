//! Integration tests: the `daned` binary in temporary directories, judged by external tools.

mod answers;
mod bounds;
mod cli;
mod durable;
mod init;
mod interop;
mod key_rollover;
mod keyimport;
mod keys_clock;
mod layout;
mod network;
mod operator;
mod package;
mod probe;
mod propagation_clock;
mod refresh;
mod reload;
mod restart;
mod rollover_clock;
mod rollover_e2e;
mod rotation;
mod secondaries;
mod sign_offline;
mod snapshot;
mod support;
