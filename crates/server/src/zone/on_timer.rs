//! What a zone does when its timers fire: the TLSA rollover timers, the signature refresh, the
//! retry of a failed state write, and the check that its key and state files are still there.

use crate::zone::{Mode, ZoneError, ZoneRuntime, with_ctx, zone_keys};

use daned_sign::lifecycle::KeyState;
use daned_sign::serial::serial_gt;
use daned_sign::sign::{self};
use daned_sign::zone::ZoneDelta;
use ring::rand::SecureRandom;

use crate::zone::persist::state::{self};

impl ZoneRuntime {
    /// Runs the rollover timers (a staged key becoming ready, a hold-down ending) without
    /// reading any file.
    ///
    /// # Errors
    ///
    /// Signing or state errors; on error nothing changes.
    pub fn tick_bindings(
        &mut self,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.update_from_base(None, now, rng)
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
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        self.refresh_inner(now, rng)
            .inspect_err(|e| self.note_failure(e))
    }

    pub(super) fn refresh_inner(
        &mut self,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let serial = self.signed.serial().wrapping_add(1);
        let keys = zone_keys(&self.entries, &self.signed_with);
        let result = with_ctx(&self.cfg, &keys, now, rng, |ctx| {
            sign::refresh_signatures(ctx, &self.signed, serial)
        })
        .map_err(|source| ZoneError::Sign {
            origin: self.cfg.origin.clone(),
            source,
        })?;
        let Some((signed, delta)) = result else {
            return Ok(None);
        };
        self.validate(&signed, &delta, now, &self.entries.clone())?;
        let st = self.state_of(
            signed.serial(),
            &self.base_digest,
            &self.generated,
            &self.entries,
            &self.signed_with,
            &self.bindings,
        );
        self.write_state(&st, now, false)?;
        self.install(signed, now, &delta);
        Ok(Some(delta))
    }

    /// When (seconds since the epoch) this zone next needs the manager: the earliest RRSIG
    /// expiration minus the refresh margin, or a rollover deadline, whichever comes first.
    /// `None` when there is nothing to wait for.
    pub fn next_deadline(&self) -> Option<u32> {
        if let Some(retry) = self.write_retry {
            // Every step writes the state: nothing is worth doing before the retry.
            return Some(retry.at);
        }
        let refresh = self.next_refresh_at();
        let keys = self.outlook.next.as_ref().map(|n| n.at);
        self.bindings
            .iter()
            .filter_map(|b| b.state.next_deadline(b.holds_replaced()))
            .chain(refresh)
            .chain(keys)
            .min_by(|a, b| {
                if a == b {
                    std::cmp::Ordering::Equal
                } else if serial_gt(*b, *a) {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            })
    }

    /// When the next signature refresh is due (seconds since the epoch): the first second at
    /// which the earliest signature is within the refresh margin of its expiration by
    /// [`sign::refresh_signatures`]' rule (expiring before `now + refresh`). One second
    /// earlier, the timer would find nothing due and fire again at once for that second.
    pub fn next_refresh_at(&self) -> Option<u32> {
        self.earliest_expiration.map(|exp| {
            exp.wrapping_sub(self.cfg.signing.policy.refresh)
                .wrapping_add(1)
        })
    }

    /// Makes again a change whose state write failed, once its retry is due: the zone file and
    /// the certificates (or only the certificates) are read again and the result signed,
    /// written and installed as by [`Self::reload`]. `None` when no retry is due or nothing
    /// changed; a timer or key step that failed to write runs again on its own deadline.
    ///
    /// # Errors
    ///
    /// As [`Self::reload`]; the retry is scheduled again when the write fails again.
    pub fn retry_failed_write(
        &mut self,
        now: u32,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Option<ZoneDelta>, ZoneError> {
        let Some(retry) = self.write_retry else {
            return Ok(None);
        };
        if serial_gt(retry.at, now) {
            return Ok(None);
        }
        self.write_retry = None;
        if retry.zone_file {
            self.reload(now, rng)
        } else {
            self.update_bindings(now, rng)
        }
    }

    /// Whether a failed state write is waiting for its retry: the zone's timers then wait too
    /// (each would sign again only to fail the same write).
    pub fn write_pending(&self, now: u32) -> bool {
        self.write_retry.is_some_and(|r| serial_gt(r.at, now))
    }

    /// Checks that the key directory, every key file the zone's records need and the state
    /// directory and file are still there. A new problem is logged at error once, and a
    /// resolved one at info; [`Self::storage_error`] says what is missing meanwhile. Serving
    /// goes on (the keys are in memory); a restart would fail.
    pub fn check_storage(&mut self) {
        if self.mode == Mode::ReadOnly {
            return;
        }
        let mut missing = Vec::new();
        if !self.key_dir.is_dir() {
            missing.push(format!(
                "key directory {} is missing",
                self.key_dir.display()
            ));
        } else {
            for entry in &self.entries {
                if entry.record.state != KeyState::Removed && !entry.file.is_file() {
                    missing.push(format!(
                        "key {} ({}) is missing: {}",
                        entry.record.tag,
                        entry.record.state.name(),
                        entry.file.display()
                    ));
                }
            }
        }
        let state_file = state::state_path(&self.state_dir, &self.cfg.origin);
        if !self.state_dir.is_dir() {
            missing.push(format!(
                "state directory {} is missing",
                self.state_dir.display()
            ));
        } else if !state_file.is_file() {
            missing.push(format!("state file {} is missing", state_file.display()));
        }
        let error = (!missing.is_empty()).then(|| missing.join("; "));
        if error != self.storage_error {
            match &error {
                Some(error) => tracing::error!(
                    zone = %self.cfg.origin,
                    error = error.as_str(),
                    "key or state files are missing; the zone is still served, but a restart \
                     would fail: restore them"
                ),
                None => tracing::info!(zone = %self.cfg.origin, "key and state files are back"),
            }
        }
        self.storage_error = error;
    }
}
