//! What one query or one transfer sees: the zones with their IXFR journals, the transfer ACLs
//! and TSIG keys, and the UDP payload cap, as one immutable value. The manager builds a new
//! [`Snapshot`] for every publish and every reload and swaps it in whole; the handler loads it
//! once per request. A reload that changes a zone and its transfer ACL is therefore seen by a
//! racing transfer either entirely before or entirely after, never half.

use std::sync::Arc;

use hickory_proto::op::Edns;

use crate::serve::query::Catalog;
use crate::serve::xfr::TransferPolicy;

/// RFC 1035 §4.2.1: "Messages carried by UDP are restricted to 512 bytes".
pub(crate) const CLASSIC_UDP_LIMIT: u16 = 512;

/// Everything a request is answered from, published together.
#[derive(Debug)]
pub struct Snapshot {
    catalog: Arc<Catalog>,
    transfer: Arc<TransferPolicy>,
    udp_payload_cap: u16,
    /// The response OPT without and with DO, built once: version 0, payload = our cap.
    edns: Edns,
    edns_dnssec_ok: Edns,
}

impl Snapshot {
    /// The zones and journals of `catalog`, transfers as `transfer` allows them, UDP responses
    /// limited to `udp_payload_cap` bytes (at least 512) even when the client offers more.
    pub fn new(catalog: Arc<Catalog>, transfer: Arc<TransferPolicy>, udp_payload_cap: u16) -> Self {
        let udp_payload_cap = udp_payload_cap.max(CLASSIC_UDP_LIMIT);
        let mut edns = Edns::new();
        edns.set_version(0).set_max_payload(udp_payload_cap);
        let mut edns_dnssec_ok = edns.clone();
        edns_dnssec_ok.set_dnssec_ok(true);
        Self {
            catalog,
            transfer,
            udp_payload_cap,
            edns,
            edns_dnssec_ok,
        }
    }

    /// The zones of `catalog`, no TSIG key, no transfer allowed.
    pub fn serving(catalog: Catalog, udp_payload_cap: u16) -> Self {
        Self::new(
            Arc::new(catalog),
            Arc::new(TransferPolicy::default()),
            udp_payload_cap,
        )
    }

    /// The zones served and their journals.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The TSIG keys and the transfer ACLs.
    pub fn transfer(&self) -> &TransferPolicy {
        &self.transfer
    }

    /// The largest UDP response sent.
    pub(crate) fn udp_payload_cap(&self) -> u16 {
        self.udp_payload_cap
    }

    /// The response OPT record, with DO set when `dnssec_ok`.
    pub(crate) fn edns(&self, dnssec_ok: bool) -> &Edns {
        if dnssec_ok {
            &self.edns_dnssec_ok
        } else {
            &self.edns
        }
    }
}

impl Default for Snapshot {
    fn default() -> Self {
        Self::serving(Catalog::default(), CLASSIC_UDP_LIMIT)
    }
}
