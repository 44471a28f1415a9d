//! The control socket: a Unix-domain stream socket over which `daned reload`, `daned status`
//! and `daned wait-ready` talk to the running daemon.
//!
//! The protocol is one JSON object per line in each direction. Requests:
//!
//! ```text
//! {"command":"reload"}
//! {"command":"status"}
//! {"command":"wait-ready","binding":"mail","zone":"example.com.","timeout-secs":600}
//! {"command":"keys","zone":"example.com."}
//! {"command":"ds-seen","zone":"example.com.","key-tag":12345}
//! {"command":"key-rollover","zone":"example.com.","role":"zsk"}
//! ```
//!
//! (`zone` may be left out when the binding name is unique; `timeout-secs` defaults to 0, a
//! single check.) Every response carries `"ok"`, and then exactly one of `"reload"`,
//! `"status"`, `"ready"`, `"keys"` (for the three key commands: the zone's keys once the
//! re-signed zone is served), or an `"error"` message with a machine-readable `"reason"`:
//!
//! ```text
//! {"ok":true,"reload":[{"zone":"example.com.","outcome":"changed","from":1,"to":2,"removed":4,"added":4,"changed":["signing.denial"]}],"restart-needed":["listen"]}
//! {"ok":false,"reason":"config-invalid","error":"/etc/daned/daned.toml: line 12: ..."}
//! {"ok":true,"status":{"zones":[...]}}
//! {"ok":true,"ready":{"zone":"example.com.","binding":"mail","state":"ready","ready-at":1700000000}}
//! {"ok":false,"reason":"timeout","error":"binding mail in example.com. is not ready ..."}
//! ```
//!
//! A connection may carry several requests in turn. A malformed request gets `ok:false` and the
//! connection stays usable; a line longer than [`MAX_REQUEST_LINE`] gets `ok:false` and the
//! connection is closed; a client that sends nothing for the idle timeout is dropped.
//!
//! The parts, none importing another in a circle:
//!
//! - `protocol`: the [`Request`] and [`Response`] types and their JSON form;
//! - `server`: the half inside the daemon ([`serve_control`]), which forwards requests to the
//!   manager as [`Command`](crate::events::manager::Command)s;
//! - `client`: the half the CLI calls ([`request`]);
//! - `render`: what the CLI prints of the answers ([`render_status`], [`render_reload`], ...)
//!   and the exit statuses derived from them;
//! - `error`: [`ControlError`], the errors of either half.

mod client;
mod error;
mod protocol;
mod render;
mod server;

pub use client::request;
pub use error::ControlError;
pub use protocol::{
    ErrorReason, MAX_REQUEST_LINE, MAX_WAIT, Ready, ReloadAnswer, Request, Response, ZoneReload,
};
pub use render::{
    EPOCH_FIELDS, ProbeVerdict, format_relative, format_utc, json_for_output, probe_verdict,
    reload_exit_code, reload_failed, render_keys, render_probe, render_reload, render_status,
    render_status_at,
};
pub use server::{
    ControlListener, ControlOptions, DEFAULT_MODE, bind_control, serve_control, serve_control_with,
};

#[cfg(test)]
mod tests;
