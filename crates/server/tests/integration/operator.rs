//! What an operator reads (issue 13): the served zone, the daemon's answers in text and JSON.

use std::process::Command;

use crate::support::{Workspace, run, tool};

/// `daned dump` prints the zone the daemon serves: the SOA's RRSIG is the one a resolver
/// gets, where `--offline` signs anew (ECDSA signatures are randomised, so they differ).
#[test]
#[ignore = "needs dig"]
fn issue13_dump_prints_the_served_zone_and_offline_signs_anew() {
    let ws = Workspace::example();
    let server = ws.serve();
    let served = ws.daned(&["dump"]);
    assert!(served.status.success(), "{served:?}");
    let served = String::from_utf8(served.stdout).unwrap();
    let again = String::from_utf8(ws.daned(&["dump", "example.com."]).stdout).unwrap();
    assert_eq!(served, again, "two dumps of one snapshot differ");
    let soa_rrsig = |text: &str| {
        text.lines()
            .find(|l| l.contains("\tRRSIG\tSOA "))
            .map(|l| l.split_whitespace().last().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no SOA RRSIG in:\n{text}"))
    };
    let offline = String::from_utf8(ws.daned(&["dump", "--offline"]).stdout).unwrap();
    assert_ne!(soa_rrsig(&served), soa_rrsig(&offline));
    if let Some(dig) = tool("dig") {
        let (ok, text) = run(Command::new(dig)
            .args(["@127.0.0.1", "-p", &server.addr.port().to_string()])
            .args([
                "+dnssec",
                "+norecurse",
                "+nomultiline",
                "example.com",
                "SOA",
            ]));
        assert!(ok, "{text}");
        assert!(
            text.replace(' ', "").contains(&soa_rrsig(&served)),
            "the served RRSIG is not the dumped one:\n{text}\n{served}"
        );
    }
    let unknown = ws.daned(&["dump", "example.net."]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no zone example.net. is served"));
    server.stop();
}

/// The keys of `daned status --json` (and `wait-ready --json`) that hold a time: RFC 3339 UTC
/// strings (or null); the seconds since the epoch only under `NAME-unix`.
const TIME_KEYS: &[&str] = &[
    "ready-at",
    "earliest-expiration",
    "next-refresh",
    "propagated-at",
    "seen-at",
    "at",
    "at-utc",
    "until",
    "since",
    "ds-since",
    "certificate-not-after",
    "presented-not-after",
    "probed-at",
    "last-good",
];

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn is_rfc3339_utc(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Every time field in `value` is RFC 3339 UTC; returns how many were checked.
fn check_times(value: &serde_json::Value, path: &str) -> usize {
    let mut checked = 0;
    match value {
        serde_json::Value::Object(map) => {
            for (key, field) in map {
                let here = format!("{path}.{key}");
                if TIME_KEYS.contains(&key.as_str()) {
                    assert!(
                        field.is_null() || field.as_str().is_some_and(is_rfc3339_utc),
                        "{here} is not RFC 3339 UTC: {field}"
                    );
                    checked += usize::from(!field.is_null());
                } else if key.ends_with("-unix") {
                    assert!(
                        field.is_null() || field.is_u64() || field.is_i64(),
                        "{here}"
                    );
                } else {
                    assert!(
                        !(field.is_number()
                            && ["-at", "until", "since", "expiration", "refresh", "after"]
                                .iter()
                                .any(|end| key.ends_with(end))),
                        "{here} looks like a time but is a number: {field}"
                    );
                }
                checked += check_times(field, &here);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                checked += check_times(item, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
    checked
}

/// With a staged next key: `status --json` has every time in RFC 3339 UTC and each record's
/// role; `status` labels the records and prints the real `ds-seen` command; `wait-ready`
/// says on stderr what it waits for and how long is left while stdout keeps one JSON answer;
/// a stopped daemon is reported as such, with where the socket path came from.
#[test]
#[ignore = "needs openssl"]
fn issue13_status_json_times_are_rfc3339_and_text_says_what_it_means() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let ws = Workspace::example();
    crate::support::new_p256_key(&openssl, &ws.path("certs/next.pem"));
    let config = std::fs::read_to_string(ws.config()).unwrap() + "next-key = \"certs/next.pem\"\n";
    std::fs::write(ws.config(), config).unwrap();
    let server = ws.serve();

    let out = ws.daned(&["status", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checked = check_times(&status, "status");
    assert!(checked >= 5, "only {checked} time fields in:\n{status:#}");
    let zone = &status["zones"][0];
    assert!(zone["earliest-expiration-unix"].is_u64(), "{zone:#}");
    let roles: Vec<&str> = zone["bindings"][0]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["current", "next"], "{zone:#}");
    let tag = zone["keys"][0]["key-tag"].as_u64().unwrap();

    let text = String::from_utf8(ws.daned(&["status"]).stdout).unwrap();
    assert!(text.contains("    records     current  3 1 1 "), "{text}");
    assert!(text.contains("                next     3 1 1 "), "{text}");
    assert!(
        text.contains(&format!("daned ds-seen example.com. {tag})")),
        "{text}"
    );
    assert!(!text.contains("ZONE TAG"), "{text}");

    let waited = ws.daned(&["wait-ready", "mail", "--timeout", "2", "--json"]);
    assert!(!waited.status.success());
    let stdout = String::from_utf8(waited.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["reason"], "timeout", "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("binding mail is not ready within 2 s; it will be at 20"),
        "{answer}"
    );
    let stderr = String::from_utf8(waited.stderr).unwrap();
    assert!(
        stderr.starts_with("daned: waiting for binding mail: it will be at 20")
            && stderr.contains("Z (in ")
            && stderr.contains("s of the 2 s timeout left"),
        "{stderr}"
    );
    server.stop();

    let stopped = ws.daned(&["status"]);
    assert!(!stopped.status.success());
    let socket = ws.dir.path().join("state/daned.sock");
    assert_eq!(
        String::from_utf8(stopped.stderr).unwrap(),
        format!(
            "daned: error: daned is not running: nothing listens on the control socket {} \
             (No such file or directory (os error 2)); that path is state-dir/daned.sock (the \
             default) in {}. Start the daemon (`systemctl start daned` or `daned serve -c {}`), \
             or name its socket with --socket\n",
            socket.display(),
            ws.config().display(),
            ws.config().display(),
        )
    );
}

/// GET /metrics from `addr`: the body.
fn scrape(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The metrics parse with a Prometheus text-format parser, and count what operators alert
/// on: the build, queries by transport, type and code, truncated responses, the certificate's
/// notAfter.
#[test]
#[ignore = "needs dig"]
fn issue13_metrics_parse_as_prometheus_text_with_build_and_query_counts() {
    let Some(dig) = tool("dig") else { return };
    let ws = Workspace::example();
    let metrics_port = crate::support::free_port();
    let config = std::fs::read_to_string(ws.config()).unwrap().replace(
        "state-dir = \"state\"\n",
        &format!("state-dir = \"state\"\nmetrics-listen = \"127.0.0.1:{metrics_port}\"\n"),
    );
    std::fs::write(ws.config(), config).unwrap();
    // An RRset larger than 512 octets, for a truncated UDP answer.
    let zone = ws.path("example.com.zone");
    let mut text = std::fs::read_to_string(&zone).unwrap();
    for i in 0..6 {
        text.push_str(&format!("big IN TXT \"{i}{}\"\n", "x".repeat(150)));
    }
    std::fs::write(&zone, text).unwrap();
    let server = ws.serve();
    let port = server.addr.port().to_string();
    for args in [
        &["+norecurse", "_25._tcp.mail.example.com", "TLSA"][..],
        &["+norecurse", "+tcp", "example.com", "SOA"],
        &["+norecurse", "example.net", "A"],
        // Six 150-octet TXT records do not fit 512 octets: truncated over UDP.
        &[
            "+norecurse",
            "+bufsize=512",
            "+ignore",
            "big.example.com",
            "TXT",
        ],
    ] {
        let (ok, text) = run(Command::new(&dig)
            .args(["@127.0.0.1", "-p", &port, "+time=2", "+tries=1"])
            .args(args));
        assert!(ok, "dig {args:?}: {text}");
    }
    let body = scrape(([127, 0, 0, 1], metrics_port).into());
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{body}"));
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    let build = scrape
        .samples
        .iter()
        .find(|s| s.metric == "daned_build_info")
        .unwrap_or_else(|| panic!("no daned_build_info:\n{body}"));
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(build.labels.get("commit").is_some_and(|c| !c.is_empty()));
    let queries = |transport, qtype, rcode| {
        value(
            "daned_queries_total",
            &[("transport", transport), ("qtype", qtype), ("rcode", rcode)],
        )
        .unwrap_or(0.0)
    };
    assert!(queries("udp", "TLSA", "NOERROR") >= 1.0, "{body}");
    assert!(queries("tcp", "SOA", "NOERROR") >= 1.0, "{body}");
    assert!(queries("udp", "A", "REFUSED") >= 1.0, "{body}");
    assert!(
        value("daned_responses_truncated_total", &[]).unwrap_or(0.0) >= 1.0,
        "{body}"
    );
    assert!(
        value(
            "daned_tlsa_certificate_not_after_timestamp_seconds",
            &[("binding", "mail")]
        )
        .is_some_and(|t| t > 1.7e9),
        "{body}"
    );
    assert_eq!(
        value("daned_zone_dane_protected", &[("zone", "example.com.")]),
        Some(0.0),
        "{body}"
    );
    server.stop();
}

/// `daned ds --dnskey` prints the key the DS is made from, and BIND's `dnssec-dsfromkey`
/// derives from it the DS that `daned ds --digest sha256|sha384` prints (RFC 4509, RFC 6605).
#[test]
#[ignore = "needs dnssec-dsfromkey"]
fn issue13_ds_digests_and_dnskey_agree_with_dnssec_dsfromkey() {
    let Some(dsfromkey) = tool("dnssec-dsfromkey") else {
        return;
    };
    let ws = Workspace::example();
    ws.serve().stop();
    let out = |args: &[&str]| {
        let out = ws.daned(args);
        assert!(out.status.success(), "daned {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let dnskey = out(&["ds", "--dnskey"]);
    assert!(dnskey.contains("\tDNSKEY\t257 3 13 "), "{dnskey}");
    let file = ws.path("dnskey.txt");
    std::fs::write(&file, &dnskey).unwrap();
    let fields = |text: &str| -> Vec<String> {
        // `owner ttl IN DS tag alg digest-type digest` (the digest may be split): from the tag on.
        let text = text.to_uppercase();
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let at = tokens.iter().position(|t| *t == "DS").expect("a DS record") + 1;
        vec![
            tokens[at].to_owned(),
            tokens[at + 1].to_owned(),
            tokens[at + 2].to_owned(),
            tokens[at + 3..].concat(),
        ]
    };
    for (digest, flag, digest_type, hex_len) in
        [("sha256", "-2", "2", 64), ("sha384", "-a SHA-384", "4", 96)]
    {
        let ours = fields(&out(&["ds", "--digest", digest]));
        assert_eq!(ours[2], digest_type);
        assert_eq!(ours[3].len(), hex_len, "{ours:?}");
        let (ok, theirs) = run(Command::new(&dsfromkey)
            .args(flag.split(' '))
            .arg("-f")
            .arg(&file)
            .arg("example.com."));
        assert!(ok, "dnssec-dsfromkey: {theirs}");
        assert_eq!(ours, fields(&theirs), "{digest}");
    }
}
