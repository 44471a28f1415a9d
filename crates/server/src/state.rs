//! Per-zone state kept across restarts in the state directory: the last published SOA serial and
//! a digest of the content it was published with.
//!
//! The serial only ever increases (RFC 1982), across restarts too; a restart with unchanged
//! content keeps the serial.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use daned_sign::hickory_proto::rr::Name;
use serde::{Deserialize, Serialize};

/// What is remembered about one zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ZoneState {
    /// The last serial daned published for the zone.
    pub serial: u32,
    /// Hex SHA-256 of the content (unsigned records and keys) published with that serial.
    pub content_digest: String,
    /// The TLSA rollover state of each binding, by binding name: what is published and since
    /// when, so that a restart neither resets a wait nor drops a record early.
    #[serde(default)]
    pub bindings: std::collections::BTreeMap<String, crate::rollover::BindingState>,
}

/// Errors reading or writing the state directory, naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// I/O failure.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not valid state.
    #[error("{}: corrupt state file: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The state file of `origin` in `dir`.
pub fn state_path(dir: &Path, origin: &Name) -> PathBuf {
    let zone = origin.to_lowercase().to_ascii();
    let zone = zone
        .strip_suffix('.')
        .filter(|z| !z.is_empty())
        .unwrap_or("root");
    dir.join(format!("{zone}.state.json"))
}

/// Reads the state of `origin`; `None` when there is none yet.
///
/// # Errors
///
/// An unreadable or corrupt file. A corrupt file is an error rather than a fresh start: starting
/// over could publish a serial lower than one the secondaries already have.
pub fn load(dir: &Path, origin: &Name) -> Result<Option<ZoneState>, StateError> {
    let path = state_path(dir, origin);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Io { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StateError::Corrupt {
            path,
            reason: e.to_string(),
        })
}

/// Stores the state of `origin` atomically (temporary file, fsync, rename, fsync of the
/// directory), creating `dir` if needed.
///
/// # Errors
///
/// Any I/O failure, naming the file.
pub fn store(dir: &Path, origin: &Name, state: &ZoneState) -> Result<(), StateError> {
    let path = state_path(dir, origin);
    let mut text = serde_json::to_string_pretty(state).map_err(|e| StateError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    text.push('\n');
    replace_file(&path, text.as_bytes()).map_err(|(path, source)| StateError::Io { path, source })
}

/// Replaces the file at `path` with `data` atomically: a temporary file beside it, fsync,
/// rename over `path`, fsync of the directory (created if missing). On failure, the path that
/// failed and the error.
///
/// # Errors
///
/// The first I/O failure, with the path it concerns.
pub fn replace_file(path: &Path, data: &[u8]) -> Result<(), (PathBuf, io::Error)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let on = |p: &Path| {
        let p = p.to_path_buf();
        move |e| (p, e)
    };
    fs::create_dir_all(dir).map_err(on(dir))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(on(&tmp))?;
    file.write_all(data).map_err(on(&tmp))?;
    file.sync_all().map_err(on(&tmp))?;
    fs::rename(&tmp, path).map_err(on(path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(on(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let origin = Name::from_ascii("example.com.").unwrap();
        assert_eq!(load(dir.path(), &origin).unwrap(), None);
        let st = ZoneState {
            serial: 2026112805,
            content_digest: "ab".into(),
            bindings: Default::default(),
        };
        store(dir.path(), &origin, &st).unwrap();
        assert_eq!(load(dir.path(), &origin).unwrap(), Some(st));
        assert!(state_path(dir.path(), &origin).ends_with("example.com.state.json"));
    }

    #[test]
    fn corrupt_state_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let origin = Name::from_ascii("example.com.").unwrap();
        fs::write(state_path(dir.path(), &origin), "{ not json").unwrap();
        let err = load(dir.path(), &origin).unwrap_err();
        assert!(err.to_string().contains("example.com.state.json"), "{err}");
    }
}
