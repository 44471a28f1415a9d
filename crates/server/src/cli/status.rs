//! `daned status`: the running daemon's zones and bindings, for a human or as JSON.

use std::io::{self, Write};
use std::process::ExitCode;

use daned::control;

use crate::cli::{CONTROL_TIMEOUT, ControlArg, control_failure};

/// `daned status`: one status request, printed.
pub(crate) fn run(control: ControlArg, json: bool) -> anyhow::Result<ExitCode> {
    let response = control.request(&control::Request::Status, CONTROL_TIMEOUT)?;
    let mut out = io::stdout().lock();
    match response {
        control::Response::Status(report) if json => {
            serde_json::to_writer_pretty(&mut out, &control::json_for_output(&report)?)?;
            writeln!(out)?;
            Ok(ExitCode::SUCCESS)
        }
        control::Response::Status(report) => {
            control::render_status(&report, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        other => control_failure(other),
    }
}
