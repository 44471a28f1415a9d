//! `daned dump`: the zones as served, in master-file format, from the running daemon or
//! (`--offline`) from the files.

use std::io::{self, Write};
use std::process::ExitCode;

use daned::clock::{Clock, SystemClock};
use daned::config::{Config, LogFormat};
use daned::control;
use daned::zone::{Mode, ZoneRuntime, zonefile};
use daned_sign::hickory_proto::rr::Name;

use crate::cli::{CONTROL_TIMEOUT, ControlArg, control_failure, init_tracing, selected_zones};

/// `daned dump`: asks the daemon for its served zones, or reads them with `--offline`.
pub(crate) fn run(
    control: ControlArg,
    zone: Option<Name>,
    offline: bool,
) -> anyhow::Result<ExitCode> {
    if offline {
        return offline_dump(&control, zone);
    }
    let request = control::Request::Dump {
        zone: zone.map(|z| z.to_string()),
    };
    match control.request(&request, CONTROL_TIMEOUT)? {
        control::Response::Dump(text) => {
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        other => control_failure(other),
    }
}

/// `daned dump --offline`: loads and signs each zone read-only, without the daemon.
fn offline_dump(control: &ControlArg, zone: Option<Name>) -> anyhow::Result<ExitCode> {
    init_tracing(LogFormat::Human, "warn");
    let config = Config::load(&control.config)?;
    let rng = ring::rand::SystemRandom::new();
    let mut out = io::stdout().lock();
    for zc in selected_zones(&config, zone.as_ref())? {
        let rt = ZoneRuntime::start(
            zc.clone(),
            config.server.key_dir.clone(),
            config.server.state_dir.clone(),
            Mode::ReadOnly,
            SystemClock.now(),
            &rng,
        )?;
        zonefile::write_records(rt.signed().records(), &mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}
