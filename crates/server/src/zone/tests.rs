use super::*;
use crate::config::Config;
use daned_sign::hickory_proto::dnssec::DigestType;
use daned_sign::hickory_proto::rr::{RData, RecordType};
use daned_sign::keys::KeyAlgorithm;
use daned_sign::keys::KeyRole;
use daned_sign::lifecycle::{DsState, KeyRecord, KeyState};

use crate::zone::tlsa::certificate::parse_certificate;
use crate::zone::tlsa::rollover::TlsaRdata;
use ring::rand::SystemRandom;

const NOW: u32 = 1_800_000_000;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../zones/example.com.zone");
        std::fs::copy(zone, dir.path().join("example.com.zone")).unwrap();
        Self { dir }
    }

    fn cfg(&self) -> ZoneConfig {
        let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com.\"\n\
                    file = \"example.com.zone\"\n";
        let config = Config::parse(text, &self.dir.path().join("daned.toml")).unwrap();
        config.zones[0].clone()
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn start(&self, now: u32) -> Result<ZoneRuntime, ZoneError> {
        self.start_zone(self.cfg(), now)
    }

    /// The first zone of the config file `text` (in this directory), started at [`NOW`].
    fn start_with(&self, text: &str) -> Result<ZoneRuntime, ZoneError> {
        let config = Config::parse(text, &self.dir.path().join("daned.toml")).unwrap();
        self.start_zone(config.zones[0].clone(), NOW)
    }

    fn start_zone(&self, cfg: ZoneConfig, now: u32) -> Result<ZoneRuntime, ZoneError> {
        ZoneRuntime::start(
            cfg,
            self.keys(),
            self.state(),
            Mode::Serve,
            now,
            &SystemRandom::new(),
        )
    }

    fn key_files(&self) -> usize {
        std::fs::read_dir(self.keys()).unwrap().count()
    }
}

fn origin() -> Name {
    Name::from_ascii("example.com.").unwrap()
}

fn published_tags(rt: &ZoneRuntime) -> Vec<u16> {
    let apex = rt.signed().node(&origin()).unwrap();
    let mut tags: Vec<u16> = apex
        .get(RecordType::DNSKEY)
        .unwrap()
        .rrset
        .rdatas()
        .filter_map(|r| match r {
            RData::DNSSEC(daned_sign::hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(k)) => {
                daned_sign::keys::key_tag(k).ok()
            }
            _ => None,
        })
        .collect();
    tags.sort_unstable();
    tags
}

/// An existing `make run` directory (one CSK made by an earlier daned, a state file without
/// key records) keeps working: the key is adopted as active with its DS taken to be at the
/// parent, no key is created, the DNSKEY and the DS stay the same, and the records are
/// written to the state file and read back unchanged.
#[test]
fn old_single_csk_key_dir_is_adopted_unchanged() {
    let d = Dir::new();
    let rng = SystemRandom::new();
    let old = keystore::create_key(
        &d.keys(),
        &origin(),
        KeyAlgorithm::EcdsaP256Sha256,
        KeyRole::Csk,
        &rng,
    )
    .unwrap();
    let ds_before = old.key.ds(&origin(), DigestType::SHA256).unwrap();
    // The state file of before key records: no "keys" field.
    std::fs::create_dir_all(d.state()).unwrap();
    std::fs::write(
        state::state_path(&d.state(), &origin()),
        "{\"serial\": 2026112801, \"content-digest\": \"00\"}\n",
    )
    .unwrap();

    let rt = d.start(NOW).unwrap();
    assert_eq!(d.key_files(), 1, "no key created");
    let [entry] = rt.keys() else {
        panic!("one key: {:?}", rt.keys());
    };
    assert_eq!(entry.record.tag, old.key.key_tag());
    assert_eq!(entry.record.state, KeyState::Active);
    assert_eq!(entry.record.ds, DsState::Seen { at: NOW });
    assert_eq!(published_tags(&rt), vec![old.key.key_tag()]);
    let key = entry.key.as_ref().unwrap();
    assert_eq!(key.dnskey(), old.key.dnskey());
    assert_eq!(key.ds(&origin(), DigestType::SHA256).unwrap(), ds_before);
    assert!(rt.key_outlook().awaiting_ds.is_empty());

    // The records are persisted and read back as they were.
    let saved = state::load(&d.state(), &origin()).unwrap().unwrap();
    assert_eq!(saved.keys.len(), 1);
    assert_eq!(saved.keys[0].to_record().unwrap(), entry.record);
    assert_eq!(
        saved.keys[0].file,
        old.path.file_name().unwrap().to_str().unwrap()
    );
    let serial = rt.signed().serial();
    drop(rt);
    let again = d.start(NOW + 60).unwrap();
    assert_eq!(again.keys()[0].record, saved.keys[0].to_record().unwrap());
    assert_eq!(
        again.signed().serial(),
        serial,
        "unchanged content keeps its serial"
    );
}

/// A first start with an empty key-dir creates the first key (a CSK by default), active,
/// with its DS wanted at the parent.
#[test]
fn first_start_creates_an_active_csk_awaiting_its_ds() {
    let d = Dir::new();
    let rt = d.start(NOW).unwrap();
    let [entry] = rt.keys() else {
        panic!("one key: {:?}", rt.keys());
    };
    assert_eq!(entry.record.role, KeyRole::Csk);
    assert_eq!(entry.record.state, KeyState::Active);
    assert_eq!(rt.key_outlook().awaiting_ds, vec![entry.record.tag]);
    assert_eq!(d.key_files(), 1);
}

/// A version signed for a key step is published like any other: in a zone without
/// secondaries it is propagated at once, so nothing that waits on propagation (a staged
/// TLSA key, `daned status`) sees it as never served.
#[test]
fn key_step_publishes_its_serial_for_propagation() {
    let d = Dir::new();
    let mut rt = d.start(NOW).unwrap();
    let rng = SystemRandom::new();
    let delta = rt
        .update_keys(NOW + 10, &rng, KeyAction::Roll(KeyRole::Csk))
        .unwrap()
        .expect("publishing the successor signs a new version");
    assert_eq!(rt.signed().serial(), delta.to_serial);
    assert_eq!(rt.propagated_at(delta.to_serial), Some(NOW + 10));
}

/// Once a zone has key records, a key file they do not name is not used (logged), and a
/// record whose file is gone is an error naming the file, not a silent new key.
#[test]
fn stray_key_file_is_ignored_and_missing_key_file_is_an_error() {
    let d = Dir::new();
    let rng = SystemRandom::new();
    let first = d.start(NOW).unwrap();
    let tag = first.keys()[0].record.tag;
    let path = first.keys()[0].file.clone();
    drop(first);
    let stray = keystore::create_key(
        &d.keys(),
        &origin(),
        KeyAlgorithm::EcdsaP256Sha256,
        KeyRole::Csk,
        &rng,
    )
    .unwrap();
    let rt = d.start(NOW + 1).unwrap();
    assert_eq!(rt.keys().len(), 1);
    assert_eq!(published_tags(&rt), vec![tag]);
    assert!(!published_tags(&rt).contains(&stray.key.key_tag()));
    drop(rt);

    std::fs::remove_file(&path).unwrap();
    match d.start(NOW + 2) {
        Err(e @ ZoneError::MissingKey { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("started without its key"),
    }
}

/// Every DS state survives the state file.
#[test]
fn key_records_round_trip_through_the_state_file_form() {
    for ds in [
        DsState::None,
        DsState::Submitted { since: 5 },
        DsState::Seen { at: 6 },
        DsState::Withdrawn { since: 7 },
    ] {
        let record = KeyRecord {
            tag: 4242,
            algorithm: KeyAlgorithm::Ed25519,
            role: KeyRole::Ksk,
            state: KeyState::Retired,
            created: 1,
            since: 3,
            active_since: Some(2),
            ds,
        };
        let stored = state::KeyState::from_record(&record, "example.com+015+04242.ksk.pem");
        let json = serde_json::to_string(&stored).unwrap();
        let back: state::KeyState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_record().unwrap(), record, "{json}");
    }
}

/// Issue 11: a FIFO in a certificate's or next-key file's place is refused at once (an
/// open for reading would wait for a writer and stall the manager).
#[test]
fn certificate_or_next_key_that_is_a_fifo_is_refused_at_once() {
    let d = Dir::new();
    let fifo = d.dir.path().join("cert.pem");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com.\"\n\
                file = \"example.com.zone\"\n[[zone.tlsa]]\nname = \"mail\"\n\
                certificate = \"cert.pem\"\nnext-key = \"cert.pem\"\nhost = \"mail\"\n\
                ports = [25]\n";
    let config = Config::parse(text, &d.dir.path().join("daned.toml")).unwrap();
    let binding = &config.zones[0].tlsa[0];
    for error in [
        read_certificate(binding, &binding.certificates[0], NOW).unwrap_err(),
        read_next_key(binding, &binding.certificates[0]).unwrap_err(),
    ] {
        let text = error.to_string();
        assert!(
            text.contains("cert.pem") && text.contains("is a FIFO, not a regular file"),
            "{text}"
        );
    }
}

/// Makes the next state write of `d`'s zone fail, as a full or read-only disk would (also
/// for root, which ignores permissions): the temporary file `state::replace_file` opens is
/// a directory. Dropping the guard lets writes succeed again.
struct WriteFault(PathBuf);

impl WriteFault {
    fn new(d: &Dir) -> Self {
        let mut name = state::state_path(&d.state(), &origin()).into_os_string();
        name.push(format!(".tmp-{}", std::process::id()));
        let path = PathBuf::from(name);
        std::fs::create_dir(&path).unwrap();
        Self(path)
    }
}

impl Drop for WriteFault {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn state_bytes(d: &Dir) -> Vec<u8> {
    std::fs::read(state::state_path(&d.state(), &origin())).unwrap()
}

fn add_to_zone_file(d: &Dir, line: &str) {
    let path = d.dir.path().join("example.com.zone");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(line);
    std::fs::write(path, text).unwrap();
}

/// Issue 11, failure 1 (and issue 12): durable before published. A state write that fails
/// leaves the served version, its serial, the content, the keys and the state file exactly
/// as they were, reports the error and schedules a retry (also the deadline the manager
/// sleeps to), which publishes the change once the disk is writable; a restart then
/// serves what the state file says.
#[test]
fn issue_11_failed_state_write_changes_nothing_and_is_retried() {
    let d = Dir::new();
    let rng = SystemRandom::new();
    let mut rt = d.start(NOW).unwrap();
    let serial = rt.signed().serial();
    let before = state_bytes(&d);
    add_to_zone_file(&d, "new 3600 IN A 192.0.2.99\n");

    let fault = WriteFault::new(&d);
    let err = rt.reload(NOW + 10, &rng).expect_err("the write fails");
    assert!(matches!(err, ZoneError::State(_)), "{err}");
    assert_eq!(rt.signed().serial(), serial, "served serial unchanged");
    assert!(
        rt.signed()
            .node(&Name::from_ascii("new.example.com.").unwrap())
            .is_none(),
        "the new record is not served"
    );
    assert_eq!(state_bytes(&d), before, "state file unchanged");
    assert_eq!(rt.propagated_at(serial + 1), None, "not published");
    assert!(
        rt.last_error().is_some_and(|e| e.contains(".tmp-")),
        "{:?}",
        rt.last_error()
    );
    assert_eq!(rt.counters().failed_updates, 1);
    assert_eq!(rt.next_deadline(), Some(NOW + 10 + WRITE_RETRY_SECS));
    assert!(rt.write_pending(NOW + 11));
    // Not due yet: nothing happens.
    assert!(rt.retry_failed_write(NOW + 11, &rng).unwrap().is_none());
    // Due, still failing: scheduled again, still nothing changed.
    assert!(rt.retry_failed_write(NOW + 15, &rng).is_err());
    assert_eq!(rt.signed().serial(), serial);
    assert_eq!(state_bytes(&d), before);

    // A key step under the fault: the key records and the served keys stay.
    let keys_before: Vec<KeyRecord> = rt.keys().iter().map(|e| e.record).collect();
    assert!(
        rt.update_keys(NOW + 16, &rng, KeyAction::Roll(KeyRole::Csk))
            .is_err()
    );
    let keys_after: Vec<KeyRecord> = rt.keys().iter().map(|e| e.record).collect();
    assert_eq!(keys_after, keys_before, "key records unchanged");
    assert_eq!(rt.signed().serial(), serial);
    assert_eq!(state_bytes(&d), before);
    // Its new key file stays (keys are never deleted), and the next try reuses it.
    assert_eq!(d.key_files(), 2);
    assert!(
        rt.update_keys(NOW + 17, &rng, KeyAction::Roll(KeyRole::Csk))
            .is_err()
    );
    assert_eq!(d.key_files(), 2, "a failing retry creates no more keys");

    drop(fault);
    let delta = rt
        .retry_failed_write(NOW + 20 + WRITE_RETRY_SECS, &rng)
        .unwrap()
        .expect("the retry publishes the change");
    assert_eq!(delta.from_serial, serial);
    let saved = state::load(&d.state(), &origin()).unwrap().unwrap();
    assert_eq!(saved.serial, rt.signed().serial());
    assert!(rt.last_error().is_none());
    assert!(!rt.write_pending(NOW + 20 + WRITE_RETRY_SECS));
    rt.update_keys(NOW + 30, &rng, KeyAction::Roll(KeyRole::Csk))
        .unwrap()
        .expect("the roll publishes the successor");
    assert_eq!(rt.keys().len(), 2);
    assert_eq!(
        d.key_files(),
        2,
        "the key created under the fault is the successor"
    );
    let served = rt.signed().serial();
    drop(rt);
    let again = d.start(NOW + 60).unwrap();
    assert_eq!(again.signed().serial(), served, "restart agrees");
}

/// Issue 11, failure 8: a certificate missing at the very first start does not stop the
/// zone: it is served without that binding's records and the binding reports the error.
#[test]
fn issue_11_missing_certificate_at_first_start_starts_the_zone() {
    let d = Dir::new();
    let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com.\"\n\
                file = \"example.com.zone\"\n[[zone.tlsa]]\nname = \"mail\"\n\
                certificate = \"missing.pem\"\nnames = [\"_25._tcp.mail\"]\n";
    let rt = d.start_with(text).unwrap();
    let [binding] = rt.bindings() else {
        panic!("one binding");
    };
    assert!(
        binding
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("missing.pem")),
        "{:?}",
        binding.last_error
    );
    assert!(binding.state.published().is_empty());
    assert_eq!(rt.counters().certificate_errors, 1);
    let owner = Name::from_ascii("_25._tcp.mail.example.com.").unwrap();
    assert!(
        rt.signed()
            .node(&owner)
            .is_none_or(|n| n.get(RecordType::TLSA).is_none())
    );
}

/// A test certificate of `crates/sign/tests/data/certs` (valid until 2126).
fn test_certificate(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/sign/tests/data/certs")
        .join(name);
    std::fs::read(path).unwrap()
}

/// A zone with bindings `a` (certificate `a.pem`, P-256) and `b` (certificate `b.pem`,
/// P-384, next key `b.next`, absent), started at [`NOW`].
fn two_bindings(d: &Dir) -> ZoneRuntime {
    std::fs::write(d.dir.path().join("a.pem"), test_certificate("p256.pem")).unwrap();
    std::fs::write(d.dir.path().join("b.pem"), test_certificate("p384.pem")).unwrap();
    let text = "version = \"v1\"\n[[zone]]\norigin = \"example.com.\"\n\
                file = \"example.com.zone\"\n\
                [[zone.tlsa]]\nname = \"a\"\ncertificate = \"a.pem\"\n\
                names = [\"_25._tcp.a\"]\n\
                [[zone.tlsa]]\nname = \"b\"\ncertificate = \"b.pem\"\n\
                next-key = \"b.next\"\nnames = [\"_25._tcp.b\"]\n";
    let rt = d.start_with(text).unwrap();
    assert!(rt.bindings().iter().all(|b| b.last_error.is_none()));
    rt
}

fn binding<'a>(rt: &'a ZoneRuntime, name: &str) -> &'a Binding {
    rt.bindings().iter().find(|b| b.cfg.name == name).unwrap()
}

/// The record `content` gives binding `name`'s certificate.
fn record_of(rt: &ZoneRuntime, name: &str, content: &[u8]) -> TlsaRdata {
    let b = binding(rt, name);
    parse_certificate(&b.cfg, b.certificate(), Ok(content), NOW)
        .unwrap()
        .record
}

/// Issue 12: a change of one binding's certificate reads no other binding's file. Binding
/// b's certificate is gone, unnoticed: a change of a's leaves b's state and `last_error`
/// as they were.
#[test]
fn certificate_change_reads_no_other_binding_file() {
    let d = Dir::new();
    let mut rt = two_bindings(&d);
    let b_before = binding(&rt, "b").clone();
    std::fs::remove_file(d.dir.path().join("b.pem")).unwrap();

    let a = d.dir.path().join("a.pem");
    let rsa = test_certificate("rsa2048.pem");
    std::fs::write(&a, &rsa).unwrap();
    rt.file_changed(&a, Ok(&rsa), NOW + 10, &SystemRandom::new())
        .unwrap()
        .expect("a new version");

    let a_now = binding(&rt, "a");
    assert!(a_now.state.published().contains(&record_of(&rt, "a", &rsa)));
    assert_eq!(a_now.last_error, None);
    let b_now = binding(&rt, "b");
    assert_eq!(b_now.state, b_before.state);
    assert_eq!(b_now.last_error, None, "b.pem was not read");
    assert_eq!(rt.counters().certificate_errors, 0);
}

/// The earliest RRSIG expiration a zone keeps (its refresh schedule) stays exact through
/// certificate changes, key-less timer turns and a refresh, though a change no longer walks
/// the whole zone to find it (RFC 4035 §5.3.1: no signature may be served past it).
#[test]
fn earliest_expiration_stays_exact_through_changes_and_a_refresh() {
    let d = Dir::new();
    let mut rt = two_bindings(&d);
    let exact = |rt: &ZoneRuntime| rt.signed().earliest_expiration();
    assert_eq!(rt.earliest_expiration(), exact(&rt));
    let a = d.dir.path().join("a.pem");
    let rng = SystemRandom::new();
    for (step, name) in ["rsa2048.pem", "p384.pem", "p256.pem"]
        .into_iter()
        .enumerate()
    {
        let content = test_certificate(name);
        std::fs::write(&a, &content).unwrap();
        let at = NOW + 10 + 10 * u32::try_from(step).unwrap();
        rt.file_changed(&a, Ok(&content), at, &rng).unwrap();
        assert_eq!(rt.earliest_expiration(), exact(&rt), "after change {step}");
    }
    // At the refresh point every due signature is renewed: still exact.
    let due = rt.next_refresh_at().unwrap();
    // Due at the refresh point itself, not one second later (a timer at a point where nothing
    // is due would fire again at once).
    assert!(
        rt.refresh(due.wrapping_sub(1), &rng).unwrap().is_none(),
        "renewed before it was due"
    );
    rt.refresh(due, &rng).unwrap().expect("signatures renewed");
    assert_eq!(rt.earliest_expiration(), exact(&rt));
}

/// Issue 12: the bytes the watcher read are what is parsed. The file changed again after
/// the watcher read it: the zone publishes what the watcher hashed, and the next watcher
/// event brings the rest.
#[test]
fn watcher_bytes_are_what_is_parsed() {
    let d = Dir::new();
    let mut rt = two_bindings(&d);
    let rng = SystemRandom::new();
    let a = d.dir.path().join("a.pem");
    let p384 = test_certificate("p384.pem");
    let rsa = test_certificate("rsa2048.pem");
    std::fs::write(&a, &p384).unwrap();
    let read = std::fs::read(&a).unwrap();
    std::fs::write(&a, &rsa).unwrap();

    rt.file_changed(&a, Ok(&read), NOW + 10, &rng).unwrap();
    let published = binding(&rt, "a").state.published();
    assert!(published.contains(&record_of(&rt, "a", &p384)));
    assert!(!published.contains(&record_of(&rt, "a", &rsa)));

    let read = std::fs::read(&a).unwrap();
    rt.file_changed(&a, Ok(&read), NOW + 20, &rng).unwrap();
    assert!(
        binding(&rt, "a")
            .state
            .published()
            .contains(&record_of(&rt, "a", &rsa))
    );
}

/// Issue 12: a read error the watcher reports gives the `last_error` a read by the zone
/// gives, the certificate's and the next key's problems joined with "; " (the next key as
/// last seen when only the certificate changed, and the other way round); a missing next
/// key is no next key.
#[test]
fn watcher_read_errors_read_as_the_zone_reads_them() {
    let d = Dir::new();
    let mut rt = two_bindings(&d);
    let rng = SystemRandom::new();
    let b = d.dir.path().join("b.pem");
    let next = d.dir.path().join("b.next");
    std::fs::remove_file(&b).unwrap();
    let missing = crate::fsutil::read_bounded(&b, 1).unwrap_err().kind;
    rt.file_changed(&b, Err(&missing), NOW + 10, &rng).unwrap();
    let cfg = binding(&rt, "b").cfg.clone();
    let certificate_error = read_certificate(&cfg, &cfg.certificates[0], NOW + 10)
        .unwrap_err()
        .to_string();
    assert_eq!(
        binding(&rt, "b").last_error.as_deref(),
        Some(certificate_error.as_str())
    );

    std::fs::create_dir(&next).unwrap();
    let directory = crate::fsutil::read_bounded(&next, 1).unwrap_err().kind;
    rt.file_changed(&next, Err(&directory), NOW + 20, &rng)
        .unwrap();
    let next_error = read_next_key(&cfg, &cfg.certificates[0])
        .unwrap_err()
        .to_string();
    assert_eq!(
        binding(&rt, "b").last_error,
        Some(format!("{certificate_error}; {next_error}"))
    );

    std::fs::remove_dir(&next).unwrap();
    let missing = crate::fsutil::read_bounded(&next, 1).unwrap_err().kind;
    rt.file_changed(&next, Err(&missing), NOW + 30, &rng)
        .unwrap();
    assert_eq!(
        binding(&rt, "b").last_error.as_deref(),
        Some(certificate_error.as_str())
    );
    assert_eq!(binding(&rt, "a").last_error, None);
}

/// Issue 12: content past the certificate cap is refused as a read of the file is.
#[test]
fn watcher_content_past_the_cap_is_refused_as_a_read_is() {
    let d = Dir::new();
    let rt = two_bindings(&d);
    let b = binding(&rt, "a");
    let cap = usize::try_from(crate::fsutil::MAX_CERTIFICATE_BYTES).unwrap();
    let error = parse_certificate(&b.cfg, b.certificate(), Ok(&vec![b'x'; cap + 1]), NOW)
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with(&format!("larger than {cap} bytes; not read")),
        "{error}"
    );
}

/// Issue 11, failure 5: a running zone notices its key file or state directory going away
/// (and coming back).
#[test]
fn issue_11_missing_key_file_or_state_dir_is_noticed() {
    let d = Dir::new();
    let mut rt = d.start(NOW).unwrap();
    rt.check_storage();
    assert_eq!(rt.storage_error(), None);
    let key = rt.keys()[0].file.clone();
    let moved = d.dir.path().join("key.bak");
    std::fs::rename(&key, &moved).unwrap();
    rt.check_storage();
    assert!(
        rt.storage_error()
            .is_some_and(|e| e.contains(&key.display().to_string())),
        "{:?}",
        rt.storage_error()
    );
    std::fs::rename(&moved, &key).unwrap();
    let state = d.dir.path().join("state.bak");
    std::fs::rename(d.state(), &state).unwrap();
    rt.check_storage();
    assert!(
        rt.storage_error()
            .is_some_and(|e| e.contains("state directory")),
        "{:?}",
        rt.storage_error()
    );
    std::fs::rename(&state, d.state()).unwrap();
    rt.check_storage();
    assert_eq!(rt.storage_error(), None);
}

mod resume;
