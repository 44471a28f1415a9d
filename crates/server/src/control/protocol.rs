//! The protocol of the control socket: the [`Request`]s a client sends and the [`Response`]s
//! the daemon answers, one JSON object per line each (see the module above for examples).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::events::manager::ReloadOutcome;
use crate::status::{KeysReport, StatusReport};

/// The longest request line accepted, in bytes, not counting the newline.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// The longest `wait-ready` wait honoured; a larger `timeout-secs` is cut to this.
pub const MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);

/// A request from a client. Unknown fields of `wait-ready` are refused (a misspelt
/// `timeout_secs` must not silently mean "check once"); `reload` and `status` take none and
/// ignore any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "command",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum Request {
    /// Re-read the config file, then every zone file and certificate; answered once the new
    /// versions are served.
    Reload,
    /// Report every zone and binding.
    Status,
    /// Answer once the binding's staged next key may be deployed.
    WaitReady {
        /// The binding's name from the config.
        binding: String,
        /// The binding's zone; needed only when several zones have a binding of that name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
        /// How long to wait, in seconds (0: check once). Capped at [`MAX_WAIT`].
        #[serde(default)]
        timeout_secs: u64,
    },
    /// Report one zone's keys and the next scheduled key action.
    Keys {
        /// The zone apex.
        zone: String,
    },
    /// The DS of key `key_tag` is at the parent; answered once the zone is re-signed and served.
    DsSeen {
        /// The zone apex.
        zone: String,
        /// The key's tag.
        key_tag: u16,
    },
    /// Start a rollover of the zone's active `role` key (`csk`, `ksk` or `zsk`) now.
    KeyRollover {
        /// The zone apex.
        zone: String,
        /// `csk`, `ksk` or `zsk`.
        role: String,
    },
    /// The zones as served now (one snapshot), in master-file format.
    Dump {
        /// Only this zone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
    },
    /// Probe the servers behind the TLSA records now; answered with the status of the probed
    /// bindings once every probe finished.
    Probe {
        /// Only the bindings of this name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        binding: Option<String>,
        /// Only this zone's bindings.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
    },
}

/// A response to one [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "WireResponse", try_from = "WireResponse")]
#[non_exhaustive]
pub enum Response {
    /// What the reload did to each zone (`"reload"`), and the settings that need a restart
    /// (`"restart-needed"`).
    Reloaded(ReloadAnswer),
    /// The state of every zone and binding (`"status"`).
    Status(StatusReport),
    /// The binding is ready: its staged next key may be deployed (`"ready"`).
    Ready(Ready),
    /// One zone's keys (`"keys"`).
    Keys(KeysReport),
    /// The served zones in master-file format (`"dump"`).
    Dump(String),
    /// The request failed (`"ok": false`).
    Error {
        /// What kind of failure, for a caller that acts on it (exit codes).
        reason: ErrorReason,
        /// A message for a human.
        message: String,
    },
}

impl Response {
    /// Whether this is a success (`"ok": true`).
    pub fn is_ok(&self) -> bool {
        !matches!(self, Self::Error { .. })
    }

    pub(crate) fn error(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self::Error {
            reason,
            message: message.into(),
        }
    }
}

/// What one zone's reload did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneReload {
    /// The zone apex (`example.com.`).
    pub zone: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ReloadOutcome,
    /// The zone's settings that changed in the config file (`"changed"`, left out when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// The bindings' rollover events since the last reload and their unusable files
    /// (`"events"`, left out when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<crate::status::BindingEvent>,
}

/// What a reload did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadAnswer {
    /// Per zone: those of the config file, then those removed from it.
    pub zones: Vec<ZoneReload>,
    /// `[server]` settings changed in the file that only a restart applies (their running
    /// values stay).
    pub restart_needed: Vec<String>,
}

/// A binding found ready by `wait-ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Ready {
    /// The zone apex.
    pub zone: String,
    /// The binding's name.
    pub binding: String,
    /// Its rollover state (`ready`, ...).
    pub state: String,
    /// Since when the next key may be deployed (seconds since the epoch).
    pub ready_at: Option<u32>,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorReason {
    /// The request was not valid JSON, not a known command, or too long.
    BadRequest,
    /// No binding of that name (in that zone).
    UnknownBinding,
    /// Several zones have a binding of that name and no zone was given.
    AmbiguousBinding,
    /// The binding has no next key staged, so it will never become ready by waiting.
    NotStaged,
    /// The binding did not become ready within the timeout.
    Timeout,
    /// The daemon's zone manager is not answering (shutting down).
    Unavailable,
    /// The client sent nothing for the idle timeout.
    Idle,
    /// A key command named a zone that is not served, or the key lifecycle refused it.
    KeyRefused,
    /// A reload found the config file unreadable or invalid; nothing changed.
    ConfigInvalid,
    /// A reason this client does not know (sent by a newer server).
    #[serde(other)]
    Other,
}

// ---------------------------------------------------------------------------------------------
// The wire form of a response.

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WireResponse {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<ErrorReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reload: Option<Vec<ZoneReload>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    restart_needed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<StatusReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ready: Option<Ready>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keys: Option<KeysReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dump: Option<String>,
}

impl From<Response> for WireResponse {
    fn from(response: Response) -> Self {
        let mut wire = Self {
            ok: response.is_ok(),
            reason: None,
            error: None,
            reload: None,
            restart_needed: Vec::new(),
            status: None,
            ready: None,
            keys: None,
            dump: None,
        };
        match response {
            Response::Keys(report) => wire.keys = Some(report),
            Response::Dump(text) => wire.dump = Some(text),
            Response::Reloaded(answer) => {
                wire.reload = Some(answer.zones);
                wire.restart_needed = answer.restart_needed;
            }
            Response::Status(report) => wire.status = Some(report),
            Response::Ready(ready) => wire.ready = Some(ready),
            Response::Error { reason, message } => {
                wire.reason = Some(reason);
                wire.error = Some(message);
            }
        }
        wire
    }
}

/// An `"ok": true` response that carries not exactly one answer.
#[derive(Debug, thiserror::Error)]
#[error("an ok response needs exactly one of reload, status, ready, keys, dump")]
pub(crate) struct NotOneAnswer;

impl TryFrom<WireResponse> for Response {
    type Error = NotOneAnswer;

    fn try_from(wire: WireResponse) -> Result<Self, NotOneAnswer> {
        match wire {
            WireResponse {
                ok: false,
                reason,
                error,
                ..
            } => Ok(Self::Error {
                reason: reason.unwrap_or(ErrorReason::Other),
                message: error.unwrap_or_else(|| "failed (no message)".to_owned()),
            }),
            WireResponse {
                reload: Some(zones),
                restart_needed,
                status: None,
                ready: None,
                keys: None,
                dump: None,
                ..
            } => Ok(Self::Reloaded(ReloadAnswer {
                zones,
                restart_needed,
            })),
            WireResponse {
                reload: None,
                status: Some(report),
                ready: None,
                keys: None,
                dump: None,
                ..
            } => Ok(Self::Status(report)),
            WireResponse {
                reload: None,
                status: None,
                ready: Some(ready),
                keys: None,
                dump: None,
                ..
            } => Ok(Self::Ready(ready)),
            WireResponse {
                reload: None,
                status: None,
                ready: None,
                keys: Some(keys),
                dump: None,
                ..
            } => Ok(Self::Keys(keys)),
            WireResponse {
                reload: None,
                status: None,
                ready: None,
                keys: None,
                dump: Some(text),
                ..
            } => Ok(Self::Dump(text)),
            _ => Err(NotOneAnswer),
        }
    }
}
