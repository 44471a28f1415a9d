//! The configuration file: TOML, versioned, kebab-case keys, unknown keys refused.
//!
//! Two layers: the raw `Spec` types mirror the file (serde, defaults, no meaning), and
//! [`Config::parse`] turns them into the typed [`Config`] the server uses: DNS names,
//! socket addresses, seconds, absolute paths (resolved against the config file's directory)
//! and checked TLSA parameters. Every semantic problem is reported as
//! [`ConfigError::Invalid`], naming the file, line, zone, binding and key involved.
//!
//! `etc/example.toml` documents every setting with its default.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use daned_sign::SignError;
use daned_sign::keys::KeyAlgorithm;
use daned_sign::lifecycle::{CdsPolicy, KeyMode, KeyPolicy};
use daned_sign::sign::SignPolicy;
use daned_sign::tlsa::TlsaSpec;
use hickory_proto::rr::Name;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

use crate::fsutil::{self, ReadError};
use crate::zone::zonefile::{self, ZoneLimits};

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
pub struct IpPrefix {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl IpPrefix {
    /// Whether `ip` lies in this prefix (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// Parses `addr/len` (or a bare address: a host prefix).
    fn parse(text: &str) -> Result<Self, String> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an address prefix such as \"127.0.0.0/8\""))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(len) => len
                .parse::<u8>()
                .ok()
                .filter(|len| *len <= max)
                .ok_or_else(|| format!("{text:?}: prefix length must be 0..={max}"))?,
        };
        let prefix = IpPrefix { addr, len };
        if !prefix.contains(addr) || prefix.host_bits_set() {
            return Err(format!("{text:?}: host bits set after the prefix length"));
        }
        Ok(prefix)
    }

    fn host_bits_set(&self) -> bool {
        match self.addr {
            IpAddr::V4(v4) => {
                u32::from(v4) & !u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0) != 0
            }
            IpAddr::V6(v6) => {
                u128::from(v6)
                    & !u128::MAX
                        .checked_shl(128 - u32::from(self.len))
                        .unwrap_or(0)
                    != 0
            }
        }
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
    pub udp_workers: Option<std::num::NonZeroUsize>,
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
    pub journal: crate::zone::persist::journal::JournalLimits,
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

// ---- The raw file format ------------------------------------------------------------------

/// The file as written: serde with defaults, no meaning yet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Spec {
    /// Format version; only `"v1"` exists.
    #[allow(
        dead_code,
        reason = "present so that a missing or unknown version is refused"
    )]
    version: VersionSpec,
    #[serde(default)]
    server: ServerSpec,
    #[serde(default, rename = "zone")]
    zones: Vec<Spanned<ZoneSpec>>,
    #[serde(default, rename = "tsig-key")]
    tsig_keys: Vec<Spanned<TsigKeySpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TsigKeySpec {
    name: String,
    algorithm: TsigAlgorithmSpec,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum TsigAlgorithmSpec {
    HmacSha256,
    HmacSha512,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SecondarySpec {
    address: SocketAddr,
    tsig_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TransferAclSpec {
    prefix: String,
    tsig_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum VersionSpec {
    V1,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ServerSpec {
    #[serde(default = "default_listen")]
    listen: Spanned<Vec<SocketAddr>>,
    #[serde(default = "default_udp_payload")]
    udp_payload: Spanned<u16>,
    #[serde(default = "default_key_dir")]
    key_dir: PathBuf,
    #[serde(default = "default_state_dir")]
    state_dir: PathBuf,
    #[serde(default)]
    log_format: LogFormatSpec,
    #[serde(default)]
    control_socket: Option<PathBuf>,
    #[serde(default)]
    control_mode: Option<Spanned<ModeSpec>>,
    #[serde(default = "default_watch_debounce_ms")]
    watch_debounce_ms: u64,
    #[serde(default = "default_rescan_interval")]
    rescan_interval: Seconds,
    #[serde(default)]
    metrics_listen: Option<SocketAddr>,
    #[serde(default)]
    control_insecure: bool,
    #[serde(default = "default_max_zone_file_bytes")]
    max_zone_file_bytes: Spanned<u64>,
    #[serde(default = "default_max_include_depth")]
    max_include_depth: usize,
    #[serde(default = "default_max_records_per_type")]
    max_records_per_type: Spanned<usize>,
    #[serde(default = "default_max_records")]
    max_records: Spanned<usize>,
    #[serde(default)]
    include_dirs: Vec<PathBuf>,
    #[serde(default = "default_rate_limit")]
    rate_limit: u32,
    #[serde(default = "default_rate_limit_slip")]
    rate_limit_slip: Spanned<u32>,
    #[serde(default = "default_rate_limit_ipv4_prefix")]
    rate_limit_ipv4_prefix: Spanned<u8>,
    #[serde(default = "default_rate_limit_ipv6_prefix")]
    rate_limit_ipv6_prefix: Spanned<u8>,
    #[serde(default = "default_rate_limit_table_size")]
    rate_limit_table_size: Spanned<u32>,
    #[serde(default)]
    tcp_max_clients: Option<Spanned<u32>>,
    #[serde(default = "default_tcp_max_clients_per_address")]
    tcp_max_clients_per_address: u32,
    #[serde(default)]
    udp_workers: Option<Spanned<u32>>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    group: Option<String>,
}

fn default_max_zone_file_bytes() -> Spanned<u64> {
    Spanned::new(0..0, zonefile::DEFAULT_MAX_FILE_BYTES)
}

fn default_max_include_depth() -> usize {
    zonefile::DEFAULT_MAX_INCLUDE_DEPTH
}

fn default_max_records_per_type() -> Spanned<usize> {
    Spanned::new(0..0, zonefile::DEFAULT_MAX_RECORDS_PER_TYPE)
}

fn default_max_records() -> Spanned<usize> {
    Spanned::new(0..0, zonefile::DEFAULT_MAX_RECORDS)
}

fn default_rate_limit() -> u32 {
    NetLimits::default().rate_limit
}

fn default_rate_limit_slip() -> Spanned<u32> {
    Spanned::new(0..0, NetLimits::default().rate_limit_slip)
}

fn default_rate_limit_ipv4_prefix() -> Spanned<u8> {
    Spanned::new(0..0, NetLimits::default().rate_limit_ipv4_prefix)
}

fn default_rate_limit_ipv6_prefix() -> Spanned<u8> {
    Spanned::new(0..0, NetLimits::default().rate_limit_ipv6_prefix)
}

fn default_rate_limit_table_size() -> Spanned<u32> {
    Spanned::new(0..0, NetLimits::default().rate_limit_table_size)
}

fn default_tcp_max_clients_per_address() -> u32 {
    NetLimits::default().tcp_max_clients_per_address
}

fn default_watch_debounce_ms() -> u64 {
    1000
}

fn default_rescan_interval() -> Seconds {
    Seconds(300)
}

/// Permission bits, as an octal string (`"0600"`) or an integer (`384`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum ModeSpec {
    Text(String),
    Number(u32),
}

impl ModeSpec {
    fn bits(&self) -> Result<u32, String> {
        let bits = match self {
            Self::Text(text) => {
                u32::from_str_radix(text.trim_start_matches("0o"), 8).map_err(|_| {
                    format!("server.control-mode {text:?} is not an octal mode like \"0600\"")
                })?
            }
            Self::Number(n) => *n,
        };
        if bits > 0o777 {
            return Err(format!("server.control-mode {bits:o} has bits beyond 0777"));
        }
        Ok(bits)
    }
}

impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            udp_payload: default_udp_payload(),
            key_dir: default_key_dir(),
            state_dir: default_state_dir(),
            log_format: LogFormatSpec::default(),
            control_socket: None,
            control_mode: None,
            watch_debounce_ms: default_watch_debounce_ms(),
            rescan_interval: default_rescan_interval(),
            metrics_listen: None,
            control_insecure: false,
            max_zone_file_bytes: default_max_zone_file_bytes(),
            max_include_depth: default_max_include_depth(),
            max_records_per_type: default_max_records_per_type(),
            max_records: default_max_records(),
            include_dirs: Vec::new(),
            rate_limit: default_rate_limit(),
            rate_limit_slip: default_rate_limit_slip(),
            rate_limit_ipv4_prefix: default_rate_limit_ipv4_prefix(),
            rate_limit_ipv6_prefix: default_rate_limit_ipv6_prefix(),
            rate_limit_table_size: default_rate_limit_table_size(),
            tcp_max_clients: None,
            tcp_max_clients_per_address: default_tcp_max_clients_per_address(),
            udp_workers: None,
            user: None,
            group: None,
        }
    }
}

fn default_listen() -> Spanned<Vec<SocketAddr>> {
    Spanned::new(0..0, vec![SocketAddr::from(([127, 0, 0, 1], 5300))])
}

fn default_udp_payload() -> Spanned<u16> {
    Spanned::new(0..0, 1232)
}

fn default_key_dir() -> PathBuf {
    PathBuf::from("keys")
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum LogFormatSpec {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ZoneSpec {
    origin: String,
    file: PathBuf,
    #[serde(default)]
    signing: SigningSpec,
    #[serde(default)]
    tlsa: Vec<Spanned<TlsaBindingSpec>>,
    #[serde(default)]
    secondary: Vec<Spanned<SecondarySpec>>,
    #[serde(default)]
    allow_transfer: Vec<Spanned<TransferAclSpec>>,
    #[serde(default = "default_journal_max_deltas")]
    journal_max_deltas: usize,
    #[serde(default = "default_journal_max_bytes")]
    journal_max_bytes: usize,
    #[serde(default)]
    keys: KeysSpec,
    #[serde(default = "default_secondary_poll_interval")]
    secondary_poll_interval: Seconds,
    #[serde(default = "default_secondary_lag_warning")]
    secondary_lag_warning: Seconds,
    max_zone_file_bytes: Option<Spanned<u64>>,
    max_include_depth: Option<usize>,
    max_records_per_type: Option<Spanned<usize>>,
    max_records: Option<Spanned<usize>>,
    include_dirs: Option<Vec<PathBuf>>,
}

fn default_secondary_poll_interval() -> Seconds {
    Seconds(300)
}

fn default_secondary_lag_warning() -> Seconds {
    Seconds(600)
}

/// `[zone.keys]` as written. Durations of 0 for a lifetime mean "never rolled".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KeysSpec {
    #[serde(default)]
    mode: KeyModeSpec,
    #[serde(default = "default_ksk_lifetime")]
    ksk_lifetime: Spanned<Seconds>,
    #[serde(default = "default_zsk_lifetime")]
    zsk_lifetime: Spanned<Seconds>,
    #[serde(default = "default_one_hour")]
    propagation_delay: Spanned<Seconds>,
    #[serde(default = "default_parent_ds_ttl")]
    parent_ds_ttl: Spanned<Seconds>,
    #[serde(default = "default_one_hour")]
    parent_propagation_delay: Spanned<Seconds>,
    #[serde(default = "default_one_hour")]
    safety_margin: Spanned<Seconds>,
    #[serde(default)]
    cds: CdsSpec,
    #[serde(default)]
    parent_servers: Vec<SocketAddr>,
    #[serde(default = "default_one_hour")]
    parent_poll_interval: Spanned<Seconds>,
}

impl Default for KeysSpec {
    fn default() -> Self {
        Self {
            mode: KeyModeSpec::default(),
            ksk_lifetime: default_ksk_lifetime(),
            zsk_lifetime: default_zsk_lifetime(),
            propagation_delay: default_one_hour(),
            parent_ds_ttl: default_parent_ds_ttl(),
            parent_propagation_delay: default_one_hour(),
            safety_margin: default_one_hour(),
            cds: CdsSpec::default(),
            parent_servers: Vec::new(),
            parent_poll_interval: default_one_hour(),
        }
    }
}

fn default_ksk_lifetime() -> Spanned<Seconds> {
    Spanned::new(0..0, Seconds(0))
}

fn default_zsk_lifetime() -> Spanned<Seconds> {
    Spanned::new(0..0, Seconds(90 * 86400))
}

fn default_one_hour() -> Spanned<Seconds> {
    Spanned::new(0..0, Seconds(3600))
}

fn default_parent_ds_ttl() -> Spanned<Seconds> {
    Spanned::new(0..0, Seconds(86400))
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum KeyModeSpec {
    #[default]
    Csk,
    KskZsk,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum CdsSpec {
    #[default]
    Always,
    Rollover,
    Never,
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

fn default_journal_max_deltas() -> usize {
    crate::zone::persist::journal::DEFAULT_MAX_DELTAS
}

fn default_journal_max_bytes() -> usize {
    crate::zone::persist::journal::DEFAULT_MAX_BYTES
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SigningSpec {
    #[serde(default)]
    algorithm: AlgorithmSpec,
    #[serde(default)]
    denial: DenialSpec,
    #[serde(default = "default_validity")]
    validity: Spanned<Seconds>,
    #[serde(default = "default_refresh")]
    refresh: Spanned<Seconds>,
    #[serde(default = "default_inception_offset")]
    inception_offset: Spanned<Seconds>,
    #[serde(default = "default_dnskey_ttl")]
    dnskey_ttl: Spanned<Seconds>,
    #[serde(default = "default_jitter")]
    jitter: Spanned<Seconds>,
}

impl Default for SigningSpec {
    fn default() -> Self {
        Self {
            algorithm: AlgorithmSpec::default(),
            denial: DenialSpec::default(),
            validity: default_validity(),
            refresh: default_refresh(),
            inception_offset: default_inception_offset(),
            dnskey_ttl: default_dnskey_ttl(),
            jitter: default_jitter(),
        }
    }
}

fn default_jitter() -> Spanned<Seconds> {
    Spanned::new(0..0, Seconds(SignPolicy::default().jitter))
}

fn default_validity() -> Spanned<Seconds> {
    Spanned::new(0..0, Seconds(SignPolicy::default().validity))
}

fn default_refresh() -> Spanned<Seconds> {
    Spanned::new(0..0, Seconds(SignPolicy::default().refresh))
}

fn default_inception_offset() -> Spanned<Seconds> {
    Spanned::new(0..0, Seconds(SignPolicy::default().inception_offset))
}

fn default_dnskey_ttl() -> Spanned<Seconds> {
    Spanned::new(0..0, Seconds(3600))
}

/// Algorithm names as DNSSEC mnemonics (RFC 8624 §3.1), lowercase.
///
/// A private mapping until `KeyAlgorithm` gets its own parser in `daned_sign::keys`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum AlgorithmSpec {
    #[default]
    Ecdsap256sha256,
    Ecdsap384sha384,
    Ed25519,
    Rsasha256,
}

impl From<AlgorithmSpec> for KeyAlgorithm {
    fn from(spec: AlgorithmSpec) -> Self {
        match spec {
            AlgorithmSpec::Ecdsap256sha256 => KeyAlgorithm::EcdsaP256Sha256,
            AlgorithmSpec::Ecdsap384sha384 => KeyAlgorithm::EcdsaP384Sha384,
            AlgorithmSpec::Ed25519 => KeyAlgorithm::Ed25519,
            AlgorithmSpec::Rsasha256 => KeyAlgorithm::RsaSha256,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum DenialSpec {
    #[default]
    Nsec,
    Nsec3,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TlsaBindingSpec {
    name: String,
    certificate: Option<PathBuf>,
    certificates: Option<Vec<CertificateSpec>>,
    names: Option<Vec<String>>,
    host: Option<String>,
    ports: Option<Vec<u16>>,
    protocol: Option<ProtocolSpec>,
    #[serde(default = "default_usage")]
    usage: u8,
    #[serde(default = "default_selector")]
    selector: u8,
    #[serde(default = "default_matching")]
    matching: u8,
    #[serde(default = "default_tlsa_ttl")]
    ttl: Seconds,
    #[serde(default)]
    next_key: Option<PathBuf>,
    #[serde(default = "default_rollover_margin")]
    rollover_margin: Seconds,
    #[serde(default = "default_true")]
    probe: bool,
    probe_addresses: Option<Vec<String>>,
    #[serde(default = "default_probe_interval")]
    probe_interval: Seconds,
    #[serde(default)]
    probe_protocol: BTreeMap<String, ProbeProtocol>,
    #[serde(default)]
    probe_port: BTreeMap<String, u16>,
}

/// One entry of `certificates = [{ file = "...", next-key = "..." }, ...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CertificateSpec {
    file: PathBuf,
    next_key: Option<PathBuf>,
}

fn default_true() -> bool {
    true
}

fn default_probe_interval() -> Seconds {
    Seconds(300)
}

fn default_rollover_margin() -> Seconds {
    Seconds(300)
}

fn default_usage() -> u8 {
    TlsaSpec::default().usage
}

fn default_selector() -> u8 {
    TlsaSpec::default().selector
}

fn default_matching() -> u8 {
    TlsaSpec::default().matching
}

fn default_tlsa_ttl() -> Seconds {
    Seconds(3600)
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum ProtocolSpec {
    Tcp,
    Udp,
    Sctp,
}

impl ProtocolSpec {
    fn label(self) -> &'static str {
        match self {
            ProtocolSpec::Tcp => "_tcp",
            ProtocolSpec::Udp => "_udp",
            ProtocolSpec::Sctp => "_sctp",
        }
    }
}

/// A duration in whole seconds: an integer, or a string such as `"30"`, `"30s"`, `"5m"`,
/// `"2h"`, `"14d"`, `"2w"` or `"1h30m"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seconds(u32);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecondsVisitor)
    }
}

struct SecondsVisitor;

impl Visitor<'_> for SecondsVisitor {
    type Value = Seconds;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a duration such as \"3600\", \"30s\", \"5m\", \"2h\", \"14d\", \"2w\" or \"1h30m\"",
        )
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
        u32::try_from(v)
            .map(Seconds)
            .map_err(|_| E::custom(format!("duration {v} is out of range (0..=4294967295 s)")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
        u32::try_from(v)
            .map(Seconds)
            .map_err(|_| E::custom(format!("duration {v} is out of range (0..=4294967295 s)")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
        parse_duration(v).map(Seconds).map_err(E::custom)
    }
}

/// Parses `"30"`, `"30s"`, `"5m"`, `"2h"`, `"14d"`, `"2w"` and sums such as `"1h30m"` into
/// seconds.
fn parse_duration(text: &str) -> Result<u32, String> {
    let bad = |why: &str| format!("bad duration {text:?}: {why}");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad("empty"));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed.parse::<u32>().map_err(|_| bad("out of range"));
    }
    let mut total: u32 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected a number before each unit"));
        }
        let (number, after) = rest.split_at(digits);
        let mut chars = after.chars();
        let unit = match chars.next().map(|c| c.to_ascii_lowercase()) {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            Some('w') => 604_800,
            Some(other) => return Err(bad(&format!("unknown unit {other:?} (s, m, h, d, w)"))),
            None => return Err(bad("the last number has no unit (s, m, h, d, w)")),
        };
        let value = number
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| bad("out of range"))?;
        total = value;
        rest = chars.as_str();
    }
    Ok(total)
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
            std::num::NonZeroUsize::new(usize::try_from(workers).ok()?)
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

/// A TSIG key name as an absolute, lowercase name.
fn parse_key_name(text: &str) -> Result<Name, String> {
    let mut name = Name::from_str_relaxed(text)
        .map_err(|e| format!("tsig key name {text:?} is not a domain name: {e}"))?;
    if name.is_root() {
        return Err("tsig key name is empty".to_owned());
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
fn parse_origin(text: &str) -> Result<Name, String> {
    if text.is_empty() {
        return Err("zone origin is empty (the root zone is \".\")".to_owned());
    }
    let mut name = Name::from_str_relaxed(text)
        .map_err(|e| format!("zone origin {text:?} is not a domain name: {e}"))?;
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
        let key_ref = |text: &str| -> Result<Name, String> {
            let name = parse_key_name(text)?;
            if key_names.contains(&name) {
                Ok(name)
            } else {
                Err(format!("no [[tsig-key]] named {name}"))
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
                (Err(e), _) | (_, Err(e)) => {
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
                prefix: IpPrefix {
                    addr: ip,
                    len: if ip.is_ipv4() { 32 } else { 128 },
                },
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
        let signing = self.signing.into_config(&origin, problems);
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
            journal: crate::zone::persist::journal::JournalLimits {
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
        }
    }
}

impl TlsaBindingSpec {
    fn into_config(
        self,
        origin: &Name,
        all_origins: &[Name],
        dir: &Path,
    ) -> Result<TlsaBinding, String> {
        let label = format!("tlsa binding {:?}", self.name);
        if !valid_binding_name(&self.name) {
            return Err(format!(
                "{label}: name must be letters, digits, '-', '_' or '.', not starting with '.'"
            ));
        }
        let owners: Vec<Name> = match (self.names, self.host) {
            (Some(_), Some(_)) => {
                return Err(format!("{label}: give either names or host, not both"));
            }
            (None, None) => {
                return Err(format!(
                    "{label}: give either names (owner names) or host with ports"
                ));
            }
            (Some(names), None) => {
                if self.ports.is_some() {
                    return Err(format!("{label}: ports is only used with host"));
                }
                if self.protocol.is_some() {
                    return Err(format!("{label}: protocol is only used with host"));
                }
                if names.is_empty() {
                    return Err(format!("{label}: names is empty"));
                }
                names
                    .iter()
                    .map(|text| {
                        parse_owner(text, origin).map_err(|e| {
                            format!("{label}: names: {text:?} is not a domain name: {e}")
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
            (None, Some(host)) => {
                let ports = self
                    .ports
                    .ok_or_else(|| format!("{label}: host needs ports"))?;
                if ports.is_empty() {
                    return Err(format!("{label}: ports is empty"));
                }
                let host_name = parse_owner(&host, origin)
                    .map_err(|e| format!("{label}: host {host:?} is not a domain name: {e}"))?;
                let protocol = self.protocol.unwrap_or(ProtocolSpec::Tcp).label();
                ports
                    .iter()
                    .map(|port| {
                        host_name
                            .prepend_label(protocol)
                            .and_then(|name| name.prepend_label(format!("_{port}")))
                            .map_err(|e| {
                                format!("{label}: _{port}.{protocol}.{host_name} is too long: {e}")
                            })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        let mut unique: Vec<Name> = Vec::new();
        for owner in owners {
            if !origin.zone_of(&owner) {
                return Err(format!(
                    "{label}: owner {owner} is outside the zone {origin}"
                ));
            }
            if let Some(inner) = all_origins
                .iter()
                .filter(|other| *other != origin && origin.zone_of(other))
                .find(|other| other.zone_of(&owner))
            {
                return Err(format!(
                    "{label}: owner {owner} belongs to the zone {inner}, also configured here"
                ));
            }
            if !unique.contains(&owner) {
                unique.push(owner);
            }
        }
        let spec =
            TlsaSpec::new(self.usage, self.selector, self.matching).map_err(|e| match e {
                SignError::Certificate(reason) => format!("{label}: {reason}"),
                other => format!("{label}: {other}"),
            })?;
        if self.ttl.0 > MAX_TTL {
            return Err(format!("{label}: ttl {} is above {MAX_TTL} s", self.ttl.0));
        }
        let certificates = match (self.certificate, self.certificates) {
            (Some(file), None) => vec![CertificateSource {
                file: dir.join(file),
                next_key: self.next_key.map(|p| dir.join(p)),
            }],
            (None, Some(list)) => {
                if self.next_key.is_some() {
                    return Err(format!(
                        "{label}: with certificates, give each one's next-key in its entry"
                    ));
                }
                if list.is_empty() {
                    return Err(format!("{label}: certificates is empty"));
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
                        return Err(format!(
                            "{label}: certificate {} is listed twice",
                            c.file.display()
                        ));
                    }
                }
                list
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{label}: give either certificate or certificates, not both"
                ));
            }
            (None, None) => {
                return Err(format!("{label}: give certificate (or certificates)"));
            }
        };
        let probe = probe_config(
            &label,
            self.probe,
            self.probe_addresses,
            self.probe_interval,
            self.probe_protocol,
            self.probe_port,
        )?;
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
    label: &str,
    enabled: bool,
    addresses: Option<Vec<String>>,
    interval: Seconds,
    protocols: BTreeMap<String, ProbeProtocol>,
    ports: BTreeMap<String, u16>,
) -> Result<ProbeConfig, String> {
    let port_key = |key: &str, what: &str| {
        key.parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("{label}: {what}: {key:?} is not a port number"))
    };
    let addresses = addresses
        .map(|list| {
            list.iter()
                .map(|text| {
                    text.parse::<std::net::IpAddr>().map_err(|_| {
                        format!("{label}: probe-addresses: {text:?} is not an IP address")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    if interval.0 < 10 {
        return Err(format!(
            "{label}: probe-interval {} s is below 10 s",
            interval.0
        ));
    }
    let protocols = protocols
        .into_iter()
        .map(|(key, protocol)| Ok((port_key(&key, "probe-protocol")?, protocol)))
        .collect::<Result<_, String>>()?;
    let ports = ports
        .into_iter()
        .map(|(key, port)| {
            if port == 0 {
                return Err(format!("{label}: probe-port: port 0 for {key}"));
            }
            Ok((port_key(&key, "probe-port")?, port))
        })
        .collect::<Result<_, String>>()?;
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
fn parse_owner(text: &str, origin: &Name) -> Result<Name, String> {
    if text == "@" {
        return Ok(origin.clone());
    }
    let name = Name::from_str_relaxed(text).map_err(|e| e.to_string())?;
    if name.is_fqdn() {
        Ok(name)
    } else {
        name.append_domain(origin).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    const CONFIG_PATH: &str = "/etc/daned/daned.toml";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new(CONFIG_PATH))
    }

    fn name(text: &str) -> Name {
        Name::from_str(text).expect("test names are valid")
    }

    fn repo_file(relative: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(relative)
    }

    /// Every shipped config: etc/*.toml and tests/data/configs/*.toml.
    fn example_files() -> Vec<PathBuf> {
        let mut files = Vec::new();
        for dir in [
            repo_file("etc"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/configs"),
        ] {
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
            for entry in entries {
                let path = entry.expect("directory entry").path();
                if path.extension().is_some_and(|ext| ext == "toml") {
                    files.push(path);
                }
            }
        }
        files.sort();
        assert!(files.len() >= 4, "example files found: {files:?}");
        files
    }

    fn invalid_message(text: &str) -> String {
        match parse(text) {
            Err(ConfigError::Invalid { path, message }) => {
                assert_eq!(path, Path::new(CONFIG_PATH));
                message
            }
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    fn parse_message(text: &str) -> String {
        match parse(text) {
            Err(ConfigError::Parse { path, message }) => {
                assert_eq!(path, Path::new(CONFIG_PATH));
                message
            }
            other => panic!("expected a Parse error, got {other:?}"),
        }
    }

    /// A config with one zone and one binding whose body is `binding` (name and certificate
    /// are given).
    fn with_binding(binding: &str) -> String {
        format!(
            "version = \"v1\"\n[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n\
             [[zone.tlsa]]\nname = \"mail\"\ncertificate = \"c.pem\"\n{binding}\n"
        )
    }

    #[test]
    fn every_example_file_parses() {
        for file in example_files() {
            if let Err(e) = Config::load(&file) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn etc_daned_toml_is_what_make_run_needs() {
        let path = repo_file("etc/daned.toml");
        let config = Config::load(&path).expect("etc/daned.toml parses");
        let etc = std::path::absolute(repo_file("etc")).expect("absolute");
        assert_eq!(config.path, etc.join("daned.toml"));
        assert_eq!(
            config.server,
            ServerConfig {
                listen: vec![SocketAddr::from(([127, 0, 0, 1], 5300))],
                udp_payload: 1232,
                key_dir: etc.join("../keys"),
                state_dir: etc.join("../state"),
                log_format: LogFormat::Human,
                control_socket: etc.join("../state").join("daned.sock"),
                control_mode: 0o600,
                watch_debounce: std::time::Duration::from_millis(1000),
                rescan_interval: std::time::Duration::from_secs(300),
                metrics_listen: None,
                user: None,
                group: None,
                zone_limits: ZoneLimits::default(),
                net: NetLimits::default(),
            }
        );
        assert_eq!(config.zones.len(), 1);
        let zone = &config.zones[0];
        assert_eq!(zone.origin, name("example.com."));
        assert_eq!(zone.file, etc.join("../zones/example.com.zone"));
        assert_eq!(
            zone.tlsa,
            vec![TlsaBinding {
                name: "mail".to_owned(),
                certificates: vec![CertificateSource {
                    file: etc.join("../zones/certs/mail.example.com.pem"),
                    next_key: None,
                }],
                owners: vec![
                    name("_25._tcp.mail.example.com."),
                    name("_465._tcp.mail.example.com."),
                    name("_587._tcp.mail.example.com."),
                ],
                spec: TlsaSpec::default(),
                ttl: 3600,
                rollover_margin: 300,
                probe: ProbeConfig {
                    enabled: false,
                    ..ProbeConfig::default()
                },
            }]
        );
    }

    #[test]
    fn full_config_gives_every_typed_value() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/configs/full.toml");
        let config = Config::load(&path).expect("full.toml parses");
        let dir = std::path::absolute(path.parent().expect("has a parent")).expect("absolute");
        assert_eq!(
            config.server,
            ServerConfig {
                listen: vec![
                    SocketAddr::from(([127, 0, 0, 1], 5310)),
                    SocketAddr::from_str("[::1]:5310").expect("valid"),
                ],
                udp_payload: 1400,
                key_dir: PathBuf::from("/var/lib/daned/keys"),
                state_dir: dir.join("state-here"),
                log_format: LogFormat::Json,
                control_socket: PathBuf::from("/run/daned/control.sock"),
                control_mode: 0o660,
                watch_debounce: std::time::Duration::from_millis(250),
                rescan_interval: std::time::Duration::from_secs(60),
                metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9153))),
                user: None,
                group: None,
                zone_limits: ZoneLimits::default(),
                net: NetLimits::default(),
            }
        );
        let [net, org] = config.zones.as_slice() else {
            panic!("two zones expected: {:?}", config.zones);
        };
        // "Example.NET" without a dot: made absolute and lowercase.
        assert!(net.origin.eq_case(&name("example.net.")));
        assert_eq!(net.file, dir.join("example.net.zone"));
        assert_eq!(
            net.signing,
            SigningConfig {
                algorithm: KeyAlgorithm::Ed25519,
                denial: Denial::Nsec,
                policy: SignPolicy {
                    inception_offset: 7200,
                    validity: 21 * 86400,
                    refresh: 9 * 86400,
                    jitter: 86400,
                },
                dnskey_ttl: 7200,
            }
        );
        assert_eq!(
            net.keys,
            KeysConfig {
                policy: KeyPolicy {
                    mode: KeyMode::KskZsk,
                    algorithm: KeyAlgorithm::Ed25519,
                    ksk_lifetime: Some(365 * 86400),
                    zsk_lifetime: Some(30 * 86400),
                    dnskey_ttl: 7200,
                    max_zone_ttl: 0,
                    propagation_delay: 600,
                    parent_ds_ttl: 7200,
                    parent_propagation_delay: 1200,
                    safety_margin: 300,
                    cds: CdsPolicy::Rollover,
                },
                parent_servers: vec![
                    SocketAddr::from(([192, 0, 2, 1], 53)),
                    SocketAddr::from_str("[2001:db8::1]:53").expect("valid"),
                ],
                parent_poll_interval: 900,
            }
        );
        assert_eq!(
            net.tlsa,
            vec![
                TlsaBinding {
                    name: "web".to_owned(),
                    certificates: vec![CertificateSource {
                        file: dir.join("certs/www.pem"),
                        next_key: Some(dir.join("certs/www.key.next")),
                    }],
                    // The duplicate owner (differing only in case) is listed once.
                    owners: vec![name("_443._tcp.www.example.net."), name("example.net.")],
                    spec: TlsaSpec {
                        usage: 2,
                        selector: 0,
                        matching: 2
                    },
                    ttl: 600,
                    rollover_margin: 120,
                    probe: ProbeConfig::default(),
                },
                TlsaBinding {
                    name: "quic".to_owned(),
                    certificates: vec![CertificateSource {
                        file: PathBuf::from("/etc/ssl/quic.pem"),
                        next_key: None,
                    }],
                    owners: vec![
                        name("_443._udp.www.example.net."),
                        name("_8443._udp.www.example.net."),
                    ],
                    spec: TlsaSpec::default(),
                    ttl: 1800,
                    rollover_margin: 300,
                    probe: ProbeConfig::default(),
                },
            ]
        );
        // A zone with no [zone.signing] gets the defaults.
        assert_eq!(org.origin, name("example.org."));
        assert_eq!(org.file, PathBuf::from("/srv/zones/example.org.zone"));
        assert_eq!(
            org.signing,
            SigningConfig {
                algorithm: KeyAlgorithm::EcdsaP256Sha256,
                denial: Denial::Nsec,
                policy: SignPolicy::default(),
                dnskey_ttl: 3600,
            }
        );
        assert!(org.tlsa.is_empty());
        // No [zone.keys]: one CSK never rolled by itself, ZSKs (if any) every 90 days, CDS
        // always, no parent polling.
        assert_eq!(
            org.keys,
            KeysConfig {
                policy: KeyPolicy {
                    mode: KeyMode::Csk,
                    algorithm: KeyAlgorithm::EcdsaP256Sha256,
                    ksk_lifetime: None,
                    zsk_lifetime: Some(90 * 86400),
                    dnskey_ttl: 3600,
                    max_zone_ttl: 0,
                    propagation_delay: 3600,
                    parent_ds_ttl: 86400,
                    parent_propagation_delay: 3600,
                    safety_margin: 3600,
                    cds: CdsPolicy::Always,
                },
                parent_servers: vec![],
                parent_poll_interval: 3600,
            }
        );
    }

    /// Every file in tests/data/configs/bad is refused, with the message its first line
    /// (`# expect: ...`) gives: the key at fault is named, with its line where it has one.
    #[test]
    fn bad_key_settings_are_refused_naming_the_key() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/configs/bad");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("bad configs") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("reads");
            let expect = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# expect: "))
                .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
            match Config::parse(&text, &path) {
                Err(e) => {
                    let message = e.to_string();
                    assert!(
                        message.contains(expect),
                        "{}: {message:?} lacks {expect:?}",
                        path.display()
                    );
                }
                Ok(_) => panic!("{} was accepted", path.display()),
            }
            checked += 1;
        }
        assert!(checked >= 6, "{checked} bad configs");
    }

    #[test]
    fn key_lifetimes_at_the_waits_are_accepted() {
        // The lifecycle's bounds with the defaults (Dprp 1h, TTLkey 1h, margin 1h, DprpP 1h,
        // TTLds 1d) and TTLsig at its least, TTLkey: ZSK (1h + 1h + 1h) + (1h + 1h + 1h) = 6h;
        // KSK (1h + 1h + 1h) + (1h + 1d + 1h) + (1h + 1h + 1h) = 32h.
        let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n\
                    [zone.keys]\nmode = \"ksk-zsk\"\nzsk-lifetime = 21600\nksk-lifetime = 115200\n";
        let config = parse(text).expect("valid");
        assert_eq!(config.zones[0].keys.policy.zsk_lifetime, Some(21600));
        // The same bounds as the lifecycle itself applies (with TTLsig 0).
        let policy = KeyPolicy {
            max_zone_ttl: config.zones[0].keys.policy.dnskey_ttl,
            ..config.zones[0].keys.policy
        };
        let mut keys = Vec::new();
        assert!(daned_sign::lifecycle::advance(1_800_000_000, &policy, &mut keys).is_ok());
        let message = invalid_message(&text.replace("21600", "21599"));
        assert!(message.contains("keys.zsk-lifetime (21599 s)"), "{message}");
        assert!(
            message.contains("2 x (propagation-delay + dnskey-ttl) + 2 x safety-margin = 21600 s"),
            "{message}"
        );
        let message = invalid_message(&text.replace("115200", "115199"));
        assert!(
            message.contains("keys.ksk-lifetime (115199 s)"),
            "{message}"
        );
        let short = KeyPolicy {
            ksk_lifetime: Some(115_199),
            ..policy
        };
        assert!(daned_sign::lifecycle::advance(1_800_000_000, &short, &mut Vec::new()).is_err());
    }

    #[test]
    fn transfer_config_gives_keys_secondaries_and_acls() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/configs/transfer.toml");
        let config = Config::load(&path).expect("transfer.toml parses");
        let [inline, file] = config.tsig_keys.as_slice() else {
            panic!("two keys expected: {:?}", config.tsig_keys);
        };
        assert!(inline.name.eq_case(&name("xfr-key.")));
        assert_eq!(inline.algorithm, TsigAlgorithmConfig::HmacSha256);
        assert_eq!(inline.secret, b"secret-sha256-key-for-tests");
        assert!(file.name.eq_case(&name("file.key.")));
        assert_eq!(file.algorithm, TsigAlgorithmConfig::HmacSha512);
        // The file's content, base64-decoded after trimming the newline.
        assert_eq!(file.secret, b"other-key-secret");
        // The secret never shows in Debug output.
        assert!(!format!("{inline:?}").contains("secret-sha256"));
        let [zone] = config.zones.as_slice() else {
            panic!("one zone expected");
        };
        assert_eq!(
            zone.secondaries,
            vec![
                SecondaryConfig {
                    address: SocketAddr::from(([192, 0, 2, 53], 53)),
                    tsig_key: Some(name("xfr-key.")),
                },
                SecondaryConfig {
                    address: SocketAddr::from_str("[2001:db8::53]:5353").expect("valid"),
                    tsig_key: None,
                },
            ]
        );
        let prefix = |text: &str| IpPrefix::parse(text).expect("valid prefix");
        assert_eq!(
            zone.allow_transfer,
            vec![
                TransferAcl {
                    prefix: prefix("10.0.0.0/8"),
                    tsig_key: Some(name("file.key.")),
                },
                TransferAcl {
                    prefix: prefix("2001:db8::/32"),
                    tsig_key: None,
                },
                // Each secondary's own address, with its key.
                TransferAcl {
                    prefix: prefix("192.0.2.53/32"),
                    tsig_key: Some(name("xfr-key.")),
                },
                TransferAcl {
                    prefix: prefix("2001:db8::53/128"),
                    tsig_key: None,
                },
            ]
        );
    }

    /// A zone with `extra` in its table and `keys` before it.
    fn with_transfer(keys: &str, extra: &str) -> String {
        format!(
            "version = \"v1\"\n{keys}\n[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n{extra}\n"
        )
    }

    const SHA256_KEY: &str =
        "[[tsig-key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n";

    #[test]
    fn tsig_key_problems_name_the_key() {
        let message = invalid_message(&with_transfer(
            "[[tsig-key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\n",
            "",
        ));
        assert!(
            message.contains("tsig-key k.: give exactly one of secret and secret-file"),
            "{message}"
        );
        let message = invalid_message(&with_transfer(
            "[[tsig-key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"not base64!\"\n",
            "",
        ));
        assert!(
            message.contains("tsig-key k.: the secret is not base64"),
            "{message}"
        );
        let message = invalid_message(&with_transfer(&format!("{SHA256_KEY}{SHA256_KEY}"), ""));
        assert!(
            message.contains("tsig-key k.: defined more than once"),
            "{message}"
        );
        let message = invalid_message(&with_transfer(
            "[[tsig-key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret-file = \"/nonexistent/k\"\n",
            "",
        ));
        assert!(
            message.contains("tsig-key k.: secret-file /nonexistent/k"),
            "{message}"
        );
        let message = parse_message(&with_transfer(
            "[[tsig-key]]\nname = \"k\"\nalgorithm = \"hmac-md5\"\nsecret = \"c2VjcmV0\"\n",
            "",
        ));
        assert!(message.contains("hmac-md5"), "{message}");
    }

    #[test]
    fn secondary_and_acl_problems_name_the_zone_and_key() {
        let message = invalid_message(&with_transfer(
            SHA256_KEY,
            "[[zone.secondary]]\naddress = \"192.0.2.1:53\"\ntsig-key = \"nokey\"\n",
        ));
        assert!(
            message.contains(
                "zone example.com.: secondary 192.0.2.1:53: tsig-key: no [[tsig-key]] named nokey."
            ),
            "{message}"
        );
        let message = invalid_message(&with_transfer(
            SHA256_KEY,
            "allow-transfer = [{ prefix = \"10.0.0.1/8\" }, { prefix = \"10.0.0.0/33\" }, { prefix = \"x\" }, { prefix = \"10.0.0.0/8\", tsig-key = \"nokey\" }]\n",
        ));
        assert!(
            message.contains("zone example.com.: allow-transfer: \"10.0.0.1/8\": host bits set"),
            "{message}"
        );
        assert!(
            message.contains("prefix length must be 0..=32"),
            "{message}"
        );
        assert!(
            message.contains("\"x\" is not an address prefix"),
            "{message}"
        );
        assert!(
            message.contains("no [[tsig-key]] named nokey."),
            "{message}"
        );
        let config = parse(&with_transfer(
            SHA256_KEY,
            "allow-transfer = [{ prefix = \"10.0.0.0/8\", tsig-key = \"K\" }]\n",
        ))
        .expect("valid");
        assert_eq!(config.zones[0].allow_transfer[0].tsig_key, Some(name("k.")));
    }

    #[test]
    fn ip_prefix_contains() {
        let p = IpPrefix::parse("127.0.0.0/8").expect("valid");
        assert!(p.contains("127.1.2.3".parse().expect("ip")));
        assert!(p.contains("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!p.contains("128.0.0.1".parse().expect("ip")));
        assert!(!p.contains("::1".parse().expect("ip")));
        let all = IpPrefix::parse("0.0.0.0/0").expect("valid");
        assert!(all.contains("192.0.2.1".parse().expect("ip")));
        let host = IpPrefix::parse("::1").expect("valid");
        assert!(host.contains("::1".parse().expect("ip")));
        assert!(!host.contains("::2".parse().expect("ip")));
        let v6 = IpPrefix::parse("2001:db8::/33").expect("valid");
        assert!(v6.contains("2001:db8:7fff::1".parse().expect("ip")));
        assert!(!v6.contains("2001:db8:8000::1".parse().expect("ip")));
    }

    #[test]
    fn secondary_poll_interval_and_lag_warning_default_and_set() {
        let base = "version = \"v1\"\n[[zone]]\norigin = \"p.test.\"\nfile = \"z\"\n";
        let config = Config::parse(base, Path::new("/etc/daned.toml")).expect("valid");
        let zone = &config.zones[0];
        assert_eq!(
            zone.secondary_poll_interval,
            std::time::Duration::from_secs(300)
        );
        assert_eq!(zone.secondary_lag_warning, 600);
        let text =
            format!("{base}secondary-poll-interval = \"30s\"\nsecondary-lag-warning = \"1h\"\n");
        let config = Config::parse(&text, Path::new("/etc/daned.toml")).expect("valid");
        let zone = &config.zones[0];
        assert_eq!(
            zone.secondary_poll_interval,
            std::time::Duration::from_secs(30)
        );
        assert_eq!(zone.secondary_lag_warning, 3600);
    }

    #[test]
    fn journal_limits_default_and_set() {
        let base = "version = \"v1\"\n[[zone]]\norigin = \"ix.test.\"\nfile = \"z\"\n";
        let config = Config::parse(base, Path::new("/etc/daned.toml")).expect("valid");
        assert_eq!(
            config.zones[0].journal,
            crate::zone::persist::journal::JournalLimits::default()
        );
        let text = format!("{base}journal-max-deltas = 5\njournal-max-bytes = 4096\n");
        let config = Config::parse(&text, Path::new("/etc/daned.toml")).expect("valid");
        assert_eq!(config.zones[0].journal.max_deltas, 5);
        assert_eq!(config.zones[0].journal.max_bytes, 4096);
    }

    #[test]
    fn example_toml_commented_values_are_the_defaults() {
        // Uncommenting every `# key = value` line of etc/example.toml must change nothing: the
        // values it documents are the real defaults.
        let path = repo_file("etc/example.toml");
        let text = std::fs::read_to_string(&path).expect("etc/example.toml reads");
        let mut uncommented = String::new();
        let mut count = 0;
        for line in text.lines() {
            let is_setting = line.strip_prefix("# ").is_some_and(|rest| {
                rest.split_once(" = ").is_some_and(|(key, _)| {
                    !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                })
            });
            if is_setting {
                uncommented.push_str(&line[2..]);
                count += 1;
            } else {
                uncommented.push_str(line);
            }
            uncommented.push('\n');
        }
        // listen, udp-payload, key-dir, state-dir, log-format, control-socket, control-mode,
        // control-insecure, 5 zone file limits, watch-debounce-ms, rescan-interval,
        // journal-max-deltas, journal-max-bytes, secondary-poll-interval,
        // secondary-lag-warning, 7 signing, 10 keys, protocol, usage, selector, matching, ttl,
        // rollover-margin, probe, probe-interval, rate-limit, rate-limit-slip,
        // rate-limit-table-size, tcp-max-clients-per-address (keys with digits, like
        // rate-limit-ipv4-prefix, are not matched here).
        assert_eq!(count, 48, "settings found:\n{uncommented}");
        let commented = Config::parse(&text, &path).expect("example.toml parses");
        let explicit = Config::parse(&uncommented, &path).expect("uncommented example parses");
        assert_eq!(commented, explicit);
    }

    /// Every place a table sits: a key path, with an index for each array-of-tables entry.
    #[derive(Clone, Debug)]
    enum Step {
        Key(String),
        Index(usize),
    }

    fn table_locations(table: &toml::Table, here: &[Step], out: &mut Vec<Vec<Step>>) {
        out.push(here.to_vec());
        for (key, value) in table {
            let mut path = here.to_vec();
            path.push(Step::Key(key.clone()));
            match value {
                toml::Value::Table(inner) => table_locations(inner, &path, out),
                toml::Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let toml::Value::Table(inner) = item {
                            let mut entry = path.clone();
                            entry.push(Step::Index(i));
                            table_locations(inner, &entry, out);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn table_at<'a>(root: &'a mut toml::Table, path: &[Step]) -> &'a mut toml::Table {
        let mut table = root;
        let mut steps = path.iter().peekable();
        while let Some(Step::Key(key)) = steps.next() {
            let value = table
                .get_mut(key)
                .expect("the path was read from this table");
            table = match (value, steps.peek()) {
                (toml::Value::Array(items), Some(Step::Index(i))) => {
                    let i = *i;
                    steps.next();
                    match &mut items[i] {
                        toml::Value::Table(inner) => inner,
                        other => panic!("not a table: {other:?}"),
                    }
                }
                (toml::Value::Table(inner), _) => inner,
                (other, _) => panic!("not a table: {other:?}"),
            };
        }
        table
    }

    #[test]
    fn unknown_key_in_any_table_is_rejected() {
        for file in example_files() {
            let text = std::fs::read_to_string(&file).expect("example reads");
            let root: toml::Table = toml::from_str(&text).expect("example is TOML");
            let mut locations = Vec::new();
            table_locations(&root, &[], &mut locations);
            assert!(!locations.is_empty(), "{}", file.display());
            for location in locations {
                let mut mutated = root.clone();
                table_at(&mut mutated, &location)
                    .insert("bogus-key".to_owned(), toml::Value::Integer(1));
                let text = toml::to_string(&mutated).expect("serialises");
                match Config::parse(&text, &file) {
                    Err(ConfigError::Parse { message, .. }) => assert!(
                        message.contains("bogus-key"),
                        "{} at {location:?}: {message}",
                        file.display()
                    ),
                    other => panic!(
                        "{} at {location:?}: bogus-key accepted: {other:?}\n{text}",
                        file.display()
                    ),
                }
            }
        }
    }

    #[test]
    fn version_is_required_and_must_be_v1() {
        let message = parse_message("[server]\n");
        assert!(message.contains("missing field `version`"), "{message}");
        let message = parse_message("version = \"v2\"\n");
        assert!(
            message.contains("v2") && message.contains("line 1"),
            "{message}"
        );
        assert!(parse("version = \"v1\"\n").is_ok());
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        let message = parse_message("version = \"v1\"\n[server]\nudp-payload = \"big\"\n");
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("column"), "{message}");
        let message = parse_message("version = \"v1\"\n[server]\nlisten = [\"localhost\"]\n");
        assert!(message.contains("line 3"), "{message}");
    }

    #[test]
    fn names_and_host_both_or_neither_are_refused() {
        let message = invalid_message(&with_binding(
            "names = [\"_25._tcp.mail\"]\nhost = \"mail\"\nports = [25]",
        ));
        assert!(
            message.contains("give either names or host, not both"),
            "{message}"
        );
        assert!(message.contains("zone example.com."), "{message}");
        assert!(message.contains("tlsa binding \"mail\""), "{message}");
        // The line of the [[zone.tlsa]] table.
        assert!(message.starts_with("line 5: "), "{message}");
        let message = invalid_message(&with_binding(""));
        assert!(message.contains("give either names"), "{message}");
    }

    #[test]
    fn ports_and_protocol_without_host_are_refused() {
        let message = invalid_message(&with_binding("names = [\"_25._tcp.mail\"]\nports = [25]"));
        assert!(
            message.contains("ports is only used with host"),
            "{message}"
        );
        let message = invalid_message(&with_binding("names = [\"a\"]\nprotocol = \"udp\""));
        assert!(
            message.contains("protocol is only used with host"),
            "{message}"
        );
        let message = invalid_message(&with_binding("host = \"mail\""));
        assert!(message.contains("host needs ports"), "{message}");
        let message = invalid_message(&with_binding("host = \"mail\"\nports = []"));
        assert!(message.contains("ports is empty"), "{message}");
        let message = invalid_message(&with_binding("names = []"));
        assert!(message.contains("names is empty"), "{message}");
    }

    #[test]
    fn owner_outside_its_zone_is_refused() {
        let message = invalid_message(&with_binding("names = [\"_25._tcp.mail.example.net.\"]"));
        assert!(
            message.contains("owner _25._tcp.mail.example.net. is outside the zone example.com."),
            "{message}"
        );
        let message = invalid_message(&with_binding("host = \"mx.example.org.\"\nports = [25]"));
        assert!(message.contains("is outside the zone"), "{message}");
        // Relative names stay inside; "@" is the apex.
        let config = parse(&with_binding(
            "names = [\"_25._tcp.mx.example.net\", \"@\"]",
        ))
        .expect("relative names are inside the zone");
        assert_eq!(
            config.zones[0].tlsa[0].owners,
            vec![
                name("_25._tcp.mx.example.net.example.com."),
                name("example.com.")
            ]
        );
    }

    #[test]
    fn owner_in_a_configured_subzone_is_refused() {
        let text = format!(
            "{}[[zone]]\norigin = \"sub.example.com.\"\nfile = \"sub\"\n",
            with_binding("names = [\"_25._tcp.mail.sub\"]")
        );
        let message = invalid_message(&text);
        assert!(
            message.contains("belongs to the zone sub.example.com."),
            "{message}"
        );
    }

    #[test]
    fn zone_origin_must_be_a_domain_name() {
        for bad in [
            "",
            "a..example",
            "a.example..",
            &format!("{}.com", "x".repeat(64)),
        ] {
            let text = format!("version = \"v1\"\n[[zone]]\norigin = \"{bad}\"\nfile = \"z\"\n");
            let message = invalid_message(&text);
            assert!(
                message.starts_with("line 2: zone origin"),
                "{bad:?}: {message}"
            );
        }
        let text = "version = \"v1\"\n[[zone]]\norigin = \".\"\nfile = \"root.zone\"\n";
        assert_eq!(
            parse(text).expect("the root zone").zones[0].origin,
            Name::root()
        );
    }

    #[test]
    fn duplicate_zone_origins_are_refused() {
        let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com\"\nfile = \"a\"\n\
                    [[zone]]\norigin = \"EXAMPLE.com.\"\nfile = \"b\"\n";
        let message = invalid_message(text);
        assert!(
            message.contains("zone example.com.: configured more than once"),
            "{message}"
        );
        assert!(message.starts_with("line 5: "), "{message}");
    }

    #[test]
    fn a_binding_may_name_several_certificates_each_with_its_next_key() {
        let config = parse(
            "version = \"v1\"\n[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n\
             [[zone.tlsa]]\nname = \"mail\"\nhost = \"mail\"\nports = [25]\n\
             certificates = [{ file = \"ec.pem\", next-key = \"ec.next\" }, { file = \"rsa.pem\" }]\n",
        )
        .expect("parses");
        assert_eq!(
            config.zones[0].tlsa[0].certificates,
            [
                CertificateSource {
                    file: PathBuf::from("/etc/daned/ec.pem"),
                    next_key: Some(PathBuf::from("/etc/daned/ec.next")),
                },
                CertificateSource {
                    file: PathBuf::from("/etc/daned/rsa.pem"),
                    next_key: None,
                },
            ]
        );
        for (body, want) in [
            (
                "certificates = [{ file = \"a\" }]\nnext-key = \"n\"",
                "give each one's next-key in its entry",
            ),
            ("certificates = []", "certificates is empty"),
            (
                "certificates = [{ file = \"a\" }, { file = \"a\" }]",
                "is listed twice",
            ),
        ] {
            let text = format!(
                "version = \"v1\"\n[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n\
                 [[zone.tlsa]]\nname = \"mail\"\nnames = [\"a\"]\n{body}\n"
            );
            let message = invalid_message(&text);
            assert!(message.contains(want), "{body}: {message}");
        }
        let message = invalid_message(&with_binding(
            "names = [\"a\"]\ncertificates = [{ file = \"b\" }]",
        ));
        assert!(
            message.contains("either certificate or certificates"),
            "{message}"
        );
        let message = parse_message(&with_binding(
            "names = [\"a\"]\ncertificates = [{ file = \"b\", bogus = 1 }]",
        ));
        assert!(message.contains("bogus"), "{message}");
    }

    #[test]
    fn probe_keys_are_typed_and_checked() {
        let config = parse(&with_binding(
            "host = \"mail\"\nports = [25, 2525]\nprobe-addresses = [\"127.0.0.1\", \"::1\"]\n\
             probe-interval = \"1m\"\nprobe-protocol = { \"2525\" = \"smtp\" }\n\
             probe-port = { \"25\" = 10025 }",
        ))
        .expect("parses");
        let probe = &config.zones[0].tlsa[0].probe;
        assert!(probe.enabled);
        assert_eq!(
            probe.addresses,
            Some(vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()])
        );
        assert_eq!(probe.interval, 60);
        assert_eq!(probe.protocol(2525), ProbeProtocol::Smtp);
        assert_eq!(probe.protocol(25), ProbeProtocol::Smtp);
        assert_eq!(probe.protocol(465), ProbeProtocol::Tls);
        assert_eq!(probe.protocol(143), ProbeProtocol::Imap);
        assert_eq!(probe.protocol(110), ProbeProtocol::Pop3);
        assert_eq!(probe.connect_port(25), 10025);
        assert_eq!(probe.connect_port(2525), 2525);
        for (body, want) in [
            ("probe-addresses = [\"mail\"]", "is not an IP address"),
            ("probe-interval = \"5s\"", "below 10 s"),
            (
                "probe-protocol = { \"x\" = \"smtp\" }",
                "is not a port number",
            ),
            ("probe-port = { \"25\" = 0 }", "port 0"),
        ] {
            let message = invalid_message(&with_binding(&format!("names = [\"a\"]\n{body}")));
            assert!(message.contains(want), "{body}: {message}");
        }
        let message = parse_message(&with_binding(
            "names = [\"a\"]\nprobe-protocol = { \"25\" = \"ftp\" }",
        ));
        assert!(message.contains("ftp"), "{message}");
    }

    #[test]
    fn duplicate_binding_names_are_refused() {
        let text = format!(
            "{}[[zone.tlsa]]\nname = \"mail\"\ncertificate = \"d.pem\"\nnames = [\"b\"]\n",
            with_binding("names = [\"a\"]")
        );
        let message = invalid_message(&text);
        assert!(
            message.contains("tlsa binding \"mail\" is defined more than once"),
            "{message}"
        );
        // The same name in two zones is fine.
        let text = format!(
            "{}[[zone]]\norigin = \"example.net\"\nfile = \"n\"\n[[zone.tlsa]]\n\
             name = \"mail\"\ncertificate = \"d.pem\"\nnames = [\"b\"]\n",
            with_binding("names = [\"a\"]")
        );
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn binding_names_are_restricted() {
        for bad in ["", ".hidden", "a/b", "two words"] {
            let text = format!(
                "version = \"v1\"\n[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n\
                 [[zone.tlsa]]\nname = \"{bad}\"\ncertificate = \"c\"\nnames = [\"a\"]\n"
            );
            let message = invalid_message(&text);
            assert!(
                message.contains("name must be letters, digits"),
                "{bad:?}: {message}"
            );
        }
    }

    #[test]
    fn rfc9276_s3_1_denial_nsec3_uses_the_recommended_parameters() {
        // RFC 9276 §3.1: "If NSEC3 must be used, then an iterations count of 0 MUST be used"
        // and "Operators SHOULD NOT use a salt". NSEC stays the default.
        let signing = |body: &str| {
            format!(
                "version = \"v1\"\n[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n\
                 [zone.signing]\n{body}\n"
            )
        };
        let denial = |body: &str| parse(&signing(body)).map(|c| c.zones[0].signing.denial);
        assert_eq!(denial("").ok(), Some(Denial::Nsec));
        assert_eq!(denial("denial = \"nsec\"").ok(), Some(Denial::Nsec));
        assert_eq!(
            denial("denial = \"nsec3\"").ok(),
            Some(Denial::Nsec3(daned_sign::nsec3::Nsec3Params {
                iterations: 0,
                salt: daned_sign::nsec3::Nsec3Salt::EMPTY,
            }))
        );
        let message = parse_message(&signing("denial = \"nsec5\""));
        assert!(message.contains("nsec5"), "{message}");
    }

    #[test]
    fn refresh_must_be_less_than_validity() {
        let signing = |body: &str| {
            format!(
                "version = \"v1\"\n[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n\
                 [zone.signing]\n{body}\n"
            )
        };
        let message = invalid_message(&signing("validity = \"7d\"\nrefresh = \"7d\""));
        assert!(
            message.contains(
                "signing.refresh (604800 s) must be more than 0 and less than \
                              signing.validity (604800 s)"
            ),
            "{message}"
        );
        assert!(message.starts_with("line 7: "), "{message}");
        let message = invalid_message(&signing("refresh = \"3w\""));
        assert!(message.contains("signing.refresh"), "{message}");
        let message = invalid_message(&signing("inception-offset = \"14d\""));
        assert!(message.contains("signing.inception-offset"), "{message}");
        let message = invalid_message(&signing("dnskey-ttl = 2147483648"));
        assert!(message.contains("signing.dnskey-ttl"), "{message}");
        assert!(parse(&signing("validity = \"7d\"\nrefresh = \"6d23h\"")).is_ok());
    }

    #[test]
    fn empty_listen_is_refused() {
        let message = invalid_message("version = \"v1\"\n[server]\nlisten = []\n");
        assert!(message.contains("server.listen is empty"), "{message}");
        assert!(message.starts_with("line 3: "), "{message}");
        let message = invalid_message(
            "version = \"v1\"\n[server]\nlisten = [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n",
        );
        assert!(
            message.contains("127.0.0.1:53 is listed twice"),
            "{message}"
        );
    }

    #[test]
    fn udp_payload_range_is_checked() {
        for (value, ok) in [(511, false), (512, true), (4096, true), (4097, false)] {
            let text = format!("version = \"v1\"\n[server]\nudp-payload = {value}\n");
            match parse(&text) {
                Ok(config) => {
                    assert!(ok, "{value} accepted");
                    assert_eq!(config.server.udp_payload, value);
                }
                Err(ConfigError::Invalid { message, .. }) => {
                    assert!(!ok, "{value} refused: {message}");
                    assert!(message.contains("outside 512..=4096"), "{message}");
                }
                Err(e) => panic!("{value}: {e}"),
            }
        }
    }

    #[test]
    fn rate_limit_and_tcp_settings_are_read_and_range_checked() {
        let text = "version = \"v1\"\n[server]\nrate-limit = 0\nrate-limit-slip = 1\n\
                    rate-limit-ipv4-prefix = 32\nrate-limit-ipv6-prefix = 48\n\
                    rate-limit-table-size = 1024\ntcp-max-clients = 100\n\
                    tcp-max-clients-per-address = 0\n";
        let config = parse(text).expect("valid");
        assert_eq!(
            config.server.net,
            NetLimits {
                rate_limit: 0,
                rate_limit_slip: 1,
                rate_limit_ipv4_prefix: 32,
                rate_limit_ipv6_prefix: 48,
                rate_limit_table_size: 1024,
                tcp_max_clients: Some(100),
                tcp_max_clients_per_address: 0,
                udp_workers: None,
            }
        );
        for (setting, range) in [
            ("rate-limit-slip = 101", "outside 0..=100"),
            ("rate-limit-ipv4-prefix = 33", "outside 1..=32"),
            ("rate-limit-ipv6-prefix = 65", "outside 1..=64"),
            ("rate-limit-table-size = 0", "outside 1..="),
            ("tcp-max-clients = 0", "outside 1..="),
        ] {
            let text = format!("version = \"v1\"\n[server]\n{setting}\n");
            match parse(&text) {
                Err(ConfigError::Invalid { message, .. }) => {
                    assert!(message.contains(range), "{setting}: {message}");
                }
                other => panic!("{setting}: {other:?}"),
            }
        }
    }

    #[test]
    fn udp_workers_is_read_restart_only_and_a_bad_value_names_file_and_line() {
        let config = parse("version = \"v1\"\n[server]\nudp-workers = 3\n").expect("valid");
        assert_eq!(
            config.server.net.udp_workers,
            std::num::NonZeroUsize::new(3)
        );
        let default = parse("version = \"v1\"\n").expect("valid");
        assert_eq!(default.server.net.udp_workers, None, "None: one per core");
        assert_eq!(
            default.restart_only_changes(&config),
            ["rate-limit (and the other rate-limit-*, tcp-max-* and udp-workers settings)"]
        );
        let path = Path::new("/etc/daned/workers.toml");
        for bad in [
            "udp-workers = 0",
            "udp-workers = 257",
            "udp-workers = -1",
            "udp-workers = \"four\"",
        ] {
            let text = format!("version = \"v1\"\n[server]\nlisten = [\"127.0.0.1:53\"]\n{bad}\n");
            let shown = Config::parse(&text, path).expect_err(bad).to_string();
            assert!(
                shown.starts_with("/etc/daned/workers.toml: "),
                "{bad}: {shown}"
            );
            assert!(shown.contains("line 4"), "{bad}: {shown}");
            assert!(shown.contains("udp-workers"), "{bad}: {shown}");
        }
    }

    #[test]
    fn rfc6698_s2_1_tlsa_parameter_ranges_are_checked() {
        // RFC 6698 §2.1: usage, selector and matching type are registries; daned makes only
        // the values defined there (usage 0-3, selector 0-1, matching 0-2).
        for (body, field) in [
            ("usage = 4", "unknown usage 4"),
            ("selector = 2", "unknown selector 2"),
            ("matching = 3", "unknown matching type 3"),
        ] {
            let message = invalid_message(&with_binding(&format!("names = [\"a\"]\n{body}")));
            assert!(message.contains(field), "{message}");
        }
        let message = parse_message(&with_binding("names = [\"a\"]\nusage = 256"));
        assert!(message.contains("usage"), "{message}");
    }

    #[test]
    fn every_problem_is_reported() {
        let text = "version = \"v1\"\n[server]\nlisten = []\n[[zone]]\norigin = \"a.example\"\n\
                    file = \"z\"\n[zone.signing]\nrefresh = \"30d\"\n[[zone.tlsa]]\nname = \"x\"\n\
                    certificate = \"c\"\n";
        let message = invalid_message(text);
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 3, "{message}");
        assert!(lines[0].contains("server.listen is empty"), "{message}");
        assert!(lines[1].contains("signing.refresh"), "{message}");
        assert!(lines[2].contains("give either names"), "{message}");
    }

    #[test]
    fn durations() {
        for (text, seconds) in [
            ("0", 0),
            ("30", 30),
            ("30s", 30),
            ("5m", 300),
            ("2h", 7200),
            ("14d", 1_209_600),
            ("2w", 1_209_600),
            ("1h30m", 5400),
            ("1w2d3h4m5s", 788_645),
            ("1H30M", 5400),
            (" 90s ", 90),
            ("4294967295", u32::MAX),
        ] {
            assert_eq!(parse_duration(text), Ok(seconds), "{text:?}");
        }
        for (text, why) in [
            ("", "empty"),
            ("h", "expected a number"),
            ("1h30", "no unit"),
            ("10y", "unknown unit"),
            ("-5s", "expected a number"),
            ("1.5h", "unknown unit"),
            ("4294967296", "out of range"),
            ("7102w", "out of range"),
            ("4294967295s1s", "out of range"),
        ] {
            let error = parse_duration(text).expect_err(text);
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }

    #[test]
    fn durations_in_the_file_take_strings_and_integers() {
        let text = with_binding("names = [\"a\"]\nttl = 300");
        assert_eq!(parse(&text).expect("parses").zones[0].tlsa[0].ttl, 300);
        let text = with_binding("names = [\"a\"]\nttl = \"5m\"");
        assert_eq!(parse(&text).expect("parses").zones[0].tlsa[0].ttl, 300);
        let message = parse_message(&with_binding("names = [\"a\"]\nttl = -1"));
        assert!(message.contains("out of range"), "{message}");
        let message = parse_message(&with_binding("names = [\"a\"]\nttl = \"5 minutes\""));
        assert!(message.contains("bad duration"), "{message}");
        let message = invalid_message(&with_binding("names = [\"a\"]\nttl = 2147483648"));
        assert!(message.contains("ttl 2147483648 is above"), "{message}");
    }

    #[test]
    fn relative_paths_are_resolved_against_the_config_directory() {
        let text = "version = \"v1\"\n[server]\nkey-dir = \"k\"\nstate-dir = \"/abs/state\"\n\
                    [[zone]]\norigin = \"example.com\"\nfile = \"../zones/z\"\n\
                    [[zone.tlsa]]\nname = \"m\"\ncertificate = \"certs/m.pem\"\nnames = [\"a\"]\n";
        let config = parse(text).expect("parses");
        assert_eq!(config.server.key_dir, PathBuf::from("/etc/daned/k"));
        assert_eq!(config.server.state_dir, PathBuf::from("/abs/state"));
        assert_eq!(config.zones[0].file, PathBuf::from("/etc/daned/../zones/z"));
        assert_eq!(
            config.zones[0].tlsa[0].certificates[0].file,
            PathBuf::from("/etc/daned/certs/m.pem")
        );
        // Defaults are relative too.
        let config = parse("version = \"v1\"\n").expect("parses");
        assert_eq!(config.server.key_dir, PathBuf::from("/etc/daned/keys"));
        assert_eq!(config.server.state_dir, PathBuf::from("/etc/daned/state"));

        // Through load, from a real directory.
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("daned.toml");
        std::fs::write(&path, text).expect("write");
        let config = Config::load(&path).expect("loads");
        assert_eq!(config.path, path);
        assert_eq!(config.server.key_dir, dir.path().join("k"));
        assert_eq!(
            config.zones[0].tlsa[0].certificates[0].file,
            dir.path().join("certs/m.pem")
        );
    }

    #[test]
    fn missing_file_is_a_read_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("absent.toml");
        match Config::load(&path) {
            Err(e @ ConfigError::Read { .. }) => {
                assert!(e.to_string().contains("absent.toml: cannot read"), "{e}");
            }
            other => panic!("expected a Read error, got {other:?}"),
        }
    }

    /// What a reload compares: each zone setting by its name, the algorithm and DNSKEY TTL under
    /// `signing.*` only (the key policy repeats them), and the restart-only server settings.
    #[test]
    fn reload_diff_names_each_changed_setting() {
        let base = "version = \"v1\"\n[server]\nlisten = [\"127.0.0.1:53\"]\n\
                    [[zone]]\norigin = \"d.test.\"\nfile = \"z\"\n";
        let old = Config::parse(base, Path::new("/etc/daned.toml")).expect("valid");
        assert!(old.zones[0].changed_settings(&old.zones[0]).is_empty());
        assert!(old.restart_only_changes(&old).is_empty());
        let cases: &[(&str, &[&str])] = &[
            (
                "[zone.signing]\nalgorithm = \"ed25519\"\n",
                &["signing.algorithm"],
            ),
            ("[zone.signing]\ndenial = \"nsec3\"\n", &["signing.denial"]),
            (
                "[zone.signing]\ndnskey-ttl = \"2h\"\n",
                &["signing.dnskey-ttl"],
            ),
            (
                "[zone.signing]\nvalidity = \"20d\"\n",
                &["signing (signature timing)"],
            ),
            ("[zone.keys]\nmode = \"ksk-zsk\"\n", &["keys"]),
            ("journal-max-deltas = 3\n", &["journal"]),
            (
                "allow-transfer = [{ prefix = \"10.0.0.0/8\" }]\n",
                &["allow-transfer"],
            ),
            (
                "[[zone.secondary]]\naddress = \"192.0.2.1:53\"\n",
                &["secondary", "allow-transfer"],
            ),
            (
                "secondary-poll-interval = \"1m\"\n",
                &["secondary-poll-interval"],
            ),
            (
                "secondary-lag-warning = \"1m\"\n",
                &["secondary-lag-warning"],
            ),
            (
                "[[zone.tlsa]]\nname = \"m\"\ncertificate = \"c.pem\"\nhost = \"m\"\nports = [25]\n",
                &["tlsa"],
            ),
        ];
        for (extra, want) in cases {
            let new = Config::parse(&format!("{base}{extra}"), Path::new("/etc/daned.toml"))
                .expect("valid");
            assert_eq!(
                old.zones[0].changed_settings(&new.zones[0]),
                *want,
                "{extra}"
            );
            assert!(old.restart_only_changes(&new).is_empty(), "{extra}");
        }
        let moved = base.replace("file = \"z\"", "file = \"y\"");
        let new = Config::parse(&moved, Path::new("/etc/daned.toml")).expect("valid");
        assert_eq!(old.zones[0].changed_settings(&new.zones[0]), ["file"]);

        let server = base.replace("127.0.0.1:53", "127.0.0.1:5353").replace(
            "[[zone]]",
            "udp-payload = 1400\nstate-dir = \"/tmp/s\"\nlog-format = \"json\"\n\
                 metrics-listen = \"127.0.0.1:9\"\n[[zone]]",
        );
        let new = Config::parse(&server, Path::new("/etc/daned.toml")).expect("valid");
        // The control socket's default lies in state-dir: it moves with it.
        assert_eq!(
            old.restart_only_changes(&new),
            [
                "listen",
                "control-socket",
                "state-dir",
                "metrics-listen",
                "log-format"
            ]
        );
        let applied = old.reloaded(new.clone());
        assert!(applied.restart_only_changes(&old).is_empty());
        assert_eq!(applied.server.udp_payload, 1400);
        // The zones are the new ones, with the running state-dir still closed to `$INCLUDE`.
        let mut expected = new.zones.clone();
        expected[0].limits.include_denied = old.zones[0].limits.include_denied.clone();
        assert_ne!(expected, new.zones);
        assert_eq!(applied.zones, expected);
    }

    /// Issue 11, failure 8: `control-mode = "0666"` let another local user roll keys. A mode
    /// wider than 0660 is refused unless `control-insecure = true` says it is meant.
    #[test]
    fn control_mode_wider_than_0660_needs_control_insecure() {
        let with = |server: &str| format!("version = \"v1\"\n[server]\n{server}\n");
        for (mode, bits) in [
            ("\"0666\"", 0o666),
            ("\"0606\"", 0o606),
            ("\"0670\"", 0o670),
            ("\"0700\"", 0o700),
            ("438", 0o666),
        ] {
            let message = invalid_message(&with(&format!("control-mode = {mode}")));
            assert!(
                message.contains("is wider than 0660") && message.contains("control-insecure"),
                "{mode}: {message}"
            );
            assert!(message.starts_with("line 3: "), "{message}");
            let config = parse(&with(&format!(
                "control-mode = {mode}\ncontrol-insecure = true"
            )))
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert_eq!(config.server.control_mode, bits, "{mode}");
        }
        for mode in ["\"0600\"", "\"0660\"", "\"0640\"", "\"0620\""] {
            let config = parse(&with(&format!("control-mode = {mode}")))
                .unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert!(config.server.control_mode & !0o660 == 0);
        }
    }

    /// The zone file limits: `[server]` sets them for every zone, a zone's own setting wins,
    /// relative include-dirs are resolved against the config's directory, and key-dir and
    /// state-dir are always closed to `$INCLUDE`.
    #[test]
    fn zone_limits_come_from_server_and_zone() {
        let config = parse(
            "version = \"v1\"\n[server]\nmax-zone-file-bytes = 5000000\nmax-include-depth = 2\n\
             max-records-per-type = 500\nmax-records = 1000\ninclude-dirs = [\"shared\"]\n\
             [[zone]]\norigin = \"a.example\"\nfile = \"a\"\n\
             [[zone]]\norigin = \"b.example\"\nfile = \"b\"\nmax-records-per-type = 100000\n\
             max-records = 2000000\ninclude-dirs = []\nmax-include-depth = 0\n\
             max-zone-file-bytes = 1\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let denied = vec![
            PathBuf::from("/etc/daned/keys"),
            PathBuf::from("/etc/daned/state"),
        ];
        assert_eq!(
            config.zones[0].limits,
            ZoneLimits {
                max_file_bytes: 5_000_000,
                max_include_depth: 2,
                max_records_per_type: 500,
                max_records: 1000,
                include_dirs: vec![PathBuf::from("/etc/daned/shared")],
                include_denied: denied.clone(),
            }
        );
        assert_eq!(
            config.zones[1].limits,
            ZoneLimits {
                max_file_bytes: 1,
                max_include_depth: 0,
                max_records_per_type: 100_000,
                max_records: 2_000_000,
                include_dirs: Vec::new(),
                include_denied: denied,
            }
        );
        let defaults =
            parse(&with_binding("host = \"mail\"\nports = [25]")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            defaults.zones[0].limits.max_records_per_type,
            zonefile::DEFAULT_MAX_RECORDS_PER_TYPE
        );
        let message = invalid_message(
            "version = \"v1\"\n[server]\nmax-records-per-type = 0\n[[zone]]\n\
             origin = \"a.example\"\nfile = \"a\"\nmax-records = 0\n",
        );
        assert!(
            message.contains("line 3: server.max-records-per-type must be at least 1"),
            "{message}"
        );
        assert!(
            message.contains("zone a.example.: max-records must be at least 1"),
            "{message}"
        );
    }

    /// The config file and a TSIG secret file are read through `fsutil`: a FIFO is refused at
    /// once, naming it.
    #[test]
    fn config_or_secret_file_that_is_a_fifo_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        match Config::load(&fifo) {
            Err(e @ ConfigError::Read { .. }) => assert!(
                e.to_string()
                    .contains("fifo: is a FIFO, not a regular file"),
                "{e}"
            ),
            other => panic!("expected a Read error, got {other:?}"),
        }
        let text = "version = \"v1\"\n[[tsig-key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\n\
                    secret-file = \"fifo\"\n";
        match Config::parse(text, &dir.path().join("daned.toml")) {
            Err(ConfigError::Invalid { message, .. }) => assert!(
                message.contains("tsig-key k.: secret-file") && message.contains("fifo: is a FIFO"),
                "{message}"
            ),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    /// toml's error quotes the offending line: a megabyte-long line makes a short message.
    #[test]
    fn parse_error_quotes_a_short_excerpt_of_a_long_line() {
        let long = "x".repeat(1 << 20);
        let message = parse_message(&format!("version = \"v1\"\nbogus = \"{long}\"\n"));
        assert!(message.contains("bogus"), "{message:.300}");
        assert!(
            message.len() < 2000,
            "{} bytes: {message:.300}",
            message.len()
        );
    }
}
