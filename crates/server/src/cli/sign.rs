//! `daned sign` (hidden): signs a zone file offline, with the daemon's signing path.

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use daned::clock::{Clock, SystemClock};
use daned::config::LogFormat;
use daned::zone::zonefile;
use daned_sign::hickory_proto::rr::{Name, RData};
use daned_sign::keys::KeyRole;

use crate::cli::init_tracing;

/// How `daned sign` signs.
pub(crate) struct Options {
    /// Verify every signature afterwards, not only the start's sample.
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
    let signed = daned_sign::sign::sign_zone(&ctx, &loaded.zone, serial)
        .with_context(|| format!("zone {origin}"))?;
    let sign_done = started.elapsed();
    // What a start checks before serving (zones::START_VALIDATION_SAMPLE).
    daned_sign::validate::validate_sample(&signed, ctx.now, 2000, &[])
        .with_context(|| format!("zone {origin}"))?;
    let validated = started.elapsed();
    let verify_all_ms = if options.verify_all {
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
        threads = threads.get(),
        parse_ms = parsed.as_millis() as u64,
        sign_ms = (sign_done - parsed).as_millis() as u64,
        validate_ms = (validated - sign_done).as_millis() as u64,
        verify_all_ms,
        write_ms = (started.elapsed() - write_start).as_millis() as u64,
        "signed"
    );
    Ok(())
}
