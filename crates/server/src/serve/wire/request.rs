//! The fast path's request parse: the common query only, read from the raw (screened) bytes.
//!
//! A request is taken here when it is a QUERY with one question of class IN (not a transfer),
//! no answer or authority records, and at most one additional record, an OPT of version 0
//! whose owner is the root, with options that are whole, at most one COOKIE among them, well
//! formed ([`RequestCookie::parse`]). Anything else returns `None` and goes hickory's way with
//! the behaviour and the answers it always had (BADVERS, FORMERR, NOTIMP, TSIG, transfers...).

use hickory_proto::rr::rdata::opt::ClientSubnet;
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::serve::cookie::{COOKIE_OPTION, RequestCookie};

/// The fixed header of every DNS message.
pub(crate) const HEADER_LEN: usize = 12;
/// The OPT pseudo-record's type (RFC 6891 §6.1.1).
const OPT: u16 = 41;
/// The Client Subnet option's code (RFC 7871 §6).
const CLIENT_SUBNET: u16 = 8;
/// Class IN.
const IN: u16 = 1;
/// The longest name in wire form (RFC 1035 §3.1).
const MAX_NAME: usize = 255;

/// A query the fast path answers, borrowed from the request's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FastRequest<'a> {
    /// The message ID.
    pub(crate) id: u16,
    /// RD, copied into the response (RFC 1035 §4.1.1).
    pub(crate) recursion_desired: bool,
    /// CD, copied into the response as hickory copies it.
    pub(crate) checking_disabled: bool,
    /// The question as received: its name in the case the client wrote it, type and class.
    pub(crate) question: &'a [u8],
    /// The question's name in lowercase, for the lookup.
    pub(crate) qname: Name,
    /// The question's type.
    pub(crate) qtype: RecordType,
    /// The request's OPT record, if it had one.
    pub(crate) edns: Option<RequestEdns<'a>>,
}

/// What a request's OPT record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestEdns<'a> {
    /// The requestor's UDP payload size, as sent (the size rules apply the floor and our cap).
    pub(crate) payload: u16,
    /// The DO bit (RFC 3225).
    pub(crate) dnssec_ok: bool,
    /// The COOKIE option (RFC 7873), if any.
    pub(crate) cookie: Option<RequestCookie<'a>>,
}

/// `message` as a [`FastRequest`], or `None` when it is anything but the common query.
pub(crate) fn parse(message: &[u8]) -> Option<FastRequest<'_>> {
    let header = message.get(..HEADER_LEN)?;
    let (flags_high, flags_low) = (header[2], header[3]);
    // QR set: a response; opcode other than QUERY: NOTIMP and friends, hickory's way.
    if flags_high & 0x80 != 0 || (flags_high >> 3) & 0x0f != 0 {
        return None;
    }
    let count = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    if count(4) != 1 || count(6) != 0 || count(8) != 0 || count(10) > 1 {
        return None;
    }
    let name_end = question_name_end(message, HEADER_LEN)?;
    let fixed = message.get(name_end..name_end + 4)?;
    let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
    let qtype = RecordType::from(qtype);
    if qclass != IN || matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        return None;
    }
    let question_end = name_end + 4;
    let edns = if count(10) == 1 {
        let (edns, end) = opt_record(message, question_end)?;
        // Trailing bytes: hickory's way decides what they mean.
        if end != message.len() {
            return None;
        }
        Some(edns)
    } else {
        if question_end != message.len() {
            return None;
        }
        None
    };
    Some(FastRequest {
        id: count(0),
        recursion_desired: flags_high & 0x01 != 0,
        checking_disabled: flags_low & 0x10 != 0,
        question: &message[HEADER_LEN..question_end],
        qname: lowercase_name(&message[HEADER_LEN..name_end])?,
        qtype,
        edns,
    })
}

/// Where the question name starting at `at` ends: plain labels only (the screen refused
/// pointers there already; a request that still has one goes hickory's way).
fn question_name_end(message: &[u8], mut at: usize) -> Option<usize> {
    let start = at;
    loop {
        let label = usize::from(*message.get(at)?);
        if label > 63 {
            return None;
        }
        at += label + 1;
        if at - start > MAX_NAME {
            return None;
        }
        if label == 0 {
            return Some(at);
        }
    }
}

/// The name `wire` (plain labels, root included) in lowercase, decoded as hickory decodes a
/// question's name; no heap allocation for the usual short names.
fn lowercase_name(wire: &[u8]) -> Option<Name> {
    let mut lower = [0u8; MAX_NAME];
    let lower = lower.get_mut(..wire.len())?;
    lower.copy_from_slice(wire);
    lower.make_ascii_lowercase();
    Name::read(&mut BinDecoder::new(lower)).ok()
}

/// The OPT record at `at` (the only additional record) and where it ends, or `None` when the
/// record is not an OPT of version 0 owned by the root with whole options and a well-formed
/// COOKIE (at most one).
fn opt_record(message: &[u8], at: usize) -> Option<(RequestEdns<'_>, usize)> {
    // Owner: the root.
    if *message.get(at)? != 0 {
        return None;
    }
    let fixed = message.get(at + 1..at + 11)?;
    if u16::from_be_bytes([fixed[0], fixed[1]]) != OPT {
        return None;
    }
    let payload = u16::from_be_bytes([fixed[2], fixed[3]]);
    // TTL: extended RCODE, VERSION, then the flags (DO is the top bit).
    let version = fixed[5];
    if version != 0 {
        return None;
    }
    let dnssec_ok = fixed[6] & 0x80 != 0;
    let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let start = at + 11;
    let rdata = message.get(start..start + rdlength)?;
    let mut cookie = None;
    let mut offset = 0;
    while offset < rdata.len() {
        let option = rdata.get(offset..offset + 4)?;
        let code = u16::from_be_bytes([option[0], option[1]]);
        let length = usize::from(u16::from_be_bytes([option[2], option[3]]));
        let data = rdata.get(offset + 4..offset + 4 + length)?;
        if code == COOKIE_OPTION {
            // A second COOKIE, or a malformed one (FORMERR): hickory's way.
            if cookie.is_some() {
                return None;
            }
            cookie = Some(RequestCookie::parse(data).ok()?);
        }
        // hickory decodes a Client Subnet option (RFC 7871) and refuses the whole request when
        // it cannot: such a request keeps that answer. Every other option is ignored, as there.
        if code == CLIENT_SUBNET && ClientSubnet::try_from(data).is_err() {
            return None;
        }
        offset += 4 + length;
    }
    let edns = RequestEdns {
        payload,
        dnssec_ok,
        cookie,
    };
    Some((edns, start + rdlength))
}
