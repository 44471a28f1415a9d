//! The plain-text part of a probe: a service's greeting and its STARTTLS command, read line by
//! line within [`Limits`].

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Limits, Outcome, ProbeProtocol};

/// The name the probe gives in SMTP EHLO. RFC 5321 §4.1.1.1 asks for the client's domain; a
/// probe has none to speak of, and `.invalid` (RFC 2606) says so honestly.
const EHLO_NAME: &str = "daned-probe.invalid";

/// A connection before its TLS handshake.
pub(super) struct Dialogue<'l> {
    stream: TcpStream,
    limits: &'l Limits,
    /// Bytes read past the last line taken.
    buffered: Vec<u8>,
}

impl<'l> Dialogue<'l> {
    pub(super) fn new(stream: TcpStream, limits: &'l Limits) -> Self {
        Self {
            stream,
            limits,
            buffered: Vec::new(),
        }
    }

    /// Speaks `protocol` up to the point where the TLS handshake starts.
    pub(super) async fn start_tls(&mut self, protocol: ProbeProtocol) -> Result<(), Outcome> {
        match protocol {
            ProbeProtocol::Tls => Ok(()),
            ProbeProtocol::Smtp => self.smtp().await,
            ProbeProtocol::Imap => self.imap().await,
            ProbeProtocol::Pop3 => self.pop3().await,
        }
    }

    /// The socket, for the handshake. RFC 3207 §4.2 (and RFC 2595 §3.1): anything the server
    /// sent after its go-ahead and before the handshake is not part of the TLS session; a
    /// server that sends it is broken or attacked (command injection), so it is an error.
    pub(super) fn into_stream(self) -> Result<TcpStream, Outcome> {
        if self.buffered.is_empty() {
            Ok(self.stream)
        } else {
            Err(tls_error(format!(
                "{} bytes after the STARTTLS go-ahead, before the handshake",
                self.buffered.len()
            )))
        }
    }

    /// RFC 3207: greeting 220, EHLO, STARTTLS among the extensions, STARTTLS answered 220.
    async fn smtp(&mut self) -> Result<(), Outcome> {
        let (code, greeting) = self.smtp_reply().await?;
        if code != 220 {
            return Err(no_starttls(format!(
                "greeting {code} {}",
                excerpt(greeting.first().map_or("", String::as_str))
            )));
        }
        self.send(&format!("EHLO {EHLO_NAME}\r\n")).await?;
        let (code, lines) = self.smtp_reply().await?;
        if code != 250 {
            return Err(no_starttls(format!(
                "EHLO answered {code} {}",
                excerpt(lines.first().map_or("", String::as_str))
            )));
        }
        // The first line is the greeting; each later one names an extension.
        let offers = lines.iter().skip(1).any(|line| {
            line.split_ascii_whitespace()
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case("STARTTLS"))
        });
        if !offers {
            return Err(no_starttls(
                "STARTTLS is not among the EHLO extensions".into(),
            ));
        }
        self.send("STARTTLS\r\n").await?;
        let (code, lines) = self.smtp_reply().await?;
        if code != 220 {
            return Err(no_starttls(format!(
                "STARTTLS answered {code} {}",
                excerpt(lines.first().map_or("", String::as_str))
            )));
        }
        Ok(())
    }

    /// RFC 9051 §6.2.1: `* OK` greeting, then `a STARTTLS` answered `a OK`.
    async fn imap(&mut self) -> Result<(), Outcome> {
        let greeting = self.line().await?;
        if !greeting.starts_with("* OK") {
            return Err(no_starttls(format!("greeting {}", excerpt(&greeting))));
        }
        self.send("a STARTTLS\r\n").await?;
        for _ in 0..self.limits.max_lines {
            let line = self.line().await?;
            if line.starts_with("* ") {
                continue;
            }
            if line.starts_with("a OK") {
                return Ok(());
            }
            return Err(no_starttls(format!("STARTTLS answered {}", excerpt(&line))));
        }
        Err(tls_error(format!(
            "more than {} untagged lines after STARTTLS",
            self.limits.max_lines
        )))
    }

    /// RFC 2595 §4: `+OK` greeting, then `STLS` answered `+OK`.
    async fn pop3(&mut self) -> Result<(), Outcome> {
        let greeting = self.line().await?;
        if !greeting.starts_with("+OK") {
            return Err(no_starttls(format!("greeting {}", excerpt(&greeting))));
        }
        self.send("STLS\r\n").await?;
        let line = self.line().await?;
        if line.starts_with("+OK") {
            Ok(())
        } else {
            Err(no_starttls(format!("STLS answered {}", excerpt(&line))))
        }
    }

    /// One SMTP reply (RFC 5321 §4.2.1): lines `CODE-text` and a last `CODE text`, all with
    /// the same code. Returns the code and the texts.
    async fn smtp_reply(&mut self) -> Result<(u16, Vec<String>), Outcome> {
        let mut texts = Vec::new();
        for _ in 0..self.limits.max_lines {
            let line = self.line().await?;
            let bytes = line.as_bytes();
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|_| bytes.len() == 3 || matches!(bytes.get(3), Some(b' ' | b'-')))
                .ok_or_else(|| no_starttls(format!("not an SMTP reply: {}", excerpt(&line))))?;
            // At most `max_lines` texts: the loop is bounded by it.
            texts.push(line.get(4..).unwrap_or("").to_owned());
            if bytes.get(3) != Some(&b'-') {
                return Ok((code, texts));
            }
        }
        Err(tls_error(format!(
            "an SMTP reply of more than {} lines",
            self.limits.max_lines
        )))
    }

    /// One line, without its CRLF (or bare LF), read within the line limits.
    async fn line(&mut self) -> Result<String, Outcome> {
        loop {
            if let Some(end) = self.buffered.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buffered.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buffered.len() > self.limits.max_line {
                return Err(tls_error(format!(
                    "a line longer than {} bytes",
                    self.limits.max_line
                )));
            }
            let mut chunk = [0u8; 1024];
            let read = tokio::time::timeout(self.limits.read, self.stream.read(&mut chunk))
                .await
                .map_err(|_| {
                    tls_error(format!(
                        "the server sent nothing for {} s",
                        self.limits.read.as_secs()
                    ))
                })?
                .map_err(|e| tls_error(format!("reading: {e}")))?;
            if read == 0 {
                return Err(tls_error("the server closed the connection".into()));
            }
            self.buffered.extend_from_slice(&chunk[..read]);
        }
    }

    async fn send(&mut self, text: &str) -> Result<(), Outcome> {
        tokio::time::timeout(self.limits.read, self.stream.write_all(text.as_bytes()))
            .await
            .map_err(|_| tls_error("the server does not read what the probe sends".into()))?
            .map_err(|e| tls_error(format!("writing: {e}")))
    }
}

/// At most 80 characters of something a server said, for a reason.
fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX + 1)
        .collect();
    if clean.chars().count() > MAX {
        format!("{:?}...", clean.chars().take(MAX).collect::<String>())
    } else {
        format!("{clean:?}")
    }
}

fn no_starttls(reason: String) -> Outcome {
    Outcome::NoStarttls { reason }
}

fn tls_error(reason: String) -> Outcome {
    Outcome::TlsError { reason }
}
