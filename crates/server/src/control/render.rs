//! What the CLI prints of the daemon's answers: the status, keys, reload and probe reports for
//! a human, `--json` output, and the exit statuses derived from them.

use std::io::{self, Write};

use serde::Serialize;

use crate::clock::{Clock, SystemClock};
use crate::control::protocol::{ReloadAnswer, ZoneReload};
use crate::events::manager::ReloadOutcome;
use crate::status::{BindingStatus, KeysReport, StatusReport, ZoneStatus};

/// Writes the status report for a human: per zone its serial, keys, signature horizon, last
/// error, and each binding's state, records and when its next key may be deployed. Times are
/// shown as UTC dates and relative to now.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_status(report: &StatusReport, out: &mut dyn Write) -> io::Result<()> {
    render_status_at(report, SystemClock.now(), out)
}

/// [`render_status`] with "now" given (seconds since the epoch), for reproducible output.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_status_at(report: &StatusReport, now: u32, out: &mut dyn Write) -> io::Result<()> {
    if report.zones.is_empty() {
        return writeln!(out, "no zones");
    }
    for (i, zone) in report.zones.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "zone {}", zone.origin)?;
        row(out, 2, "serial", &zone.serial.to_string())?;
        if zone.keys.is_empty() {
            row(out, 2, "keys", "none")?;
        }
        for (k, key) in zone.keys.iter().enumerate() {
            let label = if k == 0 { "keys" } else { "" };
            row(out, 2, label, &key_line(key))?;
        }
        if !zone.keys.is_empty() {
            render_key_outlook(
                &zone.origin,
                zone.next_key_event.as_ref(),
                &zone.awaiting_ds,
                now,
                out,
            )?;
        }
        row(
            out,
            2,
            "signed until",
            &zone
                .earliest_expiration
                .map_or_else(|| "-".to_owned(), |t| when(t, now)),
        )?;
        row(
            out,
            2,
            "next refresh",
            &zone
                .next_refresh
                .map_or_else(|| "-".to_owned(), |t| when(t, now)),
        )?;
        row(
            out,
            2,
            "last error",
            zone.last_error.as_deref().unwrap_or("-"),
        )?;
        if let Some(error) = &zone.storage_error {
            row(out, 2, "missing files", error)?;
        }
        render_secondaries(zone, now, out)?;
        for (i, reason) in zone.unprotected.iter().enumerate() {
            row(out, 2, if i == 0 { "NOT PROTECTING " } else { "" }, reason)?;
        }
        if zone.bindings.is_empty() {
            row(out, 2, "bindings", "none")?;
        }
        for binding in &zone.bindings {
            render_binding(binding, now, out)?;
        }
    }
    Ok(())
}

/// Writes one zone's keys for a human (`daned keys`): a table with each key's tag, algorithm,
/// role, state, since when, DS state and file, then the next scheduled key action.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_keys(report: &KeysReport, now: u32, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "zone {} serial {}", report.zone, report.serial)?;
    writeln!(
        out,
        "{:>5}  {:<16} {:<4} {:<11} {:<20} {:<10} file",
        "tag", "algorithm", "role", "state", "since", "ds"
    )?;
    for key in &report.keys {
        writeln!(
            out,
            "{:>5}  {:<16} {:<4} {:<11} {:<20} {:<10} {}",
            key.key_tag, key.algorithm, key.role, key.state, key.since, key.ds, key.file
        )?;
    }
    render_key_outlook(
        &report.zone,
        report.next_key_event.as_ref(),
        &report.awaiting_ds,
        now,
        out,
    )
}

/// `12345 ecdsap256sha256 csk active (file)`; the state is left out when unknown (an older
/// daemon).
fn key_line(key: &crate::status::KeyStatus) -> String {
    let state = if key.state.is_empty() {
        String::new()
    } else {
        format!(" {}", key.state)
    };
    format!(
        "{} {} {}{state} ({})",
        key.key_tag, key.algorithm, key.role, key.file
    )
}

fn render_key_outlook(
    zone: &str,
    next: Option<&crate::status::KeyEvent>,
    awaiting_ds: &[u16],
    now: u32,
    out: &mut dyn Write,
) -> io::Result<()> {
    let next = next.map_or_else(
        || "-".to_owned(),
        |e| format!("{}: {}", when(e.at, now), e.what),
    );
    row(out, 2, "next key step", &next)?;
    if !awaiting_ds.is_empty() {
        for (i, tag) in awaiting_ds.iter().enumerate() {
            row(
                out,
                2,
                if i == 0 { "awaiting DS" } else { "" },
                &format!("{tag} (once the parent serves it: daned ds-seen {zone} {tag})"),
            )?;
        }
    }
    Ok(())
}

/// Writes what a reload did, one line per zone: unchanged, changed (serials and record
/// counts), failed (with the serial still served and the error), added, not added or removed,
/// each with the zone's settings that changed; then the settings that need a restart.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_reload(answer: &ReloadAnswer, out: &mut dyn Write) -> io::Result<()> {
    render_reload_zones(&answer.zones, out)?;
    if !answer.restart_needed.is_empty() {
        writeln!(
            out,
            "warning: changed settings need a restart to take effect (the running values stay): {}",
            answer.restart_needed.join(", ")
        )?;
    }
    Ok(())
}

fn render_reload_zones(zones: &[ZoneReload], out: &mut dyn Write) -> io::Result<()> {
    if zones.is_empty() {
        return writeln!(out, "no zones");
    }
    let width = zones.iter().map(|z| z.zone.len()).max().unwrap_or(0);
    for z in zones {
        match &z.outcome {
            ReloadOutcome::Unchanged { serial } => {
                writeln!(out, "{:width$}  unchanged  serial {serial}", z.zone)?;
            }
            ReloadOutcome::Changed {
                from,
                to,
                removed,
                added,
            } => writeln!(
                out,
                "{:width$}  changed    serial {from} -> {to} ({removed} records removed, {added} added)",
                z.zone
            )?,
            ReloadOutcome::Failed { serial, error } => writeln!(
                out,
                "{:width$}  FAILED     serial {serial} still served: {error}",
                z.zone
            )?,
            ReloadOutcome::Added { serial } => {
                writeln!(out, "{:width$}  added      serial {serial}", z.zone)?;
            }
            ReloadOutcome::NotAdded { error } => writeln!(
                out,
                "{:width$}  FAILED     not added, not served: {error}",
                z.zone
            )?,
            ReloadOutcome::Removed { serial } => writeln!(
                out,
                "{:width$}  removed    no longer served (was serial {serial}; state and keys stay)",
                z.zone
            )?,
        }
        if !z.changed.is_empty() {
            writeln!(
                out,
                "{:width$}  settings changed: {}",
                "",
                z.changed.join(", ")
            )?;
        }
        for event in &z.events {
            let label = match event.kind.as_str() {
                "error" => "ERROR",
                "unsafe-switch" => "UNSAFE SWITCH",
                other => other,
            };
            writeln!(
                out,
                "{:width$}  binding {}: {label}: {}",
                "", event.binding, event.text
            )?;
        }
    }
    Ok(())
}

/// What `daned probe` found, as its exit status says it (documented in `daned probe --help`
/// and README.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeVerdict {
    /// Every target presents the key in use or the staged next key (exit 0).
    Good,
    /// A target could not be checked: unreachable, no STARTTLS, TLS error (exit 3).
    Unchecked,
    /// A target still presents a replaced key, whose record stays until it presents the new
    /// one (exit 4).
    Old,
    /// A target presents a key no published record matches (exit 1).
    Mismatch,
}

impl ProbeVerdict {
    /// The exit status of `daned probe`.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Good => 0,
            Self::Mismatch => 1,
            Self::Unchecked => 3,
            Self::Old => 4,
        }
    }
}

/// The worst result among the targets of `report`'s bindings.
pub fn probe_verdict(report: &StatusReport) -> ProbeVerdict {
    report
        .zones
        .iter()
        .flat_map(|z| &z.bindings)
        .flat_map(|b| &b.targets)
        .map(|t| match t.result.as_str() {
            "current" | "next" => ProbeVerdict::Good,
            "old" => ProbeVerdict::Old,
            "mismatch" => ProbeVerdict::Mismatch,
            _ => ProbeVerdict::Unchecked,
        })
        .max()
        .unwrap_or(ProbeVerdict::Good)
}

/// Prints one row per probed target: zone, binding, certificate, target, result and detail;
/// then, per zone, why its records do not protect mail yet.
///
/// # Errors
///
/// Only those of `out`.
pub fn render_probe(report: &StatusReport, out: &mut dyn Write) -> io::Result<()> {
    let mut rows = 0;
    for zone in &report.zones {
        for b in &zone.bindings {
            if !b.probing {
                writeln!(out, "{} {}: probe off (probe = false)", zone.origin, b.name)?;
                continue;
            }
            if b.targets.is_empty() {
                writeln!(
                    out,
                    "{} {}: no target (the host has no A/AAAA record in the zone; set probe-addresses)",
                    zone.origin, b.name
                )?;
            }
            for t in &b.targets {
                rows += 1;
                let detail = match t.result.as_str() {
                    "current" | "next" | "old" => format!(
                        "presents 3 1 1 {}{}",
                        t.presented.as_deref().unwrap_or("?"),
                        t.presented_not_after
                            .as_deref()
                            .map(|n| format!(", valid until {n}"))
                            .unwrap_or_default()
                    ),
                    _ => t.reason.clone().unwrap_or_default(),
                };
                writeln!(
                    out,
                    "{} {} {} {} {:<11} {detail}",
                    zone.origin, b.name, b.certificate, t.target, t.result
                )?;
            }
            if !b.held.is_empty() {
                writeln!(
                    out,
                    "{} {}: kept past its hold-down until every target presents the key in use: {}",
                    zone.origin,
                    b.name,
                    b.held.join(", ")
                )?;
            }
        }
        for reason in &zone.unprotected {
            writeln!(
                out,
                "{}: the published records do not protect mail yet: {reason}",
                zone.origin
            )?;
        }
    }
    if rows == 0 {
        writeln!(out, "no target probed")?;
    }
    Ok(())
}

/// Whether any zone's reload failed (for the CLI's exit status).
pub fn reload_failed(zones: &[ZoneReload]) -> bool {
    zones.iter().any(|z| z.outcome.failed())
}

/// The exit status of `daned reload`: 1 when the config or a zone failed (nothing changed
/// for it), 3 when a binding's certificate or next-key file is unusable (its last good records
/// stay), 4 when a key changed without being staged (an unsafe switch), else 0. The contrib
/// hooks pass these on, so certbot reports a failed deploy.
pub fn reload_exit_code(zones: &[ZoneReload]) -> u8 {
    let kinds = || {
        zones
            .iter()
            .flat_map(|z| &z.events)
            .map(|e| e.kind.as_str())
    };
    if reload_failed(zones) {
        1
    } else if kinds().any(|k| k == "error") {
        3
    } else if kinds().any(|k| k == "unsafe-switch") {
        4
    } else {
        0
    }
}

/// Formats seconds since the epoch in RFC 3339 UTC: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(t: u32) -> String {
    crate::status::rfc3339(t)
}

/// The JSON fields of the control protocol that carry seconds since the epoch. The CLI's
/// `--json` output ([`json_for_output`]) shows each as RFC 3339 UTC under its own name and
/// keeps the number as `NAME-unix`, for scripts that compute with it.
pub const EPOCH_FIELDS: [&str; 7] = [
    "until",
    "ready-at",
    "earliest-expiration",
    "next-refresh",
    "propagated-at",
    "seen-at",
    "at",
];

/// `value` as the CLI prints it with `--json`: every [`EPOCH_FIELDS`] number becomes an
/// RFC 3339 string, with the number kept as `NAME-unix`.
///
/// # Errors
///
/// When `value` cannot be represented as JSON (never for the control types).
pub fn json_for_output(value: &impl Serialize) -> serde_json::Result<serde_json::Value> {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for field in EPOCH_FIELDS {
                    let Some(epoch) = map.get(field).and_then(serde_json::Value::as_u64) else {
                        continue;
                    };
                    let text = u32::try_from(epoch).map_or_else(
                        |_| crate::status::rfc3339_i64(epoch as i64),
                        crate::status::rfc3339,
                    );
                    map.insert(format!("{field}-unix"), epoch.into());
                    map.insert(field.to_owned(), text.into());
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(value)?;
    walk(&mut value);
    Ok(value)
}

/// How far `t` is from `now`, for a human: `in 42m`, `3h 5m ago`, `now`.
pub fn format_relative(t: u32, now: u32) -> String {
    let delta = i64::from(t) - i64::from(now);
    if delta == 0 {
        return "now".to_owned();
    }
    let span = format_span(delta.unsigned_abs());
    if delta > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering helpers.

/// One `label  value` row of a status table; values start in column 16 at any indent.
fn row(out: &mut dyn Write, indent: usize, label: &str, value: &str) -> io::Result<()> {
    let width = 16usize.saturating_sub(indent);
    writeln!(out, "{:indent$}{label:<width$}{value}", "")
}

fn render_binding(b: &BindingStatus, now: u32, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "  binding {}", b.name)?;
    row(out, 4, "state", &b.state)?;
    row(out, 4, "certificate", &b.certificate)?;
    row(out, 4, "owners", &b.owners.join(" "))?;
    if b.records.is_empty() {
        row(out, 4, "records", "none")?;
    }
    // Each record with its role (from a daemon that reports them), else as published.
    let labelled: Vec<String> = if b.roles.is_empty() {
        b.records.clone()
    } else {
        b.roles
            .iter()
            .map(|r| match (r.role.as_str(), r.until) {
                ("old", Some(until)) => {
                    format!("old until {}  {}", when(until, now), r.record)
                }
                (role, _) => format!("{role:<8} {}", r.record),
            })
            .collect()
    };
    for (i, record) in labelled.iter().enumerate() {
        row(out, 4, if i == 0 { "records" } else { "" }, record)?;
    }
    let ready = match (b.ready_at, b.ready) {
        (None, _) if b.waiting.is_some() => format!("- ({})", b.waiting.as_deref().unwrap_or("")),
        (None, _) => "- (no next key staged)".to_owned(),
        (Some(t), true) => format!("{} (ready now)", when(t, now)),
        (Some(t), false) => when(t, now),
    };
    row(out, 4, "ready at", &ready)?;
    if !b.held.is_empty() {
        row(
            out,
            4,
            "held",
            &format!(
                "{} (kept past its hold-down: a target does not present the key in use)",
                b.held.join(", ")
            ),
        )?;
    }
    if !b.probing {
        row(out, 4, "probe", "off")?;
    } else if b.targets.is_empty() {
        row(
            out,
            4,
            "probe",
            "no target (no A/AAAA for the host; see probe-addresses)",
        )?;
    }
    for (i, t) in b.targets.iter().enumerate() {
        let detail = match t.result.as_str() {
            "mismatch" => format!(
                "MISMATCH: presents 3 1 1 {}, which no published record matches",
                t.presented.as_deref().unwrap_or("?")
            ),
            "not-probed" => "not probed yet".to_owned(),
            "current" | "next" | "old" => t.result.clone(),
            other => format!("{other}: {}", t.reason.as_deref().unwrap_or("")),
        };
        let at = t
            .probed_at
            .as_deref()
            .map(|at| format!(" (probed {at})"))
            .unwrap_or_default();
        row(
            out,
            4,
            if i == 0 { "probe" } else { "" },
            &format!("{} {detail}{at}", t.target),
        )?;
    }
    row(out, 4, "last error", b.last_error.as_deref().unwrap_or("-"))
}

/// One line per secondary: `secondary  192.0.2.2:53 serial 7 lag 0s notify serial 7
/// acknowledged`, plus its last poll error; and when every secondary served the serial.
fn render_secondaries(zone: &ZoneStatus, now: u32, out: &mut dyn Write) -> io::Result<()> {
    if zone.secondaries.is_empty() {
        return Ok(());
    }
    for (i, sec) in zone.secondaries.iter().enumerate() {
        let serial = sec
            .serial
            .map_or_else(|| "unknown".to_owned(), |s| s.to_string());
        let mut text = format!(
            "{} serial {serial} lag {} notify {}",
            sec.address,
            format_span(u64::from(sec.lag)),
            sec.last_notify.as_deref().unwrap_or("-"),
        );
        if let Some(error) = &sec.last_error {
            text.push_str(&format!(" error {error}"));
        }
        row(out, 2, if i == 0 { "secondaries" } else { "" }, &text)?;
    }
    row(
        out,
        2,
        "propagated",
        &zone.propagated_at.map_or_else(
            || "- (not every secondary serves this serial)".to_owned(),
            |t| when(t, now),
        ),
    )
}

/// `2024-06-15T13:00:00Z (in 42m)`.
fn when(t: u32, now: u32) -> String {
    format!("{} ({})", format_utc(t), format_relative(t, now))
}

/// A duration in the two largest units: `42s`, `5m`, `3h 5m`, `2d 4h`.
fn format_span(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}
