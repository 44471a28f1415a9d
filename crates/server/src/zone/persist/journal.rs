//! The IXFR journal: per zone, the most recent [`ZoneDelta`]s in serial order, bounded in count
//! and bytes, persisted in the state directory.
//!
//! The journal is a chain: each delta starts at the serial the previous one produced, and the
//! last one ends at the zone's current serial. A delta that does not continue the chain (a
//! restart with other content, a lost write) clears the older ones first, so a chain never has
//! a gap and an IXFR answer built from it is never a wrong diff.
//!
//! File format (`<zone>.journal` next to the state file), rewritten atomically (temporary
//! file, fsync, rename) after each change:
//!
//! ```text
//! "DANEDJ1\n"                               magic and version tag
//! per delta:
//!   u32 length of the body (big endian)
//!   body: u32 from_serial, u32 to_serial,
//!         u32 removed count, (u16 length, uncompressed wire record)*,
//!         u32 added count,   (u16 length, uncompressed wire record)*
//!   8 bytes: the first 8 bytes of SHA-256(body)
//! ```
//!
//! A truncated or damaged entry ends the journal: the entries before it are kept, the rest is
//! dropped (with a warning from [`load`]).

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use daned_sign::zone::ZoneDelta;
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{put_record, take, take_u32};

pub use crate::config::{DEFAULT_MAX_BYTES, DEFAULT_MAX_DELTAS, JournalLimits};

/// The first bytes of every journal file; the digit is the format version.
pub const MAGIC: &[u8; 8] = b"DANEDJ1\n";
/// Bytes of the per-entry check value (a SHA-256 prefix).
const CHECK_LEN: usize = 8;

/// Errors reading or writing a journal file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file does not start with this version's tag.
    #[error("{}: not a daned journal (version 1)", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// A record of a delta cannot be encoded.
    #[error("encoding a journal record of {owner}: {reason}")]
    Encode {
        /// The record's owner.
        owner: Name,
        /// What failed.
        reason: String,
    },
}

/// One zone's chain of deltas, oldest first. Cheap to clone (the deltas are shared).
#[derive(Clone, Debug)]
pub struct Journal {
    limits: JournalLimits,
    /// The deltas with their encoded entry (length, body, check), oldest first.
    entries: VecDeque<(Arc<ZoneDelta>, Arc<[u8]>)>,
    bytes: usize,
}

impl Journal {
    /// An empty journal with these bounds.
    pub fn new(limits: JournalLimits) -> Self {
        Self {
            limits,
            entries: VecDeque::new(),
            bytes: 0,
        }
    }

    /// The number of deltas held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no delta is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The encoded size of the deltas held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The serial the oldest delta starts from, if any.
    pub fn first_serial(&self) -> Option<u32> {
        self.entries.front().map(|(d, _)| d.from_serial)
    }

    /// The serial the newest delta produces, if any.
    pub fn last_serial(&self) -> Option<u32> {
        self.entries.back().map(|(d, _)| d.to_serial)
    }

    /// The bounds it keeps.
    pub(crate) fn limits(&self) -> JournalLimits {
        self.limits
    }

    /// How many deltas, and how many encoded bytes, lead from `serial` to the newest serial;
    /// `None` when no delta starts at `serial`.
    pub(crate) fn span_from(&self, serial: u32) -> Option<(usize, usize)> {
        let start = self
            .entries
            .iter()
            .position(|(d, _)| d.from_serial == serial)?;
        let rest = self.entries.iter().skip(start);
        Some((self.entries.len() - start, rest.map(|(_, e)| e.len()).sum()))
    }

    /// The deltas, oldest first.
    pub fn deltas(&self) -> impl Iterator<Item = &ZoneDelta> {
        self.entries.iter().map(|(d, _)| &**d)
    }

    /// The deltas that lead from `serial` to the newest serial, oldest first; `None` when no
    /// delta starts at `serial` (too old, unknown, or already the newest).
    pub fn chain_from(&self, serial: u32) -> Option<impl Iterator<Item = &ZoneDelta>> {
        let start = self
            .entries
            .iter()
            .position(|(d, _)| d.from_serial == serial)?;
        Some(self.entries.iter().skip(start).map(|(d, _)| &**d))
    }

    /// Appends `delta`. When it does not start at the newest serial the older deltas are
    /// dropped first (they no longer chain up to it). Then the oldest deltas are dropped until
    /// the bounds hold; a delta larger than the byte bound alone leaves the journal empty.
    ///
    /// # Errors
    ///
    /// A record that cannot be encoded; the journal is then cleared (a chain with a missing
    /// link must not be served).
    pub fn push(&mut self, delta: ZoneDelta) -> Result<(), JournalError> {
        if self.last_serial().is_some_and(|s| s != delta.from_serial) {
            self.clear();
        }
        let entry = match encode_entry(&delta) {
            Ok(entry) => entry,
            Err(e) => {
                self.clear();
                return Err(e);
            }
        };
        self.bytes += entry.len();
        self.entries.push_back((Arc::new(delta), entry.into()));
        self.enforce_limits();
        Ok(())
    }

    /// Drops the newest deltas while the journal ends after `serial` (RFC 1982) and returns
    /// how many went: what is left never leads past `serial`.
    pub fn cut_after(&mut self, serial: u32) -> usize {
        let mut cut = 0;
        while let Some(last) = self.last_serial()
            && daned_sign::serial::serial_gt(last, serial)
        {
            if let Some((_, entry)) = self.entries.pop_back() {
                self.bytes -= entry.len();
                cut += 1;
            }
        }
        cut
    }

    /// Drops every delta.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    fn enforce_limits(&mut self) {
        while self.entries.len() > self.limits.max_deltas || self.bytes > self.limits.max_bytes {
            match self.entries.pop_front() {
                Some((_, entry)) => self.bytes -= entry.len(),
                None => break,
            }
        }
    }

    /// The journal's file contents.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + self.bytes);
        out.extend_from_slice(MAGIC);
        for (_, entry) in &self.entries {
            out.extend_from_slice(entry);
        }
        out
    }

    /// Reads a journal from file contents: every complete, intact entry up to the first that
    /// is truncated, damaged or does not chain on (the second value is then `true`), within
    /// `limits`. `None` when the contents do not start with [`MAGIC`].
    pub fn decode(bytes: &[u8], limits: JournalLimits) -> Option<(Self, bool)> {
        let mut rest = bytes.strip_prefix(MAGIC.as_slice())?;
        let mut journal = Self::new(limits);
        while !rest.is_empty() {
            let Some((delta, used)) = decode_entry(rest) else {
                return Some((journal, true));
            };
            if journal
                .last_serial()
                .is_some_and(|s| s != delta.from_serial)
            {
                return Some((journal, true));
            }
            journal.bytes += used;
            journal
                .entries
                .push_back((Arc::new(delta), rest[..used].into()));
            rest = &rest[used..];
        }
        journal.enforce_limits();
        Some((journal, false))
    }
}

/// The journal file of `origin` in `dir`.
pub fn journal_path(dir: &Path, origin: &Name) -> PathBuf {
    dir.join(format!(
        "{}.journal",
        crate::zone::persist::state::file_stem(origin)
    ))
}

/// Reads the journal of `origin` for a zone now at `serial`. A missing file gives an empty
/// journal; a damaged tail is dropped with a warning; deltas that lead past `serial` (never
/// published: the state file, written first, does not know them) are cut with a warning; an
/// unreadable file or one of another format gives an empty journal.
///
/// A journal that ends before `serial` (the zone changed while daned was down, or its write
/// failed after the state's) is kept whole: it is still the history up to its last serial,
/// though no IXFR answer uses it until it ends at the zone's serial again (the next delta,
/// which does not chain on, replaces it).
pub fn load(dir: &Path, origin: &Name, serial: u32, limits: JournalLimits) -> Journal {
    let path = journal_path(dir, origin);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Journal::new(limits),
        Err(error) => {
            tracing::warn!(zone = %origin, path = %path.display(), %error, "journal unreadable; discarded");
            return Journal::new(limits);
        }
    };
    let Some((mut journal, damaged)) = Journal::decode(&bytes, limits) else {
        tracing::warn!(zone = %origin, path = %path.display(), "not a daned journal (version 1); discarded");
        return Journal::new(limits);
    };
    if damaged {
        tracing::warn!(
            zone = %origin,
            path = %path.display(),
            kept = journal.len(),
            "journal has a truncated or damaged entry; the rest is dropped"
        );
    }
    let cut = journal.cut_after(serial);
    if cut > 0 {
        tracing::warn!(
            zone = %origin,
            path = %path.display(),
            cut,
            kept = journal.len(),
            serial,
            "journal leads past the zone's serial; the deltas never published are cut"
        );
    }
    match journal.last_serial() {
        Some(last) if last != serial => {
            tracing::info!(
                zone = %origin,
                path = %path.display(),
                journal_serial = last,
                serial,
                deltas = journal.len(),
                "journal ends before the zone's serial; kept, but IXFR gives full transfers \
                 until the next change"
            );
        }
        _ => {}
    }
    journal
}

/// Writes the journal of `origin` atomically (temporary file, fsync, rename, fsync of the
/// directory), creating `dir` if needed.
///
/// # Errors
///
/// Any I/O failure, naming the file.
pub fn store(dir: &Path, origin: &Name, journal: &Journal) -> Result<(), JournalError> {
    crate::zone::persist::state::replace_file(&journal_path(dir, origin), &journal.encode())
        .map_err(|(path, source)| JournalError::Io { path, source })
}

fn check(body: &[u8]) -> [u8; CHECK_LEN] {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut out = [0; CHECK_LEN];
    out.copy_from_slice(&digest.as_ref()[..CHECK_LEN]);
    out
}

fn encode_entry(delta: &ZoneDelta) -> Result<Vec<u8>, JournalError> {
    let mut body = Vec::new();
    body.extend_from_slice(&delta.from_serial.to_be_bytes());
    body.extend_from_slice(&delta.to_serial.to_be_bytes());
    for records in [&delta.removed, &delta.added] {
        let count = u32::try_from(records.len()).map_err(|_| JournalError::Encode {
            owner: Name::root(),
            reason: "too many records".into(),
        })?;
        body.extend_from_slice(&count.to_be_bytes());
        let mut wire = Vec::with_capacity(256);
        for record in records {
            put_record(&mut body, &mut wire, record).map_err(|reason| JournalError::Encode {
                owner: record.name.clone(),
                reason,
            })?;
        }
    }
    let len = u32::try_from(body.len()).map_err(|_| JournalError::Encode {
        owner: Name::root(),
        reason: "delta too large".into(),
    })?;
    let mut entry = Vec::with_capacity(4 + body.len() + CHECK_LEN);
    entry.extend_from_slice(&len.to_be_bytes());
    entry.extend_from_slice(&body);
    entry.extend_from_slice(&check(&body));
    Ok(entry)
}

/// One entry from the front of `input` and its length; `None` when truncated or damaged.
fn decode_entry(input: &[u8]) -> Option<(ZoneDelta, usize)> {
    let mut rest = input;
    let len = usize::try_from(take_u32(&mut rest)?).ok()?;
    let body = take(&mut rest, len)?;
    let sum = take(&mut rest, CHECK_LEN)?;
    if sum != check(body) {
        return None;
    }
    let used = input.len() - rest.len();
    let mut body = body;
    let from_serial = take_u32(&mut body)?;
    let to_serial = take_u32(&mut body)?;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let count = take_u32(&mut body)?;
        for _ in 0..count {
            let len = take(&mut body, 2)?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let wire = take(&mut body, len)?;
            let mut decoder = BinDecoder::new(wire);
            let record = Record::read(&mut decoder).ok()?;
            if !decoder.is_empty() {
                return None;
            }
            list.push(record);
        }
    }
    if !body.is_empty() {
        return None;
    }
    let [removed, added] = lists;
    Some((
        ZoneDelta {
            from_serial,
            to_serial,
            removed,
            added,
        },
        used,
    ))
}

#[cfg(test)]
pub(crate) mod tests;
