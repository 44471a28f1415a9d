//! Integration tests: the `daned` binary in temporary directories, judged by external tools.

mod cli;
mod interop;
mod refresh;
mod rotation;
mod support;
