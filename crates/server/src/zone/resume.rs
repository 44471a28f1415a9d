//! A start that serves the version published before the restart: the kept signed zone
//! ([`crate::zone::persist::signed`]) with the journal's deltas replayed, instead of signing
//! the whole zone again.
//!
//! It is used only when everything it was made from still holds: its signing fingerprint
//! (denial of existence, signature timing, DNSKEY TTL, the keys and their use) is the one of
//! the current configuration and keys, and the journal leads from it to the state file's
//! serial. Content that changed while daned was stopped is then signed incrementally on top
//! (the next serial, one journal delta), signatures whose refresh point passed are renewed
//! (another), and the result is checked like a fully signed start
//! ([`daned_sign::validate::validate_sample`]) against the clock. Anything else (no file, a
//! damaged one, another policy, a broken chain, signatures made in the future) is a warning
//! naming the file and why, and the zone is signed whole as before.

use daned_sign::SignError;
use daned_sign::hickory_proto::dnssec::rdata::DNSSECRData;
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::serial::{next_serial, serial_gt};
use daned_sign::sign::{self, KeyUse};
use daned_sign::zone::{SignedZone, Zone, ZoneDelta, canonical_name};
use ring::rand::SecureRandom;

use crate::config::{JournalLimits, ZoneConfig};
use crate::zone::persist::journal;
use crate::zone::persist::signed::{self, Fingerprint, SignedFileError};
use crate::zone::persist::state::ZoneState;
use crate::zone::{
    KeyEntry, START_VALIDATION_SAMPLE, file_serial, signer_keys, with_ctx, zone_keys,
};

/// Why the kept version was not used (the start's warning says it with the file's path).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum NotResumed {
    /// The file could not be read or does not apply (it names itself).
    #[error(transparent)]
    File(#[from] SignedFileError),
    /// There is none (a state directory of before this file, or a write that failed).
    #[error("no kept signed zone")]
    Missing,
    /// Its signing fingerprint is not the current one.
    #[error("made with other signing parameters (denial, signature timing, DNSKEY TTL or keys)")]
    OtherPolicy,
    /// A signature starts after now (the clock moved back).
    #[error("holds signatures that start in the future (inception {inception}, now {now})")]
    Future {
        /// The latest inception.
        inception: u32,
        /// Now.
        now: u32,
    },
    /// Signing the changes on top of it failed.
    #[error("signing on top of it: {0}")]
    Sign(#[source] SignError),
    /// The result failed its check before serving.
    #[error("failed its check: {0}")]
    Validation(#[source] SignError),
    /// The thread that read it panicked (a bug; the zone is signed whole instead).
    #[error("reading it failed unexpectedly")]
    LoadPanicked,
    /// No thread could be started to read it.
    #[error("cannot start a thread to read it: {0}")]
    NoThread(#[source] std::io::Error),
}

/// The kept version being read on a thread of its own, while the start reads the zone file,
/// the certificates and the keys: the two take about as long on a large zone, and nothing
/// in the one depends on the other until the fingerprints are compared.
///
/// Dropped unused (a start that failed on the zone file or the keys), it waits for the read to
/// end, so that failed starts retried by reloads never pile up reads of a large file.
pub(super) struct Loading(
    Option<std::io::Result<std::thread::JoinHandle<Result<Loaded, NotResumed>>>>,
);

/// The kept version as read, not yet compared with the start's fingerprint.
struct Loaded {
    fingerprint: Fingerprint,
    /// The version at the state's serial (the file, with the journal replayed on it) and the
    /// file's serial, or why it cannot be had.
    replayed: Result<(SignedZone, u32), NotResumed>,
}

impl Loading {
    /// Starts reading the kept version of `origin` in `state_dir` and replaying the journal up
    /// to `serial`, the state's; `now` for the check that no signature starts in the future.
    pub(super) fn start(
        state_dir: &std::path::Path,
        origin: &Name,
        serial: u32,
        limits: JournalLimits,
        now: u32,
    ) -> Self {
        let (state_dir, origin) = (state_dir.to_path_buf(), origin.clone());
        let loading = std::thread::Builder::new()
            .name("daned-kept".to_owned())
            .spawn(move || load(&state_dir, &origin, serial, limits, now));
        Self(Some(loading))
    }

    fn join(mut self) -> Result<Loaded, NotResumed> {
        match self.0.take() {
            Some(Ok(thread)) => thread.join().unwrap_or(Err(NotResumed::LoadPanicked)),
            Some(Err(error)) => Err(NotResumed::NoThread(error)),
            None => Err(NotResumed::LoadPanicked),
        }
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        if let Some(Ok(thread)) = self.0.take() {
            let _ = thread.join();
        }
    }
}

fn load(
    state_dir: &std::path::Path,
    origin: &Name,
    serial: u32,
    limits: JournalLimits,
    now: u32,
) -> Result<Loaded, NotResumed> {
    let kept = signed::load(state_dir, origin)?.ok_or(NotResumed::Missing)?;
    let fingerprint = kept.fingerprint;
    let kept_serial = kept.serial;
    let replayed = if kept_serial == serial {
        kept.into_zone(serial, []).map_err(NotResumed::from)
    } else {
        let journal = journal::load(state_dir, origin, serial, limits);
        match journal.chain_from(kept_serial) {
            Some(chain) => kept.into_zone(serial, chain).map_err(NotResumed::from),
            None => Err(SignedFileError::NoChain {
                path: kept.path().to_path_buf(),
                from: kept_serial,
                to: serial,
            }
            .into()),
        }
    };
    let replayed = replayed.and_then(|signed| match latest_inception(&signed) {
        Some(inception) if serial_gt(inception, now) => Err(NotResumed::Future { inception, now }),
        _ => Ok((signed, kept_serial)),
    });
    Ok(Loaded {
        fingerprint,
        replayed,
    })
}

/// The version a start resumes: the kept one at the state's serial, then the deltas the start
/// made on it (content changed while stopped, signatures refreshed), oldest first.
pub(super) struct Resumed {
    pub(super) signed: SignedZone,
    pub(super) deltas: Vec<ZoneDelta>,
    /// The serial of the snapshot on disk (the journal continues it).
    pub(super) kept_serial: u32,
}

/// What a start holds when it comes to the kept version: what the version is compared with
/// and what changes are signed on top of it with.
pub(super) struct Start<'a> {
    pub(super) cfg: &'a ZoneConfig,
    pub(super) saved: &'a ZoneState,
    pub(super) fingerprint: &'a Fingerprint,
    pub(super) content: &'a Zone,
    pub(super) digest: &'a str,
    pub(super) entries: &'a [KeyEntry],
    pub(super) signed_with: &'a [(usize, KeyUse)],
    pub(super) now: u32,
    pub(super) rng: &'a (dyn SecureRandom + Sync),
}

/// The version published before the restart, brought to the current `content`, keys and
/// clock, or why not (logged as a warning naming the file) when the zone must be signed
/// whole.
pub(super) fn resume(
    start: &Start<'_>,
    state_dir: &std::path::Path,
    loading: Loading,
) -> Result<Resumed, NotResumed> {
    let started = std::time::Instant::now();
    let origin = &start.cfg.origin;
    let path = signed::signed_path(state_dir, origin);
    match try_resume(start, loading) {
        Ok(resumed) => {
            tracing::info!(
                zone = %origin,
                path = %path.display(),
                kept_serial = resumed.kept_serial,
                serial = resumed.signed.serial(),
                new_versions = resumed.deltas.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "kept signed zone loaded; not signed again"
            );
            Ok(resumed)
        }
        Err(reason) => {
            tracing::warn!(
                zone = %origin,
                path = %path.display(),
                %reason,
                "kept signed zone not used; signing the whole zone"
            );
            Err(reason)
        }
    }
}

fn try_resume(start: &Start<'_>, loading: Loading) -> Result<Resumed, NotResumed> {
    let Start {
        cfg,
        saved,
        fingerprint,
        content,
        digest,
        entries,
        signed_with,
        now,
        rng,
    } = *start;
    let phase = std::time::Instant::now();
    let loaded = loading.join()?;
    if loaded.fingerprint != *fingerprint {
        return Err(NotResumed::OtherPolicy);
    }
    let (mut signed, kept_serial) = loaded.replayed?;
    // What the start waited for it, beyond reading the zone file and keys meanwhile.
    let loaded_ms = phase.elapsed().as_millis() as u64;
    let phase = std::time::Instant::now();
    let keys = zone_keys(entries, signed_with);
    let mut deltas = Vec::new();
    // Content changed while stopped is signed on top, under the next serial. The state's
    // digest (of the zone file, the TLSA records, the keys and the denial) says whether it
    // changed; only then is the whole content compared. The apex CDS and CDNSKEY come from the
    // keys (the fingerprint says they are the same), not from the content.
    let changes = if saved.content_digest == digest {
        Vec::new()
    } else {
        let apex = canonical_name(&cfg.origin);
        let mut changes = signed.to_zone().diff(content);
        changes.retain(|c| {
            !(canonical_name(&c.name) == apex
                && matches!(c.rtype, RecordType::CDS | RecordType::CDNSKEY))
        });
        changes
    };
    let wanted = file_serial(content);
    if !changes.is_empty() || serial_gt(wanted, signed.serial()) {
        let serial = next_serial(signed.serial(), wanted);
        let (next, delta) = with_ctx(cfg, &keys, now, rng, |ctx| {
            sign::apply_changes(ctx, &signed, &changes, serial)
        })
        .map_err(NotResumed::Sign)?;
        signed = next;
        deltas.push(delta);
    }
    // Signatures whose refresh point passed while stopped (expired ones included) are renewed
    // before anything is served.
    let refresh_due = signed
        .earliest_expiration()
        .map(|exp| exp.wrapping_sub(cfg.signing.policy.refresh))
        .is_some_and(|at| !serial_gt(at, now));
    if refresh_due {
        let serial = signed.serial().wrapping_add(1);
        let refreshed = with_ctx(cfg, &keys, now, rng, |ctx| {
            sign::refresh_signatures(ctx, &signed, serial)
        })
        .map_err(NotResumed::Sign)?;
        if let Some((next, delta)) = refreshed {
            signed = next;
            deltas.push(delta);
        }
    }
    let signed_ms = phase.elapsed().as_millis() as u64;
    let phase = std::time::Instant::now();
    daned_sign::validate::validate_sample(
        &signed,
        now,
        START_VALIDATION_SAMPLE,
        &signer_keys(entries),
        cfg.signing.threads,
    )
    .map_err(NotResumed::Validation)?;
    tracing::debug!(
        zone = %cfg.origin,
        loaded_ms,
        signed_ms,
        validated_ms = phase.elapsed().as_millis() as u64,
        "kept signed zone: read and replayed, brought up to date, validated"
    );
    Ok(Resumed {
        signed,
        deltas,
        kept_serial,
    })
}

/// The latest RRSIG inception of `zone` (RFC 1982 order).
fn latest_inception(zone: &SignedZone) -> Option<u32> {
    zone.nodes()
        .flat_map(|(_, node)| node.rrsets.iter())
        .flat_map(|s| s.rrsigs.iter())
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().sig_inception.get()),
            _ => None,
        })
        .reduce(|a, b| if serial_gt(b, a) { b } else { a })
}
