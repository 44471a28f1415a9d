//! Checks a request's raw bytes before hickory parses them, for UDP and TCP alike.
//!
//! hickory's parser trusts the header's counts (65,535 questions in a 29-byte packet reserved
//! room for all of them: an 11 MB allocation), logs a WARN line for every packet with a
//! malformed EDNS option, and keeps the question's bytes to echo them: a question whose name is
//! a compression pointer into the header was sent back verbatim and made the response
//! unparsable. Here every count is checked against the bytes there are, the question's name
//! must be plain labels, and every record must fit, the OPT record's options exactly; a request
//! that fails gets a FORMERR of the bare header (no question echoed), and the reason is logged at
//! most once per 10 s.
//!
//! Two things hickory would log a WARN line for on every packet are rewritten in place instead,
//! as daned uses neither: a DAU option (RFC 6975) gets a code from the local-use range (hickory
//! warns once per algorithm number it does not know), and a SIG record (SIG(0), RFC 2931) in the
//! additional section gets a private-use type (hickory warns that it does not support SIG(0)).
//! Neither changes the answer: daned answers such requests unauthenticated, as before. A
//! TSIG-signed request is left as it is (its MAC covers these bytes).

use std::net::SocketAddr;

use crate::serve::ratelog::{LOG_INTERVAL, RateLimitedLog};

/// The fixed header of every DNS message.
const HEADER_LEN: usize = 12;
/// The smallest question: the root name (1), type (2), class (2).
const MIN_QUESTION: usize = 5;
/// The smallest record: the root name (1), type, class, TTL, RDLENGTH (10).
const MIN_RECORD: usize = 11;
/// The OPT pseudo-record's type (RFC 6891 §6.1.1).
const OPT: u16 = 41;
/// The SIG record's type (RFC 2535; SIG(0), RFC 2931).
const SIG: u16 = 24;
/// Where a SIG record's type is moved: the private-use range (RFC 6895 §3.1).
const SIG_MOVED: u16 = 0xff00;
/// The DAU option's code (RFC 6975 §3).
const DAU: u16 = 5;
/// Where a DAU option's code is moved: the local/experimental range (RFC 6891 §9).
const DAU_MOVED: u16 = 65001;
/// The TSIG record's type (RFC 8945).
const TSIG: u16 = 250;

/// What to do with a request before parsing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screened {
    /// Parse and answer it.
    Pass,
    /// Shorter than a header, or a response: ignore it (as hickory's server does).
    Drop,
    /// Malformed: send this FORMERR, the request's header with no question.
    FormErr(Vec<u8>, &'static str),
}

/// Checks `message` from `src` (rewriting what hickory would warn about); logs (rate-limited)
/// what makes it malformed.
pub fn screen(message: &mut [u8], src: SocketAddr) -> Screened {
    let screened = check(message);
    if let Screened::FormErr(_, reason) = &screened {
        static MALFORMED: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
        if let Some(suppressed) = MALFORMED.admit() {
            tracing::info!(%src, reason, suppressed, "malformed request: FORMERR");
        }
    }
    screened
}

fn check(message: &mut [u8]) -> Screened {
    if message.len() < HEADER_LEN {
        return Screened::Drop;
    }
    // QR set: a response; answering it could loop two servers.
    if message[2] & 0x80 != 0 {
        return Screened::Drop;
    }
    let count = |at: usize| usize::from(u16::from_be_bytes([message[at], message[at + 1]]));
    let (questions, answers, authorities, additionals) = (count(4), count(6), count(8), count(10));
    let records = answers + authorities + additionals;
    if questions * MIN_QUESTION + records * MIN_RECORD > message.len() - HEADER_LEN {
        return form_err(message, "the header counts more than the message holds");
    }
    // RFC 9619 §4: a QUERY with more than one question is malformed; answering it echoed every
    // question, and past 512 bytes hickory could not even encode the FORMERR (found by the
    // query fuzz target).
    let opcode = (message[2] >> 3) & 0x0f;
    if opcode == 0 && questions > 1 {
        return form_err(message, "more than one question in a query (RFC 9619)");
    }
    let mut at = HEADER_LEN;
    // Where a type or option code is to be moved out of hickory's way: (offset, new value).
    let mut moves: Vec<(usize, u16)> = Vec::new();
    let mut signed = false;
    for _ in 0..questions {
        at = match question_name_end(message, at) {
            Ok(end) => end + 4,
            Err(reason) => return form_err(message, reason),
        };
        if at > message.len() {
            return form_err(message, "a question is cut short");
        }
    }
    for index in 0..records {
        let Some(end) = record_name_end(message, at) else {
            return form_err(message, "a record's owner name is malformed");
        };
        let Some(fixed) = message.get(end..end + 10) else {
            return form_err(message, "a record is cut short");
        };
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        if message.len() < end + 10 + rdlength {
            return form_err(message, "a record's data is cut short");
        }
        let additional = index >= answers + authorities;
        signed |= rtype == TSIG;
        if additional && rtype == SIG {
            moves.push((end, SIG_MOVED));
        }
        if rtype == OPT
            && additional
            && !options_fit(
                &message[end + 10..end + 10 + rdlength],
                end + 10,
                &mut moves,
            )
        {
            return form_err(message, "a malformed EDNS option");
        }
        at = end + 10 + rdlength;
    }
    if !signed {
        for (offset, value) in moves {
            message[offset..offset + 2].copy_from_slice(&value.to_be_bytes());
        }
    }
    Screened::Pass
}

/// Where the question's name starting at `at` ends. A query's question has no earlier name to
/// point to, so a compression pointer there can only point into the header or forward.
fn question_name_end(message: &[u8], mut at: usize) -> Result<usize, &'static str> {
    let mut length = 0;
    loop {
        let Some(&label) = message.get(at) else {
            return Err("a question name is cut short");
        };
        match label {
            0 => return Ok(at + 1),
            1..=63 => {
                length += usize::from(label) + 1;
                if length > 254 {
                    return Err("a question name is longer than 255 bytes");
                }
                at += usize::from(label) + 1;
            }
            0xc0..=0xff => return Err("a compression pointer in the question"),
            _ => return Err("an unknown label type in the question"),
        }
    }
}

/// Where the record owner name starting at `at` ends: labels, then a root label or a pointer
/// to an earlier offset (not followed; hickory checks where it leads).
fn record_name_end(message: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..128 {
        let label = *message.get(at)?;
        match label {
            0 => return Some(at + 1),
            1..=63 => at += usize::from(label) + 1,
            0xc0..=0xff => {
                let low = *message.get(at + 1)?;
                let target = usize::from(u16::from_be_bytes([label & 0x3f, low]));
                return (target < at).then_some(at + 2);
            }
            _ => return None,
        }
    }
    None
}

/// Whether `rdata` (at `offset` in the message) is a sequence of whole EDNS options (RFC 6891
/// §6.1.2: code, length, data); notes where a DAU option's code is.
fn options_fit(rdata: &[u8], offset: usize, moves: &mut Vec<(usize, u16)>) -> bool {
    let mut at = 0;
    while at < rdata.len() {
        let Some(header) = rdata.get(at..at + 4) else {
            return false;
        };
        let code = u16::from_be_bytes([header[0], header[1]]);
        let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if rdata.len() < at + 4 + length {
            return false;
        }
        if code == DAU {
            moves.push((offset + at, DAU_MOVED));
        }
        at += 4 + length;
    }
    true
}

fn form_err(message: &[u8], reason: &'static str) -> Screened {
    Screened::FormErr(form_err_response(message), reason)
}

/// A FORMERR answer to `message` (at least a header long): its ID, opcode and RD, QR set, no
/// sections.
pub fn form_err_response(message: &[u8]) -> Vec<u8> {
    let mut response = vec![0u8; HEADER_LEN];
    let id = message.get(..2).unwrap_or(&[0, 0]);
    response[..2].copy_from_slice(id);
    // QR, the request's opcode and RD; RCODE 1 (FORMERR).
    response[2] = 0x80 | (message.get(2).copied().unwrap_or(0) & 0x79);
    response[3] = 1;
    response
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Message, ResponseCode};

    use super::*;

    fn query(name_wire: &[u8], extra: &[u8], counts: [u16; 4]) -> Vec<u8> {
        let mut message = vec![0x12, 0x34, 0x01, 0x00];
        for count in counts {
            message.extend_from_slice(&count.to_be_bytes());
        }
        message.extend_from_slice(name_wire);
        message.extend_from_slice(&[0, 1, 0, 1]);
        message.extend_from_slice(extra);
        message
    }

    fn expect_form_err(message: &[u8]) -> &'static str {
        match check(&mut message.to_vec()) {
            Screened::FormErr(response, reason) => {
                let parsed = Message::from_vec(&response).expect("the FORMERR parses");
                assert_eq!(parsed.metadata.response_code, ResponseCode::FormErr);
                assert_eq!(parsed.metadata.id, 0x1234);
                assert!(parsed.queries.is_empty(), "no question echoed");
                reason
            }
            other => panic!("expected FORMERR, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_query_with_edns_passes() {
        let opt = [
            0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        let message = query(b"\x03www\x07example\x00", &opt, [1, 0, 0, 1]);
        assert_eq!(check(&mut message.clone()), Screened::Pass);
    }

    #[test]
    fn issue_11_question_count_beyond_the_message_is_formerr_before_parsing() {
        // A 29-byte packet claiming 65,535 questions.
        let message = query(b"\x0bexample-com\x00", &[], [65535, 0, 0, 0]);
        assert_eq!(message.len(), 29);
        let reason = expect_form_err(&message);
        assert!(reason.contains("counts"), "{reason}");
        let message = query(b"\x07example\x00", &[], [1, 0, 0, 65535]);
        expect_form_err(&message);
    }

    /// RFC 9619 §4: "A DNS message with OPCODE = 0 (QUERY) MUST NOT include a QDCOUNT
    /// parameter whose value is greater than 1."
    #[test]
    fn rfc9619_s4_a_query_with_two_questions_is_formerr_without_echo() {
        let mut two = b"\x07example\x00".to_vec();
        two.extend_from_slice(&[0, 1, 0, 1]);
        two.extend_from_slice(b"\x07example\x00");
        let message = query(&two, &[], [2, 0, 0, 0]);
        let reason = expect_form_err(&message);
        assert!(reason.contains("RFC 9619"), "{reason}");
    }

    #[test]
    fn issue_11_rfc1035_s4_1_4_question_pointing_into_the_header_is_formerr_without_echo() {
        let message = query(&[0xc0, 0x04], &[], [1, 0, 0, 0]);
        let reason = expect_form_err(&message);
        assert!(reason.contains("pointer"), "{reason}");
    }

    #[test]
    fn issue_11_rfc6891_s6_1_2_malformed_edns_option_is_formerr() {
        // An option claiming 100 bytes in an RDATA of 6.
        let opt = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 100, 1, 2];
        let message = query(b"\x07example\x00", &opt, [1, 0, 0, 1]);
        let reason = expect_form_err(&message);
        assert!(reason.contains("EDNS"), "{reason}");
    }

    #[test]
    fn short_packets_and_responses_are_dropped() {
        assert_eq!(check(&mut [0; 11]), Screened::Drop);
        let mut response = query(b"\x00", &[], [1, 0, 0, 0]);
        response[2] |= 0x80;
        assert_eq!(check(&mut response), Screened::Drop);
    }

    #[test]
    fn records_cut_short_and_forward_pointers_are_formerr() {
        let message = query(b"\x00", &[0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1], [1, 0, 0, 1]);
        expect_form_err(&message);
        let message = query(
            b"\x00",
            &[0xc0, 0x40, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0],
        );
        expect_form_err(&message);
    }

    #[test]
    fn dau_options_and_sig_records_are_moved_out_of_hickorys_way() {
        // RFC 6975 DAU listing an algorithm hickory does not know (200), and a SIG(0) record.
        let opt = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 5, 0, 5, 0, 1, 200];
        let sig = [0, 0, 24, 0, 1, 0, 0, 0, 0, 0, 2, 1, 2];
        let mut extra = opt.to_vec();
        extra.extend_from_slice(&sig);
        let mut message = query(b"\x07example\x00", &extra, [1, 0, 0, 2]);
        assert_eq!(check(&mut message), Screened::Pass);
        let parsed = Message::from_vec(&message).expect("parses");
        let edns = parsed.edns.as_ref().expect("OPT");
        assert!(
            edns.options()
                .as_ref()
                .iter()
                .all(|(code, _)| u16::from(*code) == DAU_MOVED)
        );
        assert_eq!(
            parsed.additionals[0].record_type(),
            hickory_proto::rr::RecordType::Unknown(SIG_MOVED)
        );
    }

    #[test]
    fn a_tsig_signed_request_is_left_as_it_is() {
        // Its MAC covers every byte: nothing is moved.
        let opt = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 5, 0, 5, 0, 1, 200];
        let tsig = [0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 2, 9, 9];
        let mut extra = opt.to_vec();
        extra.extend_from_slice(&tsig);
        let original = query(b"\x07example\x00", &extra, [1, 0, 0, 2]);
        let mut message = original.clone();
        assert_eq!(check(&mut message), Screened::Pass);
        assert_eq!(message, original);
    }
}
