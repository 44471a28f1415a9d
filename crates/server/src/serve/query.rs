//! The query engine: what an authoritative server answers for one question against one signed
//! zone.
//!
//! Pure logic, no I/O: [`answer`] takes a [`SignedZone`] snapshot, the question and the DO bit and
//! returns the sections of the response as records borrowed from the zone (only wildcard
//! expansions and TTL-capped negative SOAs are owned). The answers follow RFC 1034 §4.3.2 (with
//! CNAME chasing inside the zone), RFC 4592 (wildcards) and, when DO is set, the proofs of
//! RFC 4035 §3.1. Responses are minimal, as Knot's: the additional section has the glue of
//! referrals and, for MX, SRV and NS records in the answer section, the A and AAAA RRsets of
//! their targets when the zone holds them (RFC 1035 §3.3.9 and §3.3.11, RFC 2782), with their
//! RRSIGs when DO is set. Those are optional: [`Answer::optional`] is what a response too
//! large for the client leaves out before it truncates (RFC 2181 §9).
//!
//! Zones signed with NSEC3 get the RFC 5155 §7.2 proofs instead, the NSEC3 records found by
//! hash in the zone's ordered set of NSEC3 owners. NSEC3 owner names are not names of the zone:
//! a query for one is answered as if it did not exist (RFC 5155 §7.2.8).
//!
//! A query for ANY gets one RRset of the name (RFC 8482 minimal answers), like Knot's.
//!
//! Limitations: no opt-out; DNAME is not interpreted.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use daned_sign::nsec3::Nsec3Params;
use daned_sign::zone::{
    NodeKind, SignedNode, SignedRrset, SignedZone, canonical_name, canonical_rdata,
};
use hickory_proto::dnssec::PublicKey;
use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::zone::persist::journal::Journal;

/// How many names a CNAME chain may visit inside one zone before we stop following it.
const MAX_CHAIN: usize = 8;

/// The zones served, each a signed snapshot; looked up by longest match on the query name.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    zones: BTreeMap<Name, Arc<SignedZone>>,
    /// Per zone origin, the IXFR journal published with that zone's snapshot.
    journals: BTreeMap<Name, Arc<Journal>>,
}

impl Catalog {
    /// A catalog of `zones`. When two zones share an origin, the later one wins.
    pub fn new(zones: impl IntoIterator<Item = Arc<SignedZone>>) -> Self {
        let zones = zones
            .into_iter()
            .map(|zone| (zone.origin().clone(), zone))
            .collect();
        Self {
            zones,
            journals: BTreeMap::new(),
        }
    }

    /// The same catalog with these IXFR journals, by zone origin; each must end at the serial
    /// of the zone published with it (the IXFR answer checks, and falls back to a full
    /// transfer).
    #[must_use]
    pub fn with_journals(
        mut self,
        journals: impl IntoIterator<Item = (Name, Arc<Journal>)>,
    ) -> Self {
        self.journals = journals.into_iter().collect();
        self
    }

    /// The IXFR journal published with the zone whose origin is `origin`, if any.
    pub fn journal(&self, origin: &Name) -> Option<&Arc<Journal>> {
        self.journals.get(origin)
    }

    /// The zone whose origin is the longest suffix of `qname`, if any (RFC 1034 §4.3.2 step 2:
    /// "Search the available zones for the zone which is the nearest ancestor to QNAME").
    pub fn find(&self, qname: &Name) -> Option<&Arc<SignedZone>> {
        // Every ancestor of `qname` sorts at or before it in canonical order, and every name
        // between the nearest ancestor zone and `qname` lies inside that zone's subtree. So the
        // nearest origin at or before the probe is either the answer or shares a strictly
        // shorter common suffix with `qname`; probing that suffix next terminates within
        // one step per label.
        let mut probe = Cow::Borrowed(qname);
        for _ in 0..=qname.iter().len() {
            let (origin, zone) = self.zones.range::<Name, _>(..=&*probe).next_back()?;
            if origin.zone_of(qname) {
                return Some(zone);
            }
            probe = Cow::Owned(qname.trim_to(common_labels(origin, qname)));
        }
        None
    }

    /// The zone that answers a query: [`Catalog::find`], except that a DS query for the apex of
    /// a zone whose parent we also serve, with a delegation to it, is answered by the parent
    /// (RFC 4035 §3.1.4.1: "the DS RRset for the delegation of "foo.example" is stored in the
    /// "example" zone rather than in the "foo.example" zone").
    pub fn find_for_query(&self, qname: &Name, qtype: RecordType) -> Option<&Arc<SignedZone>> {
        let zone = self.find(qname)?;
        if qtype == RecordType::DS && zone.origin() == qname && !qname.is_root() {
            let parent_name = qname.base_name();
            if let Some(parent) = self.find(&parent_name) {
                let is_cut = parent
                    .node(zone.origin())
                    .is_some_and(|node| node.kind == NodeKind::Delegation);
                if is_cut {
                    return Some(parent);
                }
            }
        }
        Some(zone)
    }

    /// Every zone, in canonical order of origin.
    pub fn zones(&self) -> impl Iterator<Item = &Arc<SignedZone>> {
        self.zones.values()
    }
}

/// The response to one question, as sections of records.
///
/// Records are borrowed from the zone snapshot where possible; wildcard expansions (owner
/// rewritten to the query name) and negative-answer SOAs whose TTL was capped are owned.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer<'z> {
    /// The response code: NOERROR, NXDOMAIN, or REFUSED when the name is not in the zone.
    pub rcode: ResponseCode,
    /// The AA flag: set unless the response is a referral (or REFUSED).
    pub authoritative: bool,
    /// The answer section.
    pub answers: Vec<Cow<'z, Record>>,
    /// The authority section.
    pub authorities: Vec<Cow<'z, Record>>,
    /// The additional section's required part: the glue of a referral (the handler adds the
    /// OPT record).
    pub additionals: Vec<Cow<'z, Record>>,
    /// The additional section's optional part, sent after [`Answer::additionals`]: addresses
    /// of the MX, SRV and NS targets of the answer section. A response that does not fit the
    /// client's limit with them is sent without them rather than truncated (RFC 2181 §9: TC is
    /// set only when the required data does not fit).
    pub optional: Vec<Cow<'z, Record>>,
}

impl Answer<'_> {
    fn empty(rcode: ResponseCode, authoritative: bool) -> Self {
        Self {
            rcode,
            authoritative,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            optional: Vec::new(),
        }
    }

    /// An upper bound of the wire size of all records in the three sections, without name
    /// compression. Cheap: nothing is encoded for the common record types.
    pub fn size_bound(&self) -> usize {
        self.answers
            .iter()
            .chain(&self.authorities)
            .chain(&self.additionals)
            .chain(&self.optional)
            .map(|r| record_size_bound(r))
            .sum()
    }

    /// The number of records in the three sections.
    pub fn record_count(&self) -> usize {
        self.answers.len() + self.authorities.len() + self.additionals.len() + self.optional.len()
    }

    /// The records of the additional section, required then optional.
    pub fn additional_section(&self) -> impl Iterator<Item = &Record> {
        self.additionals.iter().chain(&self.optional).map(|r| &**r)
    }
}

/// Answers `qname`/`qtype` (class IN) from `zone`, with the DNSSEC records of RFC 4035 §3.1 when
/// `dnssec_ok` is set.
///
/// `qname` may be in any case. A name outside the zone gets REFUSED with no records.
pub fn answer<'z>(
    zone: &'z SignedZone,
    qname: &Name,
    qtype: RecordType,
    dnssec_ok: bool,
) -> Answer<'z> {
    let qname = if qname.is_fqdn() && !has_uppercase(qname) {
        Cow::Borrowed(qname)
    } else {
        Cow::Owned(canonical_name(qname))
    };
    if !zone.origin().zone_of(&qname) {
        return Answer::empty(ResponseCode::Refused, false);
    }
    let mut lookup = Lookup {
        zone,
        dnssec_ok,
        nsec3: if dnssec_ok { zone.nsec3_params() } else { None },
        out: Answer::empty(ResponseCode::NoError, true),
    };
    lookup.resolve(qname.into_owned(), qtype);
    lookup.target_addresses();
    lookup.out
}

/// What to do after looking up one name of a chain.
enum Next {
    /// The response is complete.
    Stop,
    /// A CNAME was answered; continue with its target (lowercase).
    Follow(Name),
}

/// What a node holds for the query type.
enum Matched {
    /// The answer section got the data.
    Data,
    /// The answer section got a CNAME pointing at this (lowercase) target.
    Cname(Name),
    /// Nothing of the type: a NODATA response.
    NoData,
}

struct Lookup<'z> {
    zone: &'z SignedZone,
    dnssec_ok: bool,
    /// The zone's NSEC3 parameters when it is an NSEC3 zone and proofs are wanted.
    nsec3: Option<Nsec3Params>,
    out: Answer<'z>,
}

impl<'z> Lookup<'z> {
    /// RFC 1034 §4.3.2, with CNAME restarts bounded by [`MAX_CHAIN`] and stopped on a loop or a
    /// target outside the zone (a resolver follows those itself).
    fn resolve(&mut self, qname: Name, qtype: RecordType) {
        let mut name = qname;
        let mut visited: Vec<Name> = Vec::new();
        for step in 0..MAX_CHAIN {
            match self.lookup(&name, qtype, step == 0) {
                Next::Stop => return,
                Next::Follow(target) => {
                    if !self.zone.origin().zone_of(&target) {
                        return;
                    }
                    visited.push(name);
                    if visited.contains(&target) {
                        return;
                    }
                    name = target;
                }
            }
        }
    }

    fn lookup(&mut self, name: &Name, qtype: RecordType, first: bool) -> Next {
        // One lookup of the name serves the cut check and the answer.
        let found = self.node(name);
        if let Some(cut) = self.find_cut(name, found, qtype) {
            // RFC 1034 §4.3.2 step 3b: "If a match would take us out of the authoritative
            // data, we have a referral." The AA bit follows the query name only.
            if first {
                self.out.authoritative = false;
            }
            self.referral(cut);
            return Next::Stop;
        }

        if let Some(node) = found {
            return match self.match_node(node, qtype, None) {
                Matched::Data => Next::Stop,
                Matched::Cname(target) => Next::Follow(target),
                Matched::NoData => {
                    // RFC 4035 §3.1.3.1; RFC 5155 §7.2.3 (and §7.2.4 for DS at a
                    // delegation): "the server MUST include the NSEC3 RR that matches QNAME".
                    self.push_negative_soa();
                    let proof = match self.nsec3 {
                        None => node.get(RecordType::NSEC),
                        Some(_) => self.nsec3_matching(name),
                    };
                    self.push_optional_proof(proof);
                    Next::Stop
                }
            };
        }

        if self.is_empty_non_terminal(name) {
            // The name exists (it has descendants) but owns nothing: NODATA, proven by the NSEC
            // whose span covers it, or by the ENT's own NSEC3 (RFC 5155 §7.2.3).
            self.push_negative_soa();
            let proof = match self.nsec3 {
                None => self.covering_nsec(name),
                Some(_) => self.nsec3_matching(name),
            };
            self.push_optional_proof(proof);
            return Next::Stop;
        }

        let encloser = self.closest_encloser(name);
        let wildcard = encloser.prepend_label("*").ok();
        let source = wildcard.as_ref().and_then(|w| {
            self.node(w)
                .filter(|node| node.kind == NodeKind::Authoritative)
        });
        let no_closer_match = match self.nsec3 {
            None => self.covering_nsec(name),
            // RFC 5155 §7.2.1: the "next closer" name is the closest encloser with one more
            // label of the query name.
            Some(_) => self.nsec3_covering(&name.trim_to(encloser.iter().len() + 1)),
        };
        match source {
            Some(source) => {
                match self.match_node(source, qtype, Some(name)) {
                    // RFC 4035 §3.1.3.3; RFC 5155 §7.2.6: "the NSEC3 RR that covers the "next
                    // closer" name of the immediate ancestor of the wildcard MUST be returned".
                    Matched::Data => {
                        self.push_optional_proof(no_closer_match);
                        Next::Stop
                    }
                    Matched::Cname(target) => {
                        self.push_optional_proof(no_closer_match);
                        Next::Follow(target)
                    }
                    // RFC 4035 §3.1.3.4; RFC 5155 §7.2.5: "the response MUST include a closest
                    // encloser proof for QNAME and MUST include the NSEC3 RR that matches the
                    // wildcard".
                    Matched::NoData => {
                        self.push_negative_soa();
                        match self.nsec3 {
                            None => {
                                self.push_optional_proof(no_closer_match);
                                self.push_optional_proof(source.get(RecordType::NSEC));
                            }
                            Some(_) => {
                                self.push_optional_proof(self.nsec3_matching(&encloser));
                                self.push_optional_proof(no_closer_match);
                                let wildcard_match =
                                    wildcard.as_ref().and_then(|w| self.nsec3_matching(w));
                                self.push_optional_proof(wildcard_match);
                            }
                        }
                        Next::Stop
                    }
                }
            }
            None => {
                // RFC 4035 §3.1.3.2; RFC 6604 §2: the RCODE is set by the last name of a chain.
                self.out.rcode = ResponseCode::NXDomain;
                self.push_negative_soa();
                match self.nsec3 {
                    None => {
                        self.push_optional_proof(no_closer_match);
                        let no_wildcard = wildcard.as_ref().and_then(|w| self.covering_nsec(w));
                        self.push_optional_proof(no_wildcard);
                    }
                    Some(_) => {
                        // RFC 5155 §7.2.2: "To prove the nonexistence of QNAME, a closest
                        // encloser proof and an NSEC3 RR covering the (nonexistent) wildcard RR
                        // at the closest encloser MUST be included in the response".
                        self.push_optional_proof(self.nsec3_matching(&encloser));
                        self.push_optional_proof(no_closer_match);
                        let no_wildcard = wildcard.as_ref().and_then(|w| self.nsec3_covering(w));
                        self.push_optional_proof(no_wildcard);
                    }
                }
                Next::Stop
            }
        }
    }

    /// The node at `name`, unless it is an NSEC3 owner name: those are not names of the zone
    /// (RFC 5155 §7.2.8: when no RR types exist at or below it, "the response MUST be
    /// constructed as a Name Error response").
    fn node(&self, name: &Name) -> Option<&'z SignedNode> {
        self.zone
            .node(name)
            .filter(|node| node.kind != NodeKind::Nsec3)
            .map(|node| &**node)
    }

    /// The NSEC3 RRset whose owner is the hash of `name` (RFC 5155 §1.3 "matches").
    fn nsec3_matching(&self, name: &Name) -> Option<&'z SignedRrset> {
        let owner = self.nsec3?.hashed_owner(self.zone.origin(), name).ok()?;
        self.zone.nsec3_matching(&owner)?.1.get(RecordType::NSEC3)
    }

    /// The NSEC3 RRset whose span covers the hash of `name` (RFC 5155 §1.3 "covers"), found in
    /// the zone's ordered set of NSEC3 owners.
    fn nsec3_covering(&self, name: &Name) -> Option<&'z SignedRrset> {
        let owner = self.nsec3?.hashed_owner(self.zone.origin(), name).ok()?;
        self.zone.nsec3_covering(&owner)?.1.get(RecordType::NSEC3)
    }

    /// Puts what `node` holds for `qtype` in the answer section, renamed to `synthesized` when it
    /// is a wildcard expansion.
    fn match_node(
        &mut self,
        node: &'z SignedNode,
        qtype: RecordType,
        synthesized: Option<&Name>,
    ) -> Matched {
        match qtype {
            RecordType::ANY => {
                // RFC 8482 §4.2: "A DNS responder can respond to queries for QTYPE=ANY with a
                // subset of the RRsets at the QNAME"; like Knot, one RRset (the first in type
                // order), with its RRSIGs when DO is set. An NSEC RRset is never synthesised
                // from a wildcard (RFC 4592 §4.7 with erratum 5119), so a wildcard answer takes a
                // data RRset.
                let rrset = node
                    .rrsets
                    .iter()
                    .find(|rrset| rrset.rrset.rtype() != RecordType::NSEC)
                    .or_else(|| node.rrsets.first().filter(|_| synthesized.is_none()));
                let Some(rrset) = rrset else {
                    return Matched::NoData;
                };
                self.push_answer(rrset, synthesized);
                Matched::Data
            }
            RecordType::RRSIG => {
                // An explicit RRSIG query gets every signature at the name, DO or not.
                let mut found = false;
                for rrset in &node.rrsets {
                    for sig in &rrset.rrsigs {
                        self.out.answers.push(renamed(sig, synthesized));
                        found = true;
                    }
                }
                if found {
                    Matched::Data
                } else {
                    Matched::NoData
                }
            }
            _ => {
                if let Some(rrset) = node.get(qtype) {
                    self.push_answer(rrset, synthesized);
                    return Matched::Data;
                }
                // RFC 4035 §2.5: a CNAME owner also owns its RRSIG and NSEC RRs, so an NSEC
                // query there is about the owner, not the alias (as Knot answers; BIND's
                // validator refuses a CNAME answer to it). In an NSEC3 zone: NODATA.
                if !matches!(qtype, RecordType::CNAME | RecordType::NSEC)
                    && let Some(cname) = node.get(RecordType::CNAME)
                {
                    // RFC 1034 §4.3.2 step 3a: "If the data at the node is a CNAME, and QTYPE
                    // doesn't match CNAME, copy the CNAME RR into the answer section of the
                    // response, change QNAME to the canonical name in the CNAME RR, and go back
                    // to step 1."
                    self.push_answer(cname, synthesized);
                    let target = cname.rrset.records().first().and_then(|r| match &r.data {
                        RData::CNAME(target) => Some(canonical_name(target)),
                        _ => None,
                    });
                    return match target {
                        Some(target) => Matched::Cname(target),
                        None => Matched::Data,
                    };
                }
                Matched::NoData
            }
        }
    }

    /// The zone cut at or above `name` that makes `name` non-authoritative, if any: the topmost
    /// delegation that is `name` or an ancestor of it. A DS query at a cut is answered by the
    /// parent side, so the cut at `name` itself does not count for DS. `found` is the node at
    /// `name`, if any.
    fn find_cut(
        &self,
        name: &Name,
        found: Option<&'z SignedNode>,
        qtype: RecordType,
    ) -> Option<&'z SignedNode> {
        if let Some(node) = found {
            return match node.kind {
                NodeKind::Delegation if qtype != RecordType::DS => Some(node),
                NodeKind::Occluded => self.topmost_cut(name).map(|(_, cut)| cut),
                _ => None,
            };
        }
        // `name` does not exist. If a cut C is an ancestor of it, the nearest node before it
        // lies in C's subtree (C itself or a name occluded by C); if that node is authoritative
        // there is no cut above `name`.
        let (prev_name, prev) = self.zone.node_at_or_before(name)?;
        match prev.kind {
            NodeKind::Delegation if prev_name.zone_of(name) => Some(prev),
            NodeKind::Occluded => self
                .topmost_cut(prev_name)
                .filter(|(cut_name, _)| cut_name.zone_of(name))
                .map(|(_, cut)| cut),
            _ => None,
        }
    }

    /// The highest delegation strictly above `name` (which is occluded), with its name.
    fn topmost_cut(&self, name: &Name) -> Option<(Name, &'z SignedNode)> {
        let apex_labels = self.zone.origin().iter().len();
        let labels = name.iter().len();
        (apex_labels + 1..labels).find_map(|n| {
            let ancestor = name.trim_to(n);
            let node = self.zone.node(&ancestor)?;
            (node.kind == NodeKind::Delegation).then_some((ancestor, &**node))
        })
    }

    /// A referral to the delegation `cut` (RFC 1034 §4.3.2 step 3b, RFC 4035 §3.1.4).
    fn referral(&mut self, cut: &'z SignedNode) {
        let Some(ns) = cut.get(RecordType::NS) else {
            return;
        };
        // The NS RRset at a cut is not signed (RFC 4035 §2.2); no RRSIG is sent with it.
        self.out
            .authorities
            .extend(ns.rrset.records().iter().map(Cow::Borrowed));
        if self.dnssec_ok {
            // RFC 4035 §3.1.4: "If a DS RRset is present at the delegation point, the name
            // server MUST return both the DS RRset and its associated RRSIG RR(s) in the
            // Authority section along with the NS RRset. If no DS RRset is present at the
            // delegation point, the name server MUST return the NSEC RR that proves that the
            // DS RRset is not present." RFC 5155 §7.2.7: "If there is an NSEC3 RR that matches
            // the delegation name, then that NSEC3 RR MUST be included in the response."
            if let Some(ds) = cut.get(RecordType::DS) {
                push_rrset(&mut self.out.authorities, ds, true);
            } else if let Some(nsec) = cut.get(RecordType::NSEC) {
                push_rrset(&mut self.out.authorities, nsec, true);
            } else if let Some(nsec3) = self.nsec3_matching(ns.rrset.name()) {
                push_rrset(&mut self.out.authorities, nsec3, true);
            }
        }
        // Glue: addresses of the name servers that this zone holds (below the cut or elsewhere
        // in the zone), A before AAAA, in NS order.
        for record in ns.rrset.records() {
            let RData::NS(target) = &record.data else {
                continue;
            };
            let target = canonical_name(target);
            if !self.zone.origin().zone_of(&target) {
                continue;
            }
            let Some(node) = self.node(&target) else {
                continue;
            };
            for rtype in [RecordType::A, RecordType::AAAA] {
                if let Some(rrset) = node.get(rtype) {
                    push_rrset(&mut self.out.additionals, rrset, self.dnssec_ok);
                }
            }
        }
    }

    /// The optional additional section: for each MX, SRV and NS record of the answer section,
    /// in order, the A then AAAA RRset of its target when the zone holds it (an authoritative
    /// name, or glue below a cut), each RRset once. RFC 1035 §3.3.9: MX RRs "cause type A
    /// additional section processing for the host specified by EXCHANGE"; §3.3.11 for NS;
    /// RFC 2782 for SRV ("return the address record(s) in the Additional Data section").
    fn target_addresses(&mut self) {
        let mut seen: Vec<&'z SignedNode> = Vec::new();
        for index in 0..self.out.answers.len() {
            let target = match &self.out.answers[index].data {
                RData::MX(mx) => &mx.exchange,
                RData::SRV(srv) => &srv.target,
                RData::NS(ns) => &ns.0,
                _ => continue,
            };
            let target = canonical_name(target);
            if !self.zone.origin().zone_of(&target) {
                continue;
            }
            let Some(node) = self.zone.node(&target) else {
                continue;
            };
            if node.kind == NodeKind::Nsec3 || seen.iter().any(|s| std::ptr::eq(*s, &**node)) {
                continue;
            }
            seen.push(node);
            // Glue below a cut is not signed; authoritative addresses come with their RRSIGs.
            for rtype in [RecordType::A, RecordType::AAAA] {
                if let Some(rrset) = node.get(rtype) {
                    push_rrset(&mut self.out.optional, rrset, self.dnssec_ok);
                }
            }
        }
    }

    fn is_empty_non_terminal(&self, name: &Name) -> bool {
        self.zone
            .node_after(name)
            .is_some_and(|(next, _)| name.zone_of(next))
    }

    /// The closest encloser of a name that does not exist (RFC 4592 §3.3.1): its longest
    /// existing ancestor. Every ancestor that exists has a node in its subtree, and the nodes
    /// nearest to `name` in canonical order are in the subtree of the closest one.
    fn closest_encloser(&self, name: &Name) -> Name {
        let mut labels = self.zone.origin().iter().len();
        if let Some((prev, _)) = self.zone.node_at_or_before(name) {
            labels = labels.max(common_labels(prev, name));
        }
        if let Some((next, _)) = self.zone.node_after(name) {
            labels = labels.max(common_labels(next, name));
        }
        let encloser = name.trim_to(labels);
        // Below an NSEC3 owner name (not a name of the zone, RFC 5155 §7.2.8), the apex is.
        if self
            .zone
            .node(&encloser)
            .is_some_and(|n| n.kind == NodeKind::Nsec3)
        {
            return self.zone.origin().clone();
        }
        encloser
    }

    /// The NSEC RRset whose span covers `name` (which has no node): the NSEC of the nearest
    /// authoritative name before it. Names occluded by a cut have no NSEC; the cut's own NSEC
    /// spans all of them.
    fn covering_nsec(&self, name: &Name) -> Option<&'z SignedRrset> {
        let (prev_name, prev) = self.zone.node_at_or_before(name)?;
        match prev.kind {
            NodeKind::Occluded => self.topmost_cut(prev_name)?.1.get(RecordType::NSEC),
            _ => prev.get(RecordType::NSEC),
        }
    }

    fn push_answer(&mut self, rrset: &'z SignedRrset, synthesized: Option<&Name>) {
        match synthesized {
            None => push_rrset(&mut self.out.answers, rrset, self.dnssec_ok),
            Some(owner) => {
                // RFC 4035 §3.1.3.3: "the wildcard-expanded answer RRset and the corresponding
                // wildcard-expanded RRSIG RRs": the owner becomes the query name, the RRSIG
                // RDATA (with its Labels field) is unchanged.
                let sigs: &[Record] = if self.dnssec_ok { &rrset.rrsigs } else { &[] };
                for record in rrset.rrset.records().iter().chain(sigs) {
                    self.out.answers.push(renamed(record, Some(owner)));
                }
            }
        }
    }

    /// The SOA for a negative answer, with TTL min(SOA TTL, SOA MINIMUM) (RFC 2308 §3), put
    /// first in the authority section.
    fn push_negative_soa(&mut self) {
        let Some(soa) = self.zone.soa() else {
            return;
        };
        let minimum = match soa.rrset.records().first().map(|r| &r.data) {
            Some(RData::SOA(data)) => data.minimum,
            _ => u32::MAX,
        };
        let ttl = soa.rrset.ttl().min(minimum);
        let sigs: &[Record] = if self.dnssec_ok { &soa.rrsigs } else { &[] };
        let records = soa
            .rrset
            .records()
            .iter()
            .chain(sigs)
            .map(|r| with_ttl(r, ttl));
        self.out.authorities.splice(0..0, records);
    }

    fn push_optional_proof(&mut self, nsec: Option<&'z SignedRrset>) {
        if let Some(nsec) = nsec {
            self.push_proof(nsec);
        }
    }

    /// An NSEC or NSEC3 RRset and its signatures in the authority section, once (RFC 4035
    /// §3.1.3.2: "If it does, the name server SHOULD only include the NSEC RR and its RRSIG
    /// RR(s) once"; RFC 5155 §7.2: "the server MUST NOT include duplicates").
    fn push_proof(&mut self, nsec: &'z SignedRrset) {
        if !self.dnssec_ok {
            return;
        }
        let owner = nsec.rrset.name();
        let rtype = nsec.rrset.rtype();
        let present = self
            .out
            .authorities
            .iter()
            .any(|r| r.record_type() == rtype && r.name == *owner);
        if !present {
            push_rrset(&mut self.out.authorities, nsec, true);
        }
    }
}

fn push_rrset<'z>(section: &mut Vec<Cow<'z, Record>>, rrset: &'z SignedRrset, with_sigs: bool) {
    section.extend(rrset.rrset.records().iter().map(Cow::Borrowed));
    if with_sigs {
        section.extend(rrset.rrsigs.iter().map(Cow::Borrowed));
    }
}

fn renamed<'z>(record: &'z Record, owner: Option<&Name>) -> Cow<'z, Record> {
    match owner {
        None => Cow::Borrowed(record),
        Some(owner) => {
            let mut record = record.clone();
            record.name = owner.clone();
            Cow::Owned(record)
        }
    }
}

fn with_ttl(record: &Record, ttl: u32) -> Cow<'_, Record> {
    if record.ttl == ttl {
        Cow::Borrowed(record)
    } else {
        let mut record = record.clone();
        record.ttl = ttl;
        Cow::Owned(record)
    }
}

/// How many labels, counted from the root, `a` and `b` have in common (case-insensitively).
fn common_labels(a: &Name, b: &Name) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count()
}

fn has_uppercase(name: &Name) -> bool {
    name.iter()
        .any(|label| label.iter().any(u8::is_ascii_uppercase))
}

/// Uncompressed wire length of a name: at most `len()` (labels plus dots) plus the root byte.
fn name_size_bound(name: &Name) -> usize {
    name.len() + 1
}

/// Upper bound of one record's wire size: owner, type, class, TTL, RDLENGTH and RDATA.
fn record_size_bound(record: &Record) -> usize {
    name_size_bound(&record.name) + 10 + rdata_size_bound(&record.data)
}

fn rdata_size_bound(rdata: &RData) -> usize {
    match rdata {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::NS(name) => name_size_bound(name),
        RData::CNAME(name) => name_size_bound(name),
        RData::PTR(name) => name_size_bound(name),
        RData::MX(mx) => 2 + name_size_bound(&mx.exchange),
        RData::SOA(soa) => name_size_bound(&soa.mname) + name_size_bound(&soa.rname) + 20,
        RData::TXT(txt) => txt.txt_data.iter().map(|s| 1 + s.len()).sum(),
        RData::TLSA(tlsa) => 3 + tlsa.cert_data.len(),
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
            18 + name_size_bound(&sig.input().signer_name) + sig.sig().len()
        }
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => {
            name_size_bound(nsec.next_domain_name()) + type_bitmap_size_bound(nsec.type_bit_maps())
        }
        RData::DNSSEC(DNSSECRData::DS(ds)) => 4 + ds.digest().len(),
        RData::DNSSEC(DNSSECRData::DNSKEY(key)) => 4 + key.public_key().public_bytes().len(),
        // Rare types: measure the uncompressed form. Something that cannot be encoded makes
        // the bound exceed any message, so the handler encodes for real and finds out.
        other => canonical_rdata(other).map_or(usize::from(u16::MAX) + 1, |wire| wire.len()),
    }
}

/// RFC 4034 §4.1.2: per window block used, 2 octets of header plus up to 32 of bitmap.
fn type_bitmap_size_bound(types: impl Iterator<Item = RecordType>) -> usize {
    let mut windows: [u8; 256] = [0; 256];
    for rtype in types {
        let [window, low] = u16::from(rtype).to_be_bytes();
        let octets = low / 8 + 1;
        let slot = &mut windows[usize::from(window)];
        *slot = (*slot).max(octets);
    }
    windows
        .iter()
        .filter(|&&octets| octets > 0)
        .map(|&octets| 2 + usize::from(octets))
        .sum()
}

#[cfg(test)]
pub(crate) mod tests;
