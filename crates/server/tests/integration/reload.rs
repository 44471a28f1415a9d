//! `daned reload` re-reads the configuration: through the manager (each kind of change, with
//! the system clock, no external tool), and through the real binary (dig and delv judge what
//! is served after a denial switch, a zone added and removed, a broken config, a changed
//! `listen`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use daned::clock::SystemClock;
use daned::events::manager::{Manager, ReloadOutcome, ReloadReport};
use daned::serve::xfr::TransferPolicy;
use daned_sign::hickory_proto::rr::{Name, RecordType};

use crate::support::{Workspace, run, start_manager, tool};

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// A second zone, `example.net.`, for adding and removing.
const NET_ZONE: &str = "$ORIGIN example.net.\n$TTL 3600\n\
@ IN SOA ns1 hostmaster 7 7200 3600 1209600 300\n\
@ IN NS ns1\n\
ns1 IN A 192.0.2.153\n\
www IN A 192.0.2.180\n";

/// The config file: `server_extra` in `[server]`, `zone_extra` in the example.com. zone table
/// (before its subtables), `bindings` as the zone's TLSA bindings, `more` after everything.
fn config_text(server_extra: &str, zone_extra: &str, bindings: &str, more: &str) -> String {
    format!(
        "version = \"v1\"\n[server]\nlisten = [\"127.0.0.1:0\"]\nkey-dir = \"keys\"\n\
         state-dir = \"state\"\n{server_extra}\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"example.com.zone\"\n{zone_extra}\n\
         {bindings}\n{more}\n"
    )
}

const MAIL: &str = "[[zone.tlsa]]\nname = \"mail\"\ncertificate = \"certs/mail.pem\"\n\
host = \"mail\"\nports = [25, 465, 587]\nttl = \"300\"\nprobe = false\n";

const WWW: &str = "[[zone.tlsa]]\nname = \"www\"\ncertificate = \"certs/mail.pem\"\n\
host = \"www2\"\nports = [443]\nttl = \"300\"\nprobe = false\n";

fn write(ws: &Workspace, text: &str) {
    std::fs::write(ws.config(), text).unwrap();
}

fn start(ws: &Workspace) -> Manager {
    start_manager(ws, Arc::new(SystemClock))
}

fn reload(manager: &mut Manager) -> ReloadReport {
    manager.reload().expect("the config reloads")
}

fn serial(manager: &Manager, origin: &str) -> Option<u32> {
    let catalog = manager.snapshot();
    let snapshot = Arc::clone(catalog.load().catalog());
    snapshot
        .zones()
        .find(|z| *z.origin() == name(origin))
        .map(|z| z.serial())
}

/// Whether the served zone `origin` has an RRset of `rtype` at `owner`.
fn served(manager: &Manager, origin: &str, owner: &str, rtype: RecordType) -> bool {
    let catalog = manager.snapshot();
    let snapshot = Arc::clone(catalog.load().catalog());
    snapshot
        .zones()
        .find(|z| *z.origin() == name(origin))
        .and_then(|z| z.node(&name(owner)).cloned())
        .is_some_and(|node| node.get(rtype).is_some())
}

fn outcome<'r>(report: &'r ReloadReport, origin: &str) -> &'r ReloadOutcome {
    &report
        .zones
        .iter()
        .find(|z| z.zone == name(origin))
        .unwrap_or_else(|| panic!("no outcome for {origin}: {report:?}"))
        .outcome
}

fn changed<'r>(report: &'r ReloadReport, origin: &str) -> &'r [String] {
    &report
        .zones
        .iter()
        .find(|z| z.zone == name(origin))
        .unwrap_or_else(|| panic!("no outcome for {origin}: {report:?}"))
        .changed
}

fn journal_len(manager: &Manager, origin: &str) -> usize {
    manager
        .snapshot()
        .load()
        .catalog()
        .journal(&name(origin))
        .map_or(0, |j| j.len())
}

/// RFC 5155 §3 / §4: `denial = "nsec3"` by reload: the zone is signed again under a new serial
/// with an NSEC3PARAM at the apex and no NSEC left; the journal (whose delta would replace
/// every RRSIG and the whole chain) is cleared, so IXFR clients get a full transfer.
#[test]
fn rfc5155_reload_switches_denial_nsec_to_nsec3() {
    let ws = Workspace::example();
    write(&ws, &config_text("", "", MAIL, ""));
    let mut manager = start(&ws);
    let before = serial(&manager, "example.com.").unwrap();
    assert!(served(
        &manager,
        "example.com.",
        "example.com.",
        RecordType::NSEC
    ));
    // A zone file change first, so the journal holds a delta.
    let zone = ws.path("example.com.zone");
    let text = std::fs::read_to_string(&zone).unwrap();
    std::fs::write(&zone, text.replace("192.0.2.80", "192.0.2.81")).unwrap();
    let report = reload(&mut manager);
    assert!(matches!(
        outcome(&report, "example.com."),
        ReloadOutcome::Changed { .. }
    ));
    assert_eq!(journal_len(&manager, "example.com."), 1);
    let middle = serial(&manager, "example.com.").unwrap();

    write(
        &ws,
        &config_text("", "[zone.signing]\ndenial = \"nsec3\"\n", MAIL, ""),
    );
    let report = reload(&mut manager);
    let ReloadOutcome::Changed { from, to, .. } = *outcome(&report, "example.com.") else {
        panic!("{report:?}");
    };
    assert_eq!(changed(&report, "example.com."), ["signing.denial"]);
    assert_eq!(from, middle);
    assert!(to > from && from > before, "{before} {from} {to}");
    assert_eq!(serial(&manager, "example.com."), Some(to));
    assert!(served(
        &manager,
        "example.com.",
        "example.com.",
        RecordType::NSEC3PARAM
    ));
    assert!(!served(
        &manager,
        "example.com.",
        "example.com.",
        RecordType::NSEC
    ));
    assert_eq!(journal_len(&manager, "example.com."), 0, "journal cleared");
    // The state file follows: a restart keeps the NSEC3 zone at this serial.
    drop(manager);
    let manager = start(&ws);
    assert_eq!(serial(&manager, "example.com."), Some(to));
    assert!(served(
        &manager,
        "example.com.",
        "example.com.",
        RecordType::NSEC3PARAM
    ));
}

/// A config file that does not parse, or parses to an invalid config: the reload is refused
/// with the file and line, and nothing changes (zones, serials, the config in effect).
#[test]
fn invalid_config_is_refused_with_file_and_line_and_changes_nothing() {
    let ws = Workspace::example();
    write(&ws, &config_text("", "", MAIL, ""));
    let mut manager = start(&ws);
    let before = serial(&manager, "example.com.");
    let config = Arc::clone(manager.config());

    // A semantic error: an unknown denial on line 11 of the file.
    let bad = config_text("", "[zone.signing]\ndenial = \"nsec5\"\n", MAIL, "");
    let line = 1 + bad.lines().position(|l| l.contains("nsec5")).unwrap();
    write(&ws, &bad);
    let error = manager
        .reload()
        .expect_err("an invalid config is refused")
        .to_string();
    assert!(error.contains("daned.toml"), "{error}");
    assert!(error.contains(&format!("line {line}")), "{error}");

    // A syntax error.
    write(&ws, "version = \"v1\"\n[server\nlisten = 1\n");
    let error = manager
        .reload()
        .expect_err("a broken file is refused")
        .to_string();
    assert!(
        error.contains("daned.toml") && error.contains("line 2"),
        "{error}"
    );

    assert_eq!(serial(&manager, "example.com."), before);
    assert!(
        Arc::ptr_eq(manager.config(), &config),
        "config in effect changed"
    );
    assert!(served(
        &manager,
        "example.com.",
        "example.com.",
        RecordType::NSEC
    ));
}

/// A zone added to the config is loaded, signed and served; a zone removed is no longer served
/// and its state file stays; added again, it comes back with its keys and serial.
#[test]
fn zones_added_and_removed_by_reload() {
    let ws = Workspace::example();
    std::fs::write(ws.path("example.net.zone"), NET_ZONE).unwrap();
    write(&ws, &config_text("", "", MAIL, ""));
    let mut manager = start(&ws);
    let net = "[[zone]]\norigin = \"example.net.\"\nfile = \"example.net.zone\"\n";

    write(&ws, &config_text("", "", MAIL, net));
    let report = reload(&mut manager);
    let ReloadOutcome::Added { serial: added } = *outcome(&report, "example.net.") else {
        panic!("{report:?}");
    };
    assert_eq!(serial(&manager, "example.net."), Some(added));
    assert!(served(
        &manager,
        "example.net.",
        "www.example.net.",
        RecordType::A
    ));
    assert!(served(
        &manager,
        "example.net.",
        "example.net.",
        RecordType::DNSKEY
    ));
    assert!(matches!(
        outcome(&report, "example.com."),
        ReloadOutcome::Unchanged { .. }
    ));
    assert_eq!(manager.status().zones.len(), 2);
    let keys = manager.keys_report(&name("example.net.")).unwrap().keys;

    write(&ws, &config_text("", "", MAIL, ""));
    let report = reload(&mut manager);
    assert_eq!(
        *outcome(&report, "example.net."),
        ReloadOutcome::Removed { serial: added }
    );
    assert_eq!(serial(&manager, "example.net."), None);
    assert!(
        manager
            .snapshot()
            .load()
            .catalog()
            .find(&name("www.example.net."))
            .is_none()
    );
    assert!(manager.config().zone(&name("example.net.")).is_none());
    assert!(ws.path("state").read_dir().unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("example.net")
    }));

    write(&ws, &config_text("", "", MAIL, net));
    let report = reload(&mut manager);
    assert_eq!(
        *outcome(&report, "example.net."),
        ReloadOutcome::Added { serial: added }
    );
    let again = manager.keys_report(&name("example.net.")).unwrap().keys;
    assert_eq!(
        again.iter().map(|k| k.key_tag).collect::<Vec<_>>(),
        keys.iter().map(|k| k.key_tag).collect::<Vec<_>>()
    );

    // A zone whose file is broken is not added; the others are served as before.
    std::fs::write(ws.path("bad.zone"), "this is not a zone\n").unwrap();
    let bad = "[[zone]]\norigin = \"example.org.\"\nfile = \"bad.zone\"\n";
    write(&ws, &config_text("", "", MAIL, &format!("{net}{bad}")));
    let report = reload(&mut manager);
    let ReloadOutcome::NotAdded { error } = outcome(&report, "example.org.") else {
        panic!("{report:?}");
    };
    assert!(error.contains("bad.zone"), "{error}");
    assert_eq!(serial(&manager, "example.org."), None);
    assert!(manager.config().zone(&name("example.org.")).is_none());
    assert_eq!(serial(&manager, "example.net."), Some(added));
}

/// RFC 6698 §2 records of bindings follow the config: a binding added publishes its TLSA
/// RRset, a changed TTL re-publishes it, a removed one withdraws its records; a binding whose
/// certificate is missing fails the zone's reload and the previous settings stay.
#[test]
fn tlsa_bindings_added_changed_and_removed_by_reload() {
    let ws = Workspace::example();
    write(&ws, &config_text("", "", MAIL, ""));
    let mut manager = start(&ws);
    let www = "_443._tcp.www2.example.com.";
    let mail = "_25._tcp.mail.example.com.";
    assert!(!served(&manager, "example.com.", www, RecordType::TLSA));

    write(&ws, &config_text("", "", &format!("{MAIL}{WWW}"), ""));
    let report = reload(&mut manager);
    assert!(matches!(
        outcome(&report, "example.com."),
        ReloadOutcome::Changed { .. }
    ));
    assert_eq!(changed(&report, "example.com."), ["tlsa"]);
    assert!(served(&manager, "example.com.", www, RecordType::TLSA));
    assert_eq!(manager.status().zones[0].bindings.len(), 2);

    let ttl = |manager: &Manager| {
        let catalog = manager.snapshot();
        let snapshot = Arc::clone(catalog.load().catalog());
        let zone = snapshot.zones().next().unwrap().clone();
        zone.node(&name(www))
            .and_then(|n| n.get(RecordType::TLSA).map(|s| s.rrset.ttl()))
    };
    assert_eq!(ttl(&manager), Some(300));
    let www_600 = WWW.replace("ttl = \"300\"", "ttl = \"600\"");
    write(&ws, &config_text("", "", &format!("{MAIL}{www_600}"), ""));
    reload(&mut manager);
    assert_eq!(ttl(&manager), Some(600));

    write(&ws, &config_text("", "", &www_600, ""));
    let before = serial(&manager, "example.com.").unwrap();
    let report = reload(&mut manager);
    assert!(matches!(
        outcome(&report, "example.com."),
        ReloadOutcome::Changed { .. }
    ));
    assert!(!served(&manager, "example.com.", mail, RecordType::TLSA));
    assert!(served(&manager, "example.com.", www, RecordType::TLSA));
    assert!(serial(&manager, "example.com.").unwrap() > before);

    // A new binding whose certificate does not exist: the zone keeps its settings.
    let missing = WWW
        .replace("\"www\"", "\"gone\"")
        .replace("certs/mail.pem", "certs/none.pem");
    write(
        &ws,
        &config_text("", "", &format!("{www_600}{missing}"), ""),
    );
    let served_serial = serial(&manager, "example.com.").unwrap();
    let report = reload(&mut manager);
    let ReloadOutcome::Failed {
        serial: kept,
        error,
    } = outcome(&report, "example.com.")
    else {
        panic!("{report:?}");
    };
    assert_eq!(*kept, served_serial);
    assert!(error.contains("none.pem"), "{error}");
    assert_eq!(manager.config().zones[0].tlsa.len(), 1);
    assert_eq!(manager.status().zones[0].bindings.len(), 1);
}

/// The restart-only `[server]` settings are reported and keep their running values; the
/// others (here `udp-payload`) are taken.
#[test]
fn restart_only_settings_are_reported_and_kept() {
    let ws = Workspace::example();
    write(&ws, &config_text("", "", MAIL, ""));
    let mut manager = start(&ws);
    let text = config_text(
        "udp-payload = 1400\nmetrics-listen = \"127.0.0.1:9\"",
        "",
        MAIL,
        "",
    )
    .replace("127.0.0.1:0", "127.0.0.1:5399")
    .replace("key-dir = \"keys\"", "key-dir = \"other-keys\"");
    write(&ws, &text);
    let report = reload(&mut manager);
    assert_eq!(
        report.restart_needed,
        ["listen", "key-dir", "metrics-listen"]
    );
    let config = manager.config();
    assert_eq!(config.server.listen, ["127.0.0.1:0".parse().unwrap()]);
    assert_eq!(config.server.key_dir, ws.path("keys"));
    assert_eq!(config.server.metrics_listen, None);
    assert_eq!(config.server.udp_payload, 1400);
    assert!(matches!(
        outcome(&report, "example.com."),
        ReloadOutcome::Unchanged { .. }
    ));
}

/// RFC 6781 §4.1.4: a new `[zone.signing] algorithm` starts the algorithm roll at the reload:
/// a key of the new algorithm is created and its signatures come first ("the new RRSIGs are
/// introduced ... before the new DNSKEY", as RFC 4035 §2.2 requires of every algorithm in the
/// DNSKEY RRset once it is there): every RRset is signed with both algorithms while the DNSKEY
/// RRset still holds the old key only.
#[test]
fn rfc6781_s4_1_4_algorithm_change_by_reload_starts_the_roll() {
    let ws = Workspace::example();
    write(&ws, &config_text("", "", MAIL, ""));
    let mut manager = start(&ws);
    let origin = name("example.com.");
    let before = manager.keys_report(&origin).unwrap();
    assert_eq!(before.keys.len(), 1);
    write(
        &ws,
        &config_text("", "[zone.signing]\nalgorithm = \"ed25519\"\n", MAIL, ""),
    );
    let report = reload(&mut manager);
    assert_eq!(changed(&report, "example.com."), ["signing.algorithm"]);
    let ReloadOutcome::Changed { from, to, .. } = *outcome(&report, "example.com.") else {
        panic!("{report:?}");
    };
    assert!(to > from);
    let after = manager.keys_report(&origin).unwrap();
    assert_eq!(after.keys.len(), 2, "{after:#?}");
    let algorithms: std::collections::BTreeSet<_> =
        after.keys.iter().map(|k| k.algorithm.clone()).collect();
    assert_eq!(algorithms.len(), 2, "{after:#?}");
    let catalog = manager.snapshot();
    let snapshot = Arc::clone(catalog.load().catalog());
    let zone = snapshot.zones().next().unwrap().clone();
    let apex = zone.node(&origin).unwrap();
    assert_eq!(
        apex.get(RecordType::DNSKEY).unwrap().rrset.rdatas().count(),
        1
    );
    for rtype in [RecordType::SOA, RecordType::NS, RecordType::MX] {
        let sigs = &apex.get(rtype).unwrap().rrsigs;
        assert_eq!(sigs.len(), 2, "{rtype} is signed by each algorithm");
    }

    // A restart in the middle of the roll resumes it from what the reload wrote: the same
    // keys in the same states, the same serial, no second roll.
    drop(manager);
    let manager = start(&ws);
    let resumed = manager.keys_report(&origin).unwrap();
    let states = |r: &daned::status::KeysReport| {
        r.keys
            .iter()
            .map(|k| (k.key_tag, k.algorithm.clone(), k.state.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(states(&resumed), states(&after));
    assert_eq!(serial(&manager, "example.com."), Some(to));
}

/// A changed `[zone.keys]` policy is seen by the key lifecycle at the reload, not at its next
/// timer: a CSK lifetime set where there was none schedules the CSK's roll.
#[test]
fn key_policy_change_is_seen_by_the_lifecycle_at_once() {
    let ws = Workspace::example();
    write(&ws, &config_text("", "", MAIL, ""));
    let mut manager = start(&ws);
    let origin = name("example.com.");
    assert_eq!(manager.keys_report(&origin).unwrap().next_key_event, None);
    write(
        &ws,
        &config_text("", "[zone.keys]\nksk-lifetime = \"30d\"\n", MAIL, ""),
    );
    let report = reload(&mut manager);
    assert_eq!(changed(&report, "example.com."), ["keys"]);
    let next = manager.keys_report(&origin).unwrap().next_key_event;
    let next = next.expect("a roll is scheduled");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let in_days = (u64::from(next.at).saturating_sub(now)) / 86_400;
    assert!((20..=30).contains(&in_days), "{next:?}");
}

/// Secondaries, their ACL and journal limits follow the config: a secondary added is tracked
/// (status), allowed to transfer, and reaches the followers; journal limits cut the journal.
#[test]
fn secondaries_transfer_acl_and_journal_limits_follow_the_config() {
    let ws = Workspace::example();
    write(&ws, &config_text("", "", MAIL, ""));
    let mut manager = start(&ws);
    let mut configs = manager.subscribe_config();
    let origin = name("example.com.");
    let secondary = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    assert!(!TransferPolicy::from_config(manager.config()).allowed(&origin, secondary, None));
    // Three zone file changes: three deltas.
    let zone = ws.path("example.com.zone");
    let text = std::fs::read_to_string(&zone).unwrap();
    for last in 1..=3 {
        std::fs::write(
            &zone,
            text.replace("192.0.2.80", &format!("192.0.2.9{last}")),
        )
        .unwrap();
        reload(&mut manager);
    }
    assert_eq!(journal_len(&manager, "example.com."), 3);
    assert!(!configs.has_changed().unwrap());

    let extra = "journal-max-deltas = 1\n[[zone.secondary]]\naddress = \"127.0.0.2:5399\"\n";
    write(&ws, &config_text("", extra, MAIL, ""));
    let before = serial(&manager, "example.com.");
    let report = reload(&mut manager);
    assert_eq!(
        changed(&report, "example.com."),
        ["secondary", "allow-transfer", "journal"]
    );
    assert_eq!(
        *outcome(&report, "example.com."),
        ReloadOutcome::Unchanged {
            serial: before.unwrap()
        }
    );
    assert_eq!(journal_len(&manager, "example.com."), 1);
    let status = manager.status();
    assert_eq!(status.zones[0].secondaries.len(), 1);
    assert_eq!(status.zones[0].secondaries[0].address, "127.0.0.2:5399");
    assert!(TransferPolicy::from_config(manager.config()).allowed(&origin, secondary, None));
    assert!(configs.has_changed().unwrap());
    let followed = Arc::clone(&configs.borrow_and_update());
    assert_eq!(followed.zones[0].secondaries.len(), 1);

    // The same file again: nothing changes, nothing is sent.
    let report = reload(&mut manager);
    assert!(changed(&report, "example.com.").is_empty());
    assert!(!configs.has_changed().unwrap());
}

/// A new zone `file` path is read at the reload: its content is published under a new serial.
#[test]
fn zone_file_path_change_by_reload() {
    let ws = Workspace::example();
    write(&ws, &config_text("", "", MAIL, ""));
    let mut manager = start(&ws);
    let text = std::fs::read_to_string(ws.path("example.com.zone")).unwrap();
    std::fs::write(
        ws.path("other.zone"),
        format!("{text}\nnew IN A 192.0.2.200\n"),
    )
    .unwrap();
    write(
        &ws,
        &config_text("", "", MAIL, "").replace("example.com.zone", "other.zone"),
    );
    let report = reload(&mut manager);
    assert_eq!(changed(&report, "example.com."), ["file"]);
    assert!(matches!(
        outcome(&report, "example.com."),
        ReloadOutcome::Changed { .. }
    ));
    assert!(served(
        &manager,
        "example.com.",
        "new.example.com.",
        RecordType::A
    ));
}

// ---- Through the real binary ---------------------------------------------------------------

/// `dig ARGS` (no recursion, one try) against the server at `addr`; its whole output.
fn dig_at(dig: &std::path::Path, addr: SocketAddr, args: &[&str]) -> String {
    let (_, text) = run(Command::new(dig)
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "+norecurse", "+tries=1"])
        .args(args));
    text
}

/// `daned reload` end to end: a denial switch NSEC -> NSEC3 (dig sees the NSEC3PARAM and a
/// higher serial, delv validates an NXDOMAIN from the trust anchor, RFC 5155 §8), a zone added
/// (served) and removed (REFUSED after, RFC 8906 §3.1.1), a broken config (the reload fails
/// naming file and line, the zone is still served) and a changed `listen` (a warning; the old
/// address is still served).
#[test]
#[ignore = "needs delv, dig"]
fn daned_reload_applies_the_config_file() {
    let (Some(dig), Some(delv)) = (tool("dig"), tool("delv")) else {
        return;
    };
    let ws = Workspace::example();
    std::fs::write(ws.path("example.net.zone"), NET_ZONE).unwrap();
    write(&ws, &config_text("", "", MAIL, ""));
    let server = ws.serve();
    let dig_at = |args: &[&str]| dig_at(&dig, server.addr, args);
    let soa_serial = |zone: &str| -> u32 {
        let text = dig_at(&["+short", zone, "SOA"]);
        text.split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no SOA serial for {zone}: {text}"))
    };
    let reload = || {
        let out = ws.daned(&["reload"]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stdout, stderr)
    };
    let before = soa_serial("example.com.");
    assert!(
        dig_at(&["+short", "example.com.", "NSEC3PARAM"])
            .trim()
            .is_empty()
    );

    // NSEC -> NSEC3.
    write(
        &ws,
        &config_text("", "[zone.signing]\ndenial = \"nsec3\"\n", MAIL, ""),
    );
    let (ok, out, err) = reload();
    assert!(ok, "reload failed: {out}{err}");
    assert!(
        out.contains("changed") && out.contains("signing.denial"),
        "{out}"
    );
    assert!(soa_serial("example.com.") > before);
    let param = dig_at(&["+short", "example.com.", "NSEC3PARAM"]);
    assert_eq!(param.trim(), "1 0 0 -", "{param}");
    let anchors = ws.trust_anchor_file();
    let (_, text) = run(Command::new(&delv)
        .arg(format!("@{}", server.addr.ip()))
        .args(["-p", &server.addr.port().to_string()])
        .arg("-a")
        .arg(&anchors)
        .arg("+root=example.com.")
        .args(["+tcp", "+nomtrace", "nothere.example.com.", "A"]));
    assert!(
        text.contains("fully validated") && text.contains("NXDOMAIN"),
        "delv: {text}"
    );
    let nx = dig_at(&["+dnssec", "nothere.example.com.", "A"]);
    assert!(nx.contains("NSEC3") && nx.contains("NXDOMAIN"), "{nx}");

    // A zone added, then removed.
    let nsec3 = "[zone.signing]\ndenial = \"nsec3\"\n";
    let net = "[[zone]]\norigin = \"example.net.\"\nfile = \"example.net.zone\"\n";
    write(&ws, &config_text("", nsec3, MAIL, net));
    let (ok, out, err) = reload();
    assert!(ok, "reload failed: {out}{err}");
    assert!(
        out.contains("example.net.") && out.contains("added"),
        "{out}"
    );
    assert_eq!(
        dig_at(&["+short", "www.example.net.", "A"]).trim(),
        "192.0.2.180"
    );
    assert!(dig_at(&["www.example.net.", "A"]).contains("flags: qr aa"));
    write(&ws, &config_text("", nsec3, MAIL, ""));
    let (ok, out, err) = reload();
    assert!(ok, "reload failed: {out}{err}");
    assert!(out.contains("removed"), "{out}");
    assert!(
        dig_at(&["www.example.net.", "A"]).contains("status: REFUSED"),
        "a removed zone is refused"
    );

    // A broken config: refused with file and line; the zone is still served.
    let served_serial = soa_serial("example.com.");
    let broken = config_text("", "[zone.signing]\ndenial = \"nsec4\"\n", MAIL, "");
    let line = 1 + broken.lines().position(|l| l.contains("nsec4")).unwrap();
    write(&ws, &broken);
    let (ok, out, err) = reload();
    assert!(!ok, "a broken config reloaded: {out}");
    assert!(
        err.contains("daned.toml") && err.contains(&format!("line {line}")),
        "the error names file and line: {err}"
    );
    // `daned reload` finds the control socket in the config file, so it stops at the broken
    // file; SIGHUP has the daemon read it, which logs the same error and changes nothing.
    server.signal("HUP");
    let logged = server.wait_log("configuration not reloaded", Duration::from_secs(10));
    assert!(logged.contains(&format!("line {line}")), "{logged}");
    assert_eq!(soa_serial("example.com."), served_serial);
    assert!(dig_at(&["+short", "example.com.", "NSEC3PARAM"]).contains("1 0 0 -"));

    // `listen` changed: a warning, the old address still serves.
    write(
        &ws,
        &config_text("", nsec3, MAIL, "").replace("127.0.0.1:0", "127.0.0.1:1"),
    );
    let (ok, out, err) = reload();
    assert!(ok, "reload failed: {out}{err}");
    assert!(
        out.contains("need a restart") && out.contains("listen"),
        "{out}"
    );
    server.wait_log("only a restart applies it", Duration::from_secs(10));
    assert_eq!(soa_serial("example.com."), served_serial);
    server.stop();
}

/// What follows the config in the running daemon after `daned reload`: the transfer ACL (an
/// AXFR refused before is answered after, RFC 5936 §6), the NOTIFY targets (a secondary added
/// is sent NOTIFY, RFC 1996 §3.5), and the certificate watcher (the certificate of a binding
/// added is watched: replacing it publishes the new TLSA record without another reload).
#[test]
#[ignore = "needs dig, openssl"]
fn rfc1996_reload_notifies_new_secondary_allows_transfer_and_watches_new_certificate() {
    let (Some(dig), Some(openssl)) = (tool("dig"), tool("openssl")) else {
        return;
    };
    let ws = Workspace::example();
    write(&ws, &config_text("", "", MAIL, ""));
    let server = ws.serve();
    let dig_at = |args: &[&str]| dig_at(&dig, server.addr, args);
    let axfr_soas = || {
        dig_at(&["example.com.", "AXFR"])
            .lines()
            .filter(|l| l.contains("\tSOA\t"))
            .count()
    };
    assert_eq!(axfr_soas(), 0, "AXFR refused before the reload");

    let new_cert = |name: &str| {
        let (ok, text) = run(Command::new(&openssl)
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "30"])
            .args(["-subj", "/CN=www2.example.com", "-keyout"])
            .arg(ws.path(&format!("certs/{name}.key")))
            .arg("-out")
            .arg(ws.path(&format!("certs/{name}.pem"))));
        assert!(ok, "openssl: {text}");
        std::fs::read(ws.path(&format!("certs/{name}.pem"))).unwrap()
    };
    let first = new_cert("a");
    std::fs::write(ws.path("certs/www.pem"), &first).unwrap();
    let secondary = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    secondary
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let extra = format!(
        "allow-transfer = [{{ prefix = \"127.0.0.1\" }}]\n\
         [[zone.secondary]]\naddress = \"{}\"\n",
        secondary.local_addr().unwrap()
    );
    let www = WWW.replace("certs/mail.pem", "certs/www.pem");
    write(&ws, &config_text("", &extra, &format!("{MAIL}{www}"), ""));
    let out = ws.daned(&["reload"]);
    assert!(
        out.status.success(),
        "reload: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(axfr_soas(), 2, "AXFR: the SOA first and last");

    // The new secondary is sent NOTIFY (opcode 4) for the serial served now.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut notified = false;
    while !notified && std::time::Instant::now() < deadline {
        let mut buf = [0u8; 1500];
        if let Ok((n, _)) = secondary.recv_from(&mut buf) {
            notified = n > 2 && (buf[2] >> 3) & 0x0f == 4;
        }
    }
    assert!(
        notified,
        "no NOTIFY reached the secondary added by the reload"
    );

    // The certificate of the new binding is watched.
    let tlsa = || dig_at(&["+short", "_443._tcp.www2.example.com.", "TLSA"]);
    let before = tlsa();
    assert!(before.starts_with("3 1 1"), "{before}");
    let second = new_cert("b");
    std::fs::write(ws.path("certs/www.pem"), &second).unwrap();
    server.wait_log("certificate change published", Duration::from_secs(20));
    // The manager logs the change just before it swaps the zone in: ask until it is served.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let after = loop {
        let after = tlsa();
        if after != before || std::time::Instant::now() > deadline {
            break after;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        after.starts_with("3 1 1") && after != before,
        "{before} -> {after}"
    );
    server.stop();
}
