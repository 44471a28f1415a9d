//! End to end: DNSSEC key rollovers of a child zone under a local parent, judged by a validating
//! resolver and three zone validators nobody here wrote.
//!
//! Two daned instances run on loopback: the parent (`parent.test.`) delegates
//! `child.parent.test.` with NS and glue and carries the child's DS RRset; the child signs with
//! an accelerated policy (TTLs of 2 s, delays of 1 s). Unbound, whose only trust anchor is the
//! parent's DS (`daned ds --trust-anchor`), resolves both zones through stub-zones and honours
//! their TTLs. The parent follows the child's CDS/CDNSKEY the way a real registry does
//! (RFC 7344 §4, RFC 8078 §3): BIND's `dnssec-cds` checks them against the current DS RRset
//! and computes the new one, which is written into the parent's zone file and published with
//! `daned reload`. The child learns that the DS is published either by polling the parent
//! (`parent-servers`) or from `daned ds-seen`.
//!
//! During every roll a prober asks unbound, all the time, for the child's SOA, DNSKEY, a TLSA
//! RRset and an NXDOMAIN name: every answer must have AD set and none may be SERVFAIL. At every
//! key state change (`daned keys --json`, polled every 0.5 s) the signed zone (`daned dump`) is
//! checked by `dnssec-verify`, `ldns-verify-zone` and `kzonecheck`. On any failure the test
//! prints the whole timeline and unbound's log.
//!
//! Every wait is bounded, every process is stopped by a guard (also when an assertion fails),
//! and each roll is its own test with its own directories and ports.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{
    Guard, Server, Workspace, daned_bin, free_port, is_own_query, repo_root, run_bounded,
    run_split, tool,
};

/// The child zone, whose keys roll.
const CHILD: &str = "child.parent.test.";
/// The parent zone, which carries the child's DS and holds the trust anchor.
const PARENT: &str = "parent.test.";
/// TTL of the DS RRset at the parent, seconds (the same as every other TTL here).
const DS_TTL: u32 = 2;
/// A TLSA owner in the child (from the `mail` binding).
const TLSA_NAME: &str = "_25._tcp.mail.child.parent.test.";
/// A name that does not exist in the child.
const NX_NAME: &str = "nothere.child.parent.test.";
/// How long the parent takes to act on a change of the child's CDS/CDNSKEY RRsets (RFC 7344
/// §4.1 leaves the schedule to the parent; registries take hours). The child must not depend
/// on the parent acting at once: it learns of a new DS by `ds-seen` or by polling, and must
/// not drop what the old DS still points to before the parent removed it (RFC 6781 §4.1.4).
const PARENT_REACTION: Duration = Duration::from_secs(2);
/// How often the key states are polled.
const POLL: Duration = Duration::from_millis(500);

// ---- Processes and tools ------------------------------------------------------------------

/// The tools this test drives.
#[derive(Clone)]
struct Tools {
    unbound: PathBuf,
    dig: PathBuf,
    dnssec_cds: PathBuf,
    dnssec_verify: PathBuf,
    ldns_verify_zone: PathBuf,
    kzonecheck: PathBuf,
    dnssec_keygen: PathBuf,
    dnssec_signzone: PathBuf,
}

impl Tools {
    /// All of them, or `None` (after a loud message) when one is missing.
    fn find() -> Option<Self> {
        // Look every one up, so that the message names all that are missing.
        let found = [
            tool("unbound"),
            tool("dig"),
            tool("dnssec-cds"),
            tool("dnssec-verify"),
            tool("ldns-verify-zone"),
            tool("kzonecheck"),
            tool("dnssec-keygen"),
            tool("dnssec-signzone"),
        ];
        let [
            Some(unbound),
            Some(dig),
            Some(dnssec_cds),
            Some(dnssec_verify),
            Some(ldns_verify_zone),
            Some(kzonecheck),
            Some(dnssec_keygen),
            Some(dnssec_signzone),
        ] = found
        else {
            return None;
        };
        Some(Self {
            unbound,
            dig,
            dnssec_cds,
            dnssec_verify,
            ldns_verify_zone,
            kzonecheck,
            dnssec_keygen,
            dnssec_signzone,
        })
    }
}

// ---- The timeline -------------------------------------------------------------------------

/// Everything that happened, with the time since the start; printed when the test fails.
#[derive(Clone)]
struct Timeline {
    start: Instant,
    events: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Timeline {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            events: Arc::default(),
            failures: Arc::default(),
        }
    }

    fn stamp(&self) -> String {
        format!("{:7.2}s", self.start.elapsed().as_secs_f64())
    }

    /// Records an event.
    fn note(&self, what: impl AsRef<str>) {
        let line = format!("{} {}", self.stamp(), what.as_ref());
        self.events.lock().expect("timeline lock").push(line);
    }

    /// Records a failure (also in the timeline); the test fails at its end.
    fn fail(&self, what: impl AsRef<str>) {
        let line = format!("{} FAILURE: {}", self.stamp(), what.as_ref());
        self.events
            .lock()
            .expect("timeline lock")
            .push(line.clone());
        self.failures.lock().expect("timeline lock").push(line);
    }

    fn failures(&self) -> Vec<String> {
        self.failures.lock().expect("timeline lock").clone()
    }

    fn text(&self) -> String {
        self.events.lock().expect("timeline lock").join("\n")
    }
}

// ---- dig ----------------------------------------------------------------------------------

/// One answer, as dig printed it.
#[derive(Debug)]
struct Answer {
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, ... (empty when no answer came).
    status: String,
    /// The AD flag: the resolver validated the answer (RFC 4035 §3.2.3).
    ad: bool,
    /// The answer section's records, one per line: `owner ttl class type rdata`.
    records: Vec<Vec<String>>,
    text: String,
}

impl Answer {
    /// The RDATA of the answer records of `rtype`, whitespace-normalised.
    fn rdata(&self, rtype: &str) -> Vec<String> {
        self.records
            .iter()
            .filter(|r| r.len() > 4 && r[3] == rtype)
            .map(|r| r[4..].join(" "))
            .collect()
    }
}

/// Reads dig's default output: the header's status and flags, and the answer section.
/// dig's own query echoed back (see `support::is_own_query`) reads as no answer.
fn parse_dig(text: &str) -> Answer {
    if is_own_query(text) {
        return Answer {
            status: String::new(),
            ad: false,
            records: Vec::new(),
            text: text.to_owned(),
        };
    }
    let mut status = String::new();
    let mut ad = false;
    let mut records = Vec::new();
    let mut in_answer = false;
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            status = rest.split(',').next().unwrap_or_default().trim().to_owned();
        }
        if let Some(flags) = line.strip_prefix(";; flags:") {
            let flags = flags.split(';').next().unwrap_or_default();
            ad = flags.split_whitespace().any(|f| f == "ad");
        }
        if line.starts_with(";; ANSWER SECTION") {
            in_answer = true;
            continue;
        }
        if line.starts_with(";;") || line.trim().is_empty() {
            in_answer = false;
            continue;
        }
        if in_answer && !line.starts_with(';') {
            records.push(line.split_whitespace().map(str::to_owned).collect());
        }
    }
    Answer {
        status,
        ad,
        records,
        text: text.to_owned(),
    }
}

/// `dig +dnssec` for `name`/`rtype` at `server`; `extra` adds options.
fn dig(tools: &Tools, server: SocketAddr, name: &str, rtype: &str, extra: &[&str]) -> Answer {
    let (_, text) = run_bounded(
        Command::new(&tools.dig)
            .arg(format!("@{}", server.ip()))
            .args(["-p", &server.port().to_string()])
            .args(["+dnssec", "+time=3", "+tries=1", "+nocookie"])
            .args(extra)
            .args([name, rtype]),
        Duration::from_secs(15),
    );
    parse_dig(&text)
}

/// Answer-section records of `name`/`rtype` straight from an authoritative server, in
/// master-file format (`+noall +answer`, over TCP so that nothing is truncated).
fn dig_records(tools: &Tools, server: SocketAddr, name: &str, rtype: &str) -> String {
    let (status, text) = run_bounded(
        Command::new(&tools.dig)
            .arg(format!("@{}", server.ip()))
            .args(["-p", &server.port().to_string()])
            .args([
                "+dnssec",
                "+norecurse",
                "+tcp",
                "+time=3",
                "+tries=1",
                "+noall",
                "+answer",
                name,
                rtype,
            ]),
        Duration::from_secs(15),
    );
    assert!(status.success(), "dig {name} {rtype}: {text}");
    text
}

/// The DNSKEY RRset of an answer as `tag/alg/flags` strings (the tag computed per RFC 4034
/// Appendix B), sorted.
fn dnskey_summary(answer: &Answer) -> Vec<String> {
    let mut keys: Vec<String> = answer
        .rdata("DNSKEY")
        .iter()
        .filter_map(|rdata| {
            let fields: Vec<&str> = rdata.split_whitespace().collect();
            let (flags, tag) = dnskey_flags_and_tag(&fields)?;
            Some(format!("{tag}/alg{}/{flags}", fields.get(2)?))
        })
        .collect();
    keys.sort();
    keys
}

/// RFC 4034 Appendix B: the key tag of a DNSKEY RDATA in wire format.
fn key_tag(rdata: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for (i, byte) in rdata.iter().enumerate() {
        acc += if i % 2 == 0 {
            u32::from(*byte) << 8
        } else {
            u32::from(*byte)
        };
    }
    acc += (acc >> 16) & 0xffff;
    (acc & 0xffff) as u16
}

// ---- unbound ------------------------------------------------------------------------------

/// A validating unbound on 127.0.0.1 whose only trust anchor is the parent's DS.
struct Unbound {
    _guard: Guard,
    addr: SocketAddr,
    log: PathBuf,
}

impl Unbound {
    fn start(
        tools: &Tools,
        dir: &Path,
        anchors: &[String],
        parent: SocketAddr,
        child: SocketAddr,
    ) -> Self {
        let port = free_port();
        let log = dir.join("unbound.log");
        let conf = dir.join("unbound.conf");
        let anchors: String = anchors
            .iter()
            .map(|a| format!("    trust-anchor: \"{a}\"\n"))
            .collect();
        // No `domain-insecure`, no `val-override-date`, no cache TTL caps: validation is real
        // and every RRset (DNSKEY and DS included) is cached for its full TTL, as a resolver on
        // the Internet would. `harden-algo-downgrade` makes unbound insist on every algorithm
        // of the DS RRset (RFC 6840 §5.11 lets it accept any one), which catches algorithm
        // rollover steps taken too early. `val-bogus-ttl: 1` keeps one failure from hiding
        // the next steps. `test.` is one of unbound's built-in local zones (RFC 6761);
        // `nodefault` lets it resolve.
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
    log-time-ascii: yes
    verbosity: 1
    val-log-level: 2
    num-threads: 1
    prefetch: no
    prefetch-key: no
    serve-expired: no
    harden-algo-downgrade: yes
    val-bogus-ttl: 1
    target-fetch-policy: "0 0 0 0 0"
    local-zone: "test." nodefault
{anchors}remote-control:
    control-enable: no
stub-zone:
    name: "{PARENT}"
    stub-addr: {pip}@{pport}
stub-zone:
    name: "{CHILD}"
    stub-addr: {cip}@{cport}
"#,
            dir = dir.display(),
            log = log.display(),
            pip = parent.ip(),
            pport = parent.port(),
            cip = child.ip(),
            cport = child.port(),
        );
        std::fs::write(&conf, text).expect("write unbound.conf");
        let child_proc = Command::new(&tools.unbound)
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
            _guard: Guard { child: child_proc },
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        // Ready once it answers a validated query for the child.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = dig(tools, unbound.addr, CHILD, "SOA", &[]);
            if answer.status == "NOERROR" && answer.ad {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "unbound did not validate {CHILD} SOA within 20 s; last answer:\n{}\nunbound log:\n{}",
                answer.text,
                unbound.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        unbound
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// One round of the four questions through unbound; every answer must validate. Returns a
/// one-line summary (with the DNSKEY RRset seen) for the timeline; failures go to `timeline`.
fn probe_round(tools: &Tools, unbound: SocketAddr, timeline: &Timeline, label: &str) -> String {
    // (name, type, expected status, the record type the answer must hold)
    let cases: [(&str, &str, &str, Option<&str>); 4] = [
        (CHILD, "SOA", "NOERROR", Some("SOA")),
        (CHILD, "DNSKEY", "NOERROR", Some("DNSKEY")),
        (TLSA_NAME, "TLSA", "NOERROR", Some("TLSA")),
        (NX_NAME, "A", "NXDOMAIN", None),
    ];
    let mut summary = Vec::new();
    for (name, rtype, want, holds) in cases {
        let mut answer = dig(tools, unbound, name, rtype, &[]);
        if answer.status.is_empty() {
            // No answer at all (a loaded machine, or dig's own query echoed back): ask once
            // more before calling it a failure.
            answer = dig(tools, unbound, name, rtype, &[]);
        }
        // RFC 4035 §3.2.3: the AD bit is set only when every RRset in the answer and authority
        // sections is authentic; a validator answers SERVFAIL for bogus data (§5.5).
        let held = holds.is_none_or(|t| !answer.rdata(t).is_empty());
        if answer.status != want || !answer.ad || !held {
            timeline.fail(format!(
                "[{label}] {name} {rtype}: want {want} with AD{}, got status {:?} ad={}:\n{}",
                holds
                    .map(|t| format!(" and {t} records"))
                    .unwrap_or_default(),
                answer.status,
                answer.ad,
                answer.text
            ));
            summary.push(format!("{rtype}:FAIL({})", answer.status));
        } else if rtype == "DNSKEY" {
            summary.push(format!("DNSKEY:ad[{}]", dnskey_summary(&answer).join(" ")));
        } else {
            summary.push(format!("{rtype}:ad"));
        }
    }
    summary.join(" ")
}

/// Asks unbound the four questions over and over on its own thread until stopped.
struct Prober {
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    /// Held by the thread during each round, so that `pause` can wait for the current one.
    round: Arc<Mutex<()>>,
    handle: Option<JoinHandle<u64>>,
}

impl Prober {
    fn start(tools: &Tools, unbound: SocketAddr, timeline: &Timeline) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let round = Arc::new(Mutex::new(()));
        let handle = {
            let (tools, timeline) = (tools.clone(), timeline.clone());
            let (stop, paused, round) = (stop.clone(), paused.clone(), round.clone());
            std::thread::spawn(move || {
                let mut rounds = 0u64;
                let mut last = String::new();
                while !stop.load(Ordering::Relaxed) {
                    {
                        let _round = round.lock().expect("prober lock");
                        if !paused.load(Ordering::Relaxed) {
                            let summary = probe_round(&tools, unbound, &timeline, "prober");
                            rounds += 1;
                            // Only changes go into the timeline, to keep it readable.
                            if summary != last {
                                timeline.note(format!("prober: {summary}"));
                                last = summary;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
                rounds
            })
        };
        Self {
            stop,
            paused,
            round,
            handle: Some(handle),
        }
    }

    /// Stops asking (after the round in progress) until `resume`.
    fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
        drop(self.round.lock().expect("prober lock"));
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::Relaxed);
    }

    /// Stops the prober; the number of rounds it asked.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .map(|h| h.join().expect("prober thread"))
            .unwrap_or(0)
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ---- The two daned instances --------------------------------------------------------------

/// How the child signs: the `[zone.signing]` and `[zone.keys]` tables of its config.
#[derive(Clone, Debug)]
struct Policy {
    /// `csk` or `ksk-zsk`.
    mode: &'static str,
    /// `ecdsap256sha256`, `ed25519`, ...
    algorithm: &'static str,
    /// `nsec` or `nsec3`.
    denial: &'static str,
    /// `zsk-lifetime` (`"0"`: never rolls by itself).
    zsk_lifetime: &'static str,
    /// `cds`: `always` (double-DS: the CDS names the old and the new key during a roll) or
    /// `rollover` (the CDS names the new key alone while it waits for its DS: a DS swap).
    cds: &'static str,
    /// The parent's nameserver the child polls for its DS, if any.
    parent_server: Option<SocketAddr>,
}

impl Policy {
    /// The zone tables of the child's config: an accelerated RFC 7583 policy.
    fn toml(&self) -> String {
        let parent_servers = match self.parent_server {
            Some(addr) => format!("parent-servers = [\"{addr}\"]\nparent-poll-interval = \"1s\"\n"),
            None => String::new(),
        };
        format!(
            r#"[zone.signing]
algorithm = "{algorithm}"
denial = "{denial}"
dnskey-ttl = "2s"
[zone.keys]
mode = "{mode}"
ksk-lifetime = "0"
zsk-lifetime = "{zsk_lifetime}"
propagation-delay = "1s"
parent-ds-ttl = "{DS_TTL}s"
parent-propagation-delay = "1s"
safety-margin = "1s"
cds = "{cds}"
{parent_servers}"#,
            cds = self.cds,
            algorithm = self.algorithm,
            denial = self.denial,
            mode = self.mode,
            zsk_lifetime = self.zsk_lifetime,
        )
    }
}

/// A workspace for one daned instance serving `origin` from `zone.file` on 127.0.0.1:`port`.
fn instance_workspace(origin: &str, zone_text: &str, port: u16) -> Workspace {
    let ws = Workspace {
        dir: tempfile::tempdir().expect("temp dir"),
    };
    std::fs::write(ws.path("zone.file"), zone_text).expect("write zone");
    std::fs::create_dir_all(ws.path("certs")).expect("certs dir");
    std::fs::copy(
        repo_root().join("zones/certs/mail.example.com.pem"),
        ws.path("certs/mail.pem"),
    )
    .expect("copy certificate");
    write_instance_config(&ws, origin, port, "", false);
    ws
}

/// Writes daned.toml for one zone served on 127.0.0.1:`port` (a fixed port, so that a restart
/// keeps it); `zone_extra` goes inside the `[[zone]]` table, and `tlsa` adds the `mail` binding
/// (port 25).
fn write_instance_config(ws: &Workspace, origin: &str, port: u16, zone_extra: &str, tlsa: bool) {
    let binding = if tlsa {
        "[[zone.tlsa]]\nname = \"mail\"\ncertificate = \"certs/mail.pem\"\nhost = \"mail\"\n\
         ports = [25]\nttl = \"2\"\nprobe = false\n"
    } else {
        ""
    };
    let text = format!(
        r#"version = "v1"
[server]
listen = ["127.0.0.1:{port}"]
key-dir = "keys"
state-dir = "state"

[[zone]]
origin = "{origin}"
file = "zone.file"
{zone_extra}
{binding}"#
    );
    std::fs::write(ws.config(), text).expect("write daned.toml");
}

/// `daned ARGS -c daned.toml`, bounded; stdout, or a panic with stderr.
fn daned_ok(ws: &Workspace, args: &[&str]) -> String {
    let (status, out, err) = run_split(
        Command::new(daned_bin())
            .args(args)
            .arg("-c")
            .arg(ws.config())
            .current_dir(ws.dir.path()),
        Duration::from_secs(60),
    );
    assert!(
        status.success(),
        "daned {args:?} failed ({status}):\n{out}{err}"
    );
    out
}

/// A DS RDATA in one canonical form: `tag alg digest-type HEX` (digest uppercase, no spaces).
fn normalise_ds(rdata: &str) -> String {
    let fields: Vec<&str> = rdata.split_whitespace().collect();
    assert!(fields.len() >= 4, "not a DS RDATA: {rdata:?}");
    format!(
        "{} {} {} {}",
        fields[0],
        fields[1],
        fields[2],
        fields[3..].concat().to_uppercase()
    )
}

/// The DS RDATA in master-file text (`owner ttl class DS rdata` lines).
fn ds_rdata_of(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.len() > 4 && fields[3] == "DS").then(|| normalise_ds(&fields[4..].join(" ")))
        })
        .collect()
}

/// The parent: a daned serving `parent.test.` with the child's delegation and DS RRset.
struct Parent {
    ws: Workspace,
    server: Option<Server>,
    /// The DS RRset published now.
    ds: BTreeSet<String>,
}

impl Parent {
    /// Creates the parent on 127.0.0.1:`port` with `ds` as the child's DS RRset and starts it.
    fn start(ds: BTreeSet<String>, port: u16) -> Self {
        let ws = instance_workspace(PARENT, "", port);
        let mut parent = Self {
            ws,
            server: None,
            ds,
        };
        parent.write_zone();
        parent.server = Some(parent.ws.serve());
        parent
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("parent running").addr
    }

    /// The parent zone file with the current DS RRset.
    fn write_zone(&self) {
        let mut text = std::fs::read_to_string(data_dir().join("parent.zone.in"))
            .expect("read parent.zone.in");
        for ds in &self.ds {
            text.push_str(&format!("child   {DS_TTL} IN DS {ds}\n"));
        }
        std::fs::write(self.ws.path("zone.file"), text).expect("write parent zone");
    }

    /// The current DS RRset as a `dsset-` file for `dnssec-cds -d`.
    fn dsset_file(&self) -> PathBuf {
        let path = self.ws.path(&format!("dsset-{CHILD}"));
        let text: String = self
            .ds
            .iter()
            .map(|ds| format!("{CHILD} {DS_TTL} IN DS {ds}\n"))
            .collect();
        std::fs::write(&path, text).expect("write dsset");
        path
    }

    /// Publishes `ds` as the child's DS RRset: new zone file, then `daned reload`, which
    /// returns once the new version is served.
    fn publish(&mut self, ds: BTreeSet<String>) {
        self.ds = ds;
        self.write_zone();
        daned_ok(&self.ws, &["reload"]);
    }

    /// The parent's trust anchor as unbound `trust-anchor:` strings, from
    /// `daned ds --trust-anchor` (`"parent.test." static-ds TAG ALG DT "HEX";` lines).
    fn trust_anchors(&self) -> Vec<String> {
        let text = daned_ok(&self.ws, &["ds", "--trust-anchor"]);
        let anchors: Vec<String> = text
            .lines()
            .filter(|l| l.contains("static-ds"))
            .map(|l| {
                let clean = l.replace(['"', ';'], " ");
                let fields: Vec<&str> = clean.split_whitespace().collect();
                assert!(fields.len() >= 6, "unexpected trust anchor line {l:?}");
                format!("{} DS {}", fields[0], normalise_ds(&fields[2..].join(" ")))
            })
            .collect();
        assert!(
            !anchors.is_empty(),
            "no trust anchor from daned ds:\n{text}"
        );
        anchors
    }
}

/// The test data of this module.
fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/key_rollover")
}

/// The child: a daned serving `child.parent.test.` with the `mail` TLSA binding.
struct ChildZone {
    ws: Workspace,
    server: Option<Server>,
    port: u16,
}

impl ChildZone {
    /// Creates the child's workspace with `policy` (`None`: main's signing defaults with a
    /// short DNSKEY TTL) and starts it (which creates its first keys).
    fn start(policy: Option<&Policy>, port: u16) -> Self {
        let zone = std::fs::read_to_string(data_dir().join("child.zone")).expect("read child.zone");
        let ws = instance_workspace(CHILD, &zone, port);
        let mut child = Self {
            ws,
            server: None,
            port,
        };
        child.configure(policy);
        child.server = Some(child.ws.serve());
        child
    }

    fn configure(&self, policy: Option<&Policy>) {
        let extra = match policy {
            Some(p) => p.toml(),
            None => "[zone.signing]\ndnskey-ttl = \"2s\"\n".to_owned(),
        };
        write_instance_config(&self.ws, CHILD, self.port, &extra, true);
    }

    /// Stops the child, writes `policy` into its config and starts it again on the same port
    /// with the same key and state directories.
    fn restart(&mut self, policy: &Policy) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        self.configure(Some(policy));
        self.server = Some(self.ws.serve());
    }

    /// Writes `policy` into the child's config and has the running child apply it with
    /// `daned reload`.
    fn reload(&self, policy: &Policy) {
        self.configure(Some(policy));
        daned_ok(&self.ws, &["reload"]);
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("child running").addr
    }

    /// The child's DS RRset as `daned ds` prints it.
    fn ds(&self) -> BTreeSet<String> {
        let ds = ds_rdata_of(&daned_ok(&self.ws, &["ds", CHILD]));
        assert!(!ds.is_empty(), "daned ds printed no DS for {CHILD}");
        ds
    }

    /// `daned keys CHILD --json`, reduced to the keys' tags, algorithms, roles and states in
    /// one line (the order daned lists them in); the raw JSON too.
    fn keys(&self) -> (String, serde_json::Value) {
        let text = daned_ok(&self.ws, &["keys", CHILD, "--json"]);
        let value: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("daned keys --json is not JSON ({e}):\n{text}"));
        (summarise_keys(&value), value)
    }
}

/// The keys of a `daned keys --json` answer (an array, or an object with a `keys` array).
fn key_list(value: &serde_json::Value) -> Vec<serde_json::Value> {
    match value {
        serde_json::Value::Array(keys) => keys.clone(),
        serde_json::Value::Object(map) => map
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A string field of a key, under one of its possible spellings.
fn field(key: &serde_json::Value, names: &[&str]) -> String {
    names
        .iter()
        .find_map(|n| key.get(*n))
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

/// One key as `TAG/ALGORITHM/ROLE=STATE` (and `,ds=STATE` once its DS is tracked).
fn key_line(key: &serde_json::Value) -> String {
    let ds = field(key, &["ds"]);
    format!(
        "{}/{}/{}={}{}",
        field(key, &["key-tag", "tag", "key_tag"]),
        field(key, &["algorithm"]),
        field(key, &["role"]),
        field(key, &["state"]),
        if ds.is_empty() || ds == "none" {
            String::new()
        } else {
            format!(",ds={ds}")
        }
    )
}

fn summarise_keys(value: &serde_json::Value) -> String {
    key_list(value)
        .iter()
        .map(key_line)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- The validators -----------------------------------------------------------------------

/// `daned dump` of the child, checked by dnssec-verify, ldns-verify-zone and kzonecheck;
/// failures go to the timeline. `csk`: the keys sign everything (dnssec-verify `-z`).
fn verify_dump(tools: &Tools, child: &ChildZone, timeline: &Timeline, label: &str, csk: bool) {
    let (status, dump, err) = run_split(
        Command::new(daned_bin())
            .args(["dump", "--offline", CHILD, "-c"])
            .arg(child.ws.config())
            .current_dir(child.ws.dir.path()),
        Duration::from_secs(60),
    );
    if !status.success() {
        timeline.fail(format!("[{label}] daned dump failed ({status}): {err}"));
        return;
    }
    let file = child.ws.path("dump.zone");
    std::fs::write(&file, &dump).expect("write dump");
    // -z: with a CSK (flags 257) signing everything, dnssec-verify would otherwise demand a
    // separate key without the SEP flag.
    let mut verify = Command::new(&tools.dnssec_verify);
    if csk {
        verify.arg("-z");
    }
    verify.args(["-o", CHILD]).arg(&file);
    let mut ldns = Command::new(&tools.ldns_verify_zone);
    ldns.arg(&file);
    let mut knot = Command::new(&tools.kzonecheck);
    knot.args(["-o", CHILD, "--dnssec", "on"]).arg(&file);
    let mut passed = Vec::new();
    let unsplit = rrsets_without_non_sep_signature(&dump);
    for (name, mut cmd) in [
        ("dnssec-verify", verify),
        ("ldns-verify-zone", ldns),
        ("kzonecheck", knot),
    ] {
        let (status, text) = run_bounded(&mut cmd, Duration::from_secs(60));
        if status.success() {
            passed.push(name);
        } else if name == "kzonecheck"
            && !unsplit.is_empty()
            && only_unverified_signatures(&text)
            && kzonecheck_requires_key_role_split(tools)
        {
            timeline.note(format!(
                "[{label}] kzonecheck rejects the dump for the KSK/ZSK role split Knot 3.2 \
                 wrongly demands (see `kzonecheck_requires_key_role_split`): {} RRset(s) \
                 signed only by SEP keys, e.g. {}; not counted: {}",
                unsplit.len(),
                unsplit.first().map(String::as_str).unwrap_or_default(),
                text.lines().next().unwrap_or_default()
            ));
        } else {
            timeline.fail(format!(
                "[{label}] {name} rejects `daned dump`:\n{text}\n--- dump ---\n{dump}"
            ));
        }
    }
    timeline.note(format!("[{label}] dump accepted by: {}", passed.join(", ")));
}

/// The RRsets of a master-file zone that kzonecheck 3.2 counts as unsigned although they are
/// validly signed: when the DNSKEY RRset holds two or more keys, every signed RRset other than
/// DNSKEY, CDS and CDNSKEY that carries no RRSIG by a key without the SEP flag (flags other than
/// 257). Empty when the DNSKEY RRset holds one key (Knot then treats it as a CSK). Each as
/// `owner/TYPE`. See [`kzonecheck_requires_key_role_split`].
fn rrsets_without_non_sep_signature(zone: &str) -> Vec<String> {
    let records: Vec<Vec<&str>> = zone
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<&str>>())
        .filter(|f| f.len() > 4)
        .collect();
    let dnskeys: Vec<(u16, u16)> = records
        .iter()
        .filter(|f| f[3] == "DNSKEY")
        .filter_map(|f| dnskey_flags_and_tag(&f[4..]))
        .collect();
    if dnskeys.len() < 2 {
        return Vec::new();
    }
    let non_sep: BTreeSet<String> = dnskeys
        .iter()
        .filter(|(flags, _)| *flags != 257)
        .map(|(_, tag)| tag.to_string())
        .collect();
    // (owner, covered type) -> whether a non-SEP key signed it.
    let mut signed: std::collections::BTreeMap<(String, String), bool> = Default::default();
    for f in records.iter().filter(|f| f[3] == "RRSIG" && f.len() > 10) {
        if ["DNSKEY", "CDS", "CDNSKEY"].contains(&f[4]) {
            continue;
        }
        let by_non_sep = non_sep.contains(f[10]);
        *signed
            .entry((f[0].to_lowercase(), f[4].to_owned()))
            .or_default() |= by_non_sep;
    }
    signed
        .into_iter()
        .filter(|(_, by_non_sep)| !by_non_sep)
        .map(|((owner, rtype), _)| format!("{owner}/{rtype}"))
        .collect()
}

/// The flags and the key tag (RFC 4034 Appendix B) of a DNSKEY RDATA in presentation format
/// (`flags protocol algorithm base64...`).
fn dnskey_flags_and_tag(rdata: &[&str]) -> Option<(u16, u16)> {
    let flags: u16 = rdata.first()?.parse().ok()?;
    let protocol: u8 = rdata.get(1)?.parse().ok()?;
    let alg: u8 = rdata.get(2)?.parse().ok()?;
    let key = data_encoding::BASE64
        .decode(rdata.get(3..)?.concat().as_bytes())
        .ok()?;
    let mut wire = flags.to_be_bytes().to_vec();
    wire.push(protocol);
    wire.push(alg);
    wire.extend_from_slice(&key);
    Some((flags, key_tag(&wire)))
}

/// Whether every error kzonecheck summarised is "no valid signature for a record".
fn only_unverified_signatures(text: &str) -> bool {
    let mut summary = text
        .lines()
        .skip_while(|l| !l.starts_with("Error summary"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .peekable();
    summary.peek().is_some()
        && summary.all(|l| {
            l.trim_start_matches([' ', '\t', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
                .trim()
                == "no valid signature for a record"
        })
}

/// Whether the installed kzonecheck demands a KSK/ZSK role split that DNSSEC does not: RFC
/// 4035 §2.2 asks only that "there MUST be an RRSIG for each RRset using at least one DNSKEY
/// of each algorithm in the zone apex DNSKEY RRset", and RFC 4034 §2.1.1 says of the SEP flag
/// that "validators MUST NOT alter their behavior during the signature validation process in
/// any way based on the setting of this bit".
///
/// Knot DNS 3.2 (3.2.6 is Debian's) validates a zone in kzonecheck by running its signer in
/// validation mode (`verify_dnssec` in src/knot/zone/semantic-check.c calls
/// `knot_dnssec_validate_zone`). The key roles come from the DNSKEY RRset alone:
/// `policy_from_zone` (src/knot/dnssec/context.c) sets `single_type_signing` only when the
/// DNSKEY RRset holds exactly one key, and `kasp_zone_keys_from_rr`
/// (src/knot/dnssec/kasp/kasp_zone.c) sets `is_ksk = (flags == 257)` and
/// `is_zsk = single_type_signing || !is_ksk`. `knot_validate_rrsigs` (src/knot/dnssec/zone-sign.c)
/// then counts, through `key_used`, a signature on any RRset other than the apex DNSKEY, CDS and
/// CDNSKEY only from an `is_zsk` key. So once the DNSKEY RRset holds two keys, a SEP key's
/// signatures on other RRsets are ignored, and an RRset signed only by SEP keys is reported as
/// KNOT_DNSSEC_ENOSIG, "no valid signature for a record". That is the case of every valid zone
/// with two CSKs (a CSK roll, an algorithm roll) and of a CSK with a pre-published ZSK (a mode
/// change to KSK+ZSK); BIND's dnssec-verify rejects these too unless given `-z` ("ignore the
/// KSK flag"), which kzonecheck 3.2 lacks. kzonecheck names one record only: each validation
/// thread (one per CPU) stops at its first failure and they share one `validation_hint`, so the
/// name shown (the apex NS, or the first name after the apex, `mail` here) is whichever thread
/// wrote last. Later Knot sets `is_zsk = true` for every key in `kasp_zone_keys_from_rr` ("doesn't
/// hurt in case of validation, any KSK might behave like ZSK that is published but not active").
///
/// Checked here on zones signed by BIND's `dnssec-signzone` and accepted by `dnssec-verify -z`:
/// kzonecheck must reject a CSK with a stand-by CSK (RFC 7583 §3.3), two CSKs of two algorithms
/// (RFC 6781 §4.1.4) and a CSK with a pre-published, not yet signing ZSK, and accept the same
/// zone with an active KSK and ZSK (so that a kzonecheck failing on everything is not taken
/// for this defect). A kzonecheck without the defect answers `false` and its verdict counts.
/// Computed once per run.
fn kzonecheck_requires_key_role_split(tools: &Tools) -> bool {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let zone = dir.path().join("child.zone");
        std::fs::copy(data_dir().join("child.zone"), &zone).expect("copy child.zone");
        let keygen = |keys: &str, args: &[&str]| {
            let keys = dir.path().join(keys);
            std::fs::create_dir_all(&keys).expect("key dir");
            let (status, text) = run_bounded(
                Command::new(&tools.dnssec_keygen)
                    .arg("-q")
                    .arg("-K")
                    .arg(&keys)
                    .args(args)
                    .arg(CHILD)
                    .current_dir(dir.path()),
                Duration::from_secs(30),
            );
            assert!(status.success(), "dnssec-keygen: {text}");
        };
        let ecdsa = ["-a", "ECDSAP256SHA256"];
        let later = ["-P", "now", "-A", "+30d"];
        keygen("standby", &[&ecdsa[..], &["-f", "KSK"]].concat());
        keygen(
            "standby",
            &[&ecdsa[..], &["-f", "KSK"], &later[..]].concat(),
        );
        keygen("two-alg", &[&ecdsa[..], &["-f", "KSK"]].concat());
        keygen("two-alg", &["-a", "ED25519", "-f", "KSK"]);
        keygen("zsk-published", &[&ecdsa[..], &["-f", "KSK"]].concat());
        keygen("zsk-published", &[&ecdsa[..], &later[..]].concat());
        keygen("ksk-zsk", &[&ecdsa[..], &["-f", "KSK"]].concat());
        keygen("ksk-zsk", &ecdsa);
        // (key directory, `-z`: the SEP keys sign everything, kzonecheck's expected verdict)
        let cases = [
            ("standby", true, false),
            ("two-alg", true, false),
            ("zsk-published", true, false),
            ("ksk-zsk", false, true),
        ];
        cases.iter().all(|(keys, csk, knot_should_accept)| {
            let signed = dir.path().join(format!("{keys}.signed"));
            let mut sign = Command::new(&tools.dnssec_signzone);
            // `-O full`: one record per line with its owner, as `daned dump` writes them.
            sign.args(["-q", "-S", "-O", "full"]);
            let mut verify = Command::new(&tools.dnssec_verify);
            if *csk {
                sign.arg("-z");
                verify.arg("-z");
            }
            let (status, text) = run_bounded(
                sign.arg("-K")
                    .arg(dir.path().join(keys))
                    .args(["-o", CHILD, "-f"])
                    .arg(&signed)
                    .arg(&zone)
                    .current_dir(dir.path()),
                Duration::from_secs(30),
            );
            assert!(status.success(), "dnssec-signzone: {text}");
            let (bind_ok, text) = run_bounded(
                verify.args(["-o", CHILD]).arg(&signed),
                Duration::from_secs(30),
            );
            assert!(
                bind_ok.success(),
                "dnssec-verify on BIND's own zone ({keys}): {text}"
            );
            let (knot_ok, text) = run_bounded(
                Command::new(&tools.kzonecheck)
                    .args(["-o", CHILD, "--dnssec", "on"])
                    .arg(&signed),
                Duration::from_secs(30),
            );
            let text_zone = std::fs::read_to_string(&signed).expect("read signed zone");
            if *knot_should_accept {
                knot_ok.success() && rrsets_without_non_sep_signature(&text_zone).is_empty()
            } else {
                !knot_ok.success()
                    && only_unverified_signatures(&text)
                    && !rrsets_without_non_sep_signature(&text_zone).is_empty()
            }
        })
    })
}

// ---- The lab: parent, child, unbound ------------------------------------------------------

/// How the child learns that its new DS is published at the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DsSeen {
    /// The child polls the parent's nameserver (`parent-servers`).
    Poll,
    /// The test runs `daned ds-seen ZONE KEYTAG` once the parent serves the DS.
    Command,
    /// The roll does not touch the DS (a ZSK roll).
    NotNeeded,
}

struct Lab {
    tools: Tools,
    timeline: Timeline,
    parent: Parent,
    child: ChildZone,
    unbound: Unbound,
    /// The unbound log and config live here.
    _dir: tempfile::TempDir,
    /// The child's CDS/CDNSKEY RRsets last handed to dnssec-cds.
    last_cds: String,
    /// A CDS/CDNSKEY change seen but not acted on yet, and since when.
    pending_cds: Option<(String, Instant)>,
    /// Key tags already reported with `daned ds-seen`.
    told_seen: BTreeSet<String>,
}

impl Lab {
    /// Starts the child with `policy` (polling the parent with `DsSeen::Poll`), then the parent
    /// with the child's DS, then unbound. Both daned instances get fixed free ports up front,
    /// so that the child knows where its parent is and a restart keeps its address.
    fn start(tools: Tools, policy: Option<Policy>, ds_seen: DsSeen) -> Self {
        let timeline = Timeline::new();
        let (child_port, parent_port) = (free_port(), free_port());
        let parent_addr = SocketAddr::from(([127, 0, 0, 1], parent_port));
        let policy = policy.map(|p| Policy {
            parent_server: (ds_seen == DsSeen::Poll).then_some(parent_addr),
            ..p
        });
        let child = ChildZone::start(policy.as_ref(), child_port);
        let ds = child.ds();
        timeline.note(format!("child started on {}; DS {ds:?}", child.addr()));
        let parent = Parent::start(ds, parent_port);
        timeline.note(format!("parent started on {}", parent.addr()));
        let dir = tempfile::tempdir().expect("temp dir");
        let unbound = Unbound::start(
            &tools,
            dir.path(),
            &parent.trust_anchors(),
            parent.addr(),
            child.addr(),
        );
        timeline.note(format!("unbound validating on {}", unbound.addr));
        Self {
            tools,
            timeline,
            parent,
            child,
            unbound,
            _dir: dir,
            last_cds: String::new(),
            pending_cds: None,
            told_seen: BTreeSet::new(),
        }
    }

    /// Acts as a parent that follows CDS/CDNSKEY (RFC 7344 §4.1, RFC 8078 §3.2): when the
    /// child's CDS/CDNSKEY RRsets changed, hands them (with the child's DNSKEY RRset and the
    /// signatures) and the current DS RRset to `dnssec-cds`, which accepts them only when
    /// signed by a key the current DS RRset points to; publishes the DS RRset it computes.
    fn follow_cds(&mut self) {
        let Some((dnskey, cds, cdnskey)) = self.child_signal() else {
            self.timeline
                .fail("the child's zone changed during every attempt to read DNSKEY, CDS, CDNSKEY");
            return;
        };
        let signalled = format!("{cds}{cdnskey}");
        if signalled == self.last_cds {
            self.pending_cds = None;
            return;
        }
        // Like a registry, act on a change only once it has been published for a while.
        match &self.pending_cds {
            Some((pending, since)) if *pending == signalled => {
                if since.elapsed() < PARENT_REACTION {
                    return;
                }
            }
            _ => {
                self.pending_cds = Some((signalled, Instant::now()));
                return;
            }
        }
        self.pending_cds = None;
        self.last_cds = signalled.clone();
        let has = |text: &str, rtype: &str| {
            text.lines()
                .any(|l| l.split_whitespace().nth(3) == Some(rtype))
        };
        if !has(&cds, "CDS") && !has(&cdnskey, "CDNSKEY") {
            self.timeline.note("child publishes no CDS/CDNSKEY");
            return;
        }
        let cds_rdata: Vec<String> = cds
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 4 && f[3] == "CDS").then(|| normalise_ds(&f[4..].join(" ")))
            })
            .collect();
        self.timeline.note(format!(
            "child publishes CDS {cds_rdata:?} (and CDNSKEY: {})",
            has(&cdnskey, "CDNSKEY")
        ));
        let file = self.parent.ws.path("child-cds.zone");
        std::fs::write(&file, format!("{dnskey}{signalled}")).expect("write child records");
        let dsset = self.parent.dsset_file();
        // -s: accept any signature made since 2000 (daned back-dates inception by an hour,
        // earlier than the dsset file just written, which dnssec-cds would otherwise require).
        let (status, out, err) = run_split(
            Command::new(&self.tools.dnssec_cds)
                .args(["-s", "20000101000000", "-f"])
                .arg(&file)
                .arg("-d")
                .arg(&dsset)
                .arg(CHILD),
            Duration::from_secs(30),
        );
        if !status.success() {
            self.timeline.fail(format!(
                "dnssec-cds rejected the child's CDS/CDNSKEY ({status}): {err}\n--- input ---\n{dnskey}{signalled}"
            ));
            return;
        }
        let new = ds_rdata_of(&out);
        if new.is_empty() {
            self.timeline.fail(format!(
                "dnssec-cds computed an empty DS RRset:\n{out}{err}"
            ));
            return;
        }
        if new == self.parent.ds {
            self.timeline
                .note("CDS/CDNSKEY changed, DS RRset unchanged (dnssec-cds)");
            return;
        }
        let added: BTreeSet<String> = new.difference(&self.parent.ds).cloned().collect();
        let removed: BTreeSet<String> = self.parent.ds.difference(&new).cloned().collect();
        self.parent.publish(new);
        self.timeline.note(format!(
            "parent publishes DS RRset: added {added:?}, removed {removed:?}"
        ));
    }

    /// The child's DNSKEY, CDS and CDNSKEY RRsets with their signatures, all from one version
    /// of the zone (the SOA serial is the same before and after; a few tries).
    fn child_signal(&self) -> Option<(String, String, String)> {
        let child = self.child.addr();
        let serial = || {
            dig_records(&self.tools, child, CHILD, "SOA")
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.len() > 6 && f[3] == "SOA").then(|| f[6].to_owned())
                })
                .unwrap_or_default()
        };
        for _ in 0..5 {
            let before = serial();
            let dnskey = dig_records(&self.tools, child, CHILD, "DNSKEY");
            let cds = dig_records(&self.tools, child, CHILD, "CDS");
            let cdnskey = dig_records(&self.tools, child, CHILD, "CDNSKEY");
            if serial() == before {
                return Some((dnskey, cds, cdnskey));
            }
        }
        None
    }

    /// With `DsSeen::Command`: for every tag the child awaits a DS for (`awaiting-ds`) that
    /// the parent now serves, runs `daned ds-seen CHILD TAG` (once per tag).
    fn tell_ds_seen(&mut self, keys: &serde_json::Value) {
        let awaited: Vec<String> = keys
            .get("awaiting-ds")
            .and_then(serde_json::Value::as_array)
            .map(|tags| tags.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        let at_parent = ds_tags(&self.parent.ds);
        for tag in awaited {
            if at_parent.contains(&tag) && self.told_seen.insert(tag.clone()) {
                daned_ok(&self.child.ws, &["ds-seen", CHILD, &tag]);
                self.timeline.note(format!("daned ds-seen {CHILD} {tag}"));
            }
        }
    }

    /// Polls the child's key states every 0.5 s while a prober asks unbound; at every change
    /// asks unbound once more and checks `daned dump` with the three validators. Runs
    /// `trigger` after the first look at the keys. Follows the child's CDS at the parent; with
    /// `DsSeen::Command` tells the child about published DS records. Ends once `done` holds
    /// for the keys and the parent's DS RRset (then watches two TTLs more), or at `timeout`.
    fn watch_roll(
        &mut self,
        label: &str,
        ds_seen: DsSeen,
        csk: bool,
        timeout: Duration,
        trigger: impl FnOnce(&mut Lab, &Prober),
        done: impl Fn(&[serde_json::Value], &BTreeSet<String>) -> bool,
    ) {
        self.watch_roll_reacting(label, ds_seen, csk, timeout, trigger, |_, _| {}, done);
    }

    /// [`Lab::watch_roll`], and `react` runs with the keys at every poll (before the parent
    /// follows the child's CDS), to act in the middle of a roll. dnssec-verify runs with `-z`
    /// when `csk` is set or while a CSK is still listed (a mode change).
    #[allow(clippy::too_many_arguments)]
    fn watch_roll_reacting(
        &mut self,
        label: &str,
        ds_seen: DsSeen,
        csk: bool,
        timeout: Duration,
        trigger: impl FnOnce(&mut Lab, &Prober),
        mut react: impl FnMut(&mut Lab, &[serde_json::Value]),
        done: impl Fn(&[serde_json::Value], &BTreeSet<String>) -> bool,
    ) {
        let prober = Prober::start(&self.tools, self.unbound.addr, &self.timeline);
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        let mut finished_at: Option<Instant> = None;
        let mut steps = 0;
        let mut trigger = Some(trigger);
        loop {
            let (summary, value) = self.child.keys();
            if summary != last {
                steps += 1;
                self.timeline.note(format!("[{label}] keys: {summary}"));
                let round = probe_round(&self.tools, self.unbound.addr, &self.timeline, label);
                self.timeline.note(format!("[{label}] at change: {round}"));
                let keys = key_list(&value);
                let csk_listed = keys
                    .iter()
                    .any(|k| key_field(k, "role") == "csk" && key_field(k, "state") != "removed");
                verify_dump(
                    &self.tools,
                    &self.child,
                    &self.timeline,
                    label,
                    csk || csk_listed,
                );
                last = summary;
            }
            if let Some(trigger) = trigger.take() {
                trigger(self, &prober);
                continue;
            }
            react(self, &key_list(&value));
            if ds_seen != DsSeen::NotNeeded {
                self.follow_cds();
            }
            if ds_seen == DsSeen::Command {
                self.tell_ds_seen(&value);
            }
            // A step daned itself scheduled must happen on time (with slack for a loaded
            // machine): a stalled timer shows here rather than as a timeout.
            if let Some(overdue) = overdue_key_event(&value, OVERDUE_SLACK) {
                self.timeline.fail(format!(
                    "[{label}] {overdue}; keys: {last}; raw: {}",
                    value.get("next-key-event").cloned().unwrap_or_default()
                ));
                break;
            }
            if finished_at.is_none() && done(&key_list(&value), &self.parent.ds) {
                self.timeline.note(format!("[{label}] roll complete"));
                finished_at = Some(Instant::now());
            }
            // After the roll, keep asking for two TTLs and a margin: caches still hold what
            // was published before the last step.
            if finished_at
                .is_some_and(|t| t.elapsed() > Duration::from_secs(u64::from(2 * DS_TTL + 1)))
            {
                break;
            }
            if Instant::now() > deadline {
                self.timeline.fail(format!(
                    "[{label}] the roll did not complete within {timeout:?}; last keys: {last}"
                ));
                break;
            }
            std::thread::sleep(POLL);
        }
        let rounds = prober.finish();
        self.timeline.note(format!(
            "[{label}] {steps} key states seen, prober asked {rounds} rounds"
        ));
        self.check_status_matches_keys(label);
    }

    /// `daned status --json` shows the child's keys with the same states as `daned keys`. The
    /// keys may move between the two commands (a lifetime may start another roll), so the
    /// status counts only when `daned keys` says the same before and after it (a few tries).
    fn check_status_matches_keys(&self, label: &str) {
        let (mut keys, mut in_status) = (String::new(), String::new());
        for _ in 0..5 {
            let (before, _) = self.child.keys();
            let text = daned_ok(&self.child.ws, &["status", "--json"]);
            let status: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("daned status --json is not JSON ({e}):\n{text}"));
            let zone = status["zones"]
                .as_array()
                .and_then(|zones| zones.iter().find(|z| z["origin"] == CHILD))
                .cloned()
                .unwrap_or_default();
            in_status = summarise_keys(&zone);
            keys = self.child.keys().0;
            if keys == before {
                break;
            }
        }
        if in_status != keys {
            self.timeline.fail(format!(
                "[{label}] daned status --json lists keys {in_status:?}, daned keys {keys:?}"
            ));
        }
    }

    /// Stops every process and fails with the timeline and unbound's log if anything failed.
    fn finish(mut self) {
        if let Some(server) = self.child.server.take() {
            server.stop();
        }
        if let Some(server) = self.parent.server.take() {
            server.stop();
        }
        let failures = self.timeline.failures();
        let timeline = self.timeline.text();
        eprintln!("--- timeline ---\n{timeline}");
        assert!(
            failures.is_empty(),
            "{} failure(s):\n{}\n--- timeline ---\n{timeline}\n--- unbound log ---\n{}",
            failures.len(),
            failures.join("\n"),
            self.unbound.log_text()
        );
    }
}

/// How late a scheduled key step may be before the test calls it stalled.
const OVERDUE_SLACK: u64 = 6;

/// The `next-key-event` of a `daned keys --json` answer when it is more than `slack` seconds
/// past due, described.
fn overdue_key_event(keys: &serde_json::Value, slack: u64) -> Option<String> {
    let event = keys.get("next-key-event")?;
    let at = event.get("at-unix")?.as_u64()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    (now > at + slack).then(|| {
        format!(
            "the scheduled key step {:?} was due at {} and is {} s overdue",
            field(event, &["what"]),
            field(event, &["at-utc"]),
            now - at
        )
    })
}

/// The key tags of a DS RRset.
fn ds_tags(ds: &BTreeSet<String>) -> BTreeSet<String> {
    ds.iter()
        .filter_map(|d| d.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// A key's field as a string (`key-tag` and the like are numbers in the JSON).
fn key_field(key: &serde_json::Value, name: &str) -> String {
    field(key, &[name])
}

/// The keys in `state` with `role` (`csk`, `ksk`, `zsk`).
fn keys_in<'a>(
    keys: &'a [serde_json::Value],
    role: &'a str,
    state: &'a str,
) -> impl Iterator<Item = &'a serde_json::Value> + 'a {
    keys.iter()
        .filter(move |k| key_field(k, "role") == role && key_field(k, "state") == state)
}

/// Whether the key `tag` is gone: listed as `removed`, or not listed at all.
fn is_removed(keys: &[serde_json::Value], tag: &str) -> bool {
    keys.iter()
        .filter(|k| key_field(k, "key-tag") == tag)
        .all(|k| key_field(k, "state") == "removed")
}

/// The tag of the one key with `role` in `state` (a failure when there is not exactly one).
fn only_key(keys: &[serde_json::Value], role: &str, state: &str) -> String {
    let found: Vec<String> = keys_in(keys, role, state)
        .map(|k| key_field(k, "key-tag"))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {state} {role}, daned keys lists {}",
        summarise_keys(&serde_json::Value::Array(keys.to_vec()))
    );
    found[0].clone()
}

// ---- The tests ----------------------------------------------------------------------------

/// RFC 4035 §5: "a security-aware resolver [...] can authenticate [...] by following the
/// chain of trust from the trust anchor": from the parent's DS (the only trust anchor) through
/// the child's DS at the parent to the child's DNSKEY, its TLSA records and its denial of
/// existence. With main's single CSK; the child's `daned dump` passes the three validators.
#[test]
#[ignore = "needs dig, dnssec-cds, dnssec-keygen, dnssec-signzone, dnssec-verify, kzonecheck, ldns-verify-zone, unbound"]
fn rfc4035_s5_chain_of_trust_parent_to_child_through_unbound() {
    let Some(tools) = Tools::find() else { return };
    let lab = Lab::start(tools, None, DsSeen::NotNeeded);
    for i in 0..3 {
        let round = probe_round(&lab.tools, lab.unbound.addr, &lab.timeline, "baseline");
        lab.timeline.note(format!("baseline round {i}: {round}"));
        std::thread::sleep(Duration::from_millis(300));
    }
    verify_dump(&lab.tools, &lab.child, &lab.timeline, "baseline", true);

    // The harness can see a broken chain: a DS whose digest matches no child key makes the
    // child bogus (RFC 4035 §5.2: the DNSKEY RRset must match a DS), i.e. SERVFAIL, once the
    // cached DNSKEY and DS RRsets expired.
    let mut lab = lab;
    let good = lab.parent.ds.clone();
    let broken: BTreeSet<String> = good
        .iter()
        .map(|ds| {
            let (head, digest) = ds.rsplit_once(' ').expect("DS has a digest");
            let flipped = if digest.starts_with('0') { "1" } else { "0" };
            format!("{head} {flipped}{}", &digest[1..])
        })
        .collect();
    lab.parent.publish(broken);
    lab.timeline
        .note("parent publishes a DS matching no child key");
    let deadline = Instant::now() + Duration::from_secs(15);
    let servfail = loop {
        let answer = dig(&lab.tools, lab.unbound.addr, CHILD, "SOA", &[]);
        if answer.status == "SERVFAIL" && !answer.ad {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    lab.timeline
        .note(format!("SERVFAIL with the broken DS: {servfail}"));
    if !servfail {
        lab.timeline
            .fail("unbound still validated the child with a DS matching none of its keys");
    }
    lab.parent.publish(good);
    lab.finish();
}

/// The policy the roll tests start from: ECDSA P-256, 2 s TTLs, 1 s delays, no lifetimes.
fn accelerated(mode: &'static str, denial: &'static str) -> Policy {
    Policy {
        mode,
        algorithm: "ecdsap256sha256",
        denial,
        zsk_lifetime: "0",
        cds: "always",
        parent_server: None,
    }
}

/// The keys as `daned keys --json` lists them now.
fn current_keys(lab: &Lab) -> Vec<serde_json::Value> {
    key_list(&lab.child.keys().1)
}

/// RFC 7583 §3.2.1 (ZSK roll by pre-publication), started by the ZSK's lifetime: "the new ZSK
/// is published in the DNSKEY RRset [...] Once the new ZSK has been published for long enough
/// (at least the TTL of the DNSKEY RRset [...]), the zone can be signed with it and the old
/// key withdrawn [...] after the signatures created with it have expired from caches". In
/// KSK+ZSK mode with NSEC; no parent involvement (the KSK and the DS stay).
#[test]
#[ignore = "needs dig, dnssec-cds, dnssec-keygen, dnssec-signzone, dnssec-verify, kzonecheck, ldns-verify-zone, unbound"]
fn rfc7583_s3_2_zsk_prepublication_roll_validates_at_every_step() {
    let Some(tools) = Tools::find() else { return };
    let policy = Policy {
        zsk_lifetime: "8s",
        ..accelerated("ksk-zsk", "nsec")
    };
    let mut lab = Lab::start(tools, Some(policy), DsSeen::NotNeeded);
    let keys = current_keys(&lab);
    let ksk = only_key(&keys, "ksk", "active");
    let old_zsk = only_key(&keys, "zsk", "active");
    let ds_before = lab.parent.ds.clone();
    lab.timeline.note(format!(
        "ksk {ksk}, zsk {old_zsk}; the zsk-lifetime (8 s) starts the roll"
    ));
    lab.watch_roll(
        "zsk roll",
        DsSeen::NotNeeded,
        false,
        Duration::from_secs(60),
        |_, _| {},
        |keys, _| {
            is_removed(keys, &old_zsk)
                && keys_in(keys, "zsk", "active").count() == 1
                && keys_in(keys, "ksk", "active")
                    .map(|k| key_field(k, "key-tag"))
                    .eq([ksk.clone()])
        },
    );
    let keys = current_keys(&lab);
    let new_zsk = keys_in(&keys, "zsk", "active")
        .map(|k| key_field(k, "key-tag"))
        .next()
        .unwrap_or_default();
    lab.timeline.note(format!(
        "zsk {old_zsk} replaced by {new_zsk}; ksk {ksk} kept"
    ));
    if new_zsk == old_zsk || new_zsk.is_empty() {
        lab.timeline.fail("no new ZSK became active");
    }
    if lab.parent.ds != ds_before {
        lab.timeline
            .fail("a ZSK roll changed the DS RRset at the parent");
    }
    lab.finish();
}

/// RFC 7583 §3.3.2 (double-DS KSK/CSK roll) with RFC 7344 signalling, started by `daned
/// key-rollover CHILD csk`: "the new KSK is added to the DNSKEY RRset [...] the DS record for
/// the new KSK is added to the parent [...] once the DS RRset with both records has
/// propagated, the old KSK can be removed". The parent follows the child's CDS/CDNSKEY
/// (RFC 7344 §4.1: "the parent [...] MUST validate the CDS/CDNSKEY [...] using the existing
/// DS"), and the child learns of the new DS by polling the parent (`parent-servers`). CSK mode
/// with NSEC3 (RFC 5155, RFC 9276 parameters).
#[test]
#[ignore = "needs dig, dnssec-cds, dnssec-keygen, dnssec-signzone, dnssec-verify, kzonecheck, ldns-verify-zone, unbound"]
fn rfc7583_s3_3_csk_double_ds_roll_with_cds_and_parent_polling() {
    let Some(tools) = Tools::find() else { return };
    let mut lab = Lab::start(tools, Some(accelerated("csk", "nsec3")), DsSeen::Poll);
    let old = only_key(&current_keys(&lab), "csk", "active");
    lab.timeline.note(format!("csk {old}"));
    lab.watch_roll(
        "csk roll",
        DsSeen::Poll,
        true,
        Duration::from_secs(60),
        |lab, _| {
            daned_ok(&lab.child.ws, &["key-rollover", CHILD, "csk"]);
            lab.timeline.note(format!("daned key-rollover {CHILD} csk"));
        },
        |keys, parent_ds| {
            let active: Vec<String> = keys_in(keys, "csk", "active")
                .map(|k| key_field(k, "key-tag"))
                .collect();
            is_removed(keys, &old)
                && active.len() == 1
                && active[0] != old
                && ds_tags(parent_ds) == BTreeSet::from([active[0].clone()])
        },
    );
    lab.finish();
}

/// RFC 6781 §4.1.4 (algorithm rollover), ECDSA P-256 to Ed25519 by a changed config and
/// `daned reload`, then a restart right after the roll began (it resumes from the state the
/// reload wrote): "signatures with the new algorithm are added to the zone [...] then the new key
/// is added to the DNSKEY RRset [...] then the DS [...] the old DS is removed [...] then the
/// old key [...] finally the signatures with the old algorithm", so that at every step every
/// algorithm in the DS RRset signs every RRset (RFC 4035 §2.2; unbound runs with
/// `harden-algo-downgrade`). The child learns of the new DS from `daned ds-seen`. CSK mode
/// with NSEC.
#[test]
#[ignore = "needs dig, dnssec-cds, dnssec-keygen, dnssec-signzone, dnssec-verify, kzonecheck, ldns-verify-zone, unbound"]
fn rfc6781_s4_1_4_algorithm_roll_ecdsa_to_ed25519_with_ds_seen() {
    let Some(tools) = Tools::find() else { return };
    let policy = accelerated("csk", "nsec");
    let mut lab = Lab::start(tools, Some(policy.clone()), DsSeen::Command);
    let old = only_key(&current_keys(&lab), "csk", "active");
    lab.timeline.note(format!("csk {old} (ecdsap256sha256)"));
    lab.watch_roll(
        "algorithm roll",
        DsSeen::Command,
        true,
        Duration::from_secs(60),
        |lab, prober| {
            let ed25519 = Policy {
                algorithm: "ed25519",
                ..policy
            };
            lab.child.reload(&ed25519);
            lab.timeline
                .note("child reloaded with algorithm = \"ed25519\"");
            let (keys, _) = lab.child.keys();
            lab.timeline.note(format!("keys after the reload: {keys}"));
            // No question reaches unbound while the child is down, so that a refused query
            // is not taken for a validation failure.
            prober.pause();
            lab.child.restart(&ed25519);
            lab.timeline.note("child restarted mid-roll");
            prober.resume();
        },
        |keys, parent_ds| {
            let live: Vec<&serde_json::Value> = keys
                .iter()
                .filter(|k| key_field(k, "state") != "removed")
                .collect();
            let active: Vec<String> = keys_in(keys, "csk", "active")
                .map(|k| key_field(k, "key-tag"))
                .collect();
            is_removed(keys, &old)
                && live.iter().all(|k| key_field(k, "algorithm") == "ed25519")
                && active.len() == 1
                && ds_tags(parent_ds) == BTreeSet::from([active[0].clone()])
                && parent_ds
                    .iter()
                    .all(|ds| ds.split_whitespace().nth(1) == Some("15"))
        },
    );
    lab.finish();
}

/// The tags of the keys with `role` in any of `states`.
fn tags_in(keys: &[serde_json::Value], role: &str, states: &[&str]) -> Vec<String> {
    keys.iter()
        .filter(|k| {
            key_field(k, "role") == role && states.contains(&key_field(k, "state").as_str())
        })
        .map(|k| key_field(k, "key-tag"))
        .collect()
}

/// Whether the keys are back to a steady KSK+ZSK pair other than `old`: one active KSK and one
/// active ZSK, every other key removed, and the parent's DS RRset naming the active KSK alone.
fn settled_ksk_zsk(keys: &[serde_json::Value], parent_ds: &BTreeSet<String>, old: &[&str]) -> bool {
    let ksk = tags_in(keys, "ksk", &["active"]);
    let zsk = tags_in(keys, "zsk", &["active"]);
    let others = keys
        .iter()
        .filter(|k| !["active", "removed"].contains(&key_field(k, "state").as_str()))
        .count();
    ksk.len() == 1
        && zsk.len() == 1
        && others == 0
        && keys_in(keys, "csk", "active").count() == 0
        && old.iter().all(|tag| is_removed(keys, tag))
        && ds_tags(parent_ds) == BTreeSet::from([ksk[0].clone()])
}

/// RFC 7583 §3.3.2 (double-DS KSK roll) in KSK+ZSK mode, started by `daned key-rollover CHILD
/// ksk`, with a ZSK pre-publication roll (§3.2.1) started by `daned key-rollover CHILD zsk`
/// while the KSK roll waits for its DS at the parent: "the new KSK is added to the DNSKEY
/// RRset [...] the DS record for the new KSK is added to the parent [...] once the DS RRset
/// with both records has propagated, the old KSK can be removed". The lifecycle lets the two
/// rolls overlap (crates/sign/src/lifecycle.rs, "Which rolls may run at once"): the KSK roll
/// only changes which keys sign the DNSKEY RRset and which DS the parent holds, the ZSK roll
/// which key signs the rest. The parent follows the child's CDS/CDNSKEY with `dnssec-cds`;
/// `cds = "rollover"` names the new KSK alone while it waits, so the parent swaps the DS in
/// one step (the new KSK signs the DNSKEY RRset from its publication, so either DS validates);
/// the child learns of the new DS by polling the parent. NSEC3.
#[test]
#[ignore = "needs dig, dnssec-cds, dnssec-keygen, dnssec-signzone, dnssec-verify, kzonecheck, ldns-verify-zone, unbound"]
fn rfc7583_s3_3_ksk_double_ds_roll_with_zsk_roll_overlapping() {
    let Some(tools) = Tools::find() else { return };
    let policy = Policy {
        cds: "rollover",
        ..accelerated("ksk-zsk", "nsec3")
    };
    let mut lab = Lab::start(tools, Some(policy), DsSeen::Poll);
    let keys = current_keys(&lab);
    let old_ksk = only_key(&keys, "ksk", "active");
    let old_zsk = only_key(&keys, "zsk", "active");
    lab.timeline.note(format!("ksk {old_ksk}, zsk {old_zsk}"));
    // Set by `react`: when the ZSK roll was started (and what the keys were then), and whether
    // a KSK successor and a ZSK successor were ever listed together.
    let mut zsk_roll_started: Option<String> = None;
    let mut overlap_seen = false;
    lab.watch_roll_reacting(
        "ksk roll + zsk roll",
        DsSeen::Poll,
        false,
        Duration::from_secs(90),
        |lab, _| {
            daned_ok(&lab.child.ws, &["key-rollover", CHILD, "ksk"]);
            lab.timeline.note(format!("daned key-rollover {CHILD} ksk"));
        },
        |lab, keys| {
            // The new KSK is ready, its DS submitted, and the parent does not serve it yet:
            // the KSK roll waits for the DS. Start the ZSK roll now.
            let waiting: Vec<String> = keys_in(keys, "ksk", "ready")
                .filter(|k| key_field(k, "ds") == "submitted")
                .map(|k| key_field(k, "key-tag"))
                .filter(|tag| !ds_tags(&lab.parent.ds).contains(tag))
                .collect();
            if zsk_roll_started.is_none() && !waiting.is_empty() {
                daned_ok(&lab.child.ws, &["key-rollover", CHILD, "zsk"]);
                let (summary, _) = lab.child.keys();
                lab.timeline.note(format!(
                    "daned key-rollover {CHILD} zsk while ksk {} waits for its DS",
                    waiting[0]
                ));
                zsk_roll_started = Some(summary);
            }
            let ksk_successor = !tags_in(keys, "ksk", &["published", "ready"]).is_empty();
            let zsk_rolling = !tags_in(keys, "zsk", &["published", "ready", "retired"]).is_empty();
            overlap_seen |= ksk_successor && zsk_rolling;
        },
        |keys, parent_ds| settled_ksk_zsk(keys, parent_ds, &[&old_ksk, &old_zsk]),
    );
    match &zsk_roll_started {
        None => lab
            .timeline
            .fail("the KSK roll never waited for its DS with the new KSK ready"),
        Some(keys) => lab
            .timeline
            .note(format!("keys when the zsk roll started: {keys}")),
    }
    if !overlap_seen {
        lab.timeline
            .fail("no key state listed a KSK successor and a ZSK roll at once");
    }
    lab.finish();
}

/// A key mode change, CSK to KSK+ZSK, by a changed config and a restart (lifecycle.rs: "the
/// new keys are `Published` [...] and follow the KSK/CSK steps above together: all become
/// `Active` when the new SEP key's DS has been seen `DprpP + TTLds` ago, and every old key is
/// `Retired`"). RFC 7583 §3.3.2's double-DS steps apply to the new KSK, whose DS the parent
/// adds from the child's CDS (dnssec-cds) beside the CSK's, and RFC 4035 §2.2 to every state:
/// every RRset stays signed by a key the DNSKEY RRset of every cache lists. The child learns of
/// the new DS from `daned ds-seen`. NSEC.
#[test]
#[ignore = "needs dig, dnssec-cds, dnssec-keygen, dnssec-signzone, dnssec-verify, kzonecheck, ldns-verify-zone, unbound"]
fn rfc7583_s3_3_mode_change_csk_to_ksk_zsk_by_restart() {
    let Some(tools) = Tools::find() else { return };
    let policy = accelerated("csk", "nsec");
    let mut lab = Lab::start(tools, Some(policy.clone()), DsSeen::Command);
    let old = only_key(&current_keys(&lab), "csk", "active");
    lab.timeline.note(format!("csk {old}"));
    lab.watch_roll(
        "mode change",
        DsSeen::Command,
        true,
        Duration::from_secs(60),
        |lab, prober| {
            // No question reaches unbound while the child is down (see the algorithm roll).
            prober.pause();
            lab.child.restart(&Policy {
                mode: "ksk-zsk",
                ..policy
            });
            lab.timeline.note("child restarted with mode = \"ksk-zsk\"");
            prober.resume();
        },
        |keys, parent_ds| settled_ksk_zsk(keys, parent_ds, &[&old]),
    );
    lab.finish();
}
