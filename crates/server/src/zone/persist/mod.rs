//! What a zone keeps across restarts: the state file ([`state`]), the IXFR journal
//! ([`journal`]) and the signed zone last published ([`signed`], a snapshot the journal
//! continues).

pub mod journal;
pub(crate) mod signed;
pub mod state;

/// Appends `record` to `out` as the journal and the kept file store it: a big-endian `u16`
/// length, then its uncompressed wire form (encoded in `scratch`, reused). The error is why it
/// could not be.
fn put_record(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    record: &hickory_proto::rr::Record,
) -> Result<(), String> {
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
    scratch.clear();
    let mut encoder = BinEncoder::new(scratch);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    record.emit(&mut encoder).map_err(|e| e.to_string())?;
    let len = u16::try_from(scratch.len()).map_err(|_| "too long".to_owned())?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(scratch);
    Ok(())
}

/// Splits `n` bytes off the front of `input` (the readers of the journal and kept files).
fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if input.len() < n {
        return None;
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Some(head)
}

/// A big-endian `u16` off the front of `input`.
fn take_u16(input: &mut &[u8]) -> Option<u16> {
    take(input, 2).and_then(|b| b.try_into().ok().map(u16::from_be_bytes))
}

/// A big-endian `u32` off the front of `input`.
fn take_u32(input: &mut &[u8]) -> Option<u32> {
    take(input, 4).and_then(|b| b.try_into().ok().map(u32::from_be_bytes))
}
