//! The bounds the configuration sets on zone loading and on the IXFR journal.
//!
//! They are configuration (`max-zone-file-bytes`, `max-records`, `journal-max-deltas`, ...),
//! so they live here, below the zone layer that obeys them: [`ZoneLimits`] bounds a zone file
//! load (the zone file reader), [`JournalLimits`] the history an IXFR journal keeps.

use std::path::PathBuf;

/// Default of [`ZoneLimits::max_file_bytes`]: 1 GiB, the file and its includes together
/// (about 20 million records of ordinary length; BIND and Knot set no such cap).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

/// Default of [`ZoneLimits::max_include_depth`].
pub const DEFAULT_MAX_INCLUDE_DEPTH: usize = 16;

/// Default of [`ZoneLimits::max_records_per_type`]: BIND's `max-records-per-type` default
/// since 9.18.28 (CVE-2024-1737). Knot has no such cap.
pub const DEFAULT_MAX_RECORDS_PER_TYPE: usize = 100;

/// Default of [`ZoneLimits::max_records`]: 10 million records in the zone file. BIND's
/// `max-records` is unlimited by default; a signed zone of this size already needs many
/// gigabytes of memory.
pub const DEFAULT_MAX_RECORDS: usize = 10_000_000;

/// Bounds on one zone file load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneLimits {
    /// Bytes read in all: the zone file and every file it includes (`max-zone-file-bytes`).
    pub max_file_bytes: u64,
    /// How deep `$INCLUDE` may nest (`max-include-depth`); 0 refuses every `$INCLUDE`.
    pub max_include_depth: usize,
    /// Records in one RRset, duplicates not counted (`max-records-per-type`).
    pub max_records_per_type: usize,
    /// Records in the zone file and its includes (`max-records`).
    pub max_records: usize,
    /// Directories (absolute) whose trees `$INCLUDE` may read besides the zone file's own
    /// directory (`include-dirs`).
    pub include_dirs: Vec<PathBuf>,
    /// Directories (absolute) `$INCLUDE` never reads, even inside an allowed tree (key-dir and
    /// state-dir).
    pub include_denied: Vec<PathBuf>,
}

impl Default for ZoneLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_include_depth: DEFAULT_MAX_INCLUDE_DEPTH,
            max_records_per_type: DEFAULT_MAX_RECORDS_PER_TYPE,
            max_records: DEFAULT_MAX_RECORDS,
            include_dirs: Vec::new(),
            include_denied: Vec::new(),
        }
    }
}

/// Default bound on the number of deltas kept per zone.
pub const DEFAULT_MAX_DELTAS: usize = 1000;
/// Default bound on the encoded size of the deltas kept per zone (16 MiB).
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

/// How much history a journal keeps; the oldest deltas go first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalLimits {
    /// At most this many deltas (0 keeps none: IXFR then always falls back to a full transfer).
    pub max_deltas: usize,
    /// At most this many encoded bytes of deltas.
    pub max_bytes: usize,
}

impl Default for JournalLimits {
    fn default() -> Self {
        Self {
            max_deltas: DEFAULT_MAX_DELTAS,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}
