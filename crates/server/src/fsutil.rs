//! Bounded reads: every file daned reads (config, zone files and their includes, certificates,
//! next-key files, key files, TSIG secret files) is opened here.
//!
//! A file is opened with `O_NONBLOCK`, so that opening a FIFO returns at once instead of
//! waiting for a writer, and its type is then checked on the open handle (`fstat`), so that a
//! path swapped between a check and the open cannot slip a FIFO or a device in: anything but a
//! regular file is refused. The read stops one byte past its cap: `/dev/zero` or a runaway
//! file cannot make daned allocate more than the cap. For a regular file `O_NONBLOCK` changes
//! nothing (POSIX: it has no effect on regular files).
//!
//! # Limitations
//!
//! A regular file on a network file system that stops answering still blocks the read; only
//! the kind and the size of what is read are bounded here.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest config file read (a config of thousands of zones is well under a megabyte).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// The largest certificate or next-key file read (a full chain is a few kilobytes; the
/// certificate watcher hashes files up to the same size).
pub const MAX_CERTIFICATE_BYTES: u64 = 16 * 1024 * 1024;

/// The largest key file read (a PKCS#8 PEM or BIND key of RSA-4096 is under 4 KiB).
pub const MAX_KEY_BYTES: u64 = 1024 * 1024;

/// The largest TSIG secret file read (a base64 secret of a few dozen bytes).
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// A file that could not be read, with its path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: ReadErrorKind,
}

/// What went wrong reading a file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// Opening or reading failed.
    Io(io::Error),
    /// The path is not a regular file (a FIFO, a device, a directory, a socket).
    NotRegular(&'static str),
    /// The file is larger than the cap.
    TooLarge {
        /// The cap, in bytes.
        max: u64,
    },
    /// The file is not UTF-8 text (for text files only).
    NotUtf8,
}

impl fmt::Display for ReadErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read: {e}"),
            Self::NotRegular(kind) => {
                write!(
                    f,
                    "is a {kind}, not a regular file; only regular files are read"
                )
            }
            Self::TooLarge { max } => write!(f, "larger than {max} bytes; not read"),
            Self::NotUtf8 => f.write_str("is not UTF-8 text"),
        }
    }
}

impl std::error::Error for ReadErrorKind {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl Clone for ReadErrorKind {
    /// The same kind; an I/O error keeps its [`io::ErrorKind`] and its text (an
    /// [`io::Error`] itself cannot be cloned).
    fn clone(&self) -> Self {
        match self {
            Self::Io(e) => Self::Io(io::Error::new(e.kind(), e.to_string())),
            Self::NotRegular(kind) => Self::NotRegular(kind),
            Self::TooLarge { max } => Self::TooLarge { max: *max },
            Self::NotUtf8 => Self::NotUtf8,
        }
    }
}

impl ReadError {
    fn new(path: &Path, kind: ReadErrorKind) -> Self {
        Self {
            path: path.to_path_buf(),
            kind,
        }
    }

    /// Whether the file (or a directory on its way) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(&self.kind, ReadErrorKind::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }

    /// The nearest [`io::ErrorKind`], for callers that keep only a kind.
    pub fn io_kind(&self) -> io::ErrorKind {
        match &self.kind {
            ReadErrorKind::Io(e) => e.kind(),
            ReadErrorKind::NotRegular(_) => io::ErrorKind::InvalidInput,
            ReadErrorKind::TooLarge { .. } => io::ErrorKind::FileTooLarge,
            ReadErrorKind::NotUtf8 => io::ErrorKind::InvalidData,
        }
    }
}

/// Opens `path` (following symlinks) for reading without blocking on a FIFO, and refuses
/// anything but a regular file, judged on the open handle.
///
/// # Errors
///
/// [`ReadErrorKind::Io`] when it cannot be opened, [`ReadErrorKind::NotRegular`] for a FIFO,
/// device, directory or socket.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), ReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| ReadError::new(path, ReadErrorKind::Io(e)))?;
    let meta = file
        .metadata()
        .map_err(|e| ReadError::new(path, ReadErrorKind::Io(e)))?;
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok((file, meta));
    }
    let name = if kind.is_fifo() {
        "FIFO"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_dir() {
        "directory"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special file"
    };
    Err(ReadError::new(path, ReadErrorKind::NotRegular(name)))
}

/// Reads the regular file at `path` whole, refusing it when it holds more than `max_bytes`.
///
/// # Errors
///
/// As [`open_regular`], and [`ReadErrorKind::TooLarge`] past `max_bytes`.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > max_bytes {
        return Err(ReadError::new(
            path,
            ReadErrorKind::TooLarge { max: max_bytes },
        ));
    }
    // The size may change under us (a file being written): read at most one byte past the cap
    // to tell, whatever the metadata said.
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| ReadError::new(path, ReadErrorKind::Io(e)))?;
    if data.len() as u64 > max_bytes {
        return Err(ReadError::new(
            path,
            ReadErrorKind::TooLarge { max: max_bytes },
        ));
    }
    Ok(data)
}

/// [`read_bounded`] for a text file.
///
/// # Errors
///
/// As [`read_bounded`], and [`ReadErrorKind::NotUtf8`].
pub fn read_bounded_to_string(path: &Path, max_bytes: u64) -> Result<String, ReadError> {
    let data = read_bounded(path, max_bytes)?;
    String::from_utf8(data).map_err(|_| ReadError::new(path, ReadErrorKind::NotUtf8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo runs");
        assert!(status.success(), "mkfifo {}", path.display());
    }

    #[test]
    fn regular_file_under_the_cap_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");
        assert_eq!(read_bounded_to_string(&path, 100).unwrap(), "12345");
    }

    #[test]
    fn file_over_the_cap_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, b"123456").unwrap();
        let err = read_bounded(&path, 5).unwrap_err();
        assert!(
            matches!(err.kind, ReadErrorKind::TooLarge { max: 5 }),
            "{err}"
        );
        assert_eq!(err.path, path);
        assert!(err.to_string().starts_with(&path.display().to_string()));
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        // Opening a FIFO for reading without O_NONBLOCK waits for a writer: this test would hang.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        mkfifo(&path);
        let err = read_bounded(&path, 1024).unwrap_err();
        assert!(
            matches!(err.kind, ReadErrorKind::NotRegular("FIFO")),
            "{err}"
        );
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let err = read_bounded(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(
            matches!(err.kind, ReadErrorKind::NotRegular("character device")),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = read_bounded(dir.path(), 1024).unwrap_err();
        assert!(
            matches!(err.kind, ReadErrorKind::NotRegular("directory")),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_bounded(&dir.path().join("none"), 10).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }
}
