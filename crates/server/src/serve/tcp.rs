//! DNS over TCP (RFC 7766) with our own accept and connection loop, so that a zone transfer
//! streams and a connection has two timeouts: a short one while idle, and one per message
//! written.
//!
//! Why not hickory-server's `register_listener`: its connection loop reads a request, then
//! awaits our handler *without polling the socket*; every `send_response` only queues the
//! encoded message in a channel that the loop drains after the handler has returned. A transfer
//! is therefore built whole before its first byte leaves, the queue holds all of it, and the
//! idle timer (started when the request was read, not reset by writes) keeps running through
//! the building and the writing: a large transfer was cut off, and raising the timer held idle
//! query connections as long. hickory offers no hook to write from the handler or to reset the
//! timer, so short of forking it we read and write the socket here. Each screened request is
//! offered to the handler's fast path first ([`FastPath::answer_fast`], the common query written
//! by [`super::wire`] into a buffer the connection reuses); anything else, transfers included,
//! goes to the same [`hickory_server::server::RequestHandler`] as over UDP.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, MessageType, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tracing::{debug, trace};

use super::screen::{Screened, screen};
use super::wire::FastPath;
use crate::serve::ratelog::{LOG_INTERVAL, RateLimitedLog};

/// How long a TCP connection may wait for its next request, and how long one response message
/// may take to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTimeouts {
    /// From the end of the last response (or the accept) until the next request is read
    /// whole. RFC 7766 §6.2.3: "the timeout would be of the order of seconds".
    pub idle: Duration,
    /// The most one response message (at most 64 KiB) may take to be handed to the kernel: a
    /// client that keeps reading is never cut off, however long its transfer takes; one that
    /// stops reading loses the connection after this long.
    pub write: Duration,
}

impl Default for TcpTimeouts {
    /// 10 s idle (what hickory's listener had, and the order of seconds RFC 7766 asks), 30 s
    /// per message written.
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(10),
            write: Duration::from_secs(30),
        }
    }
}

/// Caps on concurrent TCP connections, shared by every listener of the daemon: in total, and
/// per client (one IPv4 address, or one IPv6 /64, which a single host usually has whole).
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    /// 0: no per-client cap.
    per_client: usize,
    counts: SyncMutex<Counts>,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Only clients with at least one open connection (so at most `max_total` entries).
    per_client: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    client: IpAddr,
}

impl ConnectionLimits {
    /// At most `max_total` connections at once (at least 1), and `per_client` from one client
    /// (0: no per-client cap).
    pub fn new(max_total: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total: max_total.max(1),
            per_client,
            counts: SyncMutex::new(Counts::default()),
            refused: AtomicU64::new(0),
        })
    }

    /// No cap worth the name: for tests and tools that serve one client.
    pub fn unlimited() -> Arc<Self> {
        Self::new(usize::MAX, 0)
    }

    /// A place for a connection from `ip`, or `None` (counted) when a cap is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionPermit> {
        let client = client_key(ip);
        let mut counts = self.lock();
        let mine = counts.per_client.get(&client).copied().unwrap_or(0);
        if counts.total >= self.max_total || (self.per_client > 0 && mine >= self.per_client) {
            drop(counts);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        counts.total += 1;
        counts.per_client.insert(client, mine + 1);
        Some(ConnectionPermit {
            limits: self.clone(),
            client,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Connections closed at once because a cap was reached, so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The total cap.
    pub fn max_total(&self) -> usize {
        self.max_total
    }

    /// The per-client cap (0: none).
    pub fn per_client(&self) -> usize {
        self.per_client
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Counting cannot leave the map half-updated; a poisoned lock is still consistent.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut counts = self.limits.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(mine) = counts.per_client.get_mut(&self.client) {
            *mine -= 1;
            if *mine == 0 {
                counts.per_client.remove(&self.client);
            }
        }
    }
}

/// The client a connection from `ip` counts for: the address, or its /64 for IPv6.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// Accepts connections on `listener` and serves each with `handler` until the task is aborted
/// (which aborts every connection it started). A connection over one of `limits`' caps is
/// closed at once, so one client holding many connections cannot keep others out.
pub async fn serve_listener<H: FastPath>(
    listener: TcpListener,
    handler: Arc<H>,
    timeouts: TcpTimeouts,
    limits: Arc<ConnectionLimits>,
) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, src)) => {
                let Some(permit) = limits.admit(src.ip()) else {
                    static OVER_CAP: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
                    if let Some(suppressed) = OVER_CAP.admit() {
                        tracing::warn!(
                            %src,
                            open = limits.open(),
                            max = limits.max_total,
                            per_client = limits.per_client,
                            suppressed,
                            "TCP connection cap reached: new connections are closed at once"
                        );
                    }
                    drop(stream);
                    continue;
                };
                trace!(%src, "accepted TCP connection");
                // Each message goes out in one write; no reason to hold it for Nagle.
                if let Err(error) = stream.set_nodelay(true) {
                    debug!(%src, %error, "cannot set TCP_NODELAY");
                }
                let handler = handler.clone();
                connections.spawn(async move {
                    serve_connection(stream, src, handler, timeouts).await;
                    drop(permit);
                });
            }
            Err(error) => {
                static ACCEPT: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
                if let Some(suppressed) = ACCEPT.admit() {
                    tracing::warn!(%error, suppressed, "TCP accept failed");
                }
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        while connections.try_join_next().is_some() {}
    }
}

/// Serves the requests of one connection from `src`, one after the other, until the client
/// closes it, it stays idle for `timeouts.idle`, a message cannot be read, or a response cannot
/// be written within `timeouts.write`.
pub async fn serve_connection<S, H>(
    stream: S,
    src: SocketAddr,
    handler: Arc<H>,
    timeouts: TcpTimeouts,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
    H: FastPath,
{
    let (mut reader, writer) = tokio::io::split(stream);
    // The fast path's response buffer, reused for every request of the connection.
    let mut out = Vec::new();
    let responder = TcpResponder {
        writer: Arc::new(Mutex::new(writer)),
        write_timeout: timeouts.write,
        broken: Arc::new(AtomicBool::new(false)),
    };
    loop {
        let message = match tokio::time::timeout(timeouts.idle, read_message(&mut reader)).await {
            Ok(Ok(Some(message))) => message,
            Ok(Ok(None)) => {
                trace!(%src, "TCP connection closed by the client");
                break;
            }
            Ok(Err(error)) => {
                debug!(%src, %error, "TCP read failed");
                break;
            }
            Err(_) => {
                debug!(%src, idle = ?timeouts.idle, "idle TCP connection closed");
                break;
            }
        };
        handle_message(&*handler, message, src, responder.clone(), &mut out).await;
        if responder.broken.load(Ordering::Relaxed) {
            break;
        }
    }
    // Dropping both halves closes the connection.
    let mut writer = responder.writer.lock().await;
    let _ = writer.shutdown().await;
}

/// One length-prefixed message (RFC 1035 §4.2.2), or `None` when the client closed the
/// connection before starting one.
async fn read_message<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 2];
    if reader.read(&mut length[..1]).await? == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut length[1..]).await?;
    let mut message = vec![0; usize::from(u16::from_be_bytes(length))];
    reader.read_exact(&mut message).await?;
    Ok(Some(message))
}

/// Decodes `message` as hickory's server does and hands it to `handler`: shorter than a header,
/// or itself a response, it is dropped; a header followed by garbage gets FORMERR.
async fn handle_message<H: FastPath, W: AsyncWrite + Send + 'static>(
    handler: &H,
    mut message: Vec<u8>,
    src: SocketAddr,
    mut responder: TcpResponder<W>,
    out: &mut Vec<u8>,
) {
    match screen(&mut message, src) {
        Screened::Pass => {}
        Screened::Drop => {
            trace!(%src, "TCP message shorter than a header, or a response: dropped");
            return;
        }
        Screened::FormErr(response, _) => {
            if let Err(error) = responder.write_framed(&response).await {
                debug!(%src, %error, "cannot send FORMERR");
            }
            return;
        }
    }
    let Ok(header) = Header::read(&mut BinDecoder::new(&message)) else {
        return;
    };
    if header.metadata.message_type == MessageType::Response {
        return;
    }
    if handler
        .answer_fast(&message, src, Protocol::Tcp, out)
        .is_some()
    {
        // Never rate limited over TCP, so never empty; checked all the same.
        if !out.is_empty()
            && let Err(error) = responder.write_framed(out).await
        {
            debug!(%src, %error, "cannot send a response");
        }
        return;
    }
    match Request::from_bytes(message, src, Protocol::Tcp) {
        Ok(request) => {
            handler
                .handle_request::<_, TokioTime>(&request, responder)
                .await;
        }
        Err(error) => {
            static UNDECODABLE: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
            if let Some(suppressed) = UNDECODABLE.admit() {
                tracing::info!(%src, %error, suppressed, "undecodable TCP request: FORMERR");
            }
            let Ok(queries) = Queries::read(&mut BinDecoder::new(&[]), 0) else {
                return;
            };
            let response = MessageResponseBuilder::new(&queries, None)
                .error_msg(&header.metadata, ResponseCode::FormErr);
            if let Err(error) = responder.send_response(response).await {
                debug!(%src, %error, "cannot send FORMERR");
            }
        }
    }
}

/// Writes each response to the connection as soon as it is sent, and waits until the kernel
/// has taken it: a transfer's next message is only built once this one is on its way.
struct TcpResponder<W> {
    writer: Arc<Mutex<WriteHalf<W>>>,
    write_timeout: Duration,
    /// Set when a write failed or timed out: the connection is then closed.
    broken: Arc<AtomicBool>,
}

impl<W> Clone for TcpResponder<W> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
            write_timeout: self.write_timeout,
            broken: self.broken.clone(),
        }
    }
}

#[async_trait::async_trait]
impl<W: AsyncWrite + Send + 'static> ResponseHandler for TcpResponder<W> {
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
        let (info, message) = encode(response)?;
        self.write_framed(&message).await?;
        Ok(info)
    }
}

impl<W: AsyncWrite + Send + 'static> TcpResponder<W> {
    /// Writes `message` with its length prefix, within the write timeout.
    async fn write_framed(&mut self, message: &[u8]) -> Result<(), NetError> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(NetError::from("the TCP connection is closing"));
        }
        // The 2-byte length and the message in one write (RFC 7766 §8: "DNS clients and
        // servers SHOULD pass the two-octet length field, and the message described by that
        // length field, to the TCP layer at the same time").
        let length = u16::try_from(message.len())
            .map_err(|_| NetError::from("a response longer than 65535 bytes"))?;
        let mut framed = Vec::with_capacity(message.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(message);
        let mut writer = self.writer.lock().await;
        let written = tokio::time::timeout(self.write_timeout, async {
            writer.write_all(&framed).await?;
            writer.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                self.broken.store(true, Ordering::Relaxed);
                Err(NetError::from(error))
            }
            Err(_) => {
                self.broken.store(true, Ordering::Relaxed);
                Err(NetError::from(format!(
                    "the client read nothing for {:?}: closing",
                    self.write_timeout
                )))
            }
        }
    }
}

/// `response` encoded for TCP (at most 65535 bytes), as hickory's `ResponseHandle` does.
fn encode<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> Result<(ResponseInfo, Vec<u8>), NetError> {
    let mut metadata = *response.metadata();
    let mut message = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut message);
    encoder.set_max_size(u16::MAX);
    let error = match response.destructive_emit(&mut encoder) {
        Ok(info) => return Ok((info, message)),
        Err(error) => error,
    };
    debug!(%error, id = metadata.id, "cannot encode a response: SERVFAIL");
    // A bare SERVFAIL header, as hickory answers then.
    metadata.response_code = ResponseCode::ServFail;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    message.clear();
    let mut encoder = BinEncoder::new(&mut message);
    header
        .emit(&mut encoder)
        .map_err(|e| NetError::from(format!("encoding a SERVFAIL header: {e}")))?;
    Ok((ResponseInfo::from(header), message))
}

#[cfg(test)]
mod tests;
