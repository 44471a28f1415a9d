//! The configuration file: TOML, versioned, kebab-case keys, unknown keys refused.
//!
//! Two layers: the `Spec` types of `file` mirror version 1 of the file (serde, defaults, no
//! meaning), and [`Config::parse`] here turns them into the typed [`Config`] the server uses: DNS names,
//! socket addresses, seconds, absolute paths (resolved against the config file's directory)
//! and checked TLSA parameters. Every semantic problem is reported as
//! [`ConfigError::Invalid`], naming the file, line, zone, binding and key involved.
//!
//! `etc/example.toml` documents every setting with its default.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::{Path, PathBuf};

use daned_sign::SignError;
use daned_sign::keys::KeyAlgorithm;
use daned_sign::lifecycle::{CdsPolicy, KeyMode, KeyPolicy};
use daned_sign::sign::SignPolicy;
use daned_sign::tlsa::TlsaSpec;
use hickory_proto::ProtoError;
use hickory_proto::rr::Name;
use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::fsutil::{self, ReadError};
mod file;
mod limits;

use file::{
    CdsSpec, DenialSpec, KeyModeSpec, KeysSpec, LogFormatSpec, ProtocolSpec, Seconds, ServerSpec,
    SigningSpec, Spec, TlsaBindingSpec, TsigAlgorithmSpec, TsigKeySpec, ZoneSpec,
};

pub use limits::{
    DEFAULT_MAX_BYTES, DEFAULT_MAX_DELTAS, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_INCLUDE_DEPTH,
    DEFAULT_MAX_RECORDS, DEFAULT_MAX_RECORDS_PER_TYPE, JournalLimits, ZoneLimits,
};

/// The whole configuration, ready to use.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it was read from (absolute).
    pub path: PathBuf,
    /// Listening, storage and logging.
    pub server: ServerConfig,
    /// The zones served, in file order.
    pub zones: Vec<ZoneConfig>,
    /// The TSIG keys (`[[tsig-key]]`), in file order, names unique.
    pub tsig_keys: Vec<TsigKeyConfig>,
}

/// One `[[tsig-key]]`: a shared secret for RFC 8945 transaction signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKeyConfig {
    /// The key name, absolute and lowercase (the TSIG RR owner).
    pub name: Name,
    /// The HMAC algorithm.
    pub algorithm: TsigAlgorithmConfig,
    /// The decoded secret (never printed).
    pub secret: Vec<u8>,
}

impl fmt::Debug for TsigKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKeyConfig")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .finish()
    }
}

/// The HMAC algorithms daned accepts for TSIG (RFC 8945 §6: both are "MUST implement" or
/// "RECOMMENDED").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TsigAlgorithmConfig {
    /// `hmac-sha256`.
    HmacSha256,
    /// `hmac-sha512`.
    HmacSha512,
}

/// One `[[zone.secondary]]`: a server that transfers the zone from us and is sent NOTIFY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecondaryConfig {
    /// Where NOTIFY goes; its IP is also allowed to transfer the zone.
    pub address: SocketAddr,
    /// The TSIG key (a `[[tsig-key]]` name) for its NOTIFYs and transfers, if any.
    pub tsig_key: Option<Name>,
}

/// One entry of `zone.allow-transfer`: who may transfer the zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPrefix(IpNet);

/// Why an `allow-transfer` entry is not an address prefix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PrefixError {
    /// Not an address, with or without a `/length`.
    #[error("{text:?} is not an address prefix such as \"127.0.0.0/8\"")]
    NotAPrefix {
        /// The entry.
        text: String,
    },
    /// The length is not a number up to the address's bits.
    #[error("{text:?}: prefix length must be 0..={max}")]
    Length {
        /// The entry.
        text: String,
        /// 32 or 128.
        max: u8,
    },
    /// Bits of the address after the prefix length are set (`10.0.0.1/8`).
    #[error("{text:?}: host bits set after the prefix length")]
    HostBits {
        /// The entry.
        text: String,
    },
}

impl IpPrefix {
    /// Whether `ip` lies in this prefix (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        self.0.contains(&ip)
    }

    /// Parses `addr/len` (or a bare address: a host prefix); the host bits must be zero.
    fn parse(text: &str) -> Result<Self, PrefixError> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| PrefixError::NotAPrefix {
            text: text.to_owned(),
        })?;
        let Some(len) = len else {
            return Ok(Self::from(addr));
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let net = len
            .parse::<u8>()
            .ok()
            .and_then(|len| IpNet::new(addr, len).ok())
            .ok_or_else(|| PrefixError::Length {
                text: text.to_owned(),
                max,
            })?;
        if net.trunc() != net {
            return Err(PrefixError::HostBits {
                text: text.to_owned(),
            });
        }
        Ok(Self(net))
    }
}

impl From<IpAddr> for IpPrefix {
    /// The host prefix of `addr` (`/32` or `/128`).
    fn from(addr: IpAddr) -> Self {
        Self(IpNet::from(addr))
    }
}

/// One `zone.allow-transfer` entry: a prefix and, optionally, the TSIG key a transfer from it
/// must be signed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferAcl {
    /// The client addresses allowed.
    pub prefix: IpPrefix,
    /// The key required, if any.
    pub tsig_key: Option<Name>,
}

/// The `[server]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Addresses to serve on, UDP and TCP on each.
    pub listen: Vec<SocketAddr>,
    /// The largest EDNS UDP payload we send (512..=4096).
    pub udp_payload: u16,
    /// Where signing keys are kept (absolute).
    pub key_dir: PathBuf,
    /// Where serials, journals and rollover state are kept (absolute).
    pub state_dir: PathBuf,
    /// How logs are written.
    pub log_format: LogFormat,
    /// The control socket `daned reload/status/wait-ready` talk to (absolute).
    pub control_socket: PathBuf,
    /// Permission bits of the control socket (default 0600; wider than 0660 only with
    /// `control-insecure = true`).
    pub control_mode: u32,
    /// How long certificate files must be quiet after a change before they are re-read.
    pub watch_debounce: std::time::Duration,
    /// How often every certificate file is re-read even without a change event.
    pub rescan_interval: std::time::Duration,
    /// Where Prometheus metrics are served (`GET /metrics`), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// How many threads sign a zone (`signing-threads`, default one per core); every zone's
    /// [`SigningConfig::threads`].
    pub signing_threads: NonZeroUsize,
    /// The user to run as after binding the sockets, when started as root (`user`).
    pub user: Option<String>,
    /// The group to run as with `user` (default: the user's primary group).
    pub group: Option<String>,
    /// The zone file limits of every zone that sets none of its own (`max-zone-file-bytes`,
    /// `max-include-depth`, `max-records-per-type`, `max-records`, `include-dirs`). Their
    /// `include_denied` is empty here; each zone's gets key-dir and state-dir.
    pub zone_limits: ZoneLimits,
    /// Response rate limiting and TCP connection caps.
    pub net: NetLimits,
}

/// Response rate limiting (UDP), UDP workers and TCP connection caps, from `[server]`.
/// Restart-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetLimits {
    /// Responses per second per client prefix and response class (`rate-limit`; 0 disables
    /// rate limiting). NSD's `rrl-ratelimit` default, 200.
    pub rate_limit: u32,
    /// Of the responses over the limit, every `rate-limit-slip`-th is sent as an empty TC=1
    /// answer (the client retries over TCP) and the others are dropped; 0 drops them all, 1
    /// slips them all. NSD's default, 2.
    pub rate_limit_slip: u32,
    /// IPv4 prefix length that makes one client for rate limiting (NSD: 24).
    pub rate_limit_ipv4_prefix: u8,
    /// IPv6 prefix length that makes one client for rate limiting (NSD: 64, at most 64).
    pub rate_limit_ipv6_prefix: u8,
    /// Buckets in the fixed-size rate limiting table (memory is bounded by it).
    pub rate_limit_table_size: u32,
    /// Concurrent TCP connections over all listen addresses; `None`: half the descriptor limit
    /// (Knot's default), always capped so that a reserve of descriptors remains.
    pub tcp_max_clients: Option<u32>,
    /// Concurrent TCP connections from one client address (an IPv6 /64 counts as one); 0: no
    /// per-client cap.
    pub tcp_max_clients_per_address: u32,
    /// UDP sockets (and worker threads) per listen address (`udp-workers`); `None`: one per
    /// core.
    pub udp_workers: Option<NonZeroUsize>,
}

impl Default for NetLimits {
    fn default() -> Self {
        Self {
            rate_limit: 200,
            rate_limit_slip: 2,
            rate_limit_ipv4_prefix: 24,
            rate_limit_ipv6_prefix: 64,
            rate_limit_table_size: 1 << 18,
            tcp_max_clients: None,
            tcp_max_clients_per_address: 16,
            udp_workers: None,
        }
    }
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One human-readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// One `[[zone]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneConfig {
    /// The zone apex, absolute and lowercase.
    pub origin: Name,
    /// The zone file with the static content (absolute).
    pub file: PathBuf,
    /// How the zone is signed.
    pub signing: SigningConfig,
    /// The TLSA records published from certificates.
    pub tlsa: Vec<TlsaBinding>,
    /// The secondaries sent NOTIFY on each new serial (each also allowed to transfer).
    pub secondaries: Vec<SecondaryConfig>,
    /// Who may transfer the zone: `allow-transfer` followed by one host entry per secondary.
    pub allow_transfer: Vec<TransferAcl>,
    /// How much IXFR history is kept (`journal-max-deltas`, `journal-max-bytes`).
    pub journal: JournalLimits,
    /// The key policy and parent polling (`[zone.keys]`).
    pub keys: KeysConfig,
    /// How often a secondary serving the current serial is polled (`secondary-poll-interval`).
    pub secondary_poll_interval: std::time::Duration,
    /// A secondary lagging longer than this is logged (`secondary-lag-warning`, seconds).
    pub secondary_lag_warning: u32,
    /// What reading the zone file may read and hold: `[server]`'s limits with the zone's own
    /// settings over them, and key-dir and state-dir closed to `$INCLUDE`.
    pub limits: ZoneLimits,
}

/// The `[zone.keys]` table: the key lifecycle policy and where the parent's DS is polled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeysConfig {
    /// The lifecycle policy. `algorithm` and `dnskey_ttl` come from `[zone.signing]`;
    /// `max_zone_ttl` is 0 here: the zone runtime computes it from the zone's content.
    pub policy: KeyPolicy,
    /// Parent name servers polled for the zone's DS while a new DS is awaited.
    pub parent_servers: Vec<SocketAddr>,
    /// How often they are polled, in seconds.
    pub parent_poll_interval: u32,
}

/// The `[zone.signing]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigningConfig {
    /// Algorithm of newly generated keys.
    pub algorithm: KeyAlgorithm,
    /// Authenticated denial of existence.
    pub denial: Denial,
    /// Signature timing.
    pub policy: SignPolicy,
    /// TTL of the DNSKEY RRset, in seconds.
    pub dnskey_ttl: u32,
    /// How many threads sign (the server's `signing-threads`); the signed zone is the same on
    /// any number.
    pub threads: NonZeroUsize,
}

/// Authenticated denial of existence: NSEC (the default), or NSEC3 with the RFC 9276 parameters
/// (`denial = "nsec3"`).
pub use daned_sign::nsec3::Denial;

/// One `[[zone.tlsa]]`: a certificate published as TLSA records at one or more owner names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsaBinding {
    /// The binding's name, unique within its zone (used by `daned status` and `wait-ready`).
    pub name: String,
    /// The certificates the service presents, each published and rolled over on its own: one
    /// (`certificate`, `next-key`), or several (`certificates`), e.g. an RSA and an ECDSA one.
    pub certificates: Vec<CertificateSource>,
    /// The owner names, absolute, inside the zone, in file order without duplicates.
    pub owners: Vec<Name>,
    /// Usage, selector and matching type, range-checked.
    pub spec: TlsaSpec,
    /// TTL of the TLSA records, in seconds.
    pub ttl: u32,
    /// Extra wait on top of 2 × TTL before a staged key is ready, in seconds.
    pub rollover_margin: u32,
    /// How the servers behind the records are checked (`probe*` keys).
    pub probe: ProbeConfig,
}

/// One certificate of a binding and its optional staged next key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateSource {
    /// The certificate (chain) file (absolute).
    pub file: PathBuf,
    /// A staged next key (public key, private key, CSR or certificate) published beside the
    /// current one before it is deployed (RFC 7671 §8.1); absolute.
    pub next_key: Option<PathBuf>,
}

/// The `probe*` keys of a binding: which servers daned connects to, to see the certificate
/// they present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Whether the binding is probed at all (`probe`, default true).
    pub enabled: bool,
    /// The addresses probed (`probe-addresses`); `None`: the host's A and AAAA records in the
    /// zone.
    pub addresses: Option<Vec<std::net::IpAddr>>,
    /// How often (`probe-interval`, seconds).
    pub interval: u32,
    /// The dialogue per TLSA port where the port's default is not wanted (`probe-protocol`).
    pub protocols: BTreeMap<u16, ProbeProtocol>,
    /// The port connected to instead of the TLSA port (`probe-port`): a port forward, a test.
    pub ports: BTreeMap<u16, u16>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            addresses: None,
            interval: 300,
            protocols: BTreeMap::new(),
            ports: BTreeMap::new(),
        }
    }
}

impl ProbeConfig {
    /// The dialogue spoken on TLSA port `port`: `probe-protocol`, else the port's usual one.
    pub fn protocol(&self, port: u16) -> ProbeProtocol {
        self.protocols
            .get(&port)
            .copied()
            .unwrap_or_else(|| ProbeProtocol::for_port(port))
    }

    /// The port connected to for TLSA port `port`.
    pub fn connect_port(&self, port: u16) -> u16 {
        self.ports.get(&port).copied().unwrap_or(port)
    }
}

/// What the probe says before the TLS handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProbeProtocol {
    /// SMTP, then STARTTLS (RFC 3207): ports 25 and 587.
    Smtp,
    /// IMAP, then STARTTLS (RFC 9051 §6.2.1): port 143.
    Imap,
    /// POP3, then STLS (RFC 2595 §4): port 110.
    Pop3,
    /// TLS from the first byte: 465 (RFC 8314), 993, 995, 443 and every other port.
    Tls,
}

impl ProbeProtocol {
    /// The usual dialogue of `port`.
    pub fn for_port(port: u16) -> Self {
        match port {
            25 | 587 => Self::Smtp,
            143 => Self::Imap,
            110 => Self::Pop3,
            _ => Self::Tls,
        }
    }

    /// The lowercase name, as the config spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Imap => "imap",
            Self::Pop3 => "pop3",
            Self::Tls => "tls",
        }
    }
}

/// A configuration that could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read (missing, not a regular file, too large, not UTF-8); the
    /// error names it.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The file is not valid TOML or does not match the format (unknown key, wrong type,
    /// missing key). The message carries the line and column.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// toml's message, with line and column.
        message: String,
    },
    /// The file parses but makes no sense. One problem per line, each naming the line, zone,
    /// binding and key.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads and parses the config file at `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when the file cannot be read, otherwise as [`Config::parse`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = fsutil::read_bounded_to_string(path, fsutil::MAX_CONFIG_BYTES)?;
        Config::parse(&text, path)
    }

    /// Parses `text` as the config file at `path`; relative paths in it are resolved against
    /// the directory of `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] for TOML or format errors, [`ConfigError::Invalid`] listing every
    /// semantic problem found.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // `absolute` only consults the current directory for a relative path; if even that
        // fails the path is used as given, which still names the file in errors.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let spec: Spec = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: short_lines(e.to_string().trim_end()),
        })?;
        let dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let mut problems = Problems {
            text,
            list: Vec::new(),
        };
        let config = spec.into_config(&path, &dir, &mut problems);
        if problems.list.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path,
                message: problems.list.join("\n"),
            })
        }
    }
}

/// The longest line of a TOML error message kept, in characters.
const MAX_QUOTED_LINE_CHARS: usize = 160;

/// `text` with each line cut to [`MAX_QUOTED_LINE_CHARS`] characters: toml's message quotes
/// the offending line of the file, which may be megabytes long.
fn short_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut chars = line.chars();
        out.extend(chars.by_ref().take(MAX_QUOTED_LINE_CHARS));
        if chars.next().is_some() {
            out.push('…');
        }
    }
    out
}

/// The `[server]` settings a reload cannot apply (sockets bound, directories and logging set up
/// at start), by their name in the file.
pub const RESTART_ONLY: [&str; 10] = [
    "listen",
    "control-socket",
    "control-mode",
    "key-dir",
    "state-dir",
    "metrics-listen",
    "log-format",
    "rate-limit (and the other rate-limit-*, tcp-max-* and udp-workers settings)",
    "user",
    "group",
];

impl Config {
    /// The `[server]` settings of [`RESTART_ONLY`] whose value differs in `new`, by their name
    /// in the file (in that order).
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let (old, new) = (&self.server, &new.server);
        let differs = [
            old.listen != new.listen,
            old.control_socket != new.control_socket,
            old.control_mode != new.control_mode,
            old.key_dir != new.key_dir,
            old.state_dir != new.state_dir,
            old.metrics_listen != new.metrics_listen,
            old.log_format != new.log_format,
            old.net != new.net,
            old.user != new.user,
            old.group != new.group,
        ];
        RESTART_ONLY
            .into_iter()
            .zip(differs)
            .filter_map(|(name, differs)| differs.then_some(name))
            .collect()
    }

    /// `new` with the [`RESTART_ONLY`] settings of `self`: what a reload of `new` applies to a
    /// daemon started with `self`.
    #[must_use]
    pub fn reloaded(&self, new: Config) -> Config {
        let old = &self.server;
        // The running key-dir and state-dir stay closed to `$INCLUDE`, whatever the file says.
        let zones = new
            .zones
            .into_iter()
            .map(|mut zone| {
                zone.limits.include_denied = vec![old.key_dir.clone(), old.state_dir.clone()];
                zone
            })
            .collect();
        Config {
            server: ServerConfig {
                listen: old.listen.clone(),
                control_socket: old.control_socket.clone(),
                control_mode: old.control_mode,
                key_dir: old.key_dir.clone(),
                state_dir: old.state_dir.clone(),
                metrics_listen: old.metrics_listen,
                log_format: old.log_format,
                net: old.net,
                user: old.user.clone(),
                group: old.group.clone(),
                ..new.server
            },
            zones,
            ..new
        }
    }

    /// The zone with apex `origin`, if configured.
    pub fn zone(&self, origin: &Name) -> Option<&ZoneConfig> {
        self.zones.iter().find(|z| z.origin == *origin)
    }
}

/// `keys` with the algorithm and DNSKEY TTL of `signing` (the key policy repeats them from
/// `[zone.signing]`, where a change is reported).
fn keys_with_signing_of(keys: &KeysConfig, signing: &SigningConfig) -> KeysConfig {
    let mut keys = keys.clone();
    keys.policy.algorithm = signing.algorithm;
    keys.policy.dnskey_ttl = signing.dnskey_ttl;
    keys
}

impl ZoneConfig {
    /// The settings of this zone whose value differs in `new`, by their name in the file
    /// (`tlsa` for any change to the bindings, `secondary` for the list of secondaries).
    pub fn changed_settings(&self, new: &ZoneConfig) -> Vec<&'static str> {
        let (a, b) = (&self.signing, &new.signing);
        [
            ("file", self.file != new.file),
            ("signing.algorithm", a.algorithm != b.algorithm),
            ("signing.denial", a.denial != b.denial),
            ("signing.dnskey-ttl", a.dnskey_ttl != b.dnskey_ttl),
            ("signing (signature timing)", a.policy != b.policy),
            ("signing-threads", a.threads != b.threads),
            (
                "keys",
                self.keys != keys_with_signing_of(&new.keys, &self.signing),
            ),
            ("tlsa", self.tlsa != new.tlsa),
            ("secondary", self.secondaries != new.secondaries),
            ("allow-transfer", self.allow_transfer != new.allow_transfer),
            ("journal", self.journal != new.journal),
            (
                "secondary-poll-interval",
                self.secondary_poll_interval != new.secondary_poll_interval,
            ),
            (
                "secondary-lag-warning",
                self.secondary_lag_warning != new.secondary_lag_warning,
            ),
            ("zone file limits", self.limits != new.limits),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect()
    }
}

// ---- From the file format to the typed config ---------------------------------------------

/// The largest TTL: RFC 2181 §8, "a 32 bit unsigned integer [...] with the most significant
/// bit zero".
const MAX_TTL: u32 = (1 << 31) - 1;

/// The semantic problems found so far, each prefixed with its line.
struct Problems<'a> {
    text: &'a str,
    list: Vec<String>,
}

impl Problems<'_> {
    /// Records a problem at `span` (an empty `0..0` span is a default: no line to name).
    fn add(&mut self, span: &Range<usize>, message: impl fmt::Display) {
        if *span == (0..0) {
            self.list.push(message.to_string());
        } else {
            let line = 1 + self
                .text
                .as_bytes()
                .iter()
                .take(span.start)
                .filter(|b| **b == b'\n')
                .count();
            self.list.push(format!("line {line}: {message}"));
        }
    }
}

impl Spec {
    fn into_config(self, path: &Path, dir: &Path, problems: &mut Problems<'_>) -> Config {
        let server = self.server.into_config(dir, problems);
        let tsig_keys = tsig_keys_config(self.tsig_keys, dir, problems);
        let key_names: Vec<Name> = tsig_keys.iter().map(|k| k.name.clone()).collect();
        let origins: Vec<Option<Name>> = self
            .zones
            .iter()
            .map(|zone| {
                parse_origin(&zone.get_ref().origin)
                    .map_err(|e| problems.add(&zone.span(), e))
                    .ok()
            })
            .collect();
        let mut seen = HashSet::new();
        for (zone, origin) in self.zones.iter().zip(&origins) {
            if let Some(origin) = origin
                && !seen.insert(origin.clone())
            {
                problems.add(
                    &zone.span(),
                    format!("zone {origin}: configured more than once"),
                );
            }
        }
        let all_origins: Vec<Name> = origins.iter().flatten().cloned().collect();
        let mut zones = Vec::new();
        for (zone, origin) in self.zones.into_iter().zip(origins) {
            if let Some(origin) = origin {
                zones.push(zone.into_inner().into_config(
                    origin,
                    &all_origins,
                    &key_names,
                    &server,
                    dir,
                    problems,
                ));
            }
        }
        Config {
            path: path.to_owned(),
            server,
            zones,
            tsig_keys,
        }
    }
}

impl ServerSpec {
    fn into_config(self, dir: &Path, problems: &mut Problems<'_>) -> ServerConfig {
        let net = self.net_limits(problems);
        let listen_span = self.listen.span();
        let listen = self.listen.into_inner();
        if listen.is_empty() {
            problems.add(
                &listen_span,
                "server.listen is empty: give at least one address",
            );
        }
        let mut seen = HashSet::new();
        for addr in &listen {
            if !seen.insert(addr) {
                problems.add(
                    &listen_span,
                    format!("server.listen: {addr} is listed twice"),
                );
            }
        }
        let payload_span = self.udp_payload.span();
        let udp_payload = self.udp_payload.into_inner();
        if !(512..=4096).contains(&udp_payload) {
            problems.add(
                &payload_span,
                format!("server.udp-payload {udp_payload} is outside 512..=4096"),
            );
        }
        let control_mode = match &self.control_mode {
            None => 0o600,
            Some(mode) => mode.get_ref().bits().unwrap_or_else(|message| {
                problems.add(&mode.span(), message);
                0o600
            }),
        };
        if let Some(mode) = &self.control_mode
            && control_mode & !CONTROL_MODE_SAFE != 0
            && !self.control_insecure
        {
            problems.add(
                &mode.span(),
                format!(
                    "server.control-mode {control_mode:04o} is wider than {CONTROL_MODE_SAFE:04o}: \
                     anyone it lets connect can reload, roll keys and confirm DS records; use \
                     0600 or 0660 (with the socket's group), or set control-insecure = true to \
                     allow it anyway"
                ),
            );
        }
        let zone_limits = ZoneLimits {
            max_file_bytes: at_least_one(
                self.max_zone_file_bytes,
                "server.max-zone-file-bytes",
                problems,
            ),
            max_include_depth: self.max_include_depth,
            max_records_per_type: at_least_one(
                self.max_records_per_type,
                "server.max-records-per-type",
                problems,
            ),
            max_records: at_least_one(self.max_records, "server.max-records", problems),
            include_dirs: self.include_dirs.iter().map(|d| dir.join(d)).collect(),
            include_denied: Vec::new(),
        };
        let state_dir = dir.join(self.state_dir);
        ServerConfig {
            net,
            listen,
            udp_payload,
            key_dir: dir.join(self.key_dir),
            control_socket: match self.control_socket {
                Some(path) => dir.join(path),
                None => state_dir.join("daned.sock"),
            },
            control_mode,
            watch_debounce: std::time::Duration::from_millis(self.watch_debounce_ms),
            rescan_interval: std::time::Duration::from_secs(u64::from(
                self.rescan_interval.0.max(1),
            )),
            metrics_listen: self.metrics_listen,
            signing_threads: match self.signing_threads {
                Some(threads) => {
                    NonZeroUsize::new(at_least_one(threads, "server.signing-threads", problems))
                        .unwrap_or(NonZeroUsize::MIN)
                }
                None => std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            },
            zone_limits,
            state_dir,
            user: self.user,
            group: self.group,
            log_format: match self.log_format {
                LogFormatSpec::Human => LogFormat::Human,
                LogFormatSpec::Json => LogFormat::Json,
            },
        }
    }
}

/// The widest control socket mode allowed without `control-insecure`: read and write for the
/// owner and the group.
const CONTROL_MODE_SAFE: u32 = 0o660;

/// A count that must be at least 1 (0 would refuse every zone); 1 after reporting a 0.
fn at_least_one<T: Copy + PartialEq + From<u8>>(
    value: Spanned<T>,
    key: &str,
    problems: &mut Problems<'_>,
) -> T {
    if *value.get_ref() == T::from(0) {
        problems.add(&value.span(), format!("{key} must be at least 1"));
        return T::from(1);
    }
    value.into_inner()
}

/// The most UDP workers per listen address (a thread and a socket each).
const MAX_UDP_WORKERS: u32 = 256;

impl ServerSpec {
    /// The rate limiting and TCP settings, each checked against its range.
    fn net_limits(&self, problems: &mut Problems<'_>) -> NetLimits {
        let mut check = |value: &Spanned<u32>, range: std::ops::RangeInclusive<u32>, key: &str| {
            let v = *value.get_ref();
            if !range.contains(&v) {
                problems.add(
                    &value.span(),
                    format!(
                        "server.{key} {v} is outside {}..={}",
                        range.start(),
                        range.end()
                    ),
                );
            }
            v
        };
        let rate_limit_slip = check(&self.rate_limit_slip, 0..=100, "rate-limit-slip");
        let rate_limit_table_size = check(
            &self.rate_limit_table_size,
            1..=1 << 24,
            "rate-limit-table-size",
        );
        let tcp_max_clients = self
            .tcp_max_clients
            .as_ref()
            .map(|v| check(v, 1..=1 << 20, "tcp-max-clients"));
        let ipv4 = Spanned::new(
            self.rate_limit_ipv4_prefix.span(),
            u32::from(*self.rate_limit_ipv4_prefix.get_ref()),
        );
        let ipv6 = Spanned::new(
            self.rate_limit_ipv6_prefix.span(),
            u32::from(*self.rate_limit_ipv6_prefix.get_ref()),
        );
        check(&ipv4, 1..=32, "rate-limit-ipv4-prefix");
        check(&ipv6, 1..=64, "rate-limit-ipv6-prefix");
        let udp_workers = self.udp_workers.as_ref().and_then(|v| {
            let workers = check(v, 1..=MAX_UDP_WORKERS, "udp-workers");
            NonZeroUsize::new(usize::try_from(workers).ok()?)
        });
        NetLimits {
            rate_limit: self.rate_limit,
            rate_limit_slip,
            rate_limit_ipv4_prefix: *self.rate_limit_ipv4_prefix.get_ref(),
            rate_limit_ipv6_prefix: *self.rate_limit_ipv6_prefix.get_ref(),
            rate_limit_table_size,
            tcp_max_clients,
            tcp_max_clients_per_address: self.tcp_max_clients_per_address,
            udp_workers,
        }
    }
}

/// A name of the file that is not a usable domain name.
#[derive(Debug, thiserror::Error)]
enum NameError {
    /// A TSIG key name hickory refuses.
    #[error("tsig key name {text:?} is not a domain name: {source}")]
    KeyName { text: String, source: ProtoError },
    /// An empty TSIG key name.
    #[error("tsig key name is empty")]
    EmptyKeyName,
    /// A zone origin hickory refuses.
    #[error("zone origin {text:?} is not a domain name: {source}")]
    Origin { text: String, source: ProtoError },
    /// An empty zone origin.
    #[error("zone origin is empty (the root zone is \".\")")]
    EmptyOrigin,
    /// An owner name hickory refuses (or that is too long below the origin).
    #[error("{source}")]
    Owner {
        #[source]
        source: ProtoError,
    },
}

/// A `tsig-key` reference of a zone that names no `[[tsig-key]]`.
#[derive(Debug, thiserror::Error)]
enum KeyRefError {
    /// Not a key name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// No such key.
    #[error("no [[tsig-key]] named {0}")]
    Unknown(Name),
}

/// A TSIG key name as an absolute, lowercase name.
fn parse_key_name(text: &str) -> Result<Name, NameError> {
    let mut name = Name::from_str_relaxed(text).map_err(|source| NameError::KeyName {
        text: text.to_owned(),
        source,
    })?;
    if name.is_root() {
        return Err(NameError::EmptyKeyName);
    }
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// The `[[tsig-key]]` tables: names unique, exactly one of `secret` and `secret-file`, the
/// secret base64 (a file's content is trimmed), and not empty.
fn tsig_keys_config(
    specs: Vec<Spanned<TsigKeySpec>>,
    dir: &Path,
    problems: &mut Problems<'_>,
) -> Vec<TsigKeyConfig> {
    let mut keys: Vec<TsigKeyConfig> = Vec::new();
    for spec in specs {
        let span = spec.span();
        let spec = spec.into_inner();
        let name = match parse_key_name(&spec.name) {
            Ok(name) => name,
            Err(e) => {
                problems.add(&span, e);
                continue;
            }
        };
        if keys.iter().any(|k| k.name == name) {
            problems.add(&span, format!("tsig-key {name}: defined more than once"));
            continue;
        }
        let text = match (spec.secret, spec.secret_file) {
            (Some(secret), None) => secret,
            (None, Some(file)) => {
                let file = dir.join(file);
                match fsutil::read_bounded_to_string(&file, fsutil::MAX_SECRET_BYTES) {
                    Ok(text) => text,
                    Err(e) => {
                        problems.add(&span, format!("tsig-key {name}: secret-file {e}"));
                        continue;
                    }
                }
            }
            _ => {
                problems.add(
                    &span,
                    format!("tsig-key {name}: give exactly one of secret and secret-file"),
                );
                continue;
            }
        };
        let secret = match data_encoding::BASE64.decode(text.trim().as_bytes()) {
            Ok(secret) if !secret.is_empty() => secret,
            Ok(_) => {
                problems.add(&span, format!("tsig-key {name}: the secret is empty"));
                continue;
            }
            Err(_) => {
                problems.add(&span, format!("tsig-key {name}: the secret is not base64"));
                continue;
            }
        };
        keys.push(TsigKeyConfig {
            name,
            algorithm: match spec.algorithm {
                TsigAlgorithmSpec::HmacSha256 => TsigAlgorithmConfig::HmacSha256,
                TsigAlgorithmSpec::HmacSha512 => TsigAlgorithmConfig::HmacSha512,
            },
            secret,
        });
    }
    keys
}

/// The origin as an absolute, lowercase name; a missing trailing dot is added.
fn parse_origin(text: &str) -> Result<Name, NameError> {
    if text.is_empty() {
        return Err(NameError::EmptyOrigin);
    }
    let mut name = Name::from_str_relaxed(text).map_err(|source| NameError::Origin {
        text: text.to_owned(),
        source,
    })?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

impl ZoneSpec {
    fn into_config(
        self,
        origin: Name,
        all_origins: &[Name],
        key_names: &[Name],
        server: &ServerConfig,
        dir: &Path,
        problems: &mut Problems<'_>,
    ) -> ZoneConfig {
        let key_ref = |text: &str| -> Result<Name, KeyRefError> {
            let name = parse_key_name(text)?;
            if key_names.contains(&name) {
                Ok(name)
            } else {
                Err(KeyRefError::Unknown(name))
            }
        };
        let mut allow_transfer = Vec::new();
        for acl in self.allow_transfer {
            let span = acl.span();
            let acl = acl.into_inner();
            let prefix = IpPrefix::parse(&acl.prefix);
            let key = acl.tsig_key.as_deref().map(key_ref).transpose();
            match (prefix, key) {
                (Ok(prefix), Ok(tsig_key)) => allow_transfer.push(TransferAcl { prefix, tsig_key }),
                (Err(e), _) => {
                    problems.add(&span, format!("zone {origin}: allow-transfer: {e}"));
                }
                (_, Err(e)) => {
                    problems.add(&span, format!("zone {origin}: allow-transfer: {e}"));
                }
            }
        }
        let mut secondaries = Vec::new();
        for secondary in self.secondary {
            let span = secondary.span();
            let secondary = secondary.into_inner();
            match secondary.tsig_key.as_deref().map(key_ref).transpose() {
                Ok(tsig_key) => secondaries.push(SecondaryConfig {
                    address: secondary.address,
                    tsig_key,
                }),
                Err(e) => problems.add(
                    &span,
                    format!(
                        "zone {origin}: secondary {}: tsig-key: {e}",
                        secondary.address
                    ),
                ),
            }
        }
        for secondary in &secondaries {
            let ip = secondary.address.ip();
            allow_transfer.push(TransferAcl {
                prefix: IpPrefix::from(ip),
                tsig_key: secondary.tsig_key.clone(),
            });
        }
        let defaults = &server.zone_limits;
        let limits = ZoneLimits {
            max_file_bytes: self
                .max_zone_file_bytes
                .map_or(defaults.max_file_bytes, |v| {
                    at_least_one(v, &format!("zone {origin}: max-zone-file-bytes"), problems)
                }),
            max_include_depth: self.max_include_depth.unwrap_or(defaults.max_include_depth),
            max_records_per_type: self
                .max_records_per_type
                .map_or(defaults.max_records_per_type, |v| {
                    at_least_one(v, &format!("zone {origin}: max-records-per-type"), problems)
                }),
            max_records: self.max_records.map_or(defaults.max_records, |v| {
                at_least_one(v, &format!("zone {origin}: max-records"), problems)
            }),
            include_dirs: match &self.include_dirs {
                Some(dirs) => dirs.iter().map(|d| dir.join(d)).collect(),
                None => defaults.include_dirs.clone(),
            },
            include_denied: vec![server.key_dir.clone(), server.state_dir.clone()],
        };
        let mut signing = self.signing.into_config(&origin, problems);
        signing.threads = server.signing_threads;
        let keys = self.keys.into_config(&origin, &signing, problems);
        let mut names = HashSet::new();
        let mut tlsa = Vec::new();
        for binding in self.tlsa {
            let binding_span = binding.span();
            let binding = binding.into_inner();
            if !names.insert(binding.name.clone()) {
                problems.add(
                    &binding_span,
                    format!(
                        "zone {origin}: tlsa binding {:?} is defined more than once",
                        binding.name
                    ),
                );
                continue;
            }
            match binding.into_config(&origin, all_origins, dir) {
                Ok(binding) => tlsa.push(binding),
                Err(message) => problems.add(&binding_span, format!("zone {origin}: {message}")),
            }
        }
        ZoneConfig {
            origin,
            file: dir.join(self.file),
            signing,
            tlsa,
            secondaries,
            allow_transfer,
            journal: JournalLimits {
                max_deltas: self.journal_max_deltas,
                max_bytes: self.journal_max_bytes,
            },
            keys,
            secondary_poll_interval: std::time::Duration::from_secs(u64::from(
                self.secondary_poll_interval.0.max(1),
            )),
            secondary_lag_warning: self.secondary_lag_warning.0,
            limits,
        }
    }
}

impl SigningSpec {
    fn into_config(self, origin: &Name, problems: &mut Problems<'_>) -> SigningConfig {
        let validity = self.validity.get_ref().0;
        let refresh = self.refresh.get_ref().0;
        let inception_offset = self.inception_offset.get_ref().0;
        let dnskey_ttl = self.dnskey_ttl.get_ref().0;
        let jitter = self.jitter.get_ref().0;
        // The default is cut to fit short validities by the signer; a value given must fit.
        let given = self.jitter.span() != (0..0);
        if given && refresh < validity && jitter >= validity - refresh {
            problems.add(
                &self.jitter.span(),
                format!(
                    "zone {origin}: signing.jitter ({jitter} s) must be less than signing.validity \
                     - signing.refresh ({} s)",
                    validity - refresh
                ),
            );
        }
        if validity == 0 {
            problems.add(
                &self.validity.span(),
                format!("zone {origin}: signing.validity must be more than 0"),
            );
        }
        if refresh == 0 || refresh >= validity {
            problems.add(
                &self.refresh.span(),
                format!(
                    "zone {origin}: signing.refresh ({refresh} s) must be more than 0 and less \
                     than signing.validity ({validity} s)"
                ),
            );
        }
        if inception_offset >= validity {
            problems.add(
                &self.inception_offset.span(),
                format!(
                    "zone {origin}: signing.inception-offset ({inception_offset} s) must be less \
                     than signing.validity ({validity} s)"
                ),
            );
        }
        if dnskey_ttl > MAX_TTL {
            problems.add(
                &self.dnskey_ttl.span(),
                format!("zone {origin}: signing.dnskey-ttl {dnskey_ttl} is above {MAX_TTL} s"),
            );
        }
        SigningConfig {
            algorithm: self.algorithm.into(),
            denial: match self.denial {
                DenialSpec::Nsec => Denial::Nsec,
                // RFC 9276 §3.1: SHA-1, 0 extra iterations, empty salt, no opt-out.
                DenialSpec::Nsec3 => Denial::Nsec3(daned_sign::nsec3::Nsec3Params::default()),
            },
            policy: SignPolicy {
                inception_offset,
                validity,
                refresh,
                jitter,
            },
            dnskey_ttl,
            // The server's `signing-threads`, set by the zone's conversion.
            threads: NonZeroUsize::MIN,
        }
    }
}

/// A `[[zone.tlsa]]` binding that cannot be used: its name and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("tlsa binding {name:?}: {problem}")]
struct BindingError {
    name: String,
    #[source]
    problem: BindingProblem,
}

/// What is wrong with a binding.
#[derive(Debug, thiserror::Error)]
enum BindingProblem {
    #[error("name must be letters, digits, '-', '_' or '.', not starting with '.'")]
    BadName,
    #[error("give either names or host, not both")]
    NamesAndHost,
    #[error("give either names (owner names) or host with ports")]
    NoOwners,
    #[error("ports is only used with host")]
    PortsWithoutHost,
    #[error("protocol is only used with host")]
    ProtocolWithoutHost,
    #[error("names is empty")]
    EmptyNames,
    #[error("names: {text:?} is not a domain name: {source}")]
    Owner { text: String, source: NameError },
    #[error("host needs ports")]
    HostNeedsPorts,
    #[error("ports is empty")]
    EmptyPorts,
    #[error("host {host:?} is not a domain name: {source}")]
    Host { host: String, source: NameError },
    #[error("_{port}.{protocol}.{host} is too long: {source}")]
    TooLong {
        port: u16,
        protocol: &'static str,
        host: Name,
        source: ProtoError,
    },
    #[error("owner {owner} is outside the zone {origin}")]
    OutsideZone { owner: Name, origin: Name },
    #[error("owner {owner} belongs to the zone {inner}, also configured here")]
    InnerZone { owner: Name, inner: Name },
    /// The TLSA parameters: the lifecycle's reason, without the "certificate" prefix.
    #[error("{}", parameters_reason(source))]
    Parameters { source: SignError },
    #[error("ttl {ttl} is above {MAX_TTL} s")]
    TtlTooHigh { ttl: u32 },
    #[error("with certificates, give each one's next-key in its entry")]
    NextKeyWithList,
    #[error("certificates is empty")]
    EmptyCertificates,
    #[error("certificate {} is listed twice", file.display())]
    ListedTwice { file: PathBuf },
    #[error("give either certificate or certificates, not both")]
    CertificateAndList,
    #[error("give certificate (or certificates)")]
    NoCertificate,
    #[error("{what}: {key:?} is not a port number")]
    NotAPort { what: &'static str, key: String },
    #[error("probe-addresses: {text:?} is not an IP address")]
    NotAnAddress {
        text: String,
        source: std::net::AddrParseError,
    },
    #[error("probe-interval {secs} s is below 10 s")]
    IntervalTooShort { secs: u32 },
    #[error("probe-port: port 0 for {key}")]
    PortZero { key: String },
}

/// The reason of a refused TLSA parameter set, as the binding's message shows it.
fn parameters_reason(error: &SignError) -> String {
    match error {
        SignError::Certificate(reason) => reason.clone(),
        other => other.to_string(),
    }
}

impl TlsaBindingSpec {
    fn into_config(
        self,
        origin: &Name,
        all_origins: &[Name],
        dir: &Path,
    ) -> Result<TlsaBinding, BindingError> {
        let name = self.name.clone();
        let fail = |problem| BindingError {
            name: name.clone(),
            problem,
        };
        if !valid_binding_name(&self.name) {
            return Err(fail(BindingProblem::BadName));
        }
        let owners: Vec<Name> = match (self.names, self.host) {
            (Some(_), Some(_)) => {
                return Err(fail(BindingProblem::NamesAndHost));
            }
            (None, None) => {
                return Err(fail(BindingProblem::NoOwners));
            }
            (Some(names), None) => {
                if self.ports.is_some() {
                    return Err(fail(BindingProblem::PortsWithoutHost));
                }
                if self.protocol.is_some() {
                    return Err(fail(BindingProblem::ProtocolWithoutHost));
                }
                if names.is_empty() {
                    return Err(fail(BindingProblem::EmptyNames));
                }
                names
                    .iter()
                    .map(|text| {
                        parse_owner(text, origin).map_err(|source| {
                            fail(BindingProblem::Owner {
                                text: text.clone(),
                                source,
                            })
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
            (None, Some(host)) => {
                let ports = self
                    .ports
                    .ok_or_else(|| fail(BindingProblem::HostNeedsPorts))?;
                if ports.is_empty() {
                    return Err(fail(BindingProblem::EmptyPorts));
                }
                let host_name = parse_owner(&host, origin).map_err(|source| {
                    fail(BindingProblem::Host {
                        host: host.clone(),
                        source,
                    })
                })?;
                let protocol = self.protocol.unwrap_or(ProtocolSpec::Tcp).label();
                ports
                    .iter()
                    .map(|port| {
                        host_name
                            .prepend_label(protocol)
                            .and_then(|name| name.prepend_label(format!("_{port}")))
                            .map_err(|source| {
                                fail(BindingProblem::TooLong {
                                    port: *port,
                                    protocol,
                                    host: host_name.clone(),
                                    source,
                                })
                            })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        let mut unique: Vec<Name> = Vec::new();
        for owner in owners {
            if !origin.zone_of(&owner) {
                return Err(fail(BindingProblem::OutsideZone {
                    owner,
                    origin: origin.clone(),
                }));
            }
            if let Some(inner) = all_origins
                .iter()
                .filter(|other| *other != origin && origin.zone_of(other))
                .find(|other| other.zone_of(&owner))
            {
                return Err(fail(BindingProblem::InnerZone {
                    owner,
                    inner: inner.clone(),
                }));
            }
            if !unique.contains(&owner) {
                unique.push(owner);
            }
        }
        let spec = TlsaSpec::new(self.usage, self.selector, self.matching)
            .map_err(|source| fail(BindingProblem::Parameters { source }))?;
        if self.ttl.0 > MAX_TTL {
            return Err(fail(BindingProblem::TtlTooHigh { ttl: self.ttl.0 }));
        }
        let certificates = match (self.certificate, self.certificates) {
            (Some(file), None) => vec![CertificateSource {
                file: dir.join(file),
                next_key: self.next_key.map(|p| dir.join(p)),
            }],
            (None, Some(list)) => {
                if self.next_key.is_some() {
                    return Err(fail(BindingProblem::NextKeyWithList));
                }
                if list.is_empty() {
                    return Err(fail(BindingProblem::EmptyCertificates));
                }
                let list: Vec<CertificateSource> = list
                    .into_iter()
                    .map(|c| CertificateSource {
                        file: dir.join(c.file),
                        next_key: c.next_key.map(|p| dir.join(p)),
                    })
                    .collect();
                for (i, c) in list.iter().enumerate() {
                    if list[..i].iter().any(|o| o.file == c.file) {
                        return Err(fail(BindingProblem::ListedTwice {
                            file: c.file.clone(),
                        }));
                    }
                }
                list
            }
            (Some(_), Some(_)) => {
                return Err(fail(BindingProblem::CertificateAndList));
            }
            (None, None) => {
                return Err(fail(BindingProblem::NoCertificate));
            }
        };
        let probe = probe_config(
            self.probe,
            self.probe_addresses,
            self.probe_interval,
            self.probe_protocol,
            self.probe_port,
        )
        .map_err(fail)?;
        Ok(TlsaBinding {
            name: self.name,
            certificates,
            owners: unique,
            spec,
            ttl: self.ttl.0,
            rollover_margin: self.rollover_margin.0,
            probe,
        })
    }
}

/// The typed `probe*` keys of a binding.
fn probe_config(
    enabled: bool,
    addresses: Option<Vec<String>>,
    interval: Seconds,
    protocols: BTreeMap<String, ProbeProtocol>,
    ports: BTreeMap<String, u16>,
) -> Result<ProbeConfig, BindingProblem> {
    let port_key = |key: &str, what: &'static str| {
        key.parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| BindingProblem::NotAPort {
                what,
                key: key.to_owned(),
            })
    };
    let addresses = addresses
        .map(|list| {
            list.iter()
                .map(|text| {
                    text.parse::<std::net::IpAddr>().map_err(|source| {
                        BindingProblem::NotAnAddress {
                            text: text.clone(),
                            source,
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    if interval.0 < 10 {
        return Err(BindingProblem::IntervalTooShort { secs: interval.0 });
    }
    let protocols = protocols
        .into_iter()
        .map(|(key, protocol)| Ok((port_key(&key, "probe-protocol")?, protocol)))
        .collect::<Result<_, BindingProblem>>()?;
    let ports = ports
        .into_iter()
        .map(|(key, port)| {
            if port == 0 {
                return Err(BindingProblem::PortZero { key });
            }
            Ok((port_key(&key, "probe-port")?, port))
        })
        .collect::<Result<_, BindingProblem>>()?;
    Ok(ProbeConfig {
        enabled,
        addresses,
        interval: interval.0,
        protocols,
        ports,
    })
}

/// A binding name: it appears in `daned status`, `wait-ready` and state file names.
fn valid_binding_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// An owner name: absolute with a trailing dot, `@` for the apex, otherwise relative to
/// `origin`.
fn parse_owner(text: &str, origin: &Name) -> Result<Name, NameError> {
    if text == "@" {
        return Ok(origin.clone());
    }
    let owner = |source| NameError::Owner { source };
    let name = Name::from_str_relaxed(text).map_err(owner)?;
    if name.is_fqdn() {
        Ok(name)
    } else {
        name.append_domain(origin).map_err(owner)
    }
}

/// The shortest usable lifetime of each rolled key (key name, (seconds, formula)): a key must
/// outlive the waits of its own rollover, or a new roll would start before the last one ends.
/// These are the lifecycle's own bounds (`daned_sign::lifecycle`, each wait plus one
/// safety margin) with the zone's largest TTL (TTLsig) taken as dnskey-ttl, its least value:
/// the zone's content is not known here, so `serve` checks again with it and may ask for more.
fn key_lifetime_minimums(policy: &KeyPolicy) -> Vec<(&'static str, (u64, &'static str))> {
    let p = |v: u32| u64::from(v);
    let m = p(policy.safety_margin);
    // RFC 7583 §3.2.1: IpubZ = IpubK = Dprp + TTLkey.
    let publish = p(policy.propagation_delay) + p(policy.dnskey_ttl) + m;
    // The ZSK's retire wait, Iret = Dprp + TTLsig, and TTLsig >= TTLkey.
    let retire_zsk = p(policy.propagation_delay) + p(policy.dnskey_ttl) + m;
    // RFC 7583 §3.3: the new DS must reach the parent's caches, then the old key retires for
    // Dprp + max(TTLkey, TTLsig).
    let ds = p(policy.parent_propagation_delay) + p(policy.parent_ds_ttl) + m;
    let retire_sep = p(policy.propagation_delay) + p(policy.dnskey_ttl) + m;
    let mut out = vec![(
        "ksk-lifetime",
        (
            publish + ds + retire_sep,
            "2 x (propagation-delay + dnskey-ttl) + parent-propagation-delay + parent-ds-ttl + \
             3 x safety-margin",
        ),
    )];
    if policy.mode == KeyMode::KskZsk {
        out.push((
            "zsk-lifetime",
            (
                publish + retire_zsk,
                "2 x (propagation-delay + dnskey-ttl) + 2 x safety-margin",
            ),
        ));
    }
    out
}

impl KeysSpec {
    fn into_config(
        self,
        origin: &Name,
        signing: &SigningConfig,
        problems: &mut Problems<'_>,
    ) -> KeysConfig {
        let secs = |s: &Spanned<Seconds>| s.get_ref().0;
        let lifetime = |s: &Spanned<Seconds>| Some(secs(s)).filter(|&l| l > 0);
        let mode = match self.mode {
            KeyModeSpec::Csk => KeyMode::Csk,
            KeyModeSpec::KskZsk => KeyMode::KskZsk,
        };
        let policy = KeyPolicy {
            mode,
            algorithm: signing.algorithm,
            ksk_lifetime: lifetime(&self.ksk_lifetime),
            zsk_lifetime: lifetime(&self.zsk_lifetime),
            dnskey_ttl: signing.dnskey_ttl,
            max_zone_ttl: 0,
            propagation_delay: secs(&self.propagation_delay),
            parent_ds_ttl: secs(&self.parent_ds_ttl),
            parent_propagation_delay: secs(&self.parent_propagation_delay),
            safety_margin: secs(&self.safety_margin),
            cds: match self.cds {
                CdsSpec::Always => CdsPolicy::Always,
                CdsSpec::Rollover => CdsPolicy::Rollover,
                CdsSpec::Never => CdsPolicy::Never,
            },
        };
        for (key, min) in key_lifetime_minimums(&policy) {
            let (span, value) = match key {
                "ksk-lifetime" => (self.ksk_lifetime.span(), policy.ksk_lifetime),
                _ => (self.zsk_lifetime.span(), policy.zsk_lifetime),
            };
            if let Some(value) = value
                && u64::from(value) < min.0
            {
                problems.add(
                    &span,
                    format!(
                        "zone {origin}: keys.{key} ({value} s) is too short for a rollover: it \
                         must be at least {} = {} s",
                        min.1, min.0
                    ),
                );
            }
        }
        let interval = secs(&self.parent_poll_interval);
        if interval == 0 {
            problems.add(
                &self.parent_poll_interval.span(),
                format!("zone {origin}: keys.parent-poll-interval must be more than 0"),
            );
        }
        KeysConfig {
            policy,
            parent_servers: self.parent_servers,
            parent_poll_interval: interval,
        }
    }
}

#[cfg(test)]
mod tests;
