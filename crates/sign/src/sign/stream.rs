//! The full signer as a stream (issue 10 item 4): the signed zone is handed out in batches of
//! nodes, in canonical order, and never held whole.
//!
//! [`sign_zone`](super::sign_zone) builds the whole [`SignedZone`](crate::zone::SignedZone)
//! (every node, RRSIG and NSEC record at once, beside the unsigned [`Zone`]) because a server
//! serves it. A signer that only writes the result out needs one batch at a time: the NSEC
//! next names and the NSEC3 chain are known before anything is signed (the chain from the
//! hashes of the member names alone), so each node can be built, signed and rendered on its
//! own, on any thread.

use std::borrow::Cow;
use std::collections::BTreeMap;

use hickory_proto::rr::{Name, RecordType};

use super::{Signer, check_node, insert_sorted, no_soa, should_sign, signs, with_serial};
use crate::error::SignError;
use crate::nsec;
use crate::nsec3::{self, Denial, Nsec3Params};
use crate::threads;
use crate::zone::{NodeKind, Rrset, SignedNode, SignedRrset, Types, Zone, node_kind, zone_cuts};

use super::SignCtx;

/// How many nodes one batch holds: enough that the threads rarely wait for each other at its
/// end, few enough that a batch's output stays a few megabytes.
const BATCH: usize = 8192;

/// Signs a whole zone as [`sign_zone`](super::sign_zone) does, but hands the signed nodes out
/// instead of keeping them: each node (NSEC3 nodes included) is built, signed and passed to
/// `render` on one of `ctx.threads` threads, and `sink` receives the rendered nodes on the
/// calling thread, batch by batch, in canonical order (RFC 4034 §6.1), the apex first.
///
/// The nodes and records are those of `sign_zone`'s result, in the order of
/// [`SignedZone::records`](crate::zone::SignedZone::records) when `render` lists a node's
/// records with [`SignedNode::records`]; the signature times are drawn node by node on the
/// thread that signs it, so with a deterministic RNG and jitter only the order of the draws
/// may differ from `sign_zone`'s.
///
/// # Errors
///
/// As [`sign_zone`](super::sign_zone) (the first error in canonical order), or the first error
/// of `sink`, after which nothing more is signed.
pub fn sign_zone_streamed<R, E>(
    ctx: &SignCtx<'_>,
    zone: &Zone,
    serial: u32,
    render: impl Fn(&Name, &SignedNode) -> R + Sync,
    mut sink: impl FnMut(Vec<R>) -> Result<(), E>,
) -> Result<(), E>
where
    R: Send,
    E: From<SignError>,
{
    let origin = zone.origin();
    let signer = Signer::new(ctx, origin)?;
    let soa = zone.soa().ok_or_else(|| no_soa(origin))?;
    let soa = with_serial(soa, serial)?;
    let ttl = nsec::nsec_ttl(&soa);
    let cuts = zone_cuts(origin, zone.nodes().map(|(n, t)| (n, t.codes())));
    let nodes: Vec<(&Name, &Types)> = zone.nodes().collect();
    let kinds: Vec<NodeKind> = nodes
        .iter()
        .map(|(name, _)| node_kind(origin, name, &cuts))
        .collect();

    // The apex's RRsets as the pass makes them (its NSEC3 bitmap needs them before it is built).
    let mut apex: Vec<Rrset> = zone
        .nodes()
        .next()
        .filter(|(name, _)| *name == origin)
        .map(|(_, types)| types.values().cloned().collect())
        .ok_or_else(|| no_soa(origin))?;
    insert_sorted(&mut apex, soa);
    signer.put_apex_keys(&mut apex);
    if let Denial::Nsec3(params) = &ctx.denial {
        insert_sorted(&mut apex, nsec3::nsec3param_rrset(params, origin, ttl)?);
    }

    let items = match &ctx.denial {
        Denial::Nsec => nsec_items(origin, &nodes, &kinds),
        Denial::Nsec3(params) => nsec3_items(ctx, params, origin, &nodes, &kinds, &apex)?,
    };
    let pass = Pass {
        signer: &signer,
        origin,
        ttl,
        apex: &apex,
        denial: &ctx.denial,
    };
    for batch in items.chunks(BATCH) {
        let rendered = threads::map(ctx.threads, batch, |item| {
            let (name, node) = pass.node(item)?;
            Ok::<R, SignError>(render(&name, &node))
        });
        let rendered = rendered
            .into_iter()
            .collect::<Result<Vec<R>, SignError>>()?;
        sink(rendered)?;
    }
    Ok(())
}

/// One node of the output, in canonical order.
enum Item<'z> {
    /// A node of the zone, with its kind and, when it has an NSEC, the next name of the chain.
    Node {
        name: &'z Name,
        rrsets: &'z Types,
        kind: NodeKind,
        next: Option<&'z Name>,
    },
    /// An NSEC3 node: its owner's hash (the owner name is made when the node is, to keep the
    /// list small), the next hashed owner's hash and the types of the name it stands for
    /// (RFC 5155 §3).
    Nsec3 {
        hash: [u8; 20],
        next_hash: [u8; 20],
        types: Vec<RecordType>,
    },
}

/// The zone's nodes, each chain member with the next member's name (the last one the apex,
/// RFC 4034 §4.1.1).
fn nsec_items<'z>(
    origin: &'z Name,
    nodes: &[(&'z Name, &'z Types)],
    kinds: &[NodeKind],
) -> Vec<Item<'z>> {
    let mut items = Vec::with_capacity(nodes.len());
    let mut next = origin;
    for (&(name, rrsets), &kind) in nodes.iter().zip(kinds).rev() {
        let in_chain = nsec::in_chain(kind);
        items.push(Item::Node {
            name,
            rrsets,
            kind,
            next: in_chain.then_some(next),
        });
        if in_chain {
            next = name;
        }
    }
    items.reverse();
    items
}

/// The zone's nodes and the NSEC3 nodes of every chain member and empty non-terminal above
/// one (RFC 5155 §7.1), merged in canonical order.
fn nsec3_items<'z>(
    ctx: &SignCtx<'_>,
    params: &Nsec3Params,
    origin: &'z Name,
    nodes: &[(&'z Name, &'z Types)],
    kinds: &[NodeKind],
    apex: &[Rrset],
) -> Result<Vec<Item<'z>>, SignError> {
    // The members in canonical order with their bitmap types; an empty non-terminal has none
    // (not even RRSIG, RFC 5155 §3.2.1).
    //
    // Built in order without a search: an ancestor sorts before its descendants and they follow
    // it directly (RFC 4034 §6.1), so an empty non-terminal above a member is either in the
    // list already or sorts after everything in it.
    let mut members: Vec<(Name, Vec<RecordType>)> = Vec::new();
    for (&(name, rrsets), &kind) in nodes.iter().zip(kinds) {
        if !nsec3::in_chain(kind) {
            continue;
        }
        let mut above = Vec::new();
        let mut ancestor = name.base_name();
        while ancestor.num_labels() > origin.num_labels()
            && members.last().is_none_or(|(last, _)| *last < ancestor)
        {
            let next = ancestor.base_name();
            above.push(ancestor);
            ancestor = next;
        }
        members.extend(above.into_iter().rev().map(|n| (n, Vec::new())));
        let types = if name == origin {
            nsec3::bitmap_types(kind, apex.iter().map(Rrset::rtype))
        } else {
            nsec3::bitmap_types(kind, rrsets.values().map(Rrset::rtype))
        };
        members.push((name.clone(), types));
    }
    let hashes = threads::map(ctx.threads, &members, |(name, _)| params.hash(name));
    // Two names hashing alike would need one NSEC3 for both: refused, as `rebuild` does.
    let mut chain: BTreeMap<[u8; 20], usize> = BTreeMap::new();
    for (i, hash) in hashes.into_iter().enumerate() {
        if chain.insert(hash, i).is_some() {
            let owner = nsec3::hashed_owner_name(origin, &hash)?;
            return Err(nsec3_taken(&members[i].0, &owner));
        }
    }
    let hashes: Vec<[u8; 20]> = chain.keys().copied().collect();
    let mut nsec3_nodes = Vec::with_capacity(chain.len());
    for (i, (hash, member)) in chain.iter().enumerate() {
        nsec3_nodes.push(Item::Nsec3 {
            hash: *hash,
            next_hash: hashes[(i + 1) % hashes.len()],
            types: std::mem::take(&mut members[*member].1),
        });
    }
    // Merge: NSEC3 owners, all one label of equal length below the apex, sort among
    // themselves in hash order (base32hex keeps the order of the octets, RFC 4648 §7).
    let mut items = Vec::with_capacity(nodes.len() + nsec3_nodes.len());
    let mut pending = nsec3_nodes.into_iter().peekable();
    let mut head: Option<Name> = None;
    for (&(name, rrsets), &kind) in nodes.iter().zip(kinds) {
        while let Some(Item::Nsec3 { hash, .. }) = pending.peek() {
            // The owner name of the next NSEC3 node, made once however many names it waits for.
            let owner = match &head {
                Some(owner) => owner,
                None => head.insert(nsec3::hashed_owner_name(origin, hash)?),
            };
            if owner == name {
                return Err(nsec3_taken(owner, owner));
            }
            if owner > name {
                break;
            }
            items.extend(pending.next());
            head = None;
        }
        items.push(Item::Node {
            name,
            rrsets,
            kind,
            next: None,
        });
    }
    items.extend(pending);
    Ok(items)
}

fn nsec3_taken(name: &Name, owner: &Name) -> SignError {
    SignError::BadZone {
        name: name.clone(),
        reason: format!("the NSEC3 owner name {owner} is taken (a hash collision or a name)"),
    }
}

/// What every node of one streamed pass shares.
struct Pass<'p, 'c, 'a> {
    signer: &'p Signer<'c, 'a>,
    origin: &'p Name,
    /// The NSEC or NSEC3 TTL.
    ttl: u32,
    /// The apex RRsets, with the pass's SOA, keys and NSEC3PARAM.
    apex: &'p [Rrset],
    denial: &'p Denial,
}

impl Pass<'_, '_, '_> {
    /// The signed node of `item`, with its owner name.
    fn node<'i>(&self, item: &'i Item<'_>) -> Result<(Cow<'i, Name>, SignedNode), SignError> {
        match item {
            Item::Node {
                name,
                rrsets,
                kind,
                next,
            } => {
                let mut rrsets: Vec<Rrset> = if *name == self.origin {
                    self.apex.to_vec()
                } else {
                    rrsets.values().cloned().collect()
                };
                check_node(self.origin, name, *kind, &rrsets)?;
                if let Some(next) = next {
                    let types = nsec::bitmap_types(*kind, rrsets.iter().map(Rrset::rtype));
                    insert_sorted(&mut rrsets, nsec::nsec_rrset(name, next, self.ttl, types)?);
                }
                Ok((Cow::Borrowed(*name), self.sign(*kind, rrsets)?))
            }
            Item::Nsec3 {
                hash,
                next_hash,
                types,
            } => {
                let owner = nsec3::hashed_owner_name(self.origin, hash)?;
                let Denial::Nsec3(params) = self.denial else {
                    return Err(nsec3_taken(&owner, &owner));
                };
                let rrset = nsec3::nsec3_rrset(params, &owner, next_hash, self.ttl, types.clone())?;
                let node = self.sign(NodeKind::Nsec3, vec![rrset])?;
                Ok((Cow::Owned(owner), node))
            }
        }
    }

    /// A node of `kind` with its RRsets signed where they must be (RFC 4035 §2.2).
    fn sign(&self, kind: NodeKind, rrsets: Vec<Rrset>) -> Result<SignedNode, SignError> {
        let ctx = self.signer.ctx;
        let mut out = Vec::with_capacity(rrsets.len());
        for rrset in rrsets {
            let mut rrsigs = Vec::new();
            if should_sign(kind, rrset.rtype()) && ctx.keys.iter().any(|k| signs(k, rrset.rtype()))
            {
                let times = self.signer.times(&rrset)?;
                for key in ctx.keys.iter().filter(|k| signs(k, rrset.rtype())) {
                    rrsigs.push(crate::rrsig::sign_rrset(
                        &rrset,
                        key.key,
                        self.origin,
                        times,
                        ctx.rng,
                    )?);
                }
            }
            out.push(SignedRrset { rrset, rrsigs });
        }
        Ok(SignedNode { kind, rrsets: out })
    }
}
