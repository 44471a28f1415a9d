//! The signed zone kept across restarts: `<zone>.signed` in the state directory, a snapshot of
//! one published version (every record and RRSIG), so that a restart serves exactly what was
//! published before it instead of signing the zone again.
//!
//! # Design
//!
//! The file is a *snapshot plus the journal*: it holds one published version `K`, and the
//! IXFR journal ([`super::journal`]), which is written and fsynced before every publish, holds
//! the deltas from `K` on. A start reads the snapshot, replays the journal's chain from `K` up
//! to the state file's serial ([`KeptFile::into_zone`]) and has the version served last,
//! RRSIGs and all. The snapshot itself is written:
//!
//! - at a start that signed the zone whole, before it is published;
//! - by the manager, in the background after a publish, when the snapshot's serial is about to
//!   leave the journal (more than half its delta or byte bound lies after it, or the chain
//!   from it broke), or when the signing parameters changed (see [`fingerprint`]).
//!
//! A rotation therefore writes only its journal delta, as before; the whole file is written
//! once every half journal. Durable before published holds because every published version is
//! the snapshot plus deltas that were on disk before it was published; where that chain is
//! broken (a journal write failed, a delta over the byte bound, a crash before a background
//! snapshot landed), the start finds it out and signs the zone whole, as before this file
//! existed: never a version that does not match the current content, keys and policy.
//!
//! # File format
//!
//! ```text
//! "DANEDS1\n"                     magic and version tag
//! u16 length, origin              the zone's name, uncompressed wire form, lowercase
//! u32 serial                      the SOA serial of the version
//! 32 bytes fingerprint            SHA-256 of the signing parameters it was made with
//! u32 record count
//! (u16 length, uncompressed wire record)*   every record and RRSIG, in canonical order
//!                                           (`SignedZone::records`: the SOA first)
//! 32 bytes: SHA-256 of everything before
//! ```
//!
//! Written atomically ([`super::state::replace_file`]: temporary file, fsync, rename, fsync of
//! the directory). Read whole and checked before anything in it is used: a wrong magic, a
//! checksum that does not match, a truncated file or another origin is refused with a
//! [`SignedFileError`] naming the file, and the caller signs instead.
//!
//! # Limitations
//!
//! Several RRSIGs over one RRset (during a key roll) keep their order from the snapshot; ones a
//! journal delta added come after them. A version is the same set of records either way.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use daned_sign::SignError;
use daned_sign::zone::{SignedZone, ZoneDelta};
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder, NameEncoding,
};
use indexmap::IndexMap;

use super::{put_record, take, take_u16, take_u32};

/// The first bytes of every kept signed zone; the digit is the format version.
pub(crate) const MAGIC: &[u8; 8] = b"DANEDS1\n";
/// Bytes of the trailing checksum (SHA-256).
const CHECK_LEN: usize = 32;

/// The signing parameters a version was made with, as a SHA-256 (see [`fingerprint`]).
pub(crate) type Fingerprint = [u8; 32];

/// Why a kept signed zone could not be read, written or used; each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SignedFileError {
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file does not start with this version's tag.
    #[error("{}: not a daned signed zone (version 1)", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// The file ends early.
    #[error("{}: truncated", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
    },
    /// The checksum does not match the content.
    #[error("{}: checksum mismatch (damaged)", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
    },
    /// The file is of another zone.
    #[error("{}: holds zone {found}, not {expected}", path.display())]
    WrongOrigin {
        /// The file.
        path: PathBuf,
        /// The zone it holds.
        found: Name,
        /// The zone expected.
        expected: Name,
    },
    /// A record in the file does not decode.
    #[error("{}: record {index} does not decode: {reason}", path.display())]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// Its position (0 is the first).
        index: u32,
        /// What failed.
        reason: String,
    },
    /// A record cannot be encoded.
    #[error("{}: encoding a record of {owner}: {reason}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The record's owner.
        owner: Name,
        /// What failed.
        reason: String,
    },
    /// The journal does not lead from the snapshot's serial to the one wanted.
    #[error("{}: the IXFR journal has no chain from serial {from} to {to}", path.display())]
    NoChain {
        /// The file.
        path: PathBuf,
        /// The snapshot's serial.
        from: u32,
        /// The serial wanted (the state file's).
        to: u32,
    },
    /// A journal delta removes a record the snapshot does not have.
    #[error("{}: the IXFR journal removes records the snapshot at serial {serial} lacks", path.display())]
    ChainMismatch {
        /// The file.
        path: PathBuf,
        /// The snapshot's serial.
        serial: u32,
    },
    /// The records do not make a zone.
    #[error("{}: {source}", path.display())]
    Zone {
        /// The file.
        path: PathBuf,
        /// The signer's error.
        source: SignError,
    },
}

/// The kept signed zone of `origin` in `dir`.
pub(crate) fn signed_path(dir: &Path, origin: &Name) -> PathBuf {
    dir.join(format!("{}.signed", super::state::file_stem(origin)))
}

/// A kept signed zone read and checked (magic, checksum, origin), its records not decoded yet.
#[derive(Debug)]
pub(crate) struct KeptFile {
    path: PathBuf,
    origin: Name,
    /// The serial of the version it holds.
    pub(crate) serial: u32,
    /// The signing parameters it was made with.
    pub(crate) fingerprint: Fingerprint,
    count: u32,
    /// The file's bytes; the records start at `records_at`.
    bytes: Vec<u8>,
    records_at: usize,
}

/// Reads the kept signed zone of `origin` from `dir`; `None` when there is none.
///
/// # Errors
///
/// An unreadable, truncated or damaged file, one of another format or another zone.
pub(crate) fn load(dir: &Path, origin: &Name) -> Result<Option<KeptFile>, SignedFileError> {
    let path = signed_path(dir, origin);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SignedFileError::Io { path, source }),
    };
    decode(path, origin, bytes).map(Some)
}

/// Checks the bytes of a kept signed zone of `origin` read from `path`.
fn decode(path: PathBuf, origin: &Name, bytes: Vec<u8>) -> Result<KeptFile, SignedFileError> {
    let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        // A prefix of the tag is a file cut short, anything else another format.
        return Err(if MAGIC.starts_with(&bytes) {
            SignedFileError::Truncated { path }
        } else {
            SignedFileError::BadMagic { path }
        });
    };
    if rest.len() < CHECK_LEN {
        return Err(SignedFileError::Truncated { path });
    }
    let (body, sum) = bytes.split_at(bytes.len() - CHECK_LEN);
    if ring::digest::digest(&ring::digest::SHA256, body).as_ref() != sum {
        return Err(SignedFileError::Damaged { path });
    }
    let mut head = &body[MAGIC.len()..];
    let truncated = || SignedFileError::Truncated { path: path.clone() };
    let name_len = take_u16(&mut head).ok_or_else(truncated)?;
    let name = take(&mut head, usize::from(name_len)).ok_or_else(truncated)?;
    let found = Name::read(&mut BinDecoder::new(name)).map_err(|e| SignedFileError::BadRecord {
        path: path.clone(),
        index: 0,
        reason: format!("origin: {e}"),
    })?;
    let expected = daned_sign::zone::canonical_name(origin);
    if found != expected {
        return Err(SignedFileError::WrongOrigin {
            path,
            found,
            expected,
        });
    }
    let serial = take_u32(&mut head).ok_or_else(truncated)?;
    let fingerprint: Fingerprint = take(&mut head, 32)
        .and_then(|f| f.try_into().ok())
        .ok_or_else(truncated)?;
    let count = take_u32(&mut head).ok_or_else(truncated)?;
    let records_at = body.len() - head.len();
    Ok(KeptFile {
        path,
        origin: expected,
        serial,
        fingerprint,
        count,
        records_at,
        bytes,
    })
}

impl KeptFile {
    /// The file it was read from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The version at `serial`: the snapshot's records with `deltas` (the journal's chain from
    /// the snapshot's serial, oldest first) applied.
    ///
    /// # Errors
    ///
    /// A chain that does not start at the snapshot's serial or does not end at `serial`, a
    /// delta that removes a record the snapshot lacks, a record that does not decode, records
    /// that do not make a zone at `serial`.
    pub(crate) fn into_zone<'a>(
        self,
        serial: u32,
        deltas: impl IntoIterator<Item = &'a ZoneDelta>,
    ) -> Result<SignedZone, SignedFileError> {
        let no_chain = |path: &Path| SignedFileError::NoChain {
            path: path.to_path_buf(),
            from: self.serial,
            to: serial,
        };
        // The chain's net effect, by wire form: what it removes from the snapshot and what it
        // adds (in order), a record added and removed again cancelling out.
        let mut removed: HashSet<Vec<u8>> = HashSet::new();
        let mut added: IndexMap<Vec<u8>, Record> = IndexMap::new();
        let mut at = self.serial;
        for delta in deltas {
            if delta.from_serial != at {
                return Err(no_chain(&self.path));
            }
            for record in &delta.removed {
                let wire = encode_record(&self.path, record)?;
                if added.shift_remove(&wire).is_none() {
                    removed.insert(wire);
                }
            }
            for record in &delta.added {
                let wire = encode_record(&self.path, record)?;
                if !removed.remove(&wire) {
                    added.insert(wire, record.clone());
                }
            }
            at = delta.to_serial;
        }
        if at != serial {
            return Err(no_chain(&self.path));
        }
        let mut rest = &self.bytes[self.records_at..self.bytes.len() - CHECK_LEN];
        let mut failed = None;
        let mut index = 0;
        let records = std::iter::from_fn(|| {
            if index == self.count || failed.is_some() {
                return None;
            }
            let record = take_u16(&mut rest)
                .and_then(|len| take(&mut rest, usize::from(len)))
                .ok_or_else(|| "truncated".to_owned())
                .and_then(|wire| {
                    let mut decoder = BinDecoder::new(wire);
                    let record = Record::read(&mut decoder).map_err(|e| e.to_string())?;
                    if !decoder.is_empty() {
                        return Err("bytes after the record".to_owned());
                    }
                    Ok((wire, record))
                });
            index += 1;
            match record {
                Ok(found) => Some(found),
                Err(reason) => {
                    failed = Some(SignedFileError::BadRecord {
                        path: self.path.clone(),
                        index: index - 1,
                        reason,
                    });
                    None
                }
            }
        })
        .filter(|(wire, _)| !removed.remove(*wire))
        .map(|(_, record)| record)
        .chain(added.into_values().collect::<Vec<_>>());
        let zone = SignedZone::from_records(&self.origin, records);
        if let Some(error) = failed {
            return Err(error);
        }
        if !rest.is_empty() {
            return Err(SignedFileError::BadRecord {
                path: self.path,
                index: self.count,
                reason: "bytes after the last record".into(),
            });
        }
        if !removed.is_empty() {
            return Err(SignedFileError::ChainMismatch {
                path: self.path,
                serial: self.serial,
            });
        }
        let zone = zone.map_err(|source| SignedFileError::Zone {
            path: self.path.clone(),
            source,
        })?;
        if zone.serial() != serial {
            return Err(no_chain(&self.path));
        }
        Ok(zone)
    }
}

/// The file contents of `zone` made with `fingerprint` (`path` names it in errors).
pub(crate) fn encode(
    path: &Path,
    zone: &SignedZone,
    fingerprint: &Fingerprint,
) -> Result<Vec<u8>, SignedFileError> {
    let mut out = Vec::with_capacity(1 << 20);
    out.extend_from_slice(MAGIC);
    let mut origin = Vec::new();
    let mut encoder = BinEncoder::new(&mut origin);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    zone.origin()
        .emit(&mut encoder)
        .map_err(|e| SignedFileError::Encode {
            path: path.to_path_buf(),
            owner: zone.origin().clone(),
            reason: e.to_string(),
        })?;
    // A name is at most 255 octets.
    out.extend_from_slice(&(origin.len() as u16).to_be_bytes());
    out.extend_from_slice(&origin);
    out.extend_from_slice(&zone.serial().to_be_bytes());
    out.extend_from_slice(fingerprint);
    let count_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut count: u32 = 0;
    let mut wire = Vec::with_capacity(512);
    for record in zone.records() {
        let encode_err = |reason: String| SignedFileError::Encode {
            path: path.to_path_buf(),
            owner: record.name.clone(),
            reason,
        };
        put_record(&mut out, &mut wire, record).map_err(encode_err)?;
        count = count
            .checked_add(1)
            .ok_or_else(|| encode_err("too many records".into()))?;
    }
    out[count_at..count_at + 4].copy_from_slice(&count.to_be_bytes());
    let sum = ring::digest::digest(&ring::digest::SHA256, &out);
    out.extend_from_slice(sum.as_ref());
    Ok(out)
}

/// Writes `zone`, made with `fingerprint`, as the kept signed zone in `dir`, atomically
/// (temporary file, fsync, rename, fsync of the directory); returns the bytes written.
///
/// # Errors
///
/// A record that cannot be encoded, any I/O failure; each names the file.
pub(crate) fn store(
    dir: &Path,
    zone: &SignedZone,
    fingerprint: &Fingerprint,
) -> Result<usize, SignedFileError> {
    let path = signed_path(dir, zone.origin());
    let bytes = encode(&path, zone, fingerprint)?;
    super::state::replace_file(&path, &bytes)
        .map_err(|(path, source)| SignedFileError::Io { path, source })?;
    Ok(bytes.len())
}

/// A snapshot to write off the manager's task: the version (shared, not copied), where, and
/// what it was made with.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    pub(crate) dir: PathBuf,
    pub(crate) zone: Arc<SignedZone>,
    pub(crate) fingerprint: Fingerprint,
}

impl Snapshot {
    /// Writes it ([`store`]): the serial and fingerprint now on disk, and the bytes written.
    ///
    /// # Errors
    ///
    /// As [`store`].
    pub(crate) fn write(&self) -> Result<(u32, Fingerprint, usize), SignedFileError> {
        let bytes = store(&self.dir, &self.zone, &self.fingerprint)?;
        Ok((self.zone.serial(), self.fingerprint, bytes))
    }
}

/// The uncompressed wire form of `record`, as the file holds it.
fn encode_record(path: &Path, record: &Record) -> Result<Vec<u8>, SignedFileError> {
    let mut wire = Vec::with_capacity(256);
    let mut encoder = BinEncoder::new(&mut wire);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    record
        .emit(&mut encoder)
        .map_err(|e| SignedFileError::Encode {
            path: path.to_path_buf(),
            owner: record.name.clone(),
            reason: e.to_string(),
        })?;
    Ok(wire)
}

/// SHA-256 of what a signed version depends on besides its content: the denial of existence
/// (NSEC or NSEC3 and its parameters), the signature timing (inception offset, validity,
/// refresh, jitter), the DNSKEY TTL, and each key with its use (its DNSKEY gives the
/// algorithm). A kept version is used only under the same fingerprint.
pub(crate) fn fingerprint<'k>(
    signing: &crate::config::SigningConfig,
    keys: impl IntoIterator<Item = (&'k daned_sign::keys::SigningKey, daned_sign::sign::KeyUse)>,
) -> Fingerprint {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"daned-signed-1");
    match signing.denial {
        daned_sign::nsec3::Denial::Nsec => ctx.update(b"nsec"),
        daned_sign::nsec3::Denial::Nsec3(params) => {
            ctx.update(b"nsec3");
            ctx.update(&params.iterations.to_be_bytes());
            ctx.update(&[params.salt.as_slice().len() as u8]);
            ctx.update(params.salt.as_slice());
        }
        // A denial this version does not know: never equal to a known one's.
        other => ctx.update(format!("{other:?}").as_bytes()),
    }
    let p = signing.policy;
    for value in [
        p.inception_offset,
        p.validity,
        p.refresh,
        p.jitter,
        signing.dnskey_ttl,
    ] {
        ctx.update(&value.to_be_bytes());
    }
    for (key, usage) in keys {
        ctx.update(key.dnskey().to_string().as_bytes());
        ctx.update(&crate::zone::content::key_use_bytes(usage));
    }
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests;
