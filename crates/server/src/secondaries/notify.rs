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
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::clock::Clock;
pub(crate) use crate::secondaries::client::Target;
use crate::secondaries::client::{Client, ClientError};
use crate::secondaries::report::{ReportKind, SecondaryReport};
use crate::serve::query::Catalog;

/// When NOTIFYs are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
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

/// Runs until `catalogs` closes: NOTIFY for the serial of every zone at start and on every
/// change after. The outcome of each round goes to `reports` (the manager), when given.
pub(crate) async fn run(
    mut catalogs: watch::Receiver<Arc<Catalog>>,
    targets: HashMap<Name, Vec<Target>>,
    backoff: Backoff,
    reports: Option<mpsc::Sender<SecondaryReport>>,
    clock: Arc<dyn Clock>,
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
                    let (reports, clock) = (reports.clone(), Arc::clone(&clock));
                    tokio::spawn(async move {
                        let secondary = target.address;
                        let acknowledged =
                            notify_one(zone.clone(), soa, target, backoff, clock).await;
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
                            let _ = reports.send(report).await;
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

/// Sends NOTIFY for `soa` to `target` until it answers NOERROR or the tries run out; `clock`
/// gives the TSIG time signed.
pub(crate) async fn notify_one(
    zone: Name,
    soa: Record,
    target: Target,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
) -> bool {
    let serial = match soa.data {
        hickory_proto::rr::RData::SOA(ref soa) => soa.serial,
        _ => 0,
    };
    let secondary: SocketAddr = target.address;
    let request = message(&zone, &soa);
    let mut wait = backoff.first;
    for attempt in 1..=backoff.tries {
        let client = Client::new(Arc::clone(&clock), wait);
        match client
            .exchange(secondary, &request, target.key.as_ref())
            .await
        {
            Ok(response) if response.metadata.response_code == ResponseCode::NoError => {
                info!(%zone, serial, %secondary, attempt, "NOTIFY acknowledged");
                return true;
            }
            Ok(response) => {
                let rcode = response.metadata.response_code;
                debug!(%zone, serial, %secondary, attempt, %rcode, "NOTIFY answered with an error");
                // Wait out the interval before retrying an error answer.
                tokio::time::sleep(wait).await;
            }
            Err(error @ (ClientError::Encode { .. } | ClientError::Sign { .. })) => {
                warn!(%zone, serial, %error, "NOTIFY: the message cannot be encoded");
                return false;
            }
            Err(ClientError::Bind { source }) => {
                warn!(%zone, serial, %secondary, error = %source, "NOTIFY: cannot bind a UDP socket");
                return false;
            }
            Err(error @ ClientError::Timeout { .. }) => {
                debug!(%zone, serial, %secondary, attempt, %error, "NOTIFY unanswered");
            }
            Err(error @ (ClientError::Send { .. } | ClientError::Receive { .. })) => {
                debug!(%zone, serial, %secondary, attempt, %error, "NOTIFY send failed");
            }
            Err(error) => {
                // A response without a valid TSIG is no acknowledgement: wait out the interval.
                debug!(%zone, serial, %secondary, attempt, %error, "NOTIFY response unusable");
                tokio::time::sleep(wait).await;
            }
        }
        wait = (wait * 2).min(backoff.max);
    }
    warn!(
        %zone,
        serial,
        %secondary,
        tries = backoff.tries,
        "NOTIFY unanswered: the secondary will only see the new serial at its next refresh"
    );
    false
}

/// The NOTIFY message for `soa` (RFC 1996 §3.7: "QDCOUNT=1, QTYPE=SOA ... the Answer section
/// MAY contain the new SOA"); the client gives it its ID and signature.
pub(crate) fn message(zone: &Name, soa: &Record) -> Message {
    let mut message = Message::new(0, MessageType::Query, OpCode::Notify);
    message.metadata.authoritative = true;
    let mut query = Query::query(zone.clone(), RecordType::SOA);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    message.add_answer(soa.clone());
    message
}

#[cfg(test)]
mod tests;
