//! Hidden primary: real secondaries (Knot, NSD, BIND) transfer zones from `daned` by AXFR with
//! TSIG and follow its NOTIFYs; transfers from unlisted peers, without the key or with a bad
//! one are refused; a large zone transfers completely.
//!
//! Every secondary runs in its own temporary directory on a free 127.0.0.1 port, is killed on
//! drop, and every wait is bounded.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Server, Workspace, free_port, now_secs, run, tool, tools_required};

/// The shared secret (base64 of "daned-secondaries-test-key-32byte").
const SECRET: &str = "ZGFuZWQtc2Vjb25kYXJpZXMtdGVzdC1rZXktMzJieXRl";
const KEY: &str = "xfr-key";
/// How long a NOTIFY-driven change may take to reach a secondary.
const PROPAGATION: Duration = Duration::from_secs(20);

/// A free UDP+TCP port on 127.0.0.1 (bound and released; the race with another process
/// taking it in between is accepted in tests).
/// The daned config: the example zone with `secondaries` and an allow-transfer entry for
/// 127.0.0.1 with the key (so `dig -y` may transfer).
fn write_config(ws: &Workspace, secondary_ports: &[u16], debounce_ms: u64) {
    let secondaries: String = secondary_ports
        .iter()
        .map(|port| {
            format!("[[zone.secondary]]\naddress = \"127.0.0.1:{port}\"\ntsig-key = \"{KEY}\"\n")
        })
        .collect();
    let text = format!(
        r#"version = "v1"
[server]
listen = ["127.0.0.1:0"]
key-dir = "keys"
state-dir = "state"
watch-debounce-ms = {debounce_ms}

[[tsig-key]]
name = "{KEY}"
algorithm = "hmac-sha256"
secret = "{SECRET}"

[[tsig-key]]
name = "other-key"
algorithm = "hmac-sha512"
secret-file = "other.key"

[[zone]]
origin = "example.com."
file = "example.com.zone"
allow-transfer = [{{ prefix = "127.0.0.0/8", tsig-key = "{KEY}" }}]
{secondaries}
[[zone.tlsa]]
name = "mail"
certificate = "certs/mail.pem"
host = "mail"
ports = [25]
ttl = "300"
probe = false
"#
    );
    std::fs::write(ws.path("other.key"), "b3RoZXIta2V5LXNlY3JldA==\n").unwrap();
    std::fs::write(ws.config(), text).unwrap();
}

fn dig(dig: &Path, server: &Server, args: &[&str]) -> String {
    let (_, text) = run(Command::new(dig)
        .arg(format!("@{}", server.addr.ip()))
        .args(["-p", &server.addr.port().to_string()])
        .args(["+time=5", "+tries=1"])
        .args(args));
    text
}

fn tsig_arg(secret: &str) -> String {
    format!("hmac-sha256:{KEY}:{secret}")
}

/// The records of a `dig axfr` (without comments), as lines.
fn axfr_records(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter(|l| l.split_whitespace().nth(3).is_none_or(|t| t != "TSIG"))
        .collect()
}

/// RFC 5936 §2.2 / RFC 8945: a signed AXFR from an allowed address gets the whole zone, SOA
/// first and last, every message's TSIG verified by dig; without the key, with a wrong secret,
/// an unknown key, over UDP, or for a zone we do not serve, it is refused.
#[test]
#[ignore = "needs dig"]
fn rfc5936_axfr_with_tsig_is_complete_and_everything_else_is_refused() {
    let Some(dig_bin) = tool("dig") else { return };
    let ws = Workspace::example();
    write_config(&ws, &[], 100);
    let server = ws.serve();

    let good = dig(
        &dig_bin,
        &server,
        &["-y", &tsig_arg(SECRET), "example.com.", "AXFR"],
    );
    let records = axfr_records(&good);
    assert!(records.len() > 20, "{good}");
    let first = records.first().expect("records");
    let last = records.last().expect("records");
    // RFC 5936 §2.2: "The first message MUST begin with the SOA resource record of the
    // zone, and the last message MUST conclude with the same SOA resource record."
    assert!(first.contains("\tSOA\t"), "{good}");
    assert_eq!(first, last, "{good}");
    for rtype in ["RRSIG", "NSEC", "DNSKEY", "TLSA", "NS"] {
        assert!(
            records.iter().any(|r| r.contains(&format!("\t{rtype}\t"))),
            "{rtype} missing:\n{good}"
        );
    }
    // dig verifies each message's TSIG and says so when one fails.
    assert!(!good.contains("tsig verify failure"), "{good}");
    assert!(!good.contains("Transfer failed"), "{good}");

    let unsigned = dig(&dig_bin, &server, &["example.com.", "AXFR"]);
    assert!(unsigned.contains("Transfer failed"), "{unsigned}");
    assert!(axfr_records(&unsigned).is_empty(), "{unsigned}");

    // A wrong secret: BADSIG (RFC 8945 §5.2.2), no records.
    let wrong = dig(
        &dig_bin,
        &server,
        &[
            "-y",
            &tsig_arg("d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="),
            "example.com.",
            "AXFR",
        ],
    );
    assert!(axfr_records(&wrong).is_empty(), "{wrong}");
    assert!(
        wrong.contains("BADSIG") || wrong.contains("tsig"),
        "{wrong}"
    );
    let soa = dig(
        &dig_bin,
        &server,
        &[
            "-y",
            &tsig_arg("d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="),
            "example.com.",
            "SOA",
        ],
    );
    assert!(
        soa.contains("status: NOTAUTH") && soa.contains("BADSIG"),
        "{soa}"
    );

    // An unknown key: BADKEY (§5.2.1).
    let unknown = dig(
        &dig_bin,
        &server,
        &[
            "-y",
            &format!("hmac-sha256:nokey:{SECRET}"),
            "example.com.",
            "SOA",
        ],
    );
    assert!(
        unknown.contains("NOTAUTH") || unknown.contains("BADKEY"),
        "{unknown}"
    );

    // The other configured key is valid but not the one the ACL asks for: REFUSED.
    let other = dig(
        &dig_bin,
        &server,
        &[
            "-y",
            "hmac-sha512:other-key:b3RoZXIta2V5LXNlY3JldA==",
            "example.com.",
            "AXFR",
        ],
    );
    assert!(axfr_records(&other).is_empty(), "{other}");
    assert!(
        other.contains("REFUSED") || other.contains("Transfer failed"),
        "{other}"
    );

    // A signed query gets a signed answer dig accepts.
    let signed_query = dig(
        &dig_bin,
        &server,
        &["-y", &tsig_arg(SECRET), "example.com.", "SOA"],
    );
    assert!(signed_query.contains("status: NOERROR"), "{signed_query}");
    assert!(
        !signed_query.contains("tsig verify failure"),
        "{signed_query}"
    );

    // IXFR over UDP from a serial daned has no differences for: the full answer does not fit
    // a datagram, so the current SOA alone tells the client to use TCP (RFC 1995 §2: "If the
    // UDP reply does not fit, the query is responded to with a single SOA record of the
    // server's current version to inform the client that a TCP query should be initiated.")
    let udp = dig(
        &dig_bin,
        &server,
        &["+notcp", "-y", &tsig_arg(SECRET), "example.com.", "IXFR=1"],
    );
    assert!(udp.contains("(UDP)"), "{udp}");
    let soas = axfr_records(&udp);
    assert_eq!(soas.len(), 1, "{udp}");
    assert!(soas[0].contains("\tSOA\t"), "{udp}");
    assert!(!udp.contains("tsig verify failure"), "{udp}");
    server.stop();
}

/// Only the listed prefix may transfer: 127.0.0.0/8 with a key is allowed above; here the
/// only entry is a documentation prefix, so even a signed request from 127.0.0.1 is refused.
#[test]
#[ignore = "needs dig"]
fn rfc5936_s6_transfer_from_an_unlisted_address_is_refused() {
    let Some(dig_bin) = tool("dig") else { return };
    let ws = Workspace::example();
    write_config(&ws, &[], 100);
    let text = std::fs::read_to_string(ws.config())
        .unwrap()
        .replace("prefix = \"127.0.0.0/8\"", "prefix = \"192.0.2.0/24\"");
    std::fs::write(ws.config(), text).unwrap();
    let server = ws.serve();
    let out = dig(
        &dig_bin,
        &server,
        &["-y", &tsig_arg(SECRET), "example.com.", "AXFR"],
    );
    assert!(axfr_records(&out).is_empty(), "{out}");
    assert!(
        out.contains("REFUSED") || out.contains("Transfer failed"),
        "{out}"
    );
    server.stop();
}

/// Appends `names` names to the workspace's zone file.
fn make_large(ws: &Workspace, names: usize) {
    let mut zone = std::fs::read_to_string(ws.path("example.com.zone")).unwrap();
    for i in 0..names {
        zone.push_str(&format!("host{i} IN A 192.0.2.{}\n", i % 250 + 1));
    }
    std::fs::write(ws.path("example.com.zone"), zone).unwrap();
}

/// A large zone (20 000 extra names) transfers completely in many messages, each signed.
#[test]
#[ignore = "needs dig"]
fn rfc5936_s2_2_large_zone_transfers_completely() {
    let Some(dig_bin) = tool("dig") else { return };
    let ws = Workspace::example();
    write_config(&ws, &[], 100);
    make_large(&ws, 20_000);
    let server = ws.serve();
    let out = dig(
        &dig_bin,
        &server,
        &["-y", &tsig_arg(SECRET), "example.com.", "AXFR"],
    );
    assert!(
        !out.contains("tsig verify failure"),
        "{}",
        &out[..out.len().min(2000)]
    );
    let records = axfr_records(&out);
    let a = records
        .iter()
        .filter(|r| r.contains("\tA\t") && r.starts_with("host"))
        .count();
    // Each host has A, RRSIG A, NSEC, RRSIG NSEC.
    let nsec = records
        .iter()
        .filter(|r| r.starts_with("host") && r.contains("\tNSEC\t"))
        .count();
    assert_eq!(a, 20_000);
    assert_eq!(nsec, 20_000);
    let messages = out
        .lines()
        .find(|l| l.contains("XFR size:"))
        .unwrap_or_default()
        .to_owned();
    assert!(messages.contains("messages"), "{messages}");
    // ";; XFR size: 80050 records (messages 435, bytes 6420470)"
    let n: usize = messages
        .split("(messages ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    assert!(n > 10, "{messages}");
    server.stop();
}

// ---- Real secondaries -------------------------------------------------------------------------

/// A secondary server process, killed on drop.
struct Secondary {
    child: Child,
    port: u16,
    name: &'static str,
}

impl Drop for Secondary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Secondary {
    fn query(&self, dig: &Path, qname: &str, qtype: &str) -> String {
        let (_, text) = run(Command::new(dig)
            .arg("@127.0.0.1")
            .args(["-p", &self.port.to_string()])
            .args(["+time=2", "+tries=1", "+short", "+norec"])
            .args([qname, qtype]));
        text
    }

    fn serial(&self, dig: &Path) -> Option<u32> {
        let soa = self.query(dig, "example.com.", "SOA");
        soa.split_whitespace().nth(2).and_then(|s| s.parse().ok())
    }

    /// Waits (bounded) until the secondary serves `serial` or later.
    fn wait_serial(&self, dig: &Path, serial: u32, timeout: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.serial(dig).is_some_and(|s| s >= serial) {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{} did not serve serial {serial} within {timeout:?} (serves {:?})",
            self.name,
            self.serial(dig)
        );
    }
}

fn spawn(name: &'static str, port: u16, cmd: &mut Command) -> Secondary {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    Secondary { child, port, name }
}

fn knot(dir: &Path, primary: u16, port: u16) -> Option<Secondary> {
    knot_with(dir, primary, port, "")
}

/// The example secret of docs/secondaries.md, replaced by [`SECRET`].
const DOC_SECRET: &str = "c2VjcmV0LWZyb20tZGFuZWQtdG9tbC0zMmJ5dGVzISE=";

/// The first fenced block after the heading `## {section}` of docs/secondaries.md: the
/// secondaries run the configurations the operator reads, so the doc cannot rot.
fn doc_config(section: &str) -> String {
    let doc = std::fs::read_to_string(crate::support::repo_root().join("docs/secondaries.md"))
        .expect("docs/secondaries.md");
    let heading = format!("\n## {section}\n");
    let rest = &doc[doc
        .find(&heading)
        .unwrap_or_else(|| panic!("no {heading:?}"))..];
    let fence = rest.find("\n```").expect("a fenced block") + 1;
    let body = &rest[fence..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    body[..body.find("\n```").expect("closing fence") + 1].to_owned()
}

/// `text` with `from` replaced by `to`; fails when the doc no longer has `from`.
fn substitute(text: String, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "docs/secondaries.md changed: {from:?} not in\n{text}"
    );
    text.replace(from, to)
}

/// Knot with `server_extra` (indented lines) added to its `server:` section.
fn knot_with(dir: &Path, primary: u16, port: u16, server_extra: &str) -> Option<Secondary> {
    let knotd = tool("knotd")?;
    std::fs::create_dir_all(dir).unwrap();
    let dir_text = dir.display().to_string();
    let mut conf = doc_config("Knot DNS");
    for (from, to) in [
        ("192.0.2.2@53", format!("127.0.0.1@{port}")),
        ("192.0.2.1@53", format!("127.0.0.1@{primary}")),
        ("address: 192.0.2.1\n", "address: 127.0.0.1\n".to_owned()),
        ("\"/var/lib/knot\"", format!("\"{dir_text}\"")),
        ("target: syslog", "target: stderr".to_owned()),
        (DOC_SECRET, SECRET.to_owned()),
        // Test only: its own run directory and database, and a transfer ACL for dig.
        (
            "server:\n",
            format!("server:\n    rundir: \"{dir_text}\"\n{server_extra}\n"),
        ),
        (
            "template:\n",
            format!(
                "  - id: transfer_out\n    address: 127.0.0.1\n    action: transfer\n\
                 database:\n    storage: \"{dir_text}\"\ntemplate:\n"
            ),
        ),
        (
            "acl: [notify_from_primary]",
            "acl: [notify_from_primary, transfer_out]".to_owned(),
        ),
    ] {
        conf = substitute(conf, from, &to);
    }
    let path = dir.join("knot.conf");
    std::fs::write(&path, conf).unwrap();
    Some(spawn(
        "knotd",
        port,
        Command::new(knotd).arg("-c").arg(&path),
    ))
}

fn nsd(dir: &Path, primary: u16, port: u16) -> Option<Secondary> {
    let nsd = tool("nsd")?;
    std::fs::create_dir_all(dir).unwrap();
    let dir_text = dir.display().to_string();
    let mut conf = doc_config("NSD");
    for (from, to) in [
        ("192.0.2.2@53", format!("127.0.0.1@{port}")),
        ("192.0.2.1@53", format!("127.0.0.1@{primary}")),
        (
            "allow-notify: 192.0.2.1 ",
            "allow-notify: 127.0.0.1 ".to_owned(),
        ),
        ("\"/var/lib/nsd\"", format!("\"{dir_text}\"")),
        (DOC_SECRET, SECRET.to_owned()),
        // Test only: no user switch, every file in the test's directory, no control socket.
        (
            "server:\n",
            format!(
                "server:\n    port: {port}\n    username: \"\"\n    database: \"\"\n\
                 \x20   pidfile: \"{dir_text}/nsd.pid\"\n    xfrdfile: \"{dir_text}/xfrd.state\"\n\
                 \x20   zonelistfile: \"{dir_text}/zone.list\"\n    xfrdir: \"{dir_text}\"\n\
                 \x20   logfile: \"{dir_text}/nsd.log\"\n    verbosity: 2\n"
            ),
        ),
    ] {
        conf = substitute(conf, from, &to);
    }
    conf.push_str("    provide-xfr: 127.0.0.1 NOKEY\nremote-control:\n    control-enable: no\n");
    let path = dir.join("nsd.conf");
    std::fs::write(&path, conf).unwrap();
    Some(spawn(
        "nsd",
        port,
        Command::new(nsd).arg("-d").arg("-c").arg(&path),
    ))
}

fn bind(dir: &Path, primary: u16, port: u16) -> Option<Secondary> {
    let named = tool("named")?;
    std::fs::create_dir_all(dir).unwrap();
    let dir_text = dir.display().to_string();
    let mut conf = doc_config("BIND");
    for (from, to) in [
        (
            "directory \"/var/cache/bind\";",
            format!(
                "directory \"{dir_text}\";\n    pid-file \"{dir_text}/named.pid\";\n    \
                 listen-on-v6 {{ none; }};"
            ),
        ),
        (
            "listen-on port 53 { 192.0.2.2; };",
            format!("listen-on port {port} {{ 127.0.0.1; }};"),
        ),
        ("server 192.0.2.1 {", "server 127.0.0.1 {".to_owned()),
        (
            "primaries port 53 { 192.0.2.1 key",
            format!("primaries port {primary} {{ 127.0.0.1 key"),
        ),
        (DOC_SECRET, SECRET.to_owned()),
    ] {
        conf = substitute(conf, from, &to);
    }
    let path = dir.join("named.conf");
    std::fs::write(&path, conf).unwrap();
    // named's log (stderr with -g) goes to `named.log`: tests read how it transferred.
    let log = std::fs::File::create(dir.join("named.log")).unwrap();
    let child = Command::new(named)
        .args(["-g", "-d", "3", "-c"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn named: {e}"));
    Some(Secondary {
        child,
        port,
        name: "named",
    })
}

/// A fresh EC P-256 certificate at `cert`, and the SHA-256 of its SPKI (lowercase hex).
fn new_certificate(openssl: &Path, dir: &Path, cert: &Path) -> String {
    let key = dir.join("new.key");
    let tmp = dir.join("new.pem");
    let (ok, text) = run(Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-subj",
            "/CN=mail.example.com",
            "-days",
            "30",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&tmp));
    assert!(ok, "{text}");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{o} x509 -in {c} -pubkey -noout | {o} pkey -pubin -outform DER | {o} dgst -sha256 -r",
            o = openssl.display(),
            c = tmp.display()
        ))
        .output()
        .expect("openssl");
    let digest = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(digest.len(), 64, "{digest}");
    // Rename into place: the watcher sees one complete file.
    std::fs::rename(&tmp, cert).unwrap();
    digest
}

/// The served SOA serial of daned.
fn daned_serial(dig_bin: &Path, server: &Server) -> u32 {
    let text = dig(dig_bin, server, &["+short", "example.com.", "SOA"]);
    text.split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SOA from daned: {text}"))
}

/// RFC 5936 + RFC 1996 + RFC 8945 with real secondaries: each loads the zone by AXFR with TSIG;
/// after a certificate rotation the new serial and TLSA reach each of them within seconds
/// (the SOA refresh is 2 h, so only NOTIFY explains it), and `delv` against each secondary
/// fully validates the new TLSA from daned's trust anchor.
#[test]
#[ignore = "needs delv, dig, knotd, named, nsd, openssl"]
fn rfc1996_secondaries_follow_notify_and_serve_validated_tlsa() {
    let (Some(dig_bin), Some(delv), Some(openssl)) = (tool("dig"), tool("delv"), tool("openssl"))
    else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    // The secondaries' ports are chosen first: daned's config names them.
    let ws = Workspace::example();
    type Starter = fn(&Path, u16, u16) -> Option<Secondary>;
    let kinds: [(&'static str, Starter); 3] = [("knot", knot), ("nsd", nsd), ("bind", bind)];
    let chosen: Vec<u16> = (0..kinds.len()).map(|_| free_port()).collect();
    write_config(&ws, &chosen, 100);
    let server = ws.serve();
    let anchors = ws.trust_anchor_file();

    let mut secondaries = Vec::new();
    for ((name, start), port) in kinds.iter().zip(&chosen) {
        if let Some(secondary) = start(&scratch.path().join(name), server.addr.port(), *port) {
            secondaries.push(secondary);
        }
    }
    assert!(!tools_required() || secondaries.len() == 3);
    let serial = daned_serial(&dig_bin, &server);
    for secondary in &secondaries {
        // The initial load is the secondary's own bootstrap. Knot retries a failed bootstrap
        // only after about 30 s, so a transient first failure on a loaded machine needs more
        // than that; what this test asserts strictly is the NOTIFY-driven update below.
        secondary.wait_serial(&dig_bin, serial, Duration::from_secs(90));
    }

    let digest = new_certificate(&openssl, scratch.path(), &ws.path("certs/mail.pem"));
    let deadline = Instant::now() + PROPAGATION;
    let new_serial = loop {
        let now = daned_serial(&dig_bin, &server);
        if now != serial {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "daned did not publish the new certificate"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for secondary in &secondaries {
        let took = secondary.wait_serial(&dig_bin, new_serial, PROPAGATION);
        eprintln!(
            "{} serves serial {new_serial} after {took:?}",
            secondary.name
        );
        let tlsa = secondary.query(&dig_bin, "_25._tcp.mail.example.com.", "TLSA");
        let flat: String = tlsa.split_whitespace().collect::<String>().to_lowercase();
        assert!(flat.contains(&digest), "{}: {tlsa}", secondary.name);
        let (_, text) = run(Command::new(&delv)
            .arg("@127.0.0.1")
            .args(["-p", &secondary.port.to_string()])
            .arg("-a")
            .arg(&anchors)
            .arg("+root=example.com.")
            .args(["+tcp", "+nomtrace"])
            .args(["_25._tcp.mail.example.com.", "TLSA"]));
        let flat: String = text.split_whitespace().collect::<String>().to_lowercase();
        assert!(
            text.contains("fully validated") && flat.contains(&digest),
            "{}: delv said:\n{text}",
            secondary.name
        );
    }
    // Propagation awareness: daned's own SOA polls see each secondary at the new serial, lag
    // 0, its NOTIFY acknowledged, and the serial propagated.
    let took = Instant::now();
    let zone = wait_status(&ws, PROPAGATION, |zone| {
        zone["propagated-at-unix"].is_u64()
            && secondaries.iter().all(|secondary| {
                secondary_status(zone, secondary.port).is_some_and(|s| {
                    s["serial"] == new_serial
                        && s["lag"] == 0
                        && s["last-notify"] == format!("serial {new_serial} acknowledged")
                        && s["last-error"].is_null()
                })
            })
    });
    eprintln!(
        "daned status shows every secondary at {new_serial} after {:?}: {}",
        took.elapsed(),
        zone["secondaries"]
    );
    drop(secondaries);
    server.stop();
}

/// The zone's entry in `daned status --json`.
fn zone_status(ws: &Workspace) -> serde_json::Value {
    let out = ws.daned(&["status", "--json"]);
    assert!(
        out.status.success(),
        "daned status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    report["zones"][0].clone()
}

/// The entry of the secondary on `port` in a zone's status.
fn secondary_status(zone: &serde_json::Value, port: u16) -> Option<&serde_json::Value> {
    let address = format!("127.0.0.1:{port}");
    zone["secondaries"]
        .as_array()?
        .iter()
        .find(|s| s["address"] == address.as_str())
}

/// Polls `daned status --json` (bounded) until `done` holds for the zone; returns that status.
fn wait_status(
    ws: &Workspace,
    timeout: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let zone = zone_status(ws);
        if done(&zone) {
            return zone;
        }
        assert!(
            start.elapsed() < timeout,
            "status not as expected within {timeout:?}:\n{zone:#}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// RFC 7671 §8.1 with a real secondary: the next key is published "at least two Times to Live
/// (TTLs) or longer before the new chain is deployed", and a resolver that asks a secondary
/// still serving the RRset without it cannot have seen it. With Knot stopped, the staged key
/// stays staged ("waiting for secondaries") however long; once Knot runs again and serves the
/// new serial, the key becomes ready 2×TTL + margin after that moment.
#[test]
#[ignore = "needs dig, knotd, openssl"]
fn rfc7671_s8_1_staged_key_waits_for_a_stopped_secondary() {
    const TTL: u64 = 2;
    const MARGIN: u64 = 1;
    let (Some(dig_bin), Some(openssl)) = (tool("dig"), tool("openssl")) else {
        return;
    };
    if tool("knotd").is_none() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::example();
    let port = free_port();
    write_config(&ws, &[port], 100);
    let text = std::fs::read_to_string(ws.config()).unwrap().replace(
        "ttl = \"300\"",
        &format!("ttl = {TTL}\nrollover-margin = {MARGIN}\nnext-key = \"certs/next.key\""),
    );
    std::fs::write(ws.config(), text).unwrap();
    let server = ws.serve();
    let knot_dir = scratch.path().join("knot");
    let start_knot = || knot(&knot_dir, server.addr.port(), port).expect("knotd");
    let secondary = start_knot();
    let serial = daned_serial(&dig_bin, &server);
    secondary.wait_serial(&dig_bin, serial, Duration::from_secs(90));
    drop(secondary);

    // Stage a next key while Knot is down.
    let tmp = scratch.path().join("next.key");
    let (ok, out) = run(Command::new(&openssl)
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&tmp));
    assert!(ok, "{out}");
    std::fs::rename(&tmp, ws.path("certs/next.key")).unwrap();
    let deadline = Instant::now() + PROPAGATION;
    while daned_serial(&dig_bin, &server) == serial {
        assert!(
            Instant::now() < deadline,
            "daned did not stage the next key"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let waiting = |zone: &serde_json::Value| {
        let b = &zone["bindings"][0];
        b["state"] == "staged"
            && b["ready-at"].is_null()
            && b["waiting"].as_str().is_some_and(|w| {
                w.contains("waiting for secondaries") && w.contains(&port.to_string())
            })
    };
    wait_status(&ws, Duration::from_secs(10), waiting);
    // Well past 2×TTL + margin: still staged, and wait-ready says no.
    std::thread::sleep(Duration::from_secs(2 * TTL + MARGIN + 2));
    let zone = zone_status(&ws);
    assert!(waiting(&zone), "{zone:#}");
    assert!(zone["propagated-at"].is_null(), "{zone:#}");
    let not_ready = ws.daned(&["wait-ready", "mail", "--timeout", "0"]);
    assert!(!not_ready.status.success());
    let said = String::from_utf8_lossy(&not_ready.stderr);
    assert!(said.contains("waiting for secondaries"), "{said}");

    // Knot comes back and transfers the new serial: ready 2×TTL + margin after daned saw it.
    let restarted = now_secs();
    let secondary = start_knot();
    let ready = ws.daned(&["wait-ready", "mail", "--timeout", "90"]);
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let zone = zone_status(&ws);
    let propagated = zone["propagated-at-unix"].as_u64().expect("propagated");
    let ready_at = zone["bindings"][0]["ready-at-unix"]
        .as_u64()
        .expect("ready-at");
    assert!(propagated >= restarted, "{zone:#}");
    assert_eq!(ready_at, propagated + 2 * TTL + MARGIN, "{zone:#}");
    assert!(now_secs() >= ready_at);
    eprintln!(
        "staged key ready {} s after Knot restarted",
        ready_at - restarted
    );
    drop(secondary);
    server.stop();
}

/// A zone of 100 000 names (the example zone plus `host0` .. `host99999`, 400 000 records
/// signed with NSEC) reaches real secondaries completely: Knot and NSD each load it by AXFR
/// with TSIG, and their own AXFR output equals daned's record for record (sorted, duplicates
/// kept).
#[test]
#[ignore = "needs dig, knotd, nsd"]
fn rfc5936_s2_2_100k_name_zone_reaches_knot_and_nsd_completely() {
    const NAMES: usize = 100_000;
    let Some(dig_bin) = tool("dig") else { return };
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::example();
    let ports = [free_port(), free_port()];
    write_config(&ws, &ports, 100);
    make_large(&ws, NAMES);
    let started = Instant::now();
    // Signing 100 000 names in a debug build on a busy 2-core machine takes about a minute.
    let server = ws.serve_within(Duration::from_secs(240));
    let signed_in = started.elapsed();
    let serial = daned_serial(&dig_bin, &server);

    let started = Instant::now();
    // Default client timeouts: daned sends each message as soon as it is cut (the first at
    // once), so Knot's 5 s tcp-remote-io-timeout and dig's default +time are enough.
    let secondaries: Vec<Secondary> = [
        knot(&scratch.path().join("knot"), server.addr.port(), ports[0]),
        nsd(&scratch.path().join("nsd"), server.addr.port(), ports[1]),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(!tools_required() || secondaries.len() == 2);
    for secondary in &secondaries {
        secondary.wait_serial(&dig_bin, serial, Duration::from_secs(120));
    }
    let transferred_in = started.elapsed();

    let started = Instant::now();
    let records = |text: &str| -> Vec<String> {
        let mut records: Vec<String> = axfr_records(text)
            .iter()
            .map(|r| {
                r.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            })
            .collect();
        records.sort_unstable();
        records
    };
    let (_, text) = run(Command::new(&dig_bin)
        .arg(format!("@{}", server.addr.ip()))
        .args(["-p", &server.addr.port().to_string(), "+tries=1"])
        .args(["-y", &tsig_arg(SECRET), "example.com.", "AXFR"]));
    assert!(
        !text.contains("tsig verify failure"),
        "{}",
        &text[..text.len().min(2000)]
    );
    let ours = records(&text);
    assert!(ours.len() > 4 * NAMES, "{}", ours.len());
    let hosts = ours
        .iter()
        .filter(|r| r.starts_with("host") && r.split(' ').nth(3) == Some("a"))
        .count();
    assert_eq!(hosts, NAMES);
    for secondary in &secondaries {
        let (_, text) = run(Command::new(&dig_bin)
            .arg("@127.0.0.1")
            .args(["-p", &secondary.port.to_string(), "+time=10", "+tries=1"])
            .args(["example.com.", "AXFR"]));
        let theirs = records(&text);
        assert_eq!(ours.len(), theirs.len(), "{}", secondary.name);
        if let Some((a, b)) = ours.iter().zip(&theirs).find(|(a, b)| a != b) {
            panic!(
                "{}: first difference: ours {a:?}, theirs {b:?}",
                secondary.name
            );
        }
    }
    eprintln!(
        "{NAMES} names: signed at start in {signed_in:?}, loaded by {} secondaries in \
         {transferred_in:?}, compared in {:?} ({} records)",
        secondaries.len(),
        started.elapsed(),
        ours.len()
    );
    drop(secondaries);
    server.stop();
}

/// RFC 1995 against the real binary: after a certificate rotation, `dig ixfr=OLD` with TSIG
/// gets the difference sequence (new SOA, old SOA, removed, new SOA, added, new SOA), and BIND,
/// which asks for IXFR by default, takes the change incrementally.
#[test]
#[ignore = "needs dig, named, openssl"]
fn rfc1995_ixfr_after_rotation_for_dig_and_bind() {
    let (Some(dig_bin), Some(openssl)) = (tool("dig"), tool("openssl")) else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::example();
    let port = free_port();
    write_config(&ws, &[port], 100);
    let server = ws.serve();
    let named_dir = scratch.path().join("bind");
    let named = bind(&named_dir, server.addr.port(), port);
    assert!(!tools_required() || named.is_some());
    let serial = daned_serial(&dig_bin, &server);
    if let Some(named) = &named {
        named.wait_serial(&dig_bin, serial, Duration::from_secs(60));
    }

    let digest = new_certificate(&openssl, scratch.path(), &ws.path("certs/mail.pem"));
    let deadline = Instant::now() + PROPAGATION;
    let new_serial = loop {
        let now = daned_serial(&dig_bin, &server);
        if now != serial {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "daned did not publish the new certificate"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    // RFC 1995 §4: "the first and the last RR of the response is the SOA record of the zone";
    // each difference sequence starts with the older SOA, then the newer SOA before the added
    // RRs.
    let ixfr = format!("IXFR={serial}");
    let out = dig(
        &dig_bin,
        &server,
        &["-y", &tsig_arg(SECRET), "example.com.", &ixfr],
    );
    assert!(!out.contains("tsig verify failure"), "{out}");
    let records = axfr_records(&out);
    let soa_serial = |line: &str| -> Option<u32> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(3) == Some(&"SOA")).then(|| fields.get(6).and_then(|s| s.parse().ok()))?
    };
    let soas: Vec<(usize, u32)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, l)| soa_serial(l).map(|s| (i, s)))
        .collect();
    assert_eq!(
        soas.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [new_serial, serial, new_serial, new_serial],
        "{out}"
    );
    assert_eq!(soas[0].0, 0, "{out}");
    assert_eq!(soas[3].0, records.len() - 1, "{out}");
    // Added: the new TLSA (published next to the old one, RFC 7671 §8.1) and its RRSIG;
    // removed: the old signatures of the TLSA RRset and the SOA.
    let removed = &records[soas[1].0..soas[2].0];
    let added = &records[soas[2].0..soas[3].0];
    let has_tlsa_with = |lines: &[&str], digest: &str| {
        lines.iter().any(|l| {
            l.contains("TLSA")
                && l.split_whitespace()
                    .collect::<String>()
                    .to_lowercase()
                    .contains(digest)
        })
    };
    assert!(has_tlsa_with(added, &digest), "{out}");
    assert!(!has_tlsa_with(removed, &digest), "{out}");
    assert!(
        removed
            .iter()
            .any(|l| l.contains("RRSIG") && l.contains("TLSA")),
        "{out}"
    );
    // Far less than the zone.
    let full = dig(
        &dig_bin,
        &server,
        &["-y", &tsig_arg(SECRET), "example.com.", "AXFR"],
    );
    assert!(records.len() < axfr_records(&full).len(), "{out}\n{full}");

    if let Some(named) = &named {
        named.wait_serial(&dig_bin, new_serial, PROPAGATION);
        let tlsa = named.query(&dig_bin, "_25._tcp.mail.example.com.", "TLSA");
        let flat: String = tlsa.split_whitespace().collect::<String>().to_lowercase();
        assert!(flat.contains(&digest), "named: {tlsa}");
        // named (at debug level 3) logs "requesting IXFR for serial N", then "got incremental
        // response" for an IXFR answer ("got nonincremental response" for an AXFR-style one).
        let log = std::fs::read_to_string(named_dir.join("named.log")).unwrap();
        let asked = format!("requesting IXFR for serial {serial}");
        let after = log
            .split_once(&asked)
            .map(|(_, after)| after)
            .unwrap_or_else(|| panic!("named did not ask for IXFR from {serial}:\n{log}"));
        let answered = after.lines().find(|l| l.contains("incremental response"));
        assert!(
            answered.is_some_and(|l| l.contains("got incremental response")),
            "named did not take the change by IXFR: {answered:?}\n{log}"
        );
        assert!(
            after.contains(&format!("(serial {new_serial})")),
            "named did not complete the transfer to {new_serial}:\n{log}"
        );
    }
    drop(named);

    // After a restart with unchanged content the serial stays and the journal, read back from
    // the state directory, still gives the same differences.
    server.stop();
    let server = ws.serve();
    assert_eq!(daned_serial(&dig_bin, &server), new_serial);
    let again = dig(
        &dig_bin,
        &server,
        &["-y", &tsig_arg(SECRET), "example.com.", &ixfr],
    );
    assert_eq!(axfr_records(&again), records, "{again}");

    // The restart serves the version it published (the kept signed zone, issue 10): the
    // secondaries' copies stay valid, so the first change after the restart is one more
    // difference in the chain, and IXFR from either earlier serial stays incremental
    // (RFC 1995 §4: the differences, oldest first, between two copies of the new SOA).
    new_certificate(&openssl, scratch.path(), &ws.path("certs/mail.pem"));
    let deadline = Instant::now() + PROPAGATION;
    let third = loop {
        let now = daned_serial(&dig_bin, &server);
        if now != new_serial {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "daned did not publish the third certificate"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let full = dig(
        &dig_bin,
        &server,
        &["-y", &tsig_arg(SECRET), "example.com.", "AXFR"],
    );
    for (from, chain) in [
        (
            serial,
            vec![third, serial, new_serial, new_serial, third, third],
        ),
        (new_serial, vec![third, new_serial, third, third]),
    ] {
        let ixfr = format!("IXFR={from}");
        let out = dig(
            &dig_bin,
            &server,
            &["-y", &tsig_arg(SECRET), "example.com.", &ixfr],
        );
        let records = axfr_records(&out);
        let soas: Vec<u32> = records.iter().filter_map(|l| soa_serial(l)).collect();
        assert_eq!(soas, chain, "{out}");
        assert!(records.len() < axfr_records(&full).len(), "{out}");
    }
    server.stop();
}
