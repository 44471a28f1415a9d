//! `daned import-key` and `daned export-key`: key files in and out of the key directory.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use daned::config::Config;
use daned::zone::keys::store as keystore;
use daned::zone::persist::state;
use daned::zone::zonefile;
use daned_sign::hickory_proto::dnssec::DigestType;
use daned_sign::hickory_proto::rr::{Name, RData, Record};
use daned_sign::keys::KeyRole;

use crate::cli::selected_zones;

/// `daned import-key`: stores each key (a BIND pair once, whichever of its files is named) and
/// prints its DS. A key already in the key directory is reported and is not an error.
pub(crate) fn import(
    config: &Path,
    zone: &Name,
    role: Option<KeyRole>,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let zc = selected_zones(&config, Some(zone))?
        .into_iter()
        .next()
        .context("no such zone")?;
    let rng = ring::rand::SystemRandom::new();
    let mut out = io::stdout().lock();
    let mut seen = Vec::new();
    // Every file is read and checked before any is stored: one bad file imports nothing.
    let mut imports = Vec::new();
    for file in files {
        // Both halves of a BIND pair name one key.
        let id = match file.extension().and_then(|e| e.to_str()) {
            Some("key" | "private") => file.with_extension(""),
            _ => file.clone(),
        };
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        imports.push(keystore::read_key_to_import(file, &zc.origin, role, &rng)?);
    }
    for import in &imports {
        let key = &import.key;
        let what = format!(
            "key tag {}, algorithm {} ({}), role {}",
            key.key_tag(),
            u8::from(key.dnssec_algorithm()),
            key.algorithm(),
            state::role_name(key.role())
        );
        match keystore::import_key(&config.server.key_dir, &zc.origin, import, &rng)? {
            keystore::ImportOutcome::Imported(path) => writeln!(
                out,
                "imported {} as {} ({what})",
                import.source.display(),
                path.display()
            )?,
            keystore::ImportOutcome::AlreadyImported(path) => writeln!(
                out,
                "already imported: {} is {} ({what})",
                import.source.display(),
                path.display()
            )?,
        }
        if key.role() != KeyRole::Zsk {
            let ds = key.ds(&zc.origin, DigestType::SHA256)?;
            let record = Record::from_rdata(
                zc.origin.clone(),
                zc.signing.dnskey_ttl,
                RData::DNSSEC(daned_sign::hickory_proto::dnssec::rdata::DNSSECRData::DS(
                    ds,
                )),
            );
            zonefile::write_records(std::iter::once(&record), &mut out)?;
        }
    }
    // Key files are adopted only while the zone has no key records (its first start, or an
    // upgrade); afterwards the lifecycle owns the key set and an unknown file is not used.
    let has_records = daned::zone::persist::state::load(&config.server.state_dir, &zc.origin)?
        .is_some_and(|st| !st.keys.is_empty());
    if has_records {
        writeln!(
            out,
            "; warning: zone {} already has key records in {}: `daned serve` adopts key files \
             only before the zone's first start, so it will NOT use the keys imported now",
            zc.origin,
            config.server.state_dir.display()
        )?;
    } else {
        writeln!(
            out,
            "; `daned serve` adopts the imported keys at its next start, as active keys (a \
             reload does not re-read keys)"
        )?;
    }
    // RFC 6840 §5.11 / RFC 4035 §2.2: every algorithm in the DNSKEY RRset signs the DNSKEY
    // RRset and all other RRsets, so each needs a key for both jobs.
    let keys = keystore::load_keys(&config.server.key_dir, &zc.origin, &rng)?;
    let mut algorithms = Vec::new();
    for key in &keys {
        if !algorithms.contains(&key.key.algorithm()) {
            algorithms.push(key.key.algorithm());
        }
    }
    for algorithm in algorithms {
        let of_alg = || keys.iter().filter(move |k| k.key.algorithm() == algorithm);
        let signs_dnskey = of_alg().any(|k| k.key.role() != KeyRole::Zsk);
        let signs_zone = of_alg().any(|k| k.key.role() != KeyRole::Ksk);
        if !(signs_dnskey && signs_zone) {
            let missing = if signs_dnskey { "ZSK" } else { "KSK" };
            let _ = writeln!(
                io::stderr(),
                "daned: warning: zone {}: {algorithm} keys have no {missing} (or CSK) in {}; the \
                 zone cannot be signed completely with them until one is there",
                zc.origin,
                config.server.key_dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `daned export-key`: writes the key as a BIND pair.
pub(crate) fn export(
    config: &Path,
    zone: &Name,
    key_tag: u16,
    out_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let zc = selected_zones(&config, Some(zone))?
        .into_iter()
        .next()
        .context("no such zone")?;
    let exported = keystore::export_key(
        &config.server.key_dir,
        &zc.origin,
        key_tag,
        zc.signing.dnskey_ttl,
        out_dir,
        &ring::rand::SystemRandom::new(),
    )?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "exported {} as {} and {}",
        exported.from.display(),
        exported.key_file.display(),
        exported.private_file.display()
    )?;
    Ok(ExitCode::SUCCESS)
}
