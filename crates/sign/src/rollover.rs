//! The TLSA rollover state machine of one binding ([RFC 7671 §8.1]). Pure: no I/O, the time is
//! an argument.
//!
//! # Background
//!
//! RFC 7671 §8.1: "TLSA records matching the existing server certificate chain (or raw public
//! keys) are first augmented with corresponding records matching the future keys, at least two
//! Times to Live (TTLs) or longer before the new chain is deployed. This allows the obsolete
//! RRset to age out of client caches before the new chain is used in TLS handshakes."
//!
//! The server reads a binding's certificate (the key in use, CUR) and its optional staged
//! next-key file (NEXT), and hands both to [`BindingState::observe`]; timers call
//! [`BindingState::tick`] at [`BindingState::next_deadline`]. It publishes
//! [`BindingState::published`] and logs the returned [`Event`]s.
//!
//! | phase | published |
//! |---|---|
//! | steady | CUR |
//! | staged | CUR + NEXT, NEXT published at `staged_at`, `ready_at = staged_at + 2×TTL + margin`; in a zone with secondaries `ready_at = propagated_at + 2×TTL + margin`, unknown until every secondary serves NEXT |
//! | ready | CUR + NEXT, now ≥ `ready_at`: NEXT may be deployed |
//! | switched | NEXT (now CUR) + the old CUR, kept for a hold-down of 2×TTL |
//! | unsafe-switch | the new key + the old one, at once: the key changed without staging |
//!
//! # Model
//!
//! Every published record carries the time from which a certificate using it is safe: its
//! `ready_at`, set when it began to be published without a break. A certificate switching to
//! a record that is published is a switch (early when before that record's `ready_at`); to a
//! record that is not, an unsafe switch. A record leaving the set (the old CUR after a switch,
//! a NEXT whose file disappeared or changed) is *retired*: it stays published for a hold-down
//! of 2×TTL and is then removed. Keeping a withdrawn NEXT for the hold-down makes tools that
//! replace `*.key.next` a moment before the certificate that uses the old next key (acme.sh
//! does) roll over safely instead of unsafely, and keeping the old CUR lets a failed
//! deployment roll back.
//!
//! A zone with secondaries is served by them too: a resolver may get the RRset from one that
//! has not transferred NEXT yet, so the 2×TTL wait only starts once every secondary serves the
//! serial that first published NEXT ([`BindingState::published_in`],
//! [`BindingState::propagated`]). Until then the binding is staged with no `ready_at`.
//!
//! Waits are computed with the longest TTL an RRset of this binding may still be cached with:
//! lowering the TTL does not shorten a wait until the RRsets served with the old TTL expired.
//! Every deadline is an absolute time kept in the (persisted) state, so a restart neither
//! restarts a wait nor drops a record early.
//!
//! [RFC 7671 §8.1]: https://www.rfc-editor.org/rfc/rfc7671#section-8.1

use std::fmt;
use std::str::FromStr;

use crate::hickory_proto::rr::rdata::TLSA;
use crate::hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use data_encoding::{HEXLOWER, HEXLOWER_PERMISSIVE};
use serde::{Deserialize, Serialize};

/// RFC 3339 UTC, as every time a person reads.
fn rfc3339(t: u32) -> String {
    crate::civil::rfc3339(i64::from(t))
}

/// One TLSA RDATA, serialised as its presentation format (`3 1 1 ab12..`, lowercase hex).
///
/// Ordered as RFC 4034 §6.3 orders RDATA: by usage, selector, matching type, then the data
/// bytes, which is the byte order of the wire RDATA.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TlsaRdata {
    usage: u8,
    selector: u8,
    matching: u8,
    data: Vec<u8>,
}

impl TlsaRdata {
    /// The RDATA with these fields.
    pub fn new(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Self {
        Self {
            usage,
            selector,
            matching,
            data,
        }
    }

    /// Certificate usage (RFC 6698 §2.1.1).
    pub fn usage(&self) -> u8 {
        self.usage
    }

    /// Selector (RFC 6698 §2.1.2).
    pub fn selector(&self) -> u8 {
        self.selector
    }

    /// Matching type (RFC 6698 §2.1.3).
    pub fn matching(&self) -> u8 {
        self.matching
    }

    /// Certificate association data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The hickory RDATA to put in the zone.
    pub fn to_tlsa(&self) -> TLSA {
        TLSA::new(
            CertUsage::from(self.usage),
            Selector::from(self.selector),
            Matching::from(self.matching),
            self.data.clone(),
        )
    }
}

impl From<&TLSA> for TlsaRdata {
    fn from(tlsa: &TLSA) -> Self {
        Self::new(
            u8::from(tlsa.cert_usage),
            u8::from(tlsa.selector),
            u8::from(tlsa.matching),
            tlsa.cert_data.clone(),
        )
    }
}

impl fmt::Display for TlsaRdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.usage,
            self.selector,
            self.matching,
            HEXLOWER.encode(&self.data)
        )
    }
}

/// A TLSA presentation string that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not TLSA RDATA ({reason}): {text:?}")]
pub struct TlsaRdataError {
    text: String,
    reason: &'static str,
}

impl FromStr for TlsaRdata {
    type Err = TlsaRdataError;

    /// Reads `USAGE SELECTOR MATCHING HEX` (the hex may be split by spaces).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| TlsaRdataError {
            text: text.to_owned(),
            reason,
        };
        let mut fields = text.split_ascii_whitespace();
        let mut number = |name| {
            fields
                .next()
                .ok_or(name)
                .and_then(|f| f.parse::<u8>().map_err(|_| name))
        };
        let usage = number("usage").map_err(error)?;
        let selector = number("selector").map_err(error)?;
        let matching = number("matching type").map_err(error)?;
        let hex: String = fields.collect();
        if hex.is_empty() {
            return Err(error("no association data"));
        }
        let data = HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .map_err(|_| error("association data is not hex"))?;
        Ok(Self::new(usage, selector, matching, data))
    }
}

impl TryFrom<String> for TlsaRdata {
    type Error = TlsaRdataError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<TlsaRdata> for String {
    fn from(rdata: TlsaRdata) -> Self {
        rdata.to_string()
    }
}

/// The TTL of the binding's TLSA records and the extra wait before a next key is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// TTL of the TLSA RRset, seconds.
    pub ttl: u32,
    /// Added to the 2×TTL wait before a staged key is ready: covers the time to sign, publish
    /// and transfer the zone to every secondary, and clock differences.
    pub margin: u32,
    /// Whether the zone has secondaries: a newly staged key's wait then starts only once every
    /// secondary serves it ([`BindingState::propagated`]), not when daned publishes it.
    pub await_propagation: bool,
    /// Whether a probed server still does not present the key in use: the record of the key
    /// it replaced then stays published past its hold-down (see [`BindingState::tick`]).
    pub hold_replaced: bool,
}

/// What the certificate file and the next-key file give now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// The record of the certificate in use; `None` when the file is absent or unusable (the
    /// caller reports why, and the last good records stay published).
    pub current: Option<TlsaRdata>,
    /// The record of the staged next key; `None` when there is no usable next-key file.
    pub next: Option<TlsaRdata>,
}

/// Where a binding is in its rollover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Phase {
    /// Only the key in use is published (and possibly records in their hold-down).
    Steady,
    /// A next key is published but caches may still hold the RRset without it.
    Staged,
    /// The next key has been published long enough: it may be deployed.
    Ready,
    /// The certificate switched to a published key; the old one is in its hold-down.
    Switched,
    /// The certificate switched to a key that was not published before: senders with the old
    /// RRset cached may fail until it expires.
    UnsafeSwitch,
}

impl Phase {
    /// The kebab-case name (`unsafe-switch`), as `daned status` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Steady => "steady",
            Self::Staged => "staged",
            Self::Ready => "ready",
            Self::Switched => "switched",
            Self::UnsafeSwitch => "unsafe-switch",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happened to a binding, for logs and metrics. Times are seconds since the
/// Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The first observation: the key in use is published.
    Published {
        /// Its record.
        record: TlsaRdata,
    },
    /// A next key is published beside the key in use.
    Staged {
        /// Its record.
        record: TlsaRdata,
        /// When it may be deployed; `None` while the wait has not started because the
        /// secondaries do not serve it yet.
        ready_at: Option<u32>,
    },
    /// Every secondary serves the staged key: its wait has started.
    Propagated {
        /// Its record.
        record: TlsaRdata,
        /// The serial that first published it.
        serial: u32,
        /// When every secondary served that serial (or a newer one).
        propagated_at: u32,
        /// When it may be deployed.
        ready_at: u32,
    },
    /// The staged key has been published long enough to be deployed.
    Ready {
        /// Its record.
        record: TlsaRdata,
        /// The time it became ready.
        ready_at: u32,
    },
    /// The next-key file disappeared or now holds another key: the old next key stays
    /// published until `hold_until`, in case a certificate with it is on its way.
    Unstaged {
        /// The record withdrawn.
        record: TlsaRdata,
        /// When it will be removed.
        hold_until: u32,
    },
    /// The certificate now uses a key that was published: the old key is kept until
    /// `hold_until`.
    Switched {
        /// The old key's record.
        from: TlsaRdata,
        /// The new key's record.
        to: TlsaRdata,
        /// When the old record will be removed.
        hold_until: u32,
    },
    /// The switch (reported by the `Switched` before it) came before the new key was ready:
    /// resolvers may still hold an RRset without it.
    EarlySwitch {
        /// The new key's record.
        record: TlsaRdata,
        /// When it would have been ready.
        ready_at: u32,
        /// How many seconds too early.
        early_by: u32,
    },
    /// The certificate changed to a key that was not staged: both are published at once, and
    /// DANE senders with the old RRset cached may fail until `exposure_until`.
    UnsafeSwitch {
        /// The old key's record.
        from: TlsaRdata,
        /// The new key's record.
        to: TlsaRdata,
        /// When the old record will be removed.
        hold_until: u32,
        /// When the last cached copy of the RRset without the new key expires.
        exposure_until: u32,
    },
    /// A record's hold-down ended: it is no longer published.
    Retired {
        /// The record removed.
        record: TlsaRdata,
    },
}

impl Event {
    /// The kind, as `daned reload` and the hooks name it: `published`, `staged`,
    /// `propagated`, `ready`, `unstaged`, `switched`, `early-switch`, `unsafe-switch`,
    /// `retired`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Published { .. } => "published",
            Self::Staged { .. } => "staged",
            Self::Propagated { .. } => "propagated",
            Self::Ready { .. } => "ready",
            Self::Unstaged { .. } => "unstaged",
            Self::Switched { .. } => "switched",
            Self::EarlySwitch { .. } => "early-switch",
            Self::UnsafeSwitch { .. } => "unsafe-switch",
            Self::Retired { .. } => "retired",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Published { record } => write!(f, "published {record}"),
            Self::Staged {
                record,
                ready_at: Some(ready_at),
            } => write!(
                f,
                "staged next key {record}, ready at {}",
                rfc3339(*ready_at)
            ),
            Self::Staged {
                record,
                ready_at: None,
            } => write!(
                f,
                "staged next key {record}; its wait starts once every secondary serves it"
            ),
            Self::Propagated {
                record,
                serial,
                propagated_at,
                ready_at,
            } => write!(
                f,
                "next key {record} served by every secondary since {} (serial {serial}), ready \
                 at {}",
                rfc3339(*propagated_at),
                rfc3339(*ready_at)
            ),
            Self::Ready { record, ready_at } => {
                write!(
                    f,
                    "next key {record} ready since {}: it may be deployed",
                    rfc3339(*ready_at)
                )
            }
            Self::Unstaged { record, hold_until } => write!(
                f,
                "next key {record} withdrawn, kept published until {}",
                rfc3339(*hold_until)
            ),
            Self::Switched {
                from,
                to,
                hold_until,
            } => write!(
                f,
                "certificate switched from {from} to {to}; old record kept until {} (and until \
                 every probed server presents the new key)",
                rfc3339(*hold_until)
            ),
            Self::EarlySwitch {
                record,
                ready_at,
                early_by,
            } => write!(
                f,
                "certificate switched to {record} {early_by} s before it was ready ({}): \
                 resolvers may still cache an RRset without it",
                rfc3339(*ready_at)
            ),
            Self::UnsafeSwitch {
                from,
                to,
                hold_until,
                exposure_until,
            } => write!(
                f,
                "certificate changed from {from} to {to}, a key that was not staged: both are \
                 published now, but DANE senders with the old RRset cached may fail until {}; \
                 old record kept until {}",
                rfc3339(*exposure_until),
                rfc3339(*hold_until)
            ),
            Self::Retired { record } => write!(f, "retired {record}"),
        }
    }
}

/// The rollover state of one binding, persisted as JSON by the server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BindingState {
    /// The record of the certificate in use.
    current: Option<Live>,
    /// The staged next key.
    next: Option<Staged>,
    /// Records in their hold-down, oldest first.
    retiring: Vec<Retiring>,
    /// The last switch, while the old key's hold-down runs.
    last_switch: Option<LastSwitch>,
    /// The TTLs this binding's RRsets were served with (`None` before the first call).
    ttl: Option<ServedTtl>,
}

/// A published record and the time from which deploying it is safe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Live {
    record: TlsaRdata,
    ready_at: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Staged {
    record: TlsaRdata,
    staged_at: u32,
    /// Meaningless while `awaiting` is set.
    ready_at: u32,
    /// Whether the `Ready` event was given.
    ready_announced: bool,
    /// Set while the wait has not started: the secondaries do not all serve the key yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    awaiting: Option<Awaiting>,
}

/// A staged key whose wait starts once every secondary serves it (RFC 7671 §8.1 counts the
/// 2×TTL from when the RRset with it is served, and a secondary serves what it transferred).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Awaiting {
    /// The serial that first published the key; `None` until the zone was signed with it.
    serial: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Retiring {
    record: TlsaRdata,
    ready_at: u32,
    until: u32,
    /// The record of a key that was in use (the old CUR of a switch): it is removed only once
    /// the probed servers present the new key ([`Timing::hold_replaced`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    replaced: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LastSwitch {
    at: u32,
    safety: SwitchSafety,
    until: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum SwitchSafety {
    /// To a key published for its full wait.
    Ready,
    /// To a published key before its wait was over.
    Early,
    /// To a key that was not published.
    Unsafe,
}

/// The TTL in force, and a longer one that RRsets served earlier may still be cached with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ServedTtl {
    ttl: u32,
    longer: u32,
    longer_until: u32,
}

impl ServedTtl {
    fn effective(self, now: u32) -> u32 {
        if now < self.longer_until {
            self.ttl.max(self.longer)
        } else {
            self.ttl
        }
    }
}

impl BindingState {
    /// Feeds what the files give now; runs due timers first. Returns what happened.
    ///
    /// `current: None` (the certificate is missing or unusable) changes nothing, whatever
    /// `next` says: the last good records stay published.
    pub fn observe(&mut self, now: u32, observation: &Observation, timing: &Timing) -> Vec<Event> {
        let mut events = self.tick(now, timing);
        let Some(current) = &observation.current else {
            return events;
        };
        match &self.current {
            None => {
                // The first observation (or a record still in a hold-down, deployed again).
                let ready_at = self
                    .take_published(current, now, timing)
                    .unwrap_or_else(|| self.wait_from(now, timing));
                self.current = Some(Live {
                    record: current.clone(),
                    ready_at,
                });
                events.push(Event::Published {
                    record: current.clone(),
                });
            }
            // The same key again (a renewal that reuses the key): nothing to do.
            Some(live) if live.record == *current => {}
            Some(_) => self.switch_to(now, current, timing, &mut events),
        }
        self.stage(now, observation.next.as_ref(), timing, &mut events);
        events
    }

    /// Runs the timers due at `now`: a staged key becoming ready, hold-downs ending. Also
    /// notes the TTL in force, so that waits started later allow for RRsets cached with a
    /// longer TTL served before.
    ///
    /// The record of a replaced key (the old one of a switch) leaves only after its hold-down
    /// *and* once no probed server presents anything but the new key
    /// ([`Timing::hold_replaced`]): a renewal deployed to the files but not to the server must
    /// not take down the record the server still needs.
    pub fn tick(&mut self, now: u32, timing: &Timing) -> Vec<Event> {
        self.note_ttl(now, timing.ttl);
        let mut events = Vec::new();
        if let Some(next) = &mut self.next
            && next.awaiting.is_none()
            && !next.ready_announced
            && now >= next.ready_at
        {
            next.ready_announced = true;
            events.push(Event::Ready {
                record: next.record.clone(),
                ready_at: next.ready_at,
            });
        }
        self.retiring.retain(|retiring| {
            if now >= retiring.until && !(retiring.replaced && timing.hold_replaced) {
                events.push(Event::Retired {
                    record: retiring.record.clone(),
                });
                false
            } else {
                true
            }
        });
        if self.last_switch.as_ref().is_some_and(|s| now >= s.until) {
            self.last_switch = None;
        }
        events
    }

    /// The RDATA set to publish now, in canonical order, without duplicates.
    pub fn published(&self) -> Vec<TlsaRdata> {
        let mut records: Vec<TlsaRdata> = self
            .current
            .iter()
            .map(|live| live.record.clone())
            .chain(self.next.iter().map(|staged| staged.record.clone()))
            .chain(self.retiring.iter().map(|retiring| retiring.record.clone()))
            .collect();
        records.sort();
        records.dedup();
        records
    }

    /// The phase at `now`: an unsafe or ordinary switch while the old key's hold-down runs,
    /// else ready or staged while a next key is staged, else steady.
    pub fn phase(&self, now: u32) -> Phase {
        match &self.last_switch {
            Some(switch) if now < switch.until && switch.safety == SwitchSafety::Unsafe => {
                return Phase::UnsafeSwitch;
            }
            Some(switch) if now < switch.until => return Phase::Switched,
            _ => {}
        }
        // The old key's record outlived its hold-down: a server still presents it.
        if self.retiring.iter().any(|r| r.replaced && now >= r.until) {
            return Phase::Switched;
        }
        match &self.next {
            Some(next) if next.awaiting.is_none() && now >= next.ready_at => Phase::Ready,
            Some(_) => Phase::Staged,
            None => Phase::Steady,
        }
    }

    /// When the staged next key may be deployed, if one is staged and its wait has started
    /// (see [`Self::awaiting_propagation`]).
    pub fn ready_at(&self) -> Option<u32> {
        self.next
            .as_ref()
            .filter(|next| next.awaiting.is_none())
            .map(|next| next.ready_at)
    }

    /// Whether a staged next key waits for the secondaries before its wait starts, and the
    /// serial that first published it (`None` until the zone was signed with it).
    pub fn awaiting_propagation(&self) -> Option<Option<u32>> {
        self.next
            .as_ref()
            .and_then(|next| next.awaiting.as_ref())
            .map(|awaiting| awaiting.serial)
    }

    /// The zone was signed as `serial` with the current records: a staged key waiting for the
    /// secondaries learns the serial that first published it (later serials change nothing).
    pub fn published_in(&mut self, serial: u32) {
        if let Some(awaiting) = self.next.as_mut().and_then(|next| next.awaiting.as_mut())
            && awaiting.serial.is_none()
        {
            awaiting.serial = Some(serial);
        }
    }

    /// Every secondary served the zone at the serial that first published the staged key (or
    /// a newer one) from `propagated_at` on: the key's wait starts there, RFC 7671 §8.1's
    /// "at least two Times to Live (TTLs)" plus the margin. Nothing happens unless a key waits
    /// for that.
    pub fn propagated(&mut self, propagated_at: u32, timing: &Timing) -> Vec<Event> {
        let ready_at = self.wait_from(propagated_at, timing);
        let Some(next) = self.next.as_mut() else {
            return Vec::new();
        };
        let Some(serial) = next.awaiting.as_ref().and_then(|a| a.serial) else {
            return Vec::new();
        };
        next.awaiting = None;
        next.ready_at = ready_at;
        vec![Event::Propagated {
            record: next.record.clone(),
            serial,
            propagated_at,
            ready_at,
        }]
    }

    /// Whether a staged next key may be deployed at `now` (what `daned wait-ready` waits for).
    pub fn is_ready(&self, now: u32) -> bool {
        self.ready_at().is_some_and(|ready_at| now >= ready_at)
    }

    /// When the staged next key was published, if one is staged.
    pub fn staged_at(&self) -> Option<u32> {
        self.next.as_ref().map(|next| next.staged_at)
    }

    /// The record of the certificate in use, once one was observed.
    pub fn current(&self) -> Option<&TlsaRdata> {
        self.current.as_ref().map(|live| &live.record)
    }

    /// The record of the staged next key, if any.
    pub fn next(&self) -> Option<&TlsaRdata> {
        self.next.as_ref().map(|next| &next.record)
    }

    /// The records kept past their hold-down because a probed server does not present the
    /// key in use yet.
    pub fn held(&self, now: u32) -> Vec<TlsaRdata> {
        self.retiring
            .iter()
            .filter(|r| r.replaced && now >= r.until)
            .map(|r| r.record.clone())
            .collect()
    }

    /// Every published record that is neither the key in use nor the staged one: withdrawn
    /// next keys and replaced keys in their hold-down, with the time each may leave.
    pub fn retiring(&self) -> impl Iterator<Item = (&TlsaRdata, u32)> {
        self.retiring.iter().map(|r| (&r.record, r.until))
    }

    /// When [`tick`](Self::tick) must run next: a staged key becoming ready, a hold-down
    /// ending, or the switched phase ending. `None` when nothing is pending. A replaced key's
    /// record held for the probe (`hold_replaced`) waits for the probe's next result instead.
    pub fn next_deadline(&self, hold_replaced: bool) -> Option<u32> {
        let ready = self
            .next
            .iter()
            .filter(|next| next.awaiting.is_none() && !next.ready_announced)
            .map(|next| next.ready_at);
        let holds = self
            .retiring
            .iter()
            .filter(|retiring| !(retiring.replaced && hold_replaced))
            .map(|retiring| retiring.until);
        let switch = self.last_switch.iter().map(|switch| switch.until);
        ready.chain(holds).chain(switch).min()
    }

    /// The certificate moved from the current key to `to`.
    fn switch_to(&mut self, now: u32, to: &TlsaRdata, timing: &Timing, events: &mut Vec<Event>) {
        let Some(old) = self.current.take() else {
            return;
        };
        let hold_until = now.saturating_add(self.hold_down(now, timing));
        let prior_ready_at = self.take_published(to, now, timing);
        let safety = match prior_ready_at {
            Some(ready_at) if now >= ready_at => SwitchSafety::Ready,
            Some(_) => SwitchSafety::Early,
            None => SwitchSafety::Unsafe,
        };
        let ready_at = prior_ready_at.unwrap_or_else(|| self.wait_from(now, timing));
        match safety {
            SwitchSafety::Ready | SwitchSafety::Early => {
                events.push(Event::Switched {
                    from: old.record.clone(),
                    to: to.clone(),
                    hold_until,
                });
                if safety == SwitchSafety::Early {
                    events.push(Event::EarlySwitch {
                        record: to.clone(),
                        ready_at,
                        // Early means `now < ready_at`, so this cannot underflow.
                        early_by: ready_at - now,
                    });
                }
            }
            SwitchSafety::Unsafe => events.push(Event::UnsafeSwitch {
                from: old.record.clone(),
                to: to.clone(),
                hold_until,
                exposure_until: now.saturating_add(self.ttl_at(now, timing)),
            }),
        }
        self.retiring.push(Retiring {
            record: old.record,
            ready_at: old.ready_at,
            until: hold_until,
            replaced: true,
        });
        self.current = Some(Live {
            record: to.clone(),
            ready_at,
        });
        self.last_switch = Some(LastSwitch {
            at: now,
            safety,
            until: hold_until,
        });
    }

    /// Brings the staged key in line with the next-key file.
    fn stage(
        &mut self,
        now: u32,
        next: Option<&TlsaRdata>,
        timing: &Timing,
        events: &mut Vec<Event>,
    ) {
        // A next-key file holding the key already in use stages nothing.
        let next = next.filter(|next| self.current() != Some(*next));
        if self.next.as_ref().map(|staged| &staged.record) == next {
            return;
        }
        if let Some(old) = self.next.take() {
            let hold_until = now.saturating_add(self.hold_down(now, timing));
            let ready_at = self.known_ready_at(&old, now, timing);
            events.push(Event::Unstaged {
                record: old.record.clone(),
                hold_until,
            });
            self.retiring.push(Retiring {
                record: old.record,
                ready_at,
                until: hold_until,
                replaced: false,
            });
        }
        if let Some(next) = next {
            // A record still in its hold-down has been published all along: its wait goes on.
            let (ready_at, awaiting) = match self.take_published(next, now, timing) {
                Some(ready_at) => (ready_at, None),
                None if timing.await_propagation => {
                    (self.wait_from(now, timing), Some(Awaiting { serial: None }))
                }
                None => (self.wait_from(now, timing), None),
            };
            events.push(Event::Staged {
                record: next.clone(),
                ready_at: awaiting.is_none().then_some(ready_at),
            });
            self.next = Some(Staged {
                record: next.clone(),
                staged_at: now,
                ready_at,
                ready_announced: false,
                awaiting,
            });
        }
    }

    /// Removes `record` from the staged key or the hold-downs, returning its `ready_at`.
    fn take_published(&mut self, record: &TlsaRdata, now: u32, timing: &Timing) -> Option<u32> {
        if self
            .next
            .as_ref()
            .is_some_and(|next| next.record == *record)
        {
            let next = self.next.take()?;
            return Some(self.known_ready_at(&next, now, timing));
        }
        let position = self.retiring.iter().position(|r| r.record == *record)?;
        Some(self.retiring.remove(position).ready_at)
    }

    /// A staged key's `ready_at`; for one still waiting for the secondaries, a full wait from
    /// `now` (its wait has not started, so it cannot be shorter).
    fn known_ready_at(&self, staged: &Staged, now: u32, timing: &Timing) -> u32 {
        if staged.awaiting.is_some() {
            self.wait_from(now, timing)
        } else {
            staged.ready_at
        }
    }

    fn note_ttl(&mut self, now: u32, ttl: u32) {
        self.ttl = Some(match self.ttl {
            None => ServedTtl {
                ttl,
                longer: ttl,
                longer_until: now,
            },
            Some(served) if served.ttl == ttl => served,
            Some(served) => {
                // RRsets served until now with the old TTL live in caches until now + old TTL.
                let old = served.effective(now);
                ServedTtl {
                    ttl,
                    longer: old,
                    longer_until: now.saturating_add(old),
                }
            }
        });
    }

    /// The longest TTL an RRset of this binding may be cached with, as of `now`.
    fn ttl_at(&self, now: u32, timing: &Timing) -> u32 {
        self.ttl
            .map_or(timing.ttl, |served| served.effective(now))
            .max(timing.ttl)
    }

    /// RFC 7671 §8.1: "at least two Times to Live (TTLs)" plus the margin, from `now`.
    fn wait_from(&self, now: u32, timing: &Timing) -> u32 {
        now.saturating_add(self.ttl_at(now, timing).saturating_mul(2))
            .saturating_add(timing.margin)
    }

    fn hold_down(&self, now: u32, timing: &Timing) -> u32 {
        self.ttl_at(now, timing).saturating_mul(2)
    }
}

#[cfg(test)]
mod tests;
