//! Polling the parent zone's name servers for the zone's DS records, so that a KSK or CSK
//! rollover goes on by itself once the registrar has published the new DS (RFC 7344 §4: the
//! child cannot know when the parent acted; it looks).
//!
//! For each zone with `parent-servers`, while the lifecycle awaits a DS, the manager asks every
//! server for `ZONE DS` through the one DNS client ([`Client`]: no recursion wanted; UDP,
//! again over TCP when truncated; a bounded timeout) and calls `ds_seen` for a key once EVERY server's answer holds a DS matching it:
//! the same key tag and algorithm, and the digest the key gives under the DS's digest type
//! (RFC 4034 §5.1.4).

use std::net::SocketAddr;
use std::time::Duration;

use daned_sign::hickory_proto::dnssec::PublicKey;
use daned_sign::hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use daned_sign::hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::keys::ds_for;

use crate::secondaries::client::{Client, ClientError};

/// How long one query may take (UDP and the TCP retry together).
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What to look for at the parent for one zone.
#[derive(Clone, Debug)]
pub(crate) struct ParentPoll {
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
pub(crate) enum ParentError {
    /// No answer to the query (see [`ClientError`]).
    #[error("{server}: {source}")]
    Exchange {
        /// The server.
        server: SocketAddr,
        /// What went wrong.
        source: ClientError,
    },
    /// The answer has an error code.
    #[error("{server}: answered {rcode}")]
    Rcode {
        /// The server.
        server: SocketAddr,
        /// The response code.
        rcode: ResponseCode,
    },
}

/// Whether `ds` is the DS of `dnskey` at `origin`: same tag, same algorithm, and the digest of
/// the key under the DS's digest type equals the DS's (RFC 4034 §5.1.4). A digest type daned
/// cannot compute never matches.
pub(crate) fn ds_matches(origin: &Name, dnskey: &DNSKEY, tag: u16, ds: &DS) -> bool {
    if ds.key_tag() != tag || ds.algorithm() != dnskey.public_key().algorithm() {
        return false;
    }
    ds_for(origin, dnskey, ds.digest_type()).is_ok_and(|mine| mine.digest() == ds.digest())
}

/// The tags of `poll.awaited` whose DS every server in `poll.servers` serves now, while none
/// serves a DS of `poll.superseded`. A server that does not answer holds up every key
/// (logged); no servers means nothing is seen.
pub(crate) async fn poll(poll: &ParentPoll, client: &Client) -> Vec<u16> {
    if poll.servers.is_empty() {
        return Vec::new();
    }
    let mut seen: Vec<u16> = poll.awaited.iter().map(|(tag, _)| *tag).collect();
    for &server in &poll.servers {
        match query_ds(client, server, &poll.origin).await {
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

/// Asks `server` for `origin`'s DS RRset through `client` (over UDP, then over TCP if the
/// answer is truncated).
///
/// # Errors
///
/// See [`ParentError`].
pub(crate) async fn query_ds(
    client: &Client,
    server: SocketAddr,
    origin: &Name,
) -> Result<Vec<DS>, ParentError> {
    let mut message = Message::new(0, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = false;
    message.add_query(Query::query(origin.clone(), RecordType::DS));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    message.set_edns(edns);
    let answer = client
        .exchange(server, &message, None)
        .await
        .map_err(|source| ParentError::Exchange { server, source })?;
    let rcode = answer.metadata.response_code;
    if rcode != ResponseCode::NoError {
        return Err(ParentError::Rcode { server, rcode });
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use daned_sign::hickory_proto::dnssec::DigestType;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::clock::SystemClock;
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
        let (udp, addr, tcp) = crate::secondaries::client::tests::loopback_pair().await;
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
        let client = Client::new(Arc::new(SystemClock), QUERY_TIMEOUT);
        let mut p = ParentPoll {
            origin: origin(),
            servers: vec![both, both_tcp],
            awaited,
            superseded: vec![],
        };
        assert_eq!(poll(&p, &client).await, vec![new.key_tag()]);
        p.servers.push(only_old);
        assert!(
            poll(&p, &client).await.is_empty(),
            "one server lacks the DS"
        );
        p.servers = vec![];
        assert!(poll(&p, &client).await.is_empty());
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
        let client = Client::new(Arc::new(SystemClock), QUERY_TIMEOUT);
        let mut p = ParentPoll {
            origin: origin(),
            servers: vec![swapped, both],
            awaited: vec![(new.key_tag(), new.dnskey().clone())],
            superseded: vec![(old.key_tag(), old.dnskey().clone())],
        };
        assert!(
            poll(&p, &client).await.is_empty(),
            "one server still has the old DS"
        );
        p.servers = vec![swapped];
        assert_eq!(poll(&p, &client).await, vec![new.key_tag()]);
    }
}
