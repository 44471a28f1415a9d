//! The `daned` binary: `main` parses the command line and hands it to [`cli::run`]; the
//! commands live in `cli/`, one file each, and everything else in the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::run(cli::Cli::parse())
}
