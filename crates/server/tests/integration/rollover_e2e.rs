//! End to end: a DANE TLSA key rollover (RFC 7671 §8.1) watched through a validating resolver
//! and checked with a real TLS handshake.
//!
//! daned serves the example zone with one binding (`_25._tcp.mail.example.com`, TTL 2 s,
//! margin 1 s). Unbound validates it from the trust anchor `daned ds` prints (no other trust,
//! no date override) and is the only way the test reads the TLSA RRset. `openssl s_server`
//! serves the certificate in use, and `openssl s_client -dane_tlsa_rrdata` checks it against
//! exactly the records unbound returned, with the AD flag required. The next key is staged with
//! `contrib/stage-next-key` and deployed through `contrib/deploy-when-ready`.
//!
//! Every wait is bounded in time, and every process (daned, unbound, s_server) is stopped by a
//! guard, also when an assertion fails.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    Fetched, Guard, Workspace, daned_bin, free_port, now_secs, parse_dig, poll, repo_root,
    run_bounded, tls_server, tool,
};

/// TTL of the binding's TLSA records, seconds.
const TTL: u64 = 2;
/// The binding's rollover margin, seconds.
const MARGIN: u64 = 1;
/// The owner name of the binding's records.
const OWNER: &str = "_25._tcp.mail.example.com.";
/// The host name the TLS client checks (DANE "TLSA base domain").
const HOST: &str = "mail.example.com";

/// The tools this test drives.
struct Tools {
    unbound: PathBuf,
    dig: PathBuf,
    openssl: PathBuf,
}

impl Tools {
    /// All of them, or `None` (after a loud message) when one is missing.
    fn find() -> Option<Self> {
        Some(Self {
            unbound: tool("unbound")?,
            dig: tool("dig")?,
            openssl: tool("openssl")?,
        })
    }
}

/// `openssl ARGS` in `dir`, which must succeed.
fn openssl(tools: &Tools, dir: &Path, args: &[&str]) -> String {
    crate::support::openssl_in(&tools.openssl, dir, args)
}

/// A new EC P-256 private key at `key` and a self-signed certificate for it at `cert`.
fn key_and_certificate(tools: &Tools, dir: &Path, key: &str, cert: &str) {
    openssl(
        tools,
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            key,
        ],
    );
    certificate_for(tools, dir, key, cert);
}

/// A self-signed certificate for `mail.example.com` with the key in `key`, written to `cert`.
fn certificate_for(tools: &Tools, dir: &Path, key: &str, cert: &str) {
    openssl(
        tools,
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            key,
            "-subj",
            "/CN=mail.example.com",
            "-addext",
            "subjectAltName=DNS:mail.example.com",
            "-days",
            "7",
            "-out",
            cert,
        ],
    );
}

/// The `3 1 1` record of the key in `key` (a private key file), computed independently of
/// daned: SHA-256 over the DER SubjectPublicKeyInfo openssl prints.
fn record_of_key(tools: &Tools, dir: &Path, key: &str) -> String {
    let out = Command::new(&tools.openssl)
        .args(["pkey", "-in", key, "-pubout", "-outform", "DER"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl pkey");
    assert!(out.status.success(), "openssl pkey -in {key} failed");
    let digest = ring::digest::digest(&ring::digest::SHA256, &out.stdout);
    format!("3 1 1 {}", data_encoding::HEXLOWER.encode(digest.as_ref()))
}

/// Moves `from` over `to` atomically (what a careful ACME client does).
fn replace_file(dir: &Path, from: &str, to: &str) {
    let staging = dir.join(format!("{to}.tmp"));
    std::fs::copy(dir.join(from), &staging).expect("copy certificate");
    std::fs::rename(&staging, dir.join(to)).expect("rename certificate into place");
}

/// A validating unbound on 127.0.0.1 whose only trust anchor is the zone's DS, resolving
/// `example.com` at daned.
struct Unbound {
    _guard: Guard,
    port: u16,
    log: PathBuf,
}

impl Unbound {
    fn start(tools: &Tools, dir: &Path, anchor: &Path, daned: SocketAddr) -> Self {
        let port = free_port();
        let log = dir.join("unbound.log");
        let conf = dir.join("unbound.conf");
        // No `domain-insecure`, no `val-override-date`: validation is real. A short
        // `cache-max-ttl` and no prefetching or serving of expired data, so what unbound
        // answers is what a resolver honouring the TTL would.
        let text = format!(
            r#"server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    chroot: ""
    username: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    logfile: "{log}"
    use-syslog: no
    verbosity: 1
    val-log-level: 2
    num-threads: 1
    cache-max-ttl: {TTL}
    prefetch: no
    serve-expired: no
    trust-anchor-file: "{anchor}"
remote-control:
    control-enable: no
stub-zone:
    name: "example.com"
    stub-addr: {ip}@{dport}
"#,
            dir = dir.display(),
            log = log.display(),
            anchor = anchor.display(),
            ip = daned.ip(),
            dport = daned.port(),
        );
        std::fs::write(&conf, text).expect("write unbound.conf");
        let child = Command::new(&tools.unbound)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start unbound");
        let unbound = Self {
            _guard: Guard { child },
            port,
            log,
        };
        // Ready once it answers a validated query for the zone.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let fetched = unbound.query(tools, "example.com.", "SOA");
            if fetched.status == "NOERROR" && fetched.ad {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "unbound did not validate example.com SOA within 20 s; last answer:\n{}\nunbound log:\n{}",
                fetched.text,
                unbound.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        unbound
    }

    fn query(&self, tools: &Tools, name: &str, rtype: &str) -> Fetched {
        let (_, text) = run_bounded(
            Command::new(&tools.dig)
                .arg("@127.0.0.1")
                .args(["-p", &self.port.to_string()])
                .args(["+dnssec", "+time=2", "+tries=1", name, rtype]),
            Duration::from_secs(10),
        );
        parse_dig(&text)
    }

    /// The TLSA RRset of the binding, which must have validated (AD set).
    fn tlsa(&self, tools: &Tools) -> BTreeSet<String> {
        let fetched = self.query(tools, OWNER, "TLSA");
        assert_eq!(
            fetched.status,
            "NOERROR",
            "TLSA through unbound:\n{}\nunbound log:\n{}",
            fetched.text,
            self.log_text()
        );
        assert!(
            fetched.ad,
            "RFC 4035 §3.2.3: the TLSA RRset must validate (AD):\n{}\nunbound log:\n{}",
            fetched.text,
            self.log_text()
        );
        assert!(
            !fetched.records.is_empty(),
            "no TLSA records:\n{}",
            fetched.text
        );
        fetched.records
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `openssl s_server` on a free loopback port with one certificate and key.
struct TlsServer {
    _guard: Guard,
    port: u16,
}

impl TlsServer {
    fn start(tools: &Tools, dir: &Path, cert: &str, key: &str) -> Self {
        let (guard, port) = tls_server(&tools.openssl, dir, cert, key);
        Self {
            _guard: guard,
            port,
        }
    }

    /// Whether a DANE client holding exactly `records` accepts the server (RFC 6698 §2.1,
    /// RFC 7671 §5.1: DANE-EE matches the end-entity key, names and dates aside).
    fn dane_verifies(&self, tools: &Tools, records: &BTreeSet<String>) -> (bool, String) {
        let mut cmd = Command::new(&tools.openssl);
        cmd.args(["s_client", "-brief", "-verify_return_error", "-connect"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-servername", HOST, "-dane_tlsa_domain", HOST]);
        for record in records {
            cmd.args(["-dane_tlsa_rrdata", record]);
        }
        let (status, text) = run_bounded(&mut cmd, Duration::from_secs(20));
        (
            status.success() && text.contains("Verification: OK") && text.contains("DANE TLSA"),
            text,
        )
    }
}

/// The binding's entry in `daned status --json`.
fn binding_status(ws: &Workspace) -> serde_json::Value {
    let out = ws.daned(&["status", "--json"]);
    assert!(
        out.status.success(),
        "daned status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    report["zones"][0]["bindings"][0].clone()
}

fn state_of(binding: &serde_json::Value) -> String {
    binding["state"].as_str().unwrap_or_default().to_owned()
}

/// A contrib script run with the daned under test and the workspace's config.
fn contrib(ws: &Workspace, script: &str) -> Command {
    let mut cmd = Command::new(repo_root().join("contrib").join(script));
    cmd.env("DANED", daned_bin())
        .env("DANED_CONFIG", ws.config())
        .env_remove("DANED_SOCKET")
        .current_dir(ws.dir.path());
    cmd
}

/// The configuration: the example zone and one binding with short timings.
fn write_config(ws: &Workspace) {
    let text = format!(
        r#"version = "v1"
[server]
listen = ["127.0.0.1:0"]
key-dir = "keys"
state-dir = "state"
watch-debounce-ms = 100

[[zone]]
origin = "example.com."
file = "example.com.zone"

[[zone.tlsa]]
name = "mail"
certificate = "certs/mail.pem"
next-key = "certs/mail.key.next"
host = "mail"
ports = [25]
ttl = {TTL}
probe = false
rollover-margin = {MARGIN}
"#
    );
    std::fs::write(ws.config(), text).expect("write daned.toml");
}

/// RFC 7671 §8.1: "TLSA records matching the existing server certificate chain (or raw public
/// keys) are first augmented with corresponding records matching the future keys, at least two
/// Times to Live (TTLs) or longer before the new chain is deployed. This allows the obsolete
/// RRset to age out of client caches before the new chain is used in TLS handshakes."
///
/// Through a validating resolver, at every step of a rollover (steady on key A, B staged, B
/// ready, B deployed, A's hold-down over) the RRset validates and authenticates the
/// certificate being served; then a key C that was never staged is reported as an unsafe
/// switch.
#[test]
#[ignore = "needs dig, openssl, unbound"]
fn rfc7671_s8_1_rollover_through_validating_resolver() {
    let Some(tools) = Tools::find() else { return };
    let started = Instant::now();
    let ws = Workspace::example();
    let dir = ws.dir.path().to_path_buf();
    write_config(&ws);
    key_and_certificate(&tools, &dir, "a.key", "a.pem");
    replace_file(&dir, "a.pem", "certs/mail.pem");
    let record_a = record_of_key(&tools, &dir, "a.key");

    let server = ws.serve();
    let ds = ws.daned(&["ds"]);
    assert!(ds.status.success(), "daned ds failed");
    let anchor = dir.join("anchor.ds");
    std::fs::write(&anchor, &ds.stdout).expect("write the trust anchor");
    let unbound = Unbound::start(&tools, &dir, &anchor, server.addr);
    let tls_a = TlsServer::start(&tools, &dir, "a.pem", "a.key");

    // Steady: only A is published, and it authenticates the server.
    let steady = poll("steady RRset {A}", Duration::from_secs(10), || {
        let records = unbound.tlsa(&tools);
        (records == BTreeSet::from([record_a.clone()])).then_some(records)
    });
    let (ok, text) = tls_a.dane_verifies(&tools, &steady);
    assert!(
        ok,
        "steady: s_client must verify cert A with {steady:?}:\n{text}"
    );
    // The check has teeth: a record that matches nothing is refused.
    let bogus = BTreeSet::from([format!("3 1 1 {}", "00".repeat(32))]);
    let (ok, text) = tls_a.dane_verifies(&tools, &bogus);
    assert!(
        !ok,
        "s_client must refuse a non-matching TLSA record:\n{text}"
    );
    assert_eq!(state_of(&binding_status(&ws)), "steady");

    // Stage the next key B with the contrib script.
    let staged_after = now_secs();
    let (status, text) = run_bounded(
        contrib(&ws, "stage-next-key").args(["mail", "certs/mail.key.next"]),
        Duration::from_secs(60),
    );
    assert!(status.success(), "stage-next-key failed:\n{text}");
    assert!(
        text.contains("may be deployed from"),
        "stage-next-key output:\n{text}"
    );
    let next_key = dir.join("certs/mail.key.next");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&next_key)
            .expect("next key written")
            .permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "the next key must be created with mode 0600"
    );
    let record_b = record_of_key(&tools, &dir, "certs/mail.key.next");
    assert_ne!(record_a, record_b);
    certificate_for(&tools, &dir, "certs/mail.key.next", "b.pem");

    // Not ready yet: ready_at = published + 2 x TTL + margin.
    let binding = binding_status(&ws);
    assert_eq!(state_of(&binding), "staged", "{binding}");
    let ready_at = binding["ready-at-unix"]
        .as_u64()
        .expect("ready-at once staged");
    assert!(
        ready_at >= staged_after + 2 * TTL + MARGIN,
        "RFC 7671 §8.1: ready at {ready_at}, less than 2 x TTL + margin after {staged_after}"
    );
    let not_ready = ws.daned(&["wait-ready", "mail", "--timeout", "0"]);
    assert!(
        !not_ready.status.success(),
        "wait-ready must say no before ready_at"
    );
    let marker = dir.join("deployed-too-early");
    let (status, text) = run_bounded(
        contrib(&ws, "deploy-when-ready")
            .args(["--timeout", "0", "mail", "--", "touch"])
            .arg(&marker),
        Duration::from_secs(30),
    );
    assert!(
        !status.success(),
        "deploy-when-ready must fail before ready_at:\n{text}"
    );
    assert!(
        !marker.exists(),
        "deploy-when-ready must not run the command before ready_at"
    );

    // Until ready: every RRset validates and holds A (the served certificate), and B appears.
    let both = BTreeSet::from([record_a.clone(), record_b.clone()]);
    let mut saw_both = false;
    while now_secs() < ready_at {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "staged phase took too long"
        );
        let records = unbound.tlsa(&tools);
        assert!(
            records.contains(&record_a),
            "A must stay published: {records:?}"
        );
        assert!(records.is_subset(&both), "unexpected records: {records:?}");
        saw_both |= records == both;
        let (ok, text) = tls_a.dane_verifies(&tools, &records);
        assert!(
            ok,
            "staged: s_client must verify cert A with {records:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        saw_both,
        "the resolver never returned A and B while B was staged"
    );

    // Ready: wait-ready says yes, and no cache can hold an RRset without B any more.
    let ready = ws.daned(&["wait-ready", "mail", "--timeout", "10"]);
    assert!(
        ready.status.success(),
        "wait-ready must succeed once ready: {}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let records = unbound.tlsa(&tools);
    assert_eq!(
        records, both,
        "at ready_at the resolver must return A and B"
    );

    // Deploy the certificate for B through deploy-when-ready, then serve it.
    let (status, text) = run_bounded(
        contrib(&ws, "deploy-when-ready").args([
            "--timeout",
            "10",
            "mail",
            "--",
            "sh",
            "-c",
            "cp b.pem certs/mail.pem.new && mv certs/mail.pem.new certs/mail.pem",
        ]),
        Duration::from_secs(60),
    );
    assert!(status.success(), "deploy-when-ready failed:\n{text}");
    drop(tls_a);
    let tls_b = TlsServer::start(&tools, &dir, "b.pem", "certs/mail.key.next");
    let binding = binding_status(&ws);
    assert_eq!(state_of(&binding), "switched", "{binding}");

    // At once and through the hold-down, the RRset validates and authenticates B; A goes.
    let only_b = BTreeSet::from([record_b.clone()]);
    poll(
        "A retired after the hold-down",
        Duration::from_secs(20),
        || {
            let records = unbound.tlsa(&tools);
            assert!(
                records.contains(&record_b),
                "B must be published: {records:?}"
            );
            assert!(records.is_subset(&both), "unexpected records: {records:?}");
            let (ok, text) = tls_b.dane_verifies(&tools, &records);
            assert!(
                ok,
                "switched: s_client must verify cert B with {records:?}:\n{text}"
            );
            (records == only_b).then_some(())
        },
    );
    assert_eq!(state_of(&binding_status(&ws)), "steady");

    // The safe rollover raised no unsafe or early-switch warning.
    let logged: Vec<String> = server.log.try_iter().collect();
    for line in &logged {
        assert!(
            !line.contains("UNSAFE") && !line.contains("before it was ready"),
            "a safe rollover must not warn: {line}"
        );
    }

    // Unstaged: the certificate moves to a key C that was never published.
    key_and_certificate(&tools, &dir, "c.key", "c.pem");
    let record_c = record_of_key(&tools, &dir, "c.key");
    replace_file(&dir, "c.pem", "certs/mail.pem");
    let reload = ws.daned(&["reload"]);
    // Issue 9: `daned reload` reports an unsafe switch with its own exit status (4), so a
    // renewal hook fails instead of reporting success.
    let text = crate::support::output_text(&reload);
    assert_eq!(reload.status.code(), Some(4), "daned reload: {text}");
    assert!(text.contains("binding mail: UNSAFE SWITCH"), "{text}");
    let binding = binding_status(&ws);
    assert_eq!(state_of(&binding), "unsafe-switch", "{binding}");
    // Both keys are published at once (the old one for its hold-down).
    let published: BTreeSet<String> = binding["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        published,
        BTreeSet::from([record_b.clone(), record_c.clone()])
    );
    server.wait_log("UNSAFE TLSA SWITCH", Duration::from_secs(10));
    // Through the resolver, C is published, validated, and authenticates the new server.
    drop(tls_b);
    let tls_c = TlsServer::start(&tools, &dir, "c.pem", "c.key");
    let records = poll("C published", Duration::from_secs(10), || {
        let records = unbound.tlsa(&tools);
        records.contains(&record_c).then_some(records)
    });
    let (ok, text) = tls_c.dane_verifies(&tools, &records);
    assert!(
        ok,
        "unsafe switch: s_client must verify cert C with {records:?}:\n{text}"
    );

    drop(tls_c);
    drop(unbound);
    server.stop();
}

/// The contrib scripts are POSIX sh (`sh -n`, and shellcheck where installed), answer `--help`
/// with their usage and reject bad usage with status 2.
#[test]
#[ignore = "needs shellcheck"]
fn contrib_scripts_are_posix_sh_with_usage() {
    let scripts = [
        "stage-next-key",
        "deploy-when-ready",
        "certbot-deploy-hook",
        "acme.sh-hook",
        "lego-hook",
    ];
    let contrib = repo_root().join("contrib");
    let shellcheck = tool("shellcheck");
    for script in scripts {
        let path = contrib.join(script);
        let text = std::fs::read_to_string(&path).expect("read a contrib script");
        assert!(
            text.starts_with("#!/bin/sh\n"),
            "{script}: not a /bin/sh script"
        );
        assert!(text.contains("set -eu"), "{script}: no `set -eu`");
        assert!(
            text.contains("\n# Install:"),
            "{script}: no install note in its header"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("stat").permissions(),
        );
        assert!(mode & 0o111 != 0, "{script}: not executable");

        let (status, out) = run_bounded(
            Command::new("sh").arg("-n").arg(&path),
            Duration::from_secs(10),
        );
        assert!(status.success(), "sh -n {script}: {out}");
        if let Some(shellcheck) = &shellcheck {
            let (status, out) = run_bounded(
                Command::new(shellcheck).args(["-s", "sh"]).arg(&path),
                Duration::from_secs(30),
            );
            assert!(status.success(), "shellcheck {script}:\n{out}");
        }

        let (status, out) = run_bounded(Command::new(&path).arg("--help"), Duration::from_secs(10));
        assert!(
            status.success() && out.contains("usage:"),
            "{script} --help:\n{out}"
        );
        let (status, out) = run_bounded(
            Command::new(&path).arg("--no-such-option"),
            Duration::from_secs(10),
        );
        assert_eq!(status.code(), Some(2), "{script} with a bad option:\n{out}");
    }
}
