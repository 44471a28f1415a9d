//! Polling the parent zone's name servers for the zone's DS records, so that a KSK or CSK
//! rollover goes on by itself once the registrar has published the new DS (RFC 7344 §4: the
//! child cannot know when the parent acted; it looks).
//!
//! For each zone with `parent-servers`, while the lifecycle awaits a DS, the manager asks every
//! server for `ZONE DS` (no recursion wanted; UDP, again over TCP when truncated; a bounded
//! timeout) and calls `ds_seen` for a key once EVERY server's answer holds a DS matching it:
//! the same key tag and algorithm, and the digest the key gives under the DS's digest type
//! (RFC 4034 §5.1.4).

use std::net::SocketAddr;
use std::time::Duration;

use daned_sign::hickory_proto::dnssec::PublicKey;
use daned_sign::hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use daned_sign::hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::keys::ds_for;
use ring::rand::SecureRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one query (UDP, or the TCP retry) may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What to look for at the parent for one zone.
#[derive(Clone, Debug)]
pub struct ParentPoll {
    /// The zone (the DS owner).
    pub origin: Name,
    /// The parent's servers, each asked.
    pub servers: Vec<SocketAddr>,
    /// The keys whose DS is awaited, by tag.
    pub awaited: Vec<(u16, DNSKEY)>,
    /// Keys whose DS must be gone from every server before any awaited one counts as seen (the
    /// old algorithm's keys in an algorithm roll, RFC 6781 §4.1.4).
    pub superseded: Vec<(u16, DNSKEY)>,
}

/// Why a parent server gave no usable answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParentError {
    /// Sending or receiving failed.
    #[error("{server}: {source}")]
    Io {
        /// The server.
        server: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No answer within [`QUERY_TIMEOUT`].
    #[error("{server}: no answer within {timeout:?}")]
    Timeout {
        /// The server.
        server: SocketAddr,
        /// The timeout.
        timeout: Duration,
    },
    /// The answer was not a valid response to the query, or an error code.
    #[error("{server}: {reason}")]
    BadAnswer {
        /// The server.
        server: SocketAddr,
        /// What was wrong.
        reason: String,
    },
}

/// Whether `ds` is the DS of `dnskey` at `origin`: same tag, same algorithm, and the digest of
/// the key under the DS's digest type equals the DS's (RFC 4034 §5.1.4). A digest type daned
/// cannot compute never matches.
pub fn ds_matches(origin: &Name, dnskey: &DNSKEY, tag: u16, ds: &DS) -> bool {
    if ds.key_tag() != tag || ds.algorithm() != dnskey.public_key().algorithm() {
        return false;
    }
    ds_for(origin, dnskey, ds.digest_type()).is_ok_and(|mine| mine.digest() == ds.digest())
}

/// The tags of `poll.awaited` whose DS every server in `poll.servers` serves now, while none
/// serves a DS of `poll.superseded`. A server that does not answer holds up every key
/// (logged); no servers means nothing is seen.
pub async fn poll(poll: &ParentPoll, rng: &(dyn SecureRandom + Sync)) -> Vec<u16> {
    if poll.servers.is_empty() {
        return Vec::new();
    }
    let mut seen: Vec<u16> = poll.awaited.iter().map(|(tag, _)| *tag).collect();
    for &server in &poll.servers {
        match query_ds(server, &poll.origin, rng).await {
            Ok(ds_set) => {
                let stale = poll.superseded.iter().find(|(tag, key)| {
                    ds_set
                        .iter()
                        .any(|ds| ds_matches(&poll.origin, key, *tag, ds))
                });
                if let Some((tag, _)) = stale {
                    tracing::debug!(zone = %poll.origin, %server, superseded = tag, "parent still serves the superseded DS");
                    return Vec::new();
                }
                seen.retain(|tag| {
                    poll.awaited
                        .iter()
                        .filter(|(t, _)| t == tag)
                        .any(|(_, key)| {
                            ds_set
                                .iter()
                                .any(|ds| ds_matches(&poll.origin, key, *tag, ds))
                        })
                });
                tracing::debug!(zone = %poll.origin, %server, ds = ds_set.len(), matching = ?seen, "parent DS polled");
            }
            Err(error) => {
                tracing::warn!(zone = %poll.origin, %error, "parent DS poll failed");
                return Vec::new();
            }
        }
    }
    seen
}

/// Asks `server` for `origin`'s DS RRset: over UDP, then over TCP if the answer is truncated.
///
/// # Errors
///
/// See [`ParentError`].
pub async fn query_ds(
    server: SocketAddr,
    origin: &Name,
    rng: &(dyn SecureRandom + Sync),
) -> Result<Vec<DS>, ParentError> {
    let mut id = [0u8; 2];
    // A failing system RNG leaves id 0: the answer is still matched by id and question.
    let _ = rng.fill(&mut id);
    let id = u16::from_be_bytes(id);
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = false;
    message.add_query(Query::query(origin.clone(), RecordType::DS));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    message.set_edns(edns);
    let wire = message.to_vec().map_err(|e| ParentError::BadAnswer {
        server,
        reason: format!("cannot encode the query: {e}"),
    })?;
    let answer = timed(server, udp_exchange(server, &wire)).await?;
    let answer = check_answer(server, id, origin, &answer)?;
    let answer = if answer.metadata.truncation {
        let raw = timed(server, tcp_exchange(server, &wire)).await?;
        check_answer(server, id, origin, &raw)?
    } else {
        answer
    };
    Ok(answer
        .answers
        .iter()
        .filter(|r| r.name == *origin)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
            _ => None,
        })
        .collect())
}

async fn timed(
    server: SocketAddr,
    exchange: impl std::future::Future<Output = Result<Vec<u8>, ParentError>>,
) -> Result<Vec<u8>, ParentError> {
    tokio::time::timeout(QUERY_TIMEOUT, exchange)
        .await
        .map_err(|_| ParentError::Timeout {
            server,
            timeout: QUERY_TIMEOUT,
        })?
}

async fn udp_exchange(server: SocketAddr, wire: &[u8]) -> Result<Vec<u8>, ParentError> {
    let io = |source| ParentError::Io { server, source };
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(server).await.map_err(io)?;
    socket.send(wire).await.map_err(io)?;
    let mut buf = vec![0u8; 65_535];
    let n = socket.recv(&mut buf).await.map_err(io)?;
    buf.truncate(n);
    Ok(buf)
}

async fn tcp_exchange(server: SocketAddr, wire: &[u8]) -> Result<Vec<u8>, ParentError> {
    let io = |source| ParentError::Io { server, source };
    let mut stream = TcpStream::connect(server).await.map_err(io)?;
    // A DNS message is at most 65535 bytes: the query is a few dozen.
    let len = u16::try_from(wire.len()).unwrap_or(u16::MAX);
    stream.write_all(&len.to_be_bytes()).await.map_err(io)?;
    stream.write_all(wire).await.map_err(io)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(io)?;
    Ok(buf)
}

/// The answer, if it is a response to our query (same id and question) without an error code.
fn check_answer(
    server: SocketAddr,
    id: u16,
    origin: &Name,
    raw: &[u8],
) -> Result<Message, ParentError> {
    let bad = |reason: String| ParentError::BadAnswer { server, reason };
    let answer = Message::from_vec(raw).map_err(|e| bad(format!("undecodable answer: {e}")))?;
    if answer.metadata.id != id || answer.metadata.message_type != MessageType::Response {
        return Err(bad("the answer is not a response to our query".into()));
    }
    let asked = answer
        .queries
        .first()
        .is_some_and(|q| q.name() == origin && q.query_type() == RecordType::DS);
    if !asked {
        return Err(bad("the answer is for another question".into()));
    }
    if answer.metadata.response_code != ResponseCode::NoError {
        return Err(bad(format!("answered {}", answer.metadata.response_code)));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use daned_sign::hickory_proto::dnssec::DigestType;
    use daned_sign::hickory_proto::rr::Record;
    use daned_sign::keys::{KeyAlgorithm, KeyRole, SigningKey};
    use ring::rand::SystemRandom;

    fn key(role: KeyRole) -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = SigningKey::generate(KeyAlgorithm::EcdsaP256Sha256, &rng).unwrap();
        SigningKey::from_pkcs8(&pkcs8, role, &rng).unwrap()
    }

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    /// RFC 4034 §5.1.4: "digest = digest_algorithm( DNSKEY owner name | DNSKEY RDATA)": a DS
    /// matches the key it was made from under each digest type, and not another key, another
    /// owner, or a DS whose digest differs.
    #[test]
    fn rfc4034_s5_1_4_ds_matches_only_its_key() {
        let k = key(KeyRole::Csk);
        let other = key(KeyRole::Csk);
        for digest in [DigestType::SHA256, DigestType::SHA384] {
            let ds = k.ds(&origin(), digest).unwrap();
            assert!(ds_matches(&origin(), k.dnskey(), k.key_tag(), &ds));
            assert!(!ds_matches(&origin(), other.dnskey(), other.key_tag(), &ds));
            // The right tag but another key (a tag collision) does not match either.
            assert!(!ds_matches(&origin(), other.dnskey(), k.key_tag(), &ds));
            let elsewhere = Name::from_ascii("example.net.").unwrap();
            assert!(!ds_matches(&elsewhere, k.dnskey(), k.key_tag(), &ds));
        }
        let ds = k.ds(&origin(), DigestType::SHA256).unwrap();
        let mut digest = ds.digest().to_vec();
        digest[0] ^= 1;
        let forged = DS::new(ds.key_tag(), ds.algorithm(), ds.digest_type(), digest);
        assert!(!ds_matches(&origin(), k.dnskey(), k.key_tag(), &forged));
    }

    /// A tiny parent on loopback answering `DS` queries with `ds` (truncated over UDP when
    /// `truncate`, then whole over TCP).
    async fn parent(ds: Vec<DS>, truncate: bool) -> SocketAddr {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
        let answer = move |raw: &[u8], tc: bool| {
            let query = Message::from_vec(raw).unwrap();
            assert!(!query.metadata.recursion_desired, "no recursion asked");
            let mut response = Message::response(query.metadata.id, OpCode::Query);
            response.metadata.authoritative = true;
            response.metadata.truncation = tc;
            response.add_query(query.queries[0].clone());
            if !tc {
                for d in &ds {
                    response.answers.push(Record::from_rdata(
                        origin(),
                        60,
                        RData::DNSSEC(DNSSECRData::DS(d.clone())),
                    ));
                }
            }
            response.to_vec().unwrap()
        };
        let answer_tcp = answer.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                let _ = udp.send_to(&answer(&buf[..n], truncate), from).await;
            }
        });
        tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                let mut len = [0u8; 2];
                s.read_exact(&mut len).await.unwrap();
                let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                s.read_exact(&mut q).await.unwrap();
                let a = answer_tcp(&q, false);
                s.write_all(&(a.len() as u16).to_be_bytes()).await.unwrap();
                s.write_all(&a).await.unwrap();
            }
        });
        addr
    }

    /// RFC 7344 §4: the child learns that the parent acted only by looking. A key is seen only
    /// when every parent server serves its DS (over TCP after a truncated UDP answer too).
    #[tokio::test]
    async fn rfc7344_s4_ds_seen_only_when_every_parent_server_has_it() {
        let old = key(KeyRole::Csk);
        let new = key(KeyRole::Csk);
        let ds_old = old.ds(&origin(), DigestType::SHA256).unwrap();
        let ds_new = new.ds(&origin(), DigestType::SHA256).unwrap();
        let both = parent(vec![ds_old.clone(), ds_new.clone()], false).await;
        let both_tcp = parent(vec![ds_old.clone(), ds_new], true).await;
        let only_old = parent(vec![ds_old], false).await;
        let awaited = vec![(new.key_tag(), new.dnskey().clone())];
        let rng = SystemRandom::new();
        let mut p = ParentPoll {
            origin: origin(),
            servers: vec![both, both_tcp],
            awaited,
            superseded: vec![],
        };
        assert_eq!(poll(&p, &rng).await, vec![new.key_tag()]);
        p.servers.push(only_old);
        assert!(poll(&p, &rng).await.is_empty(), "one server lacks the DS");
        p.servers = vec![];
        assert!(poll(&p, &rng).await.is_empty());
    }

    /// RFC 6781 §4.1.4: in an algorithm roll the parent's DS changes from the old algorithm's
    /// key to the new one; the new DS counts only once the old one is gone from every server.
    #[tokio::test]
    async fn rfc6781_s4_1_4_algorithm_roll_ds_seen_only_after_the_swap() {
        let old = key(KeyRole::Csk);
        let rng = SystemRandom::new();
        let pkcs8 = SigningKey::generate(KeyAlgorithm::Ed25519, &rng).unwrap();
        let new = SigningKey::from_pkcs8(&pkcs8, KeyRole::Csk, &rng).unwrap();
        let ds_old = old.ds(&origin(), DigestType::SHA256).unwrap();
        let ds_new = new.ds(&origin(), DigestType::SHA256).unwrap();
        let both = parent(vec![ds_old, ds_new.clone()], false).await;
        let swapped = parent(vec![ds_new], false).await;
        let mut p = ParentPoll {
            origin: origin(),
            servers: vec![swapped, both],
            awaited: vec![(new.key_tag(), new.dnskey().clone())],
            superseded: vec![(old.key_tag(), old.dnskey().clone())],
        };
        assert!(
            poll(&p, &rng).await.is_empty(),
            "one server still has the old DS"
        );
        p.servers = vec![swapped];
        assert_eq!(poll(&p, &rng).await, vec![new.key_tag()]);
    }
}
