//! `daned check`: the config, zone files, certificates and keys, every problem reported.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use daned::clock::{Clock, SystemClock};
use daned::config::{Config, ZoneConfig};
use daned::zone;
use daned::zone::keys::store as keystore;
use daned::zone::persist::state;
use daned::zone::zonefile;
use daned_sign::keys::KeyRole;

/// `daned check`: reports every problem it finds, not just the first.
pub(crate) fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(error) => {
            writeln!(out, "{error}")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut problems = 0usize;
    if let Err(error) = daned::daemon::privileges::RunAs::resolve(
        config.server.user.as_deref(),
        config.server.group.as_deref(),
    ) {
        writeln!(out, "{}: {error}", config.path.display())?;
        problems += 1;
    }
    for zc in &config.zones {
        let mut zone_ok = true;
        match zonefile::load_zone(&zc.file, &zc.origin, &zc.limits) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    writeln!(out, "warning: {warning}")?;
                }
            }
            Err(errors) => {
                for error in &errors.0 {
                    writeln!(out, "{error}")?;
                    problems += 1;
                }
                zone_ok = false;
            }
        }
        for binding in &zc.tlsa {
            for source in &binding.certificates {
                let read = zone::read_certificate(binding, source, SystemClock.now());
                if let Ok(read) = &read {
                    for advice in tlsa_advice(binding, source, &read.chain) {
                        writeln!(out, "warning: {advice}")?;
                    }
                }
                let errors = [read.err(), zone::read_next_key(binding, source).err()];
                for error in errors.into_iter().flatten() {
                    writeln!(out, "{error}")?;
                    problems += 1;
                    zone_ok = false;
                }
            }
        }
        match keystore::load_keys(
            &config.server.key_dir,
            &zc.origin,
            &ring::rand::SystemRandom::new(),
        ) {
            Ok(keys) if keys.is_empty() => writeln!(
                out,
                "note: zone {}: no key in {} yet; `daned serve` will create {}",
                zc.origin,
                config.server.key_dir.display(),
                match zc.keys.policy.mode {
                    daned_sign::lifecycle::KeyMode::Csk => "a CSK",
                    daned_sign::lifecycle::KeyMode::KskZsk => "a KSK and a ZSK",
                }
            )?,
            Ok(_) => {}
            Err(error) => {
                writeln!(out, "{error}")?;
                problems += 1;
                zone_ok = false;
            }
        }
        if let Err(error) = state::load(&config.server.state_dir, &zc.origin) {
            writeln!(out, "{error}")?;
            problems += 1;
            zone_ok = false;
        }
        if zone_ok
            && let Err(error) = zone::check_keys(
                zc,
                &config.server.key_dir,
                &config.server.state_dir,
                SystemClock.now(),
                &ring::rand::SystemRandom::new(),
            )
        {
            // What `serve` would refuse: a key the state's records need is missing, or a key
            // file does not hold the key its record names.
            writeln!(out, "{error}")?;
            problems += 1;
            zone_ok = false;
        }
        if zone_ok {
            // The whole content, bindings included, with the signer's own structural checks
            // (signed with a throwaway key; nothing is written).
            if let Err(error) = trial_sign(zc) {
                writeln!(out, "{error}")?;
                problems += 1;
            }
        }
    }
    if problems == 0 {
        writeln!(
            out,
            "{}: ok ({} zone{})",
            config.path.display(),
            config.zones.len(),
            if config.zones.len() == 1 { "" } else { "s" }
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(
            out,
            "{}: {problems} problem{}",
            config.path.display(),
            if problems == 1 { "" } else { "s" }
        )?;
        Ok(ExitCode::FAILURE)
    }
}

/// TLSA parameter choices that break at a renewal (RFC 7671 §5 and §8), as `daned check`
/// warns about them for one certificate of `binding`.
fn tlsa_advice(
    binding: &daned::config::TlsaBinding,
    source: &daned::config::CertificateSource,
    chain: &[Vec<u8>],
) -> Vec<String> {
    let spec = binding.spec;
    let label = format!(
        "{}: binding {:?} ({} {} {})",
        source.file.display(),
        binding.name,
        spec.usage,
        spec.selector,
        spec.matching
    );
    let mut advice = Vec::new();
    if spec.usage == 3 && spec.selector == 0 {
        advice.push(format!(
            "{label}: selector 0 publishes the whole certificate, which changes at every \
             renewal even when the key stays: each renewal is then a key change that must be \
             staged 2 x TTL ahead. `3 1 1` (the key alone) survives renewals that keep the key \
             (RFC 7671 §5.1, RFC 7672 §3.1.1)"
        ));
    }
    if matches!(spec.usage, 0 | 2)
        && let Some((subject, self_issued)) = chain
            .get(1)
            .and_then(|ta| daned_sign::dane::subject_and_self_issued(ta))
        && !self_issued
    {
        let rotating = [
            "Let's Encrypt",
            "ZeroSSL",
            "Google Trust Services",
            "Sectigo",
        ]
        .iter()
        .find(|ca| subject.contains(*ca));
        let why = match rotating {
            Some(ca) => {
                format!("{ca} issues from several intermediates and changes them without notice")
            }
            None => "a CA may issue the next certificate from another intermediate".to_owned(),
        };
        advice.push(format!(
            "{label}: the trust anchor is the intermediate {subject}; {why}, and a renewal \
                 issued by another one matches no record. Pin the root (put it in the chain \
                 file after the intermediate and publish it too) or use `3 1 1` with a staged \
                 next key (RFC 7671 §5.2.2, §8)"
        ));
    }
    advice
}

fn trial_sign(zc: &ZoneConfig) -> anyhow::Result<()> {
    let content = zone::preview_content(zc, SystemClock.now())?;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = daned_sign::keys::SigningKey::generate(zc.signing.algorithm, &rng)?;
    let key = daned_sign::keys::SigningKey::from_pkcs8(&pkcs8, KeyRole::Csk, &rng)?;
    let ctx = daned_sign::sign::SignCtx {
        now: SystemClock.now(),
        policy: zc.signing.policy,
        keys: &[daned_sign::sign::ZoneKey::steady(&key)],
        dnskey_ttl: zc.signing.dnskey_ttl,
        rng: &rng,
        denial: zc.signing.denial,
        threads: zc.signing.threads,
    };
    daned_sign::sign::sign_zone(&ctx, &content, 1)
        .with_context(|| format!("zone {}", zc.origin))?;
    Ok(())
}
