//! One DNS exchange with another name server, shared by NOTIFY ([`super::notify`]), the SOA
//! polls of the secondaries ([`super::propagation`]) and the DS polls of the parent
//! ([`super::parent`]).
//!
//! [`Client::exchange`] sends a query over UDP from a fresh socket with a random ID, takes the
//! first datagram from the server whose ID, opcode and question match (others are discarded,
//! RFC 5452 §9.1), asks again over TCP when that answer is truncated (RFC 7766 §5), and
//! verifies the answer's TSIG when the query was signed (RFC 8945 §5.3). The whole exchange,
//! UDP and TCP together, is bounded by one timeout. The response code is the caller's to judge.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::ProtoError;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::DecodeError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::clock::Clock;
use crate::config::Config;
use crate::serve::tsig::{self, KeyRing, TsigKey};

/// One secondary: where NOTIFY and SOA polls go, and the key to sign them with.
#[derive(Clone, Debug)]
pub struct Target {
    /// Where NOTIFY goes.
    pub address: SocketAddr,
    /// The key to sign with, if any.
    pub key: Option<Arc<TsigKey>>,
}

/// The secondaries of every zone, from the config (keys resolved).
pub fn targets(config: &Config) -> HashMap<Name, Vec<Target>> {
    let keys = KeyRing::new(&config.tsig_keys);
    config
        .zones
        .iter()
        .filter(|zone| !zone.secondaries.is_empty())
        .map(|zone| {
            let targets = zone
                .secondaries
                .iter()
                .map(|s| Target {
                    address: s.address,
                    key: s.tsig_key.as_ref().and_then(|k| keys.get(k)).cloned(),
                })
                .collect();
            (zone.origin.clone(), targets)
        })
        .collect()
}

/// Why an exchange gave no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The query cannot be encoded.
    #[error("cannot encode the query: {source}")]
    Encode {
        /// The encoder's error.
        source: ProtoError,
    },
    /// The query cannot be TSIG-signed.
    #[error("cannot sign the query with key {key}")]
    Sign {
        /// The key.
        key: Name,
    },
    /// The query is longer than a DNS message over TCP may be.
    #[error("the query is {len} bytes, more than 65535")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// No local UDP socket.
    #[error("cannot bind a UDP socket: {source}")]
    Bind {
        /// The I/O error.
        source: std::io::Error,
    },
    /// Sending over UDP failed.
    #[error("send: {source}")]
    Send {
        /// The I/O error.
        source: std::io::Error,
    },
    /// Receiving over UDP failed.
    #[error("receive: {source}")]
    Receive {
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TCP retry failed (connect, send or receive).
    #[error("TCP: {source}")]
    Tcp {
        /// The I/O error.
        source: std::io::Error,
    },
    /// The answer over TCP does not decode.
    #[error("malformed answer: {source}")]
    Malformed {
        /// The decoder's error.
        source: DecodeError,
    },
    /// The answer over TCP is not a response to the query (ID, opcode or question differ).
    #[error("the answer is not a response to our query")]
    Mismatch,
    /// The query was signed and the answer carries no valid TSIG by the same key.
    #[error("answer ({rcode}) without a valid TSIG by key {key}")]
    BadTsig {
        /// The answer's response code.
        rcode: ResponseCode,
        /// The key.
        key: Name,
    },
    /// No matching answer in time.
    #[error("no answer within {timeout:?}")]
    Timeout {
        /// The timeout.
        timeout: Duration,
    },
}

/// Sends queries and takes their answers; the clock gives TSIG its time signed.
#[derive(Clone)]
pub struct Client {
    clock: Arc<dyn Clock>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client whose exchanges take at most `timeout` each (UDP and TCP together).
    pub fn new(clock: Arc<dyn Clock>, timeout: Duration) -> Self {
        Self { clock, timeout }
    }

    /// Sends `query` (its ID replaced by a random one) to `server`, signed with `key` when
    /// given, and returns the answer. See the [module documentation](self).
    ///
    /// # Errors
    ///
    /// See [`ClientError`]. An answer with an error response code is an answer, not an error.
    pub async fn exchange(
        &self,
        server: SocketAddr,
        query: &Message,
        key: Option<&Arc<TsigKey>>,
    ) -> Result<Message, ClientError> {
        tokio::time::timeout(self.timeout, self.exchange_untimed(server, query, key))
            .await
            .map_err(|_| ClientError::Timeout {
                timeout: self.timeout,
            })?
    }

    async fn exchange_untimed(
        &self,
        server: SocketAddr,
        query: &Message,
        key: Option<&Arc<TsigKey>>,
    ) -> Result<Message, ClientError> {
        let mut query = query.clone();
        query.metadata.id = random_id();
        let unsigned = query
            .to_vec()
            .map_err(|source| ClientError::Encode { source })?;
        let (wire, mac) = match key {
            None => (unsigned, None),
            Some(key) => {
                let sign = || ClientError::Sign {
                    key: key.name().clone(),
                };
                let (tsig, mac) =
                    tsig::sign_request(&unsigned, key, self.clock.unix_time()).ok_or_else(sign)?;
                (tsig::append(&unsigned, &tsig).ok_or_else(sign)?, Some(mac))
            }
        };
        let (mut raw, mut answer) = udp_exchange(server, &query, &wire).await?;
        if answer.metadata.truncation {
            raw = tcp_exchange(server, &wire).await?;
            answer = Message::from_vec(&raw).map_err(|source| ClientError::Malformed { source })?;
            if !answers(&query, &answer) {
                return Err(ClientError::Mismatch);
            }
        }
        if let (Some(key), Some(mac)) = (key, mac)
            && !tsig::verify_response(&raw, key, &mac, self.clock.unix_time())
        {
            return Err(ClientError::BadTsig {
                rcode: answer.metadata.response_code,
                key: key.name().clone(),
            });
        }
        Ok(answer)
    }
}

/// Whether `answer` is a response to `query`: same ID and opcode, and the same question (RFC
/// 5452 §9.1; names compare case-insensitively).
fn answers(query: &Message, answer: &Message) -> bool {
    let (q, a) = (&query.metadata, &answer.metadata);
    a.id == q.id
        && a.message_type == MessageType::Response
        && a.op_code == q.op_code
        && answer.queries == query.queries
}

/// The first datagram from `server` that answers `query`, as bytes and decoded.
async fn udp_exchange(
    server: SocketAddr,
    query: &Message,
    wire: &[u8],
) -> Result<(Vec<u8>, Message), ClientError> {
    // A loopback server is asked from loopback (tests, a secondary on the same host).
    let local: SocketAddr = match server.ip() {
        ip if ip.is_loopback() => SocketAddr::new(ip, 0),
        std::net::IpAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        std::net::IpAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|source| ClientError::Bind { source })?;
    socket
        .send_to(wire, server)
        .await
        .map_err(|source| ClientError::Send { source })?;
    let mut buf = vec![0; 65_535];
    loop {
        let (len, from) = socket
            .recv_from(&mut buf)
            .await
            .map_err(|source| ClientError::Receive { source })?;
        if from != server {
            continue;
        }
        let Some(raw) = buf.get(..len) else {
            continue;
        };
        match Message::from_vec(raw) {
            Ok(answer) if answers(query, &answer) => return Ok((raw.to_vec(), answer)),
            Ok(_) => tracing::debug!(%server, "a datagram that does not answer our query: ignored"),
            Err(error) => tracing::debug!(%server, %error, "an undecodable datagram: ignored"),
        }
    }
}

/// The answer to `wire` over TCP (RFC 1035 §4.2.2: two length octets before each message).
async fn tcp_exchange(server: SocketAddr, wire: &[u8]) -> Result<Vec<u8>, ClientError> {
    let tcp = |source| ClientError::Tcp { source };
    let framed = framed(wire)?;
    let mut stream = TcpStream::connect(server).await.map_err(tcp)?;
    stream.write_all(&framed).await.map_err(tcp)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(tcp)?;
    let mut raw = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut raw).await.map_err(tcp)?;
    Ok(raw)
}

/// `wire` as sent over TCP: after two octets of its length (RFC 1035 §4.2.2).
pub(crate) fn framed(wire: &[u8]) -> Result<Vec<u8>, ClientError> {
    let len = u16::try_from(wire.len()).map_err(|_| ClientError::TooLong { len: wire.len() })?;
    let mut framed = Vec::with_capacity(2 + wire.len());
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);
    Ok(framed)
}

/// A random DNS message ID (RFC 5452 §9.2).
pub(crate) fn random_id() -> u16 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0; 2];
    // A failed fill leaves zeros: an ID of 0 still works, it is only guessable.
    let _ = SystemRandom::new().fill(&mut bytes);
    u16::from_be_bytes(bytes)
}

#[cfg(test)]
pub(crate) mod tests;
