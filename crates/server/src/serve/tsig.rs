//! RFC 8945 transaction signatures (TSIG) with HMAC-SHA256 and HMAC-SHA512 (ring).
//!
//! Requests are verified from their raw bytes (the MAC covers the message exactly as sent,
//! minus the TSIG RR, with ARCOUNT decremented and the original ID restored, followed by the
//! TSIG variables: §4.3.3). Responses are signed message by message with a [`ResponseSigner`]:
//! the first covers the request MAC, the message and the variables; every later message of a
//! multi-message response (AXFR) covers the previous MAC, the message and the timers only
//! (§5.3.1).

use std::collections::HashMap;
use std::sync::Arc;

use hickory_proto::op::Header;
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError, make_tsig_record};
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use ring::hmac;

use crate::config::{TsigAlgorithmConfig, TsigKeyConfig};

/// The fudge we put in what we sign (RFC 8945 §10: "The RECOMMENDED value is 300 seconds").
pub const FUDGE: u16 = 300;

/// A TSIG key ready to sign and verify.
pub struct TsigKey {
    name: Name,
    algorithm: TsigAlgorithmConfig,
    key: hmac::Key,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TsigKey {
    /// A key from its configuration.
    pub fn new(config: &TsigKeyConfig) -> Self {
        let ring_alg = match config.algorithm {
            TsigAlgorithmConfig::HmacSha256 => hmac::HMAC_SHA256,
            TsigAlgorithmConfig::HmacSha512 => hmac::HMAC_SHA512,
        };
        Self {
            name: config.name.clone(),
            algorithm: config.algorithm,
            key: hmac::Key::new(ring_alg, &config.secret),
        }
    }

    /// The key name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    fn wire_algorithm(&self) -> TsigAlgorithm {
        match self.algorithm {
            TsigAlgorithmConfig::HmacSha256 => TsigAlgorithm::HmacSha256,
            TsigAlgorithmConfig::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }

    fn mac_len(&self) -> usize {
        match self.algorithm {
            TsigAlgorithmConfig::HmacSha256 => 32,
            TsigAlgorithmConfig::HmacSha512 => 64,
        }
    }
}

/// The configured keys, by name.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: HashMap<Name, Arc<TsigKey>>,
}

impl KeyRing {
    /// A key ring of `configs`.
    pub fn new<'a>(configs: impl IntoIterator<Item = &'a TsigKeyConfig>) -> Self {
        Self {
            keys: configs
                .into_iter()
                .map(|c| (c.name.clone(), Arc::new(TsigKey::new(c))))
                .collect(),
        }
    }

    /// The key named `name` (any case: `Name` hashes and compares case-insensitively).
    pub fn get(&self, name: &Name) -> Option<&Arc<TsigKey>> {
        self.keys.get(name)
    }
}

/// A request whose TSIG verified: the key, and what signing its response needs.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The key the request was signed with.
    pub key: Arc<TsigKey>,
    /// The request's MAC.
    pub request_mac: Vec<u8>,
}

/// Why a signed request was refused, with what the error response needs (§5.2).
#[derive(Debug, Clone)]
pub struct Failure {
    /// BADKEY, BADSIG or BADTIME.
    pub error: TsigError,
    /// The key name of the request.
    pub key_name: Name,
    /// The algorithm of the request.
    pub algorithm: TsigAlgorithm,
    /// The request's Time Signed.
    pub time: u64,
    /// For BADTIME only: the key and request MAC, since that answer is signed.
    pub verified: Option<Verified>,
}

/// A request that could not be parsed for TSIG at all (answered FORMERR).
#[derive(Debug, Clone, thiserror::Error)]
#[error("malformed TSIG request: {0}")]
pub struct Malformed(String);

/// The outcome of [`verify_request`].
#[derive(Debug)]
pub enum Outcome {
    /// No TSIG record: an unsigned request.
    Unsigned,
    /// A valid signature.
    Verified(Verified),
    /// A signature that fails (answer as §5.2 says).
    Failed(Box<Failure>),
}

/// The parts of a message that ends in a TSIG RR.
struct Split<'m> {
    /// The header with ARCOUNT decremented and the original ID.
    header: Header,
    /// The message between the header and the TSIG RR.
    body: &'m [u8],
    /// The TSIG RR.
    tsig: Record<TSIG>,
}

/// Splits `raw` into header, body and a final TSIG RR; `Ok(None)` when it has no TSIG RR.
fn split(raw: &[u8]) -> Result<Option<Split<'_>>, Malformed> {
    let mut decoder = BinDecoder::new(raw);
    let Header {
        mut metadata,
        mut counts,
    } = Header::read(&mut decoder).map_err(|e| Malformed(e.to_string()))?;
    if counts.additionals == 0 {
        return Ok(None);
    }
    let body_start = raw.len() - decoder.len();
    for _ in 0..counts.queries {
        hickory_proto::op::Query::read(&mut decoder).map_err(|e| Malformed(e.to_string()))?;
    }
    let before = usize::from(counts.answers)
        + usize::from(counts.authorities)
        + usize::from(counts.additionals)
        - 1;
    for _ in 0..before {
        let record = Record::read(&mut decoder).map_err(|e| Malformed(e.to_string()))?;
        if record.record_type() == hickory_proto::rr::RecordType::TSIG {
            // RFC 8945 §5.1: "If the TSIG RR is not the last record, the server MUST return
            // a FORMERR".
            return Err(Malformed("TSIG RR is not the last record".to_owned()));
        }
    }
    let body_end = raw.len() - decoder.len();
    let record = Record::read(&mut decoder).map_err(|e| Malformed(e.to_string()))?;
    if !decoder.is_empty() {
        return Err(Malformed("trailing bytes after the last record".to_owned()));
    }
    let Some(tsig) = record.map(|data| match data {
        hickory_proto::rr::RData::TSIG(tsig) => Some(tsig),
        _ => None,
    }) else {
        return Ok(None);
    };
    metadata.id = tsig.data.oid;
    counts.additionals -= 1;
    Ok(Some(Split {
        header: Header { metadata, counts },
        body: &raw[body_start..body_end],
        tsig,
    }))
}

/// The MAC input: optional prior MAC, header, body and TSIG variables (all of them, or the
/// timers only).
fn mac_input(
    prior: Option<&[u8]>,
    header: &Header,
    body: &[u8],
    key_name: &Name,
    tsig: &TSIG,
    timers_only: bool,
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(body.len() + 128);
    let mut encoder = BinEncoder::new(&mut buf);
    // Encoding into a Vec cannot fail except on a length over u16, which prior MACs are not.
    let _ = encode_mac_input(
        &mut encoder,
        prior,
        header,
        body,
        key_name,
        tsig,
        timers_only,
    );
    buf
}

fn encode_mac_input(
    encoder: &mut BinEncoder<'_>,
    prior: Option<&[u8]>,
    header: &Header,
    body: &[u8],
    key_name: &Name,
    tsig: &TSIG,
    timers_only: bool,
) -> Result<(), hickory_proto::ProtoError> {
    if let Some(prior) = prior {
        encoder.emit_u16(u16::try_from(prior.len()).unwrap_or(u16::MAX))?;
        encoder.emit_vec(prior)?;
    }
    header.emit(encoder)?;
    encoder.emit_vec(body)?;
    if timers_only {
        encoder.emit_u16((tsig.time >> 32) as u16)?;
        encoder.emit_u32(tsig.time as u32)?;
        encoder.emit_u16(tsig.fudge)?;
    } else {
        tsig.emit_tsig_for_mac(encoder, key_name)?;
    }
    Ok(())
}

/// Verifies the TSIG of the request `raw` at time `now` (seconds since the epoch).
///
/// # Errors
///
/// [`Malformed`] when the message cannot be parsed or the TSIG RR is not last (FORMERR).
pub fn verify_request(raw: &[u8], keys: &KeyRing, now: u64) -> Result<Outcome, Malformed> {
    verify(raw, keys, None, now)
}

fn verify(
    raw: &[u8],
    keys: &KeyRing,
    prior: Option<&[u8]>,
    now: u64,
) -> Result<Outcome, Malformed> {
    let Some(Split { header, body, tsig }) = split(raw)? else {
        return Ok(Outcome::Unsigned);
    };
    let failure = |error, verified| {
        Ok(Outcome::Failed(Box::new(Failure {
            error,
            key_name: tsig.name.clone(),
            algorithm: tsig.data.algorithm.clone(),
            time: tsig.data.time,
            verified,
        })))
    };
    // §5.2.1: "If a non-forwarding server does not recognize the key or algorithm used by the
    // client (or recognizes the algorithm but does not implement it), the server MUST generate
    // an error response with RCODE 9 (NOTAUTH) and TSIG ERROR 17 (BADKEY)."
    let Some(key) = keys.get(&tsig.name) else {
        return failure(TsigError::BadKey, None);
    };
    if key.wire_algorithm() != tsig.data.algorithm {
        return failure(TsigError::BadKey, None);
    }
    // §5.2.2: "If the MAC fails to verify, the server MUST generate an error response ...
    // with RCODE 9 (NOTAUTH) and TSIG ERROR 16 (BADSIG)." We accept only untruncated MACs.
    let input = mac_input(prior, &header, body, &tsig.name, &tsig.data, false);
    if tsig.data.mac.len() != key.mac_len()
        || hmac::verify(&key.key, &input, &tsig.data.mac).is_err()
    {
        return failure(TsigError::BadSig, None);
    }
    let verified = Verified {
        key: Arc::clone(key),
        request_mac: tsig.data.mac.clone(),
    };
    // §5.2.3: "If the server time is outside the time interval specified by the request
    // (which is: Time Signed, plus/minus Fudge), the server MUST generate an error response
    // with RCODE 9 (NOTAUTH) and TSIG ERROR 18 (BADTIME)."
    if now.abs_diff(tsig.data.time) > u64::from(tsig.data.fudge) {
        return failure(TsigError::BadTime, Some(verified));
    }
    Ok(Outcome::Verified(verified))
}

/// Verifies a response `raw` to a request we signed with `key` whose MAC was `request_mac`.
/// True when it carries a valid TSIG by that key within its fudge.
pub fn verify_response(raw: &[u8], key: &Arc<TsigKey>, request_mac: &[u8], now: u64) -> bool {
    let mut ring = KeyRing::default();
    ring.keys.insert(key.name.clone(), Arc::clone(key));
    matches!(
        verify(raw, &ring, Some(request_mac), now),
        Ok(Outcome::Verified(_))
    )
}

/// Signs the messages of one response, in order.
#[derive(Debug)]
pub struct ResponseSigner {
    key: Arc<TsigKey>,
    /// The request MAC before the first message, then the previous message's MAC.
    prior: Vec<u8>,
    first: bool,
    error: Option<TsigError>,
    other: Vec<u8>,
    time: Option<u64>,
}

impl ResponseSigner {
    /// A signer for the response to `request`.
    pub fn new(request: &Verified) -> Self {
        Self {
            key: Arc::clone(&request.key),
            prior: request.request_mac.clone(),
            first: true,
            error: None,
            other: Vec::new(),
            time: None,
        }
    }

    /// The name of the key that signs.
    pub fn key_name(&self) -> &Name {
        &self.key.name
    }

    /// A signer for a BADTIME answer (§5.2.3): "It MUST include the client's current time in
    /// the Time Signed field, the server's current time (an unsigned 48-bit integer) in the
    /// Other Data field, and an Other Len field of 6."
    pub fn bad_time(request: &Verified, client_time: u64, now: u64) -> Self {
        let mut signer = Self::new(request);
        signer.error = Some(TsigError::BadTime);
        signer.other = now.to_be_bytes()[2..].to_vec();
        signer.time = Some(client_time);
        signer
    }

    /// The TSIG RR for the next message, whose bytes as they would be sent without it are
    /// `unsigned` (a whole message: header with ARCOUNT not counting the TSIG RR).
    /// `None` when `unsigned` has no DNS header.
    pub fn sign(&mut self, unsigned: &[u8], now: u64) -> Option<Box<Record<TSIG>>> {
        let (header, body) = split_header(unsigned)?;
        let tsig = TSIG::new(
            self.key.wire_algorithm(),
            self.time.unwrap_or(now),
            FUDGE,
            Vec::new(),
            header.metadata.id,
            self.error,
            self.other.clone(),
        );
        let input = mac_input(
            Some(&self.prior),
            &header,
            body,
            &self.key.name,
            &tsig,
            !self.first,
        );
        let mac = hmac::sign(&self.key.key, &input).as_ref().to_vec();
        self.prior.clone_from(&mac);
        self.first = false;
        Some(Box::new(make_tsig_record(
            self.key.name.clone(),
            tsig.set_mac(mac),
        )))
    }
}

fn split_header(message: &[u8]) -> Option<(Header, &[u8])> {
    let mut decoder = BinDecoder::new(message);
    let header = Header::read(&mut decoder).ok()?;
    Some((header, &message[message.len() - decoder.len()..]))
}

/// Signs a request (a NOTIFY) whose bytes without TSIG are `unsigned`: the TSIG RR and its
/// MAC (needed to verify the response); `None` when `unsigned` has no DNS header.
pub fn sign_request(
    unsigned: &[u8],
    key: &TsigKey,
    now: u64,
) -> Option<(Box<Record<TSIG>>, Vec<u8>)> {
    let (header, body) = split_header(unsigned)?;
    let tsig = TSIG::new(
        key.wire_algorithm(),
        now,
        FUDGE,
        Vec::new(),
        header.metadata.id,
        None,
        Vec::new(),
    );
    let input = mac_input(None, &header, body, &key.name, &tsig, false);
    let mac = hmac::sign(&key.key, &input).as_ref().to_vec();
    Some((
        Box::new(make_tsig_record(
            key.name.clone(),
            tsig.set_mac(mac.clone()),
        )),
        mac,
    ))
}

/// The unsigned TSIG RR of a BADKEY or BADSIG answer (§5.3.2: "the MAC size MUST be zero and
/// the MAC MUST be empty").
pub fn unsigned_error(failure: &Failure, oid: u16) -> Box<Record<TSIG>> {
    Box::new(make_tsig_record(
        failure.key_name.clone(),
        TSIG::new(
            failure.algorithm.clone(),
            failure.time,
            FUDGE,
            Vec::new(),
            oid,
            Some(failure.error),
            Vec::new(),
        ),
    ))
}

/// Appends `tsig` to the message `unsigned` (ARCOUNT incremented): the bytes as sent.
pub fn append(unsigned: &[u8], tsig: &Record<TSIG>) -> Option<Vec<u8>> {
    let mut out = unsigned.to_vec();
    let count = u16::from_be_bytes([*out.get(10)?, *out.get(11)?]).checked_add(1)?;
    out[10..12].copy_from_slice(&count.to_be_bytes());
    // Names in a TSIG RR are not compressed (RFC 8945 §4.2): encode it on its own.
    let record: Record = tsig.clone().into_record_of_rdata();
    let mut tail = Vec::new();
    let mut encoder = BinEncoder::new(&mut tail);
    record.emit(&mut encoder).ok()?;
    out.extend_from_slice(&tail);
    Some(out)
}

#[cfg(test)]
mod tests;
