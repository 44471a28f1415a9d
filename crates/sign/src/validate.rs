//! Checks a new signed version before it is served (Knot's `dnssec-validation`, Cascade's
//! review step): the signatures of what changed, and the part of the NSEC or NSEC3 chain
//! around the change.
//!
//! [`validate_delta`] looks only at what a [`ZoneDelta`] touched, so checking a one-record
//! change costs the same at 1k and 100k names. [`validate_sample`] checks the signatures of a
//! bounded, evenly spread part of a whole zone (a full sign at start) and its whole chain
//! structure, without cryptography for the chain.
//!
//! # Limitations
//!
//! Only the signatures made by keys of the zone's own apex DNSKEY RRset are checked (the DS at
//! the parent is not known here); a version is accepted when every RRSIG the delta adds
//! verifies and every RRset it adds that must be signed (RFC 4035 §2.2) has one.

#![allow(
    clippy::result_large_err,
    reason = "SignError is the crate's one error type (error.rs); boxing it is a crate-wide decision"
)]

use std::collections::BTreeSet;
use std::num::NonZeroUsize;

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::error::SignError;
use crate::keys::key_tag;
use crate::names::NameSet;
use crate::nsec::in_chain;
use crate::nsec3::{next_owner, owner_hash, prev_owner};
use crate::rrsig::verify_rrsig;
use crate::serial::serial_gt;
use crate::threads;
use crate::zone::{NodeKind, SignedRrset, SignedZone, ZoneDelta, canonical_name};

/// Checks `zone` (the version `delta` produced) at time `now`: every RRSIG that `delta` adds
/// verifies with a key of the zone's DNSKEY RRset or one of `signers` (the keys the signer
/// used: in an RFC 6781 §4.1.4 algorithm roll the new key's RRSIGs come before its DNSKEY) and
/// is valid at `now`; every RRset it
/// touches that must be signed has such a signature; and the NSEC (or NSEC3) records around
/// every touched name link the chain in order: each one's next name is the next name of the
/// chain, wrapping at the end (RFC 4034 §4.1.1, RFC 5155 §3.1.7).
///
/// # Errors
///
/// [`SignError::BadZone`] naming the owner and what is wrong.
pub fn validate_delta(
    zone: &SignedZone,
    delta: &ZoneDelta,
    now: u32,
    signers: &[DNSKEY],
) -> Result<(), SignError> {
    let keys = known_keys(zone, signers)?;
    let mut touched_rrsets = BTreeSet::new();
    let mut touched_names = BTreeSet::new();
    for record in delta.added.iter().chain(&delta.removed) {
        let name = canonical_name(&record.name);
        let rtype = match &record.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sig.input().type_covered,
            _ => record.record_type(),
        };
        touched_names.insert(name.clone());
        touched_rrsets.insert((name, u16::from(rtype)));
    }
    for (name, rtype) in &touched_rrsets {
        let rtype = RecordType::from(*rtype);
        let Some(node) = zone.node(name) else {
            continue;
        };
        let Some(signed) = node.get(rtype) else {
            continue;
        };
        check_rrset(zone.origin(), node.kind, signed, &keys, now)?;
    }
    check_chain_around(zone, &touched_names)
}

/// Checks a whole new version the cheap way: the apex RRsets' signatures, the signatures of at
/// most `max_rrsets` other signed RRsets spread evenly over the zone, and the whole NSEC or
/// NSEC3 chain's links (no cryptography). A signing bug that touches every RRset (a wrong key,
/// a wrong signed-data form) shows in any sample; the chain is checked completely. The
/// sample's signatures are verified on `threads` threads; the error reported is the first in
/// canonical order, as on one.
///
/// # Errors
///
/// As [`validate_delta`].
pub fn validate_sample(
    zone: &SignedZone,
    now: u32,
    max_rrsets: usize,
    signers: &[DNSKEY],
    threads: NonZeroUsize,
) -> Result<(), SignError> {
    let keys = known_keys(zone, signers)?;
    if let Some(apex) = zone.node(zone.origin()) {
        for signed in &apex.rrsets {
            check_rrset(zone.origin(), apex.kind, signed, &keys, now)?;
        }
    }
    let signed_rrsets = zone
        .nodes()
        .filter(|(name, _)| *name != zone.origin())
        .map(|(_, node)| {
            node.rrsets
                .iter()
                .filter(|s| must_be_signed(node.kind, s.rrset.rtype()))
                .count()
        })
        .sum::<usize>();
    let step = signed_rrsets.div_ceil(max_rrsets.max(1)).max(1);
    let mut index = 0usize;
    let mut sample = Vec::new();
    for (name, node) in zone.nodes() {
        if name == zone.origin() {
            continue;
        }
        for signed in &node.rrsets {
            if !must_be_signed(node.kind, signed.rrset.rtype()) {
                continue;
            }
            if index.is_multiple_of(step) {
                sample.push((node.kind, signed));
            }
            index += 1;
        }
    }
    threads::map(threads, &sample, |(kind, signed)| {
        check_rrset(zone.origin(), *kind, signed, &keys, now)
    })
    .into_iter()
    .collect::<Result<(), SignError>>()?;
    check_whole_chain(zone)
}

/// Every link of the NSEC or NSEC3 chain, in one ordered walk (no lookups per name): each NSEC
/// names the next name of the chain, each NSEC3 the next hashed owner, and every name of the
/// chain has its NSEC3.
fn check_whole_chain(zone: &SignedZone) -> Result<(), SignError> {
    match zone.nsec3_params() {
        Some(params) => {
            let index = &zone.nsec3;
            for (name, node) in zone.nodes() {
                if in_chain(node.kind) {
                    let hashed = params.hashed_owner(zone.origin(), name)?;
                    if !index.contains(&hashed) {
                        return Err(SignError::BadZone {
                            name: name.clone(),
                            reason: format!("no NSEC3 at its hashed owner {hashed}"),
                        });
                    }
                }
            }
            for owner in index.names() {
                check_nsec3_link(zone, index, owner)?;
            }
            Ok(())
        }
        None => {
            let chain: Vec<&Name> = zone
                .nodes()
                .filter(|(_, node)| in_chain(node.kind))
                .map(|(name, _)| name)
                .collect();
            for (i, owner) in chain.iter().enumerate() {
                let expected = chain.get(i + 1).copied().unwrap_or(zone.origin());
                check_nsec_next(zone, owner, expected)?;
            }
            Ok(())
        }
    }
}

/// The zone's DNSKEYs and `signers`, with their tags.
fn known_keys(zone: &SignedZone, signers: &[DNSKEY]) -> Result<Vec<(u16, DNSKEY)>, SignError> {
    let bad = |reason: &str| SignError::BadZone {
        name: zone.origin().clone(),
        reason: reason.to_owned(),
    };
    let apex = zone.node(zone.origin()).ok_or_else(|| bad("no apex"))?;
    let dnskeys = apex
        .get(RecordType::DNSKEY)
        .ok_or_else(|| bad("no DNSKEY RRset at the apex"))?;
    dnskeys
        .rrset
        .rdatas()
        .filter_map(|rdata| match rdata {
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key),
            _ => None,
        })
        .chain(signers)
        .map(|key| Ok((key_tag(key)?, key.clone())))
        .collect()
}

/// Whether an RRset of type `rtype` at a node of `kind` is signed (RFC 4035 §2.2: at a
/// delegation only DS and NSEC; glue and occluded data never).
fn must_be_signed(kind: NodeKind, rtype: RecordType) -> bool {
    match kind {
        NodeKind::Authoritative | NodeKind::Nsec3 => true,
        NodeKind::Delegation => matches!(rtype, RecordType::DS | RecordType::NSEC),
        _ => false,
    }
}

/// The keys that may sign, each with its key tag, for [`check_node`].
///
/// # Errors
///
/// A key whose tag cannot be computed.
pub fn tagged_keys(keys: &[DNSKEY]) -> Result<Vec<(u16, DNSKEY)>, SignError> {
    keys.iter()
        .map(|key| Ok((key_tag(key)?, key.clone())))
        .collect()
}

/// The check [`validate_sample`] makes of one node, for a signer that never holds the zone
/// whole (`daned sign`): every RRset that must be signed is (RFC 4035 §2.2), and every RRSIG
/// is by the zone, valid at `now` and verifies with one of `keys` of its tag (two keys may
/// share a tag; RFC 4035 §5.3).
///
/// # Errors
///
/// [`SignError::BadZone`] naming the RRset, or the verification error.
pub fn check_node(
    origin: &Name,
    node: &crate::zone::SignedNode,
    keys: &[(u16, DNSKEY)],
    now: u32,
) -> Result<(), SignError> {
    node.rrsets
        .iter()
        .try_for_each(|signed| check_rrset(origin, node.kind, signed, keys, now))
}

/// Every RRSIG of `signed` verifies and is valid at `now`; an RRset that must be signed has
/// at least one.
fn check_rrset(
    origin: &Name,
    kind: NodeKind,
    signed: &SignedRrset,
    keys: &[(u16, DNSKEY)],
    now: u32,
) -> Result<(), SignError> {
    let rrset = &signed.rrset;
    let bad = |reason: String| SignError::BadZone {
        name: rrset.name().clone(),
        reason: format!("{}: {reason}", rrset.rtype()),
    };
    if signed.rrsigs.is_empty() {
        return if must_be_signed(kind, rrset.rtype()) {
            Err(bad("not signed".to_owned()))
        } else {
            Ok(())
        };
    }
    for record in &signed.rrsigs {
        let sig =
            rrsig_of(record).ok_or_else(|| bad("a non-RRSIG record among its RRSIGs".into()))?;
        let input = sig.input();
        if input.signer_name != *origin {
            return Err(bad(format!("signer {} is not the zone", input.signer_name)));
        }
        let (inception, expiration) = (input.sig_inception.get(), input.sig_expiration.get());
        if serial_gt(inception, now) || !serial_gt(expiration, now) {
            return Err(bad(format!(
                "RRSIG by key {} is not valid now ({inception}..{expiration}, now {now})",
                input.key_tag
            )));
        }
        let mut candidates = keys
            .iter()
            .filter(|(tag, _)| *tag == input.key_tag)
            .peekable();
        if candidates.peek().is_none() {
            return Err(bad(format!(
                "RRSIG by key {} which is neither in the DNSKEY RRset nor a signing key",
                input.key_tag
            )));
        }
        // Two keys may share a tag: one of them must verify.
        let mut last = None;
        for (_, key) in candidates {
            match verify_rrsig(rrset, sig, key) {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(error) = last {
            return Err(error);
        }
    }
    Ok(())
}

fn rrsig_of(record: &Record) -> Option<&RRSIG> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig),
        _ => None,
    }
}

/// The NSEC or NSEC3 links at and before every name of `names`.
fn check_chain_around(zone: &SignedZone, names: &BTreeSet<Name>) -> Result<(), SignError> {
    match zone.nsec3_params() {
        Some(params) => {
            let index = &zone.nsec3;
            let mut owners = BTreeSet::new();
            for name in names {
                let kind = zone.node(name).map(|n| n.kind);
                if kind == Some(NodeKind::Nsec3) || (kind.is_none() && owner_hash(name).is_some()) {
                    owners.insert(name.clone());
                    owners.extend(prev_owner(index, name));
                } else if kind.is_some_and(in_chain) {
                    let hashed = params.hashed_owner(zone.origin(), name)?;
                    if !index.contains(&hashed) {
                        return Err(SignError::BadZone {
                            name: name.clone(),
                            reason: format!("no NSEC3 at its hashed owner {hashed}"),
                        });
                    }
                    owners.extend(prev_owner(index, &hashed));
                    owners.insert(hashed);
                }
            }
            for owner in owners.iter().filter(|o| index.contains(o)) {
                check_nsec3_link(zone, index, owner)?;
            }
            Ok(())
        }
        None => {
            let mut owners = BTreeSet::new();
            for name in names {
                if zone.node(name).is_some_and(|n| in_chain(n.kind)) {
                    owners.insert(name.clone());
                }
                owners.extend(chain_before(zone, name));
            }
            for owner in &owners {
                check_nsec_link(zone, owner)?;
            }
            Ok(())
        }
    }
}

/// The last name of the NSEC chain strictly before `name`, wrapping to the last one.
fn chain_before(zone: &SignedZone, name: &Name) -> Option<Name> {
    zone.nodes
        .before(name)
        .find(|(_, node)| in_chain(node.kind))
        .or_else(|| {
            zone.nodes
                .iter()
                .rev()
                .find(|(_, node)| in_chain(node.kind))
        })
        .map(|(n, _)| n.clone())
}

/// The first name of the NSEC chain after `name`, wrapping to the apex.
fn chain_after(zone: &SignedZone, name: &Name) -> Name {
    zone.nodes
        .after(name)
        .find(|(_, node)| in_chain(node.kind))
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| zone.origin().clone())
}

/// The NSEC at `owner` exists and names the next name of the chain (RFC 4034 §4.1.1).
fn check_nsec_link(zone: &SignedZone, owner: &Name) -> Result<(), SignError> {
    check_nsec_next(zone, owner, &chain_after(zone, owner))
}

/// The NSEC at `owner` exists and names `expected`.
fn check_nsec_next(zone: &SignedZone, owner: &Name, expected: &Name) -> Result<(), SignError> {
    let bad = |reason: String| SignError::BadZone {
        name: owner.clone(),
        reason,
    };
    let nsec = zone
        .node(owner)
        .and_then(|n| n.get(RecordType::NSEC))
        .ok_or_else(|| bad("in the NSEC chain but has no NSEC".into()))?;
    let next = match nsec.rrset.rdatas().next() {
        Some(RData::DNSSEC(DNSSECRData::NSEC(nsec))) => canonical_name(nsec.next_domain_name()),
        _ => return Err(bad("NSEC RRset without an NSEC record".into())),
    };
    if next != *expected {
        return Err(bad(format!(
            "NSEC next name is {next}, but the next name of the chain is {expected}"
        )));
    }
    Ok(())
}

/// The NSEC3 at `owner` names the next hashed owner of the chain (RFC 5155 §3.1.7).
fn check_nsec3_link(zone: &SignedZone, index: &NameSet, owner: &Name) -> Result<(), SignError> {
    let bad = |reason: String| SignError::BadZone {
        name: owner.clone(),
        reason,
    };
    let nsec3 = zone
        .node(owner)
        .and_then(|n| n.get(RecordType::NSEC3))
        .ok_or_else(|| bad("NSEC3 owner without an NSEC3 RRset".into()))?;
    let next = match nsec3.rrset.rdatas().next() {
        Some(RData::DNSSEC(DNSSECRData::NSEC3(nsec3))) => nsec3.next_hashed_owner_name().to_vec(),
        _ => return Err(bad("NSEC3 RRset without an NSEC3 record".into())),
    };
    let expected = next_owner(index, owner);
    if owner_hash(&expected).as_deref() != Some(next.as_slice()) {
        return Err(bad(format!(
            "NSEC3 next hashed owner does not name {expected}, the next of the chain"
        )));
    }
    Ok(())
}
