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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The configured secondaries and what they serve.
    #[serde(default)]
    pub secondaries: Vec<SecondaryStatus>,
    /// When every secondary served the current serial (or a newer one); for a zone without
    /// secondaries, when it was published. `None` while a secondary does not serve it.
    #[serde(default)]
    pub propagated_at: Option<u32>,
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
}

/// One TLSA binding (a certificate and the owner names it serves).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}
