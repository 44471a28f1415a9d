//! Answering DNS: binds UDP (one socket per UDP worker) and TCP on each listen address, runs
//! our own UDP workers ([`udp`]) and TCP loop ([`tcp`], which streams zone transfers and caps connections) with the same
//! [`Handler`], both screening every request ([`screen`]) before it is parsed, and both trying
//! the handler's fast path for the common query ([`wire`]) before hickory's `Request`. Each
//! request is answered from one [`snapshot::Snapshot`] (zones, journals, transfer ACLs, TSIG
//! keys): queries by the query engine ([`query`]) over its [`query::Catalog`]; zone
//! transfers from [`xfr`], signed with [`tsig`]; [`cookie`] and [`rrl`] guard the UDP path.
//!
//! At start the soft descriptor limit is raised to the hard one, and the TCP connection cap is
//! kept below it with a reserve ([`DESCRIPTOR_RESERVE`]), so that DNS clients can never take
//! the descriptors the control socket, the metrics listener and the zone, key and state files
//! need.

pub(crate) mod cookie;
pub(crate) mod counters;
pub mod handler;
pub mod query;
pub(crate) mod ratelog;
pub(crate) mod rrl;
pub mod screen;
pub mod snapshot;
pub mod tcp;
pub mod tsig;
pub(crate) mod udp;
pub mod wire;
pub mod xfr;

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::serve::handler::Handler;
use crate::serve::query::Catalog;
use crate::serve::rrl::RateLimiter;
use crate::serve::snapshot::Snapshot;
use crate::serve::wire::FastPath;
use tcp::{ConnectionLimits, TcpTimeouts};

/// Descriptors never given to TCP clients: for the control socket and its clients, the
/// metrics listener, the UDP sockets, and the zone, key, state and journal files.
pub const DESCRIPTOR_RESERVE: u64 = 128;

/// A listen address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// The sockets of one listen address: one UDP socket per UDP worker, all bound to the same
/// address with `SO_REUSEPORT`, and the TCP listener on the same port.
pub struct Bound {
    /// The UDP workers' sockets (nonblocking).
    pub udp: Vec<std::net::UdpSocket>,
    /// The TCP listener.
    pub tcp: TcpListener,
}

impl Bound {
    /// The address the UDP sockets are bound to.
    ///
    /// # Errors
    ///
    /// The OS error of `getsockname`.
    pub fn udp_addr(&self) -> io::Result<SocketAddr> {
        match self.udp.first() {
            Some(socket) => socket.local_addr(),
            None => Err(io::Error::other("no UDP socket bound")),
        }
    }
}

/// Binds `udp_workers` UDP sockets and one TCP listener on every address. With port 0, the
/// first UDP socket gets a free port and the others and TCP are bound to the same one, so one
/// port number serves both (retrying a few times if TCP finds it taken).
///
/// # Errors
///
/// [`BindError`] naming the address.
pub async fn bind_all(
    listen: &[SocketAddr],
    udp_workers: NonZeroUsize,
) -> Result<Vec<Bound>, BindError> {
    let mut bound = Vec::with_capacity(listen.len());
    for &addr in listen {
        let mut attempt = 0;
        loop {
            let first = udp::bind_reuseport(addr).map_err(|source| BindError { addr, source })?;
            let udp_addr = first
                .local_addr()
                .map_err(|source| BindError { addr, source })?;
            match TcpListener::bind(udp_addr).await {
                Ok(tcp) => {
                    let mut udp = Vec::with_capacity(udp_workers.get());
                    udp.push(first);
                    for _ in 1..udp_workers.get() {
                        udp.push(udp::bind_reuseport(udp_addr).map_err(|source| BindError {
                            addr: udp_addr,
                            source,
                        })?);
                    }
                    bound.push(Bound { udp, tcp });
                    break;
                }
                Err(source) if addr.port() == 0 && attempt < 10 => {
                    tracing::debug!(%udp_addr, %source, "TCP port taken, trying another");
                    attempt += 1;
                }
                Err(source) => {
                    return Err(BindError {
                        addr: udp_addr,
                        source,
                    });
                }
            }
        }
    }
    Ok(bound)
}

/// The UDP workers per listen address when the config sets none: one per core.
pub fn default_udp_workers() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Serves `catalog` (no transfers, no TSIG) on already-bound sockets until `shutdown` completes, with `rate_limit`
/// responses per second (NSD's other defaults; 0: off) and no TCP connection caps (for the
/// benchmark's `serve-presigned`).
pub async fn serve_sockets(
    sockets: Vec<Bound>,
    catalog: Catalog,
    udp_payload: u16,
    rate_limit: u32,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = crate::config::NetLimits {
        rate_limit,
        ..crate::config::NetLimits::default()
    };
    let rrl = RateLimiter::new(&limits).map(Arc::new);
    serve_sockets_with(
        sockets,
        Handler::new(Arc::new(ArcSwap::from_pointee(Snapshot::serving(
            catalog,
            udp_payload,
        ))))
        .with_rate_limiter(rrl),
        ConnectionLimits::unlimited(),
        shutdown,
    )
    .await
}

/// Serves with `handler` on already-bound sockets, TCP connections capped by `limits`, until
/// `shutdown` completes. Each UDP socket is served by a thread of its own ([`udp`]); they end
/// with the TCP loops once `shutdown` has completed.
pub async fn serve_sockets_with<H: FastPath + Clone>(
    sockets: Vec<Bound>,
    handler: H,
    limits: Arc<ConnectionLimits>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let handler = Arc::new(handler);
    let mut listeners = JoinSet::new();
    // Dropping the sender stops every UDP worker; each drops its `done` sender as it ends.
    let (stop, stopped) = tokio::sync::watch::channel(());
    let mut workers = Vec::new();
    for bound in sockets {
        let plain =
            |addr: io::Result<SocketAddr>| addr.map_or_else(|e| e.to_string(), |a| a.to_string());
        let (udp_addr, tcp_addr) = (plain(bound.udp_addr()), plain(bound.tcp.local_addr()));
        let Bound { udp, tcp } = bound;
        tracing::info!(udp = %udp_addr, udp_workers = udp.len(), tcp = %tcp_addr, "listening");
        for socket in udp {
            let (done, ended) = tokio::sync::oneshot::channel::<()>();
            match spawn_udp_worker(socket, handler.clone(), stopped.clone(), done) {
                Ok(()) => workers.push(ended),
                Err(error) => {
                    tracing::error!(%error, udp = %udp_addr, "cannot start a UDP worker");
                }
            }
        }
        listeners.spawn(tcp::serve_listener(
            tcp,
            handler.clone(),
            TcpTimeouts::default(),
            limits.clone(),
        ));
    }
    tracing::info!(
        tcp_max_clients = limits.max_total(),
        tcp_max_clients_per_address = limits.per_client(),
        "TCP connection caps"
    );
    shutdown.await;
    tracing::info!("shutting down");
    // Stop receiving and accepting, and drop open connections and requests in progress.
    drop(stop);
    listeners.shutdown().await;
    for ended in workers {
        let _ = ended.await;
    }
}

/// Starts the thread serving `socket` ([`udp::serve_socket`]) until `stop`'s sender is
/// dropped; `done` is dropped when the thread ends. Must be called inside a tokio runtime: a
/// task of it wakes the worker's blocked receive when the server stops, by shutting down the
/// receive side of the socket (through a clone of its descriptor; Linux does it, and reports
/// `ENOTCONN`, on an unconnected socket too).
fn spawn_udp_worker<H: FastPath>(
    socket: std::net::UdpSocket,
    handler: Arc<H>,
    stop: tokio::sync::watch::Receiver<()>,
    done: tokio::sync::oneshot::Sender<()>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let waker = socket.try_clone()?;
    let mut on_stop = stop.clone();
    tokio::spawn(async move {
        // Returns when the sender is dropped.
        let _ = on_stop.changed().await;
        let _ = nix::sys::socket::shutdown(waker.as_raw_fd(), nix::sys::socket::Shutdown::Read);
    });
    std::thread::Builder::new()
        .name("daned-udp".to_owned())
        .spawn(move || {
            // The sender dropped is the only message: an error here.
            let stopped = || stop.has_changed().unwrap_or(true);
            udp::serve_socket(&socket, &*handler, &runtime, stopped);
            drop(done);
        })?;
    Ok(())
}

/// Raises the soft limit on open descriptors to the hard limit and returns the soft limit in
/// effect (`None` when it cannot be read). Knot and BIND raise theirs too: the common soft
/// default of 1024 is far below what a server with many TCP clients needs.
pub fn raise_descriptor_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::debug!(soft = ?raised.current, "descriptor limit raised to the hard limit");
                limit = raised;
            }
            Err(error) => {
                tracing::warn!(%error, soft = ?limit.current, hard = ?limit.maximum, "cannot raise the descriptor limit");
            }
        }
    }
    // `None` means unlimited.
    Some(limit.current.unwrap_or(u64::MAX))
}

/// The TCP connection cap for `configured` (`tcp-max-clients`) under a soft descriptor limit
/// of `descriptors`: by default half the limit (Knot's default); never more than the limit less
/// [`DESCRIPTOR_RESERVE`], so DNS clients cannot starve the control socket.
pub fn tcp_connection_cap(configured: Option<u32>, descriptors: Option<u64>) -> usize {
    let descriptors = descriptors.unwrap_or(1024);
    let ceiling = descriptors.saturating_sub(DESCRIPTOR_RESERVE).max(1);
    let wanted = configured.map_or(descriptors / 2, u64::from);
    usize::try_from(wanted.min(ceiling).max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_cap_is_half_the_descriptors_and_always_leaves_the_reserve() {
        // Knot's default: half the descriptor limit.
        assert_eq!(tcp_connection_cap(None, Some(1024)), 512);
        assert_eq!(tcp_connection_cap(None, Some(1_048_576)), 524_288);
        // A configured value is kept below the limit less the reserve.
        assert_eq!(tcp_connection_cap(Some(150), Some(1024)), 150);
        assert_eq!(tcp_connection_cap(Some(5000), Some(1024)), 896);
        assert_eq!(tcp_connection_cap(Some(5000), Some(100)), 1);
    }
}
