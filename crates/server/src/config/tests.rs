//! Tests of the configuration: the file format, defaults, and every validation message with
//! its file and line.

use std::num::NonZeroUsize;
use std::str::FromStr;

use super::file::parse_duration;
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
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
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
            // Not set: one per core.
            signing_threads: std::thread::available_parallelism().expect("cores"),
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
            signing_threads: NonZeroUsize::new(2).expect("2"),
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
            threads: NonZeroUsize::new(2).expect("2"),
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
            threads: NonZeroUsize::new(2).expect("2"),
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
    format!("version = \"v1\"\n{keys}\n[[zone]]\norigin = \"example.com\"\nfile = \"z\"\n{extra}\n")
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
    let text = format!("{base}secondary-poll-interval = \"30s\"\nsecondary-lag-warning = \"1h\"\n");
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
    assert_eq!(config.zones[0].journal, JournalLimits::default());
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
        let error = parse_duration(text).expect_err(text).to_string();
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
        let new =
            Config::parse(&format!("{base}{extra}"), Path::new("/etc/daned.toml")).expect("valid");
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
        DEFAULT_MAX_RECORDS_PER_TYPE
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

#[test]
fn signing_threads_is_every_zones_and_at_least_one() {
    let config = parse(
        "version = \"v1\"\n[server]\nsigning-threads = 3\n[[zone]]\n\
         origin = \"a.example\"\nfile = \"a\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.server.signing_threads.get(), 3);
    assert_eq!(config.zones[0].signing.threads.get(), 3);
    let message = invalid_message(
        "version = \"v1\"\n[server]\nsigning-threads = 0\n[[zone]]\n\
         origin = \"a.example\"\nfile = \"a\"\n",
    );
    assert!(
        message.contains("line 3: server.signing-threads must be at least 1"),
        "{message}"
    );
}

#[test]
fn udp_workers_is_read_restart_only_and_a_bad_value_names_file_and_line() {
    let config = parse("version = \"v1\"\n[server]\nudp-workers = 3\n").expect("valid");
    assert_eq!(config.server.net.udp_workers, NonZeroUsize::new(3));
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
