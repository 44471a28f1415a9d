//! DNS over UDP with our own receive loop, so that every datagram is screened
//! ([`super::screen`]) before hickory parses it, and so that nothing hickory logs per packet can
//! be triggered by a client. Each request is answered by the same [`RequestHandler`] as over
//! TCP, in a task of its own; at most [`MAX_IN_FLIGHT`] are answered at once per socket (the
//! next datagrams wait in the socket's buffer, and the kernel drops what does not fit).

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Header, HeaderCounts, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use super::screen::{Screened, form_err_response, screen};
use crate::serve::ratelog::{LOG_INTERVAL, RateLimitedLog};

/// Requests answered at once per socket.
pub const MAX_IN_FLIGHT: usize = 1024;
/// The largest datagram read: a request bigger than this is cut and then fails the checks.
const MAX_DATAGRAM: usize = 65_535;

/// Receives on `socket` and answers with `handler` until the task is aborted.
pub async fn serve_socket<H: RequestHandler>(socket: UdpSocket, handler: Arc<H>) {
    let socket = Arc::new(socket);
    let mut tasks = JoinSet::new();
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, src) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                static RECV: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
                if let Some(suppressed) = RECV.admit() {
                    tracing::warn!(%error, suppressed, "UDP receive failed");
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        // Port 0 cannot be answered (hickory's `sanitize_src_address`).
        if src.port() == 0 || src.ip().is_unspecified() {
            continue;
        }
        let mut message = buffer[..len].to_vec();
        match screen(&mut message, src) {
            Screened::Pass => {}
            Screened::Drop => continue,
            Screened::FormErr(response, _) => {
                // No larger than the request: nothing to amplify.
                let _ = socket.send_to(&response, src).await;
                continue;
            }
        }
        while tasks.len() >= MAX_IN_FLIGHT {
            let _ = tasks.join_next().await;
        }
        let responder = UdpResponder {
            socket: socket.clone(),
            dst: src,
        };
        let handler = handler.clone();
        tasks.spawn(async move {
            answer(&*handler, message, src, responder).await;
        });
        while tasks.try_join_next().is_some() {}
    }
}

async fn answer<H: RequestHandler>(
    handler: &H,
    message: Vec<u8>,
    src: SocketAddr,
    responder: UdpResponder,
) {
    let header = message.get(..12).map(form_err_response);
    match Request::from_bytes(message, src, Protocol::Udp) {
        Ok(request) => {
            handler
                .handle_request::<_, TokioTime>(&request, responder)
                .await;
        }
        Err(error) => {
            // The screen passed it, so hickory found something subtler (a name pointing
            // nowhere, an RDATA it cannot read): FORMERR with the bare header.
            static UNDECODABLE: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
            if let Some(suppressed) = UNDECODABLE.admit() {
                tracing::info!(%src, %error, suppressed, "undecodable UDP request: FORMERR");
            }
            if let Some(response) = header {
                let _ = responder.socket.send_to(&response, src).await;
            }
        }
    }
}

/// Sends each response to the client in one datagram.
#[derive(Clone)]
struct UdpResponder {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
}

#[async_trait::async_trait]
impl ResponseHandler for UdpResponder {
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
        self.socket
            .send_to(&message, self.dst)
            .await
            .map_err(NetError::from)?;
        Ok(info)
    }
}

/// `response` encoded for UDP: within the response OPT's payload size (the handler has sized
/// the response for the client already), or 512 bytes without EDNS (RFC 1035 §4.2.1).
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
    let max = response.edns().map_or(512, |edns| edns.max_payload());
    let mut message = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut message);
    encoder.set_max_size(max);
    let error = match response.destructive_emit(&mut encoder) {
        Ok(info) => return Ok((info, message)),
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
    let mut encoder = BinEncoder::new(&mut message);
    header
        .emit(&mut encoder)
        .map_err(|e| NetError::from(format!("encoding a SERVFAIL header: {e}")))?;
    Ok((ResponseInfo::from(header), message))
}
