//! PEM armour (RFC 7468): the crate's one reader and writer of it, for certificate chains
//! ([`crate::tlsa`]), staged next keys ([`crate::spki`]) and PKCS#8 keys ([`crate::keys`]).
//! The framing and base64 are the `pem` crate's; this module adds what the callers share: the
//! test for PEM versus DER, the refusal of a block that begins but never ends, the label check,
//! and `\n` line endings on output.

/// The start of a BEGIN line (RFC 7468 §2); input without one is taken as DER.
const BEGIN: &[u8] = b"-----BEGIN ";
/// The start of an END line.
const END: &[u8] = b"-----END ";

/// Why PEM text was refused. Each caller puts the reason in its own [`crate::SignError`]
/// variant, as text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PemError {
    /// The `pem` crate refused the text.
    #[error("bad PEM: {0}")]
    Malformed(pem::PemError),
    /// More BEGIN lines than complete blocks: a block that never ends, which is what a file
    /// caught half-written looks like.
    #[error("truncated PEM: {begins} BEGIN lines but only {complete} complete blocks")]
    Truncated {
        /// BEGIN lines in the text.
        begins: usize,
        /// Blocks with their END line.
        complete: usize,
    },
    /// The block has another label than the one asked for.
    #[error("PEM label is {found:?}, expected {expected:?}")]
    Label {
        /// The label found.
        found: String,
        /// The label asked for.
        expected: &'static str,
    },
    /// The block holds no bytes.
    #[error("the PEM block is empty")]
    Empty,
}

/// Whether `data` holds a PEM BEGIN line anywhere (text before it, such as OpenSSL's
/// `Bag Attributes`, is allowed).
pub(crate) fn is_pem(data: &[u8]) -> bool {
    data.windows(BEGIN.len()).any(|w| w == BEGIN)
}

/// Every block of `data`, in order.
///
/// # Errors
///
/// [`PemError::Malformed`] when the `pem` crate refuses the text, [`PemError::Truncated`]
/// when a block begins but never ends: `pem::parse_many` silently drops such a block, so the
/// BEGIN lines are counted and a cut file is never read as if it were whole.
pub(crate) fn parse_blocks(data: &[u8]) -> Result<Vec<pem::Pem>, PemError> {
    let blocks = pem::parse_many(data).map_err(PemError::Malformed)?;
    let begins = data.windows(BEGIN.len()).filter(|w| *w == BEGIN).count();
    if blocks.len() < begins {
        return Err(PemError::Truncated {
            begins,
            complete: blocks.len(),
        });
    }
    Ok(blocks)
}

/// Whether a cut inside the BEGIN line of a later block left a bare run of dashes after the
/// last complete block (which [`parse_blocks`] cannot count as a BEGIN line).
pub(crate) fn has_partial_line_after_last_block(data: &[u8]) -> bool {
    after_last_end_line(data).is_some_and(|tail| tail.trim_ascii_start().starts_with(b"-"))
}

/// The contents of the first block of `text`, which must have `label` and hold some bytes.
///
/// # Errors
///
/// [`PemError::Malformed`] when there is no block, [`PemError::Label`] for another label,
/// [`PemError::Empty`] for an empty block.
pub(crate) fn parse_one(text: &str, label: &'static str) -> Result<Vec<u8>, PemError> {
    let block = pem::parse(text).map_err(PemError::Malformed)?;
    if block.tag() != label {
        return Err(PemError::Label {
            found: block.tag().to_owned(),
            expected: label,
        });
    }
    if block.contents().is_empty() {
        return Err(PemError::Empty);
    }
    Ok(block.into_contents())
}

/// `der` as one PEM block with `label`, 64-character lines and `\n` line endings.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The bytes after the `-----END ...-----` line of the last complete block, if there is one.
fn after_last_end_line(data: &[u8]) -> Option<&[u8]> {
    let start = data.windows(END.len()).rposition(|w| w == END)? + END.len();
    let rest = &data[start..];
    let close = rest.windows(5).position(|w| w == b"-----")? + 5;
    Some(&rest[close..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "-----BEGIN PRIVATE KEY-----\nAQID\n-----END PRIVATE KEY-----\n";

    #[test]
    fn rfc7468_s2_encode_then_parse_one_round_trips_with_lf_endings() {
        let text = encode("PRIVATE KEY", &[1, 2, 3]);
        assert_eq!(text, BLOCK);
        assert_eq!(parse_one(&text, "PRIVATE KEY").ok(), Some(vec![1, 2, 3]));
        assert!(is_pem(text.as_bytes()));
        assert!(!is_pem(&[0x30, 0x03, 0x02, 0x01, 0x00]));
    }

    #[test]
    fn parse_one_checks_the_label_and_refuses_an_empty_block() {
        assert!(matches!(
            parse_one(BLOCK, "CERTIFICATE"),
            Err(PemError::Label { ref found, expected: "CERTIFICATE" }) if found == "PRIVATE KEY"
        ));
        let empty = "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            parse_one(empty, "PRIVATE KEY"),
            Err(PemError::Empty)
        ));
        assert!(matches!(
            parse_one("no armour here", "PRIVATE KEY"),
            Err(PemError::Malformed(_))
        ));
    }

    #[test]
    fn a_block_without_its_end_line_is_truncated_not_dropped() {
        let cut = format!("{BLOCK}-----BEGIN CERTIFICATE-----\nAQID\n");
        assert!(matches!(
            parse_blocks(cut.as_bytes()),
            Err(PemError::Truncated {
                begins: 2,
                complete: 1
            })
        ));
        assert_eq!(
            parse_blocks(BLOCK.as_bytes()).map(|b| b.len()).ok(),
            Some(1)
        );
        assert!(has_partial_line_after_last_block(
            format!("{BLOCK}-----BEG").as_bytes()
        ));
        assert!(!has_partial_line_after_last_block(BLOCK.as_bytes()));
    }
}
