//! `daned serve`, the daemon, and the hidden `daned serve-presigned` (a pre-signed zone
//! served as it is, for benchmarks).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use daned::clock::{Clock, SystemClock};
use daned::config::{Config, LogFormat};
use daned::serve::query;
use daned::zone::zonefile;
use daned::{daemon, serve};
use daned_sign::hickory_proto::rr::Name;

use crate::cli::{ConfigArg, init_tracing, runtime};

/// `daned serve`: loads the config, then runs the daemon until it is told to stop.
pub(crate) fn run(config: ConfigArg, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let config = Config::load(&config.config)?;
    init_tracing(config.server.log_format, "info");
    runtime(threads)?.block_on(async {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        daemon::run(config, clock).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `daned serve-presigned`: serves one pre-signed zone file as it is.
pub(crate) fn presigned(
    zone: PathBuf,
    origin: Name,
    listen: SocketAddr,
    (threads, udp_workers): (Option<usize>, Option<std::num::NonZeroUsize>),
    udp_payload: u16,
    rate_limit: u32,
) -> anyhow::Result<ExitCode> {
    init_tracing(LogFormat::Human, "info");
    let started = std::time::Instant::now();
    let signed = zonefile::load_signed(&zone, &origin, &zonefile::ZoneLimits::default())?;
    tracing::info!(zone = %origin, serial = signed.serial(), elapsed_ms = started.elapsed().as_millis() as u64, "pre-signed zone loaded");
    let catalog = query::Catalog::new([Arc::new(signed)]);
    runtime(threads)?.block_on(async {
        let udp_workers = udp_workers
            .or_else(|| threads.and_then(std::num::NonZeroUsize::new))
            .unwrap_or_else(serve::default_udp_workers);
        let sockets = serve::bind_all(&[listen], udp_workers).await?;
        serve::serve_sockets(
            sockets,
            catalog,
            udp_payload,
            rate_limit,
            daemon::stop_signal(),
        )
        .await;
        Ok::<_, serve::BindError>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
