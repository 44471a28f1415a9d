//! Presentation format to wire format: names, character strings and the RDATA of each type.
//!
//! Each RDATA is assembled in wire form and then decoded with hickory-proto's own wire decoder
//! (`RData::read`), so every type hickory knows comes out as its typed `RData`, and RFC 3597
//! generic data (`\# 4 0a000001`) takes the very same path. hickory's text parser is used only
//! as a fallback for the few types written here by no one (SVCB, HTTPS, CERT, CSYNC).

use std::net::{Ipv4Addr, Ipv6Addr};

use daned_sign::civil::days_from_civil;
use data_encoding::{BASE32HEX_NOPAD, BASE64, HEXUPPER_PERMISSIVE};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, Restrict};
use hickory_proto::serialize::txt::parse_ttl;

use super::EXCERPT_CHARS;
use super::lexer::Tok;

/// An RDATA error with the line of the token that caused it, when one did.
#[derive(Debug)]
pub(super) struct RdError {
    pub(super) line: Option<usize>,
    pub(super) message: String,
}

impl RdError {
    fn at(tok: &Tok, message: impl Into<String>) -> Self {
        Self {
            line: Some(tok.line),
            message: message.into(),
        }
    }
}

/// RR type mnemonics that every tool we target (BIND, ldns, Knot) reads and writes, with codes.
/// A type not listed here is written and may be read as `TYPEnnn` (RFC 3597 §5).
pub(super) const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("NULL", 10),
    ("PTR", 12),
    ("HINFO", 13),
    ("MX", 15),
    ("TXT", 16),
    ("KEY", 25),
    ("AAAA", 28),
    ("SRV", 33),
    ("NAPTR", 35),
    ("CERT", 37),
    ("DNAME", 39),
    ("DS", 43),
    ("SSHFP", 44),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("CAA", 257),
];

/// Types that may never appear in a zone file (meta types and pseudo records).
fn is_meta_type(code: u16) -> bool {
    matches!(code, 0 | 41 | 249 | 250 | 251 | 252 | 253 | 254 | 255)
}

/// The type code for a mnemonic or `TYPEnnn` (case-insensitive), or `None`.
pub(super) fn type_code(text: &[u8]) -> Option<u16> {
    if let Some(&(_, code)) = TYPES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(text))
    {
        return Some(code);
    }
    if text.len() > 4 && text[..4].eq_ignore_ascii_case(b"TYPE") {
        return parse_decimal(&text[4..]).and_then(|v| u16::try_from(v).ok());
    }
    None
}

/// The mnemonic of a type code, or `TYPEnnn`.
pub(super) fn type_mnemonic(code: u16) -> std::borrow::Cow<'static, str> {
    match TYPES.iter().find(|(_, c)| *c == code) {
        Some((n, _)) => std::borrow::Cow::Borrowed(n),
        None => std::borrow::Cow::Owned(format!("TYPE{code}")),
    }
}

/// A class field: `IN`, `CH`, `HS`, `NONE`, `ANY` or `CLASSnnn`, as its code.
pub(super) fn class_code(text: &[u8]) -> Option<u16> {
    const CLASSES: &[(&str, u16)] = &[("IN", 1), ("CH", 3), ("HS", 4), ("NONE", 254), ("ANY", 255)];
    if let Some(&(_, code)) = CLASSES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(text))
    {
        return Some(code);
    }
    if text.len() > 5 && text[..5].eq_ignore_ascii_case(b"CLASS") {
        return parse_decimal(&text[5..]).and_then(|v| u16::try_from(v).ok());
    }
    None
}

/// A plain unsigned decimal (no sign, no spaces), at most u64.
pub(super) fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        text.iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')),
    )
}

/// A token as quoted in an error message: at most [`EXCERPT_CHARS`] characters, control
/// characters escaped (a quoted string may hold a line break), and a longer token cut with an
/// ellipsis and its length. A 10 MiB token makes a short error line.
pub(super) fn excerpt(raw: &[u8]) -> String {
    // EXCERPT_CHARS characters take at most 4 bytes each.
    let head = &raw[..raw.len().min(EXCERPT_CHARS * 4)];
    let text = String::from_utf8_lossy(head);
    let mut chars = text.chars();
    let mut out = String::with_capacity(EXCERPT_CHARS + 16);
    for c in chars.by_ref().take(EXCERPT_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if chars.next().is_some() || head.len() < raw.len() {
        out.push_str(&format!("… ({} bytes)", raw.len()));
    }
    out
}

/// A TTL or SOA timer: decimal seconds or BIND units (`1h30m`, `2w`), RFC 2308 style.
pub(super) fn parse_duration(text: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(text).ok()?;
    parse_ttl(s).ok()
}

/// Parses a domain name with RFC 1035 §5.1 escapes, relative to `origin` unless it ends in an
/// unescaped dot. `@` is the origin itself.
pub(super) fn parse_name(raw: &[u8], origin: &Name) -> Result<Name, String> {
    if raw == b"@" {
        return Ok(origin.clone());
    }
    if raw == b"." {
        return Ok(Name::root());
    }
    if raw.is_empty() {
        return Err("empty domain name".into());
    }
    let mut wire: Vec<u8> = Vec::with_capacity(raw.len() + 2 + origin.len());
    let mut label_start = 0usize;
    wire.push(0);
    let mut absolute = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'.' => {
                let len = wire.len() - label_start - 1;
                if len == 0 {
                    return Err(format!("empty label in '{}'", excerpt(raw)));
                }
                finish_label(&mut wire, label_start, raw)?;
                if i + 1 == raw.len() {
                    absolute = true;
                } else {
                    label_start = wire.len();
                    wire.push(0);
                }
                i += 1;
            }
            b'\\' => {
                let (byte, used) = unescape(&raw[i..])
                    .ok_or_else(|| format!("bad escape in '{}'", excerpt(raw)))?;
                wire.push(byte);
                i += used;
            }
            _ => {
                wire.push(b);
                i += 1;
            }
        }
    }
    if !absolute {
        if wire.len() - label_start - 1 == 0 {
            return Err(format!("empty label in '{}'", excerpt(raw)));
        }
        finish_label(&mut wire, label_start, raw)?;
        for label in origin.iter() {
            // Labels of an existing Name are at most 63 octets.
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
        }
    }
    wire.push(0);
    if wire.len() > 255 {
        return Err(format!(
            "domain name '{}' is longer than 255 octets",
            excerpt(raw)
        ));
    }
    Name::read(&mut BinDecoder::new(&wire)).map_err(|e| format!("bad domain name: {e}"))
}

fn finish_label(wire: &mut [u8], label_start: usize, raw: &[u8]) -> Result<(), String> {
    let len = wire.len() - label_start - 1;
    if len > 63 {
        return Err(format!("label longer than 63 octets in '{}'", excerpt(raw)));
    }
    // len <= 63 was checked just above.
    wire[label_start] = len as u8;
    Ok(())
}

/// Decodes one escape at the start of `s` (which begins with `\`): `\DDD` (decimal, at most
/// 255) or `\X`. Returns the byte and how many input bytes it used.
fn unescape(s: &[u8]) -> Option<(u8, usize)> {
    let first = *s.get(1)?;
    if first.is_ascii_digit() {
        let digits = s.get(1..4)?;
        let value = parse_decimal(digits)?;
        Some((u8::try_from(value).ok()?, 4))
    } else {
        Some((first, 2))
    }
}

/// The bytes of a character string (or any token) with its escapes decoded.
pub(super) fn unescape_bytes(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            let (byte, used) =
                unescape(&raw[i..]).ok_or_else(|| format!("bad escape in '{}'", excerpt(raw)))?;
            out.push(byte);
            i += used;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Walks the RDATA tokens of one record.
pub(super) struct Cursor<'a> {
    src: &'a [u8],
    toks: &'a [Tok],
    i: usize,
    origin: &'a Name,
    entry_line: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(src: &'a [u8], toks: &'a [Tok], origin: &'a Name, entry_line: usize) -> Self {
        Self {
            src,
            toks,
            i: 0,
            origin,
            entry_line,
        }
    }

    fn raw(&self, t: &Tok) -> &'a [u8] {
        &self.src[t.start..t.end]
    }

    fn missing(&self, what: &str) -> RdError {
        RdError {
            line: Some(self.toks.last().map_or(self.entry_line, |t| t.line)),
            message: format!("missing {what}"),
        }
    }

    fn next(&mut self, what: &str) -> Result<(Tok, &'a [u8]), RdError> {
        let t = *self.toks.get(self.i).ok_or_else(|| self.missing(what))?;
        self.i += 1;
        Ok((t, self.raw(&t)))
    }

    fn at_end(&self) -> bool {
        self.i >= self.toks.len()
    }

    fn end(&self) -> Result<(), RdError> {
        match self.toks.get(self.i) {
            None => Ok(()),
            Some(t) => Err(RdError::at(
                t,
                format!(
                    "unexpected '{}' after the record data",
                    excerpt(self.raw(t))
                ),
            )),
        }
    }

    fn number(&mut self, what: &str, max: u64) -> Result<u64, RdError> {
        let (t, raw) = self.next(what)?;
        match parse_decimal(raw) {
            Some(v) if v <= max => Ok(v),
            _ => Err(RdError::at(
                &t,
                format!("bad {what} '{}': expected 0..={max}", excerpt(raw)),
            )),
        }
    }

    fn u8(&mut self, what: &str, out: &mut Vec<u8>) -> Result<u8, RdError> {
        // The bound makes the cast lossless.
        let v = self.number(what, u64::from(u8::MAX))? as u8;
        out.push(v);
        Ok(v)
    }

    fn u16(&mut self, what: &str, out: &mut Vec<u8>) -> Result<u16, RdError> {
        // The bound makes the cast lossless.
        let v = self.number(what, u64::from(u16::MAX))? as u16;
        out.extend_from_slice(&v.to_be_bytes());
        Ok(v)
    }

    fn u32(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RdError> {
        // The bound makes the cast lossless.
        let v = self.number(what, u64::from(u32::MAX))? as u32;
        out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn duration(&mut self, what: &str, out: &mut Vec<u8>) -> Result<u32, RdError> {
        let (t, raw) = self.next(what)?;
        let v = parse_duration(raw)
            .ok_or_else(|| RdError::at(&t, format!("bad {what} '{}'", excerpt(raw))))?;
        out.extend_from_slice(&v.to_be_bytes());
        Ok(v)
    }

    fn name(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RdError> {
        let (t, raw) = self.next(what)?;
        let name =
            parse_name(raw, self.origin).map_err(|e| RdError::at(&t, format!("{what}: {e}")))?;
        for label in name.iter() {
            // Labels of a Name are at most 63 octets.
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
        Ok(())
    }

    fn char_string(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RdError> {
        let (t, raw) = self.next(what)?;
        let bytes = unescape_bytes(raw).map_err(|e| RdError::at(&t, e))?;
        let len = u8::try_from(bytes.len()).map_err(|_| {
            RdError::at(
                &t,
                format!(
                    "{what} is {} octets long, more than 255 (split it into several strings)",
                    bytes.len()
                ),
            )
        })?;
        out.push(len);
        out.extend_from_slice(&bytes);
        Ok(())
    }

    /// The remaining tokens glued together (base64 and hex may be split by spaces).
    fn rest(&mut self, what: &str) -> Result<(Tok, Vec<u8>), RdError> {
        let (first, _) = self.next(what)?;
        self.i -= 1;
        let mut all = Vec::new();
        while let Some(t) = self.toks.get(self.i) {
            all.extend_from_slice(self.raw(t));
            self.i += 1;
        }
        Ok((first, all))
    }

    fn hex_rest(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RdError> {
        let (t, text) = self.rest(what)?;
        let bytes = HEXUPPER_PERMISSIVE
            .decode(&text)
            .map_err(|e| RdError::at(&t, format!("bad hex in {what}: {e}")))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    fn base64_rest(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RdError> {
        let (t, text) = self.rest(what)?;
        let bytes = BASE64
            .decode(&text)
            .map_err(|e| RdError::at(&t, format!("bad base64 in {what}: {e}")))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    fn algorithm(&mut self, out: &mut Vec<u8>) -> Result<(), RdError> {
        let (t, raw) = self.next("algorithm")?;
        const ALGS: &[(&str, u8)] = &[
            ("RSAMD5", 1),
            ("DH", 2),
            ("DSA", 3),
            ("RSASHA1", 5),
            ("DSA-NSEC3-SHA1", 6),
            ("RSASHA1-NSEC3-SHA1", 7),
            ("RSASHA256", 8),
            ("RSASHA512", 10),
            ("ECC-GOST", 12),
            ("ECDSAP256SHA256", 13),
            ("ECDSAP384SHA384", 14),
            ("ED25519", 15),
            ("ED448", 16),
        ];
        let v = match parse_decimal(raw) {
            Some(v) => u8::try_from(v).ok(),
            None => ALGS
                .iter()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(raw))
                .map(|(_, v)| *v),
        };
        let v = v.ok_or_else(|| RdError::at(&t, format!("bad algorithm '{}'", excerpt(raw))))?;
        out.push(v);
        Ok(())
    }

    fn rrsig_time(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RdError> {
        let (t, raw) = self.next(what)?;
        let v = parse_rrsig_time(raw).ok_or_else(|| {
            RdError::at(
                &t,
                format!("bad {what} '{}': expected YYYYMMDDHHmmSS", excerpt(raw)),
            )
        })?;
        out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn type_bitmap(&mut self, out: &mut Vec<u8>) -> Result<(), RdError> {
        let mut codes = Vec::new();
        while let Some(t) = self.toks.get(self.i) {
            let raw = self.raw(t);
            let code = type_code(raw).ok_or_else(|| {
                RdError::at(t, format!("unknown type '{}' in type bitmap", excerpt(raw)))
            })?;
            codes.push(code);
            self.i += 1;
        }
        encode_type_bitmap(&mut codes, out);
        Ok(())
    }

    fn salt(&mut self, out: &mut Vec<u8>) -> Result<(), RdError> {
        let (t, raw) = self.next("salt")?;
        if raw == b"-" {
            out.push(0);
            return Ok(());
        }
        let salt = HEXUPPER_PERMISSIVE
            .decode(raw)
            .map_err(|e| RdError::at(&t, format!("bad salt: {e}")))?;
        let len =
            u8::try_from(salt.len()).map_err(|_| RdError::at(&t, "salt longer than 255 octets"))?;
        out.push(len);
        out.extend_from_slice(&salt);
        Ok(())
    }
}

/// Encodes a type bitmap (RFC 4034 §4.1.2), sorting and deduplicating `codes`.
pub(super) fn encode_type_bitmap(codes: &mut Vec<u16>, out: &mut Vec<u8>) {
    codes.sort_unstable();
    codes.dedup();
    let mut i = 0;
    while i < codes.len() {
        let window = codes[i] >> 8;
        let mut bits = [0u8; 32];
        let mut max = 0usize;
        while i < codes.len() && codes[i] >> 8 == window {
            let low = usize::from(codes[i] & 0xff);
            bits[low / 8] |= 0x80 >> (low % 8);
            max = low / 8;
            i += 1;
        }
        // A window number is the high byte of a u16.
        out.push(window as u8);
        // max < 32.
        out.push((max + 1) as u8);
        out.extend_from_slice(&bits[..=max]);
    }
}

/// An RRSIG time field: `YYYYMMDDHHmmSS` (UTC), or a plain decimal number of seconds
/// (RFC 4034 §3.2), reduced modulo 2^32.
pub(super) fn parse_rrsig_time(raw: &[u8]) -> Option<u32> {
    if raw.len() == 14 {
        let n = |r: std::ops::Range<usize>| parse_decimal(&raw[r]);
        let (y, mo, d, h, mi, s) = (
            n(0..4)?,
            n(4..6)?,
            n(6..8)?,
            n(8..10)?,
            n(10..12)?,
            n(12..14)?,
        );
        if !(1..=12).contains(&mo)
            || !(1..=31).contains(&d)
            || h > 23
            || mi > 59
            || s > 60
            || y < 1970
        {
            return None;
        }
        // y <= 9999 and mo, d are in range, so these fit.
        let days = days_from_civil(y as i64, mo as u32, d as u32);
        let secs = days * 86_400 + (h * 3600 + mi * 60 + s) as i64;
        // Serial arithmetic on 32 bits (RFC 4034 §3.1.5): keep the low 32 bits.
        return Some(secs as u64 as u32);
    }
    parse_decimal(raw).and_then(|v| u32::try_from(v).ok())
}

/// Parses the RDATA tokens of one record of type `code`.
pub(super) fn parse_rdata(code: u16, cur: &mut Cursor<'_>) -> Result<RData, RdError> {
    let rtype = RecordType::from(code);
    if is_meta_type(code) {
        return Err(RdError {
            line: Some(cur.entry_line),
            message: format!("type {} cannot appear in a zone file", type_mnemonic(code)),
        });
    }
    let first = cur.toks.first().copied();
    if let Some(t) = first.filter(|t| !t.quoted && cur.raw(t) == b"\\#") {
        let wire = generic(cur)?;
        return decode(rtype, &wire, &t);
    }
    let mut w = Vec::with_capacity(64);
    let known = presentation(code, cur, &mut w)?;
    if !known {
        return fallback(rtype, cur);
    }
    cur.end()?;
    let anchor = first.unwrap_or(Tok {
        start: 0,
        end: 0,
        line: cur.entry_line,
        quoted: false,
    });
    decode(rtype, &w, &anchor)
}

fn decode(rtype: RecordType, wire: &[u8], anchor: &Tok) -> Result<RData, RdError> {
    let len = u16::try_from(wire.len())
        .map_err(|_| RdError::at(anchor, "record data longer than 65535 octets"))?;
    let mut decoder = BinDecoder::new(wire);
    RData::read(&mut decoder, rtype, Restrict::new(len)).map_err(|e| {
        RdError::at(
            anchor,
            format!("invalid {} data: {e}", type_mnemonic(u16::from(rtype))),
        )
    })
}

/// RFC 3597 §5: `\# <length> <hex>...`.
fn generic(cur: &mut Cursor<'_>) -> Result<Vec<u8>, RdError> {
    cur.next("\\#")?;
    let (lt, lraw) = cur.next("length after \\#")?;
    let len = parse_decimal(lraw)
        .filter(|v| *v <= 65_535)
        .ok_or_else(|| RdError::at(&lt, "bad length after \\#"))?;
    let mut wire = Vec::new();
    if !cur.at_end() {
        cur.hex_rest("generic data", &mut wire)?;
    }
    if wire.len() as u64 != len {
        return Err(RdError::at(
            &lt,
            format!("\\# says {len} octets but the hex data has {}", wire.len()),
        ));
    }
    Ok(wire)
}

/// Writes the wire form of a type whose presentation format is handled here. Returns false for
/// a type this module does not know.
fn presentation(code: u16, cur: &mut Cursor<'_>, w: &mut Vec<u8>) -> Result<bool, RdError> {
    match code {
        // A
        1 => {
            let (t, raw) = cur.next("IPv4 address")?;
            let addr: Ipv4Addr = std::str::from_utf8(raw)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| RdError::at(&t, format!("bad IPv4 address '{}'", excerpt(raw))))?;
            w.extend_from_slice(&addr.octets());
        }
        // AAAA
        28 => {
            let (t, raw) = cur.next("IPv6 address")?;
            let addr: Ipv6Addr = std::str::from_utf8(raw)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| RdError::at(&t, format!("bad IPv6 address '{}'", excerpt(raw))))?;
            w.extend_from_slice(&addr.octets());
        }
        // NS, CNAME, PTR, DNAME
        2 | 5 | 12 | 39 => cur.name("target name", w)?,
        // SOA
        6 => {
            cur.name("primary server (MNAME)", w)?;
            cur.name("mailbox (RNAME)", w)?;
            cur.u32("serial", w)?;
            cur.duration("refresh", w)?;
            cur.duration("retry", w)?;
            cur.duration("expire", w)?;
            cur.duration("minimum", w)?;
        }
        // HINFO
        13 => {
            cur.char_string("CPU", w)?;
            cur.char_string("OS", w)?;
        }
        // MX
        15 => {
            cur.u16("preference", w)?;
            cur.name("exchange", w)?;
        }
        // TXT, SPF
        16 | 99 => {
            cur.char_string("text", w)?;
            while !cur.at_end() {
                cur.char_string("text", w)?;
            }
        }
        // SRV
        33 => {
            cur.u16("priority", w)?;
            cur.u16("weight", w)?;
            cur.u16("port", w)?;
            cur.name("target", w)?;
        }
        // NAPTR
        35 => {
            cur.u16("order", w)?;
            cur.u16("preference", w)?;
            cur.char_string("flags", w)?;
            cur.char_string("services", w)?;
            cur.char_string("regexp", w)?;
            cur.name("replacement", w)?;
        }
        // DS, CDS
        43 | 59 => {
            cur.u16("key tag", w)?;
            cur.algorithm(w)?;
            cur.u8("digest type", w)?;
            cur.hex_rest("digest", w)?;
        }
        // SSHFP
        44 => {
            cur.u8("algorithm", w)?;
            cur.u8("fingerprint type", w)?;
            cur.hex_rest("fingerprint", w)?;
        }
        // RRSIG
        46 => {
            let (t, raw) = cur.next("type covered")?;
            let covered = type_code(raw).ok_or_else(|| {
                RdError::at(&t, format!("unknown type covered '{}'", excerpt(raw)))
            })?;
            w.extend_from_slice(&covered.to_be_bytes());
            cur.algorithm(w)?;
            cur.u8("labels", w)?;
            cur.u32("original TTL", w)?;
            cur.rrsig_time("signature expiration", w)?;
            cur.rrsig_time("signature inception", w)?;
            cur.u16("key tag", w)?;
            cur.name("signer name", w)?;
            cur.base64_rest("signature", w)?;
        }
        // NSEC
        47 => {
            cur.name("next domain name", w)?;
            cur.type_bitmap(w)?;
        }
        // DNSKEY, CDNSKEY, KEY
        48 | 60 | 25 => {
            cur.u16("flags", w)?;
            cur.u8("protocol", w)?;
            cur.algorithm(w)?;
            cur.base64_rest("public key", w)?;
        }
        // NSEC3
        50 => {
            cur.u8("hash algorithm", w)?;
            cur.u8("flags", w)?;
            cur.u16("iterations", w)?;
            cur.salt(w)?;
            let (t, raw) = cur.next("next hashed owner name")?;
            let hash = BASE32HEX_NOPAD
                .decode(&raw.to_ascii_uppercase())
                .map_err(|e| RdError::at(&t, format!("bad next hashed owner name: {e}")))?;
            let len = u8::try_from(hash.len())
                .map_err(|_| RdError::at(&t, "next hashed owner name too long"))?;
            w.push(len);
            w.extend_from_slice(&hash);
            cur.type_bitmap(w)?;
        }
        // NSEC3PARAM
        51 => {
            cur.u8("hash algorithm", w)?;
            cur.u8("flags", w)?;
            cur.u16("iterations", w)?;
            cur.salt(w)?;
        }
        // TLSA, SMIMEA
        52 | 53 => {
            cur.u8("certificate usage", w)?;
            cur.u8("selector", w)?;
            cur.u8("matching type", w)?;
            cur.hex_rest("certificate association data", w)?;
        }
        // OPENPGPKEY
        61 => cur.base64_rest("public key", w)?,
        // CAA (RFC 8659 §4.1.1)
        257 => {
            cur.u8("flags", w)?;
            let (t, tag) = cur.next("tag")?;
            if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) || t.quoted {
                return Err(RdError::at(&t, format!("bad CAA tag '{}'", excerpt(tag))));
            }
            // Checked non-empty, alphanumeric; length checked next.
            let len = u8::try_from(tag.len()).map_err(|_| RdError::at(&t, "CAA tag too long"))?;
            w.push(len);
            w.extend_from_slice(tag);
            let (vt, value) = cur.next("value")?;
            w.extend_from_slice(&unescape_bytes(value).map_err(|e| RdError::at(&vt, e))?);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// hickory's own text parser, for types with no parser above. Relative target names of SVCB
/// and HTTPS are made absolute first, since hickory's parser has no origin.
fn fallback(rtype: RecordType, cur: &mut Cursor<'_>) -> Result<RData, RdError> {
    let code = u16::from(rtype);
    let anchor = cur.toks.first().copied().unwrap_or(Tok {
        start: 0,
        end: 0,
        line: cur.entry_line,
        quoted: false,
    });
    if !matches!(code, 37 | 62 | 64 | 65) {
        return Err(RdError::at(
            &anchor,
            format!(
                "no presentation format parser for type {}; write it in RFC 3597 generic form (\\# length hex)",
                type_mnemonic(code)
            ),
        ));
    }
    let mut text = String::new();
    for (i, t) in cur.toks.iter().enumerate() {
        let raw = String::from_utf8_lossy(cur.raw(t));
        if i > 0 {
            text.push(' ');
        }
        if i == 1 && matches!(code, 64 | 65) && !raw.ends_with('.') {
            let name = parse_name(raw.as_bytes(), cur.origin).map_err(|e| RdError::at(t, e))?;
            text.push_str(&name.to_ascii());
        } else if t.quoted {
            text.push('"');
            text.push_str(&raw);
            text.push('"');
        } else {
            text.push_str(&raw);
        }
    }
    cur.i = cur.toks.len();
    RData::try_from_str(rtype, &text).map_err(|e| {
        RdError::at(
            &anchor,
            format!("invalid {} data: {e}", type_mnemonic(code)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1035_s5_1_name_escapes_are_decimal() {
        // "\DDD where each D is a digit is the octet corresponding to the decimal number
        // described by DDD."
        let origin = Name::from_ascii("example.").unwrap();
        let n = parse_name(br"a\065\.b.c", &origin).unwrap();
        let labels: Vec<&[u8]> = n.iter().collect();
        assert_eq!(labels, vec![&b"aA.b"[..], b"c", b"example"]);
        assert!(n.is_fqdn());
        assert!(parse_name(br"a\256", &origin).is_err());
        assert!(parse_name(b"a..b", &origin).is_err());
        assert_eq!(parse_name(b"@", &origin).unwrap(), origin);
        assert_eq!(
            parse_name(b"x.y.", &origin).unwrap(),
            Name::from_ascii("x.y.").unwrap()
        );
    }

    #[test]
    fn rfc4034_s3_2_rrsig_time_both_forms() {
        // "The Signature Expiration Time and Inception Time field values MUST be represented
        // either as an unsigned decimal integer indicating seconds since 1 January 1970 00:00:00
        // UTC, or in the form YYYYMMDDHHmmSS in UTC"
        assert_eq!(parse_rrsig_time(b"20040509183619"), Some(1_084_127_779));
        assert_eq!(parse_rrsig_time(b"1084127779"), Some(1_084_127_779));
        assert_eq!(parse_rrsig_time(b"20041301000000"), None);
    }

    #[test]
    fn rfc4034_s4_1_2_type_bitmap_windows() {
        // RFC 4034 §4.3 example: "A MX RRSIG NSEC TYPE1234" ->
        // 0x00 0x06 0x40 0x01 0x00 0x00 0x00 0x03 0x04 0x1b 0x00...0x20
        let mut codes = vec![1, 15, 46, 47, 1234];
        let mut out = Vec::new();
        encode_type_bitmap(&mut codes, &mut out);
        let mut want = vec![0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b];
        want.extend_from_slice(&[0; 26]);
        want.push(0x20);
        assert_eq!(out, want);
    }
}
