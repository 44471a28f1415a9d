//! What a zone does on an operator's or a probe's word: a key action (`ds-seen`,
//! `key-rollover`, or the key lifecycle's own clock) and the TLS probe's results.

use daned_sign::lifecycle::{self, KeyRecord};
use daned_sign::serial::{next_serial, serial_gt};
use daned_sign::sign::{self};
use daned_sign::zone::ZoneDelta;
use ring::rand::SecureRandom;

use crate::zone::tlsa::probe::{Outcome, Target};
use crate::zone::{
    KeyAction, Mode, ZoneError, ZoneRuntime, file_serial, log_transitions, run_lifecycle, usages,
    with_ctx, zone_keys,
};

impl ZoneRuntime {
    /// The bindings (by index into [`Self::bindings`]) to probe at `now`: those never probed
    /// and those whose `probe-interval` has passed. `all` takes every binding with probing on.
    pub fn probes_due(&self, now: u32, all: bool) -> Vec<usize> {
        self.bindings
            .iter()
            .enumerate()
            .filter(|(_, b)| b.cfg.probe.enabled && !b.probed.targets.is_empty())
            .filter(|(_, b)| all || b.next_probe_at(now).is_some_and(|at| !serial_gt(at, now)))
            .map(|(index, _)| index)
            .collect()
    }

    /// A probe of binding `key` has started: it is no longer due.
    pub fn probe_started(&mut self, key: &str) {
        if let Some(binding) = self.bindings.iter_mut().find(|b| b.key() == key) {
            binding.probed.due_now = false;
        }
    }

    /// Records what a probe of binding `index` found at `now`, logs a target that presents a
    /// key no record matches (at most once per probe interval), then runs the rollover timers:
    /// a replaced key's record the probe held may leave now.
    ///
    /// # Errors
    ///
    /// As [`Self::tick_bindings`]; the results are kept either way.
    pub fn probed(
        &mut self,
        index: usize,
        results: Vec<(Target, Outcome)>,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let origin = self.cfg.origin.clone();
        if let Some(binding) = self.bindings.get_mut(index) {
            let before: Vec<_> = binding
                .probed
                .verdicts(&binding.state)
                .map(|(target, judged)| (target.clone(), judged.map(|j| j.verdict)))
                .collect();
            binding.probed.record(&binding.state, results, now);
            for (target, judged) in binding.probed.verdicts(&binding.state) {
                let Some(judged) = judged else { continue };
                let was = before
                    .iter()
                    .find(|(t, _)| t == target)
                    .and_then(|(_, verdict)| *verdict);
                if was == Some(judged.verdict) {
                    continue;
                }
                let reason = judged.reason.as_deref().unwrap_or("");
                let presented = judged.spki_sha256.as_deref().unwrap_or("-");
                if judged.verdict.is_good() {
                    tracing::info!(zone = %origin, binding = %binding.key(), %target, result = judged.verdict.as_str(), presented, "probe");
                } else {
                    tracing::warn!(zone = %origin, binding = %binding.key(), %target, result = judged.verdict.as_str(), reason, "probe");
                }
            }
            let mismatches = binding.probed.mismatches(&binding.state);
            let alarm_due = binding
                .probed
                .last_alarm
                .is_none_or(|at| now.wrapping_sub(at) >= binding.cfg.probe.interval);
            if !mismatches.is_empty() && alarm_due {
                binding.probed.last_alarm = Some(now);
                for (target, judged) in &mismatches {
                    tracing::error!(
                        zone = %origin,
                        binding = %binding.key(),
                        %target,
                        presented = judged.spki_sha256.as_deref().unwrap_or("?"),
                        published = %binding.state.published().iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                        "TLSA MISMATCH: the server presents a key that no published TLSA \
                         record matches; DANE senders cannot deliver to it"
                    );
                }
            }
            let held = binding.state.held(now);
            if !held.is_empty() && binding.holds_replaced() && alarm_due {
                let waiting: Vec<String> = binding
                    .probed
                    .verdicts(&binding.state)
                    .filter(|(_, j)| {
                        j.as_ref().is_none_or(|j| {
                            j.verdict != crate::zone::tlsa::probe::verdict::Verdict::Current
                        })
                    })
                    .map(|(target, j)| {
                        format!(
                            "{target} {}",
                            j.map_or("not probed yet", |j| j.verdict.as_str())
                        )
                    })
                    .collect();
                tracing::warn!(
                    zone = %origin,
                    binding = %binding.key(),
                    kept = %held.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    waiting_for = %waiting.join("; "),
                    "old TLSA record kept past its hold-down: a server does not present the new key yet"
                );
            }
        }
        self.tick_bindings(now, rng)
    }

    /// Moves the key lifecycle to `now` after `action`: applies it, creates the keys the
    /// lifecycle asks for, and when what the keys do changed, re-signs what that changes
    /// ([`sign::refresh_signatures`]) under a new serial. `None` when the served zone stays.
    ///
    /// The key records are persisted before the new version is returned (and so before it is
    /// served); a key file created here stays whatever happens next.
    ///
    /// # Errors
    ///
    /// [`ZoneError::Lifecycle`] (an unknown or not awaited key for `ds-seen`, no key to roll,
    /// a bad policy), key creation, signing or state errors. On a signing error the records
    /// are kept and the next call signs again.
    pub fn update_keys(
        &mut self,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
        action: KeyAction,
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let origin = self.cfg.origin.clone();
        let lifecycle_err = |source| ZoneError::Lifecycle {
            origin: origin.clone(),
            source,
        };
        let policy = self.key_policy();
        let mut entries = self.entries.clone();
        let roll = match action {
            KeyAction::Tick => None,
            KeyAction::Roll(role) => Some(role),
            KeyAction::DsSeen(tag) => {
                let mut records: Vec<KeyRecord> = entries.iter().map(|e| e.record).collect();
                lifecycle::ds_seen(now, &mut records, tag).map_err(lifecycle_err)?;
                for (entry, record) in entries.iter_mut().zip(records) {
                    entry.record = record;
                }
                tracing::info!(zone = %origin, tag, "DS seen at the parent");
                None
            }
        };
        let mut spare = self.unrecorded.clone();
        let (transitions, outlook) = run_lifecycle(
            &self.cfg,
            &self.key_dir,
            &mut entries,
            &policy,
            now,
            rng,
            self.mode == Mode::Serve,
            roll,
            &mut spare,
        )?;
        let records_changed = entries.len() != self.entries.len()
            || entries
                .iter()
                .zip(&self.entries)
                .any(|(a, b)| a.record != b.record);
        let used = usages(&entries, &policy);
        let version = if used == self.signed_with {
            None
        } else {
            let serial = next_serial(self.signed.serial(), file_serial(&self.content));
            let keys = zone_keys(&entries, &used);
            let signed = with_ctx(&self.cfg, &keys, now, rng, |ctx| {
                sign::refresh_signatures(ctx, &self.signed, serial)
            })
            .map_err(|source| ZoneError::Sign {
                origin: origin.clone(),
                source,
            })
            .and_then(|signed| {
                if let Some((signed, delta)) = &signed {
                    self.validate(signed, delta, now, &entries)?;
                }
                Ok(signed)
            });
            match signed {
                Ok(signed) => Some(signed),
                Err(e) => {
                    // The records still move forward (durably); the next call signs again.
                    if records_changed {
                        let signed_with = self.signed_with.clone();
                        self.write_key_records(
                            self.signed.serial(),
                            &entries,
                            &signed_with,
                            &spare,
                            now,
                        )?;
                        self.unrecorded = spare;
                        log_transitions(&origin, &transitions);
                        self.entries = entries;
                        self.outlook = outlook;
                    }
                    self.note_failure(&e);
                    return Err(e);
                }
            }
        };
        let signed_with = used;
        if records_changed || signed_with != self.signed_with {
            // Durable before published: the key records and the version that depends on them
            // are written together, before either is used.
            let serial = match &version {
                Some(Some((signed, _))) => signed.serial(),
                _ => self.signed.serial(),
            };
            self.write_key_records(serial, &entries, &signed_with, &spare, now)?;
        }
        self.unrecorded = spare;
        log_transitions(&origin, &transitions);
        self.entries = entries;
        self.outlook = outlook;
        self.signed_with = signed_with;
        Ok(version.flatten().map(|(signed, delta)| {
            self.install(signed, now, &delta);
            delta
        }))
    }
}
