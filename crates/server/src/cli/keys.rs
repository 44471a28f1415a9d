//! `daned keys`, `daned ds-seen` and `daned key-rollover`: one request about a zone's keys to
//! the running daemon, the zone's keys printed.

use std::io::{self, Write};
use std::process::ExitCode;

use daned::clock::{Clock, SystemClock};
use daned::control;

use crate::cli::{CONTROL_TIMEOUT, ControlArg, control_failure};

/// `daned keys`, `ds-seen`, `key-rollover`: one request, the zone's keys printed.
pub(crate) fn run(
    control: &ControlArg,
    request: control::Request,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let response = control.request(&request, CONTROL_TIMEOUT)?;
    let mut out = io::stdout().lock();
    match response {
        control::Response::Keys(report) if json => {
            serde_json::to_writer_pretty(&mut out, &control::json_for_output(&report)?)?;
            writeln!(out)?;
            Ok(ExitCode::SUCCESS)
        }
        control::Response::Keys(report) => {
            control::render_keys(&report, SystemClock.now(), &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        other => control_failure(other),
    }
}
