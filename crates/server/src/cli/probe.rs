//! `daned probe`: which certificates the servers behind the TLSA records present.

use std::io::{self, Write};
use std::process::ExitCode;

use daned::control;

use crate::cli::{ControlArg, control_failure};

/// How long `daned probe` waits: every probe ends within its 60 s limit, queued behind at
/// most a few others.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// `daned probe`: probes now and prints one row per target; the exit status is the worst
/// result.
pub(crate) fn run(
    control: ControlArg,
    binding: Option<String>,
    zone: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let request = control::Request::Probe { binding, zone };
    let response = control.request(&request, PROBE_TIMEOUT)?;
    let mut out = io::stdout().lock();
    match response {
        control::Response::Status(report) => {
            if json {
                serde_json::to_writer_pretty(&mut out, &control::json_for_output(&report)?)?;
                writeln!(out)?;
            } else {
                control::render_probe(&report, &mut out)?;
            }
            Ok(ExitCode::from(control::probe_verdict(&report).exit_code()))
        }
        other => control_failure(other),
    }
}
