//! Shared test support: a `daned` process in a temporary directory, and external tools.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use daned::clock::Clock;
use daned::config::Config;
use daned::events::manager::Manager;

/// The repository root (two levels above this crate).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `daned` binary under test.
pub(crate) fn daned_bin() -> &'static str {
    env!("CARGO_BIN_EXE_daned")
}

/// An external tool, or `None` (with a loud message) when it is not installed. With
/// `DANED_REQUIRE_TOOLS=1` (CI) a missing tool fails the test instead.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if tools_required() {
            panic!("required tool `{name}` is not installed (DANED_REQUIRE_TOOLS=1)");
        }
        eprintln!(
            "\n**********\nSKIPPING: `{name}` is not installed; this interop check did not run.\n\
             Install it (see .ci/run) or set DANED_REQUIRE_TOOLS=1 to make this a failure.\n**********\n"
        );
    }
    found
}

/// Whether missing tools fail the tests (`DANED_REQUIRE_TOOLS=1`, as in CI) rather than skip.
pub(crate) fn tools_required() -> bool {
    std::env::var("DANED_REQUIRE_TOOLS").as_deref() == Ok("1")
}

/// A scratch directory with a config serving the example zone (copied from the repository) on
/// 127.0.0.1 port 0, keys and state inside it.
pub(crate) struct Workspace {
    /// The temporary directory (removed on drop).
    pub(crate) dir: tempfile::TempDir,
}

impl Workspace {
    /// The example zone and certificate, with `extra_config` appended to the zone table.
    pub(crate) fn example() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = repo_root();
        std::fs::create_dir_all(dir.path().join("certs")).unwrap();
        std::fs::copy(
            root.join("zones/example.com.zone"),
            dir.path().join("example.com.zone"),
        )
        .unwrap();
        std::fs::copy(
            root.join("zones/certs/mail.example.com.pem"),
            dir.path().join("certs/mail.pem"),
        )
        .unwrap();
        let ws = Self { dir };
        ws.write_config("");
        ws
    }

    /// Writes daned.toml; `zone_extra` is appended inside the `[[zone]]` table.
    pub(crate) fn write_config(&self, zone_extra: &str) {
        self.write_config_with_server("", zone_extra);
    }

    /// [`Self::write_config`] with `server_extra` appended inside the `[server]` table.
    pub(crate) fn write_config_with_server(&self, server_extra: &str, zone_extra: &str) {
        let text = format!(
            r#"version = "v1"
[server]
listen = ["127.0.0.1:0"]
key-dir = "keys"
state-dir = "state"
{server_extra}

[[zone]]
origin = "example.com."
file = "example.com.zone"
{zone_extra}
[[zone.tlsa]]
name = "mail"
certificate = "certs/mail.pem"
host = "mail"
ports = [25, 465, 587]
ttl = "300"
# The example zone's addresses are nobody's servers: tests probe only loopback.
probe = false
"#
        );
        std::fs::write(self.config(), text).unwrap();
    }

    /// The config file.
    pub(crate) fn config(&self) -> PathBuf {
        self.dir.path().join("daned.toml")
    }

    /// A path inside the workspace.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes what `daned ds --trust-anchor` prints to `anchors.conf` (a trust anchor file for
    /// delv and unbound) and returns its path; the test fails if the command does.
    pub(crate) fn trust_anchor_file(&self) -> PathBuf {
        let out = self.daned(&["ds", "--trust-anchor"]);
        assert!(
            out.status.success(),
            "daned ds: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = self.path("anchors.conf");
        std::fs::write(&path, &out.stdout).unwrap();
        path
    }

    /// Runs `daned ARGS... -c daned.toml` to completion.
    pub(crate) fn daned(&self, args: &[&str]) -> Output {
        Command::new(daned_bin())
            .args(args)
            .arg("-c")
            .arg(self.config())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run daned")
    }

    /// Starts `daned serve` and waits (bounded) until it listens.
    pub(crate) fn serve(&self) -> Server {
        Server::start(self, Duration::from_secs(60), "info")
    }

    /// [`Self::serve`] with `RUST_LOG` set to `filter` (to see a module's debug lines).
    pub(crate) fn serve_logging(&self, filter: &str) -> Server {
        Server::start(self, Duration::from_secs(60), filter)
    }

    /// [`Self::serve`] for a zone whose signing at start may take longer than a minute.
    pub(crate) fn serve_within(&self, timeout: Duration) -> Server {
        Server::start(self, timeout, "info")
    }

    /// [`Self::serve`] with the soft and hard descriptor limits of the daemon set to `limit`
    /// (`ulimit -n` in a shell that then execs daned).
    pub(crate) fn serve_with_descriptor_limit(&self, limit: u32) -> Server {
        Server::start_with(self, Duration::from_secs(60), "info", Some(limit))
    }
}

/// A running `daned serve`, killed on drop.
pub(crate) struct Server {
    child: Child,
    /// Where it listens (UDP and TCP).
    pub(crate) addr: SocketAddr,
    /// Everything it logged so far is forwarded here.
    pub(crate) log: mpsc::Receiver<String>,
}

impl Server {
    fn start(ws: &Workspace, timeout: Duration, log_filter: &str) -> Self {
        Self::start_with(ws, timeout, log_filter, None)
    }

    fn start_with(
        ws: &Workspace,
        timeout: Duration,
        log_filter: &str,
        descriptor_limit: Option<u32>,
    ) -> Self {
        let mut command = match descriptor_limit {
            None => Command::new(daned_bin()),
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(daned_bin());
                sh
            }
        };
        let mut child = command
            .args(["serve", "--threads", "2", "-c"])
            .arg(ws.config())
            .current_dir(ws.dir.path())
            .env("RUST_LOG", log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn daned serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[daned] {line}");
                if tx.send(line).is_err() {
                    // Nobody reads any more; keep draining so daned never blocks on stderr.
                }
            }
        });
        let mut server = Self {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            log: rx,
        };
        server.addr = server.wait_listening(timeout);
        server
    }

    fn wait_listening(&mut self, timeout: Duration) -> SocketAddr {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            match self.log.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(addr) = parse_listen(&line) {
                        return addr;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        panic!("daned exited before listening: {status}");
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("daned closed stderr before listening")
                }
            }
        }
        panic!("daned did not listen within {timeout:?}");
    }

    /// Waits (bounded) for a log line containing `needle`.
    pub(crate) fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} within {timeout:?}"),
            }
        }
    }

    /// Waits (bounded) for a log line containing every one of `needles`.
    pub(crate) fn wait_log_all(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with all of {needles:?} within {timeout:?}"),
            }
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the server.
    pub(crate) fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Stops the server with SIGTERM and waits (bounded) for it.
    pub(crate) fn stop(mut self) {
        self.signal("TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Drop kills it.
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The UDP address from a `listening udp=127.0.0.1:PORT tcp=...` log line.
fn parse_listen(line: &str) -> Option<SocketAddr> {
    if !line.contains("listening") {
        return None;
    }
    // `listening udp=127.0.0.1:5300 tcp=127.0.0.1:5300` (ANSI colour codes may surround
    // the field name).
    let start = line.find("udp=")? + "udp=".len();
    let end = line[start..]
        .find(|c: char| c.is_whitespace() || c == '\u{1b}')
        .map_or(line.len(), |end| end + start);
    line[start..end].parse().ok()
}

/// Runs a command to completion, returning stdout+stderr as one string and whether it succeeded.
/// A dig that received its own query is run once more ([`retry_own_query`]).
pub(crate) fn run(cmd: &mut Command) -> (bool, String) {
    retry_own_query(
        cmd,
        |cmd| {
            let out = cmd.stdin(Stdio::null()).output().expect("run tool");
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        },
        |(_, text)| text.clone(),
    )
}

/// Runs `cmd` with `once`, and when `cmd` is dig and got its own query back (see
/// [`is_own_query`]: dig binds with SO_REUSEPORT, as daned's UDP sockets are, so the kernel can
/// hand dig the server's port as its source port), once more; at most twice, so the second
/// outcome is what the test sees. `text` is the outcome's output.
pub(crate) fn retry_own_query<R>(
    cmd: &mut Command,
    mut once: impl FnMut(&mut Command) -> R,
    text: impl Fn(&R) -> String,
) -> R {
    let first = once(cmd);
    let is_dig = Path::new(cmd.get_program()).file_name() == Some(std::ffi::OsStr::new("dig"));
    if is_dig && is_own_query(&text(&first)) {
        eprintln!("dig received its own query (SO_REUSEPORT source port); running it once more");
        return once(cmd);
    }
    first
}

/// A command's stdout followed by its stderr.
pub(crate) fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` to completion within `timeout` (killed and a panic otherwise); returns its exit
/// status and its stdout followed by its stderr.
pub(crate) fn run_bounded(cmd: &mut Command, timeout: Duration) -> (ExitStatus, String) {
    let (status, out, err) = run_split(cmd, timeout);
    (status, out + &err)
}

/// Like [`run_bounded`], with stdout and stderr apart.
pub(crate) fn run_split(cmd: &mut Command, timeout: Duration) -> (ExitStatus, String, String) {
    retry_own_query(
        cmd,
        |cmd| run_split_once(cmd, timeout),
        |(_, out, err)| format!("{out}{err}"),
    )
}

fn run_split_once(cmd: &mut Command, timeout: Duration) -> (ExitStatus, String, String) {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    // Both pipes are read while the child runs, so that it never blocks on a full one.
    let out = child.stdout.take().map(read_to_string_in_thread);
    let err = child.stderr.take().map(read_to_string_in_thread);
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let join = |h: Option<JoinHandle<String>>| {
        h.map(|h| h.join().expect("output reader"))
            .unwrap_or_default()
    };
    (status, join(out), join(err))
}

/// Reads `pipe` to its end on a thread of its own; the text (lossy UTF-8).
fn read_to_string_in_thread(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = pipe.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// A child process killed (and reaped) when dropped.
pub(crate) struct Guard {
    /// The process.
    pub(crate) child: Child,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that is free for both UDP and TCP right now.
pub(crate) fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// The wall clock in seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The zones of the workspace's config, started in-process on `clock` (no sockets).
pub(crate) fn start_manager(ws: &Workspace, clock: Arc<dyn Clock>) -> Manager {
    let config = Config::load(&ws.config()).expect("config");
    Manager::start(&config, clock).expect("zones start")
}

/// Writes a new EC P-256 private key (PEM) to `path` with `openssl genpkey`, which must succeed.
pub(crate) fn new_p256_key(openssl: &Path, path: &Path) {
    let (ok, out) = run(Command::new(openssl)
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(path));
    assert!(ok, "{out}");
}

/// Polls `probe` every 200 ms until it gives a value, at most `timeout`.
pub(crate) fn poll<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What `dig` got.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) status: String,
    /// The AD flag: the resolver validated the answer (RFC 4035 §3.2.3).
    pub(crate) ad: bool,
    /// The TLSA records, as `3 1 1 hex` (lowercase, no spaces in the data).
    pub(crate) records: std::collections::BTreeSet<String>,
    pub(crate) text: String,
}

/// Reads dig's default output: the header's status and flags, and the TLSA answer records.
pub(crate) fn parse_dig(text: &str) -> Fetched {
    if is_own_query(text) {
        return Fetched {
            status: String::new(),
            ad: false,
            records: std::collections::BTreeSet::new(),
            text: text.to_owned(),
        };
    }
    let mut status = String::new();
    let mut ad = false;
    let mut records = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            status = rest.split(',').next().unwrap_or_default().trim().to_owned();
        }
        if let Some(flags) = line.strip_prefix(";; flags:") {
            let flags = flags.split(';').next().unwrap_or_default();
            ad = flags.split_whitespace().any(|f| f == "ad");
        }
        if line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 8 && fields[3] == "TLSA" {
            let data: String = fields[7..].concat().to_ascii_lowercase();
            records.insert(format!("{} {} {} {data}", fields[4], fields[5], fields[6]));
        }
    }
    Fetched {
        status,
        ad,
        records,
        text: text.to_owned(),
    }
}

/// Whether dig printed its own query instead of an answer ("query response not set": QR is
/// clear). dig binds its UDP socket with SO_REUSEADDR/SO_REUSEPORT and connects it; when the
/// kernel happens to give it the server's own port as source port, the connected socket
/// outranks the server's and dig receives what it sent. The server never saw the query, so
/// this counts as no answer at all: callers ask again.
pub(crate) fn is_own_query(text: &str) -> bool {
    text.contains(";; Warning: query response not set")
}

/// `openssl s_server` on a free loopback port presenting `cert` (with `key`, both relative to
/// `dir`), killed when the guard drops; returns once it accepts connections.
pub(crate) fn tls_server(openssl: &Path, dir: &Path, cert: &str, key: &str) -> (Guard, u16) {
    let port = free_port();
    let child = Command::new(openssl)
        .args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", cert, "-key", key])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    let guard = Guard { child };
    poll("s_server listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    (guard, port)
}

/// `openssl ARGS` run in `dir` (bounded), which must succeed; its output.
pub(crate) fn openssl_in(openssl: &Path, dir: &Path, args: &[&str]) -> String {
    let (status, text) = run_bounded(
        Command::new(openssl).args(args).current_dir(dir),
        Duration::from_secs(30),
    );
    assert!(status.success(), "openssl {args:?} failed: {text}");
    text
}

/// The number of SOA records in an IXFR answer for `origin` from serial `from` (RFC 1995 §4:
/// two for a full transfer or a client already current, two more per difference sequence),
/// asked with `dig` over TCP.
pub(crate) fn ixfr_soas(dig: &Path, addr: SocketAddr, origin: &str, from: u32) -> usize {
    let (ok, out) = run(Command::new(dig).args([
        &format!("@{}", addr.ip()),
        "-p",
        &addr.port().to_string(),
        origin,
        &format!("IXFR={from}"),
        "+tcp",
        "+nocmd",
        "+nostats",
        "+nocomments",
        "+tries=1",
        "+time=5",
    ]));
    assert!(ok, "dig IXFR={from}: {out}");
    out.lines()
        .filter(|l| !l.starts_with(';'))
        .filter(|l| l.split_whitespace().nth(3) == Some("SOA"))
        .count()
}
