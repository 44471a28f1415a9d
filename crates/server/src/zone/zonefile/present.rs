//! Wire format to presentation format: the master-file writer.
//!
//! Every RDATA is first put in wire form (names uncompressed, case kept) and then written from
//! those octets, per type, in the forms BIND, ldns and Knot all read. A type with no writer here,
//! or wire data that does not parse as its type, is written in RFC 3597 generic form
//! (`\# length hex`), which every one of those tools accepts.

use std::fmt::Write as _;
use std::io;

use data_encoding::{BASE32HEX_NOPAD, BASE64, HEXUPPER};
use hickory_proto::rr::{DNSClass, Name, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::rdata::type_mnemonic;
use daned_sign::civil::civil_from_days;

/// Writes records as `name<TAB>ttl<TAB>class<TAB>type<TAB>rdata`, one per line.
pub(super) fn write_records<'a>(
    records: impl Iterator<Item = &'a Record>,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let mut line = String::with_capacity(256);
    let mut wire = Vec::with_capacity(256);
    for record in records {
        line.clear();
        wire.clear();
        {
            let mut encoder = BinEncoder::new(&mut wire);
            encoder.set_name_encoding(NameEncoding::Uncompressed);
            record.data.emit(&mut encoder).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} {}: cannot encode: {e}",
                        record.name,
                        record.record_type()
                    ),
                )
            })?;
        }
        let code = u16::from(record.record_type());
        push_name(&mut line, &record.name);
        let _ = write!(line, "\t{}\t", record.ttl);
        match record.dns_class {
            DNSClass::IN => line.push_str("IN"),
            DNSClass::CH => line.push_str("CH"),
            DNSClass::HS => line.push_str("HS"),
            other => {
                let _ = write!(line, "CLASS{}", u16::from(other));
            }
        }
        line.push('\t');
        line.push_str(&type_mnemonic(code));
        line.push('\t');
        let mark = line.len();
        if write_rdata(code, &wire, &mut line).is_none() {
            line.truncate(mark);
            push_generic(&mut line, &wire);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The presentation form of one RDATA given in wire form, or `None` when this module has no
/// writer for the type or the octets are not a valid instance of it.
pub(super) fn write_rdata(code: u16, wire: &[u8], s: &mut String) -> Option<()> {
    let mut r = Reader { wire, pos: 0 };
    match code {
        1 => {
            let a = r.take(4)?;
            let _ = write!(s, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
        }
        28 => {
            let a: [u8; 16] = r.take(16)?.try_into().ok()?;
            let _ = write!(s, "{}", std::net::Ipv6Addr::from(a));
        }
        2 | 5 | 12 | 39 => r.name(s)?,
        6 => {
            r.name(s)?;
            s.push(' ');
            r.name(s)?;
            for _ in 0..5 {
                let _ = write!(s, " {}", r.u32()?);
            }
        }
        13 => {
            r.char_string(s)?;
            s.push(' ');
            r.char_string(s)?;
        }
        15 => {
            let _ = write!(s, "{} ", r.u16()?);
            r.name(s)?;
        }
        16 | 99 => {
            r.char_string(s)?;
            while !r.done() {
                s.push(' ');
                r.char_string(s)?;
            }
        }
        33 => {
            let _ = write!(s, "{} {} {} ", r.u16()?, r.u16()?, r.u16()?);
            r.name(s)?;
        }
        35 => {
            let _ = write!(s, "{} {} ", r.u16()?, r.u16()?);
            for _ in 0..3 {
                r.char_string(s)?;
                s.push(' ');
            }
            r.name(s)?;
        }
        43 | 59 => {
            let _ = write!(s, "{} {} {} ", r.u16()?, r.u8()?, r.u8()?);
            hex_or_dash(s, r.rest(), false)?;
        }
        44 => {
            let _ = write!(s, "{} {} ", r.u8()?, r.u8()?);
            hex_or_dash(s, r.rest(), false)?;
        }
        46 => {
            let covered = r.u16()?;
            let _ = write!(
                s,
                "{} {} {} {} ",
                type_mnemonic(covered),
                r.u8()?,
                r.u8()?,
                r.u32()?
            );
            push_time(s, r.u32()?);
            s.push(' ');
            push_time(s, r.u32()?);
            let _ = write!(s, " {} ", r.u16()?);
            r.name(s)?;
            s.push(' ');
            base64(s, r.rest())?;
        }
        47 => {
            r.name(s)?;
            r.type_bitmap(s)?;
        }
        25 | 48 | 60 => {
            let _ = write!(s, "{} {} {} ", r.u16()?, r.u8()?, r.u8()?);
            base64(s, r.rest())?;
        }
        50 => {
            let _ = write!(s, "{} {} {} ", r.u8()?, r.u8()?, r.u16()?);
            let salt_len = usize::from(r.u8()?);
            hex_or_dash(s, r.take(salt_len)?, true)?;
            s.push(' ');
            let hash_len = usize::from(r.u8()?);
            let hash = r.take(hash_len)?;
            if hash.is_empty() {
                return None;
            }
            s.push_str(&BASE32HEX_NOPAD.encode(hash).to_ascii_lowercase());
            r.type_bitmap(s)?;
        }
        51 => {
            let _ = write!(s, "{} {} {} ", r.u8()?, r.u8()?, r.u16()?);
            let salt_len = usize::from(r.u8()?);
            hex_or_dash(s, r.take(salt_len)?, true)?;
        }
        52 | 53 => {
            let _ = write!(s, "{} {} {} ", r.u8()?, r.u8()?, r.u8()?);
            hex_or_dash(s, r.rest(), false)?;
        }
        61 => base64(s, r.rest())?,
        257 => {
            let flags = r.u8()?;
            let tag_len = usize::from(r.u8()?);
            let tag = r.take(tag_len)?;
            if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return None;
            }
            let _ = write!(s, "{flags} {} ", String::from_utf8_lossy(tag));
            push_quoted(s, r.rest());
        }
        _ => return None,
    }
    r.done().then_some(())
}

/// RFC 3597 §5 generic form.
fn push_generic(s: &mut String, wire: &[u8]) {
    let _ = write!(s, "\\# {}", wire.len());
    if !wire.is_empty() {
        s.push(' ');
        s.push_str(&HEXUPPER.encode(wire));
    }
}

fn hex_or_dash(s: &mut String, bytes: &[u8], dash_when_empty: bool) -> Option<()> {
    if bytes.is_empty() {
        // An empty digest has no presentation form outside the generic one.
        return dash_when_empty.then(|| s.push('-'));
    }
    s.push_str(&HEXUPPER.encode(bytes));
    Some(())
}

fn base64(s: &mut String, bytes: &[u8]) -> Option<()> {
    if bytes.is_empty() {
        return None;
    }
    s.push_str(&BASE64.encode(bytes));
    Some(())
}

/// `YYYYMMDDHHmmSS` for an RRSIG time (RFC 4034 §3.2), read as seconds since 1970.
fn push_time(s: &mut String, t: u32) {
    let t = i64::from(t);
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let rem = t.rem_euclid(86_400);
    let _ = write!(
        s,
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// An absolute domain name with RFC 1035 §5.1 escapes.
pub(super) fn push_name(s: &mut String, name: &Name) {
    let mut any = false;
    for label in name.iter() {
        any = true;
        push_label(s, label);
        s.push('.');
    }
    if !any {
        s.push('.');
    }
}

fn push_label(s: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' | b'"' | b';' | b'(' | b')' | b'@' | b'$' => {
                s.push('\\');
                s.push(char::from(b));
            }
            0x21..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\{b:03}");
            }
        }
    }
}

/// A quoted character string with `"` and `\` escaped and non-printable octets as `\DDD`.
fn push_quoted(s: &mut String, bytes: &[u8]) {
    s.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(char::from(b));
            }
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\{b:03}");
            }
        }
    }
    s.push('"');
}

struct Reader<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.wire.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn rest(&mut self) -> &'a [u8] {
        let out = &self.wire[self.pos.min(self.wire.len())..];
        self.pos = self.wire.len();
        out
    }

    fn done(&self) -> bool {
        self.pos >= self.wire.len()
    }

    /// An uncompressed wire name.
    fn name(&mut self, s: &mut String) -> Option<()> {
        let mut any = false;
        loop {
            let len = usize::from(self.u8()?);
            if len == 0 {
                break;
            }
            if len > 63 {
                return None;
            }
            push_label(s, self.take(len)?);
            s.push('.');
            any = true;
        }
        if !any {
            s.push('.');
        }
        Some(())
    }

    fn char_string(&mut self, s: &mut String) -> Option<()> {
        let len = usize::from(self.u8()?);
        push_quoted(s, self.take(len)?);
        Some(())
    }

    fn type_bitmap(&mut self, s: &mut String) -> Option<()> {
        while !self.done() {
            let window = u16::from(self.u8()?);
            let len = usize::from(self.u8()?);
            if len == 0 || len > 32 {
                return None;
            }
            for (i, byte) in self.take(len)?.iter().enumerate() {
                for bit in 0..8u16 {
                    if byte & (0x80 >> bit) != 0 {
                        // i < 32, so the code fits in 16 bits.
                        let code = window << 8 | (i as u16) << 3 | bit;
                        s.push(' ');
                        s.push_str(&type_mnemonic(code));
                    }
                }
            }
        }
        Some(())
    }
}
