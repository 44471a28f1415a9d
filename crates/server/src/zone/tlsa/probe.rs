//! The TLS probe: connects to the servers a binding's TLSA records cover and records the
//! certificate chain each one presents, so that daned knows, instead of assuming, that what
//! mail servers present matches what it publishes.
//!
//! # Background
//!
//! The most common DANE outage is a certificate that changed on disk (or in DNS) but not in
//! the server: the renewal wrote the files and the SMTP server was never reloaded, one of two
//! MX hosts was forgotten, or only one of a server's RSA and ECDSA certificates is published.
//! A sending MTA then fails RFC 7672 §2.2 authentication and defers the mail. The probe speaks
//! the service's dialogue up to the TLS handshake ([`ProbeProtocol`]: SMTP STARTTLS per
//! RFC 3207, IMAP STARTTLS, POP3 STLS per RFC 2595, or TLS from the first byte), completes the
//! handshake with SNI set to the host name, and keeps the chain the server sent.
//!
//! The handshake's signature is verified (the server proves it holds the key of the
//! certificate it presented), but no PKIX path is built: DANE decides, and the chain is
//! matched against the published records by [`daned_sign::dane::chain_matches`]. A binding
//! with several certificates is probed once per key family, offering only that family's
//! signature schemes, so a server with an RSA and an ECDSA certificate shows each.
//!
//! Every step is bounded ([`Limits`]): connect, each line of the dialogue (length and count),
//! the handshake and the whole probe have time limits, and a chain longer than
//! [`Limits::max_chain`] certificates is refused while the handshake runs.
//!
//! # Limitations
//!
//! Only TCP services; no client certificate; the probe does not log in or send mail. An
//! IMAP or POP3 server that offers STARTTLS only after authentication is reported as
//! `no-starttls`.

mod dialogue;
mod tls;
pub(crate) mod verdict;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use daned_sign::dane::KeyFamily;
use daned_sign::hickory_proto::rr::Name;
use serde::Serialize;

pub(crate) use crate::config::ProbeProtocol;

/// One (address, port) a binding's records cover, and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Target {
    /// The host name: SNI, and the name the records are published under.
    #[serde(serialize_with = "serialize_name")]
    pub host: Name,
    /// The port of the TLSA owner name (`_25._tcp.HOST`).
    pub port: u16,
    /// The address and port connected to.
    pub connect: SocketAddr,
    /// The dialogue before the handshake.
    #[serde(serialize_with = "serialize_protocol")]
    pub protocol: ProbeProtocol,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.host.to_string();
        let host = host.strip_suffix('.').unwrap_or(&host);
        write!(
            f,
            "{host}:{} ({}, {})",
            self.port,
            self.connect,
            self.protocol.as_str()
        )
    }
}

fn serialize_name<S: serde::Serializer>(name: &Name, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&name.to_string())
}

fn serialize_protocol<S: serde::Serializer>(p: &ProbeProtocol, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.as_str())
}

/// What one probe of one target found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The handshake completed: the chain the server sent, end entity first (DER).
    Presented {
        /// The certificates.
        chain: Vec<Vec<u8>>,
    },
    /// The service answered but offered no STARTTLS (or refused it).
    NoStarttls {
        /// What it said.
        reason: String,
    },
    /// The TLS handshake failed or the dialogue broke off.
    TlsError {
        /// Why.
        reason: String,
    },
    /// No connection (refused, no route, timed out).
    Unreachable {
        /// Why.
        reason: String,
    },
}

/// The time and size bounds of one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// To establish the TCP connection.
    pub connect: Duration,
    /// For each line (or reply) of the dialogue before the handshake.
    pub read: Duration,
    /// For the TLS handshake.
    pub handshake: Duration,
    /// For the whole probe of one target.
    pub total: Duration,
    /// The longest line of the dialogue, in bytes.
    pub max_line: usize,
    /// The most lines one reply may have (an SMTP EHLO reply, IMAP untagged lines).
    pub max_lines: usize,
    /// The most certificates a chain may have.
    pub max_chain: usize,
}

impl Default for Limits {
    /// Generous enough for a slow MTA with a greeting delay (Postfix's postscreen waits
    /// 6 s by default), small enough that a stalled server costs little.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(20),
            handshake: Duration::from_secs(20),
            total: Duration::from_secs(60),
            max_line: 4096,
            max_lines: 100,
            max_chain: 16,
        }
    }
}

/// Probes `target`: connects, speaks its dialogue, completes a TLS handshake offering the
/// signature schemes of `family` (all of them when `None`) and returns the chain presented.
/// Never fails: every problem is an [`Outcome`], within [`Limits::total`].
pub(crate) async fn probe(target: &Target, family: Option<KeyFamily>, limits: &Limits) -> Outcome {
    match tokio::time::timeout(limits.total, probe_unbounded(target, family, limits)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::TlsError {
            reason: format!(
                "no result within {} s (the probe's total limit)",
                limits.total.as_secs()
            ),
        },
    }
}

async fn probe_unbounded(target: &Target, family: Option<KeyFamily>, limits: &Limits) -> Outcome {
    let stream = match tokio::time::timeout(
        limits.connect,
        tokio::net::TcpStream::connect(target.connect),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            return Outcome::Unreachable {
                reason: format!("connect to {}: {error}", target.connect),
            };
        }
        Err(_) => {
            return Outcome::Unreachable {
                reason: format!(
                    "connect to {}: no answer within {} s",
                    target.connect,
                    limits.connect.as_secs()
                ),
            };
        }
    };
    let mut conversation = dialogue::Dialogue::new(stream, limits);
    if let Err(stop) = conversation.start_tls(target.protocol).await {
        return stop;
    }
    let stream = match conversation.into_stream() {
        Ok(stream) => stream,
        Err(stop) => return stop,
    };
    tls::handshake(stream, target, family, limits).await
}

#[cfg(test)]
mod tests;
