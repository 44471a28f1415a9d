//! The `daned` binary: command-line parsing and the top-level error report. Everything else
//! lives in the library.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueHint};
use daned::clock::{Clock, SystemClock};
use daned::config::{Config, LogFormat, ZoneConfig};
use daned::serve::{self, query};
use daned::zone::keys::store as keystore;
use daned::zone::persist::state;
use daned::zone::zonefile;
use daned::zone::{self, Mode, ZoneRuntime};
use daned::{control, daemon, fsutil};
use daned_sign::hickory_proto::dnssec::DigestType;
use daned_sign::hickory_proto::rr::rdata::TLSA;
use daned_sign::hickory_proto::rr::{Name, RData, Record};
use daned_sign::keys::KeyRole;
use daned_sign::tlsa::{self, TlsaSpec};

/// The version with the commit it was built from (see build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DANED_COMMIT"), ")");

/// The configuration file when neither `-c` nor `DANED_CONFIG` names one.
const DEFAULT_CONFIG: &str = "/etc/daned/daned.toml";

/// daned: an authoritative DNS server that publishes DNSSEC-signed DANE TLSA records for the
/// certificates it watches.
#[derive(Parser, Debug)]
#[command(name = "daned", version = VERSION, about, long_about = None)]
struct Cli {
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
    /// Sign a zone file offline with fresh throwaway keys (a KSK and a ZSK), through the same
    /// signer as `serve` (benchmarks and tests).
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
        /// Also verify every signature of the signed zone (reports `verify_all_ms`; `serve`
        /// verifies a sample at start, see `validate_ms`).
        #[arg(long)]
        verify_all: bool,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
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

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, threads } => {
            let config = Config::load(&config.config)?;
            init_tracing(config.server.log_format, "info");
            runtime(threads)?.block_on(async {
                let clock: Arc<dyn Clock> = Arc::new(SystemClock);
                daemon::run(config, clock).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config } => check(&config.config),
        Command::Init(args) => init(&args),
        Command::Reload { control } => {
            let response = control.request(&control::Request::Reload, CONTROL_TIMEOUT)?;
            let mut out = io::stdout().lock();
            match response {
                control::Response::Reloaded(answer) => {
                    control::render_reload(&answer, &mut out)?;
                    Ok(ExitCode::from(control::reload_exit_code(&answer.zones)))
                }
                other => control_failure(other),
            }
        }
        Command::Status { control, json } => {
            let response = control.request(&control::Request::Status, CONTROL_TIMEOUT)?;
            let mut out = io::stdout().lock();
            match response {
                control::Response::Status(report) if json => {
                    serde_json::to_writer_pretty(&mut out, &control::json_for_output(&report)?)?;
                    writeln!(out)?;
                    Ok(ExitCode::SUCCESS)
                }
                control::Response::Status(report) => {
                    control::render_status(&report, &mut out)?;
                    Ok(ExitCode::SUCCESS)
                }
                other => control_failure(other),
            }
        }
        Command::WaitReady {
            control,
            binding,
            zone,
            timeout,
            json,
        } => {
            let response = wait_ready(&control, &binding, zone.as_deref(), timeout)?;
            let mut out = io::stdout().lock();
            if json {
                serde_json::to_writer(&mut out, &control::json_for_output(&response)?)?;
                writeln!(out)?;
            }
            match response {
                control::Response::Ready(ready) => {
                    if !json {
                        let since = ready
                            .ready_at
                            .map(|t| format!(" since {}", control::format_utc(t)))
                            .unwrap_or_default();
                        writeln!(
                            out,
                            "{} in {}: {}{since}; the staged key may be deployed",
                            ready.binding, ready.zone, ready.state
                        )?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                other if json => Ok(if other.is_ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }),
                other => control_failure(other),
            }
        }
        Command::Probe {
            control,
            binding,
            zone,
            json,
        } => {
            let request = control::Request::Probe { binding, zone };
            let response = control.request(&request, PROBE_TIMEOUT)?;
            let mut out = io::stdout().lock();
            match response {
                control::Response::Status(report) => {
                    if json {
                        serde_json::to_writer_pretty(
                            &mut out,
                            &control::json_for_output(&report)?,
                        )?;
                        writeln!(out)?;
                    } else {
                        control::render_probe(&report, &mut out)?;
                    }
                    Ok(ExitCode::from(control::probe_verdict(&report).exit_code()))
                }
                other => control_failure(other),
            }
        }
        Command::Keys {
            control,
            zone,
            json,
        } => keys_command(&control, control::Request::Keys { zone }, json),
        Command::DsSeen {
            control,
            zone,
            key_tag,
            json,
        } => keys_command(&control, control::Request::DsSeen { zone, key_tag }, json),
        Command::KeyRollover {
            control,
            zone,
            role,
            json,
        } => keys_command(&control, control::Request::KeyRollover { zone, role }, json),
        Command::Tlsa {
            certificate,
            usage,
            selector,
            matching,
            name,
        } => {
            let spec = TlsaSpec {
                usage,
                selector,
                matching,
            };
            let data = fsutil::read_bounded(&certificate, fsutil::MAX_CERTIFICATE_BYTES)?;
            let chain =
                tlsa::parse_chain(&data).with_context(|| format!("{}", certificate.display()))?;
            let rdata: TLSA = tlsa::tlsa_from_chain(&chain, spec)
                .with_context(|| format!("{}", certificate.display()))?;
            let mut out = io::stdout().lock();
            match name {
                Some(name) => {
                    let record = Record::from_rdata(name, 3600, RData::TLSA(rdata));
                    zonefile::write_records(std::iter::once(&record), &mut out)?;
                }
                None => writeln!(out, "{rdata}")?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate { what } => {
            generate(what)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ds {
            config,
            zone,
            trust_anchor,
            digest,
            dnskey,
        } => {
            let digest = match digest {
                DigestArg::Sha256 => DigestType::SHA256,
                DigestArg::Sha384 => DigestType::SHA384,
            };
            init_tracing(LogFormat::Human, "warn");
            let config = Config::load(&config.config)?;
            let mut out = io::stdout().lock();
            if trust_anchor {
                writeln!(out, "trust-anchors {{")?;
            }
            for zc in selected_zones(&config, zone.as_ref())? {
                let keys = keystore::load_keys(
                    &config.server.key_dir,
                    &zc.origin,
                    &ring::rand::SystemRandom::new(),
                )?;
                if keys.is_empty() {
                    bail!(
                        "zone {}: no key in {} yet; `daned serve` creates the zone's keys on first start",
                        zc.origin,
                        config.server.key_dir.display()
                    );
                }
                // With key records, only the keys whose DS the parent should hold (ready or
                // active), as the CDS names them: in an algorithm roll the DS changes from the
                // old keys to the new ones (RFC 6781 §4.1.4), so an active key of the old
                // algorithm is left out once a successor of another algorithm is ready.
                // Without records (before the first start of this version), every KSK/CSK:
                // they are adopted as active.
                let records = state::load(&config.server.state_dir, &zc.origin)?
                    .map(|st| st.keys)
                    .unwrap_or_default();
                let superseded = |r: &state::KeyState| {
                    r.state == "active"
                        && records.iter().any(|o| {
                            o.role != "zsk" && o.state == "ready" && o.algorithm != r.algorithm
                        })
                };
                let wanted = |stored: &keystore::StoredKey| {
                    let name = stored.path.file_name().and_then(|n| n.to_str());
                    records.is_empty()
                        || records.iter().any(|r| {
                            Some(r.file.as_str()) == name
                                && matches!(r.state.as_str(), "ready" | "active")
                                && !superseded(r)
                        })
                };
                for stored in keys
                    .iter()
                    .filter(|k| k.key.role() != KeyRole::Zsk && wanted(k))
                {
                    if dnskey {
                        let record = Record::from_rdata(
                            zc.origin.clone(),
                            zc.signing.dnskey_ttl,
                            RData::DNSSEC(
                                daned_sign::hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(
                                    stored.key.dnskey().clone(),
                                ),
                            ),
                        );
                        zonefile::write_records(std::iter::once(&record), &mut out)?;
                        continue;
                    }
                    let ds = stored.key.ds(&zc.origin, digest)?;
                    if trust_anchor {
                        writeln!(
                            out,
                            "\t\"{}\" static-ds {} {} {} \"{}\";",
                            zc.origin,
                            ds.key_tag(),
                            u8::from(ds.algorithm()),
                            u8::from(ds.digest_type()),
                            data_encoding::HEXUPPER.encode(ds.digest())
                        )?;
                    } else {
                        let record = Record::from_rdata(
                            zc.origin.clone(),
                            zc.signing.dnskey_ttl,
                            RData::DNSSEC(
                                daned_sign::hickory_proto::dnssec::rdata::DNSSECRData::DS(ds),
                            ),
                        );
                        zonefile::write_records(std::iter::once(&record), &mut out)?;
                    }
                }
            }
            if trust_anchor {
                writeln!(out, "}};")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Dump {
            control,
            zone,
            offline: false,
        } => {
            let request = control::Request::Dump {
                zone: zone.map(|z| z.to_string()),
            };
            match control.request(&request, CONTROL_TIMEOUT)? {
                control::Response::Dump(text) => {
                    let mut out = io::stdout().lock();
                    out.write_all(text.as_bytes())?;
                    Ok(ExitCode::SUCCESS)
                }
                other => control_failure(other),
            }
        }
        Command::Dump {
            control,
            zone,
            offline: true,
        } => {
            init_tracing(LogFormat::Human, "warn");
            let config = Config::load(&control.config)?;
            let rng = ring::rand::SystemRandom::new();
            let mut out = io::stdout().lock();
            for zc in selected_zones(&config, zone.as_ref())? {
                let rt = ZoneRuntime::start(
                    zc.clone(),
                    config.server.key_dir.clone(),
                    config.server.state_dir.clone(),
                    Mode::ReadOnly,
                    SystemClock.now(),
                    &rng,
                )?;
                zonefile::write_records(rt.signed().records(), &mut out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportKey {
            config,
            zone,
            role,
            files,
        } => import_keys(&config.config, &zone, role.map(KeyRole::from), &files),
        Command::ExportKey {
            config,
            zone,
            key_tag,
            out,
        } => export_key(&config.config, &zone, key_tag, &out),
        Command::Sign {
            zone,
            origin,
            out,
            verify_all,
        } => {
            init_tracing(LogFormat::Human, "info");
            sign_offline(&zone, &origin, &out, verify_all)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ServePresigned {
            zone,
            origin,
            listen,
            threads,
            udp_workers,
            udp_payload,
            rate_limit,
        } => {
            init_tracing(LogFormat::Human, "info");
            let started = std::time::Instant::now();
            let signed = zonefile::load_signed(&zone, &origin, &zonefile::ZoneLimits::default())?;
            tracing::info!(zone = %origin, serial = signed.serial(), elapsed_ms = started.elapsed().as_millis() as u64, "pre-signed zone loaded");
            let catalog = query::Catalog::new([Arc::new(signed)]);
            runtime(threads)?.block_on(async {
                let udp_workers = udp_workers
                    .or_else(|| threads.and_then(std::num::NonZeroUsize::new))
                    .unwrap_or_else(serve::default_udp_workers);
                let sockets = serve::bind_all(&[listen], udp_workers).await?;
                serve::serve_sockets(
                    sockets,
                    catalog,
                    udp_payload,
                    rate_limit,
                    daemon::stop_signal(),
                )
                .await;
                Ok::<_, serve::BindError>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `daned init`: writes the config (and a zone skeleton), then runs `check` on it.
fn init(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let path = std::path::absolute(&args.config.config)
        .with_context(|| format!("{}", args.config.config.display()))?;
    if path.exists() && !args.force {
        // The Debian package installs a config without zones: replacing it loses nothing.
        let existing = Config::load(&path)?;
        if !existing.zones.is_empty() {
            bail!(
                "{} already serves {} zone(s); add the zone by hand (etc/example.toml) or \
                 replace the file with --force",
                path.display(),
                existing.zones.len()
            );
        }
    }
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    let origin = args.zone.to_lowercase();
    let origin = if origin.is_fqdn() {
        origin
    } else {
        let mut origin = origin;
        origin.set_fqdn(true);
        origin
    };
    let absolute = |name: &str| -> anyhow::Result<Name> {
        let name = if name.ends_with('.') || name.contains('.') {
            Name::from_ascii(name.trim_end_matches('.'))?
        } else {
            Name::from_ascii(name)?.append_domain(&origin)?
        };
        let mut name = name.to_lowercase();
        name.set_fqdn(true);
        Ok(name)
    };
    let host = absolute(&args.host).with_context(|| format!("--host {}", args.host))?;
    if !origin.zone_of(&host) {
        bail!("--host {host} is not inside the zone {origin}");
    }
    let zone_file = match &args.zone_file {
        Some(file) => std::path::absolute(file)?,
        None => dir.join(format!("{}zone", origin)),
    };
    let mut records = Vec::new();
    let mut servers = Vec::new();
    for ns in &args.name_servers {
        let (name, address) = match ns.split_once('=') {
            Some((name, address)) => (
                name,
                Some(
                    address
                        .parse::<std::net::IpAddr>()
                        .with_context(|| format!("--ns {ns}: not an address: {address}"))?,
                ),
            ),
            None => (ns.as_str(), None),
        };
        let name = absolute(name).with_context(|| format!("--ns {ns}"))?;
        if let Some(address) = address
            && origin.zone_of(&name)
        {
            records.push(address_record(&name, address));
        }
        servers.push(name);
    }
    for address in &args.host_addresses {
        records.push(address_record(&host, *address));
    }
    let quote = |p: &Path| toml_string(&p.display().to_string());
    let certificates: Vec<String> = args
        .certificates
        .iter()
        .map(|c| std::path::absolute(c).map(|c| format!("{{ file = {} }}", quote(&c))))
        .collect::<Result<_, _>>()?;
    let listen: Vec<String> = args
        .listen
        .iter()
        .map(|a| toml_string(&a.to_string()))
        .collect();
    let ports: Vec<String> = args.ports.iter().map(u16::to_string).collect();
    let host_label = host
        .to_string()
        .strip_suffix(&format!(".{origin}"))
        .map(str::to_owned)
        .unwrap_or_else(|| "@".to_owned());
    let probe = if args.host_addresses.is_empty() {
        "# No --host-address: the TLS probe has no address to check; add the host's A/AAAA\n\
         # records to the zone (or probe-addresses) and remove this line.\nprobe = false\n"
    } else {
        ""
    };
    let text = format!(
        "# Written by `daned init`; etc/example.toml (/usr/share/doc/daned/example.toml)\n\
         # documents every setting.\n\
         version = \"v1\"\n\n\
         [server]\n\
         listen = [{listen}]\n\
         key-dir = {key_dir}\n\
         state-dir = {state_dir}\n\n\
         [[zone]]\n\
         origin = {origin_q}\n\
         file = {file}\n\n\
         [[zone.tlsa]]\n\
         name = {host_q}\n\
         certificates = [{certificates}]\n\
         host = {label}\n\
         ports = [{ports}]\n\
         {probe}",
        listen = listen.join(", "),
        key_dir = quote(&std::path::absolute(&args.key_dir)?),
        state_dir = quote(&std::path::absolute(&args.state_dir)?),
        origin_q = toml_string(&origin.to_string()),
        file = quote(&zone_file),
        host_q = toml_string(&host_label),
        certificates = certificates.join(", "),
        label = toml_string(&host_label),
        ports = ports.join(", "),
    );
    // Checked before it replaces anything: a config that does not parse is not written.
    Config::parse(&text, &path).context("the config daned init would write")?;
    let skeleton = !zone_file.exists();
    if skeleton {
        let serial = {
            let days = SystemClock.now() / 86_400;
            let (year, month, day) = daned_sign::civil::civil_from_days(days as i64);
            format!("{year:04}{month:02}{day:02}01")
        };
        let mut text = format!(
            "; The zone {origin}, written by `daned init`. daned adds the TLSA, DNSKEY, CDS,\n\
             ; CDNSKEY, NSEC and RRSIG records itself and raises the serial on every change.\n\
             $ORIGIN {origin}\n$TTL 3600\n\
             @\tIN\tSOA\t{primary} hostmaster.{origin} ( {serial} 7200 3600 1209600 3600 )\n",
            primary = servers[0],
        );
        for server in &servers {
            text.push_str(&format!("@\tIN\tNS\t{server}\n"));
        }
        for (name, kind, address) in &records {
            text.push_str(&format!("{name}\tIN\t{kind}\t{address}\n"));
        }
        write_new(&zone_file, &text)?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(".daned.toml.init");
    std::fs::write(&temporary, &text)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path)
        .with_context(|| format!("renaming {} to {}", temporary.display(), path.display()))?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "wrote {}", path.display())?;
        if skeleton {
            writeln!(out, "wrote {} (a skeleton)", zone_file.display())?;
        } else {
            writeln!(out, "kept {} (it exists)", zone_file.display())?;
        }
    }
    let code = check(&path)?;
    if code == ExitCode::SUCCESS {
        let config = args.config.config.display();
        let mut out = io::stdout().lock();
        writeln!(out, "next:")?;
        writeln!(
            out,
            "  start it:          systemctl enable --now daned   (or: daned serve -c {config})"
        )?;
        writeln!(
            out,
            "  DS for the parent: daned ds -c {config}   (docs/registrar.md)"
        )?;
    }
    Ok(code)
}

/// An A or AAAA record as `(owner, type, address)` for a zone file.
fn address_record(name: &Name, address: std::net::IpAddr) -> (Name, &'static str, String) {
    let kind = if address.is_ipv4() { "A" } else { "AAAA" };
    (name.clone(), kind, address.to_string())
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Writes a new file (never replaces one).
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `daned generate`: man pages or completions from the clap definitions.
fn generate(what: GenerateWhat) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    match what {
        GenerateWhat::Man { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            write_man(&cmd, "daned", &dir)?;
            for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
                let name = format!("daned-{}", sub.get_name());
                let sub = sub
                    .clone()
                    .display_name(name.clone())
                    .bin_name(format!("daned {}", sub.get_name()))
                    .version(VERSION);
                write_man(&sub, &name, &dir)?;
            }
        }
        GenerateWhat::Completions { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for shell in [
                clap_complete::Shell::Bash,
                clap_complete::Shell::Zsh,
                clap_complete::Shell::Fish,
            ] {
                let mut cmd = cmd.clone();
                clap_complete::generate_to(shell, &mut cmd, "daned", &dir)
                    .with_context(|| format!("writing {shell} completions to {}", dir.display()))?;
            }
        }
    }
    Ok(())
}

/// Writes `cmd`'s man page as `DIR/NAME.1`.
fn write_man(cmd: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .section("1")
        .source(format!("daned {VERSION}"))
        .manual("daned manual")
        .render(&mut page)
        .with_context(|| format!("rendering {}", path.display()))?;
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// How long a control request may take beyond its own wait (a reload signs).
const CONTROL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// How long `daned probe` waits: every probe ends within its 60 s limit, queued behind at
/// most a few others.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// How often `wait-ready` reports on stderr while it waits.
const WAIT_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// `daned wait-ready`: asks once, then (while the answer is "not yet" and the timeout has
/// time left) again in rounds of [`WAIT_PROGRESS_EVERY`], saying on stderr what it waits for
/// and how much of the timeout is left; stdout stays for the answer (`--json`).
fn wait_ready(
    control: &ControlArg,
    binding: &str,
    zone: Option<&str>,
    timeout: u64,
) -> anyhow::Result<control::Response> {
    let started = std::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs(timeout);
    let mut round = std::time::Duration::ZERO;
    loop {
        let request = control::Request::WaitReady {
            binding: binding.to_owned(),
            zone: zone.map(str::to_owned),
            timeout_secs: round.as_secs(),
        };
        let response = control.request(&request, CONTROL_TIMEOUT)?;
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let control::Response::Error {
            reason: control::ErrorReason::Timeout,
            message,
        } = &response
        else {
            return Ok(response);
        };
        // "binding B in Z is not ready within N s; it will be at T": the part after the
        // first "; " says what it waits for.
        let what = message
            .split_once("; ")
            .map_or(message.as_str(), |(_, w)| w);
        if left < std::time::Duration::from_secs(1) {
            // The last round's message names the round; the operator gave the whole timeout.
            return Ok(control::Response::Error {
                reason: control::ErrorReason::Timeout,
                message: format!("binding {binding} is not ready within {timeout} s; {what}"),
            });
        }
        // "... at 2026-12-07T05:31:34Z": also how far off that is.
        let relative = what
            .rsplit(' ')
            .next()
            .and_then(parse_rfc3339_utc)
            .map(|t| format!(" ({})", control::format_relative(t, SystemClock.now())))
            .unwrap_or_default();
        let _ = writeln!(
            io::stderr(),
            "daned: waiting for binding {binding}: {what}{relative}; {} s of the {timeout} s timeout left",
            left.as_secs()
        );
        round = left.min(WAIT_PROGRESS_EVERY);
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` as seconds since the epoch.
fn parse_rfc3339_utc(text: &str) -> Option<u32> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let days = daned_sign::civil::days_from_civil(i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    let secs = days * 86_400
        + i64::from(num(11..13)?) * 3600
        + i64::from(num(14..16)?) * 60
        + i64::from(num(17..19)?);
    u32::try_from(secs).ok()
}

/// `daned keys`, `ds-seen`, `key-rollover`: one request, the zone's keys printed.
fn keys_command(
    control: &ControlArg,
    request: control::Request,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let response = control.request(&request, CONTROL_TIMEOUT)?;
    let mut out = io::stdout().lock();
    match response {
        control::Response::Keys(report) if json => {
            serde_json::to_writer_pretty(&mut out, &control::json_for_output(&report)?)?;
            writeln!(out)?;
            Ok(ExitCode::SUCCESS)
        }
        control::Response::Keys(report) => {
            control::render_keys(&report, SystemClock.now(), &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        other => control_failure(other),
    }
}

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

/// TLSA parameter choices that break at a renewal (RFC 7671 §5 and §8), as `daned check`
/// warns about them for one certificate of `binding`.
fn tlsa_advice(
    binding: &daned::config::TlsaBinding,
    source: &daned::config::CertificateSource,
    chain: &[Vec<u8>],
) -> Vec<String> {
    let spec = binding.spec;
    let label = format!(
        "{}: binding {:?} ({} {} {})",
        source.file.display(),
        binding.name,
        spec.usage,
        spec.selector,
        spec.matching
    );
    let mut advice = Vec::new();
    if spec.usage == 3 && spec.selector == 0 {
        advice.push(format!(
            "{label}: selector 0 publishes the whole certificate, which changes at every \
             renewal even when the key stays: each renewal is then a key change that must be \
             staged 2 x TTL ahead. `3 1 1` (the key alone) survives renewals that keep the key \
             (RFC 7671 §5.1, RFC 7672 §3.1.1)"
        ));
    }
    if matches!(spec.usage, 0 | 2)
        && let Some((subject, self_issued)) = chain
            .get(1)
            .and_then(|ta| daned_sign::dane::subject_and_self_issued(ta))
        && !self_issued
    {
        let rotating = [
            "Let's Encrypt",
            "ZeroSSL",
            "Google Trust Services",
            "Sectigo",
        ]
        .iter()
        .find(|ca| subject.contains(*ca));
        let why = match rotating {
            Some(ca) => {
                format!("{ca} issues from several intermediates and changes them without notice")
            }
            None => "a CA may issue the next certificate from another intermediate".to_owned(),
        };
        advice.push(format!(
            "{label}: the trust anchor is the intermediate {subject}; {why}, and a renewal \
                 issued by another one matches no record. Pin the root (put it in the chain \
                 file after the intermediate and publish it too) or use `3 1 1` with a staged \
                 next key (RFC 7671 §5.2.2, §8)"
        ));
    }
    advice
}

/// `daned check`: reports every problem it finds, not just the first.
fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(error) => {
            writeln!(out, "{error}")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut problems = 0usize;
    if let Err(error) = daned::daemon::privileges::RunAs::resolve(
        config.server.user.as_deref(),
        config.server.group.as_deref(),
    ) {
        writeln!(out, "{}: {error}", config.path.display())?;
        problems += 1;
    }
    for zc in &config.zones {
        let mut zone_ok = true;
        match zonefile::load_zone(&zc.file, &zc.origin, &zc.limits) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    writeln!(out, "warning: {warning}")?;
                }
            }
            Err(errors) => {
                for error in &errors.0 {
                    writeln!(out, "{error}")?;
                    problems += 1;
                }
                zone_ok = false;
            }
        }
        for binding in &zc.tlsa {
            for source in &binding.certificates {
                let read = zone::read_certificate(binding, source, SystemClock.now());
                if let Ok(read) = &read {
                    for advice in tlsa_advice(binding, source, &read.chain) {
                        writeln!(out, "warning: {advice}")?;
                    }
                }
                let errors = [read.err(), zone::read_next_key(binding, source).err()];
                for error in errors.into_iter().flatten() {
                    writeln!(out, "{error}")?;
                    problems += 1;
                    zone_ok = false;
                }
            }
        }
        match keystore::load_keys(
            &config.server.key_dir,
            &zc.origin,
            &ring::rand::SystemRandom::new(),
        ) {
            Ok(keys) if keys.is_empty() => writeln!(
                out,
                "note: zone {}: no key in {} yet; `daned serve` will create {}",
                zc.origin,
                config.server.key_dir.display(),
                match zc.keys.policy.mode {
                    daned_sign::lifecycle::KeyMode::Csk => "a CSK",
                    daned_sign::lifecycle::KeyMode::KskZsk => "a KSK and a ZSK",
                }
            )?,
            Ok(_) => {}
            Err(error) => {
                writeln!(out, "{error}")?;
                problems += 1;
                zone_ok = false;
            }
        }
        if let Err(error) = state::load(&config.server.state_dir, &zc.origin) {
            writeln!(out, "{error}")?;
            problems += 1;
            zone_ok = false;
        }
        if zone_ok
            && let Err(error) = zone::check_keys(
                zc,
                &config.server.key_dir,
                &config.server.state_dir,
                SystemClock.now(),
                &ring::rand::SystemRandom::new(),
            )
        {
            // What `serve` would refuse: a key the state's records need is missing, or a key
            // file does not hold the key its record names.
            writeln!(out, "{error}")?;
            problems += 1;
            zone_ok = false;
        }
        if zone_ok {
            // The whole content, bindings included, with the signer's own structural checks
            // (signed with a throwaway key; nothing is written).
            if let Err(error) = trial_sign(zc) {
                writeln!(out, "{error}")?;
                problems += 1;
            }
        }
    }
    if problems == 0 {
        writeln!(
            out,
            "{}: ok ({} zone{})",
            config.path.display(),
            config.zones.len(),
            if config.zones.len() == 1 { "" } else { "s" }
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(
            out,
            "{}: {problems} problem{}",
            config.path.display(),
            if problems == 1 { "" } else { "s" }
        )?;
        Ok(ExitCode::FAILURE)
    }
}

fn trial_sign(zc: &ZoneConfig) -> anyhow::Result<()> {
    let content = zone::preview_content(zc, SystemClock.now())?;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = daned_sign::keys::SigningKey::generate(zc.signing.algorithm, &rng)?;
    let key = daned_sign::keys::SigningKey::from_pkcs8(&pkcs8, KeyRole::Csk, &rng)?;
    let ctx = daned_sign::sign::SignCtx {
        now: SystemClock.now(),
        policy: zc.signing.policy,
        keys: &[daned_sign::sign::ZoneKey::steady(&key)],
        dnskey_ttl: zc.signing.dnskey_ttl,
        rng: &rng,
        denial: zc.signing.denial,
    };
    daned_sign::sign::sign_zone(&ctx, &content, 1)
        .with_context(|| format!("zone {}", zc.origin))?;
    Ok(())
}

fn sign_offline(zone: &Path, origin: &Name, out: &Path, verify_all: bool) -> anyhow::Result<()> {
    use daned_sign::keys::{KeyAlgorithm, SigningKey};
    let started = std::time::Instant::now();
    let loaded = zonefile::load_zone(zone, origin, &zonefile::ZoneLimits::default())?;
    let parsed = started.elapsed();
    let rng = ring::rand::SystemRandom::new();
    let mut keys = Vec::new();
    for role in [KeyRole::Ksk, KeyRole::Zsk] {
        let pkcs8 = SigningKey::generate(KeyAlgorithm::EcdsaP256Sha256, &rng)?;
        keys.push(SigningKey::from_pkcs8(&pkcs8, role, &rng)?);
    }
    let keys: Vec<_> = keys.iter().map(daned_sign::sign::ZoneKey::steady).collect();
    let ctx = daned_sign::sign::SignCtx {
        now: SystemClock.now(),
        policy: daned_sign::sign::SignPolicy::default(),
        keys: &keys,
        dnskey_ttl: 3600,
        rng: &rng,
        denial: daned_sign::nsec3::Denial::Nsec,
    };
    let serial = loaded
        .zone
        .soa()
        .and_then(|s| s.records().first())
        .and_then(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
        .unwrap_or(1);
    let signed = daned_sign::sign::sign_zone(&ctx, &loaded.zone, serial)
        .with_context(|| format!("zone {origin}"))?;
    let sign_done = started.elapsed();
    // What a start checks before serving (zones::START_VALIDATION_SAMPLE).
    daned_sign::validate::validate_sample(&signed, ctx.now, 2000, &[])
        .with_context(|| format!("zone {origin}"))?;
    let validated = started.elapsed();
    let verify_all_ms = if verify_all {
        daned_sign::validate::validate_sample(&signed, ctx.now, usize::MAX, &[])
            .with_context(|| format!("zone {origin}"))?;
        Some((started.elapsed() - validated).as_millis() as u64)
    } else {
        None
    };
    let write_start = started.elapsed();
    let file = std::fs::File::create(out).with_context(|| format!("{}", out.display()))?;
    let mut writer = io::BufWriter::new(file);
    zonefile::write_records(signed.records(), &mut writer)
        .and_then(|()| writer.flush())
        .with_context(|| format!("{}", out.display()))?;
    tracing::info!(
        parse_ms = parsed.as_millis() as u64,
        sign_ms = (sign_done - parsed).as_millis() as u64,
        validate_ms = (validated - sign_done).as_millis() as u64,
        verify_all_ms,
        write_ms = (started.elapsed() - write_start).as_millis() as u64,
        "signed"
    );
    Ok(())
}

/// `daned import-key`: stores each key (a BIND pair once, whichever of its files is named) and
/// prints its DS. A key already in the key directory is reported and is not an error.
fn import_keys(
    config: &Path,
    zone: &Name,
    role: Option<KeyRole>,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let zc = selected_zones(&config, Some(zone))?
        .into_iter()
        .next()
        .context("no such zone")?;
    let rng = ring::rand::SystemRandom::new();
    let mut out = io::stdout().lock();
    let mut seen = Vec::new();
    // Every file is read and checked before any is stored: one bad file imports nothing.
    let mut imports = Vec::new();
    for file in files {
        // Both halves of a BIND pair name one key.
        let id = match file.extension().and_then(|e| e.to_str()) {
            Some("key" | "private") => file.with_extension(""),
            _ => file.clone(),
        };
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        imports.push(keystore::read_key_to_import(file, &zc.origin, role, &rng)?);
    }
    for import in &imports {
        let key = &import.key;
        let what = format!(
            "key tag {}, algorithm {} ({}), role {}",
            key.key_tag(),
            u8::from(key.dnssec_algorithm()),
            key.algorithm(),
            state::role_name(key.role())
        );
        match keystore::import_key(&config.server.key_dir, &zc.origin, import, &rng)? {
            keystore::ImportOutcome::Imported(path) => writeln!(
                out,
                "imported {} as {} ({what})",
                import.source.display(),
                path.display()
            )?,
            keystore::ImportOutcome::AlreadyImported(path) => writeln!(
                out,
                "already imported: {} is {} ({what})",
                import.source.display(),
                path.display()
            )?,
        }
        if key.role() != KeyRole::Zsk {
            let ds = key.ds(&zc.origin, DigestType::SHA256)?;
            let record = Record::from_rdata(
                zc.origin.clone(),
                zc.signing.dnskey_ttl,
                RData::DNSSEC(daned_sign::hickory_proto::dnssec::rdata::DNSSECRData::DS(
                    ds,
                )),
            );
            zonefile::write_records(std::iter::once(&record), &mut out)?;
        }
    }
    // Key files are adopted only while the zone has no key records (its first start, or an
    // upgrade); afterwards the lifecycle owns the key set and an unknown file is not used.
    let has_records = daned::zone::persist::state::load(&config.server.state_dir, &zc.origin)?
        .is_some_and(|st| !st.keys.is_empty());
    if has_records {
        writeln!(
            out,
            "; warning: zone {} already has key records in {}: `daned serve` adopts key files \
             only before the zone's first start, so it will NOT use the keys imported now",
            zc.origin,
            config.server.state_dir.display()
        )?;
    } else {
        writeln!(
            out,
            "; `daned serve` adopts the imported keys at its next start, as active keys (a \
             reload does not re-read keys)"
        )?;
    }
    // RFC 6840 §5.11 / RFC 4035 §2.2: every algorithm in the DNSKEY RRset signs the DNSKEY
    // RRset and all other RRsets, so each needs a key for both jobs.
    let keys = keystore::load_keys(&config.server.key_dir, &zc.origin, &rng)?;
    let mut algorithms = Vec::new();
    for key in &keys {
        if !algorithms.contains(&key.key.algorithm()) {
            algorithms.push(key.key.algorithm());
        }
    }
    for algorithm in algorithms {
        let of_alg = || keys.iter().filter(move |k| k.key.algorithm() == algorithm);
        let signs_dnskey = of_alg().any(|k| k.key.role() != KeyRole::Zsk);
        let signs_zone = of_alg().any(|k| k.key.role() != KeyRole::Ksk);
        if !(signs_dnskey && signs_zone) {
            let missing = if signs_dnskey { "ZSK" } else { "KSK" };
            let _ = writeln!(
                io::stderr(),
                "daned: warning: zone {}: {algorithm} keys have no {missing} (or CSK) in {}; the \
                 zone cannot be signed completely with them until one is there",
                zc.origin,
                config.server.key_dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `daned export-key`: writes the key as a BIND pair.
fn export_key(
    config: &Path,
    zone: &Name,
    key_tag: u16,
    out_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let zc = selected_zones(&config, Some(zone))?
        .into_iter()
        .next()
        .context("no such zone")?;
    let exported = keystore::export_key(
        &config.server.key_dir,
        &zc.origin,
        key_tag,
        zc.signing.dnskey_ttl,
        out_dir,
        &ring::rand::SystemRandom::new(),
    )?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "exported {} as {} and {}",
        exported.from.display(),
        exported.key_file.display(),
        exported.private_file.display()
    )?;
    Ok(ExitCode::SUCCESS)
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
mod tests {
    use super::*;

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
}
