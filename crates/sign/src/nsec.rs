//! NSEC chains (RFC 4034 §4, RFC 4035 §2.3).
//!
//! The chain links every name that holds authoritative data or a delegation point, in canonical
//! order (RFC 4034 §6.1), the last name pointing back to the apex. Empty non-terminals get no
//! NSEC (they are implied by the names below them), and neither do occluded names and glue.

#![allow(
    clippy::result_large_err,
    reason = "SignError is the crate's one error type (error.rs); boxing it is a crate-wide decision"
)]

use std::sync::Arc;

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::error::SignError;
use crate::names::NameMap;
use crate::zone::{NodeKind, Rrset, SignedNode};

/// Whether a name of this kind owns an NSEC record (RFC 4035 §2.3: "for each unique authoritative
/// owner name in the zone", delegation points included; glue and occluded names never).
pub(crate) fn in_chain(kind: NodeKind) -> bool {
    matches!(kind, NodeKind::Authoritative | NodeKind::Delegation)
}

/// The NSEC TTL: the smaller of the SOA MINIMUM field and the SOA's own TTL (RFC 9077 §3.3,
/// updating RFC 4035 §2.3).
pub(crate) fn nsec_ttl(soa: &Rrset) -> u32 {
    let minimum = match soa.records().first().map(|r| &r.data) {
        Some(RData::SOA(soa_rdata)) => soa_rdata.minimum,
        _ => soa.ttl(),
    };
    minimum.min(soa.ttl())
}

/// The types of the NSEC bitmap for a name of `kind` holding `types` (content types, without
/// RRSIG or NSEC).
///
/// RFC 4035 §2.3: "The type bitmap of every NSEC resource record in a signed zone MUST indicate
/// the presence of both the NSEC record type itself and its corresponding RRSIG record type."
/// At a delegation point only the NS, DS, RRSIG and NSEC types are listed, since glue at the
/// cut is not authoritative (RFC 4035 §2.3, RFC 4034 §4.1.2).
pub(crate) fn bitmap_types(
    kind: NodeKind,
    types: impl IntoIterator<Item = RecordType>,
) -> Vec<RecordType> {
    let mut out: Vec<RecordType> = types
        .into_iter()
        .filter(|t| !matches!(t, RecordType::RRSIG | RecordType::NSEC))
        .filter(|t| kind != NodeKind::Delegation || matches!(t, RecordType::NS | RecordType::DS))
        .collect();
    out.push(RecordType::RRSIG);
    out.push(RecordType::NSEC);
    out
}

/// The NSEC RRset at `owner` pointing to `next` with the bitmap `types`.
///
/// # Errors
///
/// As [`Rrset::new`] (only when the RDATA cannot be encoded).
pub(crate) fn nsec_rrset(
    owner: &Name,
    next: &Name,
    ttl: u32,
    types: Vec<RecordType>,
) -> Result<Rrset, SignError> {
    let nsec = NSEC::new(next.clone(), types);
    Rrset::new(
        owner,
        RecordType::NSEC,
        ttl,
        [RData::DNSSEC(DNSSECRData::NSEC(nsec))],
    )
}

/// The next name in the chain after `name` in `nodes`, or `origin` when `name` is the last one
/// (RFC 4034 §4.1.1: "The value of the Next Domain Name field in the last NSEC record in the
/// zone is the name of the zone apex").
pub(crate) fn next_in_chain(nodes: &NameMap<Arc<SignedNode>>, origin: &Name, name: &Name) -> Name {
    nodes
        .after(name)
        .find(|(_, node)| in_chain(node.kind))
        .map_or_else(|| origin.clone(), |(n, _)| n.clone())
}

/// The last name of the chain strictly before `name` in `nodes`, if any.
pub(crate) fn prev_in_chain(nodes: &NameMap<Arc<SignedNode>>, name: &Name) -> Option<Name> {
    nodes
        .before(name)
        .find(|(_, node)| in_chain(node.kind))
        .map(|(n, _)| n.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4035_s2_3_bitmap_lists_rrsig_and_nsec() {
        // RFC 4035 §2.3: "The type bitmap of every NSEC resource record in a signed zone MUST
        // indicate the presence of both the NSEC record type itself and its corresponding RRSIG
        // record type."
        let types = bitmap_types(NodeKind::Authoritative, [RecordType::A, RecordType::MX]);
        assert_eq!(
            types,
            [
                RecordType::A,
                RecordType::MX,
                RecordType::RRSIG,
                RecordType::NSEC
            ]
        );
    }

    #[test]
    fn rfc4035_s2_3_delegation_bitmap_omits_glue() {
        // RFC 4034 §4.1.2: "A zone MUST NOT include an NSEC RR for any domain name that only
        // holds glue records." At a cut only NS and DS are authoritative-side types.
        let types = bitmap_types(
            NodeKind::Delegation,
            [
                RecordType::A,
                RecordType::NS,
                RecordType::DS,
                RecordType::AAAA,
            ],
        );
        assert_eq!(
            types,
            [
                RecordType::NS,
                RecordType::DS,
                RecordType::RRSIG,
                RecordType::NSEC
            ]
        );
    }

    #[test]
    fn rfc9077_s3_3_nsec_ttl_is_min_of_soa_ttl_and_minimum() -> Result<(), SignError> {
        // RFC 9077 §3.3 (updating RFC 4035 §2.3): "The TTL of the NSEC RR that is returned MUST
        // be the lesser of the MINIMUM field of the SOA record and the TTL of the SOA itself."
        let origin = Name::from_ascii("example.").map_err(|e| SignError::Key(e.to_string()))?;
        let soa = |ttl, minimum| {
            Rrset::new(
                &origin,
                RecordType::SOA,
                ttl,
                [RData::SOA(hickory_proto::rr::rdata::SOA::new(
                    origin.clone(),
                    origin.clone(),
                    1,
                    3600,
                    600,
                    86400,
                    minimum,
                ))],
            )
        };
        assert_eq!(nsec_ttl(&soa(3600, 300)?), 300);
        assert_eq!(nsec_ttl(&soa(120, 300)?), 120);
        Ok(())
    }
}
