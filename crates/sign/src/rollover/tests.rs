//! Table-driven tests of the rollover state machine, with explicit times.
//!
//! `TIMING` has a TTL of 300 s and a margin of 60 s: a staged key is ready 660 s after it is
//! published, and a retired record is kept for a hold-down of 600 s.

use std::collections::BTreeSet;

use ring::digest::{SHA256, digest};

use super::*;

const TIMING: Timing = Timing {
    ttl: 300,
    margin: 60,
    await_propagation: false,
    hold_replaced: false,
};

const LABELS: [&str; 4] = ["A", "B", "C", "D"];

/// The `3 1 1` record of the key named `label`.
fn key(label: &str) -> TlsaRdata {
    TlsaRdata::new(3, 1, 1, digest(&SHA256, label.as_bytes()).as_ref().to_vec())
}

fn label(record: &TlsaRdata) -> &'static str {
    LABELS
        .into_iter()
        .find(|l| key(l) == *record)
        .unwrap_or("?")
}

fn describe(event: &Event) -> String {
    match event {
        Event::Published { record } => format!("published {}", label(record)),
        Event::Staged {
            record,
            ready_at: Some(ready_at),
        } => format!("staged {} ready {ready_at}", label(record)),
        Event::Staged {
            record,
            ready_at: None,
        } => format!("staged {} awaiting secondaries", label(record)),
        Event::Propagated {
            record,
            propagated_at,
            ready_at,
            ..
        } => format!(
            "propagated {} at {propagated_at} ready {ready_at}",
            label(record)
        ),
        Event::Ready { record, .. } => format!("ready {}", label(record)),
        Event::Unstaged { record, hold_until } => {
            format!("unstaged {} hold {hold_until}", label(record))
        }
        Event::Switched {
            from,
            to,
            hold_until,
        } => format!("switched {}>{} hold {hold_until}", label(from), label(to)),
        Event::EarlySwitch {
            record, early_by, ..
        } => format!("early-switch {} by {early_by}", label(record)),
        Event::UnsafeSwitch {
            from,
            to,
            hold_until,
            exposure_until,
        } => format!(
            "unsafe-switch {}>{} hold {hold_until} exposure {exposure_until}",
            label(from),
            label(to)
        ),
        Event::Retired { record } => format!("retired {}", label(record)),
    }
}

#[derive(Clone, Copy, Debug)]
enum Do {
    /// `observe` with (certificate key, next-key file key).
    See(Option<&'static str>, Option<&'static str>),
    Tick,
    /// Persist to JSON, load it back, then `tick` (what the server does on start).
    Restart,
}

use Do::{Restart, See, Tick};

struct Step {
    at: u32,
    action: Do,
    events: &'static [&'static str],
    published: &'static [&'static str],
    phase: Phase,
    deadline: Option<u32>,
}

const fn step(
    at: u32,
    action: Do,
    events: &'static [&'static str],
    published: &'static [&'static str],
    phase: Phase,
    deadline: Option<u32>,
) -> Step {
    Step {
        at,
        action,
        events,
        published,
        phase,
        deadline,
    }
}

/// One point of a run: the time, the labels published from then on, and the events.
struct Point {
    at: u32,
    published: BTreeSet<&'static str>,
    events: Vec<Event>,
    current: Option<&'static str>,
}

fn apply(state: &mut BindingState, at: u32, action: Do, timing: &Timing) -> Vec<Event> {
    match action {
        See(current, next) => state.observe(
            at,
            &Observation {
                current: current.map(key),
                next: next.map(key),
            },
            timing,
        ),
        Tick => state.tick(at, timing),
        Restart => {
            let json = serde_json::to_string(&*state).expect("a state serialises");
            let loaded: BindingState = serde_json::from_str(&json).expect("and loads back");
            assert_eq!(loaded, *state, "JSON round trip changed the state: {json}");
            *state = loaded;
            state.tick(at, timing)
        }
    }
}

fn point(state: &BindingState, at: u32, events: Vec<Event>) -> Point {
    Point {
        at,
        published: state.published().iter().map(label).collect(),
        events,
        current: state.current().map(label),
    }
}

fn run(name: &str, steps: &[Step]) {
    let mut state = BindingState::default();
    let mut timeline = Vec::new();
    for step in steps {
        let events = apply(&mut state, step.at, step.action, &TIMING);
        let described: Vec<String> = events.iter().map(describe).collect();
        assert_eq!(described, step.events, "{name} at {}: events", step.at);
        // Labels in alphabetical order (the records themselves are in canonical order, which
        // `rfc4034_s6_3_published_set_is_in_canonical_rdata_order` checks).
        let mut published: Vec<&str> = state.published().iter().map(label).collect();
        published.sort_unstable();
        assert_eq!(
            published, step.published,
            "{name} at {}: published",
            step.at
        );
        assert_eq!(
            state.phase(step.at),
            step.phase,
            "{name} at {}: phase",
            step.at
        );
        match step.phase {
            Phase::Ready => assert!(state.is_ready(step.at), "{name} at {}: ready", step.at),
            Phase::Staged | Phase::Steady => {
                assert!(!state.is_ready(step.at), "{name} at {}: not ready", step.at);
            }
            _ => {}
        }
        assert_eq!(
            state.next_deadline(false),
            step.deadline,
            "{name} at {}: deadline",
            step.at
        );
        timeline.push(point(&state, step.at, events));
    }
    check_invariants(name, &timeline, &TIMING);
}

/// The RFC 7671 §8.1 properties, checked over a whole run.
fn check_invariants(name: &str, timeline: &[Point], timing: &Timing) {
    let wait = 2 * timing.ttl + timing.margin;
    let hold = 2 * timing.ttl;
    for (i, point) in timeline.iter().enumerate() {
        // The key the certificate uses is always published.
        if let Some(current) = point.current {
            assert!(
                point.published.contains(current),
                "{name} at {}: current {current} not published",
                point.at
            );
        }
        // Never from {A} straight to {B}: consecutive non-empty sets share a record.
        if let Some(before) = i.checked_sub(1).map(|j| &timeline[j])
            && !before.published.is_empty()
        {
            assert!(
                !before.published.is_disjoint(&point.published),
                "{name} at {}: {:?} -> {:?} with no overlap",
                point.at,
                before.published,
                point.published
            );
        }
        let early = point
            .events
            .iter()
            .any(|e| matches!(e, Event::EarlySwitch { .. }));
        for event in &point.events {
            let (from, to, is_unsafe) = match event {
                Event::Switched { from, to, .. } => (label(from), label(to), false),
                Event::UnsafeSwitch { from, to, .. } => (label(from), label(to), true),
                _ => continue,
            };
            let t = point.at;
            // The old key stays published for the hold-down after any switch.
            for later in &timeline[i..] {
                if later.at < t + hold {
                    assert!(
                        later.published.contains(from),
                        "{name}: {from} dropped at {} within the hold-down after {t}",
                        later.at
                    );
                }
            }
            if is_unsafe {
                assert!(point.published.contains(from) && point.published.contains(to));
                continue;
            }
            if early {
                continue;
            }
            // A switch not flagged early: the new key was published, without a break, for
            // the whole wait before it (2×TTL + margin).
            let since = t - wait;
            let start = timeline[..i]
                .iter()
                .rposition(|p| p.at <= since)
                .unwrap_or_else(|| panic!("{name}: switch to {to} at {t} with no history"));
            for earlier in &timeline[start..i] {
                assert!(
                    earlier.published.contains(to),
                    "{name}: switch to {to} at {t}, but it was not published at {}",
                    earlier.at
                );
            }
        }
    }
}

#[test]
#[rustfmt::skip] // One table row per line.
fn rfc7671_s8_1_staged_rollover_publishes_next_two_ttls_before_the_switch() {
    // RFC 7671 §8.1: "TLSA records matching the existing server certificate chain (or raw
    // public keys) are first augmented with corresponding records matching the future keys,
    // at least two Times to Live (TTLs) or longer before the new chain is deployed." ... "the
    // server administrator may deploy the new certificate chain, verify that it works, and
    // then remove any obsolete records matching the chain that is no longer active".
    use Phase::*;
    run(
        "full cycle",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(759, Tick, &[], &["A", "B"], Staged, Some(760)),
            step(760, Tick, &["ready B"], &["A", "B"], Ready, None),
            step(1000, See(Some("B"), None), &["switched A>B hold 1600"], &["A", "B"], Switched, Some(1600)),
            step(1599, Tick, &[], &["A", "B"], Switched, Some(1600)),
            step(1600, Tick, &["retired A"], &["B"], Steady, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn renewal_with_the_same_key_is_a_no_op() {
    use Phase::*;
    run(
        "same key",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(500, See(Some("A"), None), &[], &["A"], Steady, None),
            // A next-key file that holds the key in use stages nothing.
            step(900, See(Some("A"), Some("A")), &[], &["A"], Steady, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn rfc7671_s8_1_switch_before_ready_is_done_but_flagged_early() {
    // RFC 7671 §8.1: "at least two Times to Live (TTLs) or longer before the new chain is
    // deployed": a deployment 300 s after staging is 360 s short of 2×300 + 60.
    use Phase::*;
    run(
        "early switch",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(400, See(Some("B"), None), &["switched A>B hold 1000", "early-switch B by 360"], &["A", "B"], Switched, Some(1000)),
            step(1000, Tick, &["retired A"], &["B"], Steady, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn unsafe_switch_publishes_old_and_new_at_once_and_retires_old_after_hold_down() {
    use Phase::*;
    run(
        "unsafe switch",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(500, See(Some("C"), None), &["unsafe-switch A>C hold 1100 exposure 800"], &["A", "C"], UnsafeSwitch, Some(1100)),
            step(1099, Tick, &[], &["A", "C"], UnsafeSwitch, Some(1100)),
            step(1100, Tick, &["retired A"], &["C"], Steady, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn unsafe_switch_keeps_a_staged_next_key() {
    use Phase::*;
    run(
        "unsafe switch while staged",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(200, See(Some("C"), Some("B")), &["unsafe-switch A>C hold 800 exposure 500"], &["A", "B", "C"], UnsafeSwitch, Some(760)),
            step(760, Tick, &["ready B"], &["A", "B", "C"], UnsafeSwitch, Some(800)),
            step(800, Tick, &["retired A"], &["B", "C"], Ready, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn next_key_changing_restages_and_holds_the_old_next_key() {
    use Phase::*;
    run(
        "next changes",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(300, See(Some("A"), Some("C")), &["unstaged B hold 900", "staged C ready 960"], &["A", "B", "C"], Staged, Some(900)),
            step(900, Tick, &["retired B"], &["A", "C"], Staged, Some(960)),
            step(960, Tick, &["ready C"], &["A", "C"], Ready, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn next_key_file_removed_unstages_after_the_hold_down() {
    use Phase::*;
    run(
        "next removed",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(300, See(Some("A"), None), &["unstaged B hold 900"], &["A", "B"], Steady, Some(900)),
            step(900, Tick, &["retired B"], &["A"], Steady, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn next_key_restaged_during_its_hold_down_keeps_its_wait() {
    // A next-key file briefly unreadable (rewritten in place) must not restart the wait.
    use Phase::*;
    run(
        "restaged",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(300, See(Some("A"), None), &["unstaged B hold 900"], &["A", "B"], Steady, Some(900)),
            step(310, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(760, Tick, &["ready B"], &["A", "B"], Ready, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn next_key_deployed_and_its_file_removed_in_one_observation_is_a_switch() {
    use Phase::*;
    run(
        "just deployed",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(800, See(Some("B"), None), &["ready B", "switched A>B hold 1400"], &["A", "B"], Switched, Some(1400)),
            step(1400, Tick, &["retired A"], &["B"], Steady, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn rfc7671_s8_1_next_key_replaced_just_before_the_certificate_that_uses_it() {
    // acme.sh writes a new `*.key.next` right after issuing the certificate for the old next
    // key: the watcher may see the next-key change before the certificate change. The old
    // next key was held, so the switch is safe and not early.
    use Phase::*;
    run(
        "acme.sh order",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(760, Tick, &["ready B"], &["A", "B"], Ready, None),
            step(5000, See(Some("A"), Some("C")), &["unstaged B hold 5600", "staged C ready 5660"], &["A", "B", "C"], Staged, Some(5600)),
            step(5010, See(Some("B"), Some("C")), &["switched A>B hold 5610"], &["A", "B", "C"], Switched, Some(5610)),
            step(5610, Tick, &["retired A"], &["B", "C"], Staged, Some(5660)),
            step(5660, Tick, &["ready C"], &["B", "C"], Ready, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn missing_or_bad_certificate_changes_nothing() {
    use Phase::*;
    run(
        "no certificate",
        &[
            step(0, See(None, Some("B")), &[], &[], Steady, None),
            step(10, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(20, See(None, Some("B")), &[], &["A"], Steady, None),
            step(30, See(None, None), &[], &["A"], Steady, None),
            step(40, See(Some("A"), Some("B")), &["staged B ready 700"], &["A", "B"], Staged, Some(700)),
            step(50, See(None, None), &[], &["A", "B"], Staged, Some(700)),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn first_observation_with_a_next_key_publishes_both() {
    use Phase::*;
    run(
        "first with next",
        &[step(0, See(Some("A"), Some("B")), &["published A", "staged B ready 660"], &["A", "B"], Staged, Some(660))],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn restart_mid_wait_neither_resets_the_wait_nor_skips_it() {
    use Phase::*;
    run(
        "restart while staged",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(400, Restart, &[], &["A", "B"], Staged, Some(760)),
            step(759, Tick, &[], &["A", "B"], Staged, Some(760)),
            step(760, Restart, &["ready B"], &["A", "B"], Ready, None),
            step(900, See(Some("A"), Some("B")), &[], &["A", "B"], Ready, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn restart_in_the_hold_down_keeps_the_old_record_until_it_ends() {
    use Phase::*;
    run(
        "restart in hold-down",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(1000, See(Some("B"), None), &["ready B", "switched A>B hold 1600"], &["A", "B"], Switched, Some(1600)),
            step(1200, Restart, &[], &["A", "B"], Switched, Some(1600)),
            step(1599, Tick, &[], &["A", "B"], Switched, Some(1600)),
            step(1600, Tick, &["retired A"], &["B"], Steady, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn restart_after_a_deadline_passed_runs_it_once() {
    use Phase::*;
    run(
        "restart late",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(5000, Restart, &["ready B"], &["A", "B"], Ready, None),
            step(5001, Restart, &[], &["A", "B"], Ready, None),
        ],
    );
}

#[test]
#[rustfmt::skip] // One table row per line.
fn rollback_during_the_hold_down_is_a_safe_switch() {
    // The old key stayed published through the hold-down, so going back to it is safe.
    use Phase::*;
    run(
        "rollback",
        &[
            step(0, See(Some("A"), None), &["published A"], &["A"], Steady, None),
            step(100, See(Some("A"), Some("B")), &["staged B ready 760"], &["A", "B"], Staged, Some(760)),
            step(760, Tick, &["ready B"], &["A", "B"], Ready, None),
            step(1000, See(Some("B"), None), &["switched A>B hold 1600"], &["A", "B"], Switched, Some(1600)),
            step(1100, See(Some("A"), None), &["switched B>A hold 1700"], &["A", "B"], Switched, Some(1700)),
            step(1700, Tick, &["retired B"], &["A"], Steady, None),
        ],
    );
}

#[test]
fn rfc7671_s8_1_lowered_ttl_does_not_shorten_the_wait() {
    // "at least two Times to Live (TTLs)": the RRset without the next key may be cached with
    // the TTL it was served with, which is the old one until it expires.
    let long = Timing {
        ttl: 3600,
        margin: 60,
        await_propagation: false,
        hold_replaced: false,
    };
    let mut state = BindingState::default();
    state.observe(0, &see("A", None), &long);
    // The TTL is lowered at 10000; RRsets served with 3600 s live until 13600.
    state.tick(10_000, &TIMING);
    let events = state.observe(10_100, &see("A", Some("B")), &TIMING);
    assert_eq!(
        events.iter().map(describe).collect::<Vec<_>>(),
        ["staged B ready 17360"]
    );
    assert_eq!(state.ready_at(), Some(10_100 + 2 * 3600 + 60));
    // Once the old RRsets expired the new TTL alone counts.
    state.observe(13_600, &see("A", None), &TIMING);
    let events = state.observe(14_000, &see("A", Some("C")), &TIMING);
    assert_eq!(
        events.iter().map(describe).collect::<Vec<_>>(),
        ["staged C ready 14660"]
    );
    // A raised TTL counts at once.
    let events = state.observe(14_100, &see("A", Some("D")), &long);
    assert_eq!(
        events.iter().map(describe).collect::<Vec<_>>(),
        ["unstaged C hold 21300", "staged D ready 21360"]
    );
}

fn see(current: &str, next: Option<&str>) -> Observation {
    Observation {
        current: Some(key(current)),
        next: next.map(key),
    }
}

#[test]
fn rfc7671_s8_1_invariants_hold_over_a_long_random_walk() {
    // A deterministic pseudo-random walk (LCG) through observations, ticks and restarts; the
    // invariants of `check_invariants` must hold throughout.
    let mut seed: u64 = 0x5eed_cafe;
    let mut next_random = move |bound: u32| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        u32::try_from((seed >> 33) % u64::from(bound)).unwrap_or(0)
    };
    let mut state = BindingState::default();
    let mut timeline = Vec::new();
    let mut now = 0;
    let mut current = Some("A");
    let mut next = None;
    let mut switches = 0;
    for _ in 0..5000 {
        now += next_random(400);
        let action = match next_random(10) {
            0 => {
                // The certificate changes: mostly to the staged key, sometimes to another.
                current = if next.is_some() && next_random(3) > 0 {
                    next
                } else {
                    Some(LABELS[next_random(4) as usize])
                };
                See(current, next)
            }
            1 => {
                next = match next_random(3) {
                    0 => None,
                    _ => Some(LABELS[next_random(4) as usize]),
                };
                See(current, next)
            }
            2 => See(None, next),
            3 => Restart,
            4..=6 => Tick,
            _ => See(current, next),
        };
        let events = apply(&mut state, now, action, &TIMING);
        switches += events
            .iter()
            .filter(|e| matches!(e, Event::Switched { .. }))
            .count();
        timeline.push(point(&state, now, events));
    }
    assert!(switches > 50, "the walk exercised only {switches} switches");
    check_invariants("random walk", &timeline, &TIMING);
}

#[test]
fn state_json_is_stable_and_strict() {
    let mut state = BindingState::default();
    state.observe(0, &see("A", None), &TIMING);
    state.observe(100, &see("A", Some("B")), &TIMING);
    let json = serde_json::to_string(&state).expect("serialises");
    let a = key("A").to_string();
    let b = key("B").to_string();
    assert_eq!(
        json,
        format!(
            r#"{{"current":{{"record":"{a}","ready-at":660}},"next":{{"record":"{b}","staged-at":100,"ready-at":760,"ready-announced":false}},"retiring":[],"last-switch":null,"ttl":{{"ttl":300,"longer":300,"longer-until":0}}}}"#
        )
    );
    // Unknown fields are refused at every level, so a state written by another version is
    // never half-read.
    for bad in [
        json.replacen('{', r#"{"bogus":1,"#, 1),
        json.replace(r#""staged-at""#, r#""bogus":1,"staged-at""#),
        json.replace(r#""ttl":300"#, r#""ttl":300,"bogus":1"#),
    ] {
        assert!(
            serde_json::from_str::<BindingState>(&bad).is_err(),
            "accepted {bad}"
        );
    }
    let bad_record = json.replace(&b, "3 1 1 not-hex");
    assert!(serde_json::from_str::<BindingState>(&bad_record).is_err());
}

#[test]
fn rfc4034_s6_3_published_set_is_in_canonical_rdata_order() {
    // RFC 4034 §6.3: RRs of an RRset are sorted "by treating the RDATA portion of the
    // canonical form of each RR as a left-justified unsigned octet sequence".
    let mut state = BindingState::default();
    state.observe(0, &see("A", Some("B")), &TIMING);
    state.observe(10, &see("C", Some("B")), &TIMING);
    let published = state.published();
    let mut wire: Vec<Vec<u8>> = published
        .iter()
        .map(|r| {
            let mut bytes = vec![r.usage(), r.selector(), r.matching()];
            bytes.extend_from_slice(r.data());
            bytes
        })
        .collect();
    let in_order = wire.clone();
    wire.sort();
    assert_eq!(wire, in_order);
    assert_eq!(published.len(), 3);
    // Another usage sorts by its first octet, whatever the data.
    let low = TlsaRdata::new(2, 0, 1, vec![0xff]);
    let high = TlsaRdata::new(3, 1, 1, vec![0x00]);
    assert!(low < high);
}

#[test]
fn tlsa_rdata_round_trips_through_text_and_hickory() {
    let record = key("A");
    let text = record.to_string();
    assert!(text.starts_with("3 1 1 "));
    assert_eq!(text.parse::<TlsaRdata>(), Ok(record.clone()));
    assert_eq!(TlsaRdata::from(&record.to_tlsa()), record);
    assert_eq!(record.to_tlsa().to_string(), text);
    // Upper-case and split hex, as zone files write it, read the same.
    let upper = format!("3 1 1 {} {}", &text[6..20].to_uppercase(), &text[20..]);
    assert_eq!(upper.parse::<TlsaRdata>(), Ok(record));
    for bad in [
        "",
        "3 1",
        "3 1 1",
        "3 1 x ab",
        "300 1 1 ab",
        "3 1 1 abc",
        "3 1 1 zz",
    ] {
        assert!(bad.parse::<TlsaRdata>().is_err(), "accepted {bad:?}");
    }
}

#[test]
fn phase_displays_kebab_case() {
    assert_eq!(Phase::UnsafeSwitch.to_string(), "unsafe-switch");
    assert_eq!(
        serde_json::to_string(&Phase::UnsafeSwitch).expect("serialises"),
        r#""unsafe-switch""#
    );
    assert_eq!(Phase::Ready.to_string(), "ready");
}

/// `TIMING` in a zone with secondaries.
const WITH_SECONDARIES: Timing = Timing {
    await_propagation: true,
    ..TIMING
};

fn described(events: &[Event]) -> Vec<String> {
    events.iter().map(describe).collect()
}

#[test]
fn rfc7671_s8_1_without_secondaries_the_wait_counts_from_publication() {
    // "at least two Times to Live (TTLs) or longer before the new chain is deployed": with no
    // secondary, daned's own publication is when the RRset is served.
    let mut state = BindingState::default();
    state.observe(0, &see("A", None), &TIMING);
    let events = state.observe(100, &see("A", Some("B")), &TIMING);
    assert_eq!(described(&events), ["staged B ready 760"]);
    assert_eq!(state.awaiting_propagation(), None);
    // The serial and propagation calls change nothing then.
    state.published_in(7);
    assert!(state.propagated(5000, &TIMING).is_empty());
    assert_eq!(state.ready_at(), Some(760));
}

#[test]
fn rfc7671_s8_1_a_lagging_secondary_delays_ready_at() {
    // The 2×TTL counts from when the RRset with the new key is served, and a secondary that
    // has not transferred it still serves the old RRset: the wait starts once all serve it.
    let mut state = BindingState::default();
    state.observe(0, &see("A", None), &WITH_SECONDARIES);
    let events = state.observe(100, &see("A", Some("B")), &WITH_SECONDARIES);
    assert_eq!(described(&events), ["staged B awaiting secondaries"]);
    assert_eq!(state.awaiting_propagation(), Some(None));
    // A propagation before the zone was signed with the key is not about this key.
    assert!(state.propagated(150, &WITH_SECONDARIES).is_empty());
    state.published_in(7);
    // A later serial does not move the one that first published the key.
    state.published_in(8);
    assert_eq!(state.awaiting_propagation(), Some(Some(7)));
    assert_eq!(state.phase(10_000), Phase::Staged);
    assert_eq!(state.ready_at(), None);
    assert!(!state.is_ready(10_000));
    assert_eq!(state.next_deadline(false), None);
    assert!(state.tick(10_000, &WITH_SECONDARIES).is_empty());
    // The last secondary serves serial 7 from 400: ready at 400 + 2×300 + 60.
    let events = state.propagated(400, &WITH_SECONDARIES);
    assert_eq!(described(&events), ["propagated B at 400 ready 1060"]);
    assert_eq!(state.awaiting_propagation(), None);
    assert_eq!(state.ready_at(), Some(1060));
    assert_eq!(state.next_deadline(false), Some(1060));
    assert_eq!(state.phase(1059), Phase::Staged);
    assert!(state.tick(1059, &WITH_SECONDARIES).is_empty());
    assert_eq!(described(&state.tick(1060, &WITH_SECONDARIES)), ["ready B"]);
    assert!(state.is_ready(1060));
    // Only once.
    assert!(state.propagated(2000, &WITH_SECONDARIES).is_empty());
    assert_eq!(state.ready_at(), Some(1060));
}

#[test]
fn rfc7671_s8_1_a_secondary_that_is_down_keeps_the_key_staged_across_restarts() {
    // A secondary that never serves the new RRset keeps resolvers it answers on the old one:
    // no time passing makes the key ready, and a restart neither loses nor shortens the wait.
    let mut state = BindingState::default();
    state.observe(0, &see("A", None), &WITH_SECONDARIES);
    state.observe(100, &see("A", Some("B")), &WITH_SECONDARIES);
    state.published_in(7);
    let json = serde_json::to_string(&state).expect("serialises");
    assert!(json.contains(r#""awaiting":{"serial":7}"#), "{json}");
    let mut state: BindingState = serde_json::from_str(&json).expect("loads");
    for now in [1000, 100_000, 10_000_000] {
        assert!(state.tick(now, &WITH_SECONDARIES).is_empty());
        assert_eq!(state.phase(now), Phase::Staged);
        assert!(!state.is_ready(now));
    }
    // The secondary comes back at 10_000_000: the wait starts then.
    let events = state.propagated(10_000_000, &WITH_SECONDARIES);
    assert_eq!(
        described(&events),
        ["propagated B at 10000000 ready 10000660"]
    );
}

#[test]
fn rfc7671_s8_1_deploying_a_key_not_yet_on_the_secondaries_is_an_early_switch() {
    // The key was never served by every secondary: switching to it is early by a full wait.
    let mut state = BindingState::default();
    state.observe(0, &see("A", None), &WITH_SECONDARIES);
    state.observe(100, &see("A", Some("B")), &WITH_SECONDARIES);
    state.published_in(7);
    let events = state.observe(5000, &see("B", None), &WITH_SECONDARIES);
    assert_eq!(
        described(&events),
        ["switched A>B hold 5600", "early-switch B by 660"]
    );
}

#[test]
fn state_without_the_awaiting_field_reads_as_not_awaiting() {
    // State files written before propagation awareness have no "awaiting": their staged keys
    // keep the wait they had.
    let mut state = BindingState::default();
    state.observe(0, &see("A", None), &TIMING);
    state.observe(100, &see("A", Some("B")), &TIMING);
    let json = serde_json::to_string(&state).expect("serialises");
    assert!(!json.contains("awaiting"), "{json}");
    let loaded: BindingState = serde_json::from_str(&json).expect("loads");
    assert_eq!(loaded.ready_at(), Some(760));
}

/// The outage of issue 9, in the state machine: the files switched to the staged key B, but
/// the server still presents A. A's record must outlive its hold-down until the probe sees B,
/// and then leave at once; a withdrawn next key is not held.
#[test]
fn a_replaced_key_stays_while_a_server_presents_it() {
    let held = Timing {
        hold_replaced: true,
        ..TIMING
    };
    let mut state = BindingState::default();
    state.observe(0, &see("A", Some("B")), &TIMING);
    state.tick(660, &TIMING);
    // B deployed to the files at 700: hold-down until 1300.
    let events = state.observe(700, &see("B", None), &held);
    assert_eq!(described(&events), ["switched A>B hold 1300"]);
    assert_eq!(state.next_deadline(false), Some(1300));
    // Past the hold-down, a server still presents A: A stays, the phase says switched, and
    // no timer is due for it (the next probe result ticks the binding).
    assert!(state.tick(5000, &held).is_empty());
    assert_eq!(
        state.next_deadline(true),
        None,
        "no timer while the probe holds A"
    );
    assert_eq!(published_labels(&state), ["A", "B"]);
    assert_eq!(state.phase(5000), Phase::Switched);
    assert_eq!(state.held(5000), [key("A")]);
    // The probe sees B everywhere: A goes.
    let events = state.tick(5001, &TIMING);
    assert_eq!(described(&events), ["retired A"]);
    assert_eq!(published_labels(&state), ["B"]);
    assert_eq!(state.phase(5001), Phase::Steady);
    assert!(state.held(5001).is_empty());

    // A next key withdrawn from its file is not a key any server used: never held.
    let mut state = BindingState::default();
    state.observe(0, &see("A", Some("B")), &TIMING);
    state.observe(100, &see("A", None), &held);
    assert_eq!(described(&state.tick(700, &held)), ["retired B"]);
}

/// A state file written before the probe existed reads with nothing held, and one written
/// with a held record keeps it.
#[test]
fn replaced_flag_round_trips_through_the_state_file() {
    let mut state = BindingState::default();
    state.observe(0, &see("A", Some("B")), &TIMING);
    state.observe(700, &see("B", None), &TIMING);
    let json = serde_json::to_string(&state).expect("serialise");
    assert!(json.contains("\"replaced\":true"), "{json}");
    let back: BindingState = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, state);
    let old = json.replace(",\"replaced\":true", "");
    let back: BindingState = serde_json::from_str(&old).expect("parse old form");
    assert!(back.held(1_000_000).is_empty());
}

fn published_labels(state: &BindingState) -> Vec<&'static str> {
    let mut labels: Vec<_> = state.published().iter().map(label).collect();
    labels.sort_unstable();
    labels
}
