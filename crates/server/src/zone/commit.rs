//! The one path every new version takes: computed on copies, validated, its state written and
//! fsynced, and only then installed; a failed write changes nothing and is retried.

use std::collections::BTreeMap;
use std::sync::Arc;

use daned_sign::hickory_proto::dnssec::rdata::DNSSECRData;
use daned_sign::hickory_proto::rr::{Name, RData, Record};
use daned_sign::serial::{next_serial, serial_gt};
use daned_sign::sign::{self, KeyUse};
use daned_sign::zone::{Rrset, SignedZone, Zone, ZoneDelta};
use ring::rand::SecureRandom;

use crate::zone::persist::state::{self, ZoneState};
use crate::zone::tlsa::rollover::Event;
use crate::zone::{
    Binding, Files, KeyEntry, MAX_UNREPORTED, Mode, WRITE_RETRY_SECS, WriteRetry, ZoneError,
    ZoneRuntime, compose, content_digest, file_serial, generated_changes, generated_rrsets,
    log_events, max_ttl, probe_targets, rrsets_digest, signer_keys, used_keys, with_ctx, zone_keys,
};

impl ZoneRuntime {
    /// [`Self::update`] over the zone file content already read, counting a failure.
    pub(super) fn update_from_base(
        &mut self,
        files: Option<Files<'_>>,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.update(None, files, now, rng, false)
            .inspect_err(|e| self.note_failure(e))
    }

    /// Counts a failed update and keeps its error for `daned status`.
    pub(super) fn note_failure(&mut self, error: &ZoneError) {
        self.counters.failed_updates += 1;
        self.last_error = Some(error.to_string());
    }

    /// The one path every content change takes: rollover states advanced on copies, the
    /// changes found, only the difference signed, and everything committed together once
    /// signing succeeded.
    ///
    /// With a new zone file content (`new_base`), the whole content is composed and diffed
    /// (the file was read whole anyway). Without, only the generated TLSA RRsets can change, so
    /// only they are compared and patched in: a certificate update costs the same at 1k and
    /// 100k names.
    ///
    /// `resign` signs a new version even when the content did not change (the denial of
    /// existence or the DNSKEY TTL of the configuration did: [`sign::apply_changes`] then signs
    /// the whole zone again).
    ///
    /// `files` says which bindings observe their files: every one (read from disk), those
    /// that use a changed file (its content given), or none (`None`: timers only). The others
    /// run their timers.
    pub(super) fn update(
        &mut self,
        new_base: Option<Zone>,
        files: Option<Files<'_>>,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
        resign: bool,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let mut bindings = self.bindings.clone();
        let mut all_events = Vec::new();
        let mut new_problems = 0;
        let mut observed = Vec::with_capacity(bindings.len());
        for binding in &mut bindings {
            let mut events = binding.apply_propagation(&self.propagated);
            let files = files.filter(|files| match files {
                Files::Read => true,
                Files::Changed(path, _) => binding.uses(path),
            });
            events.extend(match files {
                Some(files) => {
                    let (events, new_problem) = binding.observe(&self.cfg.origin, now, files);
                    new_problems += u64::from(new_problem);
                    events
                }
                None => binding.tick(now),
            });
            observed.push(files.is_some());
            all_events.push((binding.key(), events));
        }
        let generated = generated_rrsets(&self.cfg, &bindings)?;
        let (changes, new_content, base_digest) = match new_base {
            Some(base) => {
                let content = compose(&self.cfg, &base, &generated)?;
                let changes = self.content.diff(&content);
                (changes, Some(content), rrsets_digest(base.rrsets()))
            }
            None => (
                generated_changes(&self.generated, &generated),
                None,
                self.base_digest,
            ),
        };
        let wanted = file_serial(new_content.as_ref().unwrap_or(&self.content));
        let current = self.signed.serial();
        let version = if changes.is_empty() && !serial_gt(wanted, current) && !resign {
            None
        } else {
            let serial = next_serial(current, wanted);
            let keys = zone_keys(&self.entries, &self.signed_with);
            let (signed, delta) = with_ctx(&self.cfg, &keys, now, rng, |ctx| {
                sign::apply_changes(ctx, &self.signed, &changes, serial)
            })
            .map_err(|source| ZoneError::Sign {
                origin: self.cfg.origin.clone(),
                source,
            })?;
            self.validate(&signed, &delta, now, &self.entries.clone())?;
            Some((signed, delta))
        };
        let serial = version
            .as_ref()
            .map_or(current, |(signed, _)| signed.serial());
        for binding in &mut bindings {
            // A key staged just now waits for the secondaries to serve this serial.
            binding.state.published_in(serial);
        }
        let state_changed = bindings
            .iter()
            .zip(&self.bindings)
            .any(|(new, old)| new.state != old.state);
        if version.is_some() || state_changed {
            // Durable before published: nothing below runs unless the state is on disk.
            let st = self.state_of(
                serial,
                &base_digest,
                &generated,
                &self.entries,
                &self.signed_with,
                &bindings,
            );
            self.write_state(&st, now, new_content.is_some())?;
        }
        // Commit everything together.
        let delta = version.map(|(signed, delta)| {
            self.install(signed, now, &delta);
            delta
        });
        match new_content {
            Some(content) => {
                self.max_ttl = max_ttl(&content);
                self.content = content;
            }
            None => {
                for change in &changes {
                    match &change.rrset {
                        // The owners lie inside the zone: checked when the config was read and
                        // again when the content was first composed, so insert cannot fail.
                        Some(rrset) => {
                            self.max_ttl = self.max_ttl.max(rrset.ttl());
                            let _ = self.content.insert(rrset.clone());
                        }
                        None => {
                            self.content.remove(&change.name, change.rtype);
                        }
                    }
                }
            }
        }
        self.base_digest = base_digest;
        for ((new, old), observed) in bindings.iter_mut().zip(&self.bindings).zip(observed) {
            // New records, or a certificate file that changed (a renewal that kept the key
            // too): look at what the servers present now.
            if new.state != old.state || observed {
                new.probed.due_now = true;
            }
        }
        self.bindings = bindings;
        self.generated = generated;
        for binding in &mut self.bindings {
            binding.probed.targets = probe_targets(&binding.cfg, &self.content);
        }
        self.counters.certificate_errors += new_problems;
        for (name, events) in &all_events {
            self.counters.unsafe_switches += events
                .iter()
                .filter(|e| matches!(e, Event::UnsafeSwitch { .. }))
                .count() as u64;
            log_events(&self.cfg.origin, name, events);
        }
        self.unreported.extend(
            all_events
                .into_iter()
                .flat_map(|(name, events)| events.into_iter().map(move |e| (name.clone(), e))),
        );
        let excess = self.unreported.len().saturating_sub(MAX_UNREPORTED);
        self.unreported.drain(..excess);
        self.last_error = None;
        Ok(delta)
    }

    /// Makes `signed` the served version, published at `now` (the manager's tracker counts
    /// every secondary's wait for its serial from here; without secondaries it is propagated
    /// now). Every path that signs a new version ends here. `delta` is what changed from the
    /// served version: the earliest RRSIG expiration follows from it without a walk over the
    /// whole zone (which cost a rotation of a 100k-name zone about 30 ms), unless it removed
    /// the signature that held the earliest one.
    pub(super) fn install(&mut self, signed: SignedZone, now: u32, delta: &ZoneDelta) {
        let serial = signed.serial();
        self.earliest_expiration = earliest_after(self.earliest_expiration, delta)
            .unwrap_or_else(|| signed.earliest_expiration());
        self.signed = Arc::new(signed);
        if self.cfg.secondaries.is_empty() {
            self.propagated.served_alone(serial, now);
        }
    }

    /// Writes the state of the version served now.
    pub(super) fn persist(&self) -> Result<(), ZoneError> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        let st = self.state_of(
            self.signed.serial(),
            &self.base_digest,
            &self.generated,
            &self.entries,
            &self.signed_with,
            &self.bindings,
        );
        state::store(&self.state_dir, &self.cfg.origin, &st)?;
        Ok(())
    }

    /// Writes the state with the key records `entries` (signed with `signed_with`) at
    /// `serial`, before anything uses them. On failure the keys this step created are kept
    /// for the next try (with the `spare` ones), so a write retried every few seconds does not
    /// fill key-dir, and the failure is counted.
    pub(super) fn write_key_records(
        &mut self,
        serial: u32,
        entries: &[KeyEntry],
        signed_with: &[(usize, KeyUse)],
        spare: &[KeyEntry],
        now: u32,
    ) -> Result<(), ZoneError> {
        let st = self.state_of(
            serial,
            &self.base_digest,
            &self.generated,
            entries,
            signed_with,
            &self.bindings,
        );
        self.write_state(&st, now, false).inspect_err(|write| {
            let mut keep = spare.to_vec();
            keep.extend(entries.iter().skip(self.entries.len()).cloned());
            self.unrecorded = keep;
            self.note_failure(write);
        })
    }

    /// The state file's content for a version at `serial` made of these parts.
    pub(super) fn state_of(
        &self,
        serial: u32,
        base_digest: &[u8; 32],
        generated: &BTreeMap<Name, Rrset>,
        entries: &[KeyEntry],
        signed_with: &[(usize, KeyUse)],
        bindings: &[Binding],
    ) -> ZoneState {
        ZoneState {
            serial,
            content_digest: content_digest(
                base_digest,
                generated,
                used_keys(entries, signed_with),
                self.cfg.signing.denial,
            ),
            bindings: bindings
                .iter()
                .map(|b| (b.key(), b.state.clone()))
                .collect(),
            keys: entries.iter().map(KeyEntry::stored).collect(),
        }
    }

    /// Writes `st`, the state of a version not installed yet: it is installed only once this
    /// succeeded. A failure schedules a new try of the change in [`WRITE_RETRY_SECS`]
    /// ([`Self::retry_failed_write`]); `zone_file` says whether the change needs the zone file
    /// read again.
    pub(super) fn write_state(
        &mut self,
        st: &ZoneState,
        now: u32,
        zone_file: bool,
    ) -> Result<(), ZoneError> {
        if self.mode == Mode::ReadOnly {
            return Ok(());
        }
        state::store(&self.state_dir, &self.cfg.origin, st).map_err(|e| {
            self.write_retry = Some(WriteRetry {
                at: now.wrapping_add(WRITE_RETRY_SECS),
                zone_file: zone_file || self.write_retry.is_some_and(|r| r.zone_file),
            });
            ZoneError::State(e)
        })
    }

    /// Checks a new version before it is installed ([`daned_sign::validate::validate_delta`]);
    /// a failure is counted.
    pub(super) fn validate(
        &mut self,
        signed: &SignedZone,
        delta: &ZoneDelta,
        now: u32,
        entries: &[KeyEntry],
    ) -> Result<(), ZoneError> {
        let signers = signer_keys(entries);
        let started = std::time::Instant::now();
        let result = daned_sign::validate::validate_delta(signed, delta, now, &signers);
        tracing::debug!(
            zone = %self.cfg.origin,
            serial = signed.serial(),
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = result.is_ok(),
            "new version validated"
        );
        result.map_err(|source| {
            self.counters.validation_failures += 1;
            ZoneError::Validation {
                origin: self.cfg.origin.clone(),
                serial: signed.serial(),
                source,
            }
        })
    }
}

/// The earliest RRSIG expiration after `delta`, from the one before it: the earlier of it and
/// the added signatures' (RFC 1982 order). `None` when it cannot be told that way: there was
/// none before, or `delta` removed a signature expiring then (another may remain, or not).
fn earliest_after(before: Option<u32>, delta: &ZoneDelta) -> Option<Option<u32>> {
    let before = before?;
    if delta
        .removed
        .iter()
        .filter_map(rrsig_expiration)
        .any(|expiration| expiration == before)
    {
        return None;
    }
    let earliest = delta
        .added
        .iter()
        .filter_map(rrsig_expiration)
        .fold(before, |a, b| if serial_gt(a, b) { b } else { a });
    Some(Some(earliest))
}

fn rrsig_expiration(record: &Record) -> Option<u32> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().sig_expiration.get()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use daned_sign::hickory_proto::dnssec::Algorithm;
    use daned_sign::hickory_proto::dnssec::rdata::{RRSIG, SigInput};
    use daned_sign::hickory_proto::rr::{RecordType, SerialNumber};
    use daned_sign::zone::ZoneDelta;

    use super::*;

    fn sig(expiration: u32) -> Record {
        let input = SigInput {
            type_covered: RecordType::A,
            algorithm: Algorithm::ECDSAP256SHA256,
            num_labels: 2,
            original_ttl: 300,
            sig_expiration: SerialNumber::new(expiration),
            sig_inception: SerialNumber::new(expiration.wrapping_sub(86_400)),
            key_tag: 1,
            signer_name: Name::root(),
        };
        Record::from_rdata(
            Name::root(),
            300,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, vec![0; 64]))),
        )
    }

    fn delta(removed: &[u32], added: &[u32]) -> ZoneDelta {
        ZoneDelta {
            from_serial: 1,
            to_serial: 2,
            removed: removed.iter().copied().map(sig).collect(),
            added: added.iter().copied().map(sig).collect(),
        }
    }

    #[test]
    fn rfc1982_earliest_expiration_follows_a_delta_or_asks_for_a_walk() {
        // An added signature that expires earlier, or later (RFC 1982: 5 is after u32::MAX - 5).
        assert_eq!(
            earliest_after(Some(100), &delta(&[200], &[50])),
            Some(Some(50))
        );
        assert_eq!(
            earliest_after(Some(100), &delta(&[200], &[300])),
            Some(Some(100))
        );
        assert_eq!(
            earliest_after(Some(u32::MAX - 5), &delta(&[], &[5])),
            Some(Some(u32::MAX - 5))
        );
        // The earliest one removed, or none known: only a walk of the zone can tell.
        assert_eq!(earliest_after(Some(100), &delta(&[100], &[300])), None);
        assert_eq!(earliest_after(None, &delta(&[], &[300])), None);
    }
}
