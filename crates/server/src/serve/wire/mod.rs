//! Responses written by us, for the common query: the fast path that skips hickory's
//! `Request` and `MessageResponse`.
//!
//! [`request::parse`] reads the common query from the raw bytes (header, one question kept as
//! received, at most an OPT record); [`write_response`] writes the header, the question copied
//! verbatim, the sections of a [`query::Answer`](crate::serve::query::Answer) and our OPT record
//! into a reused buffer. The handler's `answer_fast` (behind [`FastPath`]) puts the two
//! together with the same size, cookie and rate limiting rules as the hickory path, which still
//! answers everything else.
//!
//! # Name compression
//!
//! RFC 1035 §4.1.4: "a domain name in a message can be represented as either a sequence of
//! labels ending in a zero octet, a pointer, or a sequence of labels ending with a pointer".
//! The [`NameTable`] remembers where every name written so far (the question's first, then
//! each owner and compressible RDATA name) and each of its suffixes start; a name is written
//! as its labels up to the longest suffix already in the message, then a pointer to it. Names
//! are compared case-insensitively (RFC 4343 §3), so an owner equal to the question's name
//! becomes a pointer into the question and the answer mirrors the case the client wrote, as
//! Knot's answers do (what DNS 0x20 resolvers check). hickory-server registered the question
//! as one opaque candidate (name, type and class together), so nothing ever compressed against
//! it.
//!
//! Names inside RDATA are compressed only for the types RFC 3597 §4 lists as well known (NS,
//! CNAME, SOA, PTR, MX here; MD, MF, MB, MG, MR and MINFO are not types hickory parses, so
//! their RDATA is copied as it came); "servers MUST NOT compress domain names embedded in the
//! RDATA of types that are class-specific or not well-known", so SRV targets, RRSIG signers
//! and NSEC next names go out as stored, in their stored case.
//!
//! # Limitations
//!
//! RDATA other than those names is emitted by hickory (uncompressed) into the message; nothing
//! is pre-encoded. The table holds [`MAX_NAMES`] suffixes; later ones are written but not
//! offered as targets (the message stays correct, a little less compressed).

pub(crate) mod request;

use std::borrow::Cow;
use std::net::SocketAddr;

use hickory_proto::op::{HeaderCounts, MessageType, Metadata};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{RequestHandler, ResponseInfo};

use request::HEADER_LEN;

/// How many name suffixes the compression table offers as pointer targets.
pub(crate) const MAX_NAMES: usize = 64;
/// Pointers are 14 bits: only names starting below this offset can be pointed to.
const MAX_POINTER: usize = 0x3fff;
/// How many pointers a name in our own message may chain through before the comparison gives
/// up (ours never chain more than a name has labels).
const MAX_HOPS: usize = 128;

/// A request handler with a fast path for the common query. The UDP workers and the TCP loop
/// ask it first and fall back to hickory's `Request` and the [`RequestHandler`] when it
/// declines.
pub trait FastPath: RequestHandler {
    /// Answers `request` (raw bytes, already screened) from `src` into `out` (cleared first),
    /// or returns `None` to leave it to [`RequestHandler::handle_request`]. When it returns
    /// `Some` with `out` empty, the response was held back (rate limiting) and nothing is sent.
    /// The default declines everything.
    fn answer_fast(
        &self,
        request: &[u8],
        src: SocketAddr,
        protocol: Protocol,
        out: &mut Vec<u8>,
    ) -> Option<ResponseInfo> {
        let _ = (request, src, protocol, out);
        None
    }
}

/// Why a response could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    /// The message would be longer than 65535 bytes.
    #[error("a response longer than 65535 bytes")]
    TooLong,
    /// hickory could not encode a record's RDATA.
    #[error("cannot encode the RDATA of {name} {rtype}")]
    Rdata {
        /// The record's owner.
        name: Name,
        /// The record's type.
        rtype: hickory_proto::rr::RecordType,
        /// hickory's error.
        #[source]
        source: hickory_proto::ProtoError,
    },
}

/// Our OPT record (RFC 6891 §6.1.2): version 0, our payload size, DO echoed, and a COOKIE
/// option when the request had one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opt<'a> {
    /// The UDP payload size we advertise.
    pub(crate) payload: u16,
    /// The DO bit, echoed (RFC 3225 §3).
    pub(crate) dnssec_ok: bool,
    /// The COOKIE option data (client and server cookie), if any.
    pub(crate) cookie: Option<&'a [u8]>,
}

/// The sections of a response, in order.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sections<'s, 'z> {
    /// The answer section.
    pub(crate) answers: &'s [Cow<'z, Record>],
    /// The authority section.
    pub(crate) authorities: &'s [Cow<'z, Record>],
    /// The additional section's required records (without the OPT record).
    pub(crate) additionals: &'s [Cow<'z, Record>],
    /// The additional section's optional records, after the required ones.
    pub(crate) optional: &'s [Cow<'z, Record>],
}

/// Writes a response into `out` (cleared first): the header of `metadata` with the counts, the
/// question `question` (name, type, class) verbatim, the `sections`, and `opt` last. Returns
/// the header as written.
///
/// # Errors
///
/// [`WireError`]: the message would exceed 65535 bytes, or hickory cannot encode an RDATA.
pub(crate) fn write_response(
    out: &mut Vec<u8>,
    metadata: &Metadata,
    question: &[u8],
    sections: Sections<'_, '_>,
    opt: Option<Opt<'_>>,
) -> Result<ResponseInfo, WireError> {
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    let mut names = NameTable::new();
    if !question.is_empty() {
        out.extend_from_slice(question);
        names.add_plain(out, HEADER_LEN);
    }
    let mut count = |records: &[Cow<'_, Record>], out: &mut Vec<u8>| {
        for record in records {
            write_record(out, &mut names, record)?;
        }
        u16::try_from(records.len()).map_err(|_| WireError::TooLong)
    };
    let answers = count(sections.answers, out)?;
    let authorities = count(sections.authorities, out)?;
    let mut additionals = count(sections.additionals, out)?;
    additionals = additionals
        .checked_add(count(sections.optional, out)?)
        .ok_or(WireError::TooLong)?;
    if let Some(opt) = opt {
        // RFC 6891 §6.1.3: the upper eight bits of an extended RCODE go in the OPT's TTL.
        write_opt(out, opt, metadata.response_code.high())?;
        additionals = additionals.checked_add(1).ok_or(WireError::TooLong)?;
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(WireError::TooLong);
    }
    let counts = HeaderCounts {
        queries: u16::from(!question.is_empty()),
        answers,
        authorities,
        additionals,
    };
    write_header(out, metadata, &counts);
    Ok(ResponseInfo::from(hickory_proto::op::Header {
        metadata: *metadata,
        counts,
    }))
}

/// The 12-byte header at the start of `out` (RFC 1035 §4.1.1), as hickory writes it.
fn write_header(out: &mut [u8], metadata: &Metadata, counts: &HeaderCounts) {
    let mut flags = u16::from(u8::from(metadata.op_code)) << 11;
    let bits = [
        (metadata.message_type == MessageType::Response, 0x8000),
        (metadata.authoritative, 0x0400),
        (metadata.truncation, 0x0200),
        (metadata.recursion_desired, 0x0100),
        (metadata.recursion_available, 0x0080),
        (metadata.authentic_data, 0x0020),
        (metadata.checking_disabled, 0x0010),
    ];
    for (set, bit) in bits {
        if set {
            flags |= bit;
        }
    }
    flags |= u16::from(metadata.response_code.low());
    let fields = [
        metadata.id,
        flags,
        counts.queries,
        counts.answers,
        counts.authorities,
        counts.additionals,
    ];
    for (at, field) in fields.into_iter().enumerate() {
        out[2 * at..2 * at + 2].copy_from_slice(&field.to_be_bytes());
    }
}

/// One resource record: owner (compressed), type, class, TTL, RDLENGTH and RDATA.
fn write_record(
    out: &mut Vec<u8>,
    names: &mut NameTable,
    record: &Record,
) -> Result<(), WireError> {
    names.write(out, &record.name);
    out.extend_from_slice(&u16::from(record.record_type()).to_be_bytes());
    out.extend_from_slice(&u16::from(record.dns_class).to_be_bytes());
    out.extend_from_slice(&record.ttl.to_be_bytes());
    let length_at = out.len();
    out.extend_from_slice(&[0, 0]);
    match &record.data {
        // RFC 3597 §4: the well-known types whose names may be compressed.
        RData::NS(name) => names.write(out, name),
        RData::CNAME(name) => names.write(out, name),
        RData::PTR(name) => names.write(out, name),
        RData::MX(mx) => {
            out.extend_from_slice(&mx.preference.to_be_bytes());
            names.write(out, &mx.exchange);
        }
        RData::SOA(soa) => {
            names.write(out, &soa.mname);
            names.write(out, &soa.rname);
            for field in [
                soa.serial,
                soa.refresh.cast_unsigned(),
                soa.retry.cast_unsigned(),
                soa.expire.cast_unsigned(),
                soa.minimum,
            ] {
                out.extend_from_slice(&field.to_be_bytes());
            }
        }
        // RFC 2782: the target is never compressed, but later names (the additional section's
        // addresses of that target) may point at it, as Knot's do.
        RData::SRV(srv) => {
            for field in [srv.priority, srv.weight, srv.port] {
                out.extend_from_slice(&field.to_be_bytes());
            }
            let at = out.len();
            for label in srv.target.iter() {
                out.push(u8::try_from(label.len()).unwrap_or(63));
                out.extend_from_slice(label);
            }
            out.push(0);
            names.add_plain(out, at);
        }
        RData::A(a) => out.extend_from_slice(&a.0.octets()),
        RData::AAAA(aaaa) => out.extend_from_slice(&aaaa.0.octets()),
        data => emit_rdata(out, record, data)?,
    }
    let length = u16::try_from(out.len() - length_at - 2).map_err(|_| WireError::TooLong)?;
    out[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

/// Any other RDATA, as hickory encodes it, names uncompressed and in their stored case.
fn emit_rdata(out: &mut Vec<u8>, record: &Record, data: &RData) -> Result<(), WireError> {
    let offset = u32::try_from(out.len()).map_err(|_| WireError::TooLong)?;
    let mut encoder = BinEncoder::with_offset(out, offset);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    data.emit(&mut encoder).map_err(|source| match source {
        hickory_proto::ProtoError::MaxBufferSizeExceeded(_) => WireError::TooLong,
        _ => WireError::Rdata {
            name: record.name.clone(),
            rtype: record.record_type(),
            source,
        },
    })
}

/// Our OPT record: root owner, type 41, CLASS the payload, TTL the extended RCODE's upper bits,
/// version 0 and the flags (DO), and the COOKIE option.
fn write_opt(out: &mut Vec<u8>, opt: Opt<'_>, rcode_high: u8) -> Result<(), WireError> {
    out.push(0);
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&opt.payload.to_be_bytes());
    let flags: u16 = if opt.dnssec_ok { 0x8000 } else { 0 };
    out.extend_from_slice(&[rcode_high, 0]);
    out.extend_from_slice(&flags.to_be_bytes());
    match opt.cookie {
        None => out.extend_from_slice(&[0, 0]),
        Some(cookie) => {
            let length = u16::try_from(cookie.len()).map_err(|_| WireError::TooLong)?;
            out.extend_from_slice(&(length + 4).to_be_bytes());
            out.extend_from_slice(&crate::serve::cookie::COOKIE_OPTION.to_be_bytes());
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(cookie);
        }
    }
    Ok(())
}

/// Where names already in the message start, for compression (RFC 1035 §4.1.4): each entry is
/// the offset of a name (or of one of its suffixes) and how many labels it has up to the root.
/// Lives on the stack, one per response.
pub(crate) struct NameTable {
    entries: [(u16, u8); MAX_NAMES],
    len: usize,
}

impl NameTable {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self {
            entries: [(0, 0); MAX_NAMES],
            len: 0,
        }
    }

    /// Offers the name of plain labels at `at` in `message` (the question's) and each of its
    /// suffixes as targets.
    pub(crate) fn add_plain(&mut self, message: &[u8], at: usize) {
        let mut starts = [0usize; 128];
        let mut labels = 0;
        let mut position = at;
        while let Some(&length) = message.get(position) {
            if length == 0 || length > 63 || labels == starts.len() {
                break;
            }
            starts[labels] = position;
            labels += 1;
            position += usize::from(length) + 1;
        }
        for (index, start) in starts[..labels].iter().enumerate() {
            self.add(*start, labels - index);
        }
    }

    fn add(&mut self, at: usize, labels: usize) {
        if self.len < MAX_NAMES
            && at <= MAX_POINTER
            && let (Ok(at), Ok(labels)) = (u16::try_from(at), u8::try_from(labels))
        {
            self.entries[self.len] = (at, labels);
            self.len += 1;
        }
    }

    /// Writes `name` at the end of `out`: its labels up to the longest suffix already in the
    /// message (compared case-insensitively), then a pointer to it, or all its labels and the
    /// root label. Each label written becomes a target for later names.
    pub(crate) fn write(&mut self, out: &mut Vec<u8>, name: &Name) {
        // Not `num_labels`, which does not count a wildcard's `*`.
        let total = name.iter().len();
        // The longest suffix first: skip `skip` labels, then look for the rest.
        let mut target = None;
        for (skip, _) in name.iter().enumerate() {
            if let Some(at) = self.find(out, name, skip, total - skip) {
                target = Some((skip, at));
                break;
            }
        }
        let literal = target.map_or(total, |(skip, _)| skip);
        for (index, label) in name.iter().take(literal).enumerate() {
            let start = out.len();
            out.push(u8::try_from(label.len()).unwrap_or(63));
            out.extend_from_slice(label);
            self.add(start, total - index);
        }
        match target {
            Some((_, at)) => out.extend_from_slice(&(0xc000 | at).to_be_bytes()),
            None => out.push(0),
        }
    }

    /// A table entry holding the last `labels` labels of `name` (those after the first `skip`).
    fn find(&self, message: &[u8], name: &Name, skip: usize, labels: usize) -> Option<u16> {
        self.entries[..self.len]
            .iter()
            .filter(|(_, count)| usize::from(*count) == labels)
            .find(|(at, _)| same_suffix(message, usize::from(*at), name, skip))
            .map(|(at, _)| *at)
    }
}

/// Whether the name at `at` in `message` is `name` without its first `skip` labels, ignoring
/// ASCII case (the caller has matched the label counts).
fn same_suffix(message: &[u8], mut at: usize, name: &Name, skip: usize) -> bool {
    let mut hops = 0;
    for label in name.iter().skip(skip) {
        loop {
            let Some(&length) = message.get(at) else {
                return false;
            };
            if length & 0xc0 != 0xc0 {
                break;
            }
            let Some(&low) = message.get(at + 1) else {
                return false;
            };
            hops += 1;
            if hops > MAX_HOPS {
                return false;
            }
            at = usize::from(u16::from_be_bytes([length & 0x3f, low]));
        }
        let length = usize::from(message[at]);
        match message.get(at + 1..at + 1 + length) {
            Some(stored) if stored.eq_ignore_ascii_case(label) => at += 1 + length,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;
