//! Zone transfer (AXFR, RFC 5936; IXFR, RFC 1995): who may transfer which zone, and how a
//! snapshot, or the journal's differences, are cut into messages.
//!
//! A transfer is built from one `SignedZone` snapshot: the SOA (with its RRSIGs) first, every
//! other record once (RRSIG, NSEC, DNSKEY, delegations and glue included), and the SOA again
//! last (RFC 5936 §2.2: "the first and last messages MUST contain the data for the initial
//! SOA"). An IXFR request gets the condensed answer (just the SOA) when the client is current,
//! the differences from the zone's [`Journal`] when it holds a chain from the client's serial,
//! and the full transfer otherwise (RFC 1995 §4 allows it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use daned_sign::serial::serial_gt;
use daned_sign::zone::SignedZone;
use hickory_proto::rr::{Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::config::{Config, TransferAcl};
use crate::journal::Journal;
use crate::tsig::KeyRing;

/// The target size of one transfer message's records, before compression; well under the
/// 65535 bytes a TCP message can hold.
pub const MESSAGE_TARGET: usize = 16 * 1024;

/// The TSIG keys and the per-zone transfer ACLs.
#[derive(Debug, Default)]
pub struct TransferPolicy {
    /// The configured TSIG keys.
    pub keys: Arc<KeyRing>,
    acls: HashMap<Name, Vec<TransferAcl>>,
}

impl TransferPolicy {
    /// The policy of `config`: its keys, and per zone `allow-transfer` plus its secondaries.
    pub fn from_config(config: &Config) -> Self {
        Self {
            keys: Arc::new(KeyRing::new(&config.tsig_keys)),
            acls: config
                .zones
                .iter()
                .map(|zone| (zone.origin.clone(), zone.allow_transfer.clone()))
                .collect(),
        }
    }

    /// Whether `ip`, having signed its request with `key` (if any), may transfer `zone`: some
    /// ACL entry's prefix holds `ip`, and the entry names no key or names that one. No entry
    /// for the zone: nobody may.
    pub fn allowed(&self, zone: &Name, ip: IpAddr, key: Option<&Name>) -> bool {
        self.acls.get(zone).is_some_and(|acls| {
            acls.iter().any(|acl| {
                acl.prefix.contains(ip)
                    && acl
                        .tsig_key
                        .as_ref()
                        .is_none_or(|wanted| key.is_some_and(|k| k.to_lowercase() == *wanted))
            })
        })
    }
}

/// The records of a full transfer of `zone`, cut into messages of about [`MESSAGE_TARGET`]
/// bytes each: the SOA and its RRSIGs first, then every other record, then the SOA again.
/// Empty when the zone has no SOA (it is then not served).
pub fn transfer_messages(zone: &SignedZone) -> Vec<Vec<&Record>> {
    let Some(soa) = zone.soa().and_then(|s| s.rrset.records().first()) else {
        return Vec::new();
    };
    cut(zone.records().chain(std::iter::once(soa)))
}

/// What an IXFR request gets (RFC 1995).
#[derive(Debug, PartialEq)]
pub enum IxfrAnswer<'z> {
    /// The client has the current serial or a newer one: just the current SOA.
    Condensed(&'z Record),
    /// The differences from the client's serial to the current one, cut into messages.
    Incremental(Vec<Vec<&'z Record>>),
    /// No chain of differences from the client's serial: a full, AXFR-style transfer (empty
    /// when the zone has no SOA).
    Full(Vec<Vec<&'z Record>>),
}

/// The IXFR answer for a client at `client_serial`, from `zone` and the `journal` published
/// with it (both from one catalog).
///
/// RFC 1995 §2: "If an IXFR query with the same or newer version number than that of the server
/// is received, it is replied to with a single SOA record of the server's current version";
/// when the journal holds a chain from `client_serial` that ends at the zone's serial, the
/// differences: the current SOA, then per delta the old SOA, the records removed, the new SOA,
/// the records added, and the current SOA again (§4); otherwise a full transfer, which §4
/// allows.
pub fn ixfr_messages<'z>(
    zone: &'z SignedZone,
    journal: &'z Journal,
    client_serial: u32,
) -> IxfrAnswer<'z> {
    let Some(soa) = zone.soa().and_then(|s| s.rrset.records().first()) else {
        return IxfrAnswer::Full(Vec::new());
    };
    let serial = zone.serial();
    if client_serial == serial || serial_gt(client_serial, serial) {
        return IxfrAnswer::Condensed(soa);
    }
    let full = || IxfrAnswer::Full(transfer_messages(zone));
    if journal.last_serial() != Some(serial) {
        return full();
    }
    let Some(chain) = journal.chain_from(client_serial) else {
        return full();
    };
    let mut records = vec![soa];
    let mut last_new_soa = None;
    for delta in chain {
        let (Some(old_soa), Some(new_soa)) = (soa_of(&delta.removed), soa_of(&delta.added)) else {
            return full();
        };
        records.push(old_soa);
        records.extend(delta.removed.iter().filter(|r| !std::ptr::eq(*r, old_soa)));
        records.push(new_soa);
        records.extend(delta.added.iter().filter(|r| !std::ptr::eq(*r, new_soa)));
        last_new_soa = Some(new_soa);
    }
    // The chain must end at exactly the SOA served: never a diff towards other content.
    if last_new_soa != Some(soa) {
        return full();
    }
    records.push(soa);
    IxfrAnswer::Incremental(cut(records))
}

/// The SOA record among `records`, if exactly one.
fn soa_of(records: &[Record]) -> Option<&Record> {
    let mut soas = records
        .iter()
        .filter(|r| r.record_type() == RecordType::SOA);
    let soa = soas.next()?;
    soas.next().is_none().then_some(soa)
}

/// `records` cut into messages of about [`MESSAGE_TARGET`] bytes each (uncompressed).
fn cut<'z>(records: impl IntoIterator<Item = &'z Record>) -> Vec<Vec<&'z Record>> {
    let mut messages = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    let mut scratch = Vec::with_capacity(512);
    for record in records {
        scratch.clear();
        let mut encoder = BinEncoder::new(&mut scratch);
        // A record that does not encode would fail the whole message later anyway; count it
        // at a typical size here.
        let len = match record.emit(&mut encoder) {
            Ok(()) => scratch.len(),
            Err(_) => 512,
        };
        if !current.is_empty() && size + len > MESSAGE_TARGET {
            messages.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(record);
    }
    messages.push(current);
    messages
}

#[cfg(test)]
mod tests;
