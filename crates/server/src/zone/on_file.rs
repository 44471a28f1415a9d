//! What a zone does when its files change: the zone file and the configuration (`daned reload`,
//! SIGHUP) and a certificate or next-key file the watcher reports.

use std::path::Path;

use daned_sign::zone::ZoneDelta;
use ring::rand::SecureRandom;

use crate::config::ZoneConfig;
use crate::fsutil::ReadErrorKind;
use crate::zone::{
    Binding, Content, Files, Propagated, ZoneError, ZoneRuntime, every_certificate, load_base,
    read_certificate, read_next_key,
};

impl ZoneRuntime {
    /// Re-reads the zone file and the certificates. Unchanged content is a no-op (`None`, same
    /// serial); otherwise only what changed is re-signed and a new serial published.
    ///
    /// # Errors
    ///
    /// See [`ZoneError`]; on error nothing changes.
    pub fn reload(
        &mut self,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let result = load_base(&self.cfg).and_then(|base| {
            let warnings = base.warnings;
            self.update(Some(base.zone), Some(Files::Read), now, rng, false)
                .map(|d| (d, warnings))
        });
        match result {
            Ok((delta, warnings)) => {
                self.warnings = warnings;
                Ok(delta)
            }
            Err(e) => {
                self.note_failure(&e);
                Err(e)
            }
        }
    }

    /// Applies a changed configuration of this zone (same origin; a `daned reload` of the
    /// config file) and re-reads the zone file and the certificates, like [`Self::reload`]:
    ///
    /// - bindings keep their rollover state by name (a changed certificate or TLSA parameter is
    ///   then observed like a certificate change); a new binding's certificate must be usable
    ///   now; a removed binding's records go;
    /// - `propagated` is what the secondaries serve under the new list (the manager's tracker,
    ///   reconfigured);
    /// - the zone is re-signed through the one update path when its content changed, or its
    ///   denial of existence or DNSKEY TTL did (then whole: [`daned_sign::sign::apply_changes`]);
    /// - the new signature timing applies to every signature made from now on and to the
    ///   refresh timer;
    /// - the key lifecycle sees the new key policy and algorithm at the next
    ///   [`Self::update_keys`], which the caller runs right after (an algorithm change starts
    ///   the RFC 6781 roll there).
    ///
    /// # Errors
    ///
    /// As [`Self::reload`], and an unusable certificate of a new binding. On error the
    /// previous configuration and version stay.
    pub fn reconfigure(
        &mut self,
        cfg: ZoneConfig,
        propagated: Propagated,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let prepared = self.prepare_config(&cfg, now);
        let result = prepared.and_then(|(base, bindings)| {
            let resign = cfg.signing.denial != self.cfg.signing.denial
                || cfg.signing.dnskey_ttl != self.cfg.signing.dnskey_ttl;
            let previous = (
                std::mem::replace(&mut self.cfg, cfg),
                std::mem::replace(&mut self.bindings, bindings),
                std::mem::replace(&mut self.propagated, propagated),
            );
            let result = self
                .update(Some(base.zone), Some(Files::Read), now, rng, resign)
                .and_then(|delta| {
                    if delta.is_none() {
                        // A binding removed, or settings the digest does not cover: the state
                        // file follows even when nothing was signed (a new version's write
                        // covered them already).
                        self.persist()?;
                    }
                    Ok(delta)
                });
            match result {
                Ok(delta) => {
                    self.warnings = base.warnings;
                    Ok(delta)
                }
                Err(e) => {
                    // `update` changes nothing on error: put the previous settings back.
                    (self.cfg, self.bindings, self.propagated) = previous;
                    Err(e)
                }
            }
        });
        result.inspect_err(|e| self.note_failure(e))
    }

    /// What [`Self::reconfigure`] swaps in for `cfg`: the zone file read and the bindings with
    /// the rollover state of the same-named ones.
    pub(super) fn prepare_config(
        &self,
        cfg: &ZoneConfig,
        now: u32,
    ) -> Result<(Content, Vec<Binding>), ZoneError> {
        let base = load_base(cfg)?;
        let mut bindings = Vec::with_capacity(cfg.tlsa.len());
        for (binding_cfg, source) in every_certificate(cfg) {
            let mut binding = Binding::new(binding_cfg, source, None, !cfg.secondaries.is_empty());
            let key = binding.key();
            match self.bindings.iter().find(|b| b.key() == key) {
                Some(old) => {
                    binding.state = old.state.clone();
                    binding.last_error = old.last_error.clone();
                    binding.family = old.family;
                    binding.not_after = old.not_after;
                    binding.probed = old.probed.clone();
                    binding.seen = old.seen.clone();
                }
                None => {
                    // Nothing good from before: the certificate must be usable now.
                    read_certificate(binding_cfg, binding.certificate(), now)?;
                    read_next_key(binding_cfg, binding.certificate())?;
                }
            }
            bindings.push(binding);
        }
        for old in &self.bindings {
            if !cfg.tlsa.iter().any(|b| b.name == old.cfg.name) {
                tracing::info!(zone = %cfg.origin, binding = %old.cfg.name, "TLSA binding removed from the configuration; its records are withdrawn");
            }
        }
        Ok((base, bindings))
    }

    /// Re-reads every binding's certificate and next-key file only, not the zone file (the
    /// retry of a failed write). See [`Self::reload`].
    ///
    /// # Errors
    ///
    /// Signing or state errors; on error nothing changes.
    pub fn update_bindings(
        &mut self,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.update_from_base(Some(Files::Read), now, rng)
    }

    /// A certificate or next-key file changed (a certificate watcher event): the bindings whose
    /// file `path` is observe `content`, what the watcher read (its bytes, or why it could not
    /// read them), parsed as [`read_certificate`] and [`read_next_key`] would parse the file,
    /// with their other file as last seen; no file is read. The other bindings run their
    /// timers as [`Self::tick_bindings`] does.
    ///
    /// # Errors
    ///
    /// Signing or state errors; on error nothing changes.
    pub fn file_changed(
        &mut self,
        path: &Path,
        content: Result<&[u8], &ReadErrorKind>,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.update_from_base(Some(Files::Changed(path, content)), now, rng)
    }
}
