//! Version 1 of the configuration file as written: serde structs that mirror the TOML tables
//! (kebab-case keys, unknown keys refused, defaults filled in), with no meaning yet. The
//! parent module turns a [`Spec`] into the typed [`Config`](super::Config).
//!
//! Durations are [`Seconds`]: every duration field takes an integer or a string with units,
//! read by the one parser here ([`parse_duration`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use daned_sign::keys::KeyAlgorithm;
use daned_sign::sign::SignPolicy;
use daned_sign::tlsa::TlsaSpec;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

use crate::config::{
    DEFAULT_MAX_BYTES, DEFAULT_MAX_DELTAS, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_INCLUDE_DEPTH,
    DEFAULT_MAX_RECORDS, DEFAULT_MAX_RECORDS_PER_TYPE, NetLimits, ProbeProtocol,
};

/// The file as written: serde with defaults, no meaning yet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Spec {
    /// Format version; only `"v1"` exists.
    #[allow(
        dead_code,
        reason = "present so that a missing or unknown version is refused"
    )]
    pub(super) version: VersionSpec,
    #[serde(default)]
    pub(super) server: ServerSpec,
    #[serde(default, rename = "zone")]
    pub(super) zones: Vec<Spanned<ZoneSpec>>,
    #[serde(default, rename = "tsig-key")]
    pub(super) tsig_keys: Vec<Spanned<TsigKeySpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct TsigKeySpec {
    pub(super) name: String,
    pub(super) algorithm: TsigAlgorithmSpec,
    pub(super) secret: Option<String>,
    pub(super) secret_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) enum TsigAlgorithmSpec {
    HmacSha256,
    HmacSha512,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct SecondarySpec {
    pub(super) address: SocketAddr,
    pub(super) tsig_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct TransferAclSpec {
    pub(super) prefix: String,
    pub(super) tsig_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) enum VersionSpec {
    V1,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct ServerSpec {
    #[serde(default = "default_listen")]
    pub(super) listen: Spanned<Vec<SocketAddr>>,
    #[serde(default = "default_udp_payload")]
    pub(super) udp_payload: Spanned<u16>,
    #[serde(default = "default_key_dir")]
    pub(super) key_dir: PathBuf,
    #[serde(default = "default_state_dir")]
    pub(super) state_dir: PathBuf,
    #[serde(default)]
    pub(super) log_format: LogFormatSpec,
    #[serde(default)]
    pub(super) control_socket: Option<PathBuf>,
    #[serde(default)]
    pub(super) control_mode: Option<Spanned<ModeSpec>>,
    #[serde(default = "default_watch_debounce_ms")]
    pub(super) watch_debounce_ms: u64,
    #[serde(default = "default_rescan_interval")]
    pub(super) rescan_interval: Seconds,
    #[serde(default)]
    pub(super) metrics_listen: Option<SocketAddr>,
    #[serde(default)]
    pub(super) signing_threads: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) control_insecure: bool,
    #[serde(default = "default_max_zone_file_bytes")]
    pub(super) max_zone_file_bytes: Spanned<u64>,
    #[serde(default = "default_max_include_depth")]
    pub(super) max_include_depth: usize,
    #[serde(default = "default_max_records_per_type")]
    pub(super) max_records_per_type: Spanned<usize>,
    #[serde(default = "default_max_records")]
    pub(super) max_records: Spanned<usize>,
    #[serde(default)]
    pub(super) include_dirs: Vec<PathBuf>,
    #[serde(default = "default_rate_limit")]
    pub(super) rate_limit: u32,
    #[serde(default = "default_rate_limit_slip")]
    pub(super) rate_limit_slip: Spanned<u32>,
    #[serde(default = "default_rate_limit_ipv4_prefix")]
    pub(super) rate_limit_ipv4_prefix: Spanned<u8>,
    #[serde(default = "default_rate_limit_ipv6_prefix")]
    pub(super) rate_limit_ipv6_prefix: Spanned<u8>,
    #[serde(default = "default_rate_limit_table_size")]
    pub(super) rate_limit_table_size: Spanned<u32>,
    #[serde(default)]
    pub(super) tcp_max_clients: Option<Spanned<u32>>,
    #[serde(default = "default_tcp_max_clients_per_address")]
    pub(super) tcp_max_clients_per_address: u32,
    #[serde(default)]
    pub(super) udp_workers: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) user: Option<String>,
    #[serde(default)]
    pub(super) group: Option<String>,
}

fn default_max_zone_file_bytes() -> Spanned<u64> {
    Spanned::new(0..0, DEFAULT_MAX_FILE_BYTES)
}

fn default_max_include_depth() -> usize {
    DEFAULT_MAX_INCLUDE_DEPTH
}

fn default_max_records_per_type() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_MAX_RECORDS_PER_TYPE)
}

fn default_max_records() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_MAX_RECORDS)
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
pub(super) enum ModeSpec {
    Text(String),
    Number(u32),
}

impl ModeSpec {
    pub(super) fn bits(&self) -> Result<u32, ModeError> {
        let bits = match self {
            Self::Text(text) => {
                u32::from_str_radix(text.trim_start_matches("0o"), 8).map_err(|source| {
                    ModeError::NotOctal {
                        text: text.clone(),
                        source,
                    }
                })?
            }
            Self::Number(n) => *n,
        };
        if bits > 0o777 {
            return Err(ModeError::BeyondPermissions { bits });
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
            signing_threads: None,
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
pub(super) enum LogFormatSpec {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct ZoneSpec {
    pub(super) origin: String,
    pub(super) file: PathBuf,
    #[serde(default)]
    pub(super) signing: SigningSpec,
    #[serde(default)]
    pub(super) tlsa: Vec<Spanned<TlsaBindingSpec>>,
    #[serde(default)]
    pub(super) secondary: Vec<Spanned<SecondarySpec>>,
    #[serde(default)]
    pub(super) allow_transfer: Vec<Spanned<TransferAclSpec>>,
    #[serde(default = "default_journal_max_deltas")]
    pub(super) journal_max_deltas: usize,
    #[serde(default = "default_journal_max_bytes")]
    pub(super) journal_max_bytes: usize,
    #[serde(default)]
    pub(super) keys: KeysSpec,
    #[serde(default = "default_secondary_poll_interval")]
    pub(super) secondary_poll_interval: Seconds,
    #[serde(default = "default_secondary_lag_warning")]
    pub(super) secondary_lag_warning: Seconds,
    pub(super) max_zone_file_bytes: Option<Spanned<u64>>,
    pub(super) max_include_depth: Option<usize>,
    pub(super) max_records_per_type: Option<Spanned<usize>>,
    pub(super) max_records: Option<Spanned<usize>>,
    pub(super) include_dirs: Option<Vec<PathBuf>>,
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
pub(super) struct KeysSpec {
    #[serde(default)]
    pub(super) mode: KeyModeSpec,
    #[serde(default = "default_ksk_lifetime")]
    pub(super) ksk_lifetime: Spanned<Seconds>,
    #[serde(default = "default_zsk_lifetime")]
    pub(super) zsk_lifetime: Spanned<Seconds>,
    #[serde(default = "default_one_hour")]
    pub(super) propagation_delay: Spanned<Seconds>,
    #[serde(default = "default_parent_ds_ttl")]
    pub(super) parent_ds_ttl: Spanned<Seconds>,
    #[serde(default = "default_one_hour")]
    pub(super) parent_propagation_delay: Spanned<Seconds>,
    #[serde(default = "default_one_hour")]
    pub(super) safety_margin: Spanned<Seconds>,
    #[serde(default)]
    pub(super) cds: CdsSpec,
    #[serde(default)]
    pub(super) parent_servers: Vec<SocketAddr>,
    #[serde(default = "default_one_hour")]
    pub(super) parent_poll_interval: Spanned<Seconds>,
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
pub(super) enum KeyModeSpec {
    #[default]
    Csk,
    KskZsk,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) enum CdsSpec {
    #[default]
    Always,
    Rollover,
    Never,
}

fn default_journal_max_deltas() -> usize {
    DEFAULT_MAX_DELTAS
}

fn default_journal_max_bytes() -> usize {
    DEFAULT_MAX_BYTES
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct SigningSpec {
    #[serde(default)]
    pub(super) algorithm: AlgorithmSpec,
    #[serde(default)]
    pub(super) denial: DenialSpec,
    #[serde(default = "default_validity")]
    pub(super) validity: Spanned<Seconds>,
    #[serde(default = "default_refresh")]
    pub(super) refresh: Spanned<Seconds>,
    #[serde(default = "default_inception_offset")]
    pub(super) inception_offset: Spanned<Seconds>,
    #[serde(default = "default_dnskey_ttl")]
    pub(super) dnskey_ttl: Spanned<Seconds>,
    #[serde(default = "default_jitter")]
    pub(super) jitter: Spanned<Seconds>,
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
pub(super) enum AlgorithmSpec {
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
pub(super) enum DenialSpec {
    #[default]
    Nsec,
    Nsec3,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct TlsaBindingSpec {
    pub(super) name: String,
    pub(super) certificate: Option<PathBuf>,
    pub(super) certificates: Option<Vec<CertificateSpec>>,
    pub(super) names: Option<Vec<String>>,
    pub(super) host: Option<String>,
    pub(super) ports: Option<Vec<u16>>,
    pub(super) protocol: Option<ProtocolSpec>,
    #[serde(default = "default_usage")]
    pub(super) usage: u8,
    #[serde(default = "default_selector")]
    pub(super) selector: u8,
    #[serde(default = "default_matching")]
    pub(super) matching: u8,
    #[serde(default = "default_tlsa_ttl")]
    pub(super) ttl: Seconds,
    #[serde(default)]
    pub(super) next_key: Option<PathBuf>,
    #[serde(default = "default_rollover_margin")]
    pub(super) rollover_margin: Seconds,
    #[serde(default = "default_true")]
    pub(super) probe: bool,
    pub(super) probe_addresses: Option<Vec<String>>,
    #[serde(default = "default_probe_interval")]
    pub(super) probe_interval: Seconds,
    #[serde(default)]
    pub(super) probe_protocol: BTreeMap<String, ProbeProtocol>,
    #[serde(default)]
    pub(super) probe_port: BTreeMap<String, u16>,
}

/// One entry of `certificates = [{ file = "...", next-key = "..." }, ...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct CertificateSpec {
    pub(super) file: PathBuf,
    pub(super) next_key: Option<PathBuf>,
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
pub(super) enum ProtocolSpec {
    Tcp,
    Udp,
    Sctp,
}

impl ProtocolSpec {
    pub(super) fn label(self) -> &'static str {
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
pub(super) struct Seconds(pub(super) u32);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecondsVisitor)
    }
}

pub(super) struct SecondsVisitor;

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

/// A `server.control-mode` that is not a permission mode.
#[derive(Debug, thiserror::Error)]
pub(super) enum ModeError {
    /// A string that is not an octal number.
    #[error("server.control-mode {text:?} is not an octal mode like \"0600\"")]
    NotOctal {
        text: String,
        #[source]
        source: std::num::ParseIntError,
    },
    /// Bits beyond the permission bits.
    #[error("server.control-mode {bits:o} has bits beyond 0777")]
    BeyondPermissions { bits: u32 },
}

/// A duration that [`parse_duration`] refuses: the text and why.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad duration {text:?}: {why}")]
pub(super) struct DurationError {
    text: String,
    why: DurationProblem,
}

/// What is wrong with a duration.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum DurationProblem {
    #[error("empty")]
    Empty,
    #[error("out of range")]
    OutOfRange,
    #[error("expected a number before each unit")]
    NoNumber,
    #[error("unknown unit {0:?} (s, m, h, d, w)")]
    UnknownUnit(char),
    #[error("the last number has no unit (s, m, h, d, w)")]
    NoUnit,
}

/// Parses `"30"`, `"30s"`, `"5m"`, `"2h"`, `"14d"`, `"2w"` and sums such as `"1h30m"` into
/// seconds.
pub(super) fn parse_duration(text: &str) -> Result<u32, DurationError> {
    let bad = |why: DurationProblem| DurationError {
        text: text.to_owned(),
        why,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad(DurationProblem::Empty));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse::<u32>()
            .map_err(|_| bad(DurationProblem::OutOfRange));
    }
    let mut total: u32 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad(DurationProblem::NoNumber));
        }
        let (number, after) = rest.split_at(digits);
        let mut chars = after.chars();
        let unit = match chars.next().map(|c| c.to_ascii_lowercase()) {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            Some('w') => 604_800,
            Some(other) => return Err(bad(DurationProblem::UnknownUnit(other))),
            None => return Err(bad(DurationProblem::NoUnit)),
        };
        let value = number
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| bad(DurationProblem::OutOfRange))?;
        total = value;
        rest = chars.as_str();
    }
    Ok(total)
}
