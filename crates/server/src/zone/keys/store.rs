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

use crate::fsutil::{self, ReadError};
use crate::zone::persist::state::{parse_role, role_name};
use daned_sign::bindkey::{self, BindKeyError};
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
    /// A key file could not be read (not a regular file, too large, not UTF-8, or an I/O
    /// error); the error names it.
    #[error(transparent)]
    Read(#[from] ReadError),
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
    let text = read_text(path)?;
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
        role_name(role)
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

/// The file name daned gives `key` of `origin`: `<zone>+<alg>+<tag>.<role>.pem`.
pub fn key_file_name(origin: &Name, key: &SigningKey) -> String {
    format!(
        "{}+{:03}+{:05}.{}.pem",
        zone_prefix(origin),
        u8::from(key.dnssec_algorithm()),
        key.key_tag(),
        role_name(key.role())
    )
}

/// Errors importing or exporting keys (BIND key files, PKCS#8 PEM). Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyTransferError {
    /// A key-directory problem, see [`KeyStoreError`].
    #[error(transparent)]
    Store(#[from] KeyStoreError),
    /// A BIND key file is malformed, unsupported, or not half of the other file's key.
    #[error(transparent)]
    Bind(#[from] BindKeyError),
    /// The key is for another zone.
    #[error("{}: the key is for zone {found}, not {wanted}", path.display())]
    WrongZone {
        /// The `.key` file.
        path: PathBuf,
        /// Its owner.
        found: Name,
        /// The zone asked for.
        wanted: Name,
    },
    /// A PKCS#8 PEM file was given without a role (PEM has no DNSKEY flags to take it from).
    #[error("{}: a PEM key has no DNSKEY flags; say which role it has with --role csk|ksk|zsk", path.display())]
    RoleNeeded {
        /// The PEM file.
        path: PathBuf,
    },
    /// The same public key is already in the key directory under another role.
    #[error(
        "{}: this key is already in the key directory as {}, with another role",
        source_file.display(), existing.display()
    )]
    OtherRole {
        /// The file being imported.
        source_file: PathBuf,
        /// The key file already there.
        existing: PathBuf,
    },
    /// No key, or more than one, of the zone has the key tag.
    #[error("zone {origin}: {reason} in {}", dir.display())]
    NoSuchKey {
        /// The zone.
        origin: Name,
        /// The key directory.
        dir: PathBuf,
        /// "no key with tag N" or "several keys with tag N: ...".
        reason: String,
    },
    /// An export would replace an existing file.
    #[error("{}: already exists; export never overwrites a file", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
}

/// A key read from files given to `daned import-key`, not yet stored.
#[derive(Debug)]
pub struct KeyToImport {
    /// The key.
    pub key: SigningKey,
    /// Its PKCS#8 form, to store.
    pub pkcs8: Pkcs8Key,
    /// Where it came from (the `.private` file for a BIND pair).
    pub source: PathBuf,
}

/// What [`import_key`] did.
#[derive(Debug)]
pub enum ImportOutcome {
    /// The key was written to this file.
    Imported(PathBuf),
    /// The same key (same DNSKEY, same role) was already in this file; nothing was written.
    AlreadyImported(PathBuf),
}

fn read_text(path: &Path) -> Result<String, KeyStoreError> {
    Ok(fsutil::read_bounded_to_string(path, fsutil::MAX_KEY_BYTES)?)
}

/// Reads a key to import for `origin` from `path`: one file of a BIND pair (`.key` or
/// `.private`; the other is found by name beside it) or a PKCS#8 PEM private key. The role of
/// a BIND key comes from its DNSKEY flags (257: CSK, or KSK when `role` says so; 256: ZSK);
/// a PEM key needs `role`.
///
/// # Errors
///
/// [`KeyTransferError`], naming the file (and line) at fault.
pub fn read_key_to_import(
    path: &Path,
    origin: &Name,
    role: Option<KeyRole>,
    rng: &dyn SecureRandom,
) -> Result<KeyToImport, KeyTransferError> {
    let extension = path.extension().and_then(|e| e.to_str());
    if let Some("key" | "private") = extension {
        let key_path = path.with_extension("key");
        let private_path = path.with_extension("private");
        let key_name = key_path.display().to_string();
        let private_name = private_path.display().to_string();
        let public = bindkey::parse_public_key(&read_text(&key_path)?, &key_name)?;
        if daned_sign::zone::canonical_name(&public.owner)
            != daned_sign::zone::canonical_name(origin)
        {
            return Err(KeyTransferError::WrongZone {
                path: key_path,
                found: public.owner,
                wanted: origin.clone(),
            });
        }
        let private = bindkey::parse_private_key(&read_text(&private_path)?, &private_name)?;
        let imported =
            bindkey::import_pair(&public, &key_name, &private, &private_name, role, rng)?;
        return Ok(KeyToImport {
            key: imported.key,
            pkcs8: imported.pkcs8,
            source: private_path,
        });
    }
    let role = role.ok_or_else(|| KeyTransferError::RoleNeeded {
        path: path.to_path_buf(),
    })?;
    let bad = |reason: String| KeyStoreError::BadKey {
        path: path.to_path_buf(),
        reason,
    };
    let pkcs8 = Pkcs8Key::from_pem(&read_text(path)?).map_err(|e| bad(e.to_string()))?;
    let (key, pkcs8) = match SigningKey::from_pkcs8(&pkcs8, role, rng) {
        Ok(key) => (key, pkcs8),
        // ring wants the ECDSA scalar at its exact length (RFC 5915 §3); GnuTLS, so Knot's
        // keymgr, writes it as a DER integer with a leading zero byte when its top bit is set.
        // Re-encoding from the key's parts gives the canonical form daned then stores.
        Err(first) => {
            let canonical = pkcs8
                .parts()
                .and_then(|parts| Pkcs8Key::from_parts(&parts))
                .map_err(|_| bad(first.to_string()))?;
            let key = SigningKey::from_pkcs8(&canonical, role, rng)
                .map_err(|_| bad(first.to_string()))?;
            (key, canonical)
        }
    };
    Ok(KeyToImport {
        key,
        pkcs8,
        source: path.to_path_buf(),
    })
}

/// Stores an imported key of `origin` in `dir` under daned's own name
/// ([`key_file_name`]), the way [`create_key`] stores a new one: mode 0600, atomically, never
/// replacing a file. A key whose DNSKEY is already in the directory with the same role is
/// reported as [`ImportOutcome::AlreadyImported`].
///
/// # Errors
///
/// [`KeyTransferError::OtherRole`] when the key is there under another role; an unreadable key
/// directory; any I/O failure, naming the file.
pub fn import_key(
    dir: &Path,
    origin: &Name,
    import: &KeyToImport,
    rng: &dyn SecureRandom,
) -> Result<ImportOutcome, KeyTransferError> {
    let public = import.key.dnskey().public_key();
    for stored in load_keys(dir, origin, rng)? {
        let there = stored.key.dnskey().public_key();
        // Same algorithm and public key bytes (flags aside: those are the role).
        if there == public {
            if stored.key.role() == import.key.role() {
                return Ok(ImportOutcome::AlreadyImported(stored.path));
            }
            return Err(KeyTransferError::OtherRole {
                source_file: import.source.clone(),
                existing: stored.path,
            });
        }
    }
    ensure_private_dir(dir)?;
    let path = dir.join(key_file_name(origin, &import.key));
    write_new_file(&path, import.pkcs8.to_pem().as_bytes())?;
    // Read it back as the daemon will, so a key that does not load is never left unnoticed.
    let stored = load_key(&path, rng)?;
    if stored.key.dnskey() != import.key.dnskey() {
        return Err(KeyStoreError::BadKey {
            path,
            reason: "the stored key reads back as another key".into(),
        }
        .into());
    }
    Ok(ImportOutcome::Imported(path))
}

/// A key written as a BIND pair by [`export_key`].
#[derive(Debug)]
pub struct ExportedKey {
    /// The key.
    pub key: SigningKey,
    /// The daned key file it came from.
    pub from: PathBuf,
    /// The `K<zone>+<alg>+<tag>.key` file written.
    pub key_file: PathBuf,
    /// The `K<zone>+<alg>+<tag>.private` file written (mode 0600).
    pub private_file: PathBuf,
}

/// Writes the key of `origin` with `key_tag` from `dir` as a BIND pair in `out_dir`
/// (`.private` mode 0600, `.key` mode 0644; the DNSKEY with `dnskey_ttl`). The key file's
/// modification time is written as its `Created`, `Publish` and `Activate` times, so BIND
/// treats the key as active. Never replaces a file.
///
/// # Errors
///
/// [`KeyTransferError::NoSuchKey`] when no key (or more than one) has the tag,
/// [`KeyTransferError::Exists`] when either output file exists, any I/O failure naming the file.
pub fn export_key(
    dir: &Path,
    origin: &Name,
    key_tag: u16,
    dnskey_ttl: u32,
    out_dir: &Path,
    rng: &dyn SecureRandom,
) -> Result<ExportedKey, KeyTransferError> {
    let mut found: Vec<StoredKey> = load_keys(dir, origin, rng)?
        .into_iter()
        .filter(|k| k.key.key_tag() == key_tag)
        .collect();
    let no_such = |reason: String| KeyTransferError::NoSuchKey {
        origin: origin.clone(),
        dir: dir.to_path_buf(),
        reason,
    };
    let stored = match (found.pop(), found.is_empty()) {
        (Some(stored), true) => stored,
        (None, _) => return Err(no_such(format!("no key with tag {key_tag}"))),
        (Some(stored), false) => {
            let names: Vec<String> = found
                .iter()
                .chain(std::iter::once(&stored))
                .map(|k| k.path.display().to_string())
                .collect();
            return Err(no_such(format!(
                "several keys with tag {key_tag} ({})",
                names.join(", ")
            )));
        }
    };
    let bad = |reason: String| KeyStoreError::BadKey {
        path: stored.path.clone(),
        reason,
    };
    let pkcs8 = Pkcs8Key::from_pem(&read_text(&stored.path)?).map_err(|e| bad(e.to_string()))?;
    let parts = pkcs8.parts().map_err(|e| bad(e.to_string()))?;
    let created = fs::metadata(&stored.path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| u32::try_from(d.as_secs()).ok());
    let stem = bindkey::file_stem(origin, &stored.key);
    let key_file = out_dir.join(format!("{stem}.key"));
    let private_file = out_dir.join(format!("{stem}.private"));
    for path in [&key_file, &private_file] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(KeyTransferError::Exists { path: path.clone() });
        }
    }
    fs::create_dir_all(out_dir).map_err(|e| KeyStoreError::io(out_dir, e))?;
    write_new_file(
        &private_file,
        bindkey::format_private_key(&parts, created).as_bytes(),
    )?;
    let public = bindkey::format_public_key(origin, Some(dnskey_ttl), &stored.key, created);
    write_new_file(&key_file, public.as_bytes())?;
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644))
        .map_err(|e| KeyStoreError::io(&key_file, e))?;
    Ok(ExportedKey {
        key: stored.key,
        from: stored.path,
        key_file,
        private_file,
    })
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

    /// A PEM key written where `import-key` would read it.
    fn pem_file(dir: &Path, algorithm: KeyAlgorithm) -> PathBuf {
        let rng = SystemRandom::new();
        let path = dir.join(format!("{algorithm}.pem"));
        let pkcs8 = SigningKey::generate(algorithm, &rng).unwrap();
        fs::write(&path, pkcs8.to_pem()).unwrap();
        path
    }

    #[test]
    fn import_is_idempotent_and_refuses_a_second_role() {
        let dir = tempfile::tempdir().unwrap();
        let kdir = dir.path().join("keys");
        let rng = SystemRandom::new();
        let pem = pem_file(dir.path(), KeyAlgorithm::EcdsaP256Sha256);
        let err = read_key_to_import(&pem, &origin(), None, &rng).unwrap_err();
        assert!(matches!(err, KeyTransferError::RoleNeeded { .. }), "{err}");
        let import = read_key_to_import(&pem, &origin(), Some(KeyRole::Zsk), &rng).unwrap();
        let ImportOutcome::Imported(path) = import_key(&kdir, &origin(), &import, &rng).unwrap()
        else {
            panic!("not imported");
        };
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            key_file_name(&origin(), &import.key)
        );
        assert!(path.to_str().unwrap().ends_with(".zsk.pem"));
        let again = import_key(&kdir, &origin(), &import, &rng).unwrap();
        assert!(matches!(again, ImportOutcome::AlreadyImported(ref p) if *p == path));
        let as_ksk = read_key_to_import(&pem, &origin(), Some(KeyRole::Ksk), &rng).unwrap();
        let err = import_key(&kdir, &origin(), &as_ksk, &rng).unwrap_err();
        assert!(matches!(err, KeyTransferError::OtherRole { .. }), "{err}");
        assert_eq!(fs::read_dir(&kdir).unwrap().count(), 1);
    }

    /// Knot's keymgr (GnuTLS) writes a P-256 scalar whose top bit is set as 33 bytes with a
    /// leading zero; RFC 5915 §3 wants exactly 32. The key imports, stored canonically.
    #[test]
    fn knot_keymgr_ecdsa_key_with_a_33_byte_scalar_imports() {
        let dir = tempfile::tempdir().unwrap();
        let kdir = dir.path().join("keys");
        let rng = SystemRandom::new();
        let pem = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sign/tests/data/pkcs8/knot-p256-33-byte-scalar.pem");
        let original = Pkcs8Key::from_pem(&fs::read_to_string(&pem).unwrap()).unwrap();
        assert!(
            SigningKey::from_pkcs8(&original, KeyRole::Ksk, &rng).is_err(),
            "ring accepts the 33-byte scalar as it is: the test data no longer tests anything"
        );
        let import = read_key_to_import(&pem, &origin(), Some(KeyRole::Ksk), &rng).unwrap();
        let ImportOutcome::Imported(path) = import_key(&kdir, &origin(), &import, &rng).unwrap()
        else {
            panic!("not imported");
        };
        let loaded = load_keys(&kdir, &origin(), &rng).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].path, path);
        assert_eq!(loaded[0].key.dnskey(), import.key.dnskey());
    }

    #[test]
    fn export_writes_a_bind_pair_once() {
        let dir = tempfile::tempdir().unwrap();
        let kdir = dir.path().join("keys");
        let rng = SystemRandom::new();
        let created =
            create_key(&kdir, &origin(), KeyAlgorithm::Ed25519, KeyRole::Csk, &rng).unwrap();
        let tag = created.key.key_tag();
        let out = dir.path().join("out");
        let err = export_key(&kdir, &origin(), tag.wrapping_add(1), 3600, &out, &rng).unwrap_err();
        assert!(matches!(err, KeyTransferError::NoSuchKey { .. }), "{err}");
        let exported = export_key(&kdir, &origin(), tag, 3600, &out, &rng).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&exported.private_file), 0o600);
        assert_eq!(mode(&exported.key_file), 0o644);
        // Read back as an import from the exported .key file: the same key.
        let back = read_key_to_import(&exported.key_file, &origin(), None, &rng).unwrap();
        assert_eq!(back.key.dnskey(), created.key.dnskey());
        let other = Name::from_ascii("example.org.").unwrap();
        let err = read_key_to_import(&exported.key_file, &other, None, &rng).unwrap_err();
        assert!(matches!(err, KeyTransferError::WrongZone { .. }), "{err}");
        let before = fs::read(&exported.private_file).unwrap();
        let err = export_key(&kdir, &origin(), tag, 3600, &out, &rng).unwrap_err();
        assert!(matches!(err, KeyTransferError::Exists { .. }), "{err}");
        assert_eq!(fs::read(&exported.private_file).unwrap(), before);
    }
}
