//! Per-zone state kept across restarts in the state directory: the last published SOA serial and
//! a digest of the content it was published with.
//!
//! The serial only ever increases (RFC 1982), across restarts too; a restart with unchanged
//! content keeps the serial.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use daned_sign::hickory_proto::dnssec::Algorithm;
use daned_sign::hickory_proto::rr::Name;
use daned_sign::keys::{KeyAlgorithm, KeyRole};
use daned_sign::lifecycle::{DsState, KeyRecord, KeyState as LifecycleState};
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
    pub bindings: std::collections::BTreeMap<String, crate::zone::tlsa::rollover::BindingState>,
    /// The zone's DNSSEC keys and their lifecycle states, in the order they were added. Empty
    /// in state files of before automatic rollovers: the keys found in key-dir are adopted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyState>,
}

/// One key's lifecycle record as stored: a [`KeyRecord`] plus its file name in key-dir.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KeyState {
    /// Key tag.
    pub tag: u16,
    /// DNSSEC algorithm number (13, 15, ...).
    pub algorithm: u8,
    /// `csk`, `ksk` or `zsk`.
    pub role: String,
    /// Lifecycle state name (`published`, `active`, ...).
    pub state: String,
    /// When the key was created (seconds since the epoch).
    pub created: u32,
    /// When it entered `state`.
    pub since: u32,
    /// When it became active, if it has been.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_since: Option<u32>,
    /// Its DS at the parent: `none`, `submitted`, `seen` or `withdrawn`.
    pub ds: String,
    /// When `ds` last changed (absent for `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_since: Option<u32>,
    /// The key file's name in key-dir.
    pub file: String,
}

impl KeyState {
    /// The stored form of `record`, kept in `file`.
    pub fn from_record(record: &KeyRecord, file: &str) -> Self {
        let (ds, ds_since) = match record.ds {
            DsState::None => ("none", None),
            DsState::Submitted { since } => ("submitted", Some(since)),
            DsState::Seen { at } => ("seen", Some(at)),
            DsState::Withdrawn { since } => ("withdrawn", Some(since)),
        };
        Self {
            tag: record.tag,
            algorithm: u8::from(record.algorithm.dnssec_algorithm()),
            role: role_name(record.role).to_owned(),
            state: record.state.name().to_owned(),
            created: record.created,
            since: record.since,
            active_since: record.active_since,
            ds: ds.to_owned(),
            ds_since,
            file: file.to_owned(),
        }
    }

    /// The lifecycle record, or what is wrong with the stored one.
    ///
    /// # Errors
    ///
    /// An unknown algorithm, role, state or DS state.
    pub fn to_record(&self) -> Result<KeyRecord, String> {
        let algorithm = KeyAlgorithm::from_dnssec_algorithm(Algorithm::from_u8(self.algorithm))
            .map_err(|e| format!("key {}: {e}", self.tag))?;
        let role = parse_role(&self.role)
            .ok_or_else(|| format!("key {}: unknown role {:?}", self.tag, self.role))?;
        let state = LifecycleState::from_name(&self.state)
            .ok_or_else(|| format!("key {}: unknown state {:?}", self.tag, self.state))?;
        let at = self.ds_since.unwrap_or(self.since);
        let ds = match self.ds.as_str() {
            "none" => DsState::None,
            "submitted" => DsState::Submitted { since: at },
            "seen" => DsState::Seen { at },
            "withdrawn" => DsState::Withdrawn { since: at },
            other => return Err(format!("key {}: unknown ds state {other:?}", self.tag)),
        };
        Ok(KeyRecord {
            tag: self.tag,
            algorithm,
            role,
            state,
            created: self.created,
            since: self.since,
            active_since: self.active_since,
            ds,
        })
    }
}

/// `csk`, `ksk` or `zsk`: the names used in key file names, the state file and status output.
pub fn role_name(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Ksk => "ksk",
        KeyRole::Zsk => "zsk",
        _ => "csk",
    }
}

/// The inverse of [`role_name`].
pub fn parse_role(name: &str) -> Option<KeyRole> {
    match name {
        "csk" => Some(KeyRole::Csk),
        "ksk" => Some(KeyRole::Ksk),
        "zsk" => Some(KeyRole::Zsk),
        _ => None,
    }
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
    dir.join(format!("{}.state.json", file_stem(origin)))
}

/// The stem of `origin`'s files in the state directory: the zone in lowercase without its
/// trailing dot, `root` for the root zone (`example.com.state.json`, `example.com.journal`).
pub(crate) fn file_stem(origin: &Name) -> String {
    let zone = origin.to_lowercase().to_ascii();
    zone.strip_suffix('.')
        .filter(|z| !z.is_empty())
        .unwrap_or("root")
        .to_owned()
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

/// Removes the temporary files that writes interrupted by a crash or a full disk left in
/// `dir`: [`replace_file`]'s `<name>.tmp-<pid>` and the key store's `.<name>.tmp-<pid>`, of
/// any process but this one. Returns each file tried and how it went; a missing `dir` has
/// none.
pub fn sweep_temporaries(dir: &Path) -> Vec<(PathBuf, io::Result<()>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let own = format!(".tmp-{}", std::process::id());
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let (_, pid) = name.rsplit_once(".tmp-")?;
            let temporary = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
            (temporary && !name.ends_with(&own)).then(|| entry.path())
        })
        .map(|path| {
            let result = fs::remove_file(&path);
            (path, result)
        })
        .collect()
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
            keys: Vec::new(),
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

    /// A crash between writing a temporary file and renaming it leaves the temporary file:
    /// the next start removes it, and nothing else.
    #[test]
    fn stale_temporaries_are_swept_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let keep = [
            "example.com.state.json",
            "example.com.journal",
            "example.com+013+01234.csk.pem",
            "notes.tmp-old",
            &format!("example.com.journal.tmp-{}", std::process::id()),
        ];
        let stale = [
            "example.com.state.json.tmp-4242",
            "example.com.journal.tmp-1",
            ".example.com+013+01234.csk.pem.tmp-77",
        ];
        for name in keep.iter().chain(&stale) {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        let mut removed: Vec<String> = sweep_temporaries(dir.path())
            .into_iter()
            .map(|(path, result)| {
                result.unwrap();
                path.file_name().unwrap().to_str().unwrap().to_owned()
            })
            .collect();
        removed.sort();
        let mut expected: Vec<String> = stale.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(removed, expected);
        for name in keep {
            assert!(dir.path().join(name).exists(), "{name} kept");
        }
    }
}
