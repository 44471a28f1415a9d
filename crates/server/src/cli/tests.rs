//! Tests of the command-line glue: the error report and the time parsing of `wait-ready`.

use std::io;

use super::error_chain;
use super::wait_ready::parse_rfc3339_utc;

#[derive(Debug, thiserror::Error)]
#[error("connecting to /run/daned.sock: {source}")]
struct Outer {
    source: io::Error,
}

#[test]
fn rfc3339_utc_parses_back() {
    assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        parse_rfc3339_utc("2023-11-14T22:13:20Z"),
        Some(1_700_000_000)
    );
    assert_eq!(parse_rfc3339_utc("2023-11-14 22:13:20 UTC"), None);
}

#[test]
fn error_chain_prints_each_cause_once() {
    let inner = io::Error::new(io::ErrorKind::ConnectionRefused, "Connection refused");
    let error = anyhow::Error::new(Outer { source: inner });
    assert_eq!(
        error_chain(&error),
        "connecting to /run/daned.sock: Connection refused"
    );
    // A context that does not repeat its cause still shows it.
    let error = anyhow::Error::new(io::Error::other("disk full")).context("writing state");
    assert_eq!(error_chain(&error), "writing state: disk full");
}
