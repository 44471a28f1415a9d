//! NOTIFY (RFC 1996) to the secondaries on every new serial.
//!
//! The manager publishes each new [`Catalog`] into a `watch` channel; [`run`] (its own task,
//! off the query path) compares serials with what it last notified and, for every zone whose
//! serial changed, sends NOTIFY to each of the zone's secondaries over UDP: opcode NOTIFY, AA,
//! the SOA question and the new SOA in the answer section, TSIG-signed when the secondary has a
//! key. Each one is retried with exponential backoff until a matching NOERROR response comes;
//! one still unanswered after the last try is logged at warn. A newer serial supersedes the
//! retries still pending for the older one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::events::manager::Command;
use crate::secondaries::propagation::{ReportKind, SecondaryReport};
use crate::serve::query::Catalog;
use crate::serve::tsig::{self, KeyRing, TsigKey};

/// When NOTIFYs are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait for an answer to the first try; doubled after each unanswered try.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// How many tries in all.
    pub tries: u32,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s, ... capped at 60 s, 8 tries (about 3 minutes). RFC 1996 §3.6 suggests a
    /// retry interval "on the order of 60 seconds" for a slave's NOTIFY, and five tries.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
            tries: 8,
        }
    }
}

/// One secondary to notify.
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

/// Runs until `catalogs` closes: NOTIFY for the serial of every zone at start and on every
/// change after. The outcome of each round goes to `reports` (the manager), when given.
pub async fn run(
    mut catalogs: watch::Receiver<Arc<Catalog>>,
    targets: HashMap<Name, Vec<Target>>,
    backoff: Backoff,
    reports: Option<mpsc::Sender<Command>>,
) {
    let mut notified: HashMap<Name, u32> = HashMap::new();
    let mut pending: HashMap<Name, Vec<JoinHandle<bool>>> = HashMap::new();
    loop {
        let catalog = Arc::clone(&catalogs.borrow_and_update());
        for zone in catalog.zones() {
            let Some(zone_targets) = targets.get(zone.origin()) else {
                continue;
            };
            let serial = zone.serial();
            if notified.get(zone.origin()) == Some(&serial) {
                continue;
            }
            let Some(soa) = zone.soa().and_then(|s| s.rrset.records().first()).cloned() else {
                continue;
            };
            notified.insert(zone.origin().clone(), serial);
            // A newer serial supersedes the retries for the older one.
            for task in pending.remove(zone.origin()).unwrap_or_default() {
                task.abort();
            }
            let tasks = zone_targets
                .iter()
                .map(|target| {
                    let (zone, soa, target) = (zone.origin().clone(), soa.clone(), target.clone());
                    let reports = reports.clone();
                    tokio::spawn(async move {
                        let secondary = target.address;
                        let acknowledged = notify_one(zone.clone(), soa, target, backoff).await;
                        if let Some(reports) = reports {
                            let kind = ReportKind::Notify {
                                serial,
                                acknowledged,
                            };
                            let report = SecondaryReport {
                                zone,
                                secondary,
                                kind,
                            };
                            // The manager gone means daned is stopping.
                            let _ = reports.send(Command::Secondary(report)).await;
                        }
                        acknowledged
                    })
                })
                .collect();
            pending.insert(zone.origin().clone(), tasks);
        }
        if catalogs.changed().await.is_err() {
            break;
        }
    }
    for task in pending.into_values().flatten() {
        task.abort();
    }
}

/// Sends NOTIFY for `soa` to `target` until it answers NOERROR or the tries run out.
pub async fn notify_one(zone: Name, soa: Record, target: Target, backoff: Backoff) -> bool {
    let serial = match soa.data {
        hickory_proto::rr::RData::SOA(ref soa) => soa.serial,
        _ => 0,
    };
    let bind: SocketAddr = if target.address.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(socket) => socket,
        Err(error) => {
            warn!(%zone, serial, secondary = %target.address, %error, "NOTIFY: cannot bind a UDP socket");
            return false;
        }
    };
    let mut wait = backoff.first;
    for attempt in 1..=backoff.tries {
        let id = random_id();
        match request(&zone, &soa, id, target.key.as_deref()) {
            Some((bytes, mac)) => {
                if let Err(error) = socket.send_to(&bytes, target.address).await {
                    debug!(%zone, serial, secondary = %target.address, attempt, %error, "NOTIFY send failed");
                } else if let Ok(Some(rcode)) =
                    tokio::time::timeout(wait, await_response(&socket, &target, id, mac.as_deref()))
                        .await
                {
                    if rcode == ResponseCode::NoError {
                        info!(%zone, serial, secondary = %target.address, attempt, "NOTIFY acknowledged");
                        return true;
                    }
                    debug!(%zone, serial, secondary = %target.address, attempt, %rcode, "NOTIFY answered with an error");
                    // Wait out the interval before retrying an error answer.
                    tokio::time::sleep(wait).await;
                }
            }
            None => {
                warn!(%zone, serial, "NOTIFY: the message cannot be encoded");
                return false;
            }
        }
        wait = (wait * 2).min(backoff.max);
    }
    warn!(
        %zone,
        serial,
        secondary = %target.address,
        tries = backoff.tries,
        "NOTIFY unanswered: the secondary will only see the new serial at its next refresh"
    );
    false
}

/// The response code of the first datagram from the secondary that answers our NOTIFY `id`
/// (signed by the key when we signed); `None` if the socket fails.
async fn await_response(
    socket: &UdpSocket,
    target: &Target,
    id: u16,
    request_mac: Option<&[u8]>,
) -> Option<ResponseCode> {
    let mut buf = vec![0; 4096];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await.ok()?;
        if from != target.address {
            continue;
        }
        let raw = &buf[..len];
        let Ok(message) = Message::from_vec(raw) else {
            continue;
        };
        let m = &message.metadata;
        if m.id != id || m.message_type != MessageType::Response || m.op_code != OpCode::Notify {
            continue;
        }
        if let (Some(key), Some(mac)) = (&target.key, request_mac)
            && m.response_code == ResponseCode::NoError
            && !tsig::verify_response(raw, key, mac, unix_now())
        {
            debug!(secondary = %target.address, "NOTIFY response without a valid TSIG: ignored");
            continue;
        }
        return Some(m.response_code);
    }
}

/// The NOTIFY message for `soa` (RFC 1996 §3.7: "QDCOUNT=1, QTYPE=SOA ... the Answer section
/// MAY contain the new SOA"), signed with `key`; with the request MAC when signed.
pub fn request(
    zone: &Name,
    soa: &Record,
    id: u16,
    key: Option<&TsigKey>,
) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Notify);
    message.metadata.authoritative = true;
    let mut query = Query::query(zone.clone(), RecordType::SOA);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    message.add_answer(soa.clone());
    let bytes = message.to_vec().ok()?;
    match key {
        None => Some((bytes, None)),
        Some(key) => {
            let (tsig, mac) = tsig::sign_request(&bytes, key, unix_now())?;
            Some((tsig::append(&bytes, &tsig)?, Some(mac)))
        }
    }
}

/// A random DNS message ID.
pub(crate) fn random_id() -> u16 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0; 2];
    // A failed fill leaves zeros: an ID of 0 still works, it is only guessable.
    let _ = SystemRandom::new().fill(&mut bytes);
    u16::from_be_bytes(bytes)
}

/// Seconds since the Unix epoch (TSIG's Time Signed); 0 if the clock is before 1970.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
