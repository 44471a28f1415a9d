//! Sockets and the daemon's lifetime: binds UDP and TCP on each listen address, runs
//! hickory-server's `Server` with our [`Handler`] for UDP and our own TCP loop ([`tcp`], which
//! streams zone transfers) with the same handler, and routes signals (SIGHUP reloads,
//! SIGTERM/SIGINT stop).

pub mod tcp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::handler::Handler;
use crate::manager::{Clock, Command, Manager};
use crate::query::Catalog;
use crate::zones::ZoneError;
use tcp::TcpTimeouts;

/// Why serving could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A zone could not be loaded or signed.
    #[error(transparent)]
    Zone(#[from] ZoneError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The server loop failed.
    #[error("server: {0}")]
    Server(String),
    /// The certificate watcher could not start.
    #[error("certificate watcher: {0}")]
    Watch(#[from] crate::watch::WatchError),
    /// The control socket could not be created.
    #[error("control socket: {0}")]
    Control(#[from] crate::control::ControlError),
}

/// Binds UDP and TCP on every address. With port 0, UDP gets a free port and TCP is bound to
/// the same one, so one port number serves both (retrying a few times if TCP finds it taken).
///
/// # Errors
///
/// [`ServeError::Bind`] naming the address.
pub async fn bind_all(listen: &[SocketAddr]) -> Result<Vec<(UdpSocket, TcpListener)>, ServeError> {
    let mut bound = Vec::with_capacity(listen.len());
    for &addr in listen {
        let mut attempt = 0;
        loop {
            let udp = UdpSocket::bind(addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })?;
            let udp_addr = udp
                .local_addr()
                .map_err(|source| ServeError::Bind { addr, source })?;
            match TcpListener::bind(udp_addr).await {
                Ok(tcp) => {
                    bound.push((udp, tcp));
                    break;
                }
                Err(source) if addr.port() == 0 && attempt < 10 => {
                    tracing::debug!(%udp_addr, %source, "TCP port taken, trying another");
                    attempt += 1;
                }
                Err(source) => {
                    return Err(ServeError::Bind {
                        addr: udp_addr,
                        source,
                    });
                }
            }
        }
    }
    Ok(bound)
}

/// Serves `catalog` on already-bound sockets until `shutdown` completes.
///
/// # Errors
///
/// [`ServeError::Server`] if the server loop fails.
pub async fn serve_sockets(
    sockets: Vec<(UdpSocket, TcpListener)>,
    catalog: Arc<ArcSwap<Catalog>>,
    udp_payload: u16,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    serve_sockets_with(sockets, Handler::new(catalog, udp_payload), shutdown).await
}

/// Serves with `handler` on already-bound sockets until `shutdown` completes.
///
/// # Errors
///
/// [`ServeError::Server`] if the server loop fails.
pub async fn serve_sockets_with(
    sockets: Vec<(UdpSocket, TcpListener)>,
    handler: Handler,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let tcp_handler = Arc::new(handler.clone());
    let mut server = Server::new(handler);
    let mut tcp_listeners = JoinSet::new();
    for (udp, tcp) in sockets {
        let udp_addr = udp.local_addr().ok();
        let tcp_addr = tcp.local_addr().ok();
        tracing::info!(udp = ?udp_addr, tcp = ?tcp_addr, "listening");
        server.register_socket(udp);
        tcp_listeners.spawn(tcp::serve_listener(
            tcp,
            tcp_handler.clone(),
            TcpTimeouts::default(),
        ));
    }
    shutdown.await;
    tracing::info!("shutting down");
    // As hickory's listeners do on shutdown: stop accepting and drop open connections.
    tcp_listeners.shutdown().await;
    server
        .shutdown_gracefully()
        .await
        .map_err(|e| ServeError::Server(e.to_string()))
}

/// `daned serve`: loads and signs every zone, binds, serves, reloads on SIGHUP, renews
/// signatures before they expire, stops on SIGTERM or SIGINT.
///
/// # Errors
///
/// A zone that cannot be loaded at start, an address that cannot be bound.
pub async fn run(config: Config, clock: Arc<dyn Clock>) -> Result<(), ServeError> {
    let mut manager = tokio::task::block_in_place(|| Manager::start(&config, clock))?;
    let catalog = manager.catalog();
    let (commands, receiver) = mpsc::channel(16);
    let published = manager.subscribe();
    let poll_task = tokio::spawn(crate::propagation::run(
        published.clone(),
        crate::propagation::poll_targets(&config),
        crate::propagation::PollOptions::default(),
        commands.clone(),
    ));
    let notify_task = tokio::spawn(crate::notify::run(
        published,
        crate::notify::targets(&config),
        crate::notify::Backoff::default(),
        Some(commands.clone()),
    ));
    let transfer = Arc::new(crate::xfr::TransferPolicy::from_config(&config));
    let control =
        crate::control::bind_control(&config.server.control_socket, config.server.control_mode)
            .await?;
    let sockets = bind_all(&config.server.listen).await?;
    let metrics = match config.server.metrics_listen {
        Some(addr) => Some(
            crate::metrics::bind_metrics(addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })?,
        ),
        None => None,
    };
    // The watcher reports changes after start; the manager has just read every file.
    let (watcher, changed_files) = crate::watch::CertWatcher::start(
        manager.watched_files(),
        config.server.watch_debounce,
        config.server.rescan_interval,
    )?;
    let manager_task = tokio::spawn(manager.run(receiver, Some(changed_files)));
    let signals = tokio::spawn(forward_signals(commands.clone()));
    let (stop_control, control_stopped) = tokio::sync::oneshot::channel::<()>();
    let control_task = tokio::spawn(control.serve(
        commands.clone(),
        async move {
            // Either a send or the sender's drop ends the control socket.
            let _ = control_stopped.await;
        },
        crate::control::ControlOptions::default(),
    ));
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_task = metrics.map(|listener| {
        tokio::spawn(crate::metrics::serve_metrics(
            listener,
            commands.clone(),
            async move {
                let _ = metrics_stopped.await;
            },
        ))
    });
    let handler = Handler::new(catalog, config.server.udp_payload).with_transfer_policy(transfer);
    let result = serve_sockets_with(sockets, handler, stop_signal()).await;
    notify_task.abort();
    poll_task.abort();
    drop(stop_metrics);
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    drop(stop_control);
    // The control socket removes its file on the way out; waiting is bounded by its own
    // connection shutdown.
    let _ = control_task.await;
    signals.abort();
    drop(commands);
    drop(watcher);
    // The manager ends once every sender is gone; it holds nothing that needs flushing (state
    // is written before each version is published).
    manager_task.abort();
    result
}

/// Completes on SIGTERM or SIGINT.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

async fn forward_signals(commands: mpsc::Sender<Command>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; reload by restarting");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading");
        if commands
            .send(Command::Reload { reply: None })
            .await
            .is_err()
        {
            break;
        }
    }
}
