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
//! timer, so short of forking it we read and write the socket here and hand every request,
//! query or transfer alike, to the same [`RequestHandler`] that hickory drives for UDP.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, MessageType, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tracing::{debug, trace};

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

/// Accepts connections on `listener` and serves each with `handler` until the task is aborted
/// (which aborts every connection it started).
pub async fn serve_listener<H: RequestHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    timeouts: TcpTimeouts,
) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, src)) => {
                trace!(%src, "accepted TCP connection");
                // Each message goes out in one write; no reason to hold it for Nagle.
                if let Err(error) = stream.set_nodelay(true) {
                    debug!(%src, %error, "cannot set TCP_NODELAY");
                }
                connections.spawn(serve_connection(stream, src, handler.clone(), timeouts));
            }
            Err(error) => {
                debug!(%error, "TCP accept failed");
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
    H: RequestHandler,
{
    let (mut reader, writer) = tokio::io::split(stream);
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
        handle_message(&*handler, message, src, responder.clone()).await;
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
async fn handle_message<H: RequestHandler, W: AsyncWrite + Send + 'static>(
    handler: &H,
    message: Vec<u8>,
    src: SocketAddr,
    mut responder: TcpResponder<W>,
) {
    let Ok(header) = Header::read(&mut BinDecoder::new(&message)) else {
        trace!(%src, "TCP message shorter than a header: dropped");
        return;
    };
    if header.metadata.message_type == MessageType::Response {
        trace!(%src, "TCP message is a response: dropped");
        return;
    }
    match Request::from_bytes(message, src, Protocol::Tcp) {
        Ok(request) => {
            handler
                .handle_request::<_, TokioTime>(&request, responder)
                .await;
        }
        Err(error) => {
            debug!(%src, %error, "undecodable request: FORMERR");
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
        if self.broken.load(Ordering::Relaxed) {
            return Err(NetError::from("the TCP connection is closing"));
        }
        let (info, message) = encode(response)?;
        // The 2-byte length and the message in one write (RFC 7766 §8: "DNS clients and
        // servers SHOULD pass the two-octet length field, and the message described by that
        // length field, to the TCP layer at the same time").
        let length = u16::try_from(message.len())
            .map_err(|_| NetError::from("a response longer than 65535 bytes"))?;
        let mut framed = Vec::with_capacity(message.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(&message);
        let mut writer = self.writer.lock().await;
        let written = tokio::time::timeout(self.write_timeout, async {
            writer.write_all(&framed).await?;
            writer.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(info),
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
