//! NSEC3 chains (RFC 5155), with the RFC 9276 defaults: SHA-1, no extra iterations, an empty
//! salt, no opt-out.
//!
//! The chain links the hashed owner names of every authoritative name, every delegation point
//! and every empty non-terminal (RFC 5155 §7.1), ordered by hash; the last one points back to the
//! first. Each NSEC3 RRset sits alone at its own node `<base32hex hash>.<origin>` of kind
//! [`NodeKind::Nsec3`]; the [`SignedZone`] also keeps those owner names in an ordered set so that
//! the NSEC3 covering a hash is found without a scan.

#![allow(
    clippy::result_large_err,
    reason = "SignError is the crate's one error type (error.rs); boxing it is a crate-wide decision"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::sync::Arc;

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC3, NSEC3PARAM};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::error::SignError;
use crate::names::{NameMap, NameSet};
use crate::threads;
use crate::zone::{NodeKind, Rrset, SignedNode, SignedZone, canonical_name};

/// An NSEC3 salt: at most 255 octets (RFC 5155 §3.2, the Salt Length field is one octet).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Nsec3Salt {
    len: u8,
    bytes: [u8; 255],
}

impl Nsec3Salt {
    /// The empty salt (RFC 9276 §3.1: "Operators SHOULD NOT use a salt").
    pub const EMPTY: Self = Self {
        len: 0,
        bytes: [0; 255],
    };

    /// A salt of these octets, or `None` when there are more than 255.
    pub fn new(salt: &[u8]) -> Option<Self> {
        let len = u8::try_from(salt.len()).ok()?;
        let mut bytes = [0; 255];
        bytes[..salt.len()].copy_from_slice(salt);
        Some(Self { len, bytes })
    }

    /// The salt octets.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Nsec3Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.len == 0 {
            return f.write_str("-");
        }
        f.write_str(&data_encoding::HEXLOWER.encode(self.as_slice()))
    }
}

/// The NSEC3 parameters of a zone (RFC 5155 §4): the hash is always SHA-1, opt-out is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nsec3Params {
    /// Additional hash iterations (RFC 9276 §3.1: "MUST use an Iterations value of 0").
    pub iterations: u16,
    /// The salt.
    pub salt: Nsec3Salt,
}

impl Default for Nsec3Params {
    /// The RFC 9276 §3.1 parameters: 0 extra iterations, empty salt.
    fn default() -> Self {
        Self {
            iterations: 0,
            salt: Nsec3Salt::EMPTY,
        }
    }
}

impl Nsec3Params {
    /// The NSEC3PARAM RDATA for these parameters (flags 0, RFC 5155 §4.1.2).
    pub fn nsec3param(&self) -> NSEC3PARAM {
        NSEC3PARAM::new(
            Nsec3HashAlgorithm::SHA1,
            false,
            self.iterations,
            self.salt.as_slice().to_vec(),
        )
    }

    /// The hash of `name` (RFC 5155 §5).
    pub fn hash(&self, name: &Name) -> [u8; 20] {
        nsec3_hash(name, self.salt.as_slice(), self.iterations)
    }

    /// The NSEC3 owner name for `name` in the zone `origin`: `<base32hex hash>.<origin>`.
    ///
    /// # Errors
    ///
    /// [`SignError::BadZone`] when the owner would be longer than 255 octets.
    pub fn hashed_owner(&self, origin: &Name, name: &Name) -> Result<Name, SignError> {
        hashed_owner_name(origin, &self.hash(name))
    }
}

/// How a zone proves that names and types do not exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per zone, kept Copy (the salt is inline) so configurations stay Copy"
)]
pub enum Denial {
    /// NSEC (RFC 4034 §4, RFC 4035 §2.3).
    #[default]
    Nsec,
    /// NSEC3 (RFC 5155) with these parameters.
    Nsec3(Nsec3Params),
}

/// The RFC 5155 §5 hash: `IH(salt, x, 0) = H(x || salt)`, `IH(salt, x, k) = H(IH(salt, x, k-1)
/// || salt)`, over the canonical (lowercase, uncompressed) wire form of `name`, with SHA-1.
pub fn nsec3_hash(name: &Name, salt: &[u8], iterations: u16) -> [u8; 20] {
    let wire = canonical_name(name).to_lowercase();
    let mut buf: Vec<u8> = Vec::with_capacity(255 + salt.len());
    for label in wire.iter() {
        // A label is at most 63 octets (Name guarantees it), so the length fits in a u8.
        buf.push(u8::try_from(label.len()).unwrap_or(u8::MAX));
        buf.extend_from_slice(label);
    }
    buf.push(0);
    let round = |input: &[u8]| -> [u8; 20] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(input);
        ctx.update(salt);
        let mut out = [0; 20];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    };
    let mut out = round(&buf);
    for _ in 0..iterations {
        out = round(&out);
    }
    out
}

/// `<base32hex(hash)>.<origin>` (RFC 5155 §3: "The owner name for the NSEC3 RR is the base32
/// encoding of the hashed owner name prepended as a single label to the name of the zone").
///
/// # Errors
///
/// [`SignError::BadZone`] when the name would be too long.
pub fn hashed_owner_name(origin: &Name, hash: &[u8]) -> Result<Name, SignError> {
    let label = data_encoding::BASE32_DNSSEC.encode(hash);
    Name::from_ascii(&label)
        .and_then(|l| l.append_domain(origin))
        .map(|n| canonical_name(&n))
        .map_err(|e| SignError::BadZone {
            name: origin.clone(),
            reason: format!("NSEC3 owner name {label}.{origin}: {e}"),
        })
}

/// The NSEC3 bitmap types of a chain member of `kind` holding `types` (content and DNSKEY;
/// NSEC3PARAM included at the apex), or `None` when the name is not a chain member.
///
/// RFC 5155 §3.2.1: "The Type Bit Maps field identifies the RRSet types that exist at the
/// original owner name". RRSIG is listed only where signed data exists: not at an empty
/// non-terminal (no types), and at a delegation only when a DS RRset is there; at a delegation
/// only NS and DS are listed (glue is not authoritative).
pub(crate) fn bitmap_types(
    kind: NodeKind,
    types: impl IntoIterator<Item = RecordType>,
) -> Vec<RecordType> {
    let mut out: Vec<RecordType> = types
        .into_iter()
        .filter(|t| !matches!(t, RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3))
        .filter(|t| kind != NodeKind::Delegation || matches!(t, RecordType::NS | RecordType::DS))
        .collect();
    let signed = match kind {
        NodeKind::Delegation => out.contains(&RecordType::DS),
        _ => !out.is_empty(),
    };
    if signed {
        out.push(RecordType::RRSIG);
    }
    out.sort_by_key(|t| u16::from(*t));
    out
}

/// The NSEC3 RRset at `owner` for these parameters, next hash and bitmap.
///
/// # Errors
///
/// As [`Rrset::new`].
pub(crate) fn nsec3_rrset(
    params: &Nsec3Params,
    owner: &Name,
    next_hash: &[u8],
    ttl: u32,
    types: Vec<RecordType>,
) -> Result<Rrset, SignError> {
    let nsec3 = NSEC3::new(
        Nsec3HashAlgorithm::SHA1,
        false,
        params.iterations,
        params.salt.as_slice().to_vec(),
        next_hash.to_vec(),
        types,
    );
    Rrset::new(
        owner,
        RecordType::NSEC3,
        ttl,
        [RData::DNSSEC(DNSSECRData::NSEC3(nsec3))],
    )
}

/// The NSEC3PARAM RRset at the apex.
///
/// # Errors
///
/// As [`Rrset::new`].
pub(crate) fn nsec3param_rrset(
    params: &Nsec3Params,
    origin: &Name,
    ttl: u32,
) -> Result<Rrset, SignError> {
    Rrset::new(
        origin,
        RecordType::NSEC3PARAM,
        ttl,
        [RData::DNSSEC(DNSSECRData::NSEC3PARAM(params.nsec3param()))],
    )
}

/// The hash carried in an NSEC3 owner name's first label.
pub fn owner_hash(owner: &Name) -> Option<Vec<u8>> {
    let label = owner.iter().next()?;
    data_encoding::BASE32_DNSSEC.decode(label).ok()
}

impl SignedZone {
    /// The NSEC3 parameters of the zone (from its apex NSEC3PARAM), or `None` for an NSEC
    /// zone.
    ///
    /// Defined here rather than in [`crate::zone`], which is the bottom of the crate and knows
    /// nothing of NSEC3 parameters.
    pub fn nsec3_params(&self) -> Option<Nsec3Params> {
        params_of(self.nodes.get(&self.origin)?)
    }
}

/// The NSEC3 parameters a signed apex node announces (its NSEC3PARAM), if any.
fn params_of(apex: &SignedNode) -> Option<Nsec3Params> {
    match &apex
        .get(RecordType::NSEC3PARAM)?
        .rrset
        .records()
        .first()?
        .data
    {
        RData::DNSSEC(DNSSECRData::NSEC3PARAM(p)) => Some(Nsec3Params {
            iterations: p.iterations(),
            salt: Nsec3Salt::new(p.salt())?,
        }),
        _ => None,
    }
}

/// The types listed in the NSEC3 RRset of an NSEC3 node.
fn types_of(node: &SignedNode) -> Option<Vec<RecordType>> {
    match &node.get(RecordType::NSEC3)?.rrset.records().first()?.data {
        RData::DNSSEC(DNSSECRData::NSEC3(n)) => Some(n.type_bit_maps().collect()),
        _ => None,
    }
}

/// Whether a node of this kind is a member of the NSEC3 chain in its own right: the same
/// names as own an NSEC (empty non-terminals are members too, but have no node).
pub(crate) use crate::nsec::in_chain;

/// Adds `name` and its ancestors strictly below `origin` to `names`: a chain member makes
/// every empty non-terminal above it a member too (RFC 5155 §7.1).
pub(crate) fn insert_with_ancestors(names: &mut BTreeSet<Name>, origin: &Name, name: &Name) {
    names.insert(name.clone());
    let mut ancestor = name.base_name();
    while ancestor.num_labels() > origin.num_labels() {
        names.insert(ancestor.clone());
        ancestor = ancestor.base_name();
    }
}

/// Whether `name` is a chain member in `nodes`: a name with authoritative data or a delegation,
/// or an empty non-terminal above one (RFC 5155 §7.1), returning its bitmap types.
pub(crate) fn chain_types(
    nodes: &NameMap<Arc<SignedNode>>,
    name: &Name,
) -> Option<Vec<RecordType>> {
    if let Some(node) = nodes.get(name) {
        if in_chain(node.kind) {
            let types = node.rrsets.iter().map(|s| s.rrset.rtype());
            return Some(bitmap_types(node.kind, types));
        }
        if node.kind != NodeKind::Nsec3 {
            return None;
        }
    }
    // Descendants follow a name directly in canonical order (RFC 4034 §6.1).
    let has_member_below = nodes
        .after(name)
        .take_while(|(n, _)| name.zone_of(n))
        .any(|(_, node)| in_chain(node.kind));
    has_member_below.then(Vec::new)
}

/// Rebuilds the NSEC3 records for the chain members among `names` (and, through the changed
/// next-hash fields, their predecessors in hash order) in `nodes` and `index`.
///
/// `names` must include every original name whose membership or bitmap may have changed; every
/// other NSEC3 node is kept, and its RRSIGs too unless its next hash changed. With `index`
/// empty and `names` every member, this builds the whole chain. The names are hashed on
/// `threads` threads; `build` runs on the calling thread, in hash order.
#[allow(
    clippy::too_many_arguments,
    reason = "the chain's parameters, the zone's maps and the builder: grouping them would only \
              move the list into a struct used once"
)]
pub(crate) fn rebuild(
    params: &Nsec3Params,
    origin: &Name,
    ttl: u32,
    threads: NonZeroUsize,
    names: &BTreeSet<Name>,
    nodes: &mut NameMap<Arc<SignedNode>>,
    index: &mut NameSet,
    mut build: impl FnMut(&Name, Rrset) -> Result<SignedNode, SignError>,
) -> Result<(), SignError> {
    // The new bitmap (or absence) of each affected hashed owner.
    let mut wanted: BTreeMap<Name, Option<Vec<RecordType>>> = BTreeMap::new();
    let names: Vec<&Name> = names.iter().collect();
    let owners = threads::map(threads, &names, |name| params.hashed_owner(origin, name));
    for (name, owner) in names.into_iter().zip(owners) {
        let owner = owner?;
        let types = chain_types(nodes, name);
        // Two names of the zone hashing alike would need one NSEC3 for both: refuse.
        if types.is_some()
            && let Some(Some(_)) = wanted.get(&owner)
        {
            return Err(collision(name, &owner));
        }
        if types.is_some() || !wanted.contains_key(&owner) {
            wanted.insert(owner, types);
        }
    }
    let mut redo: BTreeSet<Name> = BTreeSet::new();
    for (owner, types) in &wanted {
        match types {
            Some(_) => {
                if nodes.get(owner).is_some_and(|n| n.kind != NodeKind::Nsec3) {
                    return Err(collision(owner, owner));
                }
                index.insert(owner.clone(), ());
                redo.insert(owner.clone());
            }
            None => {
                if index.remove(owner).is_some() {
                    nodes.remove(owner);
                }
            }
        }
    }
    // Predecessors of every changed owner: their next hash may have changed.
    for owner in wanted.keys() {
        if let Some(p) = prev_owner(index, owner) {
            redo.insert(p);
        }
    }
    for owner in &redo {
        let types = match wanted.get(owner) {
            Some(Some(types)) => types.clone(),
            _ => nodes
                .get(owner)
                .and_then(|n| types_of(n))
                .ok_or_else(|| collision(owner, owner))?,
        };
        let next = next_owner(index, owner);
        let next_hash = owner_hash(&next).ok_or_else(|| collision(owner, &next))?;
        let rrset = nsec3_rrset(params, owner, &next_hash, ttl, types)?;
        let node = build(owner, rrset)?;
        nodes.insert(owner.clone(), Arc::new(node));
    }
    Ok(())
}

fn collision(name: &Name, owner: &Name) -> SignError {
    SignError::BadZone {
        name: name.clone(),
        reason: format!("the NSEC3 owner name {owner} is taken (a hash collision or a name)"),
    }
}

/// The owner after `owner` in the chain, wrapping to the first (RFC 5155 §3.1.7: "the value of
/// the Next Hashed Owner Name in the last NSEC3 RR in the zone is the same as the hashed owner
/// name of the first NSEC3 RR in the zone").
pub(crate) fn next_owner(index: &NameSet, owner: &Name) -> Name {
    index
        .after(owner)
        .next()
        .or_else(|| index.first())
        .map_or_else(|| owner.clone(), |(name, ())| name.clone())
}

/// The owner before `owner` in the chain, wrapping to the last; `None` when the chain is empty.
pub(crate) fn prev_owner(index: &NameSet, owner: &Name) -> Option<Name> {
    index
        .before(owner)
        .next()
        .or_else(|| index.last())
        .map(|(name, ())| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Result<Name, SignError> {
        Name::from_ascii(text).map_err(|e| SignError::Key(e.to_string()))
    }

    #[test]
    fn rfc5155_appendix_a_hashes() -> Result<(), SignError> {
        // RFC 5155 Appendix A: "The NSEC3 parameters used are: Hash algorithm = SHA-1, Salt =
        // "aabbccdd", Iterations = 12", and the hashes of the example zone's names; also
        // mixed case, which hashes as lowercase (RFC 5155 §5: "the canonical wire format").
        let params = Nsec3Params {
            iterations: 12,
            salt: Nsec3Salt::new(&[0xaa, 0xbb, 0xcc, 0xdd]).ok_or(SignError::Key("salt".into()))?,
        };
        let origin = name("example.")?;
        let table = [
            ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
            ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
            ("ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"),
            ("ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
            ("ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r"),
            ("w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"),
            ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
            ("x.w.example.", "b4um86eghhds6nea196smvmlo4ors995"),
            ("y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"),
            ("x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s"),
            ("xx.example.", "t644ebqk9bibcna874givr6joj62mlhv"),
            ("X.W.Example.", "b4um86eghhds6nea196smvmlo4ors995"),
        ];
        for (text, hash) in table {
            let owner = params.hashed_owner(&origin, &name(text)?)?;
            assert_eq!(owner, name(&format!("{hash}.example."))?, "{text}");
            assert_eq!(owner_hash(&owner), Some(params.hash(&name(text)?).to_vec()));
        }
        Ok(())
    }

    #[test]
    fn rfc9276_s3_1_default_parameters() {
        // RFC 9276 §3.1: "If NSEC3 must be used, then an iterations count of 0 MUST be used"
        // and "Operators SHOULD NOT use a salt"; §3.2: no opt-out unless needed.
        let p = Nsec3Params::default();
        assert_eq!(p.iterations, 0);
        assert!(p.salt.as_slice().is_empty());
        let rdata = p.nsec3param();
        assert_eq!((rdata.flags(), rdata.iterations()), (0, 0));
        assert!(rdata.salt().is_empty());
    }

    #[test]
    fn rfc5155_s3_2_1_bitmaps() {
        // RFC 5155 §3.2.1: the Type Bit Maps field lists "the RRSet types that exist at the
        // original owner name"; an empty non-terminal has none, an unsigned delegation has no
        // RRSIG, glue at a delegation is not listed.
        use RecordType::*;
        assert!(bitmap_types(NodeKind::Authoritative, []).is_empty());
        assert_eq!(bitmap_types(NodeKind::Delegation, [NS, A]), [NS]);
        assert_eq!(
            bitmap_types(NodeKind::Delegation, [NS, DS, AAAA]),
            [NS, DS, RRSIG]
        );
        assert_eq!(
            bitmap_types(NodeKind::Authoritative, [TXT, A]),
            [A, TXT, RRSIG]
        );
    }

    #[test]
    fn salt_longer_than_255_octets_is_refused() {
        assert!(Nsec3Salt::new(&[0; 256]).is_none());
        assert_eq!(
            Nsec3Salt::new(&[1; 255]).map(|s| s.as_slice().len()),
            Some(255)
        );
    }
}
