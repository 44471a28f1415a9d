//! The errors of the control socket, on either side (daemon and client).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Errors of the control socket, on either side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// Another process (another daned) is listening on the socket path.
    #[error("another daned is already listening on the control socket {}", path.display())]
    AlreadyRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// Something that is not a socket is in the way; it is left alone.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Nothing listens on the socket path (no such file, or a socket nobody accepts on): the
    /// daemon is not running, or runs with another control socket.
    #[error("daned is not running: nothing listens on the control socket {} ({source})", path.display())]
    NotRunning {
        /// The socket path.
        path: PathBuf,
        /// The cause (no such file, connection refused).
        source: io::Error,
    },
    /// An I/O operation on the socket path failed.
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being done ("binding", "connecting to", ...).
        context: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// No complete response came within the timeout.
    #[error("no response from the control socket {} within {timeout:?}", path.display())]
    Timeout {
        /// The socket path.
        path: PathBuf,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The daemon closed the connection without answering.
    #[error("the daemon closed the control connection {} without answering", path.display())]
    Closed {
        /// The socket path.
        path: PathBuf,
    },
    /// The request could not be encoded as JSON (never for the control types).
    #[error("cannot encode the request for the control socket {}: {source}", path.display())]
    Encode {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The response was not a valid response object.
    #[error("bad response on the control socket {}: {source}", path.display())]
    BadResponse {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        source: serde_json::Error,
    },
}
