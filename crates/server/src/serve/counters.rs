//! Queries answered since start: one process-wide set of counters that the handler feeds
//! once per request and the metrics listener reads at each scrape.

use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// Queries answered since start, by transport, query type and response code, and responses
/// sent truncated: one process-wide set of counters, fed by the handler
/// ([`QueryCounters::record`], once per request) and read at each scrape. Query types and
/// response codes outside the lists below count as `other`, so the label sets stay bounded.
pub(crate) static QUERIES: QueryCounters = QueryCounters::new();

/// The query types counted by name.
const QTYPES: [RecordType; 14] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::TLSA,
    RecordType::SOA,
    RecordType::NS,
    RecordType::MX,
    RecordType::TXT,
    RecordType::CNAME,
    RecordType::DNSKEY,
    RecordType::DS,
    RecordType::CDS,
    RecordType::AXFR,
    RecordType::IXFR,
    RecordType::ANY,
];
/// The response codes counted by name.
const RCODES: [ResponseCode; 7] = [
    ResponseCode::NoError,
    ResponseCode::NXDomain,
    ResponseCode::Refused,
    ResponseCode::FormErr,
    ResponseCode::ServFail,
    ResponseCode::NotImp,
    ResponseCode::NotAuth,
];
/// Their names in the `rcode` label (RFC 1035 §4.1.1, RFC 2136 §2.2 mnemonics).
const RCODE_NAMES: [&str; RCODES.len()] = [
    "NOERROR", "NXDOMAIN", "REFUSED", "FORMERR", "SERVFAIL", "NOTIMP", "NOTAUTH",
];
/// `udp`, `tcp`.
const TRANSPORTS: [&str; 2] = ["udp", "tcp"];

/// See [`QUERIES`].
#[derive(Debug)]
pub(crate) struct QueryCounters {
    /// `[transport][qtype][rcode]`; the last index of each is `other`.
    queries: [[[AtomicU64; RCODES.len() + 1]; QTYPES.len() + 1]; 2],
    truncated: AtomicU64,
}

impl QueryCounters {
    const fn new() -> Self {
        Self {
            queries: [const {
                [const { [const { AtomicU64::new(0) }; RCODES.len() + 1] }; QTYPES.len() + 1]
            }; 2],
            truncated: AtomicU64::new(0),
        }
    }

    /// Counts one answered request: over UDP (`datagram`) or TCP, its first question's type
    /// (none: `other`), the response code and whether the response was truncated.
    pub(crate) fn record(
        &self,
        datagram: bool,
        qtype: Option<RecordType>,
        rcode: ResponseCode,
        truncated: bool,
    ) {
        let transport = usize::from(!datagram);
        let qtype = qtype
            .and_then(|t| QTYPES.iter().position(|q| *q == t))
            .unwrap_or(QTYPES.len());
        let rcode = RCODES
            .iter()
            .position(|r| *r == rcode)
            .unwrap_or(RCODES.len());
        self.queries[transport][qtype][rcode].fetch_add(1, Ordering::Relaxed);
        if truncated {
            self.truncated.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The non-zero counts, in a fixed order.
    pub(crate) fn samples(&self) -> Vec<QuerySample> {
        let mut out = Vec::new();
        for (t, by_qtype) in self.queries.iter().enumerate() {
            for (q, by_rcode) in by_qtype.iter().enumerate() {
                for (r, count) in by_rcode.iter().enumerate() {
                    let count = count.load(Ordering::Relaxed);
                    if count == 0 {
                        continue;
                    }
                    out.push(QuerySample {
                        transport: TRANSPORTS[t],
                        qtype: QTYPES
                            .get(q)
                            .map_or("other".to_owned(), ToString::to_string),
                        rcode: RCODE_NAMES.get(r).copied().unwrap_or("other"),
                        count,
                    });
                }
            }
        }
        out
    }

    /// Responses sent truncated so far.
    pub(crate) fn truncated(&self) -> u64 {
        self.truncated.load(Ordering::Relaxed)
    }
}

/// One non-zero count of [`QueryCounters`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QuerySample {
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// The query type's mnemonic, or `other`.
    pub qtype: String,
    /// The response code's mnemonic, or `other`.
    pub rcode: &'static str,
    /// Requests counted.
    pub count: u64,
}
