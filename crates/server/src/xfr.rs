//! Zone transfer (AXFR, RFC 5936): who may transfer which zone, and how a snapshot is cut into
//! messages.
//!
//! A transfer is built from one `SignedZone` snapshot: the SOA (with its RRSIGs) first, every
//! other record once (RRSIG, NSEC, DNSKEY, delegations and glue included), and the SOA again
//! last (RFC 5936 §2.2: "the first and last messages MUST contain the data for the initial
//! SOA"). IXFR requests get the same full response: RFC 1995 §4 allows a server to answer
//! IXFR with a full transfer; a real IXFR from the journal is a later task.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use daned_sign::zone::SignedZone;
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::config::{Config, TransferAcl};
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
    let mut messages = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    let mut scratch = Vec::with_capacity(512);
    for record in zone.records().chain(std::iter::once(soa)) {
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
