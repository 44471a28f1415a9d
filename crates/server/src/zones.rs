//! One zone at run time: its content (zone file + TLSA records from certificates), its keys, its
//! persisted state and its current signed version.
//!
//! Everything here is synchronous and runs off the query path (the manager calls it on a
//! blocking thread); queries only ever see the `Arc<SignedZone>` it publishes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use daned_sign::SignError;
use daned_sign::hickory_proto::rr::rdata::TLSA;
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::keys::{KeyRole, SigningKey};
use daned_sign::serial::{next_serial, serial_gt};
use daned_sign::sign::{self, SignCtx};
use daned_sign::tlsa;
use daned_sign::zone::{Rrset, SignedZone, Zone, ZoneDelta, canonical_rdata};
use ring::digest;
use ring::rand::SecureRandom;

use crate::config::{TlsaBinding, ZoneConfig};
use crate::keystore::{self, KeyStoreError};
use crate::state::{self, StateError, ZoneState};
use crate::zonefile::{self, ZoneFileError, ZoneFileErrors};

/// Why a zone could not be loaded, signed or reloaded. The previous signed version, if any, is
/// untouched and still served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    /// The zone file has errors (each with file and line).
    #[error("{0}")]
    ZoneFile(#[from] ZoneFileErrors),
    /// A certificate of a TLSA binding is unusable.
    #[error("{}: TLSA binding {binding:?}: {reason}", path.display())]
    Certificate {
        /// The certificate file.
        path: PathBuf,
        /// The binding's name.
        binding: String,
        /// What is wrong.
        reason: String,
    },
    /// A TLSA binding clashes with the zone file.
    #[error("{}: TLSA binding {binding:?}: {reason}", path.display())]
    Binding {
        /// The zone file.
        path: PathBuf,
        /// The binding's name.
        binding: String,
        /// What is wrong.
        reason: String,
    },
    /// A key file problem.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// A state file problem.
    #[error(transparent)]
    State(#[from] StateError),
    /// The zone has no key and keys may not be created here.
    #[error("zone {origin}: no key in {}; `daned serve` creates one on first start", dir.display())]
    NoKeys {
        /// The zone.
        origin: Name,
        /// The key directory.
        dir: PathBuf,
    },
    /// Signing failed.
    #[error("zone {origin}: {source}")]
    Sign {
        /// The zone.
        origin: Name,
        /// The signer's error.
        source: SignError,
    },
}

/// What the runtime may do to the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Serving: create a key when there is none, persist the serial.
    Serve,
    /// Read-only (`check`, `dump`, `ds`): never write anything.
    ReadOnly,
}

/// The unsigned content of a zone, with the warnings found while building it.
pub struct Content {
    /// The records to sign.
    pub zone: Zone,
    /// Non-fatal problems (file and line).
    pub warnings: Vec<ZoneFileError>,
}

/// Builds the unsigned content: the zone file plus one TLSA RRset per owner named by the
/// bindings (several bindings on one owner share the RRset).
///
/// # Errors
///
/// Zone file errors, unreadable or unusable certificates, a binding whose owner also has TLSA
/// records in the zone file.
pub fn build_content(cfg: &ZoneConfig) -> Result<Content, ZoneError> {
    let loaded = zonefile::load_zone(&cfg.file, &cfg.origin)?;
    let mut zone = loaded.zone;
    let mut generated: BTreeMap<Name, (u32, Vec<RData>, &TlsaBinding)> = BTreeMap::new();
    for binding in &cfg.tlsa {
        let rdata = RData::TLSA(tlsa_for_binding(binding)?);
        for owner in &binding.owners {
            let owner = daned_sign::zone::canonical_name(owner);
            if zone.get(&owner, RecordType::TLSA).is_some() {
                return Err(ZoneError::Binding {
                    path: cfg.file.clone(),
                    binding: binding.name.clone(),
                    reason: format!(
                        "{owner} already has TLSA records in the zone file; remove them or the binding"
                    ),
                });
            }
            let entry = generated
                .entry(owner)
                .or_insert((binding.ttl, Vec::new(), binding));
            entry.0 = entry.0.min(binding.ttl);
            entry.1.push(rdata.clone());
        }
    }
    for (owner, (ttl, rdatas, binding)) in generated {
        let bad = |reason: String| ZoneError::Binding {
            path: cfg.file.clone(),
            binding: binding.name.clone(),
            reason,
        };
        let rrset =
            Rrset::new(&owner, RecordType::TLSA, ttl, rdatas).map_err(|e| bad(e.to_string()))?;
        zone.insert(rrset).map_err(|e| bad(e.to_string()))?;
    }
    Ok(Content {
        zone,
        warnings: loaded.warnings,
    })
}

/// The TLSA RDATA of one binding, read from its certificate file now.
///
/// # Errors
///
/// [`ZoneError::Certificate`] naming the file.
pub fn tlsa_for_binding(binding: &TlsaBinding) -> Result<TLSA, ZoneError> {
    let bad = |reason: String| ZoneError::Certificate {
        path: binding.certificate.clone(),
        binding: binding.name.clone(),
        reason,
    };
    let data = std::fs::read(&binding.certificate).map_err(|e| bad(e.to_string()))?;
    let chain = tlsa::parse_chain(&data).map_err(|e| bad(e.to_string()))?;
    tlsa::tlsa_from_chain(&chain, binding.spec).map_err(|e| bad(e.to_string()))
}

/// Hex SHA-256 over the content and the keys' DNSKEY records: what a serial stands for.
pub fn content_digest<'k>(zone: &Zone, keys: impl IntoIterator<Item = &'k SigningKey>) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for rrset in zone.rrsets() {
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
    for key in keys {
        ctx.update(key.dnskey().to_string().as_bytes());
    }
    data_encoding::HEXLOWER.encode(ctx.finish().as_ref())
}

/// The serial the zone file asks for.
fn file_serial(zone: &Zone) -> u32 {
    match zone
        .soa()
        .and_then(|s| s.records().first())
        .map(|r| &r.data)
    {
        Some(RData::SOA(soa)) => soa.serial,
        _ => 0,
    }
}

/// A zone being served.
pub struct ZoneRuntime {
    cfg: ZoneConfig,
    key_dir: PathBuf,
    state_dir: PathBuf,
    mode: Mode,
    keys: Vec<SigningKey>,
    key_files: Vec<PathBuf>,
    content: Zone,
    signed: Arc<SignedZone>,
    warnings: Vec<ZoneFileError>,
}

impl ZoneRuntime {
    /// Loads keys (creating a CSK in [`Mode::Serve`] when there is none), builds the content,
    /// chooses the serial from the persisted state and signs the zone.
    ///
    /// The serial: unchanged content keeps the persisted serial; changed content gets the zone
    /// file's serial if it is newer, else the persisted serial + 1.
    ///
    /// # Errors
    ///
    /// See [`ZoneError`].
    pub fn start(
        cfg: ZoneConfig,
        key_dir: PathBuf,
        state_dir: PathBuf,
        mode: Mode,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Self, ZoneError> {
        let mut keys = keystore::load_keys(&key_dir, &cfg.origin, rng)?;
        let content = build_content(&cfg)?;
        if keys.is_empty() {
            if mode == Mode::ReadOnly {
                return Err(ZoneError::NoKeys {
                    origin: cfg.origin.clone(),
                    dir: key_dir,
                });
            }
            let key = keystore::create_key(
                &key_dir,
                &cfg.origin,
                cfg.signing.algorithm,
                KeyRole::Csk,
                rng,
            )?;
            tracing::info!(zone = %cfg.origin, key_tag = key.key.key_tag(), path = %key.path.display(), "created signing key");
            keys.push(key);
        }
        let digest = content_digest(&content.zone, keys.iter().map(|k| &k.key));
        let wanted = file_serial(&content.zone);
        let serial = match state::load(&state_dir, &cfg.origin)? {
            Some(st) if st.content_digest == digest => st.serial,
            Some(st) => next_serial(st.serial, wanted),
            None => wanted,
        };
        let (keys, key_files): (Vec<SigningKey>, Vec<PathBuf>) =
            keys.into_iter().map(|k| (k.key, k.path)).unzip();
        let signed = sign_full(&cfg, &keys, &content.zone, serial, now, rng)?;
        let rt = Self {
            cfg,
            key_dir,
            state_dir,
            mode,
            keys,
            key_files,
            content: content.zone,
            signed: Arc::new(signed),
            warnings: content.warnings,
        };
        rt.persist(&digest)?;
        Ok(rt)
    }

    /// The zone's configuration.
    pub fn config(&self) -> &ZoneConfig {
        &self.cfg
    }

    /// The current signed version.
    pub fn signed(&self) -> &Arc<SignedZone> {
        &self.signed
    }

    /// The keys in use.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The files the keys were read from, in the order of [`Self::keys`].
    pub fn key_files(&self) -> &[PathBuf] {
        &self.key_files
    }

    /// Warnings from the last successful content build.
    pub fn warnings(&self) -> &[ZoneFileError] {
        &self.warnings
    }

    /// Re-reads the zone file and certificates. Unchanged content is a no-op (`None`, same
    /// serial); otherwise only what changed is re-signed and a new serial published.
    ///
    /// # Errors
    ///
    /// See [`ZoneError`]; on error nothing changes.
    pub fn reload(
        &mut self,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let content = build_content(&self.cfg)?;
        let changes = self.content.diff(&content.zone);
        let wanted = file_serial(&content.zone);
        let current = self.signed.serial();
        if changes.is_empty() && !serial_gt(wanted, current) {
            self.warnings = content.warnings;
            return Ok(None);
        }
        let serial = next_serial(current, wanted);
        let (signed, delta) = with_ctx(&self.cfg, &self.keys, now, rng, |ctx| {
            sign::apply_changes(ctx, &self.signed, &changes, serial)
        })
        .map_err(|source| ZoneError::Sign {
            origin: self.cfg.origin.clone(),
            source,
        })?;
        let digest = content_digest(&content.zone, &self.keys);
        self.content = content.zone;
        self.warnings = content.warnings;
        self.signed = Arc::new(signed);
        self.persist(&digest)?;
        Ok(Some(delta))
    }

    /// Renews the signatures that are due (see [`sign::refresh_signatures`]); `None` when none
    /// is.
    ///
    /// # Errors
    ///
    /// Signing or state errors; on error nothing changes.
    pub fn refresh(
        &mut self,
        now: u32,
        rng: &dyn SecureRandom,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let serial = self.signed.serial().wrapping_add(1);
        let result = with_ctx(&self.cfg, &self.keys, now, rng, |ctx| {
            sign::refresh_signatures(ctx, &self.signed, serial)
        })
        .map_err(|source| ZoneError::Sign {
            origin: self.cfg.origin.clone(),
            source,
        })?;
        let Some((signed, delta)) = result else {
            return Ok(None);
        };
        self.signed = Arc::new(signed);
        let digest = content_digest(&self.content, &self.keys);
        self.persist(&digest)?;
        Ok(Some(delta))
    }

    /// When (seconds since the epoch) the next signature refresh is due: the earliest RRSIG
    /// expiration minus the refresh margin. `None` when nothing is signed.
    pub fn next_refresh_at(&self) -> Option<u32> {
        self.signed
            .earliest_expiration()
            .map(|exp| exp.wrapping_sub(self.cfg.signing.policy.refresh))
    }

    /// The key directory.
    pub fn key_dir(&self) -> &PathBuf {
        &self.key_dir
    }

    fn persist(&self, digest: &str) -> Result<(), ZoneError> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        let st = ZoneState {
            serial: self.signed.serial(),
            content_digest: digest.to_string(),
        };
        state::store(&self.state_dir, &self.cfg.origin, &st)?;
        Ok(())
    }
}

fn sign_full(
    cfg: &ZoneConfig,
    keys: &[SigningKey],
    zone: &Zone,
    serial: u32,
    now: u32,
    rng: &dyn SecureRandom,
) -> Result<SignedZone, ZoneError> {
    with_ctx(cfg, keys, now, rng, |ctx| {
        sign::sign_zone(ctx, zone, serial)
    })
    .map_err(|source| ZoneError::Sign {
        origin: cfg.origin.clone(),
        source,
    })
}

fn with_ctx<T>(
    cfg: &ZoneConfig,
    keys: &[SigningKey],
    now: u32,
    rng: &dyn SecureRandom,
    f: impl FnOnce(&SignCtx<'_>) -> Result<T, SignError>,
) -> Result<T, SignError> {
    let ctx = SignCtx {
        now,
        policy: cfg.signing.policy,
        keys,
        dnskey_ttl: cfg.signing.dnskey_ttl,
        rng,
    };
    f(&ctx)
}
