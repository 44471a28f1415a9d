//! The hickory-server request handler: header and EDNS processing around the query engine.
//!
//! Each request loads the served [`Catalog`] once and builds the whole response from that one
//! snapshot, so a response never mixes zone versions (a new answer with an old proof). The
//! handler checks the request (opcode, question count, class, EDNS version), asks
//! [`query::answer`], and enforces the message size itself: hickory's encoder truncates against
//! the *response* OPT's payload and cuts sections in the middle, so a response that does not fit
//! the client's limit is replaced by an empty one with TC=1 (RFC 2181 §9), which makes the
//! client retry over TCP.

use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::NetError;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tracing::{debug, trace};

use crate::query::{self, Answer, Catalog};

/// RFC 1035 §4.2.1: "Messages carried by UDP are restricted to 512 bytes".
const CLASSIC_UDP_LIMIT: u16 = 512;
/// The fixed header of every DNS message.
const HEADER_LEN: usize = 12;
/// Our OPT record: root owner (1), type (2), class (2), TTL (4), RDLENGTH (2), no options.
const OPT_LEN: usize = 11;

/// Answers DNS queries from the current [`Catalog`] snapshot.
pub struct Handler {
    catalog: Arc<ArcSwap<Catalog>>,
    udp_payload_cap: u16,
    /// The response OPT without and with DO, built once: version 0, payload = our cap.
    edns: Edns,
    edns_dnssec_ok: Edns,
}

impl Handler {
    /// A handler serving whatever catalog `catalog` holds at the time of each request, with UDP
    /// responses limited to `udp_payload_cap` bytes (at least 512) even when the client offers
    /// more.
    pub fn new(catalog: Arc<ArcSwap<Catalog>>, udp_payload_cap: u16) -> Self {
        let udp_payload_cap = udp_payload_cap.max(CLASSIC_UDP_LIMIT);
        let mut edns = Edns::new();
        edns.set_version(0).set_max_payload(udp_payload_cap);
        let mut edns_dnssec_ok = edns.clone();
        edns_dnssec_ok.set_dnssec_ok(true);
        Self {
            catalog,
            udp_payload_cap,
            edns,
            edns_dnssec_ok,
        }
    }

    async fn respond<R: ResponseHandler>(
        &self,
        request: &Request,
        handle: &mut R,
    ) -> Result<ResponseInfo, NetError> {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        // RFC 6891 §6.1.1: "If an OPT record is present in a received request, compliant
        // responders MUST include an OPT record in their respective responses."
        let dnssec_ok = request
            .edns
            .as_ref()
            .is_some_and(|edns| edns.flags().dnssec_ok);
        let edns = request.edns.as_ref().map(|_| {
            if dnssec_ok {
                &self.edns_dnssec_ok
            } else {
                &self.edns
            }
        });

        // RFC 6891 §6.1.3: "If a responder does not implement the VERSION level of the request,
        // then it MUST respond with RCODE=BADVERS."
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            metadata.response_code = ResponseCode::BADVERS;
            return send_empty(request, handle, metadata, edns).await;
        }
        if request.metadata.op_code != OpCode::Query {
            metadata.response_code = ResponseCode::NotImp;
            return send_empty(request, handle, metadata, edns).await;
        }
        // RFC 9619 constrains "the allowed value of the QDCOUNT parameter in DNS messages with
        // OPCODE = 0 (QUERY) to a maximum of one"; with none there is nothing to answer.
        let [query] = request.queries.queries() else {
            metadata.response_code = ResponseCode::FormErr;
            return send_empty(request, handle, metadata, edns).await;
        };
        let qtype = query.query_type();
        let qname: &Name = query.name();
        if query.query_class() != DNSClass::IN
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            metadata.response_code = ResponseCode::Refused;
            return send_empty(request, handle, metadata, edns).await;
        }

        // One snapshot for the whole response; the guard is released before any await.
        let zone = {
            let catalog = self.catalog.load();
            catalog.find_for_query(qname, qtype).cloned()
        };
        let Some(zone) = zone else {
            trace!(%qname, %qtype, "query outside our zones: REFUSED");
            metadata.response_code = ResponseCode::Refused;
            return send_empty(request, handle, metadata, edns).await;
        };
        let answer = query::answer(&zone, qname, qtype, dnssec_ok);
        trace!(
            %qname,
            %qtype,
            dnssec_ok,
            rcode = %answer.rcode,
            records = answer.record_count(),
            "query"
        );
        metadata.authoritative = answer.authoritative;
        metadata.response_code = answer.rcode;

        let limit = self.size_limit(request);
        let bound = HEADER_LEN
            + request.queries.as_bytes().len()
            + answer.size_bound()
            + edns.map_or(0, |_| OPT_LEN);
        // The bound ignores compression; only when it is over the limit do we encode to learn
        // the real size.
        if bound > limit && !fits(&request.queries, edns, metadata, &answer, limit) {
            trace!(%qname, %qtype, limit, "response too large: TC");
            metadata.truncation = true;
            return send_empty(request, handle, metadata, edns).await;
        }
        let response = build(&request.queries, edns, metadata, &answer);
        handle.send_response(response).await
    }

    /// The largest response the client can take: RFC 6891 §6.2.5 "Values lower than 512 MUST
    /// be treated as equal to 512", and never more than our own cap; 512 without EDNS
    /// (RFC 1035 §4.2.1); 65535 over TCP.
    fn size_limit(&self, request: &Request) -> usize {
        if !request.protocol().is_datagram() {
            return usize::from(u16::MAX);
        }
        let limit = match &request.edns {
            Some(edns) => edns
                .max_payload()
                .min(self.udp_payload_cap)
                .max(CLASSIC_UDP_LIMIT),
            None => CLASSIC_UDP_LIMIT,
        };
        usize::from(limit)
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let mut response_handle = response_handle;
        match self.respond(request, &mut response_handle).await {
            Ok(info) => info,
            Err(error) => {
                debug!(%error, id = request.metadata.id, "failed to send response");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// A response with the question (and OPT) but no records.
async fn send_empty<R: ResponseHandler>(
    request: &Request,
    handle: &mut R,
    metadata: Metadata,
    edns: Option<&Edns>,
) -> Result<ResponseInfo, NetError> {
    let response = MessageResponseBuilder::new(&request.queries, edns).build_no_records(metadata);
    handle.send_response(response).await
}

fn build<'q, 'a>(
    queries: &'q Queries,
    edns: Option<&'q Edns>,
    metadata: Metadata,
    answer: &'a Answer<'_>,
) -> MessageResponse<
    'q,
    'a,
    impl Iterator<Item = &'a Record> + Send + 'a,
    impl Iterator<Item = &'a Record> + Send + 'a,
    impl Iterator<Item = &'a Record> + Send + 'a,
    impl Iterator<Item = &'a Record> + Send + 'a,
> {
    MessageResponseBuilder::new(queries, edns).build(
        metadata,
        answer.answers.iter().map(|r| &**r),
        answer.authorities.iter().map(|r| &**r),
        std::iter::empty(),
        answer.additionals.iter().map(|r| &**r),
    )
}

/// Whether the full response, compressed as hickory will send it, fits in `limit` bytes.
fn fits(
    queries: &Queries,
    edns: Option<&Edns>,
    metadata: Metadata,
    answer: &Answer<'_>,
    limit: usize,
) -> bool {
    let mut buf = Vec::with_capacity(limit);
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_max_size(u16::try_from(limit).unwrap_or(u16::MAX));
    match build(queries, edns, metadata, answer).destructive_emit(&mut encoder) {
        Ok(info) => !info.truncation,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests;
