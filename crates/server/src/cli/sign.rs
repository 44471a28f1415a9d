//! `daned sign` (hidden): signs a zone file offline, with the daemon's signing path.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use daned::clock::{Clock, SystemClock};
use daned::config::LogFormat;
use daned::zone::zonefile;
use daned_sign::hickory_proto::rr::{Name, RData};
use daned_sign::keys::KeyRole;

use crate::cli::init_tracing;

/// `daned sign`: signs `zone` into `out`.
pub(crate) fn run(
    zone: PathBuf,
    origin: Name,
    out: PathBuf,
    verify_all: bool,
) -> anyhow::Result<ExitCode> {
    init_tracing(LogFormat::Human, "info");
    sign_offline(&zone, &origin, &out, verify_all)?;
    Ok(ExitCode::SUCCESS)
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
