//! Zone signing: full, incremental and signature refresh.
//!
//! All three entry points share one `Signer` (the keys, the signature times and the DNSKEY
//! RRset built from the keys) and one node builder, which signs an RRset only when its content
//! differs from the previous version's or a refresh forces it, and otherwise keeps the previous
//! RRSIG records as they are.

#![allow(
    clippy::result_large_err,
    reason = "SignError is the crate's one error type (error.rs); boxing it is a crate-wide decision"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::sync::Arc;

use hickory_proto::dnssec::rdata::{CDNSKEY, CDS, DNSSECRData};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use imbl::ordmap::DiffItem;
use ring::rand::SecureRandom;

use crate::error::SignError;
use crate::keys::{KeyRole, SigningKey};
use crate::names::{NameMap, NameSet};
use crate::nsec;
use crate::nsec3::{self, Denial, Nsec3Params};
use crate::rrsig::{self, SigTimes};
use crate::serial::serial_gt;
use crate::threads;
use crate::zone::{
    NodeKind, Rrset, RrsetChange, SignedNode, SignedRrset, SignedZone, Zone, ZoneDelta,
    canonical_name, is_signer_owned, node_kind, zone_cuts,
};

mod stream;

pub use stream::sign_zone_streamed;

/// How signatures are timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignPolicy {
    /// Inception is back-dated by this many seconds for clock skew (default 3600).
    pub inception_offset: u32,
    /// Expiration is this many seconds after now (default 14 days).
    pub validity: u32,
    /// A signature is renewed once fewer than this many seconds remain before it expires
    /// (default 7 days); must be less than `validity`.
    pub refresh: u32,
    /// Each RRset's expiration is `now + validity - r`, `r` drawn uniformly from `[0, jitter)`
    /// (default 12 hours), so that signatures made in one pass do not all expire, and come due
    /// for refresh, at the same second (BIND's `signatures-jitter`). Must stay below
    /// `validity - refresh`, else a fresh signature could already be due; a larger value is
    /// used as `validity - refresh - 1`. 0: no jitter.
    pub jitter: u32,
}

impl Default for SignPolicy {
    fn default() -> Self {
        Self {
            inception_offset: 3600,
            validity: 14 * 86400,
            refresh: 7 * 86400,
            jitter: 12 * 3600,
        }
    }
}

/// What one key does in a signing pass. The key lifecycle ([`crate::lifecycle`]) decides it
/// from the key's state; [`KeyUse::steady`] is the plain use of a key of a given role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyUse {
    /// Its DNSKEY record is in the apex DNSKEY RRset.
    pub publish: bool,
    /// It signs the DNSKEY, CDS and CDNSKEY RRsets (the KSK's duty).
    pub sign_keys: bool,
    /// It signs every other authoritative RRset (the ZSK's duty).
    pub sign_zone: bool,
    /// Its CDS and CDNSKEY records are published at the apex (RFC 7344 §3, RFC 8078): the
    /// parent should have its DS.
    pub cds: bool,
}

impl KeyUse {
    /// The use of an active key of `role` outside any rollover: published, signing what its
    /// role signs, no CDS.
    pub fn steady(role: KeyRole) -> Self {
        Self {
            publish: true,
            sign_keys: matches!(role, KeyRole::Csk | KeyRole::Ksk),
            sign_zone: matches!(role, KeyRole::Csk | KeyRole::Zsk),
            cds: false,
        }
    }
}

/// One key of a signing pass and what it does.
#[derive(Clone, Copy, Debug)]
pub struct ZoneKey<'a> {
    /// The key.
    pub key: &'a SigningKey,
    /// What it does in this pass.
    pub usage: KeyUse,
}

impl<'a> ZoneKey<'a> {
    /// `key` with the [`KeyUse::steady`] use of its role.
    pub fn steady(key: &'a SigningKey) -> Self {
        Self {
            key,
            usage: KeyUse::steady(key.role()),
        }
    }
}

/// Everything one signing pass needs from outside: the time, the policy, the keys and the RNG.
pub struct SignCtx<'a> {
    /// Now, in seconds since the epoch.
    pub now: u32,
    /// The signature timing.
    pub policy: SignPolicy,
    /// The zone's keys and what each does: the published ones make the DNSKEY RRset, the
    /// signing ones sign.
    pub keys: &'a [ZoneKey<'a>],
    /// TTL of the DNSKEY RRset.
    pub dnskey_ttl: u32,
    /// The randomness of the pass (ECDSA nonces, RSA blinding, the jitter), shared by its
    /// threads. ring's `SystemRandom` is `Sync`.
    pub rng: &'a (dyn SecureRandom + Sync),
    /// How non-existence is proven: NSEC or NSEC3.
    pub denial: Denial,
    /// How many threads the pass uses, the calling thread one of them; 1 does everything on
    /// the calling thread, and a pass starts no more threads than it has chunks of work for.
    ///
    /// The pass decides what to sign, and draws each RRset's signature times, on the calling
    /// thread in the order of a one-thread pass; then the signatures, and the NSEC3 owner name
    /// hashes, are made on `threads` threads. The result is a one-thread pass's: byte for byte
    /// with Ed25519 and RSA, whose signatures are deterministic, when the jitter is 0 or `rng`
    /// deterministic; with ECDSA, which draws a random nonce for each signature, the same
    /// records and RRSIG fields with other signature bytes. An error is the one a one-thread
    /// pass would return.
    pub threads: NonZeroUsize,
}

/// Signs a whole zone, setting its SOA serial to `serial`.
///
/// The apex DNSKEY, CDS and CDNSKEY RRsets come from `ctx.keys` (CDS and CDNSKEY for the keys
/// with [`KeyUse::cds`], none when no key has it); any CDS or CDNSKEY RRset at the apex of
/// `zone` is replaced.
///
/// Checks the zone first: exactly one SOA record and an NS RRset at the apex, no CNAME or DS at
/// the apex, a CNAME alone at its name, DS only at delegation points. Then builds the DNSKEY
/// RRset from `ctx.keys`, the NSEC chain or, with [`Denial::Nsec3`], the NSEC3 chain and the
/// apex NSEC3PARAM, and signs every authoritative RRset (at a delegation point only DS and NSEC;
/// occluded names and glue are not signed).
///
/// # Errors
///
/// [`SignError::BadZone`] for a zone without SOA or with CNAME beside other data,
/// [`SignError::NoKeys`], or a signing failure.
pub fn sign_zone(ctx: &SignCtx<'_>, zone: &Zone, serial: u32) -> Result<SignedZone, SignError> {
    let origin = zone.origin();
    let signer = Signer::new(ctx, origin)?;
    let soa = zone.soa().ok_or_else(|| no_soa(origin))?;
    let soa = with_serial(soa, serial)?;
    let nsec_ttl = nsec::nsec_ttl(&soa);
    let cuts = zone_cuts(origin, zone.nodes().map(|(n, t)| (n, t.codes())));

    let mut staged = Vec::new();
    for (name, types) in zone.nodes() {
        let kind = node_kind(origin, name, &cuts);
        let mut rrsets: Vec<Rrset> = types.values().cloned().collect();
        if name == origin {
            insert_sorted(&mut rrsets, soa.clone());
            signer.put_apex_keys(&mut rrsets);
        }
        check_node(origin, name, kind, &rrsets)?;
        staged.push((name, kind, rrsets));
    }

    if let Denial::Nsec3(params) = ctx.denial {
        return sign_zone_nsec3(&signer, &params, origin, staged, nsec_ttl, serial);
    }

    // Walk backwards so that each chain member knows the next one; the last points to the apex.
    let mut next = origin.clone();
    let mut built = Vec::with_capacity(staged.len());
    let mut jobs = Vec::new();
    for (name, kind, mut rrsets) in staged.into_iter().rev() {
        if nsec::in_chain(kind) {
            let types = nsec::bitmap_types(kind, rrsets.iter().map(Rrset::rtype));
            insert_sorted(&mut rrsets, nsec::nsec_rrset(name, &next, nsec_ttl, types)?);
            next = name.clone();
        }
        let node = signer.build_node(kind, rrsets, None, &|_| false, &mut jobs)?;
        built.push((name.clone(), node));
    }
    let signed = signer.sign_jobs(&jobs)?;
    fill_in_order(built.iter_mut().map(|(_, node)| node), jobs, signed);
    Ok(SignedZone {
        origin: origin.clone(),
        serial,
        nodes: built
            .into_iter()
            .map(|(name, node)| (name, Arc::new(node)))
            .collect(),
        nsec3: NameSet::new(),
    })
}

/// The NSEC3 half of [`sign_zone`]: NSEC3PARAM at the apex, then the chain over every member
/// and every empty non-terminal above one (RFC 5155 §7.1).
fn sign_zone_nsec3(
    signer: &Signer<'_, '_>,
    params: &Nsec3Params,
    origin: &Name,
    staged: Vec<(&Name, NodeKind, Vec<Rrset>)>,
    ttl: u32,
    serial: u32,
) -> Result<SignedZone, SignError> {
    let mut nodes = NameMap::new();
    let mut members = BTreeSet::new();
    let mut jobs = Vec::new();
    for (name, kind, mut rrsets) in staged {
        if name == origin {
            insert_sorted(&mut rrsets, nsec3::nsec3param_rrset(params, origin, ttl)?);
        }
        if nsec3::in_chain(kind) {
            nsec3::insert_with_ancestors(&mut members, origin, name);
        }
        let node = signer.build_node(kind, rrsets, None, &|_| false, &mut jobs)?;
        nodes.insert(name.clone(), Arc::new(node));
    }
    let mut index = NameSet::new();
    nsec3::rebuild(
        params,
        origin,
        ttl,
        signer.ctx.threads,
        &members,
        &mut nodes,
        &mut index,
        |_, rrset| signer.build_node(NodeKind::Nsec3, vec![rrset], None, &|_| false, &mut jobs),
    )?;
    let signed = signer.sign_jobs(&jobs)?;
    fill_map(&mut nodes, jobs, signed);
    Ok(SignedZone {
        origin: origin.clone(),
        serial,
        nodes,
        nsec3: index,
    })
}

/// Whether `prev` proves non-existence differently from what `denial` asks (NSEC against NSEC3,
/// or other NSEC3 parameters).
fn denial_differs(prev: &SignedZone, denial: Denial) -> bool {
    let current = prev.nsec3_params();
    match denial {
        Denial::Nsec => current.is_some() || !prev.nsec3.is_empty(),
        Denial::Nsec3(params) => current != Some(params),
    }
}

/// Applies content changes to a signed zone, re-signing only the changed RRsets, the SOA (with
/// `serial`) and the NSEC (or NSEC3) records whose type bitmap or next name changed. When
/// `ctx.denial` differs from the way `prev` was signed (NSEC against NSEC3, other NSEC3
/// parameters), the whole zone is signed again.
///
/// Names below an NS RRset that appears or disappears are reclassified (and signed or unsigned
/// accordingly). RRsets that did not change keep their RRSIG records as they are. When the keys
/// differ from those that signed `prev`, the whole zone is signed again. The returned
/// [`ZoneDelta`] lists every record removed and added, RRSIGs and both SOAs included.
///
/// # Errors
///
/// As [`sign_zone`], checked on the result; [`SignError::OutOfZone`] or
/// [`SignError::SignerOwnedType`] for a change that names a record outside the zone or of a
/// type the signer makes. On error `prev` is untouched.
pub fn apply_changes(
    ctx: &SignCtx<'_>,
    prev: &SignedZone,
    changes: &[RrsetChange],
    serial: u32,
) -> Result<(SignedZone, ZoneDelta), SignError> {
    let origin = &prev.origin;
    let signer = Signer::new(ctx, origin)?;
    let overlay = group_changes(origin, changes)?;

    if signer.keys_differ(prev) || denial_differs(prev, ctx.denial) {
        let mut zone = prev.to_zone();
        for (name, types) in overlay {
            for (code, rrset) in types {
                match rrset {
                    Some(rrset) => {
                        zone.insert(rrset)?;
                    }
                    None => {
                        zone.remove(&name, RecordType::from(code));
                    }
                }
            }
        }
        let next = sign_zone(ctx, &zone, serial)?;
        let delta = zone_delta(prev, &next);
        return Ok((next, delta));
    }

    let ns = u16::from(RecordType::NS);
    let is_cut = |name: &Name| -> bool {
        name != origin
            && match overlay.get(name).and_then(|t| t.get(&ns)) {
                Some(change) => change.is_some(),
                None => prev
                    .nodes
                    .get(name)
                    .is_some_and(|n| n.get(RecordType::NS).is_some()),
            }
    };
    let kind_of = |name: &Name| -> NodeKind {
        let mut ancestor = name.base_name();
        while ancestor.num_labels() > origin.num_labels() {
            if is_cut(&ancestor) {
                return NodeKind::Occluded;
            }
            ancestor = ancestor.base_name();
        }
        if is_cut(name) {
            NodeKind::Delegation
        } else {
            NodeKind::Authoritative
        }
    };

    // The names whose content or kind may change: the changed names, the apex (new serial), and
    // every name below a cut that appears or disappears (RFC 4035 §2.2: data below a cut is not
    // authoritative, so its kind follows the cut). Descendants of a name follow it directly in
    // canonical order (RFC 4034 §6.1), so a range walk finds them.
    let mut touched: BTreeSet<Name> = overlay.keys().cloned().collect();
    touched.insert(origin.clone());
    for name in overlay.keys() {
        let was_cut = name != origin
            && prev
                .nodes
                .get(name)
                .is_some_and(|n| n.get(RecordType::NS).is_some());
        if was_cut != is_cut(name) {
            let below = prev
                .nodes
                .after(name)
                .take_while(|(n, _)| name.zone_of(n))
                .map(|(n, _)| n.clone());
            touched.extend(below);
        }
    }

    // Stage 1: new content and kind of every touched name, checked, stored unsigned.
    let mut nodes = prev.nodes.clone();
    for name in &touched {
        let mut content: BTreeMap<u16, Rrset> = prev
            .nodes
            .get(name)
            .map(|n| {
                n.rrsets
                    .iter()
                    .filter(|s| keep_as_content(s.rrset.rtype()))
                    .map(|s| (u16::from(s.rrset.rtype()), s.rrset.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(types) = overlay.get(name) {
            for (code, change) in types {
                match change {
                    Some(rrset) => content.insert(*code, rrset.clone()),
                    None => content.remove(code),
                };
            }
        }
        if name == origin {
            let soa_code = u16::from(RecordType::SOA);
            let soa = content.get(&soa_code).ok_or_else(|| no_soa(origin))?;
            let soa = with_serial(soa, serial)?;
            content.insert(soa_code, soa);
            for rrset in signer.apex_key_rrsets() {
                content.insert(u16::from(rrset.rtype()), rrset);
            }
            for rtype in [RecordType::CDS, RecordType::CDNSKEY] {
                if signer.apex_rrset(rtype).is_none() {
                    content.remove(&u16::from(rtype));
                }
            }
        }
        if content.is_empty() {
            nodes.remove(name);
            continue;
        }
        let kind = kind_of(name);
        let rrsets: Vec<Rrset> = content.into_values().collect();
        check_node(origin, name, kind, &rrsets)?;
        let rrsets = rrsets
            .into_iter()
            .map(|rrset| SignedRrset {
                rrset,
                rrsigs: Vec::new(),
            })
            .collect();
        nodes.insert(name.clone(), Arc::new(SignedNode { kind, rrsets }));
    }

    // Stage 2: the chain members whose NSEC may change: the touched names, and the chain
    // predecessor of each (its next name changes when a name joins or leaves the chain). When
    // the NSEC TTL changes (SOA TTL or MINIMUM), every NSEC changes.
    let soa = nodes
        .get(origin)
        .and_then(|n| n.get(RecordType::SOA))
        .map(|s| s.rrset.clone())
        .ok_or_else(|| no_soa(origin))?;
    let nsec_ttl = nsec::nsec_ttl(&soa);
    if let Denial::Nsec3(params) = ctx.denial {
        return apply_nsec3(&signer, &params, prev, nodes, &touched, nsec_ttl, serial);
    }
    let prev_nsec_ttl = prev
        .nodes
        .get(origin)
        .and_then(|n| n.get(RecordType::NSEC))
        .map(|s| s.rrset.ttl());
    let mut redo = touched.clone();
    if prev_nsec_ttl != Some(nsec_ttl) {
        redo.extend(
            nodes
                .iter()
                .filter(|(_, n)| nsec::in_chain(n.kind))
                .map(|(n, _)| n.clone()),
        );
    } else {
        for name in &touched {
            if let Some(p) = nsec::prev_in_chain(&nodes, name) {
                redo.insert(p);
            }
        }
    }

    // Stage 3: NSEC and signatures. Kinds are final now, so chain lookups see the new chain.
    let mut jobs = Vec::new();
    for name in &redo {
        let Some(node) = nodes.get(name).cloned() else {
            continue;
        };
        let mut rrsets: Vec<Rrset> = node
            .rrsets
            .iter()
            .filter(|s| s.rrset.rtype() != RecordType::NSEC)
            .map(|s| s.rrset.clone())
            .collect();
        if nsec::in_chain(node.kind) {
            let next = nsec::next_in_chain(&nodes, origin, name);
            let types = nsec::bitmap_types(node.kind, rrsets.iter().map(Rrset::rtype));
            insert_sorted(&mut rrsets, nsec::nsec_rrset(name, &next, nsec_ttl, types)?);
        }
        let old = prev.nodes.get(name);
        let pending = jobs.len();
        let new = signer.build_node(node.kind, rrsets, old.map(|n| &**n), &|_| false, &mut jobs)?;
        match old {
            // Keep the previous node (and the sharing with `prev`) when nothing changed. A node
            // with an RRset to sign differs: its RRset or its RRSIGs do.
            Some(old) if jobs.len() == pending && **old == new => {
                nodes.insert(name.clone(), Arc::clone(old))
            }
            _ => nodes.insert(name.clone(), Arc::new(new)),
        };
    }
    let signed = signer.sign_jobs(&jobs)?;
    fill_map(&mut nodes, jobs, signed);

    let next = SignedZone {
        origin: origin.clone(),
        serial,
        nodes,
        nsec3: NameSet::new(),
    };
    let delta = zone_delta(prev, &next);
    Ok((next, delta))
}

/// Stages 2 and 3 of [`apply_changes`] for an NSEC3 zone: the touched names are signed again
/// (the apex with its NSEC3PARAM), then the NSEC3 records of the touched names and of all their
/// ancestors (empty non-terminals appear and disappear with the names below them) are rebuilt,
/// with their predecessors in hash order. A changed NSEC3 TTL rebuilds every NSEC3.
fn apply_nsec3(
    signer: &Signer<'_, '_>,
    params: &Nsec3Params,
    prev: &SignedZone,
    mut nodes: NameMap<Arc<SignedNode>>,
    touched: &BTreeSet<Name>,
    ttl: u32,
    serial: u32,
) -> Result<(SignedZone, ZoneDelta), SignError> {
    let origin = &prev.origin;
    let mut jobs = Vec::new();
    for name in touched {
        if prev.nsec3.contains(name) {
            return Err(SignError::BadZone {
                name: name.clone(),
                reason: "this name is the owner of an NSEC3 record of the zone".into(),
            });
        }
        let Some(node) = nodes.get(name).cloned() else {
            continue;
        };
        let mut rrsets: Vec<Rrset> = node.rrsets.iter().map(|s| s.rrset.clone()).collect();
        if name == origin {
            insert_sorted(&mut rrsets, nsec3::nsec3param_rrset(params, origin, ttl)?);
        }
        let old = prev.nodes.get(name);
        let pending = jobs.len();
        let new = signer.build_node(node.kind, rrsets, old.map(|n| &**n), &|_| false, &mut jobs)?;
        match old {
            Some(old) if jobs.len() == pending && **old == new => {
                nodes.insert(name.clone(), Arc::clone(old))
            }
            _ => nodes.insert(name.clone(), Arc::new(new)),
        };
    }

    let prev_ttl = prev
        .nsec3
        .first()
        .and_then(|(o, ())| prev.nodes.get(o))
        .and_then(|n| n.get(RecordType::NSEC3))
        .map(|s| s.rrset.ttl());
    let mut names: BTreeSet<Name> = BTreeSet::new();
    let mut index = prev.nsec3.clone();
    if prev_ttl.is_some_and(|t| t != ttl) {
        // Every NSEC3 changes: rebuild the chain from scratch over the new content.
        for o in prev.nsec3.names() {
            nodes.remove(o);
        }
        index = NameSet::new();
        for (name, node) in nodes.iter() {
            if nsec3::in_chain(node.kind) {
                nsec3::insert_with_ancestors(&mut names, origin, name);
            }
        }
    } else {
        for name in touched {
            nsec3::insert_with_ancestors(&mut names, origin, name);
        }
    }
    nsec3::rebuild(
        params,
        origin,
        ttl,
        signer.ctx.threads,
        &names,
        &mut nodes,
        &mut index,
        |owner, rrset| {
            let old = prev.nodes.get(owner).map(|n| &**n);
            signer.build_node(NodeKind::Nsec3, vec![rrset], old, &|_| false, &mut jobs)
        },
    )?;
    let signed = signer.sign_jobs(&jobs)?;
    fill_map(&mut nodes, jobs, signed);
    // Keep the previous NSEC3 node (and the sharing with `prev`) when nothing changed.
    for owner in index.names() {
        if let (Some(old), Some(new)) = (prev.nodes.get(owner), nodes.get(owner))
            && !Arc::ptr_eq(old, new)
            && old == new
        {
            nodes.insert(owner.clone(), Arc::clone(old));
        }
    }
    let next = SignedZone {
        origin: origin.clone(),
        serial,
        nodes,
        nsec3: index,
    };
    let delta = zone_delta(prev, &next);
    Ok((next, delta))
}

/// Re-signs every RRset whose signatures expire within `ctx.policy.refresh` of `ctx.now` (or
/// were made by a key no longer in `ctx.keys`), with a new SOA `serial`. `None` when nothing
/// needed it.
///
/// An RRset is also due when a key in `ctx.keys` that should sign it has not (a key was added
/// or its use changed), and the DNSKEY, CDS and CDNSKEY RRsets are rebuilt from `ctx.keys`
/// (the apex NSEC or NSEC3 bitmap follows CDS and CDNSKEY as they come and go): this is how a
/// key lifecycle step is applied. Signature times use RFC 1982 arithmetic.
///
/// # Errors
///
/// As [`sign_zone`].
pub fn refresh_signatures(
    ctx: &SignCtx<'_>,
    prev: &SignedZone,
    serial: u32,
) -> Result<Option<(SignedZone, ZoneDelta)>, SignError> {
    let origin = &prev.origin;
    let signer = Signer::new(ctx, origin)?;
    let limit = ctx.now.wrapping_add(ctx.policy.refresh);
    let due = |kind: NodeKind, s: &SignedRrset| -> bool {
        should_sign(kind, s.rrset.rtype()) && signer.is_due(s, limit)
    };
    let apex = prev.nodes.get(origin).ok_or_else(|| no_soa(origin))?;
    let apex_changed = APEX_KEY_TYPES
        .into_iter()
        .any(|t| apex.get(t).map(|s| &s.rrset) != signer.apex_rrset(t));

    let due_names: Vec<Name> = prev
        .nodes
        .iter()
        .filter(|(_, node)| node.rrsets.iter().any(|s| due(node.kind, s)))
        .map(|(name, _)| name.clone())
        .collect();
    if due_names.is_empty() && !apex_changed {
        return Ok(None);
    }

    let mut nodes = prev.nodes.clone();
    let mut names: BTreeSet<Name> = due_names.into_iter().collect();
    names.insert(origin.clone());
    let mut nsec_ttl = None;
    let mut jobs = Vec::new();
    for name in &names {
        let Some(old) = prev.nodes.get(name) else {
            continue;
        };
        let mut rrsets: Vec<Rrset> = old.rrsets.iter().map(|s| s.rrset.clone()).collect();
        if name == origin {
            let soa = old
                .get(RecordType::SOA)
                .map(|s| &s.rrset)
                .ok_or_else(|| no_soa(origin))?;
            nsec_ttl = Some(nsec::nsec_ttl(soa));
            insert_sorted(&mut rrsets, with_serial(soa, serial)?);
            signer.put_apex_keys(&mut rrsets);
            // CDS and CDNSKEY come and go with the keys' use: the apex NSEC bitmap follows
            // (RFC 4035 §2.3). The next name is unchanged.
            if let Some(i) = rrsets.iter().position(|r| r.rtype() == RecordType::NSEC) {
                let next = nsec::next_in_chain(&prev.nodes, origin, origin);
                let types = nsec::bitmap_types(
                    old.kind,
                    rrsets
                        .iter()
                        .map(Rrset::rtype)
                        .filter(|t| *t != RecordType::NSEC),
                );
                rrsets[i] = nsec::nsec_rrset(origin, &next, nsec::nsec_ttl(soa), types)?;
            }
        }
        let kind = old.kind;
        let new = signer.build_node(kind, rrsets, Some(old), &|s| due(kind, s), &mut jobs)?;
        nodes.insert(name.clone(), Arc::new(new));
    }
    let mut index = prev.nsec3.clone();
    if let (Some(params), Some(ttl)) = (prev.nsec3_params(), nsec_ttl) {
        // The apex NSEC3 bitmap follows CDS and CDNSKEY too (RFC 5155 §3.2.1); `rebuild` keeps
        // every NSEC3 whose content is unchanged (and its RRSIGs unless due).
        nsec3::rebuild(
            &params,
            origin,
            ttl,
            ctx.threads,
            &BTreeSet::from([origin.clone()]),
            &mut nodes,
            &mut index,
            |owner, rrset| {
                let old = prev.nodes.get(owner).map(|n| &**n);
                let due = |s: &SignedRrset| due(NodeKind::Nsec3, s);
                signer.build_node(NodeKind::Nsec3, vec![rrset], old, &due, &mut jobs)
            },
        )?;
    }
    let signed = signer.sign_jobs(&jobs)?;
    fill_map(&mut nodes, jobs, signed);
    let next = SignedZone {
        origin: origin.clone(),
        serial,
        nodes,
        nsec3: index,
    };
    let delta = zone_delta(prev, &next);
    Ok(Some((next, delta)))
}

/// The apex RRsets the signer makes from the keys.
const APEX_KEY_TYPES: [RecordType; 3] = [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY];

/// The keys, times and apex key RRsets (DNSKEY, CDS, CDNSKEY) of one signing pass.
struct Signer<'c, 'a> {
    ctx: &'c SignCtx<'a>,
    origin: Name,
    dnskey: Rrset,
    /// The CDS RRset (RFC 7344 §3.1), when a key has [`KeyUse::cds`].
    cds: Option<Rrset>,
    /// The CDNSKEY RRset (RFC 7344 §3.2), when a key has [`KeyUse::cds`].
    cdnskey: Option<Rrset>,
    /// The jitter actually used: below `validity - refresh`.
    jitter: u32,
}

impl<'c, 'a> Signer<'c, 'a> {
    fn new(ctx: &'c SignCtx<'a>, origin: &Name) -> Result<Self, SignError> {
        let signs_dnskey = ctx.keys.iter().any(|k| signs(k, RecordType::DNSKEY));
        let signs_rest = ctx.keys.iter().any(|k| signs(k, RecordType::SOA));
        let publishes = ctx.keys.iter().any(|k| k.usage.publish);
        if !signs_dnskey || !signs_rest || !publishes {
            return Err(SignError::NoKeys {
                origin: origin.clone(),
            });
        }
        let dnskey = Rrset::new(
            origin,
            RecordType::DNSKEY,
            ctx.dnskey_ttl,
            ctx.keys
                .iter()
                .filter(|k| k.usage.publish)
                .map(|k| RData::DNSSEC(DNSSECRData::DNSKEY(k.key.dnskey().clone()))),
        )?;
        let (cds, cdnskey) = cds_rrsets(ctx, origin)?;
        let margin = ctx.policy.validity.saturating_sub(ctx.policy.refresh);
        Ok(Self {
            ctx,
            origin: origin.clone(),
            dnskey,
            cds,
            cdnskey,
            jitter: ctx.policy.jitter.min(margin.saturating_sub(1)),
        })
    }

    /// The signer-made apex RRset of `rtype` (DNSKEY, CDS or CDNSKEY) in this pass.
    fn apex_rrset(&self, rtype: RecordType) -> Option<&Rrset> {
        match rtype {
            RecordType::DNSKEY => Some(&self.dnskey),
            RecordType::CDS => self.cds.as_ref(),
            RecordType::CDNSKEY => self.cdnskey.as_ref(),
            _ => None,
        }
    }

    /// The signer-made apex RRsets of this pass.
    fn apex_key_rrsets(&self) -> impl Iterator<Item = Rrset> + '_ {
        APEX_KEY_TYPES
            .into_iter()
            .filter_map(|t| self.apex_rrset(t).cloned())
    }

    /// Puts this pass's DNSKEY, CDS and CDNSKEY RRsets in the apex RRsets `rrsets`, removing
    /// any CDS or CDNSKEY RRset no key asks for: the signer owns them.
    fn put_apex_keys(&self, rrsets: &mut Vec<Rrset>) {
        rrsets.retain(|r| !matches!(r.rtype(), RecordType::CDS | RecordType::CDNSKEY));
        for rrset in self.apex_key_rrsets() {
            insert_sorted(rrsets, rrset);
        }
    }

    /// The signature times of one RRset: inception back-dated, expiration
    /// `now + validity - r` with `r` uniform in `[0, jitter)` (BIND's `signatures-jitter`).
    fn times(&self, rrset: &Rrset) -> Result<SigTimes, SignError> {
        let r = if self.jitter == 0 {
            0
        } else {
            uniform_below(self.jitter, self.ctx.rng).ok_or_else(|| SignError::Signing {
                name: rrset.name().clone(),
                rtype: rrset.rtype(),
                key_tag: self.ctx.keys.first().map_or(0, |k| k.key.key_tag()),
            })?
        };
        Ok(SigTimes {
            inception: self.ctx.now.wrapping_sub(self.ctx.policy.inception_offset),
            expiration: self
                .ctx
                .now
                .wrapping_add(self.ctx.policy.validity)
                .wrapping_sub(r),
        })
    }

    /// The job of signing `rrset`, with its times drawn now; `None` when no key signs its type.
    fn plan(&self, rrset: &Rrset) -> Result<Option<Job>, SignError> {
        if !self.ctx.keys.iter().any(|k| signs(k, rrset.rtype())) {
            return Ok(None);
        }
        Ok(Some(Job {
            rrset: rrset.clone(),
            times: self.times(rrset)?,
        }))
    }

    /// The RRSIGs of each job, in their order, made on the pass's threads; the error is the
    /// first job's that fails, as one thread signing in order would meet it.
    fn sign_jobs(&self, jobs: &[Job]) -> Result<Vec<Vec<Record>>, SignError> {
        let (keys, origin) = (self.ctx.keys, &self.origin);
        let rng = self.ctx.rng;
        threads::map(self.ctx.threads, jobs, |j| j.sign(keys, origin, rng))
            .into_iter()
            .collect()
    }

    /// Builds a node from its RRsets (sorted by type code, NSEC included). RRsets that must be
    /// signed keep `prev`'s RRSIGs when their content is unchanged and `force` says no; the
    /// others get no RRSIGs yet but a job in `jobs` ([`Signer::sign_jobs`] makes them).
    fn build_node(
        &self,
        kind: NodeKind,
        rrsets: Vec<Rrset>,
        prev: Option<&SignedNode>,
        force: &dyn Fn(&SignedRrset) -> bool,
        jobs: &mut Vec<Job>,
    ) -> Result<SignedNode, SignError> {
        let mut out = Vec::with_capacity(rrsets.len());
        for rrset in rrsets {
            let mut rrsigs = Vec::new();
            if should_sign(kind, rrset.rtype()) {
                match prev.and_then(|p| p.get(rrset.rtype())) {
                    Some(old) if old.rrset == rrset && !old.rrsigs.is_empty() && !force(old) => {
                        rrsigs.clone_from(&old.rrsigs);
                    }
                    _ => jobs.extend(self.plan(&rrset)?),
                }
            }
            out.push(SignedRrset { rrset, rrsigs });
        }
        Ok(SignedNode { kind, rrsets: out })
    }

    /// Whether `s` must be signed again: a signature expires before `limit`, was made by a key
    /// that should not sign it, or a key that should sign it has not.
    fn is_due(&self, s: &SignedRrset, limit: u32) -> bool {
        let mut made: Vec<(u16, Algorithm)> = Vec::with_capacity(s.rrsigs.len());
        for record in &s.rrsigs {
            let Some(f) = rrsig_fields(record) else {
                return true;
            };
            if serial_gt(limit, f.expiration) {
                return true;
            }
            made.push((f.key_tag, f.algorithm));
        }
        !self.same_signers(s.rrset.rtype(), made)
    }

    fn same_signers(&self, rtype: RecordType, mut made: Vec<(u16, Algorithm)>) -> bool {
        let mut wanted: Vec<(u16, Algorithm)> = self
            .ctx
            .keys
            .iter()
            .filter(|k| signs(k, rtype))
            .map(|k| (k.key.key_tag(), k.key.dnssec_algorithm()))
            .collect();
        made.sort_unstable();
        wanted.sort_unstable();
        made == wanted
    }

    /// Whether `prev` was signed with other keys or key roles than this pass: its DNSKEY RRset
    /// differs, or the apex SOA and DNSKEY RRSIGs come from other keys (a KSK turned CSK keeps
    /// its DNSKEY but signs more).
    fn keys_differ(&self, prev: &SignedZone) -> bool {
        let Some(apex) = prev.nodes.get(&prev.origin) else {
            return true;
        };
        let signed_by = |rtype| -> Option<Vec<(u16, Algorithm)>> {
            apex.get(rtype)?
                .rrsigs
                .iter()
                .map(|r| rrsig_fields(r).map(|f| (f.key_tag, f.algorithm)))
                .collect()
        };
        APEX_KEY_TYPES
            .into_iter()
            .any(|t| apex.get(t).map(|s| &s.rrset) != self.apex_rrset(t))
            || [RecordType::SOA, RecordType::DNSKEY]
                .into_iter()
                .any(|t| signed_by(t).is_none_or(|made| !self.same_signers(t, made)))
    }
}

/// An RRset a pass must sign, with the signature times drawn for it.
///
/// A pass first builds its nodes, leaving the RRSIGs of these RRsets empty and drawing the
/// times in node order on the calling thread; then it signs the jobs, on several threads when
/// it may ([`SignCtx::threads`]), and fills the RRSIGs in ([`fill_in_order`], [`fill_map`]).
struct Job {
    rrset: Rrset,
    times: SigTimes,
}

impl Job {
    /// One RRSIG per key that signs this type (RFC 4035 §2.2: "there MUST be an RRSIG for each
    /// RRset using at least one DNSKEY of each algorithm in the zone apex DNSKEY RRset").
    fn sign(
        &self,
        keys: &[ZoneKey<'_>],
        origin: &Name,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<Record>, SignError> {
        keys.iter()
            .filter(|k| signs(k, self.rrset.rtype()))
            .map(|k| rrsig::sign_rrset(&self.rrset, k.key, origin, self.times, rng))
            .collect()
    }

    /// Whether `s` is the RRset of this job.
    fn is_for(&self, s: &SignedRrset) -> bool {
        s.rrset.rtype() == self.rrset.rtype() && s.rrset.name() == self.rrset.name()
    }
}

/// Puts the RRSIGs of `jobs` into `nodes`, which hold the jobs' RRsets in the order the jobs
/// were made.
fn fill_in_order<'n>(
    nodes: impl Iterator<Item = &'n mut SignedNode>,
    jobs: Vec<Job>,
    signed: Vec<Vec<Record>>,
) {
    let mut pending = jobs.into_iter().zip(signed).peekable();
    for s in nodes.flat_map(|node| node.rrsets.iter_mut()) {
        if let Some((_, rrsigs)) = pending.next_if(|(job, _)| job.is_for(s)) {
            s.rrsigs = rrsigs;
        }
    }
}

/// Puts the RRSIGs of `jobs` into the nodes of `nodes` that hold their RRsets. A job for an
/// RRset signed twice in a pass (an NSEC3 whose signatures were due and whose next hash
/// changed) comes after the first, so the last signatures stay, as when it signed at once.
fn fill_map(nodes: &mut NameMap<Arc<SignedNode>>, jobs: Vec<Job>, signed: Vec<Vec<Record>>) {
    for (job, rrsigs) in jobs.into_iter().zip(signed) {
        nodes.update(job.rrset.name(), |node| {
            if let Some(s) = Arc::make_mut(node)
                .rrsets
                .iter_mut()
                .find(|s| job.is_for(s))
            {
                s.rrsigs = rrsigs;
            }
        });
    }
}

/// Whether `key` signs RRsets of `rtype` in this pass: the DNSKEY, CDS and CDNSKEY RRsets when
/// it has the KSK's duty (RFC 7344 §4.1 wants CDS and CDNSKEY signed by a key in the DS RRset,
/// which is the KSK's), everything else when it has the ZSK's.
fn signs(key: &ZoneKey<'_>, rtype: RecordType) -> bool {
    match rtype {
        RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY => key.usage.sign_keys,
        _ => key.usage.sign_zone,
    }
}

/// The CDS (SHA-256 digests, the mandatory DS digest of RFC 8624 §3.3) and CDNSKEY RRsets at
/// the apex for the keys with [`KeyUse::cds`] (RFC 7344 §4: the child's operator publishes
/// them to signal the DS set it wants), with the DNSKEY TTL; `None` when no key has it.
fn cds_rrsets(
    ctx: &SignCtx<'_>,
    origin: &Name,
) -> Result<(Option<Rrset>, Option<Rrset>), SignError> {
    let keys: Vec<&ZoneKey<'_>> = ctx.keys.iter().filter(|k| k.usage.cds).collect();
    if keys.is_empty() {
        return Ok((None, None));
    }
    let mut cds = Vec::with_capacity(keys.len());
    let mut cdnskey = Vec::with_capacity(keys.len());
    for k in keys {
        let ds = k.key.ds(origin, DigestType::SHA256)?;
        cds.push(RData::DNSSEC(DNSSECRData::CDS(CDS::new(
            ds.key_tag(),
            Some(ds.algorithm()),
            ds.digest_type(),
            ds.digest().to_vec(),
        ))));
        let dnskey = k.key.dnskey();
        cdnskey.push(RData::DNSSEC(DNSSECRData::CDNSKEY(CDNSKEY::with_flags(
            dnskey.flags(),
            Some(dnskey.public_key().algorithm()),
            dnskey.public_key().public_bytes().to_vec(),
        ))));
    }
    Ok((
        Some(Rrset::new(origin, RecordType::CDS, ctx.dnskey_ttl, cds)?),
        Some(Rrset::new(
            origin,
            RecordType::CDNSKEY,
            ctx.dnskey_ttl,
            cdnskey,
        )?),
    ))
}

/// A number drawn uniformly from `[0, bound)` (`bound > 0`) by rejection sampling, so that no
/// value is more likely than another; `None` when the RNG fails.
fn uniform_below(bound: u32, rng: &dyn SecureRandom) -> Option<u32> {
    // The largest multiple of `bound` that fits in 2^32: values at or above it are redrawn.
    let zone = u64::from(u32::MAX) + 1 - (u64::from(u32::MAX) + 1) % u64::from(bound);
    loop {
        let mut buf = [0u8; 4];
        rng.fill(&mut buf).ok()?;
        let x = u64::from(u32::from_be_bytes(buf));
        if x < zone {
            return u32::try_from(x % u64::from(bound)).ok();
        }
    }
}

/// Whether an RRset of `rtype` at a name of `kind` is signed (RFC 4035 §2.2: "The NS RRset
/// that appears at the zone apex name MUST be signed, but the NS RRset that appears at a
/// delegation point ... MUST NOT be signed. Glue address RRsets associated with delegations
/// MUST NOT be signed.").
fn should_sign(kind: NodeKind, rtype: RecordType) -> bool {
    match kind {
        NodeKind::Authoritative => true,
        NodeKind::Delegation => matches!(rtype, RecordType::DS | RecordType::NSEC),
        NodeKind::Occluded => false,
        NodeKind::Nsec3 => rtype == RecordType::NSEC3,
    }
}

/// The RRSIG fields the refresh logic needs.
struct RrsigFields {
    expiration: u32,
    key_tag: u16,
    algorithm: Algorithm,
}

fn rrsig_fields(record: &Record) -> Option<RrsigFields> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
            let input = sig.input();
            Some(RrsigFields {
                expiration: input.sig_expiration.get(),
                key_tag: input.key_tag,
                algorithm: input.algorithm,
            })
        }
        _ => None,
    }
}

/// Content types carried over from a signed node: everything but what the signer remakes per
/// node (NSEC, and NSEC3 material from a pre-signed zone); the DNSKEY RRset stays at the apex.
fn keep_as_content(rtype: RecordType) -> bool {
    rtype == RecordType::DNSKEY || !is_signer_owned(rtype)
}

/// Groups changes by name, then type code (a later change to the same RRset wins), checking
/// that each one is inside the zone and of a type the zone content may hold.
fn group_changes(
    origin: &Name,
    changes: &[RrsetChange],
) -> Result<BTreeMap<Name, BTreeMap<u16, Option<Rrset>>>, SignError> {
    let mut overlay: BTreeMap<Name, BTreeMap<u16, Option<Rrset>>> = BTreeMap::new();
    for change in changes {
        let name = canonical_name(&change.name);
        if !origin.zone_of(&name) {
            return Err(SignError::OutOfZone {
                name,
                origin: origin.clone(),
            });
        }
        let apex_key_type =
            &name == origin && matches!(change.rtype, RecordType::CDS | RecordType::CDNSKEY);
        if is_signer_owned(change.rtype) || apex_key_type {
            return Err(SignError::SignerOwnedType {
                name,
                rtype: change.rtype,
            });
        }
        if let Some(rrset) = &change.rrset
            && (rrset.name() != &name || rrset.rtype() != change.rtype)
        {
            return Err(SignError::BadZone {
                name,
                reason: format!(
                    "a change of the {} RRset carries the {} {} RRset",
                    change.rtype,
                    rrset.name(),
                    rrset.rtype()
                ),
            });
        }
        overlay
            .entry(name)
            .or_default()
            .insert(u16::from(change.rtype), change.rrset.clone());
    }
    Ok(overlay)
}

/// The structural rules every version of a zone obeys, checked at one name. Occluded names are
/// not checked: their data is not part of the zone (RFC 1034 §4.2.1).
fn check_node(
    origin: &Name,
    name: &Name,
    kind: NodeKind,
    rrsets: &[Rrset],
) -> Result<(), SignError> {
    let bad = |reason: &str| {
        Err(SignError::BadZone {
            name: name.clone(),
            reason: reason.into(),
        })
    };
    let find = |t: RecordType| rrsets.iter().find(|r| r.rtype() == t);
    if matches!(kind, NodeKind::Occluded | NodeKind::Nsec3) {
        return Ok(());
    }
    if name == origin {
        match find(RecordType::SOA) {
            None => return bad("no SOA record at the zone apex"),
            Some(soa) if soa.records().len() != 1 => {
                return bad("the zone apex must hold exactly one SOA record (RFC 1035 §5.2)");
            }
            Some(_) => {}
        }
        if find(RecordType::NS).is_none() {
            return bad("no NS RRset at the zone apex (RFC 1034 §4.2.1)");
        }
        if find(RecordType::CNAME).is_some() {
            return bad("CNAME at the zone apex (RFC 1034 §3.6.2)");
        }
        if find(RecordType::DS).is_some() {
            return bad("DS at the zone apex: it belongs in the parent zone (RFC 4035 §2.4)");
        }
    } else if find(RecordType::SOA).is_some() {
        return bad("SOA record below the zone apex");
    }
    if let Some(cname) = find(RecordType::CNAME) {
        if rrsets.len() > 1 {
            return bad("CNAME and other data at one name (RFC 1034 §3.6.2, RFC 2181 §10.1)");
        }
        if cname.records().len() > 1 {
            return bad("more than one CNAME record at one name (RFC 2181 §10.1)");
        }
    }
    if find(RecordType::DS).is_some() && kind != NodeKind::Delegation {
        return bad("DS record away from a delegation point (RFC 4035 §2.4)");
    }
    Ok(())
}

fn no_soa(origin: &Name) -> SignError {
    SignError::BadZone {
        name: origin.clone(),
        reason: "no SOA record at the zone apex".into(),
    }
}

/// `soa` with its serial set to `serial`.
fn with_serial(soa: &Rrset, serial: u32) -> Result<Rrset, SignError> {
    let rdatas = soa.rdatas().map(|rdata| match rdata {
        RData::SOA(s) => {
            let mut s = s.clone();
            s.serial = serial;
            RData::SOA(s)
        }
        other => other.clone(),
    });
    Rrset::new(soa.name(), RecordType::SOA, soa.ttl(), rdatas)
}

/// Puts `rrset` in its place in a list sorted by type code, replacing one of the same type.
fn insert_sorted(rrsets: &mut Vec<Rrset>, rrset: Rrset) {
    let code = u16::from(rrset.rtype());
    match rrsets.binary_search_by_key(&code, |r| u16::from(r.rtype())) {
        Ok(i) => rrsets[i] = rrset,
        Err(i) => rrsets.insert(i, rrset),
    }
}

/// Every record removed and added between two versions (RFC 1995 §4): records are compared
/// with their TTL, and each list starts with its SOA.
fn zone_delta(prev: &SignedZone, next: &SignedZone) -> ZoneDelta {
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for item in prev.nodes.diff(&next.nodes) {
        match item {
            DiffItem::Add(_, node) => added.extend(node_records(node)),
            DiffItem::Remove(_, node) => removed.extend(node_records(node)),
            DiffItem::Update {
                old: (_, old),
                new: (_, new),
            } => node_delta(old, new, &mut removed, &mut added),
        }
    }
    ZoneDelta {
        from_serial: prev.serial,
        to_serial: next.serial,
        removed: soa_first(removed),
        added: soa_first(added),
    }
}

fn node_records(node: &SignedNode) -> impl Iterator<Item = Record> + '_ {
    node.rrsets
        .iter()
        .flat_map(|s| s.rrset.records().iter().chain(&s.rrsigs))
        .cloned()
}

fn same_record(a: &Record, b: &Record) -> bool {
    a.ttl == b.ttl && a == b
}

fn node_delta(
    old: &SignedNode,
    new: &SignedNode,
    removed: &mut Vec<Record>,
    added: &mut Vec<Record>,
) {
    let code = |s: &SignedRrset| u16::from(s.rrset.rtype());
    let mut codes: Vec<u16> = old.rrsets.iter().chain(&new.rrsets).map(code).collect();
    codes.sort_unstable();
    codes.dedup();
    for c in codes {
        let rtype = RecordType::from(c);
        let records = |n: &SignedNode| -> Vec<Record> {
            n.get(rtype)
                .map(|s| s.rrset.records().iter().chain(&s.rrsigs).cloned().collect())
                .unwrap_or_default()
        };
        let (o, n) = (records(old), records(new));
        removed.extend(
            o.iter()
                .filter(|r| !n.iter().any(|x| same_record(r, x)))
                .cloned(),
        );
        added.extend(
            n.iter()
                .filter(|r| !o.iter().any(|x| same_record(r, x)))
                .cloned(),
        );
    }
}

fn soa_first(records: Vec<Record>) -> Vec<Record> {
    let (mut soa, rest): (Vec<Record>, Vec<Record>) = records
        .into_iter()
        .partition(|r| r.record_type() == RecordType::SOA);
    soa.extend(rest);
    soa
}
