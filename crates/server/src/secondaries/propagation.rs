//! Propagation awareness: which serial each secondary serves, and when every secondary serves
//! a serial we published (its `propagated_at`).
//!
//! Two halves:
//! - [`Tracker`] (pure, one per zone, owned by the manager, which hands the zone its
//!   [`Propagated`] facts): the serials published and
//!   when, what each secondary was last seen serving, when it first served each published
//!   serial (RFC 1982 comparison: serving a newer one counts), the last NOTIFY result and poll
//!   error. A zone without secondaries is propagated at publication.
//! - [`run`] (async, its own tasks): polls each secondary's SOA through the one DNS client
//!   ([`Client`]: UDP, TCP when the answer is truncated, TSIG-signed with the secondary's key
//!   when it has one and the answer's TSIG verified, with a bounded timeout). A new serial is polled after 1 s, then while the
//!   secondary lags with a backoff of 1 s, 2 s, 4 s ... capped at 60 s; once it is current,
//!   every `secondary-poll-interval`. Each answer goes to the manager as a
//!   [`SecondaryReport`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use daned_sign::serial::serial_gt;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::config::Config;
use crate::secondaries::client::{Client, Target};
pub use crate::secondaries::report::{ReportKind, SecondaryReport, SoaError};
use crate::serve::query::Catalog;
use crate::status::SecondaryStatus;
use crate::zone::Propagated;

/// How many publications (and first-served times per secondary) are remembered. Older serials
/// are answered from newer ones, which can only make a wait longer.
const KEEP: usize = 64;

/// `a` is `b` or after it (RFC 1982).
fn serial_ge(a: u32, b: u32) -> bool {
    a == b || serial_gt(a, b)
}

#[derive(Clone, Debug)]
struct Publication {
    serial: u32,
    at: u32,
    propagated_at: Option<u32>,
}

#[derive(Clone, Debug)]
struct Secondary {
    address: SocketAddr,
    serial: Option<u32>,
    seen_at: Option<u32>,
    /// When it first served each published serial (or a newer one), oldest first.
    first_served: VecDeque<(u32, u32)>,
    last_error: Option<String>,
    last_notify: Option<(u32, bool)>,
    notify_unanswered: u64,
    lag_warned: bool,
}

impl Secondary {
    fn serves(&self, serial: u32) -> bool {
        self.first_served.iter().any(|&(s, _)| s == serial)
            || self.serial.is_some_and(|s| serial_ge(s, serial))
    }
}

/// The propagation state of one zone. Pure: times are arguments.
#[derive(Clone, Debug)]
pub struct Tracker {
    publications: VecDeque<Publication>,
    secondaries: Vec<Secondary>,
    lag_warning: u32,
}

impl Tracker {
    /// A zone served at `serial` since `now`, with these secondaries; a secondary lagging more
    /// than `lag_warning` seconds is logged (warn) once, and again (info) when it catches up.
    pub fn new(secondaries: &[SocketAddr], serial: u32, now: u32, lag_warning: u32) -> Self {
        let mut tracker = Self {
            publications: VecDeque::new(),
            secondaries: secondaries
                .iter()
                .map(|&address| Secondary {
                    address,
                    serial: None,
                    seen_at: None,
                    first_served: VecDeque::new(),
                    last_error: None,
                    last_notify: None,
                    notify_unanswered: 0,
                    lag_warned: false,
                })
                .collect(),
            lag_warning,
        };
        tracker.published(serial, now);
        tracker
    }

    /// Follows a changed list of secondaries and lag warning (a configuration reload):
    /// secondaries still listed keep what is known about them, new ones start unknown (a serial
    /// not yet propagated then waits for them too), removed ones are forgotten. A serial that
    /// waited only for removed secondaries is propagated from `now` on when none are left, or
    /// from when the remaining ones served it.
    pub fn reconfigure(&mut self, secondaries: &[SocketAddr], lag_warning: u32, now: u32) {
        let mut old = std::mem::take(&mut self.secondaries);
        self.secondaries = secondaries
            .iter()
            .map(
                |&address| match old.iter().position(|s| s.address == address) {
                    Some(index) => old.swap_remove(index),
                    None => Secondary {
                        address,
                        serial: None,
                        seen_at: None,
                        first_served: VecDeque::new(),
                        last_error: None,
                        last_notify: None,
                        notify_unanswered: 0,
                        lag_warned: false,
                    },
                },
            )
            .collect();
        self.lag_warning = lag_warning;
        if self.secondaries.is_empty() {
            for publication in &mut self.publications {
                publication.propagated_at.get_or_insert(now);
            }
        } else {
            self.update_propagated();
        }
    }

    /// The zone is served at `serial` from `now` on.
    pub fn published(&mut self, serial: u32, now: u32) {
        if self.publications.back().is_some_and(|p| p.serial == serial) {
            return;
        }
        self.publications.push_back(Publication {
            serial,
            at: now,
            // Without secondaries, what daned serves is all that is served.
            propagated_at: self.secondaries.is_empty().then_some(now),
        });
        if self.publications.len() > KEEP {
            self.publications.pop_front();
        }
    }

    /// Records a report about a secondary at `now`; true when it made a published serial
    /// propagated (every secondary serves it or a newer one).
    pub fn report(
        &mut self,
        zone: &Name,
        secondary: SocketAddr,
        kind: &ReportKind,
        now: u32,
    ) -> bool {
        let lag_warning = self.lag_warning;
        let Some(index) = self.secondaries.iter().position(|s| s.address == secondary) else {
            return false;
        };
        match kind {
            ReportKind::Notify {
                serial,
                acknowledged,
            } => {
                let sec = &mut self.secondaries[index];
                sec.last_notify = Some((*serial, *acknowledged));
                sec.notify_unanswered += u64::from(!acknowledged);
                false
            }
            ReportKind::Soa(Err(error)) => {
                self.secondaries[index].last_error = Some(error.to_string());
                self.warn_lag(zone, index, now, lag_warning);
                false
            }
            ReportKind::Soa(Ok(served)) => {
                let sec = &mut self.secondaries[index];
                sec.serial = Some(*served);
                sec.seen_at = Some(now);
                sec.last_error = None;
                for publication in &self.publications {
                    if serial_ge(*served, publication.serial)
                        && !sec
                            .first_served
                            .iter()
                            .any(|&(s, _)| s == publication.serial)
                    {
                        sec.first_served.push_back((publication.serial, now));
                        if sec.first_served.len() > KEEP {
                            sec.first_served.pop_front();
                        }
                    }
                }
                self.warn_lag(zone, index, now, lag_warning);
                self.update_propagated()
            }
        }
    }

    fn warn_lag(&mut self, zone: &Name, index: usize, now: u32, lag_warning: u32) {
        let lag = self.lag(index, now);
        let Some(sec) = self.secondaries.get_mut(index) else {
            return;
        };
        if lag > lag_warning && !sec.lag_warned {
            sec.lag_warned = true;
            tracing::warn!(
                %zone,
                secondary = %sec.address,
                serial = ?sec.serial,
                lag,
                error = sec.last_error.as_deref().unwrap_or("-"),
                "secondary lags behind the published serial"
            );
        } else if lag == 0 && sec.lag_warned {
            sec.lag_warned = false;
            tracing::info!(%zone, secondary = %sec.address, serial = ?sec.serial, "secondary caught up");
        }
    }

    fn update_propagated(&mut self) -> bool {
        let mut changed = false;
        for publication in self
            .publications
            .iter_mut()
            .filter(|p| p.propagated_at.is_none())
        {
            let times: Option<Vec<u32>> = self
                .secondaries
                .iter()
                .map(|sec| {
                    sec.first_served
                        .iter()
                        .find(|&&(s, _)| s == publication.serial)
                        .map(|&(_, at)| at)
                })
                .collect();
            if let Some(at) = times.and_then(|t| t.into_iter().max()) {
                publication.propagated_at = Some(at);
                changed = true;
            }
        }
        changed
    }

    /// When every secondary served `serial` or a newer one (for a zone without secondaries,
    /// when it was published); `None` while one does not. A serial older than those remembered
    /// is answered with the earliest newer one known, which is never earlier than the truth.
    pub fn propagated_at(&self, serial: u32) -> Option<u32> {
        self.publications
            .iter()
            .filter(|p| serial_ge(p.serial, serial))
            .filter_map(|p| p.propagated_at)
            .min()
    }

    /// The published serials every secondary serves, with when they first all did: what the
    /// zone's rollover timing needs (see [`crate::zone::ZoneRuntime::set_propagated`]).
    pub fn propagated(&self) -> Propagated {
        Propagated::new(
            self.publications
                .iter()
                .filter_map(|p| p.propagated_at.map(|at| (p.serial, at))),
        )
    }

    /// The secondaries that do not serve `serial` yet, each as `ADDRESS at serial N` (or `not
    /// answering`), with its last poll error.
    pub fn waiting_for(&self, serial: u32) -> Vec<String> {
        self.secondaries
            .iter()
            .filter(|sec| !sec.serves(serial))
            .map(|sec| {
                let at = sec
                    .serial
                    .map_or_else(|| "not answering".to_owned(), |s| format!("at serial {s}"));
                match &sec.last_error {
                    Some(error) => format!("{} {at} ({error})", sec.address),
                    None => format!("{} {at}", sec.address),
                }
            })
            .collect()
    }

    /// Seconds since we published the oldest serial secondary `index` does not serve yet; 0
    /// when it serves the newest.
    fn lag(&self, index: usize, now: u32) -> u32 {
        let Some(sec) = self.secondaries.get(index) else {
            return 0;
        };
        self.publications
            .iter()
            .find(|p| !sec.serves(p.serial))
            .map_or(0, |p| now.wrapping_sub(p.at).min(0x7fff_ffff))
    }

    /// The state of each secondary, for `daned status`.
    pub fn status(&self, now: u32) -> Vec<SecondaryStatus> {
        self.secondaries
            .iter()
            .enumerate()
            .map(|(index, sec)| SecondaryStatus {
                address: sec.address.to_string(),
                serial: sec.serial,
                seen_at: sec.seen_at,
                lag: self.lag(index, now),
                last_notify: sec.last_notify.map(|(serial, acknowledged)| {
                    if acknowledged {
                        format!("serial {serial} acknowledged")
                    } else {
                        format!("serial {serial} unanswered")
                    }
                }),
                notify_unanswered: sec.notify_unanswered,
                last_error: sec.last_error.clone(),
            })
            .collect()
    }
}

/// When the SOA polls run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollOptions {
    /// The wait after a new serial, and the first wait while a secondary lags; doubled after
    /// each poll that finds it lagging.
    pub first: Duration,
    /// The longest wait while a secondary lags.
    pub max: Duration,
    /// How long one query may take (UDP and TCP together).
    pub timeout: Duration,
}

impl Default for PollOptions {
    /// 1 s, 2 s, 4 s ... capped at 60 s, like the NOTIFY retries; 5 s per query.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
        }
    }
}

/// One secondary of one zone to poll.
#[derive(Clone, Debug)]
pub struct PollTarget {
    /// The zone.
    pub zone: Name,
    /// The secondary and its key.
    pub target: Target,
    /// The steady poll interval once it is current (`secondary-poll-interval`).
    pub steady: Duration,
}

/// Every secondary of every zone, from the config (keys resolved).
pub fn poll_targets(config: &Config) -> Vec<PollTarget> {
    let targets: HashMap<Name, Vec<Target>> = crate::secondaries::client::targets(config);
    config
        .zones
        .iter()
        .flat_map(|zone| {
            targets
                .get(&zone.origin)
                .into_iter()
                .flatten()
                .map(|target| PollTarget {
                    zone: zone.origin.clone(),
                    target: target.clone(),
                    steady: zone.secondary_poll_interval,
                })
        })
        .collect()
}

/// Polls every target until `catalogs` closes or the manager goes away (`reports` closes);
/// `clock` gives the TSIG time signed.
pub async fn run(
    catalogs: watch::Receiver<Arc<Catalog>>,
    targets: Vec<PollTarget>,
    options: PollOptions,
    reports: mpsc::Sender<SecondaryReport>,
    clock: Arc<dyn Clock>,
) {
    let client = Client::new(clock, options.timeout);
    let tasks: Vec<_> = targets
        .into_iter()
        .map(|target| {
            tokio::spawn(poll_secondary(
                target,
                options,
                catalogs.clone(),
                reports.clone(),
                client.clone(),
            ))
        })
        .collect();
    for task in tasks {
        // A task that panicked has nothing to clean up.
        let _ = task.await;
    }
}

fn serial_of(catalog: &Catalog, zone: &Name) -> Option<u32> {
    catalog
        .zones()
        .find(|z| z.origin() == zone)
        .map(|z| z.serial())
}

async fn poll_secondary(
    poll: PollTarget,
    options: PollOptions,
    mut catalogs: watch::Receiver<Arc<Catalog>>,
    reports: mpsc::Sender<SecondaryReport>,
    client: Client,
) {
    let mut published = serial_of(&catalogs.borrow_and_update(), &poll.zone);
    let mut next_at = Instant::now() + options.first;
    let mut lag_wait = options.first;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next_at) => {
                let result = query_soa(&client, &poll.zone, &poll.target).await;
                let current = match (&result, published) {
                    (Ok(served), Some(published)) => serial_ge(*served, published),
                    _ => false,
                };
                let report = SecondaryReport {
                    zone: poll.zone.clone(),
                    secondary: poll.target.address,
                    kind: ReportKind::Soa(result),
                };
                if reports.send(report).await.is_err() {
                    break;
                }
                let wait = if current {
                    lag_wait = options.first;
                    poll.steady
                } else {
                    let wait = lag_wait;
                    lag_wait = (lag_wait * 2).min(options.max);
                    wait
                };
                next_at = Instant::now() + wait;
            }
            changed = catalogs.changed() => {
                if changed.is_err() {
                    break;
                }
                let serial = serial_of(&catalogs.borrow_and_update(), &poll.zone);
                if serial != published {
                    published = serial;
                    // After the NOTIFY round for the new serial: poll soon, then back off.
                    next_at = Instant::now() + options.first;
                    lag_wait = options.first;
                }
            }
        }
    }
}

/// The SOA serial `target` serves for `zone`, asked through `client` (signed with the
/// target's key when it has one, whose answer must then carry a valid TSIG).
///
/// # Errors
///
/// See [`SoaError`]: no usable answer in time, an error rcode, no SOA in the answer.
pub async fn query_soa(client: &Client, zone: &Name, target: &Target) -> Result<u32, SoaError> {
    let mut message = Message::new(0, MessageType::Query, OpCode::Query);
    let mut query = Query::query(zone.clone(), RecordType::SOA);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    let answer = client
        .exchange(target.address, &message, target.key.as_ref())
        .await?;
    let rcode = answer.metadata.response_code;
    if rcode != ResponseCode::NoError {
        return Err(SoaError::Rcode { rcode });
    }
    answer
        .answers
        .iter()
        .find_map(|record| match &record.data {
            RData::SOA(soa) if record.name == *zone => Some(soa.serial),
            _ => None,
        })
        .ok_or(SoaError::NoSoa)
}

#[cfg(test)]
mod tests;
