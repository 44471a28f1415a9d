//! The request handler: header and EDNS processing around the query engine, on two paths.
//!
//! The common query (one question of class IN, at most an OPT record, see
//! [`wire::request`]) takes the fast path, [`FastPath::answer_fast`]: parsed from the raw bytes
//! and answered into the caller's buffer by [`wire::write_response`], which compresses names
//! against the question (so answers mirror the query's case) and every name before them.
//! Everything else takes hickory-server's path: `Request` (the parsed message), this
//! [`RequestHandler`] and `MessageResponseBuilder`/`MessageResponse`, which encode the response
//! through a `ResponseHandler` (TSIG, transfers, errors that need the parsed message). Both
//! paths share the snapshot load, the engine, the cookie answer, the rate verdict
//! ([`classify`], `rate_limit`), the size rules ([`size_limit`], `too_large`), the query trace
//! line and the query counters.
//!
//! Each request loads the served [`Snapshot`] once and builds the whole response from that one
//! snapshot, so a response never mixes zone versions (a new answer with an old proof). The
//! handler checks the request (opcode, question count, class, EDNS version), asks
//! [`query::answer`], and enforces the message size itself: hickory's encoder truncates against
//! the *response* OPT's payload and cuts sections in the middle, so a response that does not fit
//! the client's limit is replaced by an empty one with TC=1 (RFC 2181 §9), which makes the
//! client retry over TCP.
//!
//! Over TCP, a response that does not fit 64 KiB gets SERVFAIL, as Knot answers: TC means "retry
//! over TCP" and would leave a TCP client nowhere to go.
//!
//! DNS cookies (RFC 7873, [`crate::serve::cookie`]): a request with a COOKIE option gets one back with
//! a server cookie; a malformed option gets FORMERR. UDP responses are rate limited
//! ([`crate::serve::rrl`]) unless the request carried a valid server cookie or was TSIG-signed: over the
//! limit, a response is dropped or, every `slip`-th time, replaced by an empty TC=1 answer.
//!
//! A request carrying a TSIG record is verified first (RFC 8945); a failure gets the TSIG
//! error answer (NOTAUTH with BADKEY/BADSIG unsigned, BADTIME signed), a valid one a signed
//! response. AXFR (over TCP only) and IXFR (over TCP, or UDP when the answer fits, else the
//! current SOA alone) are answered to peers the zone's transfer ACL allows, in as many messages
//! as needed, each signed when the request was ([`crate::serve::xfr`]). Each message is cut, signed
//! and sent before the next is cut; over our TCP loop ([`serve::tcp`](super::tcp)) `send_response`
//! returns once the message is written, so a transfer streams from the one snapshot.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::NetError;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tracing::{debug, trace};

use crate::clock::{Clock, SystemClock};
use crate::serve::cookie::{COOKIE_OPTION, CookieSecrets, RequestCookie};
use crate::serve::query::{self, Answer};
use crate::serve::ratelog::{LOG_INTERVAL, RateLimitedLog};
use crate::serve::rrl::{RateLimiter, ResponseClass, Verdict};
use crate::serve::snapshot::{CLASSIC_UDP_LIMIT, Snapshot};
use crate::serve::tsig::{self, Outcome, ResponseSigner};
use crate::serve::wire::request::FastRequest;
use crate::serve::wire::{self, FastPath, Opt, Sections, WireError};
use crate::serve::xfr::{self, IxfrAnswer, TransferMessages};
use crate::zone::persist::journal::{Journal, JournalLimits};

/// Room left for our TSIG RR in a signed UDP response: owner and algorithm names up to 255
/// bytes each would be more, but configured key names are short; 64-byte MAC, fixed fields.
const TSIG_ROOM: usize = 160;

/// The fixed header of every DNS message.
const HEADER_LEN: usize = 12;
/// Our OPT record: root owner (1), type (2), class (2), TTL (4), RDLENGTH (2), no options.
const OPT_LEN: usize = 11;

/// Answers DNS queries and transfers from the current [`Snapshot`], loaded once per request.
/// Clones share the snapshot (one for each UDP socket's loop, one for each TCP listener).
#[derive(Clone)]
pub struct Handler {
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// Response rate limiting for UDP, when on.
    rrl: Option<Arc<RateLimiter>>,
    /// The DNS cookie secrets.
    cookies: Arc<CookieSecrets>,
    /// Where TSIG reads the time.
    clock: Arc<dyn Clock>,
}

/// How one request's responses are rate limited: not at all (TCP, a valid cookie, a TSIG
/// signature, rate limiting off), or by the limiter for the client's address.
#[derive(Clone, Copy)]
struct Limit<'h> {
    limiter: Option<&'h RateLimiter>,
    src: IpAddr,
}

impl Limit<'_> {
    fn verdict(&self, class: ResponseClass, name: Option<&Name>) -> Verdict {
        match self.limiter {
            None => Verdict::Send,
            Some(limiter) => limiter.check(self.src, class, name),
        }
    }
}

impl Handler {
    /// A handler answering from whatever `snapshot` holds when each request arrives.
    pub fn new(snapshot: Arc<ArcSwap<Snapshot>>) -> Self {
        Self {
            snapshot,
            rrl: None,
            cookies: Arc::new(CookieSecrets::generate(SystemClock.unix_time())),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same handler reading the time from `clock` (TSIG's time signed and its check, the
    /// cookie timestamps).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same handler with UDP responses rate limited by `rrl` (`None`: not limited).
    #[must_use]
    pub fn with_rate_limiter(mut self, rrl: Option<Arc<RateLimiter>>) -> Self {
        self.rrl = rrl;
        self
    }

    /// The same handler with these DNS cookie secrets (shared across reloads, so that a
    /// reload does not invalidate the cookies clients hold).
    #[must_use]
    pub fn with_cookie_secrets(mut self, cookies: Arc<CookieSecrets>) -> Self {
        self.cookies = cookies;
        self
    }

    async fn respond<R: ResponseHandler>(
        &self,
        request: &Request,
        handle: &mut R,
    ) -> Result<ResponseInfo, NetError> {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let now = self.clock.unix_time();
        // One snapshot for the whole request: zones, journals, ACLs and keys of one publish.
        let snapshot = self.snapshot.load_full();
        // hickory has already parsed the message and found any TSIG RR (the last record); only
        // a signed request is read again, from its raw bytes, to check the MAC.
        let outcome = match request.signature {
            None => Ok(Outcome::Unsigned),
            Some(_) => tsig::verify_request(request.as_slice(), &snapshot.transfer().keys, now),
        };
        let mut signer = match outcome {
            Ok(Outcome::Unsigned) => None,
            Ok(Outcome::Verified(verified)) => Some(ResponseSigner::new(&verified)),
            Ok(Outcome::Failed(failure)) => {
                debug!(
                    src = %request.src(),
                    key = %failure.key_name,
                    error = ?failure.error,
                    "TSIG verification failed"
                );
                metadata.response_code = ResponseCode::NotAuth;
                let builder = || {
                    MessageResponseBuilder::new(&request.queries, None).build_no_records(metadata)
                };
                return match &failure.verified {
                    // RFC 8945 §5.2.3: "A response indicating a BADTIME error MUST be signed
                    // by the same key as the request."
                    Some(verified) => {
                        let mut signer = ResponseSigner::bad_time(verified, failure.time, now);
                        send_signed(handle, Some(&mut signer), now, builder).await
                    }
                    // §5.3.2: BADKEY and BADSIG answers are unsigned, with an empty MAC.
                    None => {
                        let mut response = builder();
                        response.set_signature(tsig::unsigned_error(&failure, request.metadata.id));
                        handle.send_response(response).await
                    }
                };
            }
            Err(error) => {
                debug!(src = %request.src(), %error, "malformed TSIG: FORMERR");
                metadata.response_code = ResponseCode::FormErr;
                return send_empty(request, handle, metadata, None, None, now).await;
            }
        };
        // RFC 6891 §6.1.1: "If an OPT record is present in a received request, compliant
        // responders MUST include an OPT record in their respective responses."
        let dnssec_ok = request
            .edns
            .as_ref()
            .is_some_and(|edns| edns.flags().dnssec_ok);
        let base_edns = snapshot.edns(dnssec_ok);
        let cookie_option = request
            .edns
            .as_ref()
            .and_then(|edns| edns.option(EdnsCode::Cookie));
        let cookie = match cookie_option {
            Some(EdnsOption::Unknown(_, data)) => Some(RequestCookie::parse(data)),
            _ => None,
        };
        let src = request.src();
        let datagram = request.protocol().is_datagram();
        let cookie = match cookie {
            Some(Err(error)) => {
                // RFC 7873 §5.2.2: a malformed COOKIE option gets FORMERR.
                static MALFORMED: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
                if let Some(suppressed) = MALFORMED.admit() {
                    tracing::info!(%src, %error, suppressed, "malformed DNS cookie: FORMERR");
                }
                metadata.response_code = ResponseCode::FormErr;
                let rate = self.rate_limit(datagram, src.ip(), false, signer.is_some());
                let edns = request.edns.as_ref().map(|_| base_edns);
                return send_error(request, handle, metadata, edns, signer.as_mut(), now, rate)
                    .await;
            }
            Some(Ok(cookie)) => Some(self.cookies.answer(&cookie, src.ip(), now)),
            None => None,
        };
        let valid_cookie = cookie.as_ref().is_some_and(|c| c.valid);
        let rate = self.rate_limit(datagram, src.ip(), valid_cookie, signer.is_some());
        let edns: Option<Cow<'_, Edns>> = request.edns.as_ref().map(|_| match &cookie {
            None => Cow::Borrowed(base_edns),
            Some(cookie) => {
                let mut edns = base_edns.clone();
                edns.options_mut()
                    .insert(EdnsOption::Unknown(COOKIE_OPTION, cookie.option.clone()));
                Cow::Owned(edns)
            }
        });
        let edns = edns.as_deref();
        let opt_len = OPT_LEN + cookie.as_ref().map_or(0, |c| 4 + c.option.len());

        // RFC 6891 §6.1.3: "If a responder does not implement the VERSION level of the request,
        // then it MUST respond with RCODE=BADVERS."
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            metadata.response_code = ResponseCode::BADVERS;
            return send_error(request, handle, metadata, edns, signer.as_mut(), now, rate).await;
        }
        if request.metadata.op_code != OpCode::Query {
            metadata.response_code = ResponseCode::NotImp;
            return send_error(request, handle, metadata, edns, signer.as_mut(), now, rate).await;
        }
        // RFC 9619 constrains "the allowed value of the QDCOUNT parameter in DNS messages with
        // OPCODE = 0 (QUERY) to a maximum of one"; with none there is nothing to answer.
        let [query] = request.queries.queries() else {
            metadata.response_code = ResponseCode::FormErr;
            return send_error(request, handle, metadata, edns, signer.as_mut(), now, rate).await;
        };
        let qtype = query.query_type();
        let qname: &Name = query.name();
        if query.query_class() == DNSClass::IN
            && matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            return self
                .transfer(&snapshot, request, handle, metadata, edns, signer, now)
                .await;
        }
        if query.query_class() != DNSClass::IN {
            metadata.response_code = ResponseCode::Refused;
            return send_error(request, handle, metadata, edns, signer.as_mut(), now, rate).await;
        }

        let zone = snapshot.catalog().find_for_query(qname, qtype).cloned();
        let Some(zone) = zone else {
            trace!(%qname, %qtype, "query outside our zones: REFUSED");
            metadata.response_code = ResponseCode::Refused;
            return send_error(request, handle, metadata, edns, signer.as_mut(), now, rate).await;
        };
        let mut answer = query::answer(&zone, qname, qtype, dnssec_ok);
        trace_answer(qname, qtype, dnssec_ok, &answer);
        metadata.authoritative = answer.authoritative;
        metadata.response_code = answer.rcode;

        let (class, class_name) = classify(&answer, &zone, qname, qtype);
        match rate.verdict(class, class_name) {
            Verdict::Send => {}
            Verdict::Drop => return Ok(unsent(metadata)),
            Verdict::Slip => {
                // As NSD slips: the answer's header with TC=1 and no records.
                metadata.truncation = true;
                return send_empty(request, handle, metadata, edns, signer.as_mut(), now).await;
            }
        }

        let mut limit = request_size_limit(request, snapshot.udp_payload_cap());
        if signer.is_some() {
            limit = limit.saturating_sub(TSIG_ROOM);
        }
        let bound = HEADER_LEN
            + request.queries.as_bytes().len()
            + answer.size_bound()
            + edns.map_or(0, |_| opt_len);
        // The bound ignores compression; only when it is over the limit do we encode to learn
        // the real size. The optional additional records go first (RFC 2181 §9).
        if bound > limit
            && !fits(&request.queries, edns, metadata, &answer, limit)
            && (answer.optional.is_empty() || {
                answer.optional.clear();
                !fits(&request.queries, edns, metadata, &answer, limit)
            })
        {
            too_large(datagram, qname, qtype, limit, &mut metadata);
            return send_empty(request, handle, metadata, edns, signer.as_mut(), now).await;
        }
        send_signed(handle, signer.as_mut(), now, || {
            build(&request.queries, edns, metadata, &answer)
        })
        .await
    }

    /// AXFR over TCP, and IXFR over TCP or UDP, to an allowed peer, from one snapshot (the
    /// zone and the journal published with it), in as many messages as needed, each signed
    /// when the request was.
    #[allow(clippy::too_many_arguments)]
    async fn transfer<R: ResponseHandler>(
        &self,
        snapshot: &Snapshot,
        request: &Request,
        handle: &mut R,
        mut metadata: Metadata,
        edns: Option<&Edns>,
        mut signer: Option<ResponseSigner>,
        now: u64,
    ) -> Result<ResponseInfo, NetError> {
        let query = request.queries.queries().first();
        let qname = query.map(|q| &**q.name());
        let ixfr = query.is_some_and(|q| q.query_type() == RecordType::IXFR);
        let datagram = request.protocol().is_datagram();
        // The journal belongs to the snapshot it is served with.
        let (zone, journal) = match qname {
            Some(qname) => {
                let catalog = snapshot.catalog();
                // Name equality ignores case.
                let zone = catalog
                    .find(qname)
                    .filter(|zone| zone.origin() == qname)
                    .cloned();
                let journal = zone
                    .as_ref()
                    .and_then(|zone| catalog.journal(zone.origin()).cloned());
                (zone, journal)
            }
            None => (None, None),
        };
        let key = signer.as_ref().map(|s| s.key_name().clone());
        let src = request.src();
        let allowed = zone.as_ref().is_some_and(|zone| {
            snapshot
                .transfer()
                .allowed(zone.origin(), src.ip(), key.as_ref())
        });
        // RFC 5936 §4.2: "AXFR sessions over UDP transport are not defined"; refuse them. IXFR
        // over UDP is defined (RFC 1995 §2).
        let Some(zone) = zone.filter(|_| allowed && (ixfr || !datagram)) else {
            debug!(
                %src,
                protocol = %request.protocol(),
                key = ?key.as_ref().map(ToString::to_string),
                "zone transfer refused"
            );
            metadata.response_code = ResponseCode::Refused;
            return send_empty(request, handle, metadata, edns, signer.as_mut(), now).await;
        };
        metadata.authoritative = true;
        let empty_journal;
        let journal = match &journal {
            Some(journal) => &**journal,
            None => {
                empty_journal = Journal::new(JournalLimits::default());
                &empty_journal
            }
        };
        let (kind, mut messages, client_serial) = if ixfr {
            // RFC 1995 §3: "The authority section of the IXFR query contains the SOA record
            // of client's version of the zone."
            let client_serial = request.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) if r.name == *zone.origin() => Some(soa.serial),
                _ => None,
            });
            let Some(client_serial) = client_serial else {
                debug!(%src, "IXFR without the client's SOA: FORMERR");
                metadata.response_code = ResponseCode::FormErr;
                return send_empty(request, handle, metadata, edns, signer.as_mut(), now).await;
            };
            match xfr::ixfr_messages(&zone, journal, client_serial) {
                IxfrAnswer::Condensed(soa) => (
                    "IXFR up to date",
                    TransferMessages::new(std::iter::once(soa)),
                    Some(client_serial),
                ),
                IxfrAnswer::Incremental(messages) => ("IXFR", messages, Some(client_serial)),
                IxfrAnswer::Full(messages) => {
                    ("IXFR as full transfer", messages, Some(client_serial))
                }
            }
        } else {
            ("AXFR", xfr::transfer_messages(&zone), None)
        };
        let Some(soa) = zone.soa().and_then(|s| s.rrset.records().first()) else {
            metadata.response_code = ResponseCode::ServFail;
            return send_empty(request, handle, metadata, edns, signer.as_mut(), now).await;
        };
        let log_sent = |kind: &str, messages: usize, records: usize| {
            tracing::info!(
                zone = %zone.origin(),
                serial = zone.serial(),
                client_serial,
                %src,
                protocol = %request.protocol(),
                key = ?key.as_ref().map(ToString::to_string),
                messages,
                records,
                "{kind} sent"
            );
        };
        if datagram {
            // RFC 1995 §2: "If the UDP reply does not fit, the query is responded to with a
            // single SOA record of the server's current version to inform the client that a
            // TCP query should be initiated."
            let mut limit = request_size_limit(request, snapshot.udp_payload_cap());
            if signer.is_some() {
                limit = limit.saturating_sub(TSIG_ROOM);
            }
            let (kind, records) = match (messages.next(), messages.next()) {
                (Some(only), None)
                    if records_fit(&request.queries, edns, metadata, &only, limit) =>
                {
                    (kind, only)
                }
                _ => ("IXFR over UDP too large: SOA only", vec![soa]),
            };
            let info = send_records(
                request,
                handle,
                metadata,
                edns,
                signer.as_mut(),
                now,
                &records,
            )
            .await?;
            log_sent(kind, 1, records.len());
            return Ok(info);
        }
        // Each message is cut, signed and written before the next is cut: the first leaves at
        // once, and only one message is held (the write waits while the client does not read).
        let mut info = None;
        let (mut count, mut records_sent) = (0, 0);
        for records in messages {
            // A slow reader can make a transfer last longer than the TSIG fudge: each message
            // is signed with the time it is sent (RFC 8945 §5.3.1 signs each one afresh).
            let now = if count == 0 {
                now
            } else {
                self.clock.unix_time()
            };
            match send_records(
                request,
                handle,
                metadata,
                edns,
                signer.as_mut(),
                now,
                &records,
            )
            .await
            {
                Ok(sent) => info = Some(sent),
                Err(error) => {
                    tracing::info!(
                        zone = %zone.origin(),
                        %src,
                        messages = count,
                        %error,
                        "{kind} aborted"
                    );
                    return Err(error);
                }
            }
            count += 1;
            records_sent += records.len();
        }
        match info {
            Some(info) => {
                log_sent(kind, count, records_sent);
                Ok(info)
            }
            // Not reached with a SOA (it is always in the first message); answered all the same.
            None => {
                metadata.response_code = ResponseCode::ServFail;
                send_empty(request, handle, metadata, edns, signer.as_mut(), now).await
            }
        }
    }

    /// How a request's responses are rate limited: UDP (`datagram`) only, and neither a valid
    /// server cookie nor a TSIG signature (the request's source is then not spoofed).
    fn rate_limit(
        &self,
        datagram: bool,
        src: IpAddr,
        valid_cookie: bool,
        signed: bool,
    ) -> Limit<'_> {
        let exempt = valid_cookie || signed || !datagram;
        Limit {
            limiter: if exempt { None } else { self.rrl.as_deref() },
            src,
        }
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
        let info = match self.respond(request, &mut response_handle).await {
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
        };
        crate::serve::counters::QUERIES.record(
            request.protocol().is_datagram(),
            request.queries.queries().first().map(|q| q.query_type()),
            info.response_code,
            info.truncation,
        );
        info
    }
}

impl FastPath for Handler {
    /// The common query (see [`wire::request`]) answered without hickory's `Request` and
    /// `MessageResponse`: the same snapshot, engine, cookie answer, rate verdict and size rules
    /// as [`RequestHandler::handle_request`], the response written by [`wire::write_response`].
    fn answer_fast(
        &self,
        request: &[u8],
        src: SocketAddr,
        protocol: Protocol,
        out: &mut Vec<u8>,
    ) -> Option<ResponseInfo> {
        let request = wire::request::parse(request)?;
        let datagram = protocol.is_datagram();
        let info = self.answer_parsed(&request, src, datagram, out);
        crate::serve::counters::QUERIES.record(
            datagram,
            Some(request.qtype),
            info.response_code,
            info.truncation,
        );
        Some(info)
    }
}

impl Handler {
    /// The fast path's answer to `request` from `src`, written into `out` (left empty when the
    /// rate limiter drops it).
    fn answer_parsed(
        &self,
        request: &FastRequest<'_>,
        src: SocketAddr,
        datagram: bool,
        out: &mut Vec<u8>,
    ) -> ResponseInfo {
        let now = self.clock.unix_time();
        // One snapshot for the whole request, as on hickory's path.
        let snapshot = self.snapshot.load();
        let edns = request.edns;
        let dnssec_ok = edns.is_some_and(|edns| edns.dnssec_ok);
        let cookie = edns
            .and_then(|edns| edns.cookie)
            .map(|cookie| self.cookies.answer(&cookie, src.ip(), now));
        let valid_cookie = cookie.as_ref().is_some_and(|c| c.valid);
        let rate = self.rate_limit(datagram, src.ip(), valid_cookie, false);
        // RFC 6891 §6.1.1: a request with an OPT record gets one back.
        let opt = edns.map(|_| Opt {
            payload: snapshot.udp_payload_cap(),
            dnssec_ok,
            cookie: cookie.as_ref().map(|c| c.option.as_slice()),
        });
        let mut metadata = Metadata::new(request.id, MessageType::Response, OpCode::Query);
        metadata.recursion_desired = request.recursion_desired;
        metadata.checking_disabled = request.checking_disabled;
        let (qname, qtype) = (&request.qname, request.qtype);
        let empty = |out: &mut Vec<u8>, metadata: Metadata| {
            let result =
                wire::write_response(out, &metadata, request.question, Sections::default(), opt);
            written(out, metadata, request.question, opt, result)
        };

        let Some(zone) = snapshot.catalog().find_for_query(qname, qtype) else {
            trace!(%qname, %qtype, "query outside our zones: REFUSED");
            metadata.response_code = ResponseCode::Refused;
            match rate.verdict(ResponseClass::Error, None) {
                Verdict::Send => {}
                Verdict::Drop => {
                    out.clear();
                    return unsent(metadata);
                }
                Verdict::Slip => metadata.truncation = true,
            }
            return empty(out, metadata);
        };
        let answer = query::answer(zone, qname, qtype, dnssec_ok);
        trace_answer(qname, qtype, dnssec_ok, &answer);
        metadata.authoritative = answer.authoritative;
        metadata.response_code = answer.rcode;

        let (class, class_name) = classify(&answer, zone, qname, qtype);
        match rate.verdict(class, class_name) {
            Verdict::Send => {}
            Verdict::Drop => {
                out.clear();
                return unsent(metadata);
            }
            Verdict::Slip => {
                metadata.truncation = true;
                return empty(out, metadata);
            }
        }
        let limit = size_limit(
            datagram,
            edns.map(|edns| edns.payload),
            snapshot.udp_payload_cap(),
        );
        let mut sections = Sections {
            answers: &answer.answers,
            authorities: &answer.authorities,
            additionals: &answer.additionals,
            optional: &answer.optional,
        };
        let mut written_once =
            wire::write_response(out, &metadata, request.question, sections, opt);
        let over = |result: &Result<ResponseInfo, WireError>, out: &Vec<u8>| match result {
            Ok(_) => out.len() > limit,
            Err(error) => matches!(error, WireError::TooLong),
        };
        if over(&written_once, out) && !sections.optional.is_empty() {
            // The optional additional records go first (RFC 2181 §9).
            sections.optional = &[];
            written_once = wire::write_response(out, &metadata, request.question, sections, opt);
        }
        match written_once {
            Ok(info) if out.len() <= limit => info,
            Ok(_) | Err(WireError::TooLong) => {
                too_large(datagram, qname, qtype, limit, &mut metadata);
                empty(out, metadata)
            }
            Err(error) => written(out, metadata, request.question, opt, Err(error)),
        }
    }
}

/// The header of a response the fast path wrote; when it could not be written, a SERVFAIL
/// with the question and the OPT record (RFC 6891 §6.1.1) but no records instead.
fn written(
    out: &mut Vec<u8>,
    mut metadata: Metadata,
    question: &[u8],
    opt: Option<Opt<'_>>,
    result: Result<ResponseInfo, WireError>,
) -> ResponseInfo {
    let error = match result {
        Ok(info) => return info,
        Err(error) => error,
    };
    static ENCODE: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
    if let Some(suppressed) = ENCODE.admit() {
        tracing::warn!(%error, id = metadata.id, suppressed, "cannot encode a response: SERVFAIL");
    }
    metadata.response_code = ResponseCode::ServFail;
    match wire::write_response(out, &metadata, question, Sections::default(), opt) {
        Ok(info) => info,
        // The request's question and our OPT always fit in a message.
        Err(_) => unsent(metadata),
    }
}

/// A response with `records` as its answer section, signed when `signer` is given.
async fn send_records<R: ResponseHandler>(
    request: &Request,
    handle: &mut R,
    metadata: Metadata,
    edns: Option<&Edns>,
    signer: Option<&mut ResponseSigner>,
    now: u64,
    records: &[&Record],
) -> Result<ResponseInfo, NetError> {
    send_signed(handle, signer, now, || {
        MessageResponseBuilder::new(&request.queries, edns).build(
            metadata,
            records.iter().copied(),
            std::iter::empty(),
            std::iter::empty(),
            std::iter::empty(),
        )
    })
    .await
}

/// An error response (no records), unless the rate limiter holds it back: dropped, or sent
/// with TC=1.
async fn send_error<R: ResponseHandler>(
    request: &Request,
    handle: &mut R,
    mut metadata: Metadata,
    edns: Option<&Edns>,
    signer: Option<&mut ResponseSigner>,
    now: u64,
    rate: Limit<'_>,
) -> Result<ResponseInfo, NetError> {
    match rate.verdict(ResponseClass::Error, None) {
        Verdict::Send => {}
        Verdict::Drop => return Ok(unsent(metadata)),
        Verdict::Slip => metadata.truncation = true,
    }
    send_empty(request, handle, metadata, edns, signer, now).await
}

/// What a response that was never sent would have been, for the caller's bookkeeping.
fn unsent(metadata: Metadata) -> ResponseInfo {
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

/// The rate limiting class of `answer` and the name it counts for (NSD's `rrl_classify`).
fn classify<'n>(
    answer: &'n Answer<'_>,
    zone: &'n daned_sign::zone::SignedZone,
    qname: &'n Name,
    qtype: RecordType,
) -> (ResponseClass, Option<&'n Name>) {
    let origin = Some(zone.origin());
    if answer.rcode == ResponseCode::NXDomain {
        return (ResponseClass::NxDomain, origin);
    }
    if answer.rcode != ResponseCode::NoError {
        return (ResponseClass::Error, origin);
    }
    if !answer.authoritative {
        let cut = answer.authorities.first().map(|r| &r.name);
        return (ResponseClass::Referral, cut.or(origin));
    }
    match qtype {
        RecordType::ANY => return (ResponseClass::Any, Some(qname)),
        RecordType::RRSIG => return (ResponseClass::Rrsig, Some(qname)),
        _ => {}
    }
    // Wildcard expansions are the only owned records of an answer section.
    if answer.answers.iter().any(|r| matches!(r, Cow::Owned(_))) {
        return (ResponseClass::Wildcard, origin);
    }
    if answer.answers.is_empty() {
        return (ResponseClass::NoData, origin);
    }
    if qtype == RecordType::DNSKEY {
        return (ResponseClass::Dnskey, Some(qname));
    }
    (ResponseClass::Positive, Some(qname))
}

/// A response with the question (and OPT) but no records, signed when `signer` is given.
async fn send_empty<R: ResponseHandler>(
    request: &Request,
    handle: &mut R,
    metadata: Metadata,
    edns: Option<&Edns>,
    signer: Option<&mut ResponseSigner>,
    now: u64,
) -> Result<ResponseInfo, NetError> {
    send_signed(handle, signer, now, || {
        MessageResponseBuilder::new(&request.queries, edns).build_no_records(metadata)
    })
    .await
}

/// Sends the response `build` makes; with a signer, encodes it once to compute the MAC over
/// the exact bytes (the encoding is deterministic and the TSIG RR goes last) and sends it again
/// with the TSIG RR.
async fn send_signed<'q, 'a, R, F, A, N, S, D>(
    handle: &mut R,
    signer: Option<&mut ResponseSigner>,
    now: u64,
    build: F,
) -> Result<ResponseInfo, NetError>
where
    R: ResponseHandler,
    F: Fn() -> MessageResponse<'q, 'a, A, N, S, D>,
    A: Iterator<Item = &'a Record> + Send + 'a,
    N: Iterator<Item = &'a Record> + Send + 'a,
    S: Iterator<Item = &'a Record> + Send + 'a,
    D: Iterator<Item = &'a Record> + Send + 'a,
{
    let Some(signer) = signer else {
        return handle.send_response(build()).await;
    };
    let mut buf = Vec::with_capacity(1024);
    let mut encoder = BinEncoder::new(&mut buf);
    build()
        .destructive_emit(&mut encoder)
        .map_err(|e| NetError::from(format!("encoding a signed response: {e}")))?;
    let tsig = signer
        .sign(&buf, now)
        .ok_or_else(|| NetError::from("a response without a header"))?;
    let mut response = build();
    response.set_signature(tsig);
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
        answer.additional_section(),
    )
}

/// Whether a response with `records` as its answer section, compressed as hickory will send
/// it, fits in `limit` bytes.
fn records_fit(
    queries: &Queries,
    edns: Option<&Edns>,
    metadata: Metadata,
    records: &[&Record],
    limit: usize,
) -> bool {
    let mut buf = Vec::with_capacity(limit);
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_max_size(u16::try_from(limit).unwrap_or(u16::MAX));
    let response = MessageResponseBuilder::new(queries, edns).build(
        metadata,
        records.iter().copied(),
        std::iter::empty(),
        std::iter::empty(),
        std::iter::empty(),
    );
    match response.destructive_emit(&mut encoder) {
        Ok(info) => !info.truncation,
        Err(_) => false,
    }
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

/// The largest response the client can take: RFC 6891 §6.2.5 "Values lower than 512 MUST
/// be treated as equal to 512", and never more than our own cap; 512 without EDNS (no
/// `payload`; RFC 1035 §4.2.1); 65535 over TCP (not `datagram`).
fn size_limit(datagram: bool, payload: Option<u16>, udp_payload_cap: u16) -> usize {
    if !datagram {
        return usize::from(u16::MAX);
    }
    let limit = match payload {
        Some(payload) => payload.min(udp_payload_cap).max(CLASSIC_UDP_LIMIT),
        None => CLASSIC_UDP_LIMIT,
    };
    usize::from(limit)
}

/// [`size_limit`] for a request hickory parsed.
fn request_size_limit(request: &Request, udp_payload_cap: u16) -> usize {
    size_limit(
        request.protocol().is_datagram(),
        request.edns.as_ref().map(Edns::max_payload),
        udp_payload_cap,
    )
}

/// Turns `metadata` into the answer to a response that does not fit `limit`: over UDP an empty
/// TC=1 (RFC 2181 §9: the client retries over TCP); over TCP, where TC would send the client
/// back to TCP, SERVFAIL, as Knot answers.
fn too_large(
    datagram: bool,
    qname: &Name,
    qtype: RecordType,
    limit: usize,
    metadata: &mut Metadata,
) {
    if datagram {
        trace!(%qname, %qtype, limit, "response too large: TC");
        metadata.truncation = true;
    } else {
        static TOO_LARGE: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
        if let Some(suppressed) = TOO_LARGE.admit() {
            tracing::warn!(%qname, %qtype, suppressed, "response larger than 64 KiB: SERVFAIL");
        }
        metadata.response_code = ResponseCode::ServFail;
        metadata.authoritative = false;
    }
}

/// The trace line of every answered query, on both paths.
fn trace_answer(qname: &Name, qtype: RecordType, dnssec_ok: bool, answer: &Answer<'_>) {
    trace!(
        %qname,
        %qtype,
        dnssec_ok,
        rcode = %answer.rcode,
        records = answer.record_count(),
        "query"
    );
}

#[cfg(test)]
pub(crate) mod tests;
