//! `daned ds`: the DS (or DNSKEY) records of the zones' keys, for the parent.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::bail;
use daned::config::{Config, LogFormat};
use daned::zone::keys::store as keystore;
use daned::zone::persist::state;
use daned::zone::zonefile;
use daned_sign::hickory_proto::dnssec::DigestType;
use daned_sign::hickory_proto::rr::{Name, RData, Record};
use daned_sign::keys::KeyRole;

use crate::cli::{ConfigArg, DigestArg, init_tracing, selected_zones};

/// `daned ds`: prints the DS records the parent should hold (or a trust-anchor block, or the
/// DNSKEYs).
pub(crate) fn run(
    config: ConfigArg,
    zone: Option<Name>,
    trust_anchor: bool,
    digest: DigestArg,
    dnskey: bool,
) -> anyhow::Result<ExitCode> {
    let digest = match digest {
        DigestArg::Sha256 => DigestType::SHA256,
        DigestArg::Sha384 => DigestType::SHA384,
    };
    init_tracing(LogFormat::Human, "warn");
    let config = Config::load(&config.config)?;
    let mut out = io::stdout().lock();
    if trust_anchor {
        writeln!(out, "trust-anchors {{")?;
    }
    for zc in selected_zones(&config, zone.as_ref())? {
        let keys = keystore::load_keys(
            &config.server.key_dir,
            &zc.origin,
            &ring::rand::SystemRandom::new(),
        )?;
        if keys.is_empty() {
            bail!(
                "zone {}: no key in {} yet; `daned serve` creates the zone's keys on first start",
                zc.origin,
                config.server.key_dir.display()
            );
        }
        // With key records, only the keys whose DS the parent should hold (ready or
        // active), as the CDS names them: in an algorithm roll the DS changes from the
        // old keys to the new ones (RFC 6781 §4.1.4), so an active key of the old
        // algorithm is left out once a successor of another algorithm is ready.
        // Without records (before the first start of this version), every KSK/CSK:
        // they are adopted as active.
        let records = state::load(&config.server.state_dir, &zc.origin)?
            .map(|st| st.keys)
            .unwrap_or_default();
        let superseded = |r: &state::KeyState| {
            r.state == "active"
                && records
                    .iter()
                    .any(|o| o.role != "zsk" && o.state == "ready" && o.algorithm != r.algorithm)
        };
        let wanted = |stored: &keystore::StoredKey| {
            let name = stored.path.file_name().and_then(|n| n.to_str());
            records.is_empty()
                || records.iter().any(|r| {
                    Some(r.file.as_str()) == name
                        && matches!(r.state.as_str(), "ready" | "active")
                        && !superseded(r)
                })
        };
        for stored in keys
            .iter()
            .filter(|k| k.key.role() != KeyRole::Zsk && wanted(k))
        {
            if dnskey {
                let record = Record::from_rdata(
                    zc.origin.clone(),
                    zc.signing.dnskey_ttl,
                    RData::DNSSEC(
                        daned_sign::hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(
                            stored.key.dnskey().clone(),
                        ),
                    ),
                );
                zonefile::write_records(std::iter::once(&record), &mut out)?;
                continue;
            }
            let ds = stored.key.ds(&zc.origin, digest)?;
            if trust_anchor {
                writeln!(
                    out,
                    "\t\"{}\" static-ds {} {} {} \"{}\";",
                    zc.origin,
                    ds.key_tag(),
                    u8::from(ds.algorithm()),
                    u8::from(ds.digest_type()),
                    data_encoding::HEXUPPER.encode(ds.digest())
                )?;
            } else {
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
    }
    if trust_anchor {
        writeln!(out, "}};")?;
    }
    Ok(ExitCode::SUCCESS)
}
