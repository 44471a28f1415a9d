//! What `daned status` reports: a serialisable snapshot of every zone and TLSA binding, built by
//! the manager on request.

use serde::{Deserialize, Serialize};

/// The whole daemon.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StatusReport {
    /// Every zone served.
    pub zones: Vec<ZoneStatus>,
}

/// One zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ZoneStatus {
    /// The zone apex.
    pub origin: String,
    /// The serial served now.
    pub serial: u32,
    /// The signing keys.
    pub keys: Vec<KeyStatus>,
    /// The earliest RRSIG expiration in the zone (seconds since the epoch).
    pub earliest_expiration: Option<u32>,
    /// When the next signature refresh is due (seconds since the epoch).
    pub next_refresh: Option<u32>,
    /// The TLSA bindings of the zone.
    pub bindings: Vec<BindingStatus>,
    /// The last reload error, if the last reload failed (the previous version is served).
    pub last_error: Option<String>,
    /// Certificate or next-key files found unusable since start (each new problem once).
    #[serde(default)]
    pub certificate_errors: u64,
    /// Key changes that were not staged first, since start.
    #[serde(default)]
    pub unsafe_switches: u64,
    /// Reloads or updates that failed since start (the previous version stayed).
    #[serde(default)]
    pub failed_updates: u64,
    /// New versions refused by the check before serving since start (the previous version
    /// stayed).
    #[serde(default)]
    pub validation_failures: u64,
    /// Key or state files missing under the running daemon (it serves on; a restart would
    /// fail).
    #[serde(default)]
    pub storage_error: Option<String>,
    /// Seconds from now until the earliest RRSIG expiration (negative once past).
    #[serde(default)]
    pub signature_expiry_seconds: Option<i64>,
    /// The key lifecycle's next timed step.
    #[serde(default)]
    pub next_key_event: Option<KeyEvent>,
    /// Tags of the KSKs/CSKs whose DS is awaited at the parent (`daned ds-seen`).
    #[serde(default)]
    pub awaiting_ds: Vec<u16>,
    /// The configured secondaries and what they serve.
    #[serde(default)]
    pub secondaries: Vec<SecondaryStatus>,
    /// When every secondary served the current serial (or a newer one); for a zone without
    /// secondaries, when it was published. `None` while a secondary does not serve it.
    #[serde(default)]
    pub propagated_at: Option<u32>,
    /// Why the published TLSA records do not protect mail yet (RFC 7672 §2.2: a sender uses
    /// them only once they validate): the DS is not at the parent, a secondary lags. Empty
    /// when they do.
    #[serde(default)]
    pub unprotected: Vec<String>,
}

/// One secondary of a zone, as the SOA polls and NOTIFYs see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SecondaryStatus {
    /// Its configured address (`192.0.2.1:53`).
    pub address: String,
    /// The serial it served at the last successful poll.
    pub serial: Option<u32>,
    /// When that poll was (seconds since the epoch).
    pub seen_at: Option<u32>,
    /// Seconds since daned published a serial this secondary does not serve yet; 0 when it
    /// serves the newest.
    pub lag: u32,
    /// The last NOTIFY round: `serial 7 acknowledged` or `serial 7 unanswered`.
    pub last_notify: Option<String>,
    /// NOTIFY rounds that ended unanswered since start.
    #[serde(default)]
    pub notify_unanswered: u64,
    /// The last poll's error, cleared by the next answer.
    pub last_error: Option<String>,
}

/// A scheduled step of the key lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KeyEvent {
    /// When (seconds since the epoch).
    pub at: u32,
    /// The same, RFC 3339 UTC.
    pub at_utc: String,
    /// What happens: e.g. `key 12345 (zsk) active -> retired`.
    pub what: String,
}

/// What `daned keys ZONE` (and `ds-seen`, `key-rollover`) answer: one zone's keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KeysReport {
    /// The zone apex.
    pub zone: String,
    /// The serial served now (after the action, for `ds-seen` and `key-rollover`).
    pub serial: u32,
    /// Every key, removed ones included, in the order they were added.
    pub keys: Vec<KeyStatus>,
    /// The lifecycle's next timed step.
    pub next_key_event: Option<KeyEvent>,
    /// Tags whose DS is awaited at the parent.
    pub awaiting_ds: Vec<u16>,
}

/// One signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KeyStatus {
    /// Key tag.
    pub key_tag: u16,
    /// Algorithm name (`ecdsap256sha256`, ...).
    pub algorithm: String,
    /// `csk`, `ksk` or `zsk`.
    pub role: String,
    /// The key file.
    pub file: String,
    /// Lifecycle state: `pre-active`, `published`, `ready`, `active`, `retired`,
    /// `post-active` or `removed`.
    #[serde(default)]
    pub state: String,
    /// When it entered that state, RFC 3339 UTC.
    #[serde(default)]
    pub since: String,
    /// Its DS at the parent: `none`, `submitted`, `seen` or `withdrawn`.
    #[serde(default)]
    pub ds: String,
    /// When the DS state last changed, RFC 3339 UTC.
    #[serde(default)]
    pub ds_since: Option<String>,
}

/// `t` (seconds since the epoch) as RFC 3339 UTC: `2026-11-28T22:05:03Z`.
pub fn rfc3339(t: u32) -> String {
    rfc3339_i64(i64::from(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day) 12:34:56.
        assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
    }
}

/// One TLSA binding (a certificate and the owner names it serves).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BindingStatus {
    /// The binding's name from the config.
    pub name: String,
    /// The certificate file watched.
    pub certificate: String,
    /// The owner names (`_25._tcp.mail.example.com.`).
    pub owners: Vec<String>,
    /// Rollover state: `steady`, `staged`, `ready`, `switched` or `unsafe-switch`.
    pub state: String,
    /// The TLSA RDATA published now, in presentation format (`3 1 1 ab..`).
    pub records: Vec<String>,
    /// When a staged next key may be deployed (seconds since the epoch), if one is staged.
    pub ready_at: Option<u32>,
    /// Whether the staged next key may be deployed now.
    pub ready: bool,
    /// The last problem with the certificate or next-key file; the last good records stay
    /// published meanwhile.
    pub last_error: Option<String>,
    /// While a staged next key's wait has not started because a secondary does not serve it
    /// yet: `waiting for secondaries: 192.0.2.2:53 at serial 6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// Whether the servers behind the records are probed (`probe`).
    #[serde(default)]
    pub probing: bool,
    /// Each (address, port) the records cover and what it presented at the last probe.
    #[serde(default)]
    pub targets: Vec<TargetStatus>,
    /// Records kept past their hold-down because a target does not present the key in use
    /// yet (presentation format).
    #[serde(default)]
    pub held: Vec<String>,
    /// The certificate file's notAfter, RFC 3339 UTC.
    #[serde(default)]
    pub certificate_not_after: Option<String>,
    /// The same, seconds since the epoch (for the metrics; not in the JSON).
    #[serde(skip)]
    pub certificate_not_after_unix: Option<i64>,
    /// Each published record with its role in the rollover: the key in use, the staged next
    /// key, an old key in its hold-down (until when).
    #[serde(default)]
    pub roles: Vec<RecordRole>,
}

/// One published TLSA record and why it is published.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RecordRole {
    /// The RDATA in presentation format (`3 1 1 ab..`).
    pub record: String,
    /// `current` (the key in use), `next` (the staged next key) or `old` (a replaced key in
    /// its hold-down, or held for the probe).
    pub role: String,
    /// For `old`: when its hold-down ends (seconds since the epoch; `until` in RFC 3339 in
    /// the CLI's JSON, see `control::json_for_output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u32>,
}

/// Something that happened to a binding, as `daned reload` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BindingEvent {
    /// The binding (`NAME`, or `NAME@FILE` for a binding's second and later certificates).
    pub binding: String,
    /// `published`, `staged`, `propagated`, `ready`, `unstaged`, `switched`, `early-switch`,
    /// `unsafe-switch`, `retired`, or `error` (the certificate or next-key file is unusable).
    pub kind: String,
    /// In words, times in RFC 3339 UTC.
    pub text: String,
}

/// One probed (address, port) of a binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TargetStatus {
    /// `mail.example.com:25 (192.0.2.25:25, smtp)`.
    pub target: String,
    /// The host name (SNI).
    pub host: String,
    /// The TLSA port.
    pub port: u16,
    /// The address and port connected to.
    pub address: String,
    /// `smtp`, `imap`, `pop3` or `tls`.
    pub protocol: String,
    /// `current`, `next`, `old`, `mismatch`, `no-starttls`, `tls-error`, `unreachable`, or
    /// `not-probed` before the first probe.
    pub result: String,
    /// Why, for the failures and a mismatch.
    pub reason: Option<String>,
    /// SHA-256 of the presented end-entity key: the data of the `3 1 1` record it needs.
    pub presented: Option<String>,
    /// The presented certificate's notAfter, RFC 3339 UTC.
    pub presented_not_after: Option<String>,
    /// When it was last probed, RFC 3339 UTC.
    pub probed_at: Option<String>,
    /// When it last presented a key a published record matches, RFC 3339 UTC.
    pub last_good: Option<String>,
    /// `last_good` in seconds since the epoch (for the metrics; not in the JSON).
    #[serde(skip)]
    pub last_good_unix: Option<u32>,
    /// `presented_not_after` in seconds since the epoch (for the metrics; not in the JSON).
    #[serde(skip)]
    pub presented_not_after_unix: Option<i64>,
}

/// `t` (seconds since the epoch, possibly beyond 2106) as RFC 3339 UTC.
pub fn rfc3339_i64(t: i64) -> String {
    daned_sign::civil::rfc3339(t)
}
