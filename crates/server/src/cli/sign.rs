//! `daned sign` (hidden): signs a zone file offline through the signer's streamed full pass
//! (`sign_zone_streamed`), writing each batch of signed nodes as it comes.

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use daned::clock::{Clock, SystemClock};
use daned::config::LogFormat;
use daned::zone::zonefile;
use daned_sign::hickory_proto::dnssec::rdata::DNSKEY;
use daned_sign::hickory_proto::rr::{Name, RData};
use daned_sign::keys::KeyRole;
use daned_sign::zone::{SignedNode, Zone};

use crate::cli::init_tracing;

/// How `daned sign` signs.
pub(crate) struct Options {
    /// Verify every signature, not only a sample as a start does.
    pub(crate) verify_all: bool,
    /// Signing threads; `None`: one per core.
    pub(crate) threads: Option<NonZeroUsize>,
    /// NSEC3 (RFC 9276 parameters) instead of NSEC.
    pub(crate) nsec3: bool,
}

/// `daned sign`: signs `zone` into `out`.
pub(crate) fn run(
    zone: PathBuf,
    origin: Name,
    out: PathBuf,
    options: Options,
) -> anyhow::Result<ExitCode> {
    init_tracing(LogFormat::Human, "info");
    sign_offline(&zone, &origin, &out, &options)?;
    Ok(ExitCode::SUCCESS)
}

fn sign_offline(zone: &Path, origin: &Name, out: &Path, options: &Options) -> anyhow::Result<()> {
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
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN));
    let ctx = daned_sign::sign::SignCtx {
        now: SystemClock.now(),
        policy: daned_sign::sign::SignPolicy::default(),
        keys: &keys,
        dnskey_ttl: 3600,
        rng: &rng,
        denial: if options.nsec3 {
            daned_sign::nsec3::Denial::Nsec3(daned_sign::nsec3::Nsec3Params::default())
        } else {
            daned_sign::nsec3::Denial::Nsec
        },
        threads,
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
    // Stream: each batch of nodes is signed and rendered on the signing threads, checked, and
    // written, so the signed zone is never held whole (issue 10 item 4).
    let dnskeys: Vec<DNSKEY> = keys.iter().map(|k| k.key.dnskey().clone()).collect();
    let check = Check::new(&loaded.zone, &dnskeys, ctx.now, options.verify_all)?;
    // Written beside `out` and renamed into place only once whole: a failure halfway through
    // (a bad zone, a signature that does not verify, a full disk) leaves no half zone there.
    let partial = partial_path(out);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut writer = io::BufWriter::with_capacity(1 << 20, file);
    let mut nodes = 0usize;
    let streamed = daned_sign::sign::sign_zone_streamed(
        &ctx,
        &loaded.zone,
        serial,
        |name, node| -> anyhow::Result<Vec<u8>> {
            check.node(name, node)?;
            let mut text = Vec::with_capacity(1024);
            zonefile::write_records(node.records(), &mut text)?;
            Ok(text)
        },
        |batch| -> anyhow::Result<()> {
            for text in batch {
                writer.write_all(&text?)?;
                nodes += 1;
            }
            Ok(())
        },
    )
    .with_context(|| format!("zone {origin}, writing {}", partial.display()))
    .and_then(|()| {
        writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(|file| file.sync_all())
            .with_context(|| format!("writing {}", partial.display()))
    })
    .and_then(|()| {
        std::fs::rename(&partial, out)
            .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))
    });
    if let Err(e) = streamed {
        if let Err(removing) = std::fs::remove_file(&partial) {
            tracing::warn!(path = %partial.display(), error = %removing, "cannot remove the partial output");
        }
        return Err(e);
    }
    let verified = check.verified.load(Ordering::Relaxed);
    tracing::info!(
        threads = threads.get(),
        parse_ms = parsed.as_millis() as u64,
        sign_and_write_ms = (started.elapsed() - parsed).as_millis() as u64,
        nodes,
        verified_rrsets = verified,
        "signed"
    );
    Ok(())
}

/// `out` with `.partial` appended to its file name.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// The check a start makes before serving (`validate_sample`), made on the stream: the nodes
/// of an evenly spread sample of about [`SAMPLE_RRSETS`] RRsets (every one with
/// `--verify-all`) have every RRset signed that must be (RFC 4035 §2.2), by the zone, valid now
/// and verifying with the pass's DNSKEYs (RFC 4035 §5.3). The NSEC and NSEC3 chains are made
/// whole before signing and not checked again here (the tests check them).
struct Check<'k> {
    origin: &'k Name,
    keys: Vec<(u16, DNSKEY)>,
    now: u32,
    /// One node in `step` is checked.
    step: usize,
    seen: AtomicUsize,
    verified: AtomicUsize,
}

/// About how many RRsets the sample checks (zones::START_VALIDATION_SAMPLE).
const SAMPLE_RRSETS: usize = 2000;

impl<'k> Check<'k> {
    fn new(zone: &'k Zone, dnskeys: &[DNSKEY], now: u32, all: bool) -> anyhow::Result<Self> {
        let (mut rrsets, mut nodes) = (0usize, 0usize);
        let mut last = None;
        for rrset in zone.rrsets() {
            rrsets += 1;
            if last != Some(rrset.name()) {
                nodes += 1;
                last = Some(rrset.name());
            }
        }
        let per_node = rrsets.div_ceil(nodes.max(1)).max(1);
        let step = if all {
            1
        } else {
            (nodes / SAMPLE_RRSETS.div_ceil(per_node)).max(1)
        };
        Ok(Self {
            origin: zone.origin(),
            keys: daned_sign::validate::tagged_keys(dnskeys)?,
            now,
            step,
            seen: AtomicUsize::new(0),
            verified: AtomicUsize::new(0),
        })
    }

    fn node(&self, name: &Name, node: &SignedNode) -> anyhow::Result<()> {
        if !self
            .seen
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.step)
        {
            return Ok(());
        }
        daned_sign::validate::check_node(self.origin, node, &self.keys, self.now)
            .with_context(|| format!("{name}: the signed node does not validate"))?;
        let signed = node.rrsets.iter().filter(|s| !s.rrsigs.is_empty()).count();
        self.verified.fetch_add(signed, Ordering::Relaxed);
        Ok(())
    }
}
