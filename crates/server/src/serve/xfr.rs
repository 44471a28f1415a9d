//! Zone transfer (AXFR, RFC 5936; IXFR, RFC 1995): who may transfer which zone, and how a
//! snapshot, or the journal's differences, are cut into messages.
//!
//! A transfer is built from one `SignedZone` snapshot: the SOA (with its RRSIGs) first, every
//! other record once (RRSIG, NSEC, DNSKEY, delegations and glue included), and the SOA again
//! last (RFC 5936 §2.2: "the first and last messages MUST contain the data for the initial
//! SOA"). An IXFR request gets the condensed answer (just the SOA) when the client is current,
//! the differences from the zone's [`Journal`] when it holds a chain from the client's serial,
//! and the full transfer otherwise (RFC 1995 §4 allows it).
//!
//! Messages are cut lazily ([`TransferMessages`]): the handler takes one, signs and sends it,
//! then asks for the next, so a transfer starts at once and holds one message at a time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use daned_sign::serial::serial_gt;
use daned_sign::zone::SignedZone;
use hickory_proto::rr::{Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::config::{Config, TransferAcl};
use crate::serve::tsig::KeyRing;
use crate::zone::persist::journal::Journal;

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
                        .is_none_or(|wanted| key == Some(wanted))
            })
        })
    }
}

/// The records of one transfer, cut into messages of about [`MESSAGE_TARGET`] bytes each
/// (uncompressed) as they are asked for: each message is measured just before it is sent, so
/// the first leaves at once and only one message's records are held at a time, whatever the
/// zone's size.
pub struct TransferMessages<'z> {
    records: Box<dyn Iterator<Item = &'z Record> + Send + 'z>,
    /// A record already measured that did not fit the previous message, with its length.
    carried: Option<(&'z Record, usize)>,
    scratch: Vec<u8>,
}

impl<'z> TransferMessages<'z> {
    /// `records`, in order, cut into messages.
    pub fn new(records: impl Iterator<Item = &'z Record> + Send + 'z) -> Self {
        Self {
            records: Box::new(records),
            carried: None,
            scratch: Vec::with_capacity(512),
        }
    }

    /// No message at all.
    pub fn empty() -> Self {
        Self::new(std::iter::empty())
    }

    /// The uncompressed wire length of `record`. A record that does not encode would fail the
    /// whole message later anyway; it counts at a typical size here.
    fn encoded_len(&mut self, record: &Record) -> usize {
        self.scratch.clear();
        let mut encoder = BinEncoder::new(&mut self.scratch);
        match record.emit(&mut encoder) {
            Ok(()) => self.scratch.len(),
            Err(_) => 512,
        }
    }
}

impl<'z> Iterator for TransferMessages<'z> {
    type Item = Vec<&'z Record>;

    /// The next message's records: at least one, and more while they stay within
    /// [`MESSAGE_TARGET`] bytes.
    fn next(&mut self) -> Option<Self::Item> {
        let mut message = Vec::new();
        let mut size = 0;
        if let Some((record, len)) = self.carried.take() {
            message.push(record);
            size = len;
        }
        while let Some(record) = self.records.next() {
            let len = self.encoded_len(record);
            if !message.is_empty() && size + len > MESSAGE_TARGET {
                self.carried = Some((record, len));
                return Some(message);
            }
            size += len;
            message.push(record);
        }
        (!message.is_empty()).then_some(message)
    }
}

impl std::fmt::Debug for TransferMessages<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferMessages")
            .field("carried", &self.carried.map(|(record, _)| record))
            .finish_non_exhaustive()
    }
}

/// The messages of a full transfer of `zone`: the SOA and its RRSIGs first, then every other
/// record, then the SOA again. No message when the zone has no SOA (it is then not served).
pub fn transfer_messages(zone: &SignedZone) -> TransferMessages<'_> {
    let Some(soa) = zone.soa().and_then(|s| s.rrset.records().first()) else {
        return TransferMessages::empty();
    };
    TransferMessages::new(zone.records().chain(std::iter::once(soa)))
}

/// What an IXFR request gets (RFC 1995).
#[derive(Debug)]
pub enum IxfrAnswer<'z> {
    /// The client has the current serial or a newer one: just the current SOA.
    Condensed(&'z Record),
    /// The differences from the client's serial to the current one.
    Incremental(TransferMessages<'z>),
    /// No chain of differences from the client's serial: a full, AXFR-style transfer (no
    /// message when the zone has no SOA).
    Full(TransferMessages<'z>),
}

/// The IXFR answer for a client at `client_serial`, from `zone` and the `journal` published
/// with it (both from one catalog).
///
/// RFC 1995 §2: "If an IXFR query with the same or newer version number than that of the server
/// is received, it is replied to with a single SOA record of the server's current version";
/// when the journal holds a chain from `client_serial` that ends at the zone's serial, the
/// differences: the current SOA, then per delta the old SOA, the records removed, the new SOA,
/// the records added, and the current SOA again (§4); otherwise a full transfer, which §4
/// allows. The chain is checked whole before the first message is cut.
pub fn ixfr_messages<'z>(
    zone: &'z SignedZone,
    journal: &'z Journal,
    client_serial: u32,
) -> IxfrAnswer<'z> {
    let Some(soa) = zone.soa().and_then(|s| s.rrset.records().first()) else {
        return IxfrAnswer::Full(TransferMessages::empty());
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
    // One entry per delta (the journal bounds their number), not per record.
    let mut steps = Vec::new();
    for delta in chain {
        let (Some(old_soa), Some(new_soa)) = (soa_of(&delta.removed), soa_of(&delta.added)) else {
            return full();
        };
        steps.push((delta, old_soa, new_soa));
    }
    // The chain must end at exactly the SOA served: never a diff towards other content.
    if steps.last().map(|&(_, _, new_soa)| new_soa) != Some(soa) {
        return full();
    }
    let differences = steps.into_iter().flat_map(|(delta, old_soa, new_soa)| {
        std::iter::once(old_soa)
            .chain(
                delta
                    .removed
                    .iter()
                    .filter(move |r| !std::ptr::eq(*r, old_soa)),
            )
            .chain(std::iter::once(new_soa))
            .chain(
                delta
                    .added
                    .iter()
                    .filter(move |r| !std::ptr::eq(*r, new_soa)),
            )
    });
    IxfrAnswer::Incremental(TransferMessages::new(
        std::iter::once(soa)
            .chain(differences)
            .chain(std::iter::once(soa)),
    ))
}

/// The SOA record among `records`, if exactly one.
fn soa_of(records: &[Record]) -> Option<&Record> {
    let mut soas = records
        .iter()
        .filter(|r| r.record_type() == RecordType::SOA);
    let soa = soas.next()?;
    soas.next().is_none().then_some(soa)
}

#[cfg(test)]
mod tests;
