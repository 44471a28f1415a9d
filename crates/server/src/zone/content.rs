//! A zone's content: the zone file as read, and the TLSA RRsets its bindings generate; what is
//! signed is the two composed.

use std::collections::BTreeMap;

use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::keys::SigningKey;
use daned_sign::sign::KeyUse;
use daned_sign::zone::{Rrset, RrsetChange, Zone, canonical_name, canonical_rdata};
use ring::digest;

use crate::config::{Denial, ZoneConfig};
use crate::zone::tlsa::rollover::Observation;
use crate::zone::zonefile::{self, ZoneFileError};

use crate::zone::{Binding, ZoneError, every_certificate, read_certificate, read_next_key};

/// The zone file's content, with the warnings found while reading it.
pub struct Content {
    /// The records of the zone file.
    pub zone: Zone,
    /// Non-fatal problems (file and line).
    pub warnings: Vec<ZoneFileError>,
}

/// Reads the zone file. A binding's owner that already has TLSA records in the file is an
/// error: one of the two would silently win.
///
/// # Errors
///
/// Zone file errors; a binding owner with TLSA records in the file.
pub fn load_base(cfg: &ZoneConfig) -> Result<Content, ZoneError> {
    let loaded = zonefile::load_zone(&cfg.file, &cfg.origin, &cfg.limits)?;
    for binding in &cfg.tlsa {
        for owner in &binding.owners {
            if loaded.zone.get(owner, RecordType::TLSA).is_some() {
                return Err(ZoneError::Binding {
                    path: cfg.file.clone(),
                    binding: binding.name.clone(),
                    reason: format!(
                        "{} already has TLSA records in the zone file; remove them or the binding",
                        canonical_name(owner)
                    ),
                });
            }
        }
    }
    Ok(Content {
        zone: loaded.zone,
        warnings: loaded.warnings,
    })
}

/// One TLSA RRset per binding owner, with the records each binding publishes (several
/// bindings on one owner share the RRset; its TTL is the smallest).
///
/// # Errors
///
/// [`ZoneError::Binding`] if an RRset cannot be built.
pub fn generated_rrsets(
    cfg: &ZoneConfig,
    bindings: &[Binding],
) -> Result<BTreeMap<Name, Rrset>, ZoneError> {
    let mut generated: BTreeMap<Name, (u32, Vec<RData>, &str)> = BTreeMap::new();
    for binding in bindings {
        let published = binding.state.published();
        if published.is_empty() {
            continue;
        }
        for owner in &binding.cfg.owners {
            let entry = generated.entry(canonical_name(owner)).or_insert((
                binding.cfg.ttl,
                Vec::new(),
                &binding.cfg.name,
            ));
            entry.0 = entry.0.min(binding.cfg.ttl);
            entry
                .1
                .extend(published.iter().map(|r| RData::TLSA(r.to_tlsa())));
        }
    }
    generated
        .into_iter()
        .map(|(owner, (ttl, rdatas, name))| {
            Rrset::new(&owner, RecordType::TLSA, ttl, rdatas)
                .map(|rrset| (owner, rrset))
                .map_err(|e| ZoneError::Binding {
                    path: cfg.file.clone(),
                    binding: name.to_string(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

/// The zone file's records plus the generated TLSA RRsets.
///
/// # Errors
///
/// [`ZoneError::Binding`] if an RRset cannot be inserted (an owner outside the zone).
pub fn compose(
    cfg: &ZoneConfig,
    base: &Zone,
    generated: &BTreeMap<Name, Rrset>,
) -> Result<Zone, ZoneError> {
    let mut zone = base.clone();
    for rrset in generated.values() {
        zone.insert(rrset.clone()).map_err(|e| ZoneError::Binding {
            path: cfg.file.clone(),
            binding: String::new(),
            reason: e.to_string(),
        })?;
    }
    Ok(zone)
}

/// The changes that turn the generated TLSA RRsets `old` into `new`: what a certificate or
/// timer update changes, found without looking at the rest of the zone.
pub(crate) fn generated_changes(
    old: &BTreeMap<Name, Rrset>,
    new: &BTreeMap<Name, Rrset>,
) -> Vec<RrsetChange> {
    let mut changes = Vec::new();
    for (owner, rrset) in old {
        match new.get(owner) {
            None => changes.push(RrsetChange::remove(owner.clone(), RecordType::TLSA)),
            Some(n) if n != rrset => changes.push(RrsetChange::put(n.clone())),
            Some(_) => {}
        }
    }
    for (owner, rrset) in new {
        if !old.contains_key(owner) {
            changes.push(RrsetChange::put(rrset.clone()));
        }
    }
    changes
}

/// The content a first start would publish now: the zone file plus each binding's records as
/// read from its files, without any saved rollover state (for `daned check`).
///
/// # Errors
///
/// Zone file errors, unusable certificates or next-key files.
pub fn preview_content(cfg: &ZoneConfig, now: u32) -> Result<Zone, ZoneError> {
    let base = load_base(cfg)?;
    let mut bindings = Vec::with_capacity(cfg.tlsa.len());
    for (binding_cfg, source) in every_certificate(cfg) {
        let mut binding = Binding::new(binding_cfg, source, None, !cfg.secondaries.is_empty());
        let current = Some(read_certificate(binding_cfg, binding.certificate(), now)?.record);
        let next = read_next_key(binding_cfg, binding.certificate())?;
        let timing = binding.timing();
        binding
            .state
            .observe(now, &Observation { current, next }, &timing);
        bindings.push(binding);
    }
    compose(cfg, &base.zone, &generated_rrsets(cfg, &bindings)?)
}

/// SHA-256 over a set of RRsets in canonical form (owner, type, TTL, RDATA).
pub fn rrsets_digest<'r>(rrsets: impl IntoIterator<Item = &'r Rrset>) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for rrset in rrsets {
        ctx.update(rrset.name().to_ascii().as_bytes());
        ctx.update(&u16::from(rrset.rtype()).to_be_bytes());
        ctx.update(&rrset.ttl().to_be_bytes());
        for rdata in rrset.rdatas() {
            // Encoding an RDATA that Rrset::new already encoded cannot fail; fall back to its
            // text form to stay total.
            let wire = canonical_rdata(rdata).unwrap_or_else(|_| rdata.to_string().into_bytes());
            ctx.update(&(wire.len() as u32).to_be_bytes());
            ctx.update(&wire);
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The bytes a key's use adds to a digest: to [`content_digest`] (for a use other than
/// steady) and to the kept signed zone's fingerprint.
pub(crate) fn key_use_bytes(usage: KeyUse) -> [u8; 5] {
    [
        b'u',
        u8::from(usage.publish),
        u8::from(usage.sign_keys),
        u8::from(usage.sign_zone),
        u8::from(usage.cds),
    ]
}

/// Hex SHA-256 of what a serial stands for: the zone file's content (its digest, computed once
/// per read), the generated TLSA RRsets, the keys' DNSKEY records and the NSEC3 parameters
/// (an NSEC zone adds nothing, so its digest is the one it had before NSEC3 existed). Cheap for
/// a certificate update: the zone file's part is not hashed again.
///
/// A key used as [`KeyUse::steady`] adds its DNSKEY only (the digest of before key rollovers);
/// any other use (a key being rolled, CDS published) adds the use too.
pub fn content_digest<'k>(
    base_digest: &[u8; 32],
    generated: &BTreeMap<Name, Rrset>,
    keys: impl IntoIterator<Item = (&'k SigningKey, KeyUse)>,
    denial: Denial,
) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(base_digest);
    ctx.update(&rrsets_digest(generated.values()));
    for (key, usage) in keys {
        ctx.update(key.dnskey().to_string().as_bytes());
        if usage != KeyUse::steady(key.role()) {
            ctx.update(&key_use_bytes(usage));
        }
    }
    if let Denial::Nsec3(params) = denial {
        // A switch between NSEC and NSEC3 changes the zone, so it moves the serial.
        ctx.update(b"nsec3");
        ctx.update(&params.iterations.to_be_bytes());
        ctx.update(params.salt.as_slice());
    }
    data_encoding::HEXLOWER.encode(ctx.finish().as_ref())
}

/// The serial the zone file asks for.
pub(crate) fn file_serial(zone: &Zone) -> u32 {
    match zone
        .soa()
        .and_then(|s| s.records().first())
        .map(|r| &r.data)
    {
        Some(RData::SOA(soa)) => soa.serial,
        _ => 0,
    }
}
