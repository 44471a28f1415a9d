//! Private keys on disk: one PKCS#8 PEM file per key, in the configured key directory.
//!
//! A key file is named `<zone>+<algorithm>+<key tag>.<role>.pem`, e.g.
//! `example.com+013+12345.csk.pem` (the zone without its trailing dot; the root zone is `.`).
//! Keys are created atomically (written to a temporary file with mode 0600, fsynced, then
//! hard-linked to their final name, which fails rather than replace an existing file) and are
//! never overwritten or deleted by daned. A key file that the group or others can read is
//! refused.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use daned_sign::hickory_proto::rr::Name;
use daned_sign::keys::{KeyAlgorithm, KeyRole, Pkcs8Key, SigningKey};
use ring::rand::SecureRandom;

/// A key loaded from disk, with where it came from.
pub struct StoredKey {
    /// The key.
    pub key: SigningKey,
    /// Its file.
    pub path: PathBuf,
}

/// Errors reading, checking or creating key files. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// The file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A private key file is readable by group or others.
    #[error(
        "{}: private key is readable by group or others (mode {mode:o}); run `chmod 600` on it",
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a key daned can use.
    #[error("{}: {reason}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl KeyStoreError {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The file-name prefix of `origin`'s keys: the zone without its trailing dot.
fn zone_prefix(origin: &Name) -> String {
    let s = origin.to_lowercase().to_ascii();
    match s.strip_suffix('.') {
        Some("") | None => ".".to_string(),
        Some(rest) => rest.to_string(),
    }
}

fn role_suffix(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Ksk => "ksk",
        KeyRole::Zsk => "zsk",
        _ => "csk",
    }
}

fn parse_role(s: &str) -> Option<KeyRole> {
    match s {
        "csk" => Some(KeyRole::Csk),
        "ksk" => Some(KeyRole::Ksk),
        "zsk" => Some(KeyRole::Zsk),
        _ => None,
    }
}

/// Loads every key of `origin` in `dir`, sorted by file name. A missing directory means no keys.
///
/// # Errors
///
/// The first unreadable, group/world-readable or unparsable key file.
pub fn load_keys(
    dir: &Path,
    origin: &Name,
    rng: &dyn SecureRandom,
) -> Result<Vec<StoredKey>, KeyStoreError> {
    let prefix = format!("{}+", zone_prefix(origin));
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeyStoreError::io(dir, e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| KeyStoreError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&prefix) && name.ends_with(".pem") {
            paths.push(entry.path());
        }
    }
    paths.sort();
    paths.into_iter().map(|p| load_key(&p, rng)).collect()
}

/// Loads one key file, checking its permissions and that its name matches its content.
///
/// # Errors
///
/// See [`KeyStoreError`].
pub fn load_key(path: &Path, rng: &dyn SecureRandom) -> Result<StoredKey, KeyStoreError> {
    let meta = fs::metadata(path).map_err(|e| KeyStoreError::io(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyStoreError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let bad = |reason: String| KeyStoreError::BadKey {
        path: path.to_path_buf(),
        reason,
    };
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("file name is not UTF-8".into()))?;
    let role = file_name
        .strip_suffix(".pem")
        .and_then(|stem| stem.rsplit_once('.'))
        .and_then(|(_, role)| parse_role(role))
        .ok_or_else(|| bad("file name must end in .csk.pem, .ksk.pem or .zsk.pem".into()))?;
    let text = fs::read_to_string(path).map_err(|e| KeyStoreError::io(path, e))?;
    let pkcs8 = Pkcs8Key::from_pem(&text).map_err(|e| bad(e.to_string()))?;
    let key = SigningKey::from_pkcs8(&pkcs8, role, rng).map_err(|e| bad(e.to_string()))?;
    let expected_tag = format!("+{:05}.", key.key_tag());
    if !file_name.contains(&expected_tag) {
        return Err(bad(format!(
            "file name does not match the key inside (its key tag is {})",
            key.key_tag()
        )));
    }
    Ok(StoredKey {
        key,
        path: path.to_path_buf(),
    })
}

/// Generates a key for `origin` and stores it in `dir` (created with mode 0700 if missing).
/// The new file never replaces an existing one.
///
/// # Errors
///
/// Key generation or any I/O failure, naming the file.
pub fn create_key(
    dir: &Path,
    origin: &Name,
    algorithm: KeyAlgorithm,
    role: KeyRole,
    rng: &dyn SecureRandom,
) -> Result<StoredKey, KeyStoreError> {
    ensure_private_dir(dir)?;
    let pkcs8 = SigningKey::generate(algorithm, rng).map_err(|e| KeyStoreError::BadKey {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let key = SigningKey::from_pkcs8(&pkcs8, role, rng).map_err(|e| KeyStoreError::BadKey {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let file_name = format!(
        "{}+{:03}+{:05}.{}.pem",
        zone_prefix(origin),
        u8::from(key.dnssec_algorithm()),
        key.key_tag(),
        role_suffix(role)
    );
    let path = dir.join(file_name);
    write_new_file(&path, pkcs8.to_pem().as_bytes())?;
    Ok(StoredKey { key, path })
}

/// Creates `dir` with mode 0700 when it does not exist.
///
/// # Errors
///
/// The I/O error, naming the directory.
pub fn ensure_private_dir(dir: &Path) -> Result<(), KeyStoreError> {
    match fs::metadata(dir) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| KeyStoreError::io(dir, e))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| KeyStoreError::io(dir, e))
        }
        Err(e) => Err(KeyStoreError::io(dir, e)),
    }
}

/// Writes `data` to a new file at `path` with mode 0600: temporary file, fsync, hard link to the
/// final name (which fails if it exists: nothing is ever overwritten), fsync of the directory.
///
/// # Errors
///
/// Any I/O failure, naming the file; `AlreadyExists` when `path` exists.
pub fn write_new_file(path: &Path, data: &[u8]) -> Result<(), KeyStoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("key"),
        std::process::id()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| KeyStoreError::io(&tmp, e))?;
        file.write_all(data)
            .map_err(|e| KeyStoreError::io(&tmp, e))?;
        file.sync_all().map_err(|e| KeyStoreError::io(&tmp, e))?;
        fs::hard_link(&tmp, path).map_err(|e| KeyStoreError::io(path, e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| KeyStoreError::io(dir, e))
    })();
    // The temporary name is ours alone (create_new); remove it whatever happened.
    let _ = fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    #[test]
    fn created_key_is_0600_and_reloads_with_the_same_tag() {
        let dir = tempfile::tempdir().unwrap();
        let kdir = dir.path().join("keys");
        let rng = SystemRandom::new();
        let created = create_key(
            &kdir,
            &origin(),
            KeyAlgorithm::EcdsaP256Sha256,
            KeyRole::Csk,
            &rng,
        )
        .unwrap();
        let mode = fs::metadata(&created.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&kdir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let loaded = load_keys(&kdir, &origin(), &rng).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].key.key_tag(), created.key.key_tag());
        assert_eq!(loaded[0].key.dnskey(), created.key.dnskey());
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&kdir).unwrap().count(), 1);
    }

    #[test]
    fn existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        write_new_file(&path, b"first").unwrap();
        let err = write_new_file(&path, b"second").unwrap_err();
        assert!(
            matches!(err, KeyStoreError::Io { ref source, .. } if source.kind() == io::ErrorKind::AlreadyExists)
        );
        assert_eq!(fs::read(&path).unwrap(), b"first");
    }

    #[test]
    fn group_readable_key_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let rng = SystemRandom::new();
        let created = create_key(
            dir.path(),
            &origin(),
            KeyAlgorithm::Ed25519,
            KeyRole::Csk,
            &rng,
        )
        .unwrap();
        fs::set_permissions(&created.path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_keys(dir.path(), &origin(), &SystemRandom::new())
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(
            matches!(err, KeyStoreError::Permissions { mode: 0o640, .. }),
            "{msg}"
        );
        assert!(msg.contains(created.path.to_str().unwrap()), "{msg}");
        assert!(msg.contains("chmod 600"), "{msg}");
    }

    #[test]
    fn garbage_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.com+013+00001.csk.pem");
        write_new_file(&path, b"-----BEGIN PRIVATE KEY-----\nnot base64\n").unwrap();
        let err = load_keys(dir.path(), &origin(), &SystemRandom::new())
            .err()
            .unwrap();
        assert!(matches!(err, KeyStoreError::BadKey { .. }), "{err}");
        assert!(err.to_string().contains("example.com+013+00001.csk.pem"));
    }

    #[test]
    fn keys_of_other_zones_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let rng = SystemRandom::new();
        let other = Name::from_ascii("example.org.").unwrap();
        create_key(
            dir.path(),
            &other,
            KeyAlgorithm::Ed25519,
            KeyRole::Csk,
            &rng,
        )
        .unwrap();
        assert!(
            load_keys(dir.path(), &origin(), &SystemRandom::new())
                .unwrap()
                .is_empty()
        );
    }
}
