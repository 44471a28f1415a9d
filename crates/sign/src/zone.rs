//! The zone data model: RRsets, the unsigned zone a server builds, and the signed zone it serves.
//!
//! Owner names are stored lowercased (DNS names compare case-insensitively, and DNSSEC signs the
//! lowercase form, RFC 4034 §6.2). Maps are keyed by [`Name`], whose `Ord` is the canonical DNS
//! name order of RFC 4034 §6.1, so iterating a zone walks it in NSEC order.

use std::collections::BTreeMap;
use std::sync::Arc;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use crate::error::SignError;
use crate::names::{NameMap, NameSet};
use crate::serial::serial_gt;

/// One RRset: an owner name, a type, a TTL and its records in canonical order (RFC 4034 §6.3),
/// without duplicates.
///
/// Every record of the set carries the set's TTL (RFC 2181 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rrset {
    name: Name,
    rtype: RecordType,
    ttl: u32,
    records: Vec<Record>,
}

impl Rrset {
    /// Builds an RRset from RDATA, lowercasing the owner, sorting the records by their canonical
    /// wire form and dropping duplicates (RFC 4034 §6.3).
    ///
    /// # Errors
    ///
    /// [`SignError::EmptyRrset`] when `rdatas` is empty, [`SignError::MixedRrset`] when an RDATA is
    /// not of type `rtype`, [`SignError::Encode`] when an RDATA cannot be put on the wire.
    pub fn new(
        name: &Name,
        rtype: RecordType,
        ttl: u32,
        rdatas: impl IntoIterator<Item = RData>,
    ) -> Result<Self, SignError> {
        let name = canonical_name(name);
        let mut keyed = Vec::new();
        for rdata in rdatas {
            if rdata.record_type() != rtype {
                return Err(SignError::MixedRrset {
                    name: name.clone(),
                    rtype,
                    found: rdata.record_type(),
                });
            }
            let wire = canonical_rdata(&rdata).map_err(|e| SignError::Encode {
                name: name.clone(),
                rtype,
                reason: e.to_string(),
            })?;
            keyed.push((wire, rdata));
        }
        if keyed.is_empty() {
            return Err(SignError::EmptyRrset { name, rtype });
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.dedup_by(|a, b| a.0 == b.0);
        let records = keyed
            .into_iter()
            .map(|(_, rdata)| {
                let mut r = Record::from_rdata(name.clone(), ttl, rdata);
                r.dns_class = DNSClass::IN;
                r
            })
            .collect();
        Ok(Self {
            name,
            rtype,
            ttl,
            records,
        })
    }

    /// The owner name (lowercase, fully qualified).
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The RR type.
    pub fn rtype(&self) -> RecordType {
        self.rtype
    }

    /// The TTL shared by every record.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// The records, in canonical order; never empty.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The RDATA of each record, in canonical order.
    pub fn rdatas(&self) -> impl Iterator<Item = &RData> {
        self.records.iter().map(|r| &r.data)
    }
}

/// The lowercase, fully-qualified form of `name` used as a key everywhere in this crate.
pub fn canonical_name(name: &Name) -> Name {
    let mut n = name.to_lowercase();
    n.set_fqdn(true);
    n
}

/// The canonical wire form of one RDATA (RFC 4034 §6.2: uncompressed, names lowercased for the
/// types that list requires).
///
/// # Errors
///
/// Any encoding failure from hickory-proto.
pub fn canonical_rdata(rdata: &RData) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    let mut buf = Vec::with_capacity(64);
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_canonical_form(true);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    rdata.emit(&mut encoder)?;
    Ok(buf)
}

/// The unsigned content of a zone, as the server assembles it from the zone file and the
/// generated TLSA RRsets. It holds no DNSSEC records (DNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM):
/// the signer makes those.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    origin: Name,
    rrsets: BTreeMap<Name, Types>,
}

/// The RRsets of one owner name, sorted by type code: a name holds a few types, and an ordered
/// map's first node has room for eleven (at 100k names most of an unsigned zone's memory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Types(Vec<Rrset>);

impl Types {
    fn find(&self, code: u16) -> Result<usize, usize> {
        self.0.binary_search_by_key(&code, |r| u16::from(r.rtype()))
    }

    /// The RRset of type `code`.
    pub(crate) fn get(&self, code: &u16) -> Option<&Rrset> {
        self.find(*code).ok().map(|i| &self.0[i])
    }

    /// Puts `rrset` in its place, returning the one of its type it replaces.
    pub(crate) fn insert(&mut self, code: u16, rrset: Rrset) -> Option<Rrset> {
        match self.find(code) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i], rrset)),
            Err(i) => {
                // One more place, not room for four: most names hold one or two types.
                self.0.reserve_exact(1);
                self.0.insert(i, rrset);
                None
            }
        }
    }

    /// Takes the RRset of type `code` out.
    pub(crate) fn remove(&mut self, code: &u16) -> Option<Rrset> {
        self.find(*code).ok().map(|i| self.0.remove(i))
    }

    /// Whether the name holds no RRset.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The type codes, ascending.
    pub(crate) fn codes(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().map(|r| u16::from(r.rtype()))
    }

    /// The RRsets, by type code.
    pub(crate) fn values(&self) -> std::slice::Iter<'_, Rrset> {
        self.0.iter()
    }
}

impl Zone {
    /// An empty zone for `origin`.
    pub fn new(origin: &Name) -> Self {
        Self {
            origin: canonical_name(origin),
            rrsets: BTreeMap::new(),
        }
    }

    /// The zone apex.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// Adds or replaces an RRset.
    ///
    /// # Errors
    ///
    /// [`SignError::OutOfZone`] when the owner is not at or below the origin,
    /// [`SignError::SignerOwnedType`] for DNSKEY, RRSIG, NSEC, NSEC3 and NSEC3PARAM.
    pub fn insert(&mut self, rrset: Rrset) -> Result<Option<Rrset>, SignError> {
        self.check_insert(&rrset)?;
        Ok(self
            .rrsets
            .entry(rrset.name().clone())
            .or_default()
            .insert(u16::from(rrset.rtype()), rrset))
    }

    /// A zone of `rrsets`, as [`Zone::insert`] would make it one by one (a later RRset of the
    /// same owner and type replaces an earlier one).
    ///
    /// RRsets that come in canonical order (RFC 4034 §6.1) of their owners, as a loader that
    /// sorted them hands them over, are put in the map in one bulk build, with one name
    /// comparison per RRset instead of a search per RRset; others are inserted one by one.
    ///
    /// # Errors
    ///
    /// As [`Zone::insert`].
    pub fn from_rrsets(
        origin: &Name,
        rrsets: impl IntoIterator<Item = Rrset>,
    ) -> Result<Self, SignError> {
        let mut zone = Self::new(origin);
        let mut nodes: Vec<(Name, Types)> = Vec::new();
        let mut sorted = true;
        for rrset in rrsets {
            zone.check_insert(&rrset)?;
            let code = u16::from(rrset.rtype());
            match nodes.last_mut() {
                Some((name, types)) if name == rrset.name() => {
                    types.insert(code, rrset);
                }
                last => {
                    sorted &= last.is_none_or(|(name, _)| &*name < rrset.name());
                    nodes.push((rrset.name().clone(), Types(vec![rrset])));
                }
            }
        }
        if sorted {
            // `BTreeMap::from_iter` sorts first: one pass over input that is sorted already.
            zone.rrsets = nodes.into_iter().collect();
        } else {
            for rrset in nodes.into_iter().flat_map(|(_, types)| types.0) {
                zone.insert(rrset)?;
            }
        }
        Ok(zone)
    }

    /// Whether `rrset` may be part of this zone (see [`Zone::insert`]).
    fn check_insert(&self, rrset: &Rrset) -> Result<(), SignError> {
        if !self.origin.zone_of(rrset.name()) {
            return Err(SignError::OutOfZone {
                name: rrset.name().clone(),
                origin: self.origin.clone(),
            });
        }
        if is_signer_owned(rrset.rtype()) {
            return Err(SignError::SignerOwnedType {
                name: rrset.name().clone(),
                rtype: rrset.rtype(),
            });
        }
        Ok(())
    }

    /// Removes an RRset, returning it.
    pub fn remove(&mut self, name: &Name, rtype: RecordType) -> Option<Rrset> {
        let name = canonical_name(name);
        let node = self.rrsets.get_mut(&name)?;
        let old = node.remove(&u16::from(rtype));
        if node.is_empty() {
            self.rrsets.remove(&name);
        }
        old
    }

    /// The RRset at `name` of type `rtype`.
    pub fn get(&self, name: &Name, rtype: RecordType) -> Option<&Rrset> {
        self.rrsets
            .get(&canonical_name(name))?
            .get(&u16::from(rtype))
    }

    /// Every RRset, in canonical name order and then type order.
    pub fn rrsets(&self) -> impl Iterator<Item = &Rrset> {
        self.rrsets.values().flat_map(|node| node.values())
    }

    /// The apex SOA RRset, if present.
    pub fn soa(&self) -> Option<&Rrset> {
        self.get(&self.origin, RecordType::SOA)
    }

    /// Every owner name with its RRsets keyed by type code, in canonical name order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = (&Name, &Types)> {
        self.rrsets.iter()
    }

    /// What must change to turn `self` into `new`: one [`RrsetChange`] per RRset that was
    /// added, removed or differs (in TTL or records), in canonical order. The SOA's serial field
    /// is ignored, since the signer sets it.
    pub fn diff(&self, new: &Zone) -> Vec<RrsetChange> {
        let mut changes = Vec::new();
        for old in self.rrsets() {
            match new.get(old.name(), old.rtype()) {
                None => changes.push(RrsetChange::remove(old.name().clone(), old.rtype())),
                Some(n) if !same_content(old, n) => changes.push(RrsetChange::put(n.clone())),
                Some(_) => {}
            }
        }
        for n in new.rrsets() {
            if self.get(n.name(), n.rtype()).is_none() {
                changes.push(RrsetChange::put(n.clone()));
            }
        }
        changes.sort_by(|a, b| (&a.name, u16::from(a.rtype)).cmp(&(&b.name, u16::from(b.rtype))));
        changes
    }
}

fn same_content(a: &Rrset, b: &Rrset) -> bool {
    if a.rtype() == RecordType::SOA {
        return a.ttl() == b.ttl() && soa_without_serial(a) == soa_without_serial(b);
    }
    a == b
}

fn soa_without_serial(rrset: &Rrset) -> Vec<RData> {
    rrset
        .rdatas()
        .map(|rdata| match rdata {
            RData::SOA(soa) => {
                let mut soa = soa.clone();
                soa.serial = 0;
                RData::SOA(soa)
            }
            other => other.clone(),
        })
        .collect()
}

/// Whether the signer, not the zone content, owns RRsets of this type.
pub fn is_signer_owned(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::DNSKEY
            | RecordType::RRSIG
            | RecordType::NSEC
            | RecordType::NSEC3
            | RecordType::NSEC3PARAM
    )
}

/// One change to the zone content: the RRset `(name, rtype)` becomes `rrset`, or goes away when
/// `rrset` is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrsetChange {
    /// The owner name (lowercase).
    pub name: Name,
    /// The RR type.
    pub rtype: RecordType,
    /// The new RRset, or `None` to delete it.
    pub rrset: Option<Rrset>,
}

impl RrsetChange {
    /// Add or replace `rrset`.
    pub fn put(rrset: Rrset) -> Self {
        Self {
            name: rrset.name().clone(),
            rtype: rrset.rtype(),
            rrset: Some(rrset),
        }
    }

    /// Delete the RRset `(name, rtype)`.
    pub fn remove(name: Name, rtype: RecordType) -> Self {
        Self {
            name: canonical_name(&name),
            rtype,
            rrset: None,
        }
    }
}

/// What a name is, for answering and signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeKind {
    /// Authoritative data: signed, in the NSEC chain.
    Authoritative,
    /// A zone cut below the apex (NS present): only DS and NSEC are authoritative and signed;
    /// the NS RRset is not signed (RFC 4035 §2.2).
    Delegation,
    /// Below a zone cut (glue or occluded data): neither signed nor in the NSEC chain.
    Occluded,
    /// An NSEC3 owner name (`<base32hex hash>.<origin>`, RFC 5155 §3): holds only its signed
    /// NSEC3 RRset and is not a name of the zone's content (RFC 5155 §7.2.8).
    Nsec3,
}

/// An RRset with the RRSIG records that cover it (empty when the RRset is not signed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRrset {
    /// The RRset itself.
    pub rrset: Rrset,
    /// RRSIG records covering it, one per signing key, each a full record with the RRset's
    /// owner and TTL.
    pub rrsigs: Vec<Record>,
}

/// All RRsets at one owner name in a signed zone, ordered by type code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedNode {
    /// How the name is treated.
    pub kind: NodeKind,
    /// The RRsets, sorted by type code, including DNSKEY and NSEC where present.
    pub rrsets: Vec<SignedRrset>,
}

impl SignedNode {
    /// Every record of the node (RRsets, each followed by its RRSIGs) in the order
    /// [`SignedZone::records`] lists them: the SOA first, as a master file starts, then by type
    /// code.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        let soa = u16::from(RecordType::SOA);
        let (first, rest): (Vec<&SignedRrset>, Vec<&SignedRrset>) = self
            .rrsets
            .iter()
            .partition(|s| u16::from(s.rrset.rtype()) == soa);
        first
            .into_iter()
            .chain(rest)
            .flat_map(|s| s.rrset.records().iter().chain(&s.rrsigs))
    }

    /// The RRset of type `rtype` at this node.
    pub fn get(&self, rtype: RecordType) -> Option<&SignedRrset> {
        let code = u16::from(rtype);
        self.rrsets
            .binary_search_by_key(&code, |s| u16::from(s.rrset.rtype()))
            .ok()
            .map(|i| &self.rrsets[i])
    }
}

/// A signed zone: every node with its RRsets and signatures, ready to serve or dump.
///
/// Cloning is cheap: nodes sit behind [`Arc`] in a persistent map, so a new version made by the
/// incremental signer shares every unchanged node with the version it came from.
#[derive(Clone, Debug)]
pub struct SignedZone {
    pub(crate) origin: Name,
    pub(crate) serial: u32,
    pub(crate) nodes: NameMap<Arc<SignedNode>>,
    /// The owner names of the [`NodeKind::Nsec3`] nodes, in hash order (empty with NSEC).
    pub(crate) nsec3: NameSet,
}

impl SignedZone {
    /// The zone apex.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The SOA serial of this version.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The node at exactly `name` (which must be lowercase; see [`canonical_name`]).
    pub fn node(&self, name: &Name) -> Option<&Arc<SignedNode>> {
        self.nodes.get(name)
    }

    /// The closest node before or at `name` in canonical order, with its name.
    pub fn node_at_or_before(&self, name: &Name) -> Option<(&Name, &Arc<SignedNode>)> {
        self.nodes.at_or_before(name)
    }

    /// The first node strictly after `name` in canonical order, with its name.
    pub fn node_after(&self, name: &Name) -> Option<(&Name, &Arc<SignedNode>)> {
        self.nodes.after(name).next()
    }

    /// The NSEC3 node whose owner name is `owner` exactly (RFC 5155 §7.2: the NSEC3 that
    /// "matches" a name), with its name.
    pub fn nsec3_matching(&self, owner: &Name) -> Option<(&Name, &Arc<SignedNode>)> {
        self.nodes
            .get_entry(owner)
            .filter(|_| self.nsec3.contains(owner))
    }

    /// The NSEC3 node that covers the hashed owner name `owner` (RFC 5155 §1.3: its owner
    /// hash sorts before it and its next hash after it, wrapping around), or the one matching it.
    /// A lookup in an ordered set: no scan.
    pub fn nsec3_covering(&self, owner: &Name) -> Option<(&Name, &Arc<SignedNode>)> {
        let (found, ()) = self
            .nsec3
            .at_or_before(owner)
            .or_else(|| self.nsec3.last())?;
        self.nodes.get_entry(found)
    }

    /// Every NSEC3 owner name in hash order.
    pub fn nsec3_owners(&self) -> impl Iterator<Item = &Name> {
        self.nsec3.iter().map(|(name, ())| name)
    }

    /// Every node in canonical order.
    pub fn nodes(&self) -> impl Iterator<Item = (&Name, &Arc<SignedNode>)> {
        self.nodes.iter()
    }

    /// The apex SOA with its signatures.
    pub fn soa(&self) -> Option<&SignedRrset> {
        self.nodes.get(&self.origin)?.get(RecordType::SOA)
    }

    /// Every record of the zone (RRsets, then their RRSIGs, node by node) in canonical order,
    /// starting with the SOA as a master file does.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        let soa = self
            .soa()
            .into_iter()
            .flat_map(|s| s.rrset.records().iter().chain(&s.rrsigs));
        let rest = self.nodes.iter().flat_map(|(_, node)| {
            node.rrsets
                .iter()
                .filter(|s| s.rrset.rtype() != RecordType::SOA)
                .flat_map(|s| s.rrset.records().iter().chain(&s.rrsigs))
        });
        soa.chain(rest)
    }

    /// The unsigned content of this zone: every RRset except those the signer makes (DNSKEY,
    /// RRSIG, NSEC, NSEC3, NSEC3PARAM), occluded data and glue included, with the SOA as it is
    /// (its serial is this version's).
    pub fn to_zone(&self) -> Zone {
        let mut zone = Zone::new(&self.origin);
        for (name, node) in self.nodes.iter() {
            // A node's RRsets are sorted by type code already.
            let content = Types(
                node.rrsets
                    .iter()
                    .filter(|s| !is_signer_owned(s.rrset.rtype()))
                    .map(|s| s.rrset.clone())
                    .collect(),
            );
            if !content.is_empty() {
                // Every name here is at or below the origin: `from_records` and the signer only
                // ever build nodes inside the zone, so `Zone::insert`'s check is not needed.
                zone.rrsets.insert(name.clone(), content);
            }
        }
        zone
    }

    /// The earliest RRSIG expiration (seconds since the epoch, RFC 1982 compared against
    /// `now`) in the zone, or `None` when nothing is signed.
    pub fn earliest_expiration(&self) -> Option<u32> {
        self.nodes
            .values()
            .flat_map(|node| node.rrsets.iter())
            .flat_map(|s| s.rrsigs.iter())
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().sig_expiration.get()),
                _ => None,
            })
            .reduce(|a, b| if serial_gt(a, b) { b } else { a })
    }
}

impl SignedZone {
    /// Builds a signed zone from records that are already signed (a pre-signed master file, or
    /// a zone received by transfer): groups them into RRsets, attaches each RRSIG to the RRset
    /// it covers and classifies each name. Nothing is signed or checked cryptographically.
    ///
    /// # Errors
    ///
    /// [`SignError::OutOfZone`] for a record outside `origin`, [`SignError::BadZone`] when there
    /// is no SOA at the apex, or an RRset error.
    pub fn from_records(
        origin: &Name,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<Self, SignError> {
        let origin = canonical_name(origin);
        // The records by owner. A master file or a transfer lists each name's records
        // together, so a group ends when the owner changes; groups are then ordered once by a
        // byte key (no name comparisons in an ordered map per record, which dominated the load
        // of a large zone) and groups of the same owner, split in the input, joined.
        let mut groups: Vec<(Name, Vec<Record>)> = Vec::new();
        for mut record in records {
            // The owner of the group before, already checked (`Name`'s `==` ignores case; an
            // RRSIG gets the group's lowercase owner below, other records keep only RDATA).
            if let Some((last, members)) = groups.last_mut()
                && *last == record.name
            {
                members.push(record);
                continue;
            }
            let name = canonical_name(&record.name);
            if !origin.zone_of(&name) {
                return Err(SignError::OutOfZone { name, origin });
            }
            record.name = name.clone();
            groups.push((name, vec![record]));
        }
        let sorted = groups
            .windows(2)
            .all(|pair| canonical_order_key(&pair[0].0) < canonical_order_key(&pair[1].0));
        if !sorted {
            groups.sort_by_cached_key(|(name, _)| canonical_order_key(name));
            groups.dedup_by(|later, earlier| {
                let same = later.0 == earlier.0;
                if same {
                    earlier.1.append(&mut later.1);
                }
                same
            });
        }

        // Per name, its RRsets by type code and the RRSIGs by the type they cover.
        let mut names = Vec::with_capacity(groups.len());
        for (name, members) in groups {
            let mut sets: Vec<(u16, u32, Vec<RData>)> = Vec::new();
            let mut sigs: Vec<(u16, Vec<Record>)> = Vec::new();
            for mut record in members {
                if let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &record.data {
                    let covered = u16::from(rrsig.input().type_covered);
                    record.name = name.clone();
                    match sigs.iter_mut().find(|(code, _)| *code == covered) {
                        Some((_, list)) => list.push(record),
                        None => sigs.push((covered, vec![record])),
                    }
                    continue;
                }
                let code = u16::from(record.record_type());
                match sets.iter_mut().find(|(c, _, _)| *c == code) {
                    Some((_, ttl, rdatas)) => {
                        *ttl = (*ttl).min(record.ttl);
                        rdatas.push(record.data);
                    }
                    None => sets.push((code, record.ttl, vec![record.data])),
                }
            }
            sets.sort_by_key(|(code, _, _)| *code);
            names.push((name, sets, sigs));
        }
        let apex_has_soa = names.iter().any(|(name, sets, _)| {
            *name == origin
                && sets
                    .iter()
                    .any(|(code, _, _)| *code == u16::from(RecordType::SOA))
        });
        if !apex_has_soa {
            return Err(SignError::BadZone {
                name: origin,
                reason: "no SOA record at the zone apex".into(),
            });
        }
        let cuts = zone_cuts(
            &origin,
            names
                .iter()
                .map(|(n, sets, _)| (n, sets.iter().map(|(code, _, _)| *code))),
        );
        let mut serial = 0;
        let mut nodes = NameMap::new();
        let mut nsec3 = NameSet::new();
        for (name, sets, mut sigs) in names {
            let mut rrsets = Vec::with_capacity(sets.len());
            for (code, ttl, rdatas) in sets {
                let rtype = RecordType::from(code);
                let rrset = Rrset::new(&name, rtype, ttl, rdatas)?;
                if rtype == RecordType::SOA
                    && name == origin
                    && let Some(RData::SOA(soa)) = rrset.records().first().map(|r| &r.data)
                {
                    serial = soa.serial;
                }
                let rrsigs = sigs
                    .iter()
                    .position(|(covered, _)| *covered == code)
                    .map(|at| sigs.swap_remove(at).1)
                    .unwrap_or_default();
                rrsets.push(SignedRrset { rrset, rrsigs });
            }
            // RRSIGs without the RRset they cover are dropped, as before.
            let only_nsec3 = rrsets.iter().all(|s| s.rrset.rtype() == RecordType::NSEC3);
            let kind = if only_nsec3 {
                nsec3.insert(name.clone(), ());
                NodeKind::Nsec3
            } else {
                node_kind(&origin, &name, &cuts)
            };
            nodes.insert(name, Arc::new(SignedNode { kind, rrsets }));
        }
        Ok(Self {
            origin,
            serial,
            nodes,
            nsec3,
        })
    }
}

/// A key whose byte order is the canonical order of names (RFC 4034 §6.1), case folded: the
/// labels from the rightmost, each octet lowercased and written as itself (0 and 1 escaped) and
/// each label ended by 0, so that a label sorts before every longer label it begins and a name
/// before the names below it. The zone's maps order their names by this key.
pub fn canonical_order_key(name: &Name) -> Box<[u8]> {
    crate::names::key(name)
}

/// The zone cuts of a zone: every name below the apex that owns an NS RRset (RFC 1034 §4.2.1).
/// `names` yields each owner with the type codes it holds.
pub fn zone_cuts<'a, T: IntoIterator<Item = u16>>(
    origin: &Name,
    names: impl IntoIterator<Item = (&'a Name, T)>,
) -> std::collections::BTreeSet<Name> {
    let ns = u16::from(RecordType::NS);
    names
        .into_iter()
        .filter(|(name, _)| *name != origin)
        .filter_map(|(name, types)| types.into_iter().any(|t| t == ns).then(|| name.clone()))
        .collect()
}

/// How `name` is treated given the zone's cuts: occluded when a strict ancestor below the apex
/// is a cut, a delegation when it is a cut itself, authoritative otherwise.
pub fn node_kind(origin: &Name, name: &Name, cuts: &std::collections::BTreeSet<Name>) -> NodeKind {
    let mut ancestor = name.base_name();
    while ancestor.num_labels() > origin.num_labels() {
        if cuts.contains(&ancestor) {
            return NodeKind::Occluded;
        }
        ancestor = ancestor.base_name();
    }
    if cuts.contains(name) {
        NodeKind::Delegation
    } else {
        NodeKind::Authoritative
    }
}

/// The records a new version removed and added, for IXFR journals and logs (RFC 1995 §4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneDelta {
    /// Serial of the version the delta starts from.
    pub from_serial: u32,
    /// Serial of the version it produces.
    pub to_serial: u32,
    /// Records removed, RRSIGs included.
    pub removed: Vec<Record>,
    /// Records added, RRSIGs included.
    pub added: Vec<Record>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrset(owner: &str, rtype: RecordType, rdata: &str) -> Result<Rrset, SignError> {
        let name = Name::from_ascii(owner).map_err(|e| SignError::Key(e.to_string()))?;
        let rdata = RData::try_from_str(rtype, rdata).map_err(|e| SignError::Key(e.to_string()))?;
        Rrset::new(&name, rtype, 300, [rdata])
    }

    #[test]
    fn rfc4034_s6_1_from_rrsets_is_insert_in_any_order() -> Result<(), SignError> {
        // RFC 4034 §6.1: the zone's names in canonical order, whatever order they come in.
        let origin = Name::from_ascii("example.").map_err(|e| SignError::Key(e.to_string()))?;
        let sets = [
            rrset("example.", RecordType::NS, "ns.example.")?,
            rrset("a.example.", RecordType::A, "192.0.2.1")?,
            rrset("a.example.", RecordType::TXT, "one")?,
            rrset("yljkjljk.a.example.", RecordType::A, "192.0.2.2")?,
            rrset("Z.a.example.", RecordType::A, "192.0.2.3")?,
            rrset("zabc.a.example.", RecordType::A, "192.0.2.4")?,
            rrset("a.example.", RecordType::TXT, "two")?,
        ];
        let mut one_by_one = Zone::new(&origin);
        for s in &sets {
            one_by_one.insert(s.clone())?;
        }
        let mut sorted: Vec<Rrset> = sets.to_vec();
        sorted.sort_by(|a, b| a.name().cmp(b.name()));
        let in_order = Zone::from_rrsets(&origin, sorted)?;
        let as_given = Zone::from_rrsets(&origin, sets.iter().cloned())?;
        assert_eq!(in_order, one_by_one);
        assert_eq!(as_given, one_by_one);
        assert_eq!(
            one_by_one
                .get(
                    &Name::from_ascii("a.example.").map_err(|e| SignError::Key(e.to_string()))?,
                    RecordType::TXT
                )
                .map(|s| s.records().len()),
            Some(1),
            "a later RRset of the same owner and type replaces the earlier one"
        );
        let outside = rrset("example.org.", RecordType::A, "192.0.2.9")?;
        assert!(Zone::from_rrsets(&origin, [outside]).is_err());
        Ok(())
    }
}
