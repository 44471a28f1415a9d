//! The command line: the clap definitions, one file per command, and what the commands share
//! (the control socket argument, the tracing subscriber, the async runtime, the error report).

mod check;
mod ds;
mod dump;
mod generate;
mod init;
mod key_files;
mod keys;
mod probe;
mod reload;
mod serve;
mod sign;
mod status;
mod tlsa;
mod wait_ready;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueHint};
use daned::config::{Config, LogFormat, ZoneConfig};
use daned::control;
use daned_sign::hickory_proto::rr::Name;
use daned_sign::keys::KeyRole;

/// The version with the commit it was built from (see build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DANED_COMMIT"), ")");

/// The configuration file when neither `-c` nor `DANED_CONFIG` names one.
const DEFAULT_CONFIG: &str = "/etc/daned/daned.toml";

/// daned: an authoritative DNS server that publishes DNSSEC-signed DANE TLSA records for the
/// certificates it watches.
#[derive(Parser, Debug)]
#[command(name = "daned", version = VERSION, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load, sign and serve every configured zone (the daemon). SIGHUP reloads.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Worker threads for the runtime (default: one per CPU).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Write a working config for one zone (and a zone file skeleton if there is none yet),
    /// then check it. Refuses to replace a config that already serves a zone (unless --force).
    Init(InitArgs),
    /// Check the config, zone files, certificates and keys; print every problem with its file
    /// and line. Exit status 1 when anything is wrong. Writes nothing.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Ask the running daemon to re-read its config file, zone files and certificates; returns
    /// once the new versions are served, with each zone's serial and each binding's events
    /// since the last reload (staged, ready, switched, unsafe switch, error). Exit status: 1
    /// the config file is invalid (nothing changes) or a zone failed to reload; 3 a binding's
    /// certificate or next-key file is unusable (its last good records stay); 4 a key changed
    /// without being staged first (an unsafe switch); 0 otherwise. Settings that need a
    /// restart (listen, control-socket, control-mode, key-dir, state-dir, metrics-listen,
    /// log-format) are named in a warning and keep their running values.
    Reload {
        #[command(flatten)]
        control: ControlArg,
    },
    /// Show every zone and TLSA binding of the running daemon: serial, keys, signature horizon,
    /// rollover state, published records, when a staged key is ready, last errors.
    Status {
        #[command(flatten)]
        control: ControlArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Wait until BINDING's staged next key may be deployed (exit 0), or fail when there is no
    /// staged key or the timeout passes (exit 1). For certificate renewal hooks.
    WaitReady {
        #[command(flatten)]
        control: ControlArg,
        /// The binding's name from the config.
        binding: String,
        /// The binding's zone, if several zones have a binding of that name.
        #[arg(long)]
        zone: Option<String>,
        /// How long to wait, in seconds (0 checks once).
        #[arg(long, default_value_t = 0)]
        timeout: u64,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List ZONE's DNSSEC keys (tag, algorithm, role, state, since, DS state, file) and the
    /// next scheduled key action.
    Keys {
        #[command(flatten)]
        control: ControlArg,
        /// The zone.
        zone: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Tell the daemon that the parent now serves the DS of ZONE's key KEYTAG (a KSK or CSK
    /// rollover waits for it); returns once the re-signed zone is served.
    DsSeen {
        #[command(flatten)]
        control: ControlArg,
        /// The zone.
        zone: String,
        /// The key's tag (see `daned keys ZONE`).
        key_tag: u16,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Start a rollover of ZONE's active key of ROLE (csk, ksk or zsk) now, whatever its
    /// lifetime; returns once the zone with the new key is served.
    KeyRollover {
        #[command(flatten)]
        control: ControlArg,
        /// The zone.
        zone: String,
        /// csk, ksk or zsk.
        #[arg(value_parser = ["csk", "ksk", "zsk"])]
        role: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Connect to the servers behind BINDING's TLSA records (every binding's without it) now
    /// and print what each presents: current, next, old, mismatch, no-starttls, tls-error or
    /// unreachable. Exit status: 0 every target presents the key in use or the staged next
    /// key; 1 a target presents a key no published record matches (DANE senders fail now);
    /// 3 a target could not be checked; 4 a target still presents a replaced key (its record
    /// stays published until it presents the new one: reload that server).
    Probe {
        #[command(flatten)]
        control: ControlArg,
        /// The binding's name from the config (all bindings without it).
        binding: Option<String>,
        /// Only this zone's bindings.
        #[arg(long)]
        zone: Option<String>,
        /// Print JSON (the probed bindings' status) instead of rows.
        #[arg(long)]
        json: bool,
    },
    /// Print the TLSA record for a certificate (PEM chain or DER).
    Tlsa {
        /// The certificate file (end-entity first in a chain).
        #[arg(value_hint = ValueHint::FilePath)]
        certificate: PathBuf,
        /// Certificate usage (0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE).
        #[arg(long, default_value_t = 3)]
        usage: u8,
        /// Selector (0 full certificate, 1 SubjectPublicKeyInfo).
        #[arg(long, default_value_t = 1)]
        selector: u8,
        /// Matching type (0 exact, 1 SHA-256, 2 SHA-512).
        #[arg(long, default_value_t = 1)]
        matching: u8,
        /// Owner name to print, e.g. `_25._tcp.mail.example.com.`; without it only the RDATA is
        /// printed.
        #[arg(long)]
        name: Option<Name>,
    },
    /// Print the DS records to give the parent zone (the registrar), from the zone's keys.
    Ds {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this zone.
        zone: Option<Name>,
        /// Print a `trust-anchors { ... static-ds ... };` block for `delv -a` instead.
        #[arg(long)]
        trust_anchor: bool,
        /// The DS digest: sha256 (what every parent accepts) or sha384.
        #[arg(long, value_enum, default_value_t = DigestArg::Sha256)]
        digest: DigestArg,
        /// Print the DNSKEY records instead (for registrars that take the key, not its digest).
        #[arg(long, conflicts_with = "trust_anchor")]
        dnskey: bool,
    },
    /// Print the zones the running daemon serves, in master-file format, from one snapshot
    /// (the records and signatures a resolver gets now). With --offline: load and sign the
    /// zones from the files and keys instead, without a daemon (fresh signatures, so they
    /// differ from the served ones).
    Dump {
        #[command(flatten)]
        control: ControlArg,
        /// Only this zone.
        zone: Option<Name>,
        /// Sign the zones from the config's files and keys now instead of asking the daemon.
        #[arg(long)]
        offline: bool,
    },
    /// Import DNSSEC keys into the key directory: BIND key pairs (`K<zone>+<alg>+<tag>.key` and
    /// `.private`; name either file) or PKCS#8 PEM private keys (with --role). Prints the DS of
    /// each; a running daemon adopts them at its next start.
    ImportKey {
        #[command(flatten)]
        config: ConfigArg,
        /// The zone (as configured).
        zone: Name,
        /// The role: by default CSK for DNSKEY flags 257 and ZSK for 256; `ksk` makes a 257 key
        /// a KSK. Required for PEM keys.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// The key files.
        #[arg(required = true, value_hint = ValueHint::FilePath)]
        files: Vec<PathBuf>,
    },
    /// Write man pages or shell completions generated from this command line (for packaging).
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        what: GenerateWhat,
    },
    /// Write one of a zone's keys as a BIND key pair (`K<zone>+<alg>+<tag>.key` and `.private`)
    /// into a directory, e.g. to move the zone back to BIND. Never overwrites a file.
    ExportKey {
        #[command(flatten)]
        config: ConfigArg,
        /// The zone (as configured).
        zone: Name,
        /// The key tag of the key.
        key_tag: u16,
        /// The directory to write the two files into (created if missing).
        #[arg(long, value_hint = ValueHint::DirPath)]
        out: PathBuf,
    },
    /// Sign a zone file offline with fresh throwaway keys (a KSK and a ZSK), through the
    /// signer's streamed full pass, which makes the records `serve` signs (benchmarks and tests).
    #[command(hide = true)]
    Sign {
        /// The unsigned zone file.
        #[arg(long, value_hint = ValueHint::FilePath)]
        zone: PathBuf,
        /// Its origin.
        #[arg(long)]
        origin: Name,
        /// Where to write the signed zone.
        #[arg(long, value_hint = ValueHint::FilePath)]
        out: PathBuf,
        /// Verify every signature as it is written, not only a sample of about 2000 RRsets as
        /// `serve` does at start (the log's `verified_rrsets` counts them).
        #[arg(long)]
        verify_all: bool,
        /// Signing threads (the calling thread one of them); default: one per core.
        #[arg(long)]
        threads: Option<std::num::NonZeroUsize>,
        /// Deny existence with NSEC3 (RFC 9276 parameters) instead of NSEC.
        #[arg(long)]
        nsec3: bool,
    },
    /// Serve an already-signed master file as is, without signing (benchmarks and tests).
    #[command(hide = true)]
    ServePresigned {
        /// The signed zone file.
        #[arg(long, value_hint = ValueHint::FilePath)]
        zone: PathBuf,
        /// Its origin.
        #[arg(long)]
        origin: Name,
        /// Address to listen on (UDP and TCP).
        #[arg(long, default_value = "127.0.0.1:5300")]
        listen: SocketAddr,
        /// Worker threads.
        #[arg(long)]
        threads: Option<usize>,
        /// UDP sockets, each served by a thread of its own (default: --threads when given,
        /// else one per CPU).
        #[arg(long)]
        udp_workers: Option<std::num::NonZeroUsize>,
        /// Largest UDP response.
        #[arg(long, default_value_t = 1232)]
        udp_payload: u16,
        /// UDP responses per second per client prefix and response class, as `serve`'s
        /// `rate-limit` (0: off).
        #[arg(long, default_value_t = 200)]
        rate_limit: u32,
    },
}

/// A key role on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum RoleArg {
    /// Combined signing key (DNSKEY flags 257, signs everything).
    Csk,
    /// Key-signing key (DNSKEY flags 257, signs the DNSKEY RRset).
    Ksk,
    /// Zone-signing key (DNSKEY flags 256, signs the rest).
    Zsk,
}

impl From<RoleArg> for KeyRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Csk => KeyRole::Csk,
            RoleArg::Ksk => KeyRole::Ksk,
            RoleArg::Zsk => KeyRole::Zsk,
        }
    }
}

#[derive(Args, Debug)]
struct ControlArg {
    /// The configuration file (for the control socket's path).
    #[arg(short, long, value_hint = ValueHint::FilePath, env = "DANED_CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// The control socket, instead of the one named in the configuration.
    #[arg(long, value_hint = ValueHint::FilePath)]
    socket: Option<PathBuf>,
}

impl ControlArg {
    /// The socket path and how it was chosen, for the error when nothing listens there.
    fn socket_and_origin(&self) -> anyhow::Result<(PathBuf, String)> {
        match &self.socket {
            Some(path) => Ok((path.clone(), "given with --socket".to_owned())),
            None => {
                let config = Config::load(&self.config)?;
                let path = config.server.control_socket;
                let from = if path == config.server.state_dir.join("daned.sock") {
                    "state-dir/daned.sock (the default)"
                } else {
                    "server.control-socket"
                };
                Ok((path, format!("{from} in {}", self.config.display())))
            }
        }
    }

    /// Sends `request` to the daemon; when nothing listens, the error says so and how the
    /// socket path was chosen.
    fn request(
        &self,
        request: &control::Request,
        timeout: std::time::Duration,
    ) -> anyhow::Result<control::Response> {
        let (path, origin) = self.socket_and_origin()?;
        control::request(&path, request, timeout).map_err(|error| match error {
            control::ControlError::NotRunning { path, source } => anyhow::anyhow!(
                "daned is not running: nothing listens on the control socket {} ({source}); \
                 that path is {origin}. Start the daemon (`systemctl start daned` or \
                 `daned serve -c {}`), or name its socket with --socket",
                path.display(),
                self.config.display()
            ),
            other => other.into(),
        })
    }
}

#[derive(Args, Debug)]
struct ConfigArg {
    /// The configuration file.
    #[arg(short, long, value_hint = ValueHint::FilePath, env = "DANED_CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

/// `daned init`: what the config and the zone skeleton are made from.
#[derive(Args, Debug)]
struct InitArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The zone, e.g. `example.com.`.
    #[arg(long)]
    zone: Name,
    /// A name server of the zone, NAME or NAME=ADDRESS (the address becomes a glue A/AAAA
    /// record when NAME is inside the zone). At least one; repeat for more.
    #[arg(long = "ns", required = true, value_name = "NAME[=ADDRESS]")]
    name_servers: Vec<String>,
    /// A certificate (PEM chain, end entity first) whose TLSA records daned publishes; repeat
    /// for an RSA and an ECDSA certificate of the same host.
    #[arg(long = "certificate", required = true, value_hint = ValueHint::FilePath)]
    certificates: Vec<PathBuf>,
    /// The host the certificates are for, inside the zone (`mail` or `mail.example.com.`).
    #[arg(long, default_value = "mail")]
    host: String,
    /// An address of the host (A or AAAA in the zone; the TLS probe connects to it). Without
    /// one the probe is off.
    #[arg(long = "host-address")]
    host_addresses: Vec<std::net::IpAddr>,
    /// A TCP port of the host's TLS service (`_PORT._tcp.HOST` TLSA); repeat for more.
    #[arg(long = "port", default_values_t = [25u16])]
    ports: Vec<u16>,
    /// An address (and port) daned serves DNS on; repeat for more.
    #[arg(long = "listen", default_values_t = [SocketAddr::from(([127, 0, 0, 1], 53))])]
    listen: Vec<SocketAddr>,
    /// Where the signing keys go.
    #[arg(long, default_value = "/var/lib/daned/keys", value_hint = ValueHint::DirPath)]
    key_dir: PathBuf,
    /// Where daned keeps its state.
    #[arg(long, default_value = "/var/lib/daned/state", value_hint = ValueHint::DirPath)]
    state_dir: PathBuf,
    /// The zone file (default: ZONE.zone beside the config); a skeleton is written if missing.
    #[arg(long, value_hint = ValueHint::FilePath)]
    zone_file: Option<PathBuf>,
    /// Replace a config that already serves zones.
    #[arg(long)]
    force: bool,
}

/// What `daned generate` writes.
#[derive(Subcommand, Debug)]
enum GenerateWhat {
    /// Man pages: daned.1 and one daned-COMMAND.1 per command, into DIR.
    Man {
        /// The directory to write into (created if missing).
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
    },
    /// Shell completions for bash, zsh and fish, into DIR.
    Completions {
        /// The directory to write into (created if missing).
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
    },
}

/// The digest of `daned ds`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum DigestArg {
    /// SHA-256 (digest type 2), what every parent accepts.
    Sha256,
    /// SHA-384 (digest type 4).
    Sha384,
}

/// Runs the command `cli` names and reports its error, if any, on stderr.
pub(crate) fn run(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            // A closed stdout (e.g. `daned dump | head`) is not a failure.
            if error
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(io::stderr(), "daned: error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// The command's own function.
fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, threads } => serve::run(config, threads),
        Command::Check { config } => check::run(&config.config),
        Command::Init(args) => init::run(&args),
        Command::Reload { control } => reload::run(control),
        Command::Status { control, json } => status::run(control, json),
        Command::WaitReady {
            control,
            binding,
            zone,
            timeout,
            json,
        } => wait_ready::run(control, binding, zone, timeout, json),
        Command::Probe {
            control,
            binding,
            zone,
            json,
        } => probe::run(control, binding, zone, json),
        Command::Keys {
            control,
            zone,
            json,
        } => keys::run(&control, control::Request::Keys { zone }, json),
        Command::DsSeen {
            control,
            zone,
            key_tag,
            json,
        } => keys::run(&control, control::Request::DsSeen { zone, key_tag }, json),
        Command::KeyRollover {
            control,
            zone,
            role,
            json,
        } => keys::run(&control, control::Request::KeyRollover { zone, role }, json),
        Command::Tlsa {
            certificate,
            usage,
            selector,
            matching,
            name,
        } => tlsa::run(certificate, usage, selector, matching, name),
        Command::Generate { what } => {
            generate::run(what)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ds {
            config,
            zone,
            trust_anchor,
            digest,
            dnskey,
        } => ds::run(config, zone, trust_anchor, digest, dnskey),
        Command::Dump {
            control,
            zone,
            offline,
        } => dump::run(control, zone, offline),
        Command::ImportKey {
            config,
            zone,
            role,
            files,
        } => key_files::import(&config.config, &zone, role.map(KeyRole::from), &files),
        Command::ExportKey {
            config,
            zone,
            key_tag,
            out,
        } => key_files::export(&config.config, &zone, key_tag, &out),
        Command::Sign {
            zone,
            origin,
            out,
            verify_all,
            threads,
            nsec3,
        } => sign::run(
            zone,
            origin,
            out,
            sign::Options {
                verify_all,
                threads,
                nsec3,
            },
        ),
        Command::ServePresigned {
            zone,
            origin,
            listen,
            threads,
            udp_workers,
            udp_payload,
            rate_limit,
        } => serve::presigned(
            zone,
            origin,
            listen,
            (threads, udp_workers),
            udp_payload,
            rate_limit,
        ),
    }
}

/// The error and its causes, `: `-separated, leaving out a cause whose text the message
/// before it already contains (our error types print their source in their own message).
fn error_chain(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// How long a control request may take beyond its own wait (a reload signs).
const CONTROL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Reports a control socket error answer on stderr; exit 1.
fn control_failure(response: control::Response) -> anyhow::Result<ExitCode> {
    match response {
        control::Response::Error { message, .. } => {
            let _ = writeln!(io::stderr(), "daned: {message}");
        }
        other => {
            let _ = writeln!(io::stderr(), "daned: unexpected answer: {other:?}");
        }
    }
    Ok(ExitCode::FAILURE)
}

fn selected_zones<'c>(
    config: &'c Config,
    zone: Option<&Name>,
) -> anyhow::Result<Vec<&'c ZoneConfig>> {
    let Some(zone) = zone else {
        return Ok(config.zones.iter().collect());
    };
    let wanted = daned_sign::zone::canonical_name(zone);
    let found: Vec<_> = config
        .zones
        .iter()
        .filter(|z| daned_sign::zone::canonical_name(&z.origin) == wanted)
        .collect();
    if found.is_empty() {
        bail!("zone {wanted} is not in {}", config.path.display());
    }
    Ok(found)
}

fn runtime(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = threads {
        builder.worker_threads(threads.max(1));
    }
    builder.build().context("cannot start the async runtime")
}

/// Installs the one tracing subscriber, writing to stderr. `RUST_LOG` overrides the level.
fn init_tracing(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    // hickory-server logs every request at info; daned logs queries at trace itself.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{default_level},hickory_server=warn,hickory_proto=warn,hickory_net=warn"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_writer(io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        _ => builder.init(),
    }
}

#[cfg(test)]
mod tests;
