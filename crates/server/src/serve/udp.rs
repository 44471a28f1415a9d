//! DNS over UDP: one worker per socket, each listen address having `udp-workers` sockets bound
//! to it with `SO_REUSEPORT`, so that the kernel spreads the clients over the workers (Knot's
//! model). A worker receives a batch of datagrams with one `recvmmsg`, screens each
//! ([`super::screen`]) before anything parses it (so nothing hickory logs per packet can be
//! triggered by a client), answers each inline, and sends the batch of responses with one
//! `sendmmsg`. No task is spawned per query. The common query is answered by the handler's fast
//! path ([`FastPath::answer_fast`]: our own parse and writer, [`super::wire`]) straight into the
//! outbox's scratch buffer; anything else (TSIG, transfers, other opcodes, odd EDNS) is parsed by
//! hickory's `Request::from_bytes` and answered by the same
//! [`hickory_server::server::RequestHandler`] as over TCP.
//!
//! Each worker is an OS thread of its own that blocks in `recvmmsg` with `MSG_WAITFORONE` on
//! its socket: the call returns as soon as one datagram is there, with every other one already
//! queued (up to [`BATCH`]), so a wake-up costs one receive and one send. (A readiness loop
//! through tokio's epoll cost two more system calls per query at a moderate rate: the
//! `epoll_wait` and the receive that finds the socket empty, which is what clears tokio's
//! readiness.) The thread never migrates or waits behind TCP and control tasks. The worker
//! stops when the server does: the socket's receive side is shut down (which wakes a blocked
//! `recvmmsg` on Linux), and a receive timeout of [`STOP_CHECK`] bounds the wait where that
//! does not wake it. hickory's path is async: the worker drives it on a current-thread tokio
//! runtime of its own, on which it never really waits (`Capture` only encodes into the
//! worker's buffer). A send that finds the socket's buffer full blocks for at most
//! [`SEND_WAIT`], then drops the rest of the batch.
//!
//! Steady state, the worker reuses its receive buffers, the `mmsghdr` arrays and the response
//! buffer across batches. What still allocates per query on the fast path: the query engine's
//! section vectors (and a wildcard's owned records), a name longer than hickory's inline
//! buffer, and a cookie's option bytes. On hickory's path: `Request::from_bytes` (an owned copy
//! of the datagram, names, queries, EDNS), the response's OPT record, a FORMERR's 12-byte
//! header. Per batch, the two short arrays of `IoSlice`s `recvmmsg`/`sendmmsg` borrow.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

use super::screen::{Screened, form_err_response, screen};
use super::wire::FastPath;
use crate::serve::ratelog::{LOG_INTERVAL, RateLimitedLog};

/// Datagrams received (and responses sent) per system call.
pub(crate) const BATCH: usize = 32;
/// The largest datagram read: no UDP datagram is bigger, so none is cut. The pages of each
/// buffer are touched only as far as datagrams fill them.
const MAX_DATAGRAM: usize = 65_535;

/// How long a worker waits for a datagram before it checks whether the server stops.
pub(crate) const STOP_CHECK: Duration = Duration::from_secs(5);
/// How long a send waits for room in the socket's buffer.
const SEND_WAIT: Duration = Duration::from_secs(1);

/// Receives on `socket` and answers with `handler` until `stopped` says so, blocking this
/// thread. `runtime` runs hickory's (async) path for what the fast path does not answer.
pub(crate) fn serve_socket<H: FastPath>(
    socket: &UdpSocket,
    handler: &H,
    runtime: &tokio::runtime::Runtime,
    stopped: impl Fn() -> bool,
) {
    let local = socket.local_addr().ok();
    let blocking = socket
        .set_nonblocking(false)
        .and_then(|()| socket.set_read_timeout(Some(STOP_CHECK)))
        .and_then(|()| socket.set_write_timeout(Some(SEND_WAIT)));
    if let Err(error) = blocking {
        tracing::error!(%error, ?local, "cannot set up the UDP socket: this worker stops");
        return;
    }
    let mut worker = Worker::new();
    while !stopped() {
        match worker.receive(socket.as_raw_fd()) {
            Ok(()) => {}
            // The receive timeout (time to check `stopped`), or a signal.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(error) => {
                static RECV: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
                if let Some(suppressed) = RECV.admit() {
                    tracing::warn!(%error, ?local, suppressed, "UDP receive failed");
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        }
        runtime.block_on(worker.answer(handler));
        worker.send(socket.as_raw_fd());
    }
}

/// One received datagram: its length in its buffer and its source.
#[derive(Clone, Copy)]
struct Received {
    len: usize,
    src: Option<SockaddrStorage>,
}

/// A worker's buffers, all reused from one batch to the next.
struct Worker {
    /// One buffer per datagram of a batch.
    buffers: Vec<Vec<u8>>,
    /// What the last `recvmmsg` filled in, in order.
    received: Vec<Received>,
    receive_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    /// The responses to the batch, filled by [`Capture`]s.
    outbox: Arc<Mutex<Outbox>>,
}

impl Worker {
    fn new() -> Self {
        Self {
            buffers: (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM]).collect(),
            received: Vec::with_capacity(BATCH),
            receive_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
            outbox: Arc::new(Mutex::new(Outbox::default())),
        }
    }

    /// Waits for a datagram and reads it with every other one queued, up to [`BATCH`]
    /// (`WouldBlock` when the receive timeout passed first).
    fn receive(&mut self, socket: RawFd) -> io::Result<()> {
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = self
            .buffers
            .iter_mut()
            .map(|buffer| [IoSliceMut::new(buffer)])
            .collect();
        let results = recvmmsg(
            socket,
            &mut self.receive_headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )
        .map_err(io::Error::from)?;
        self.received.clear();
        self.received.extend(results.map(|message| Received {
            len: message.bytes,
            src: message.address,
        }));
        Ok(())
    }

    /// Answers every datagram of the batch into the outbox.
    async fn answer<H: FastPath>(&mut self, handler: &H) {
        self.outbox().clear();
        for index in 0..self.received.len() {
            let Received { len, src } = self.received[index];
            let Some((src, dst)) = src.and_then(|raw| Some((socket_addr(&raw)?, raw))) else {
                continue;
            };
            // Port 0 cannot be answered (hickory's `sanitize_src_address`).
            if src.port() == 0 || src.ip().is_unspecified() {
                continue;
            }
            let message = &mut self.buffers[index][..len];
            match screen(message, src) {
                Screened::Pass => {}
                Screened::Drop => continue,
                Screened::FormErr(response, _) => {
                    // No larger than the request: nothing to amplify.
                    self.outbox().push(&response, dst);
                    continue;
                }
            }
            // The common query first, written straight into the outbox's scratch buffer.
            {
                let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
                let mut scratch = std::mem::take(&mut outbox.scratch);
                let fast = handler.answer_fast(message, src, Protocol::Udp, &mut scratch);
                if fast.is_some() && !scratch.is_empty() {
                    outbox.push(&scratch, dst);
                }
                outbox.scratch = scratch;
                if fast.is_some() {
                    continue;
                }
            }
            match Request::from_bytes(message.to_vec(), src, Protocol::Udp) {
                Ok(request) => {
                    let capture = Capture {
                        outbox: self.outbox.clone(),
                        dst,
                    };
                    handler
                        .handle_request::<_, TokioTime>(&request, capture)
                        .await;
                }
                Err(error) => {
                    // The screen passed it, so hickory found something subtler (a name pointing
                    // nowhere, an RDATA it cannot read): FORMERR with the bare header.
                    static UNDECODABLE: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
                    if let Some(suppressed) = UNDECODABLE.admit() {
                        tracing::info!(%src, %error, suppressed, "undecodable UDP request: FORMERR");
                    }
                    let response = form_err_response(message);
                    self.outbox().push(&response, dst);
                }
            }
        }
    }

    /// Sends every response in the outbox, [`BATCH`] per system call; a response the kernel
    /// refuses (an unreachable network, a firewall) is skipped; when the socket's buffer stays
    /// full for [`SEND_WAIT`], the rest of the batch is dropped.
    fn send(&mut self, socket: RawFd) {
        // Taken out (and put back with its buffers) so that no lock is held while sending.
        let outbox = std::mem::take(&mut *self.outbox());
        self.send_outbox(socket, &outbox);
        *self.outbox() = outbox;
    }

    fn send_outbox(&mut self, socket: RawFd, outbox: &Outbox) {
        let mut start = 0;
        while start < outbox.messages.len() {
            let end = outbox.messages.len().min(start + BATCH);
            let slices: Vec<[IoSlice<'_>; 1]> = outbox.messages[start..end]
                .iter()
                .map(|range| [IoSlice::new(&outbox.bytes[range.clone()])])
                .collect();
            let no_control: [ControlMessage<'_>; 0] = [];
            let sent = sendmmsg(
                socket,
                &mut self.send_headers,
                slices.iter(),
                &outbox.destinations[start..end],
                no_control,
                MsgFlags::empty(),
            )
            .map(Iterator::count)
            .map_err(io::Error::from);
            match sent {
                Ok(sent) => start += sent.max(1),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    static SEND: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
                    let full = matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    );
                    if let Some(suppressed) = SEND.admit() {
                        let dst = outbox.destinations[start].as_ref().and_then(socket_addr);
                        let dropped = if full { end - start } else { 1 };
                        tracing::warn!(%error, ?dst, dropped, suppressed, "UDP send failed");
                    }
                    // A full buffer drops the rest of the batch; otherwise the one at `start`
                    // was refused (the rest were not tried).
                    start = if full { end } else { start + 1 };
                }
            }
        }
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The responses to one batch: their bytes one after the other, where each one is, and whom
/// it goes to.
#[derive(Default)]
struct Outbox {
    bytes: Vec<u8>,
    messages: Vec<Range<usize>>,
    destinations: Vec<Option<SockaddrStorage>>,
    /// Where a response is encoded before it is appended (name compression needs the message
    /// to start at offset 0).
    scratch: Vec<u8>,
}

impl Outbox {
    fn clear(&mut self) {
        self.bytes.clear();
        self.messages.clear();
        self.destinations.clear();
    }

    fn push(&mut self, message: &[u8], dst: SockaddrStorage) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(message);
        self.messages.push(start..self.bytes.len());
        self.destinations.push(Some(dst));
    }
}

/// The [`ResponseHandler`] of one UDP request: encodes each response into the worker's
/// [`Outbox`], to be sent with the rest of the batch. It never waits.
#[derive(Clone)]
struct Capture {
    outbox: Arc<Mutex<Outbox>>,
    dst: SockaddrStorage,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        let mut scratch = std::mem::take(&mut outbox.scratch);
        let encoded = encode(response, &mut scratch);
        if encoded.is_ok() {
            outbox.push(&scratch, self.dst);
        }
        outbox.scratch = scratch;
        encoded
    }
}

/// `response` encoded for UDP into `message` (cleared first): within the response OPT's
/// payload size (the handler has sized the response for the client already), or 512 bytes
/// without EDNS (RFC 1035 §4.2.1).
fn encode<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    message: &mut Vec<u8>,
) -> Result<ResponseInfo, NetError> {
    let mut metadata = *response.metadata();
    let max = response.edns().map_or(512, |edns| edns.max_payload());
    message.clear();
    let mut encoder = BinEncoder::new(message);
    encoder.set_max_size(max);
    let error = match response.destructive_emit(&mut encoder) {
        Ok(info) => return Ok(info),
        Err(error) => error,
    };
    static ENCODE: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
    if let Some(suppressed) = ENCODE.admit() {
        tracing::warn!(%error, id = metadata.id, suppressed, "cannot encode a response: SERVFAIL");
    }
    metadata.response_code = ResponseCode::ServFail;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    message.clear();
    let mut encoder = BinEncoder::new(message);
    header
        .emit(&mut encoder)
        .map_err(|e| NetError::from(format!("encoding a SERVFAIL header: {e}")))?;
    Ok(ResponseInfo::from(header))
}

/// `raw` as a socket address, when it is IPv4 or IPv6.
fn socket_addr(raw: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = raw.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    raw.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

/// A socket bound to `addr` for one UDP worker: nonblocking, close-on-exec, with
/// `SO_REUSEPORT`, so that every worker's socket can be bound to the same address and the
/// kernel spreads the clients over them. Not `SO_REUSEADDR`: on Linux two UDP sockets that
/// both set it may share a port across users, while `SO_REUSEPORT` requires the same user.
///
/// # Errors
///
/// The OS error of `socket`, `setsockopt` or `bind`.
pub(crate) fn bind_reuseport(addr: SocketAddr) -> io::Result<UdpSocket> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, bind, setsockopt, socket, sockopt::ReusePort,
    };
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(
        family,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, ReusePort, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    Ok(UdpSocket::from(fd))
}

#[cfg(test)]
mod tests;
