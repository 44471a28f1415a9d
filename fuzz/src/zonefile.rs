//! The zone file reader: bytes in as the zone file of `example.com.`; a zone that loads is
//! written out and read back, then signed, and every signature verified.

use std::path::PathBuf;
use std::sync::OnceLock;

use daned::zone::zonefile::{self, load_zone};
use daned_sign::keys::{KeyRole, SigningKey};
use daned_sign::nsec3::Denial;
use daned_sign::rrsig::verify_rrsig;
use daned_sign::sign::{SignCtx, SignPolicy, ZoneKey, sign_zone};
use daned_sign::zone::Zone;
use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::rr::{Name, RData};

/// A file the fuzzed zone may `$INCLUDE` by its name alone.
const INCLUDED: &str = "$ORIGIN example.com.\nincluded 300 IN A 192.0.2.9\n";

/// A file that includes itself.
const CYCLE: &str = "$INCLUDE cycle.zone\n";

/// The most RRsets of a zone that is also signed and verified.
const SIGNED_RRSETS: usize = 16;

struct Dir {
    /// Kept for its lifetime: the directory is removed when the process ends.
    _dir: tempfile::TempDir,
    zone: PathBuf,
    written: PathBuf,
}

fn dir() -> &'static Dir {
    static DIR: OnceLock<Dir> = OnceLock::new();
    DIR.get_or_init(|| {
        // In memory where there is a tmpfs: rewriting one file per input on ext4 waits for the
        // disk (a truncated file's blocks are allocated at close), three times as slow.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temporary directory");
        std::fs::write(dir.path().join("inc.zone"), INCLUDED).expect("include written");
        std::fs::write(dir.path().join("cycle.zone"), CYCLE).expect("cycle written");
        Dir {
            zone: dir.path().join("fuzzed.zone"),
            written: dir.path().join("written.zone"),
            _dir: dir,
        }
    })
}

/// Loads `data` as the zone file of `example.com.`, and checks a zone that loads.
///
/// `$INCLUDE` may name only a file of the fuzzing directory: an input that has the directive
/// and a `/` or `\` anywhere is skipped, so the fuzzer never reads (or blocks on) a device or
/// a FIFO elsewhere.
pub fn zonefile(data: &[u8]) {
    if contains_ignore_case(data, b"$include") && data.iter().any(|&b| b == b'/' || b == b'\\') {
        return;
    }
    let dir = dir();
    let origin = Name::from_ascii("example.com.").expect("origin");
    std::fs::write(&dir.zone, data).expect("zone file written");
    let Ok(loaded) = load_zone(&dir.zone, &origin, &zonefile::ZoneLimits::default()) else {
        return;
    };
    round_trip(&loaded.zone, &origin, &dir.written);
    // Signing costs tens of microseconds per RRset: what it can get wrong is in the shapes of
    // records, not their number, so only small zones are signed (the load runs ~20x faster).
    if loaded.zone.rrsets().count() <= SIGNED_RRSETS {
        sign_and_verify(&loaded.zone);
    }
}

/// `daned dump`'s writer and the reader agree: the zone written out reads back the same.
fn round_trip(zone: &Zone, origin: &Name, path: &PathBuf) {
    let mut text = Vec::new();
    zonefile::write_records(zone.rrsets().flat_map(|s| s.records()), &mut text)
        .expect("a loaded zone writes");
    std::fs::write(path, &text).expect("written zone saved");
    let again = load_zone(path, origin, &zonefile::ZoneLimits::default()).unwrap_or_else(|e| {
        panic!(
            "the written zone does not load: {e}\n{}",
            String::from_utf8_lossy(&text)
        )
    });
    assert!(
        again.zone == *zone,
        "the written zone reads back differently:\n{}",
        String::from_utf8_lossy(&text)
    );
}

/// A zone that loads signs (or is refused with an error), and every RRSIG made verifies.
fn sign_and_verify(zone: &Zone) {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    let key = KEY
        .get_or_init(|| SigningKey::from_ed25519_seed(&[9; 32], KeyRole::Csk).expect("a test key"));
    let rng = ring::rand::SystemRandom::new();
    let keys = [ZoneKey::steady(key)];
    let ctx = SignCtx {
        now: 1_796_083_200,
        policy: SignPolicy::default(),
        keys: &keys,
        dnskey_ttl: 3600,
        rng: &rng,
        denial: Denial::Nsec,
        threads: std::num::NonZeroUsize::MIN,
    };
    let Ok(signed) = sign_zone(&ctx, zone, 1) else {
        return;
    };
    for (_, node) in signed.nodes() {
        for set in &node.rrsets {
            for rrsig in &set.rrsigs {
                let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &rrsig.data else {
                    panic!("an RRSIG record holds {:?}", rrsig.data);
                };
                verify_rrsig(&set.rrset, sig, key.dnskey()).unwrap_or_else(|e| {
                    panic!(
                        "our signature over {} does not verify: {e}",
                        set.rrset.name()
                    )
                });
            }
        }
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}
