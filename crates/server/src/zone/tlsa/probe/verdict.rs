//! What a probe result means for a binding: which of its records the presented chain matches.
//! Pure: the rollover state and the outcome in, a verdict out.

use std::collections::BTreeMap;

use daned_sign::dane::{chain_matches, not_after, spki_sha256};
use data_encoding::HEXLOWER;
use serde::Serialize;

use super::{Outcome, Target};
use crate::zone::tlsa::rollover::{BindingState, TlsaRdata};

/// One target's result against the binding's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// It presents the key in use: what the files say.
    Current,
    /// It presents the staged next key (deployed early, or before daned saw the files).
    Next,
    /// It presents a key whose record is still published but on its way out.
    Old,
    /// It presents a key no published record matches: DANE senders fail now.
    Mismatch,
    /// The service offers no STARTTLS.
    NoStarttls,
    /// The handshake failed.
    TlsError,
    /// No connection.
    Unreachable,
}

impl Verdict {
    /// The kebab-case name, as `daned probe` and the metrics print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Next => "next",
            Self::Old => "old",
            Self::Mismatch => "mismatch",
            Self::NoStarttls => "no-starttls",
            Self::TlsError => "tls-error",
            Self::Unreachable => "unreachable",
        }
    }

    /// Every verdict, for metrics that list each one.
    pub const ALL: [Verdict; 7] = [
        Self::Current,
        Self::Next,
        Self::Old,
        Self::Mismatch,
        Self::NoStarttls,
        Self::TlsError,
        Self::Unreachable,
    ];

    /// Whether the target presents a key some published record matches.
    pub fn is_good(self) -> bool {
        matches!(self, Self::Current | Self::Next | Self::Old)
    }
}

/// A verdict with what explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, for the failures; for a mismatch, the record that would match.
    pub reason: Option<String>,
    /// SHA-256 of the presented end-entity key (the `3 1 1` data), when there was a chain.
    pub spki_sha256: Option<String>,
    /// The presented end-entity certificate's notAfter (seconds since the epoch).
    pub not_after: Option<i64>,
}

/// Judges `outcome` against what `state` publishes.
pub(crate) fn judge(state: &BindingState, outcome: &Outcome) -> Judged {
    let failure = |verdict, reason: &String| Judged {
        verdict,
        reason: Some(reason.clone()),
        spki_sha256: None,
        not_after: None,
    };
    let chain = match outcome {
        Outcome::Presented { chain } => chain,
        Outcome::NoStarttls { reason } => return failure(Verdict::NoStarttls, reason),
        Outcome::TlsError { reason } => return failure(Verdict::TlsError, reason),
        Outcome::Unreachable { reason } => return failure(Verdict::Unreachable, reason),
    };
    let matches = |record: &TlsaRdata| {
        chain_matches(
            chain,
            record.usage(),
            record.selector(),
            record.matching(),
            record.data(),
        )
    };
    let end_entity = chain.first().map(Vec::as_slice).unwrap_or_default();
    let spki = spki_sha256(end_entity).map(|d| HEXLOWER.encode(&d));
    let verdict = if state.current().is_some_and(matches) {
        Verdict::Current
    } else if state.next().is_some_and(matches) {
        Verdict::Next
    } else if state.retiring().any(|(record, _)| matches(record)) {
        Verdict::Old
    } else {
        Verdict::Mismatch
    };
    Judged {
        verdict,
        reason: (verdict == Verdict::Mismatch).then(|| {
            format!(
                "presents a key no published record matches (3 1 1 {})",
                spki.as_deref().unwrap_or("?")
            )
        }),
        spki_sha256: spki,
        not_after: not_after(end_entity),
    }
}

/// One target's last probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// When it was probed.
    pub at: u32,
    /// What it gave.
    pub outcome: Outcome,
    /// The last time it presented a key some published record matched.
    pub last_good: Option<u32>,
}

/// What the probe knows of one binding's targets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probed {
    /// The targets the records cover now (from the zone's addresses or `probe-addresses`).
    pub targets: Vec<Target>,
    /// The last result per target (also of targets no longer covered, until replaced).
    pub seen: BTreeMap<Target, Seen>,
    /// When the last probe of this binding finished.
    pub last_probe: Option<u32>,
    /// When a mismatch was last logged (at most once per probe interval).
    pub last_alarm: Option<u32>,
    /// Whether the binding is to be probed at once (its records or files changed).
    pub due_now: bool,
}

impl Probed {
    /// Records the results of one probe of this binding at `now`.
    pub fn record(&mut self, state: &BindingState, results: Vec<(Target, Outcome)>, now: u32) {
        for (target, outcome) in results {
            let good = judge(state, &outcome).verdict.is_good();
            let last_good = if good {
                Some(now)
            } else {
                self.seen.get(&target).and_then(|seen| seen.last_good)
            };
            self.seen.insert(
                target,
                Seen {
                    at: now,
                    outcome,
                    last_good,
                },
            );
        }
        self.seen.retain(|target, _| self.targets.contains(target));
        self.last_probe = Some(now);
    }

    /// Each current target with its verdict (`None` before its first probe).
    pub fn verdicts<'s>(
        &'s self,
        state: &'s BindingState,
    ) -> impl Iterator<Item = (&'s Target, Option<Judged>)> + 's {
        self.targets.iter().map(move |target| {
            let judged = self
                .seen
                .get(target)
                .map(|seen| judge(state, &seen.outcome));
            (target, judged)
        })
    }

    /// Whether some target does not (yet) present the key in use: a replaced key's record
    /// must then stay. No targets, nothing to wait for.
    pub fn holds_replaced(&self, state: &BindingState) -> bool {
        self.verdicts(state)
            .any(|(_, judged)| judged.is_none_or(|j| j.verdict != Verdict::Current))
    }

    /// The targets that present a key no published record matches.
    pub fn mismatches(&self, state: &BindingState) -> Vec<(Target, Judged)> {
        self.verdicts(state)
            .filter_map(|(target, judged)| {
                judged
                    .filter(|j| j.verdict == Verdict::Mismatch)
                    .map(|j| (target.clone(), j))
            })
            .collect()
    }
}
