//! `daned reload`: the running daemon re-reads its config, zone files and certificates.

use std::io;
use std::process::ExitCode;

use daned::control;

use crate::cli::{CONTROL_TIMEOUT, ControlArg, control_failure};

/// `daned reload`: prints what the reload did to each zone; the exit status says whether
/// anything failed.
pub(crate) fn run(control: ControlArg) -> anyhow::Result<ExitCode> {
    let response = control.request(&control::Request::Reload, CONTROL_TIMEOUT)?;
    let mut out = io::stdout().lock();
    match response {
        control::Response::Reloaded(answer) => {
            control::render_reload(&answer, &mut out)?;
            Ok(ExitCode::from(control::reload_exit_code(&answer.zones)))
        }
        other => control_failure(other),
    }
}
