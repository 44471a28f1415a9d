//! Prometheus metrics over HTTP (`server.metrics-listen`): `GET /metrics` answers the text
//! exposition format (version 0.0.4), built from the manager's [`StatusReport`] at each scrape.
//!
//! A deliberately small HTTP/1.1 responder: one request per connection, a bounded request
//! head, a read timeout; anything but `GET /metrics` is 404.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::events::manager::Command;
use crate::serve::counters::QUERIES;
use crate::status::StatusReport;

/// The longest request head read before the connection is dropped.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds the metrics address.
///
/// # Errors
///
/// The bind error.
pub async fn bind_metrics(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    Ok(listener)
}

/// Answers scrapes until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    commands: mpsc::Sender<Command>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_one(stream, commands.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

async fn serve_one(mut stream: TcpStream, commands: mpsc::Sender<Command>) {
    let mut head = Vec::with_capacity(512);
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    let request_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, body) = if method == Some(b"GET") && path == Some(b"/metrics") {
        let (reply, answer) = oneshot::channel();
        match commands.send(Command::Status { reply }).await {
            Ok(()) => match answer.await {
                Ok(report) => ("200 OK", render(&report) + &render_net()),
                Err(_) => ("503 Service Unavailable", "daned is stopping\n".to_string()),
            },
            Err(_) => ("503 Service Unavailable", "daned is stopping\n".to_string()),
        }
    } else {
        ("404 Not Found", "try GET /metrics\n".to_string())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // A client that went away is not our problem.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Appends the `daned_queries_total` (non-zero series) and
/// `daned_responses_truncated_total` families from the process-wide [`QUERIES`].
fn render_queries(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP daned_queries_total DNS requests answered since start, by transport, query type and response code.\n\
         # TYPE daned_queries_total counter"
    );
    for sample in QUERIES.samples() {
        let _ = writeln!(
            out,
            "daned_queries_total{{transport=\"{}\",qtype=\"{}\",rcode=\"{}\"}} {}",
            sample.transport, sample.qtype, sample.rcode, sample.count
        );
    }
    let _ = writeln!(
        out,
        "# HELP daned_responses_truncated_total Responses sent with TC=1 (too large for UDP, or slipped by the rate limit).\n\
         # TYPE daned_responses_truncated_total counter\n\
         daned_responses_truncated_total {}",
        QUERIES.truncated()
    );
}

/// The exposition text for a status report.
pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP daned_build_info The running build: version and git commit.\n\
         # TYPE daned_build_info gauge\n\
         daned_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        escape(env!("DANED_COMMIT_ID"))
    );
    render_queries(&mut out);
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let zone_label = |origin: &str| format!("zone=\"{}\"", escape(origin));
    let zones = &report.zones;
    family(
        "daned_zone_serial",
        "gauge",
        "SOA serial served.",
        zones
            .iter()
            .map(|z| (zone_label(&z.origin), z.serial.to_string()))
            .collect(),
    );
    family(
        "daned_zone_signature_expiry_timestamp_seconds",
        "gauge",
        "Earliest RRSIG expiration in the zone (Unix time).",
        zones
            .iter()
            .filter_map(|z| {
                z.earliest_expiration
                    .map(|e| (zone_label(&z.origin), e.to_string()))
            })
            .collect(),
    );
    family(
        "daned_zone_signature_expiry_seconds",
        "gauge",
        "Seconds until the earliest RRSIG expiration in the zone.",
        zones
            .iter()
            .filter_map(|z| {
                z.signature_expiry_seconds
                    .map(|s| (zone_label(&z.origin), s.to_string()))
            })
            .collect(),
    );
    family(
        "daned_zone_keys",
        "gauge",
        "DNSSEC keys of the zone in each lifecycle state.",
        zones
            .iter()
            .flat_map(|z| {
                KEY_STATES.iter().map(move |state| {
                    let n = z.keys.iter().filter(|k| k.state == *state).count();
                    (
                        format!("{},state=\"{state}\"", zone_label(&z.origin)),
                        n.to_string(),
                    )
                })
            })
            .collect(),
    );
    family(
        "daned_zone_next_key_event_timestamp_seconds",
        "gauge",
        "When the key lifecycle's next timed step is due (Unix time).",
        zones
            .iter()
            .filter_map(|z| {
                z.next_key_event
                    .as_ref()
                    .map(|e| (zone_label(&z.origin), e.at.to_string()))
            })
            .collect(),
    );
    family(
        "daned_certificate_errors_total",
        "counter",
        "Certificate or next-key files found unusable (the last good records stayed).",
        zones
            .iter()
            .map(|z| (zone_label(&z.origin), z.certificate_errors.to_string()))
            .collect(),
    );
    family(
        "daned_tlsa_unsafe_switches_total",
        "counter",
        "Key changes published without being staged first (RFC 7671 section 8.1).",
        zones
            .iter()
            .map(|z| (zone_label(&z.origin), z.unsafe_switches.to_string()))
            .collect(),
    );
    family(
        "daned_failed_updates_total",
        "counter",
        "Reloads or updates that failed (the previous version stayed served).",
        zones
            .iter()
            .map(|z| (zone_label(&z.origin), z.failed_updates.to_string()))
            .collect(),
    );
    family(
        "daned_validation_failures_total",
        "counter",
        "New versions refused by the check before serving (the previous version stayed served).",
        zones
            .iter()
            .map(|z| (zone_label(&z.origin), z.validation_failures.to_string()))
            .collect(),
    );
    family(
        "daned_storage_error",
        "gauge",
        "1 when key or state files of the zone are missing under the running daemon.",
        zones
            .iter()
            .map(|z| {
                (
                    zone_label(&z.origin),
                    u8::from(z.storage_error.is_some()).to_string(),
                )
            })
            .collect(),
    );
    let bindings: Vec<_> = zones
        .iter()
        .flat_map(|z| {
            z.bindings.iter().map(move |b| {
                let mut label =
                    format!("{},binding=\"{}\"", zone_label(&z.origin), escape(&b.name));
                // A binding with several certificates has a row each: tell them apart.
                if z.bindings.iter().filter(|o| o.name == b.name).count() > 1 {
                    label.push_str(&format!(",certificate=\"{}\"", escape(&b.certificate)));
                }
                (label, b)
            })
        })
        .collect();
    family(
        "daned_tlsa_records",
        "gauge",
        "TLSA records a binding publishes now.",
        bindings
            .iter()
            .map(|(l, b)| (l.clone(), b.records.len().to_string()))
            .collect(),
    );
    family(
        "daned_tlsa_binding_error",
        "gauge",
        "1 when the binding's certificate or next-key file is unusable now.",
        bindings
            .iter()
            .map(|(l, b)| (l.clone(), u8::from(b.last_error.is_some()).to_string()))
            .collect(),
    );
    family(
        "daned_tlsa_next_key_ready",
        "gauge",
        "1 when the binding's staged next key may be deployed.",
        bindings
            .iter()
            .map(|(l, b)| (l.clone(), u8::from(b.ready).to_string()))
            .collect(),
    );
    family(
        "daned_tlsa_rollover_state",
        "gauge",
        "1 for the binding's rollover state (steady, staged, ready, switched, unsafe-switch).",
        bindings
            .iter()
            .flat_map(|(l, b)| {
                ["steady", "staged", "ready", "switched", "unsafe-switch"]
                    .into_iter()
                    .map(move |state| {
                        (
                            format!("{l},state=\"{state}\""),
                            u8::from(b.state == state).to_string(),
                        )
                    })
            })
            .collect(),
    );
    family(
        "daned_tlsa_certificate_not_after_timestamp_seconds",
        "gauge",
        "notAfter of the binding's certificate file (seconds since the epoch).",
        bindings
            .iter()
            .filter_map(|(l, b)| {
                b.certificate_not_after_unix
                    .map(|t| (l.clone(), t.to_string()))
            })
            .collect(),
    );
    family(
        "daned_tlsa_held_records",
        "gauge",
        "Records kept past their hold-down because a probed server does not present the key in use.",
        bindings
            .iter()
            .map(|(l, b)| (l.clone(), b.held.len().to_string()))
            .collect(),
    );
    family(
        "daned_tlsa_probe_mismatches",
        "gauge",
        "Probed targets that present a key no published TLSA record matches (DANE senders fail).",
        bindings
            .iter()
            .filter(|(_, b)| b.probing)
            .map(|(l, b)| {
                let n = b.targets.iter().filter(|t| t.result == "mismatch").count();
                (l.clone(), n.to_string())
            })
            .collect(),
    );
    let targets: Vec<_> = bindings
        .iter()
        .flat_map(|(l, b)| {
            b.targets
                .iter()
                .map(move |t| (format!("{l},target=\"{}\"", escape(&t.target)), t))
        })
        .collect();
    family(
        "daned_tlsa_probe_result",
        "gauge",
        "1 for what the target presented at the last probe: current, next, old, mismatch, no-starttls, tls-error, unreachable or not-probed.",
        targets
            .iter()
            .flat_map(|(l, t)| {
                crate::zone::tlsa::probe::verdict::Verdict::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .chain(["not-probed"])
                    .map(move |result| {
                        (
                            format!("{l},result=\"{result}\""),
                            u8::from(t.result == result).to_string(),
                        )
                    })
            })
            .collect(),
    );
    family(
        "daned_tlsa_probe_last_good_timestamp_seconds",
        "gauge",
        "When the target last presented a key a published record matches (seconds since the epoch).",
        targets
            .iter()
            .filter_map(|(l, t)| t.last_good_unix.map(|at| (l.clone(), at.to_string())))
            .collect(),
    );
    family(
        "daned_tlsa_presented_not_after_timestamp_seconds",
        "gauge",
        "notAfter of the certificate the target presented at the last probe (seconds since the epoch).",
        targets
            .iter()
            .filter_map(|(l, t)| {
                t.presented_not_after_unix
                    .map(|at| (l.clone(), at.to_string()))
            })
            .collect(),
    );
    family(
        "daned_zone_dane_protected",
        "gauge",
        "1 when the zone's TLSA records can protect mail: its DS is at the parent and no secondary lags past its warning.",
        zones
            .iter()
            .map(|z| {
                (
                    zone_label(&z.origin),
                    u8::from(z.unprotected.is_empty()).to_string(),
                )
            })
            .collect(),
    );
    let secondaries: Vec<_> = zones
        .iter()
        .flat_map(|z| {
            z.secondaries.iter().map(move |s| {
                let label = format!(
                    "{},secondary=\"{}\"",
                    zone_label(&z.origin),
                    escape(&s.address)
                );
                (label, s)
            })
        })
        .collect();
    family(
        "daned_secondary_serial",
        "gauge",
        "SOA serial the secondary served at the last poll.",
        secondaries
            .iter()
            .filter_map(|(l, s)| s.serial.map(|serial| (l.clone(), serial.to_string())))
            .collect(),
    );
    family(
        "daned_secondary_lag_seconds",
        "gauge",
        "Seconds since a serial the secondary does not serve yet was published (0: current).",
        secondaries
            .iter()
            .map(|(l, s)| (l.clone(), s.lag.to_string()))
            .collect(),
    );
    family(
        "daned_notify_unanswered_total",
        "counter",
        "NOTIFY rounds the secondary left unanswered after every retry.",
        secondaries
            .iter()
            .map(|(l, s)| (l.clone(), s.notify_unanswered.to_string()))
            .collect(),
    );
    out
}

/// The key lifecycle states, each a `daned_zone_keys` sample (0 included).
const KEY_STATES: [&str; 7] = [
    "pre-active",
    "published",
    "ready",
    "active",
    "retired",
    "post-active",
    "removed",
];

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The network side's counters: response rate limiting and the TCP connection caps.
#[derive(Debug, Clone)]
pub struct NetCounters {
    /// The rate limiter, when rate limiting is on.
    pub rrl: Option<std::sync::Arc<crate::serve::rrl::RateLimiter>>,
    /// The TCP connection caps.
    pub tcp: std::sync::Arc<crate::serve::tcp::ConnectionLimits>,
}

/// The counters of the running daemon, set once its sockets are served.
static NET_COUNTERS: std::sync::Mutex<Option<NetCounters>> = std::sync::Mutex::new(None);

/// Makes every scrape from now on include `counters`.
pub fn set_net_counters(counters: NetCounters) {
    *NET_COUNTERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(counters);
}

/// The exposition text of the network counters (empty before [`set_net_counters`]).
pub fn render_net() -> String {
    let counters = NET_COUNTERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    counters.map_or_else(String::new, |c| render_net_counters(&c))
}

fn render_net_counters(counters: &NetCounters) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    let (dropped, slipped) = counters
        .rrl
        .as_ref()
        .map_or((0, 0), |rrl| (rrl.dropped(), rrl.slipped()));
    family(
        "daned_rrl_dropped_total",
        "counter",
        "UDP responses dropped by response rate limiting.",
        dropped.to_string(),
    );
    family(
        "daned_rrl_slipped_total",
        "counter",
        "UDP responses replaced by an empty TC=1 answer by response rate limiting.",
        slipped.to_string(),
    );
    family(
        "daned_tcp_connections",
        "gauge",
        "TCP connections open.",
        counters.tcp.open().to_string(),
    );
    family(
        "daned_tcp_connections_max",
        "gauge",
        "TCP connections allowed at once (tcp-max-clients, after the descriptor reserve).",
        counters.tcp.max_total().to_string(),
    );
    family(
        "daned_tcp_refused_total",
        "counter",
        "TCP connections closed at once because a connection cap was reached.",
        counters.tcp.refused().to_string(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{BindingStatus, SecondaryStatus, ZoneStatus};

    fn report() -> StatusReport {
        StatusReport {
            zones: vec![ZoneStatus {
                origin: "example.com.".into(),
                serial: 7,
                keys: vec![crate::status::KeyStatus {
                    key_tag: 1,
                    algorithm: "ecdsap256sha256".into(),
                    role: "csk".into(),
                    file: "k".into(),
                    state: "active".into(),
                    since: "1970-01-01T00:00:00Z".into(),
                    ds: "seen".into(),
                    ds_since: None,
                }],
                earliest_expiration: Some(1_900_000_000),
                next_refresh: None,
                bindings: vec![BindingStatus {
                    name: "mail\"x".into(),
                    certificate: "/c.pem".into(),
                    owners: vec![],
                    state: "staged".into(),
                    records: vec!["3 1 1 aa".into(), "3 1 1 bb".into()],
                    ready_at: Some(5),
                    ready: true,
                    last_error: Some("bad".into()),
                    waiting: None,
                    ..Default::default()
                }],
                last_error: None,
                certificate_errors: 3,
                unsafe_switches: 1,
                failed_updates: 0,
                validation_failures: 0,
                storage_error: None,
                signature_expiry_seconds: Some(86_400),
                next_key_event: Some(crate::status::KeyEvent {
                    at: 1_800_000_000,
                    at_utc: crate::status::rfc3339(1_800_000_000),
                    what: "key 1 (csk) active -> retired".into(),
                }),
                awaiting_ds: vec![],
                secondaries: vec![SecondaryStatus {
                    address: "192.0.2.2:53".into(),
                    serial: Some(6),
                    seen_at: Some(1_900_000_000),
                    lag: 42,
                    last_notify: Some("serial 7 unanswered".into()),
                    notify_unanswered: 2,
                    last_error: None,
                }],
                propagated_at: None,
                ..Default::default()
            }],
        }
    }

    #[test]
    fn exposition_has_every_family_with_labels_escaped() {
        let text = render(&report());
        for line in [
            "daned_zone_serial{zone=\"example.com.\"} 7",
            "daned_certificate_errors_total{zone=\"example.com.\"} 3",
            "daned_tlsa_unsafe_switches_total{zone=\"example.com.\"} 1",
            "daned_tlsa_records{zone=\"example.com.\",binding=\"mail\\\"x\"} 2",
            "daned_tlsa_binding_error{zone=\"example.com.\",binding=\"mail\\\"x\"} 1",
            "daned_tlsa_next_key_ready{zone=\"example.com.\",binding=\"mail\\\"x\"} 1",
            "# TYPE daned_certificate_errors_total counter",
            "daned_zone_signature_expiry_seconds{zone=\"example.com.\"} 86400",
            "daned_zone_keys{zone=\"example.com.\",state=\"active\"} 1",
            "daned_zone_keys{zone=\"example.com.\",state=\"retired\"} 0",
            "daned_zone_next_key_event_timestamp_seconds{zone=\"example.com.\"} 1800000000",
            "daned_secondary_serial{zone=\"example.com.\",secondary=\"192.0.2.2:53\"} 6",
            "daned_secondary_lag_seconds{zone=\"example.com.\",secondary=\"192.0.2.2:53\"} 42",
            "daned_notify_unanswered_total{zone=\"example.com.\",secondary=\"192.0.2.2:53\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }

    /// Issue 9 item 7: per binding and target, the probe result, the last good probe, the
    /// presented certificate's expiry, and the rollover state; per zone whether the records
    /// protect mail (item 8). Two certificates of one binding are told apart by a label.
    #[test]
    fn probe_and_rollover_families() {
        let mut report = report();
        let zone = &mut report.zones[0];
        zone.unprotected = vec!["the zone's DS is not at the parent".into()];
        let target = crate::status::TargetStatus {
            target: "mail.example.com:25 (127.0.0.1:25, smtp)".into(),
            host: "mail.example.com.".into(),
            port: 25,
            address: "127.0.0.1:25".into(),
            protocol: "smtp".into(),
            result: "old".into(),
            reason: None,
            presented: Some("aa".into()),
            presented_not_after: Some("2027-01-01T00:00:00Z".into()),
            probed_at: Some("2026-12-07T00:00:00Z".into()),
            last_good: Some("2026-12-07T00:00:00Z".into()),
            last_good_unix: Some(1_796_601_600),
            presented_not_after_unix: Some(1_798_761_600),
        };
        let mut second = zone.bindings[0].clone();
        second.certificate = "/rsa.pem".into();
        second.state = "switched".into();
        second.probing = true;
        second.targets = vec![target];
        second.held = vec!["3 1 1 aa".into()];
        second.certificate_not_after_unix = Some(1_800_000_000);
        zone.bindings.push(second);
        let text = render(&report);
        let rsa = "zone=\"example.com.\",binding=\"mail\\\"x\",certificate=\"/rsa.pem\"";
        let target = format!("{rsa},target=\"mail.example.com:25 (127.0.0.1:25, smtp)\"");
        for line in [
            format!("daned_tlsa_rollover_state{{{rsa},state=\"switched\"}} 1"),
            format!("daned_tlsa_rollover_state{{{rsa},state=\"steady\"}} 0"),
            format!("daned_tlsa_held_records{{{rsa}}} 1"),
            format!("daned_tlsa_probe_mismatches{{{rsa}}} 0"),
            format!("daned_tlsa_certificate_not_after_timestamp_seconds{{{rsa}}} 1800000000"),
            format!("daned_tlsa_probe_result{{{target},result=\"old\"}} 1"),
            format!("daned_tlsa_probe_result{{{target},result=\"current\"}} 0"),
            format!("daned_tlsa_probe_result{{{target},result=\"not-probed\"}} 0"),
            format!("daned_tlsa_probe_last_good_timestamp_seconds{{{target}}} 1796601600"),
            format!("daned_tlsa_presented_not_after_timestamp_seconds{{{target}}} 1798761600"),
            "daned_zone_dane_protected{zone=\"example.com.\"} 0".to_owned(),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        // Every sample line is `name{labels} value` with a number for a value.
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[tokio::test]
    async fn scrape_over_http_and_404_elsewhere() {
        let listener = bind_metrics("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        // A fake manager answering Status.
        tokio::spawn(async move {
            while let Some(Command::Status { reply }) = rx.recv().await {
                let _ = reply.send(report());
            }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_metrics(listener, tx, async move {
            let _ = stopped.await;
        }));
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).await.unwrap();
            text
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(
            ok.contains("daned_zone_serial{zone=\"example.com.\"} 7"),
            "{ok}"
        );
        let missing = get("/").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        drop(stop);
        server.await.unwrap();
    }

    #[test]
    fn network_counters_are_rendered() {
        let limits = crate::config::NetLimits {
            rate_limit: 1,
            rate_limit_slip: 2,
            ..crate::config::NetLimits::default()
        };
        let rrl = std::sync::Arc::new(crate::serve::rrl::RateLimiter::new(&limits).expect("on"));
        let src = "192.0.2.1".parse().expect("ip");
        for _ in 0..5 {
            rrl.check(src, crate::serve::rrl::ResponseClass::Error, None);
        }
        let tcp = crate::serve::tcp::ConnectionLimits::new(10, 0);
        let _open = tcp.admit(src);
        let text = render_net_counters(&NetCounters {
            rrl: Some(rrl),
            tcp,
        });
        for line in [
            "daned_rrl_dropped_total 2",
            "daned_rrl_slipped_total 2",
            "daned_tcp_connections 1",
            "daned_tcp_connections_max 10",
            "daned_tcp_refused_total 0",
            "# TYPE daned_rrl_dropped_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }
}
