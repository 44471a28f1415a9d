//! Answering DNS: binds UDP and TCP on each listen address, runs our own UDP loop ([`udp`])
//! and TCP loop ([`tcp`], which streams zone transfers and caps connections) with the same
//! [`Handler`], both screening every request ([`screen`]) before hickory parses it. Each
//! request is answered from one [`snapshot::Snapshot`] (zones, journals, transfer ACLs, TSIG
//! keys): queries by the query engine ([`query`]) over its [`query::Catalog`]; zone
//! transfers from [`xfr`], signed with [`tsig`]; [`cookie`] and [`rrl`] guard the UDP path.
//!
//! At start the soft descriptor limit is raised to the hard one, and the TCP connection cap is
//! kept below it with a reserve ([`DESCRIPTOR_RESERVE`]), so that DNS clients can never take
//! the descriptors the control socket, the metrics listener and the zone, key and state files
//! need.

pub mod cookie;
pub mod counters;
pub mod handler;
pub mod query;
pub mod ratelog;
pub mod rrl;
pub mod screen;
pub mod snapshot;
pub mod tcp;
pub mod tsig;
pub mod udp;
pub mod xfr;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_server::server::RequestHandler;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::serve::handler::Handler;
use crate::serve::query::Catalog;
use crate::serve::rrl::RateLimiter;
use crate::serve::snapshot::Snapshot;
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

/// Binds UDP and TCP on every address. With port 0, UDP gets a free port and TCP is bound to
/// the same one, so one port number serves both (retrying a few times if TCP finds it taken).
///
/// # Errors
///
/// [`BindError`] naming the address.
pub async fn bind_all(listen: &[SocketAddr]) -> Result<Vec<(UdpSocket, TcpListener)>, BindError> {
    let mut bound = Vec::with_capacity(listen.len());
    for &addr in listen {
        let mut attempt = 0;
        loop {
            let udp = UdpSocket::bind(addr)
                .await
                .map_err(|source| BindError { addr, source })?;
            let udp_addr = udp
                .local_addr()
                .map_err(|source| BindError { addr, source })?;
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

/// Serves `catalog` (no transfers, no TSIG) on already-bound sockets until `shutdown` completes, with `rate_limit`
/// responses per second (NSD's other defaults; 0: off) and no TCP connection caps (for the
/// benchmark's `serve-presigned`).
pub async fn serve_sockets(
    sockets: Vec<(UdpSocket, TcpListener)>,
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
/// `shutdown` completes.
pub async fn serve_sockets_with<H: RequestHandler + Clone>(
    sockets: Vec<(UdpSocket, TcpListener)>,
    handler: H,
    limits: Arc<ConnectionLimits>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let handler = Arc::new(handler);
    let mut listeners = JoinSet::new();
    for (udp, tcp) in sockets {
        let plain =
            |addr: io::Result<SocketAddr>| addr.map_or_else(|e| e.to_string(), |a| a.to_string());
        let (udp_addr, tcp_addr) = (plain(udp.local_addr()), plain(tcp.local_addr()));
        tracing::info!(udp = %udp_addr, tcp = %tcp_addr, "listening");
        listeners.spawn(udp::serve_socket(udp, handler.clone()));
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
    listeners.shutdown().await;
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
