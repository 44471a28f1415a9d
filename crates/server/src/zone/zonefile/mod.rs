//! Zone files: an RFC 1035 §5 master-file reader that reports every problem as `file:line:
//! message`, and the master-file writer used by `daned dump`.
//!
//! # Reading
//!
//! [`parse_file`] reads a file (following `$INCLUDE`) into records, each with the file and line
//! it came from. It understands comments, parentheses across lines, quoted strings with `\"`
//! and `\DDD` escapes, a blank owner meaning the previous owner, `@`, relative names, TTL and
//! class in either order, TTL units (`1h30m`, `2w`), `$ORIGIN`, `$TTL`, `$INCLUDE file
//! [origin]` and RFC 3597 generic RDATA (`TYPE65280 \# 4 0a000001`, for known types too).
//!
//! A record's TTL is its own; else `$TTL`; else, as BIND does, the last TTL stated in the file
//! (RFC 1035 §5.1 "Omitted class and TTL values are default to the last explicitly stated
//! values"); else the SOA MINIMUM. The last two come with a warning.
//!
//! [`load_zone`] adds the checks an unsigned zone for daned must pass and groups the records
//! into RRsets; [`load_signed`] reads a zone that is already signed.
//!
//! Up to [`MAX_ERRORS`] errors of a file are collected, not only the first. An error quotes at
//! most [`EXCERPT_CHARS`] characters of a token, and a message is cut at
//! [`MAX_MESSAGE_CHARS`]: the file's content never floods a log.
//!
//! # Bounds
//!
//! [`ZoneLimits`] bounds every load: the bytes read (the file and its includes together), the
//! `$INCLUDE` depth, the records of one RRset (BIND's `max-records-per-type`) and of the zone
//! (BIND's `max-records`), each error naming the file and line where the cap was passed. Only
//! regular files are read (opened without blocking and checked on the handle, see
//! [`crate::fsutil`]): `$INCLUDE /dev/zero` or a FIFO is an error at once.
//!
//! `$INCLUDE` reads only inside the directory tree of the zone file and the configured
//! `include-dirs`, and never inside key-dir or state-dir. BIND and Knot read any path the
//! server can; daned does not by default, because an include is a read with daned's
//! privileges whose content reaches the log in error messages: a zone file written by someone
//! less trusted than daned (a customer, a CI job) could otherwise quote the private keys,
//! line by line. `include-dirs = ["/"]` gives BIND's behaviour back (key-dir and state-dir stay
//! closed). Paths are compared after resolving symlinks, and the file opened is the resolved
//! path.
//!
//! # Writing
//!
//! [`write_records`] writes one record per line, tab-separated, with absolute names, in forms
//! that BIND (`named-checkzone`, `dnssec-verify`), ldns (`ldns-read-zone`, `ldns-verify-zone`)
//! and Knot (`kzonecheck`) all accept.

mod lexer;
mod present;
mod rdata;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use daned_sign::zone::{
    Rrset, SignedZone, Zone, canonical_name, canonical_order_key, canonical_rdata, is_signer_owned,
};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use lexer::{Lexer, Tok};
use rdata::{
    Cursor, class_code, excerpt, parse_duration, parse_name, type_code, type_mnemonic,
    unescape_bytes,
};

pub use crate::config::{
    DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_INCLUDE_DEPTH, DEFAULT_MAX_RECORDS,
    DEFAULT_MAX_RECORDS_PER_TYPE, ZoneLimits,
};
use crate::fsutil::{self, ReadErrorKind};

/// How many errors of one load are collected before giving up.
pub const MAX_ERRORS: usize = 100;

/// At most this many characters of an input token are quoted in an error message.
pub const EXCERPT_CHARS: usize = 64;

/// The longest error message kept, in characters (a message quoting a long path or a
/// hickory error that echoes its input is cut here).
pub const MAX_MESSAGE_CHARS: usize = 512;

/// How many `$INCLUDE`s one load may open in all (each is a file open; the byte cap alone
/// would allow millions of includes of an empty file).
pub const MAX_INCLUDES: usize = 100_000;

/// Where a record or a problem is: a file and a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as given (or joined to the including file's directory).
    pub path: PathBuf,
    /// The 1-based line number.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// One problem in a zone file (an error, or a warning when returned as one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFileError {
    /// Where it is, when it is at one place.
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
}

impl ZoneFileError {
    fn at(path: &Path, line: usize, message: impl Into<String>) -> Self {
        Self {
            location: Some(Location {
                path: path.to_path_buf(),
                line,
            }),
            message: message.into(),
        }
    }

    fn nowhere(message: impl Into<String>) -> Self {
        Self {
            location: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ZoneFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ZoneFileError {}

/// Every problem found in a zone file: syntax errors in reading order, then zone-level ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFileErrors(pub Vec<ZoneFileError>);

impl fmt::Display for ZoneFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ZoneFileErrors {}

/// An unsigned zone read from a file, with the warnings the reading raised.
#[derive(Clone, Debug)]
pub struct LoadedZone {
    /// The zone content.
    pub zone: Zone,
    /// Problems that did not stop the load (TTL defaults, TTL mismatches, duplicates).
    pub warnings: Vec<ZoneFileError>,
}

/// Reads a master file, following `$INCLUDE`, into its records with where each came from.
/// Syntax only: any type, class and owner is accepted.
///
/// # Errors
///
/// Every syntax error of the file and its includes (up to [`MAX_ERRORS`]), each with its file
/// and line, and a passed limit of `limits` other than `max_records_per_type`.
pub fn parse_file(
    path: &Path,
    origin: &Name,
    limits: &ZoneLimits,
) -> Result<Vec<(Record, Location)>, ZoneFileErrors> {
    parse_with_warnings(path, origin, limits).map(|(records, _)| records)
}

/// Reads the unsigned zone content that daned signs, and checks it: every record inside the
/// origin and of class IN; exactly one SOA, at the apex; NS at the apex; no CNAME beside other
/// data or a second CNAME; none of the types daned makes (DNSKEY, RRSIG, NSEC, NSEC3,
/// NSEC3PARAM). TTLs that differ inside one RRset become the first one (RFC 2181 §5.2) and
/// duplicate records are dropped, each with a warning.
///
/// # Errors
///
/// Every syntax and semantic error found (up to [`MAX_ERRORS`]), and every limit of `limits`
/// passed.
pub fn load_zone(
    path: &Path,
    origin: &Name,
    limits: &ZoneLimits,
) -> Result<LoadedZone, ZoneFileErrors> {
    let origin = canonical_name(origin);
    let (mut records, mut warnings) = parse_with_warnings(path, &origin, limits)?;
    let mut errors = Errors::default();
    // Taken from the back in file order, the list shrinking as it empties: the parsed records
    // and the grouped ones are not both held whole at once.
    records.reverse();

    // (owner, type) -> first location, ttl, rdatas with their canonical wire form. Duplicates
    // are found by a hash of the wire forms: one RRset of a million records loads in linear
    // time (a list search per record made it quadratic).
    struct Set {
        loc: Location,
        /// Where the CNAME records after the first are (only a CNAME set keeps them).
        later_cnames: Vec<Location>,
        ttl: u32,
        rdatas: Vec<RData>,
        wires: Wires,
        /// The RRset passed `max_records_per_type` (reported once).
        over: bool,
    }
    // The nodes in the order they first appear, found by name through a hash map (and the
    // last one at once: a file lists a name's records together), sorted once at the end: a
    // search of an ordered map per record compared names most of the load's time (issue 10).
    let mut sets: Vec<(Name, Types<Set>)> = Vec::new();
    let mut node_of: HashMap<Name, usize> = HashMap::new();
    let mut last: Option<usize> = None;
    let mut soa_seen: Option<Location> = None;
    while let Some((record, loc)) = records.pop() {
        if records.len() < records.capacity() / 2 {
            records.shrink_to_fit();
        }
        let name = canonical_name(&record.name);
        let rtype = record.record_type();
        let at = |m: String| ZoneFileError {
            location: Some(loc.clone()),
            message: m,
        };
        if !origin.zone_of(&name) {
            errors.push(at(format!("{name} is outside the zone {origin}")));
            continue;
        }
        if record.dns_class != DNSClass::IN {
            errors.push(at(format!(
                "class {} is not supported: only IN",
                record.dns_class
            )));
            continue;
        }
        if is_signer_owned(rtype) {
            errors.push(at(format!(
                "{name} {}: daned makes the DNSSEC records (DNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM) itself; remove this record from the zone file",
                type_mnemonic(u16::from(rtype))
            )));
            continue;
        }
        if rtype == RecordType::SOA {
            if name != origin {
                errors.push(at(format!(
                    "SOA record at {name}, not at the zone apex {origin}"
                )));
                continue;
            }
            if let Some(first) = &soa_seen {
                errors.push(at(format!(
                    "more than one SOA record (the first is at {first})"
                )));
                continue;
            }
            soa_seen = Some(loc.clone());
        }
        let wire = match canonical_rdata(&record.data) {
            Ok(w) => w,
            Err(e) => {
                errors.push(at(format!("cannot encode the record: {e}")));
                continue;
            }
        };
        let i = match last.filter(|i| sets[*i].0 == name) {
            Some(i) => i,
            None => *node_of.entry(name.clone()).or_insert_with(|| {
                sets.push((name.clone(), Types::default()));
                sets.len() - 1
            }),
        };
        last = Some(i);
        let node = &mut sets[i].1;
        match node.get_mut(&u16::from(rtype)) {
            None => {
                node.insert(
                    u16::from(rtype),
                    Set {
                        loc: loc.clone(),
                        later_cnames: Vec::new(),
                        ttl: record.ttl,
                        rdatas: vec![record.data],
                        wires: Wires::new(wire.into_boxed_slice()),
                        over: false,
                    },
                );
            }
            Some(set) => {
                if set.wires.contains(&wire) {
                    warnings.push(at(format!(
                        "duplicate record {name} {} dropped (first at {})",
                        type_mnemonic(u16::from(rtype)),
                        set.loc
                    )));
                    continue;
                }
                if set.rdatas.len() >= limits.max_records_per_type {
                    if !set.over {
                        set.over = true;
                        errors.push(at(format!(
                            "the RRset {name} {} (first at {}) has more than {} records \
                             (max-records-per-type)",
                            type_mnemonic(u16::from(rtype)),
                            set.loc,
                            limits.max_records_per_type
                        )));
                    }
                    continue;
                }
                if set.ttl != record.ttl {
                    warnings.push(at(format!(
                        "TTL {} differs from the TTL {} of the RRset {name} {} at {}; using {} (RFC 2181 §5.2)",
                        record.ttl,
                        set.ttl,
                        type_mnemonic(u16::from(rtype)),
                        set.loc,
                        set.ttl
                    )));
                }
                set.rdatas.push(record.data);
                set.wires.insert(wire.into_boxed_slice());
                if rtype == RecordType::CNAME {
                    set.later_cnames.push(loc.clone());
                }
            }
        }
    }

    drop(node_of);
    // Canonical order (RFC 4034 §6.1), each name's key made once.
    sets.sort_by_cached_key(|(name, _)| canonical_order_key(name));
    let path_text = path.display();
    match sets
        .first()
        .filter(|(name, _)| *name == origin)
        .map(|(_, apex)| apex)
    {
        None => errors.push(ZoneFileError::nowhere(format!(
            "{path_text}: zone {origin} has no SOA record at its apex"
        ))),
        Some(apex) => {
            if !apex.contains_key(&u16::from(RecordType::SOA)) {
                errors.push(ZoneFileError::nowhere(format!(
                    "{path_text}: zone {origin} has no SOA record at its apex"
                )));
            }
            if !apex.contains_key(&u16::from(RecordType::NS)) {
                let loc = soa_seen.clone();
                errors.push(ZoneFileError {
                    message: format!("zone {origin} has no NS record at its apex"),
                    location: loc,
                });
            }
        }
    }
    let cname = u16::from(RecordType::CNAME);
    for (name, node) in &sets {
        if let Some(c) = node.get(&cname) {
            for extra in &c.later_cnames {
                // Every CNAME after the first is at fault; name both places.
                errors.push(ZoneFileError {
                    location: Some(extra.clone()),
                    message: format!(
                        "{name} has a second CNAME record (the first is at {}); a name has at most one CNAME (RFC 2181 §10.1)",
                        c.loc
                    ),
                });
            }
            for (code, other) in node {
                if *code != cname {
                    errors.push(ZoneFileError {
                        location: Some(other.loc.clone()),
                        message: format!(
                            "{name} has a CNAME (at {}) and other data ({}); a CNAME cannot stand beside other records (RFC 1034 §3.6.2)",
                            c.loc,
                            type_mnemonic(*code)
                        ),
                    });
                }
            }
        }
    }

    let mut rrsets = Vec::new();
    if errors.0.is_empty() {
        for (name, node) in sets {
            for (code, set) in node {
                match Rrset::new(&name, RecordType::from(code), set.ttl, set.rdatas) {
                    Ok(rrset) => rrsets.push(rrset),
                    Err(e) => errors.push(ZoneFileError {
                        location: Some(set.loc),
                        message: e.to_string(),
                    }),
                }
            }
        }
    }
    errors.finish()?;
    // Every owner was checked against the origin and every type against the signer's above.
    let zone = Zone::from_rrsets(&origin, rrsets).map_err(|e| {
        ZoneFileErrors(vec![ZoneFileError::nowhere(format!(
            "{}: {e}",
            path.display()
        ))])
    })?;
    Ok(LoadedZone { zone, warnings })
}

/// The wire forms of an RRset's records, to find duplicates: a list while the set is small
/// (most RRsets hold one or two records, and a hash set each cost more memory than the
/// records), a hash set once it is not (a 1M-record RRset still loads in linear time).
struct Wires {
    few: Vec<Box<[u8]>>,
    many: HashSet<Box<[u8]>>,
}

impl Wires {
    /// Past this many records the set is hashed.
    const FEW: usize = 16;

    fn new(wire: Box<[u8]>) -> Self {
        Self {
            few: vec![wire],
            many: HashSet::new(),
        }
    }

    fn contains(&self, wire: &[u8]) -> bool {
        self.few.iter().any(|w| **w == *wire) || self.many.contains(wire)
    }

    fn insert(&mut self, wire: Box<[u8]>) {
        if self.few.len() < Self::FEW {
            self.few.push(wire);
        } else {
            self.many.insert(wire);
        }
    }
}

/// The RRsets of one name by type code, in a sorted list: a name holds a few types, and an
/// ordered map's first node has room for eleven (most of a 100k-name load's memory).
struct Types<T>(Vec<(u16, T)>);

impl<T> Default for Types<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> Types<T> {
    fn get(&self, code: &u16) -> Option<&T> {
        let i = self.0.binary_search_by_key(code, |(c, _)| *c).ok()?;
        Some(&self.0[i].1)
    }

    fn get_mut(&mut self, code: &u16) -> Option<&mut T> {
        let i = self.0.binary_search_by_key(code, |(c, _)| *c).ok()?;
        Some(&mut self.0[i].1)
    }

    fn contains_key(&self, code: &u16) -> bool {
        self.get(code).is_some()
    }

    /// Adds `value` for `code`, which must not be present yet.
    fn insert(&mut self, code: u16, value: T) {
        let (Ok(i) | Err(i)) = self.0.binary_search_by_key(&code, |(c, _)| *c);
        // One more place, not room for four: most names hold one or two types.
        self.0.reserve_exact(1);
        self.0.insert(i, (code, value));
    }
}

impl<'t, T> IntoIterator for &'t Types<T> {
    type Item = (&'t u16, &'t T);
    type IntoIter = std::iter::Map<std::slice::Iter<'t, (u16, T)>, fn(&(u16, T)) -> (&u16, &T)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(c, t)| (c, t))
    }
}

impl<T> IntoIterator for Types<T> {
    type Item = (u16, T);
    type IntoIter = std::vec::IntoIter<(u16, T)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Reads a zone that is already signed (RRSIG, NSEC, DNSKEY, ... included) to be served as is.
/// Warnings are logged.
///
/// # Errors
///
/// Syntax errors, records outside the origin or of a class other than IN, and a missing SOA.
pub fn load_signed(
    path: &Path,
    origin: &Name,
    limits: &ZoneLimits,
) -> Result<SignedZone, ZoneFileErrors> {
    let origin = canonical_name(origin);
    let (records, warnings) = parse_with_warnings(path, &origin, limits)?;
    for w in &warnings {
        tracing::warn!(zone = %origin, "{w}");
    }
    let mut errors = Errors::default();
    let mut kept = Vec::with_capacity(records.len());
    for (record, loc) in records {
        if !origin.zone_of(&record.name) {
            errors.push(ZoneFileError {
                message: format!("{} is outside the zone {origin}", record.name),
                location: Some(loc),
            });
        } else if record.dns_class != DNSClass::IN {
            errors.push(ZoneFileError {
                message: format!("class {} is not supported: only IN", record.dns_class),
                location: Some(loc),
            });
        } else {
            kept.push(record);
        }
    }
    errors.finish()?;
    SignedZone::from_records(&origin, kept).map_err(|e| {
        ZoneFileErrors(vec![ZoneFileError::nowhere(format!(
            "{}: {e}",
            path.display()
        ))])
    })
}

/// Writes records in master-file presentation format, one RR per line, absolute names,
/// tab-separated `name ttl IN type rdata`.
///
/// # Errors
///
/// An I/O error of `out`, or `InvalidData` for a record hickory cannot encode.
pub fn write_records<'a>(
    records: impl Iterator<Item = &'a Record>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    present::write_records(records, out)
}

/// Collected errors, capped at [`MAX_ERRORS`].
#[derive(Default)]
struct Errors(Vec<ZoneFileError>);

impl Errors {
    fn push(&mut self, mut e: ZoneFileError) {
        if self.0.len() < MAX_ERRORS {
            e.message = bounded_message(&e.message);
            self.0.push(e);
        } else if self.0.len() == MAX_ERRORS {
            self.0.push(ZoneFileError::nowhere(format!(
                "too many errors (more than {MAX_ERRORS}); stopped reporting"
            )));
        }
    }

    fn full(&self) -> bool {
        self.0.len() > MAX_ERRORS
    }

    fn finish(self) -> Result<(), ZoneFileErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ZoneFileErrors(self.0))
        }
    }
}

/// `message` with control characters escaped and cut at [`MAX_MESSAGE_CHARS`] characters.
fn bounded_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS + 8));
    let mut chars = message.chars();
    for c in chars.by_ref().take(MAX_MESSAGE_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// State that lasts across files of one load.
struct Reader<'l> {
    limits: &'l ZoneLimits,
    /// Bytes read so far, every file counted.
    bytes_read: u64,
    /// `$INCLUDE`s opened so far.
    includes: usize,
    /// Where `$INCLUDE` may read (resolved): the zone file's directory and `include-dirs`.
    include_roots: Vec<PathBuf>,
    /// Where it may not (resolved): key-dir and state-dir.
    include_denied: Vec<PathBuf>,
    /// A cap was passed: reading stops.
    stopped: bool,
    errors: Errors,
    warnings: Vec<ZoneFileError>,
    records: Vec<(Record, Location)>,
    /// `$TTL`, once set.
    default_ttl: Option<u32>,
    /// The last TTL stated on a record.
    last_ttl: Option<u32>,
    /// MINIMUM of the first SOA read.
    soa_minimum: Option<u32>,
    /// Records that took no TTL before any was known: filled with the SOA MINIMUM at the end.
    pending_ttl: Vec<usize>,
    warned_last_ttl: bool,
    warned_soa_ttl: bool,
    /// Canonical paths of the files being read, outermost first (cycle detection).
    stack: Vec<PathBuf>,
}

/// The directories of `dirs` that exist, with symlinks resolved (a directory that does not
/// exist holds nothing to allow or to deny).
fn canonical_dirs(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter().filter_map(|d| d.canonicalize().ok()).collect()
}

/// Records with their locations, and the warnings raised reading them.
type Parsed = (Vec<(Record, Location)>, Vec<ZoneFileError>);

fn parse_with_warnings(
    path: &Path,
    origin: &Name,
    limits: &ZoneLimits,
) -> Result<Parsed, ZoneFileErrors> {
    let zone_dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let mut roots = canonical_dirs(&[zone_dir.unwrap_or(Path::new(".")).to_path_buf()]);
    roots.extend(canonical_dirs(&limits.include_dirs));
    let mut reader = Reader {
        limits,
        bytes_read: 0,
        includes: 0,
        include_roots: roots,
        include_denied: canonical_dirs(&limits.include_denied),
        stopped: false,
        errors: Errors::default(),
        warnings: Vec::new(),
        records: Vec::new(),
        default_ttl: None,
        last_ttl: None,
        soa_minimum: None,
        pending_ttl: Vec::new(),
        warned_last_ttl: false,
        warned_soa_ttl: false,
        stack: Vec::new(),
    };
    let mut origin = origin.clone();
    origin.set_fqdn(true);
    match fsutil::read_bounded(path, limits.max_file_bytes) {
        Ok(src) => {
            reader.bytes_read = src.len() as u64;
            reader
                .stack
                .push(path.canonicalize().unwrap_or_else(|_| path.to_path_buf()));
            reader.read_file(path, &src, origin);
        }
        Err(e) => reader.errors.push(ZoneFileError::nowhere(match e.kind {
            ReadErrorKind::TooLarge { max } => format!(
                "{}: larger than {max} bytes (max-zone-file-bytes); not read",
                path.display()
            ),
            _ => e.to_string(),
        })),
    }
    if !reader.pending_ttl.is_empty() {
        match reader.soa_minimum {
            Some(min) => {
                for &i in &reader.pending_ttl {
                    reader.records[i].0.ttl = min;
                }
            }
            None => {
                for &i in &reader.pending_ttl {
                    let loc = reader.records[i].1.clone();
                    reader.errors.push(ZoneFileError {
                        location: Some(loc),
                        message: "no TTL: the record has none, there is no $TTL and no SOA to take the MINIMUM from".into(),
                    });
                }
            }
        }
    }
    reader.errors.finish()?;
    Ok((reader.records, reader.warnings))
}

/// Per-file state.
struct FileState<'p> {
    path: &'p Path,
    origin: Name,
    owner: Option<Name>,
    /// The raw owner token of the last entry that had one, to reuse its parsed name.
    owner_raw: Vec<u8>,
    /// The last owner name was bad (and reported): blank-owner entries after it are skipped
    /// silently instead of each raising an error of its own.
    owner_broken: bool,
}

impl Reader<'_> {
    fn read_file(&mut self, path: &Path, src: &[u8], origin: Name) {
        let mut state = FileState {
            path,
            origin,
            owner: None,
            owner_raw: Vec::new(),
            owner_broken: false,
        };
        let mut lexer = Lexer::new(src);
        let mut toks: Vec<Tok> = Vec::with_capacity(32);
        while let Some(entry) = lexer.next_entry(&mut toks) {
            if self.errors.full() || self.stopped {
                return;
            }
            let head = match entry {
                Ok(head) => head,
                Err(e) => {
                    self.errors.push(ZoneFileError::at(path, e.line, e.message));
                    continue;
                }
            };
            let first = toks[0];
            let first_raw = &src[first.start..first.end];
            if !head.blank_owner && !first.quoted && first_raw.first() == Some(&b'$') {
                self.directive(&mut state, src, &toks, head.line);
            } else {
                self.record(&mut state, src, &toks, head.line, head.blank_owner);
            }
        }
    }

    fn error(&mut self, path: &Path, line: usize, message: impl Into<String>) {
        self.errors.push(ZoneFileError::at(path, line, message));
    }

    fn directive(&mut self, st: &mut FileState<'_>, src: &[u8], toks: &[Tok], line: usize) {
        let raw = |t: &Tok| &src[t.start..t.end];
        let name = raw(&toks[0]).to_ascii_uppercase();
        let args = &toks[1..];
        match name.as_slice() {
            b"$ORIGIN" => {
                if args.len() != 1 {
                    return self.error(st.path, line, "$ORIGIN takes one domain name");
                }
                match parse_name(raw(&args[0]), &st.origin) {
                    Ok(n) => {
                        st.origin = n;
                        st.owner_raw.clear();
                    }
                    Err(e) => self.error(st.path, line, format!("$ORIGIN: {e}")),
                }
            }
            b"$TTL" => {
                if args.len() != 1 {
                    return self.error(st.path, line, "$TTL takes one TTL");
                }
                match parse_duration(raw(&args[0])) {
                    Some(ttl) => self.default_ttl = Some(ttl),
                    None => self.error(
                        st.path,
                        line,
                        format!("$TTL: bad TTL '{}'", excerpt(raw(&args[0]))),
                    ),
                }
            }
            b"$INCLUDE" => {
                if args.is_empty() || args.len() > 2 {
                    return self.error(
                        st.path,
                        line,
                        "$INCLUDE takes a file name and an optional origin",
                    );
                }
                let file = match unescape_bytes(raw(&args[0])) {
                    Ok(f) => f,
                    Err(e) => return self.error(st.path, line, format!("$INCLUDE: {e}")),
                };
                let origin = match args.get(1) {
                    None => st.origin.clone(),
                    Some(t) => match parse_name(raw(t), &st.origin) {
                        Ok(n) => n,
                        Err(e) => {
                            return self.error(st.path, line, format!("$INCLUDE origin: {e}"));
                        }
                    },
                };
                self.include(st.path, line, &file, origin);
            }
            b"$GENERATE" => self.error(st.path, line, "$GENERATE is not supported"),
            _ => self.error(
                st.path,
                line,
                format!("unknown directive {}", excerpt(raw(&toks[0]))),
            ),
        }
    }

    fn include(&mut self, from: &Path, line: usize, file: &[u8], origin: Name) {
        let file = PathBuf::from(String::from_utf8_lossy(file).into_owned());
        let path = if file.is_absolute() {
            file
        } else {
            from.parent().unwrap_or_else(|| Path::new("")).join(file)
        };
        // The stack holds the zone file itself and each include being read.
        let depth = self.stack.len().saturating_sub(1);
        if depth >= self.limits.max_include_depth {
            return self.error(
                from,
                line,
                format!(
                    "$INCLUDE {}: includes nest deeper than {} (max-include-depth)",
                    path.display(),
                    self.limits.max_include_depth
                ),
            );
        }
        if self.includes >= MAX_INCLUDES {
            self.stopped = true;
            return self.error(
                from,
                line,
                format!("more than {MAX_INCLUDES} $INCLUDEs in one zone; stopped reading"),
            );
        }
        self.includes += 1;
        let canonical = match path.canonicalize() {
            Ok(canonical) => canonical,
            Err(e) => {
                return self.error(
                    from,
                    line,
                    format!("$INCLUDE {}: cannot read: {e}", path.display()),
                );
            }
        };
        if let Some(dir) = self
            .include_denied
            .iter()
            .find(|d| canonical.starts_with(d))
        {
            return self.error(
                from,
                line,
                format!(
                    "$INCLUDE {}: inside {}, which daned never includes (key-dir or state-dir)",
                    path.display(),
                    dir.display()
                ),
            );
        }
        if !self.include_roots.iter().any(|d| canonical.starts_with(d)) {
            let roots: Vec<String> = self
                .include_roots
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            return self.error(
                from,
                line,
                format!(
                    "$INCLUDE {}: resolves to {}, outside the directories includes may read ({}); \
                     add its directory to include-dirs to allow it",
                    path.display(),
                    canonical.display(),
                    roots.join(", ")
                ),
            );
        }
        if self.stack.contains(&canonical) {
            let chain: Vec<String> = self
                .stack
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| p.display().to_string())
                .collect();
            return self.error(
                from,
                line,
                format!("$INCLUDE cycle: {}", chain.join(" -> ")),
            );
        }
        let left = self.limits.max_file_bytes.saturating_sub(self.bytes_read);
        // The resolved path is the one checked above, so it is the one opened.
        let src = match fsutil::read_bounded(&canonical, left) {
            Ok(src) => src,
            Err(e) => {
                let reason = match e.kind {
                    ReadErrorKind::TooLarge { .. } => {
                        self.stopped = true;
                        format!(
                            "the zone file and its includes pass {} bytes (max-zone-file-bytes)",
                            self.limits.max_file_bytes
                        )
                    }
                    kind => kind.to_string(),
                };
                return self.error(from, line, format!("$INCLUDE {}: {reason}", path.display()));
            }
        };
        self.bytes_read += src.len() as u64;
        self.stack.push(canonical);
        self.read_file(&path, &src, origin);
        self.stack.pop();
    }

    fn record(
        &mut self,
        st: &mut FileState<'_>,
        src: &[u8],
        toks: &[Tok],
        line: usize,
        blank: bool,
    ) {
        let raw = |t: &Tok| &src[t.start..t.end];
        let mut i = 0;
        if !blank {
            let owner_raw = raw(&toks[0]);
            if st.owner.is_none() || owner_raw != st.owner_raw.as_slice() {
                match parse_name(owner_raw, &st.origin) {
                    Ok(n) => {
                        st.owner = Some(n);
                        st.owner_broken = false;
                        st.owner_raw.clear();
                        st.owner_raw.extend_from_slice(owner_raw);
                    }
                    Err(e) => {
                        st.owner = None;
                        st.owner_broken = true;
                        st.owner_raw.clear();
                        return self.error(st.path, line, format!("owner name: {e}"));
                    }
                }
            }
            i = 1;
        }
        let Some(owner) = st.owner.clone() else {
            if st.owner_broken {
                return;
            }
            return self.error(
                st.path,
                line,
                "no owner name: the entry starts with a blank and no record before it named one",
            );
        };
        let mut ttl: Option<u32> = None;
        let mut class: Option<u16> = None;
        let mut code: Option<u16> = None;
        while let Some(t) = toks.get(i) {
            let text = raw(t);
            i += 1;
            if text.first().is_some_and(u8::is_ascii_digit) {
                if ttl.is_some() {
                    return self.error(st.path, t.line, "two TTL fields");
                }
                match parse_duration(text) {
                    Some(v) => ttl = Some(v),
                    None => {
                        return self.error(st.path, t.line, format!("bad TTL '{}'", excerpt(text)));
                    }
                }
            } else if let Some(c) = class_code(text) {
                if class.is_some() {
                    return self.error(st.path, t.line, "two class fields");
                }
                class = Some(c);
            } else if let Some(c) = type_code(text) {
                code = Some(c);
                break;
            } else {
                return self.error(
                    st.path,
                    t.line,
                    format!("unknown RR type '{}'", excerpt(text)),
                );
            }
        }
        let Some(code) = code else {
            return self.error(st.path, line, "missing RR type");
        };
        let mut cursor = Cursor::new(src, &toks[i..], &st.origin, line);
        let data = match rdata::parse_rdata(code, &mut cursor) {
            Ok(d) => d,
            Err(e) => {
                return self.error(
                    st.path,
                    e.line.unwrap_or(line),
                    format!("{} record: {}", type_mnemonic(code), e.message),
                );
            }
        };
        if let (RData::SOA(soa), None) = (&data, self.soa_minimum) {
            self.soa_minimum = Some(soa.minimum);
        }
        let mut pending = false;
        let ttl = match ttl {
            Some(t) => {
                self.last_ttl = Some(t);
                t
            }
            None => match (self.default_ttl, self.last_ttl, self.soa_minimum) {
                (Some(t), _, _) => t,
                (None, Some(t), _) => {
                    if !self.warned_last_ttl {
                        self.warned_last_ttl = true;
                        self.warnings.push(ZoneFileError::at(
                            st.path,
                            line,
                            format!("no TTL and no $TTL: using the last stated TTL {t} (RFC 1035 §5.1); add a $TTL line"),
                        ));
                    }
                    t
                }
                (None, None, min) => {
                    if !self.warned_soa_ttl {
                        self.warned_soa_ttl = true;
                        self.warnings.push(ZoneFileError::at(
                            st.path,
                            line,
                            "no TTL and no $TTL: using the SOA MINIMUM as the TTL, as BIND does; add a $TTL line",
                        ));
                    }
                    match min {
                        Some(m) => m,
                        None => {
                            pending = true;
                            0
                        }
                    }
                }
            },
        };
        if self.records.len() >= self.limits.max_records {
            self.stopped = true;
            return self.error(
                st.path,
                line,
                format!(
                    "the zone has more than {} records (max-records); stopped reading",
                    self.limits.max_records
                ),
            );
        }
        let mut record = Record::from_rdata(owner, ttl, data);
        record.dns_class = DNSClass::from(class.unwrap_or(1));
        if pending {
            self.pending_ttl.push(self.records.len());
        }
        self.records.push((
            record,
            Location {
                path: st.path.to_path_buf(),
                line,
            },
        ));
    }
}

#[cfg(test)]
mod tests;
