//! The client half of the control socket, for the CLI: one blocking request and its response.

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::control::error::ControlError;
use crate::control::protocol::{MAX_WAIT, Request, Response};

/// Sends `req` to the daemon listening at `path` and waits for its response: at most
/// `timeout`, plus the request's own `timeout-secs` for `wait-ready`. A blocking call, for the
/// CLI.
///
/// A response with `"ok": false` is an `Ok(Response::Error { .. })`: the exchange worked.
///
/// # Errors
///
/// [`ControlError::Io`] when the socket cannot be reached (daemon not running),
/// [`ControlError::Timeout`], [`ControlError::Closed`] or [`ControlError::BadResponse`].
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let io_err = |context: &'static str| {
        move |source: io::Error| ControlError::Io {
            context,
            path: path.to_path_buf(),
            source,
        }
    };
    let total = match req {
        Request::WaitReady { timeout_secs, .. } => {
            timeout.saturating_add(Duration::from_secs(*timeout_secs).min(MAX_WAIT))
        }
        _ => timeout,
    };
    // None: so far ahead that it does not fit an Instant, that is no limit.
    let deadline = std::time::Instant::now().checked_add(total);
    let timed_out = || ControlError::Timeout {
        path: path.to_path_buf(),
        timeout: total,
    };

    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|source| {
        if matches!(
            source.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
        ) {
            ControlError::NotRunning {
                path: path.to_path_buf(),
                source,
            }
        } else {
            io_err("connecting to")(source)
        }
    })?;
    let mut line = serde_json::to_vec(req).map_err(|source| ControlError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    line.push(b'\n');
    stream
        .set_write_timeout(Some(timeout.max(Duration::from_millis(1))))
        .map_err(io_err("configuring"))?;
    stream.write_all(&line).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(),
        _ => io_err("writing to")(e),
    })?;

    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            return Err(timed_out());
        }
        stream
            .set_read_timeout(left)
            .map_err(io_err("configuring"))?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out());
            }
            Err(e) => return Err(io_err("reading from")(e)),
        };
        if n == 0 {
            if response.iter().all(u8::is_ascii_whitespace) {
                return Err(ControlError::Closed {
                    path: path.to_path_buf(),
                });
            }
            break;
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == b'\n') {
            response.extend_from_slice(&buf[..end]);
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    serde_json::from_slice(&response).map_err(|source| ControlError::BadResponse {
        path: path.to_path_buf(),
        source,
    })
}
