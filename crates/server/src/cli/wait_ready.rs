//! `daned wait-ready`: waits until a binding's staged next key may be deployed.

use std::io::{self, Write};
use std::process::ExitCode;

use daned::clock::{Clock, SystemClock};
use daned::control;

use crate::cli::{CONTROL_TIMEOUT, ControlArg, control_failure};

/// `daned wait-ready`: prints the answer once the binding is ready or the timeout ran out.
pub(crate) fn run(
    control: ControlArg,
    binding: String,
    zone: Option<String>,
    timeout: u64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let response = wait_ready(&control, &binding, zone.as_deref(), timeout)?;
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &control::json_for_output(&response)?)?;
        writeln!(out)?;
    }
    match response {
        control::Response::Ready(ready) => {
            if !json {
                let since = ready
                    .ready_at
                    .map(|t| format!(" since {}", control::format_utc(t)))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{} in {}: {}{since}; the staged key may be deployed",
                    ready.binding, ready.zone, ready.state
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        other if json => Ok(if other.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
        other => control_failure(other),
    }
}

/// How often `wait-ready` reports on stderr while it waits.
const WAIT_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// `daned wait-ready`: asks once, then (while the answer is "not yet" and the timeout has
/// time left) again in rounds of [`WAIT_PROGRESS_EVERY`], saying on stderr what it waits for
/// and how much of the timeout is left; stdout stays for the answer (`--json`).
fn wait_ready(
    control: &ControlArg,
    binding: &str,
    zone: Option<&str>,
    timeout: u64,
) -> anyhow::Result<control::Response> {
    let started = std::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs(timeout);
    let mut round = std::time::Duration::ZERO;
    loop {
        let request = control::Request::WaitReady {
            binding: binding.to_owned(),
            zone: zone.map(str::to_owned),
            timeout_secs: round.as_secs(),
        };
        let response = control.request(&request, CONTROL_TIMEOUT)?;
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let control::Response::Error {
            reason: control::ErrorReason::Timeout,
            message,
        } = &response
        else {
            return Ok(response);
        };
        // "binding B in Z is not ready within N s; it will be at T": the part after the
        // first "; " says what it waits for.
        let what = message
            .split_once("; ")
            .map_or(message.as_str(), |(_, w)| w);
        if left < std::time::Duration::from_secs(1) {
            // The last round's message names the round; the operator gave the whole timeout.
            return Ok(control::Response::Error {
                reason: control::ErrorReason::Timeout,
                message: format!("binding {binding} is not ready within {timeout} s; {what}"),
            });
        }
        // "... at 2026-12-07T05:31:34Z": also how far off that is.
        let relative = what
            .rsplit(' ')
            .next()
            .and_then(parse_rfc3339_utc)
            .map(|t| format!(" ({})", control::format_relative(t, SystemClock.now())))
            .unwrap_or_default();
        let _ = writeln!(
            io::stderr(),
            "daned: waiting for binding {binding}: {what}{relative}; {} s of the {timeout} s timeout left",
            left.as_secs()
        );
        round = left.min(WAIT_PROGRESS_EVERY);
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` as seconds since the epoch.
pub(super) fn parse_rfc3339_utc(text: &str) -> Option<u32> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let days = daned_sign::civil::days_from_civil(i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    let secs = days * 86_400
        + i64::from(num(11..13)?) * 3600
        + i64::from(num(14..16)?) * 60
        + i64::from(num(17..19)?);
    u32::try_from(secs).ok()
}
