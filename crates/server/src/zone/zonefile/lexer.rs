//! The RFC 1035 §5.1 lexer: splits a master file into entries of tokens, tracking lines.
//!
//! An entry is one logical line: parentheses continue it across line ends, quoted strings keep
//! their spaces, `;` starts a comment. Tokens are byte ranges into the source with their escapes
//! (`\X`, `\DDD`) left in place; the parser decodes them where it knows what the token is.

/// The most fields one entry may have. RDATA is at most 65,535 octets and few fields encode to
/// less than one octet (a hex digit is half of one), so no valid record comes near this; the
/// cap keeps a runaway entry (a file of one open parenthesis) from growing the token list
/// without bound. Fields past it are scanned but not kept, and the entry is an error.
pub(super) const MAX_ENTRY_FIELDS: usize = 1 << 18;

/// One token: a byte range of the source, the line it starts on, and whether it was quoted.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tok {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) line: usize,
    pub(super) quoted: bool,
}

/// The head of an entry the lexer produced (its tokens are in the caller's buffer).
#[derive(Clone, Copy, Debug)]
pub(super) struct EntryHead {
    /// The line of the entry's first token.
    pub(super) line: usize,
    /// The physical line began with a blank: the entry has no owner field.
    pub(super) blank_owner: bool,
}

/// A lexical error and the line it belongs to.
#[derive(Debug)]
pub(super) struct LexError {
    pub(super) line: usize,
    pub(super) message: String,
}

/// Splits source bytes into entries.
pub(super) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a [u8]) -> Self {
        Self {
            src,
            pos: 0,
            line: 1,
        }
    }

    /// The next entry with at least one token, its tokens written to `toks`; `None` at the end.
    pub(super) fn next_entry(
        &mut self,
        toks: &mut Vec<Tok>,
    ) -> Option<Result<EntryHead, LexError>> {
        let src = self.src;
        loop {
            toks.clear();
            if self.pos >= src.len() {
                return None;
            }
            let blank_owner = matches!(src[self.pos], b' ' | b'\t');
            let mut depth = 0usize;
            let mut open_line = 0usize;
            // Whether the entry had more fields than the cap.
            let mut overflow = false;
            loop {
                let Some(&b) = src.get(self.pos) else {
                    if depth > 0 {
                        return Some(Err(LexError {
                            line: open_line,
                            message: "unterminated parenthesis: '(' is never closed".into(),
                        }));
                    }
                    break;
                };
                match b {
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b';' => {
                        while self.pos < src.len() && src[self.pos] != b'\n' {
                            self.pos += 1;
                        }
                    }
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b'(' => {
                        if depth == 0 {
                            open_line = self.line;
                        }
                        depth += 1;
                        self.pos += 1;
                    }
                    b')' => {
                        if depth == 0 {
                            let line = self.line;
                            self.skip_line();
                            return Some(Err(LexError {
                                line,
                                message: "')' without a matching '('".into(),
                            }));
                        }
                        depth -= 1;
                        self.pos += 1;
                    }
                    b'"' => {
                        let line = self.line;
                        self.pos += 1;
                        let start = self.pos;
                        loop {
                            match src.get(self.pos) {
                                None => {
                                    return Some(Err(LexError {
                                        line,
                                        message: "unterminated quoted string".into(),
                                    }));
                                }
                                Some(b'"') => break,
                                Some(b'\\') => {
                                    self.pos += 1;
                                    if src.get(self.pos) == Some(&b'\n') {
                                        self.line += 1;
                                    }
                                    self.pos += 1;
                                }
                                Some(b'\n') => {
                                    self.line += 1;
                                    self.pos += 1;
                                }
                                Some(_) => self.pos += 1,
                            }
                        }
                        push_capped(
                            toks,
                            &mut overflow,
                            Tok {
                                start,
                                end: self.pos,
                                line,
                                quoted: true,
                            },
                        );
                        // Step over the closing quote.
                        self.pos += 1;
                    }
                    _ => {
                        let start = self.pos;
                        while let Some(&c) = src.get(self.pos) {
                            match c {
                                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                                b'\\' => {
                                    self.pos += 1;
                                    if src.get(self.pos) == Some(&b'\n') {
                                        self.line += 1;
                                    }
                                    self.pos = (self.pos + 1).min(src.len());
                                }
                                _ => self.pos += 1,
                            }
                        }
                        let line = self.line;
                        push_capped(
                            toks,
                            &mut overflow,
                            Tok {
                                start,
                                end: self.pos,
                                line,
                                quoted: false,
                            },
                        );
                    }
                }
            }
            if let (Some(first), true) = (toks.first(), overflow) {
                return Some(Err(LexError {
                    line: first.line,
                    message: format!(
                        "the entry has more than {MAX_ENTRY_FIELDS} fields; no record is that long"
                    ),
                }));
            }
            if let Some(first) = toks.first() {
                return Some(Ok(EntryHead {
                    line: first.line,
                    blank_owner,
                }));
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(&b) = self.src.get(self.pos) {
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
                return;
            }
        }
    }
}

/// Keeps `tok` unless the entry already has [`MAX_ENTRY_FIELDS`]; then notes the overflow.
fn push_capped(toks: &mut Vec<Tok>, overflow: &mut bool, tok: Tok) {
    if toks.len() < MAX_ENTRY_FIELDS {
        toks.push(tok);
    } else {
        *overflow = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lexed = Result<(usize, bool, Vec<String>), (usize, String)>;

    fn entries(src: &str) -> Vec<Lexed> {
        let mut lexer = Lexer::new(src.as_bytes());
        let mut toks = Vec::new();
        let mut out = Vec::new();
        while let Some(e) = lexer.next_entry(&mut toks) {
            out.push(match e {
                Ok(head) => Ok((
                    head.line,
                    head.blank_owner,
                    toks.iter()
                        .map(|t| {
                            let s = String::from_utf8_lossy(&src.as_bytes()[t.start..t.end]);
                            if t.quoted {
                                format!("\"{s}\"")
                            } else {
                                s.into_owned()
                            }
                        })
                        .collect(),
                )),
                Err(e) => Err((e.line, e.message)),
            });
        }
        out
    }

    /// RFC 1035 §5.1: "parentheses can be used to continue a list of items across a line
    /// boundary, and text literals can contain CRLF within the text."
    #[test]
    fn rfc1035_s5_1_parentheses_and_comments_span_lines() {
        let got = entries("; c\n\n@ IN SOA a b (\n 1 ; serial\n 2 3 4 5 )\n  A 1.2.3.4\n");
        let got: Vec<_> = got.into_iter().map(|e| e.map_err(|e| e.1)).collect();
        assert_eq!(
            got,
            vec![
                Ok((
                    3,
                    false,
                    "@ IN SOA a b 1 2 3 4 5"
                        .split(' ')
                        .map(String::from)
                        .collect()
                )),
                Ok((6, true, vec!["A".into(), "1.2.3.4".into()])),
            ]
        );
    }

    #[test]
    fn rfc1035_s5_1_quoted_string_keeps_spaces_semicolons_and_escaped_quotes() {
        let got = entries("x TXT \"a b; \\\"c\" d\\ e\n");
        assert_eq!(
            got,
            vec![Ok((
                1,
                false,
                vec![
                    "x".into(),
                    "TXT".into(),
                    "\"a b; \\\"c\"".into(),
                    "d\\ e".into()
                ]
            ))]
        );
    }

    #[test]
    fn unterminated_parenthesis_reported_at_its_opening_line() {
        let got = entries("a A 1.2.3.4\nb TXT ( \"x\"\n\"y\"\nc A 1.2.3.4\n");
        assert!(matches!(got[1], Err((2, _))), "{got:?}");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn stray_close_parenthesis_is_an_error_and_lexing_goes_on() {
        let got = entries("a A 1.2.3.4 )\nb A 1.2.3.5\n");
        assert!(matches!(got[0], Err((1, _))), "{got:?}");
        assert!(
            matches!(&got[1], Ok((2, false, t)) if t[0] == "b"),
            "{got:?}"
        );
    }
}
