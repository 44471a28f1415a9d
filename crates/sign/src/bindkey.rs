//! BIND key files: `K<zone>+<alg>+<tag>.key` (the DNSKEY record in master-file syntax) and
//! `K<zone>+<alg>+<tag>.private` (BIND's "Private-key-format: v1.x" fields), read and written.
//!
//! Reading a pair gives a [`SigningKey`] and its PKCS#8 encoding, after checking that the
//! private key's public half is exactly the `.key` file's DNSKEY, so that the key tag and the
//! DS at the parent stay the same. Writing gives back a pair that BIND's tools read.
//!
//! Pure: the caller reads the files and passes their text and names (used only in errors) and,
//! when writing, the creation time.
//!
//! Private key fields per algorithm:
//! - RSA (RFC 3110, RFC 5702): `Modulus`, `PublicExponent`, `PrivateExponent`, `Prime1`,
//!   `Prime2`, `Exponent1`, `Exponent2`, `Coefficient` (base64 big-endian integers).
//! - ECDSA (RFC 6605 §6) and Ed25519 (RFC 8080 §6): `PrivateKey` (the scalar or the seed).

use std::fmt::{self, Write as _};

use data_encoding::BASE64;
use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::dnssec::{Algorithm, PublicKey, PublicKeyBuf};
use hickory_proto::rr::Name;
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use crate::error::SignError;
use crate::keys::{
    KeyAlgorithm, KeyRole, Pkcs8Key, PrivateKeyParts, RsaPrivateParts, SigningKey,
    ecdsa_scalar_len, left_pad,
};

/// An error in a BIND key file, naming the file and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {kind}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct BindKeyError {
    /// The file (as the caller named it).
    pub file: String,
    /// The 1-based line, when the problem is on one line.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: BindKeyErrorKind,
}

/// What is wrong with a BIND key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindKeyErrorKind {
    /// The text does not follow the format.
    #[error("{0}")]
    Syntax(String),
    /// A required field is not there.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// The key's algorithm is not one daned signs with.
    #[error(
        "unsupported algorithm {number} ({name}); daned signs with 8 (RSASHA256), \
         13 (ECDSAP256SHA256), 14 (ECDSAP384SHA384) and 15 (ED25519)"
    )]
    UnsupportedAlgorithm {
        /// The DNSSEC algorithm number.
        number: u8,
        /// Its mnemonic, as the file gives it or as IANA names it.
        name: String,
    },
    /// The `Private-key-format` is not v1.x.
    #[error("unsupported Private-key-format {0:?} (v1.2 and v1.3 are supported)")]
    UnsupportedFormat(String),
    /// The `.key` and `.private` files are not two halves of one key.
    #[error("{0}")]
    Mismatch(String),
    /// The key material was refused.
    #[error("{0}")]
    Key(#[from] SignError),
}

impl BindKeyError {
    fn new(file: &str, line: Option<usize>, kind: BindKeyErrorKind) -> Self {
        Self {
            file: file.to_string(),
            line,
            kind,
        }
    }

    fn syntax(file: &str, line: usize, what: impl Into<String>) -> Self {
        Self::new(file, Some(line), BindKeyErrorKind::Syntax(what.into()))
    }
}

/// The record of a `.key` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindPublicKey {
    /// The owner name: the zone.
    pub owner: Name,
    /// The TTL, when the file gives one (`dnssec-keygen -L`).
    pub ttl: Option<u32>,
    /// The DNSKEY RDATA.
    pub dnskey: DNSKEY,
    /// The line the record starts on.
    pub line: usize,
}

/// The content of a `.private` file. Secret bytes are cleared on drop and never shown by
/// `Debug`.
#[derive(Debug)]
pub struct BindPrivateKey {
    /// The `Private-key-format` value, e.g. `v1.3`.
    pub format: String,
    /// The DNSSEC algorithm number from the `Algorithm` field.
    pub algorithm: u8,
    /// The timing fields (`Created`, `Publish`, `Activate`, ...) as written, in file order.
    /// daned's own key states decide when a key is used; these are only reported.
    pub timing: Vec<(String, String)>,
    /// Other fields daned does not need (e.g. BIND's `Successor`), ignored.
    pub ignored: Vec<String>,
    material: Material,
}

#[derive(Debug)]
enum Material {
    Rsa(RsaPrivateParts),
    /// The `PrivateKey` field (ECDSA scalar or Ed25519 seed) and its line.
    Raw(Secret, usize),
}

/// Secret bytes, cleared on drop.
struct Secret(Zeroizing<Vec<u8>>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes, redacted>)", self.0.len())
    }
}

/// A key read from a BIND pair, ready to store.
#[derive(Debug)]
pub struct ImportedKey {
    /// The zone the key is for (the `.key` record's owner).
    pub owner: Name,
    /// The key, with the same DNSKEY (so the same key tag and DS) as the `.key` file.
    pub key: SigningKey,
    /// Its PKCS#8 encoding, which [`SigningKey::from_pkcs8`] loads back into the same key.
    pub pkcs8: Pkcs8Key,
}

/// BIND's mnemonic for the algorithms daned writes.
fn bind_algorithm_name(algorithm: KeyAlgorithm) -> &'static str {
    match algorithm {
        KeyAlgorithm::RsaSha256 => "RSASHA256",
        KeyAlgorithm::EcdsaP256Sha256 => "ECDSAP256SHA256",
        KeyAlgorithm::EcdsaP384Sha384 => "ECDSAP384SHA384",
        KeyAlgorithm::Ed25519 => "ED25519",
    }
}

/// The timing fields of a v1.3 `.private` file (BIND's `dst_key` metadata).
const TIMING_FIELDS: [&str; 13] = [
    "Created",
    "Publish",
    "Activate",
    "Revoke",
    "Inactive",
    "Delete",
    "DSPublish",
    "SyncPublish",
    "SyncDelete",
    "DSRemoved",
    "PublishCDS",
    "DeleteCDS",
    "Removed",
];

/// The RSA fields of a `.private` file, in RFC 8017 order.
const RSA_FIELDS: [&str; 8] = [
    "Modulus",
    "PublicExponent",
    "PrivateExponent",
    "Prime1",
    "Prime2",
    "Exponent1",
    "Exponent2",
    "Coefficient",
];

/// Reads a `.key` file: `;` comments, then one DNSKEY record
/// (`owner [ttl] [IN] DNSKEY flags 3 algorithm base64...`, parentheses allowed). `file` names the
/// file in errors.
///
/// # Errors
///
/// [`BindKeyError`] with the file and line: no record or more than one, not a DNSKEY, a bad
/// owner, TTL, flags, protocol, algorithm or base64.
pub fn parse_public_key(text: &str, file: &str) -> Result<BindPublicKey, BindKeyError> {
    // Gather the records as (first line, tokens); parentheses join lines into one record.
    let mut records: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut open: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split(';').next().unwrap_or("");
        let mut tokens = Vec::new();
        for piece in content.split_inclusive(['(', ')']) {
            let (body, paren) = match piece.strip_suffix('(') {
                Some(body) => (body, Some('(')),
                None => match piece.strip_suffix(')') {
                    Some(body) => (body, Some(')')),
                    None => (piece, None),
                },
            };
            tokens.extend(body.split_whitespace());
            match (paren, open) {
                (Some('('), Some(_)) => {
                    return Err(BindKeyError::syntax(file, line, "nested '('"));
                }
                (Some('('), None) => open = Some(line),
                (Some(_), None) => return Err(BindKeyError::syntax(file, line, "')' without '('")),
                (Some(_), Some(_)) => open = None,
                (None, _) => {}
            }
        }
        let continues = open.is_some_and(|l| l < line) || (open.is_none() && paren_closed(raw));
        match records.last_mut() {
            Some((_, previous)) if continues => previous.extend(tokens),
            _ if tokens.is_empty() => {}
            _ => records.push((line, tokens)),
        }
    }
    if let Some(line) = open {
        return Err(BindKeyError::syntax(file, line, "'(' is never closed"));
    }
    let Some((line, tokens)) = records.first() else {
        return Err(BindKeyError::new(
            file,
            None,
            BindKeyErrorKind::Syntax("no DNSKEY record (is the file empty or truncated?)".into()),
        ));
    };
    if let Some((second, _)) = records.get(1) {
        return Err(BindKeyError::syntax(
            file,
            *second,
            "a second record; a .key file holds one DNSKEY record",
        ));
    }
    let line = *line;
    let syntax = |what: String| BindKeyError::syntax(file, line, what);
    let mut it = tokens.iter().copied();
    let owner_text = it.next().ok_or_else(|| syntax("empty record".into()))?;
    if !owner_text.ends_with('.') {
        return Err(syntax(format!(
            "owner {owner_text:?} is not absolute (a .key file names its zone with a final dot)"
        )));
    }
    let owner = Name::from_ascii(owner_text)
        .map_err(|e| syntax(format!("bad owner name {owner_text:?}: {e}")))?;
    let mut ttl = None;
    let mut rtype = None;
    for token in it.by_ref().take(3) {
        if token.eq_ignore_ascii_case("IN") {
            continue;
        }
        if ttl.is_none() && token.bytes().all(|b| b.is_ascii_digit()) {
            let value = token
                .parse::<u32>()
                .map_err(|_| syntax(format!("bad TTL {token:?}")))?;
            ttl = Some(value);
            continue;
        }
        rtype = Some(token);
        break;
    }
    match rtype {
        Some(t) if t.eq_ignore_ascii_case("DNSKEY") => {}
        Some(t) => {
            return Err(syntax(format!(
                "record type {t:?}, expected DNSKEY (class IN)"
            )));
        }
        None => return Err(syntax("no record type; expected DNSKEY".into())),
    }
    let mut number = |what: &str| -> Result<u32, BindKeyError> {
        let token = it
            .next()
            .ok_or_else(|| syntax(format!("DNSKEY record ends before its {what}")))?;
        token
            .parse::<u32>()
            .map_err(|_| syntax(format!("bad DNSKEY {what} {token:?}")))
    };
    let flags =
        u16::try_from(number("flags")?).map_err(|_| syntax("DNSKEY flags above 65535".into()))?;
    let protocol = number("protocol")?;
    if protocol != 3 {
        // RFC 4034 §2.1.2: "The Protocol Field MUST have value 3".
        return Err(syntax(format!("DNSKEY protocol {protocol}, must be 3")));
    }
    let algorithm = u8::try_from(number("algorithm")?)
        .map_err(|_| syntax("DNSKEY algorithm above 255".into()))?;
    let key_text: String = it.collect();
    if key_text.is_empty() {
        return Err(syntax("DNSKEY record has no public key".into()));
    }
    let public = BASE64
        .decode(key_text.as_bytes())
        .map_err(|e| syntax(format!("public key is not valid base64: {e}")))?;
    let dnskey = DNSKEY::with_flags(
        flags,
        PublicKeyBuf::new(public, Algorithm::from_u8(algorithm)),
    );
    Ok(BindPublicKey {
        owner,
        ttl,
        dnskey,
        line,
    })
}

/// Whether `raw` closes a parenthesis it did not open (the last line of a multi-line record).
fn paren_closed(raw: &str) -> bool {
    let content = raw.split(';').next().unwrap_or("");
    match (content.find('('), content.rfind(')')) {
        (None, Some(_)) => true,
        (Some(o), Some(c)) => c < o,
        _ => false,
    }
}

/// Reads a `.private` file (`Field: value` lines). `file` names the file in errors.
///
/// # Errors
///
/// [`BindKeyError`] with the file and line: a line that is not `Field: value`, a repeated
/// field, bad base64, a format other than v1.x, an unsupported algorithm, a key held in an HSM
/// (`Engine`/`Label`), or (without a line) a missing field.
pub fn parse_private_key(text: &str, file: &str) -> Result<BindPrivateKey, BindKeyError> {
    let mut format = None;
    let mut algorithm: Option<(u8, usize)> = None;
    let mut timing = Vec::new();
    let mut ignored = Vec::new();
    let mut rsa: [Option<Vec<u8>>; 8] = Default::default();
    let mut raw: Option<(Secret, usize)> = None;
    let mut seen: Vec<String> = Vec::new();
    for (index, text_line) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = text_line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let Some((field, value)) = trimmed.split_once(':') else {
            return Err(BindKeyError::syntax(
                file,
                line,
                format!("expected `Field: value`, found {:?}", truncate(trimmed)),
            ));
        };
        let field = field.trim();
        let value = value.trim();
        if seen.iter().any(|f| f == field) {
            return Err(BindKeyError::syntax(
                file,
                line,
                format!("field `{field}` appears twice"),
            ));
        }
        seen.push(field.to_string());
        let decode = |value: &str| {
            BASE64.decode(value.as_bytes()).map_err(|e| {
                BindKeyError::syntax(file, line, format!("`{field}` is not valid base64: {e}"))
            })
        };
        match field {
            "Private-key-format" => {
                let minor = value.strip_prefix("v1.");
                if minor.is_none_or(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_digit())) {
                    return Err(BindKeyError::new(
                        file,
                        Some(line),
                        BindKeyErrorKind::UnsupportedFormat(value.to_string()),
                    ));
                }
                format = Some(value.to_string());
            }
            "Algorithm" => {
                let (number, name) = match value.split_once(char::is_whitespace) {
                    Some((n, rest)) => (n, rest.trim().trim_matches(['(', ')']).to_string()),
                    None => (value, String::new()),
                };
                let number = number.parse::<u8>().map_err(|_| {
                    BindKeyError::syntax(file, line, format!("bad algorithm {value:?}"))
                })?;
                if KeyAlgorithm::from_dnssec_algorithm(Algorithm::from_u8(number)).is_err() {
                    let name = if name.is_empty() {
                        Algorithm::from_u8(number).as_str().to_string()
                    } else {
                        name
                    };
                    return Err(BindKeyError::new(
                        file,
                        Some(line),
                        BindKeyErrorKind::UnsupportedAlgorithm { number, name },
                    ));
                }
                algorithm = Some((number, line));
            }
            "PrivateKey" => raw = Some((Secret(Zeroizing::new(decode(value)?)), line)),
            "Engine" | "Label" => {
                return Err(BindKeyError::syntax(
                    file,
                    line,
                    format!(
                        "`{field}`: the key is held in an HSM or OpenSSL engine; daned needs the \
                         key material itself"
                    ),
                ));
            }
            _ => {
                if let Some(i) = RSA_FIELDS.iter().position(|f| *f == field) {
                    rsa[i] = Some(decode(value)?);
                } else if TIMING_FIELDS.contains(&field) {
                    timing.push((field.to_string(), value.to_string()));
                } else {
                    ignored.push(field.to_string());
                }
            }
        }
    }
    let missing =
        |field: &'static str| BindKeyError::new(file, None, BindKeyErrorKind::MissingField(field));
    let format = format.ok_or_else(|| missing("Private-key-format"))?;
    let (algorithm, algorithm_line) = algorithm.ok_or_else(|| missing("Algorithm"))?;
    let key_algorithm = KeyAlgorithm::from_dnssec_algorithm(Algorithm::from_u8(algorithm))
        .map_err(|e| BindKeyError::new(file, Some(algorithm_line), BindKeyErrorKind::Key(e)))?;
    let material = if key_algorithm == KeyAlgorithm::RsaSha256 {
        if let Some((_, line)) = raw {
            return Err(BindKeyError::syntax(
                file,
                line,
                format!("`PrivateKey` in an RSA key (Algorithm on line {algorithm_line})"),
            ));
        }
        let mut fields = rsa.into_iter().zip(RSA_FIELDS);
        let mut next = || -> Result<Vec<u8>, BindKeyError> {
            match fields.next() {
                Some((Some(value), _)) => Ok(value),
                Some((None, name)) => Err(missing(name)),
                // Eight fields, eight calls below.
                None => Err(missing("Coefficient")),
            }
        };
        Material::Rsa(RsaPrivateParts {
            modulus: next()?,
            public_exponent: next()?,
            private_exponent: next()?,
            prime1: next()?,
            prime2: next()?,
            exponent1: next()?,
            exponent2: next()?,
            coefficient: next()?,
        })
    } else {
        if let Some(name) = RSA_FIELDS
            .iter()
            .zip(&rsa)
            .find_map(|(name, v)| v.as_ref().map(|_| *name))
        {
            return Err(BindKeyError::new(
                file,
                None,
                BindKeyErrorKind::Syntax(format!(
                    "RSA field `{name}` in a {} key",
                    bind_algorithm_name(key_algorithm)
                )),
            ));
        }
        let (secret, line) = raw.ok_or_else(|| missing("PrivateKey"))?;
        Material::Raw(secret, line)
    };
    Ok(BindPrivateKey {
        format,
        algorithm,
        timing,
        ignored,
        material,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The role a `.key` file's flags give, or check `requested` against them. A key with the SEP
/// bit (257) is a CSK unless `requested` is KSK; one without (256) is a ZSK. Any other role
/// would change the DNSKEY flags, hence the key tag and the DS, so it is refused.
fn role_for(
    flags: u16,
    requested: Option<KeyRole>,
    file: &str,
    line: usize,
) -> Result<KeyRole, BindKeyError> {
    let role = match (flags, requested) {
        (257, None) => KeyRole::Csk,
        (257, Some(role @ (KeyRole::Csk | KeyRole::Ksk))) => role,
        (256, None | Some(KeyRole::Zsk)) => KeyRole::Zsk,
        (257 | 256, Some(role)) => {
            return Err(BindKeyError::new(
                file,
                Some(line),
                BindKeyErrorKind::Mismatch(format!(
                    "DNSKEY flags {flags} do not fit role {role:?} (it would change the key tag \
                     and the DS): 257 is a CSK or KSK, 256 a ZSK"
                )),
            ));
        }
        _ => {
            return Err(BindKeyError::syntax(
                file,
                line,
                format!(
                    "DNSKEY flags {flags}: only 257 (zone key, SEP) and 256 (zone key) can be \
                     imported"
                ),
            ));
        }
    };
    Ok(role)
}

/// Joins a `.key` and a `.private` file into one key, checking that they are two halves of the
/// same key: same algorithm, and the public key derived from the private one equals the
/// DNSKEY, so the key tag and DS do not change. `role` overrides the role the DNSKEY flags give
/// (only between CSK and KSK, which share flags 257).
///
/// # Errors
///
/// [`BindKeyError`] naming the file at fault (both files for a mismatch).
pub fn import_pair(
    public: &BindPublicKey,
    public_file: &str,
    private: &BindPrivateKey,
    private_file: &str,
    role: Option<KeyRole>,
    rng: &dyn SecureRandom,
) -> Result<ImportedKey, BindKeyError> {
    let dnskey_algorithm = u8::from(public.dnskey.public_key().algorithm());
    if dnskey_algorithm != private.algorithm {
        return Err(BindKeyError::new(
            private_file,
            None,
            BindKeyErrorKind::Mismatch(format!(
                "algorithm {} does not match algorithm {dnskey_algorithm} of the DNSKEY in {}",
                private.algorithm, public_file
            )),
        ));
    }
    let algorithm = KeyAlgorithm::from_dnssec_algorithm(Algorithm::from_u8(dnskey_algorithm))
        .map_err(|_| {
            BindKeyError::new(
                public_file,
                Some(public.line),
                BindKeyErrorKind::UnsupportedAlgorithm {
                    number: dnskey_algorithm,
                    name: Algorithm::from_u8(dnskey_algorithm).as_str().to_string(),
                },
            )
        })?;
    let role = role_for(public.dnskey.flags(), role, public_file, public.line)?;
    let mismatch = || {
        BindKeyError::new(
            private_file,
            None,
            BindKeyErrorKind::Mismatch(format!(
                "this private key does not belong to the DNSKEY in {public_file} (key tag {}); \
                 the two files are not one key pair",
                crate::keys::key_tag(&public.dnskey).unwrap_or_default()
            )),
        )
    };
    let private_error = |line: Option<usize>, e: SignError| {
        BindKeyError::new(private_file, line, BindKeyErrorKind::Key(e))
    };
    let parts = match &private.material {
        Material::Rsa(rsa) => PrivateKeyParts::Rsa(rsa.clone()),
        Material::Raw(secret, line) if algorithm == KeyAlgorithm::Ed25519 => {
            if secret.0.len() != 32 {
                return Err(private_error(
                    Some(*line),
                    SignError::Key(format!(
                        "ed25519 PrivateKey is {} bytes, expected 32 (RFC 8080 §6)",
                        secret.0.len()
                    )),
                ));
            }
            PrivateKeyParts::Ed25519 {
                seed: secret.0.to_vec(),
            }
        }
        Material::Raw(secret, line) => {
            let scalar = ecdsa_scalar_len(algorithm)
                .and_then(|len| left_pad(&secret.0, len, "ECDSA PrivateKey (RFC 6605 §6)"))
                .map_err(|e| private_error(Some(*line), e))?;
            // ring derives the public point from the scalar and refuses a DNSKEY that differs.
            let key = SigningKey::from_ecdsa_private_key(
                algorithm,
                &scalar,
                public.dnskey.public_key().public_bytes(),
                role,
                rng,
            )
            .map_err(|e| match e {
                SignError::Key(ref m) if m.contains("InconsistentComponents") => mismatch(),
                other => private_error(Some(*line), other),
            })?;
            PrivateKeyParts::Ecdsa {
                algorithm,
                private_key: scalar,
                public_key: key.dnskey().public_key().public_bytes().to_vec(),
            }
        }
    };
    let pkcs8 = Pkcs8Key::from_parts(&parts).map_err(|e| private_error(None, e))?;
    let key = SigningKey::from_pkcs8(&pkcs8, role, rng).map_err(|e| private_error(None, e))?;
    if key.dnskey() != &public.dnskey {
        return Err(mismatch());
    }
    Ok(ImportedKey {
        owner: public.owner.clone(),
        key,
        pkcs8,
    })
}

/// The BIND file name stem of `key` at `owner`: `K<zone>+<alg>+<tag>` with the zone's final
/// dot, e.g. `Kexample.com.+013+12345` (add `.key` or `.private`).
pub fn file_stem(owner: &Name, key: &SigningKey) -> String {
    let mut zone = owner.to_lowercase();
    zone.set_fqdn(true);
    format!(
        "K{}+{:03}+{:05}",
        zone.to_ascii(),
        u8::from(key.dnssec_algorithm()),
        key.key_tag()
    )
}

/// The `.key` file of `key` at `owner`: a comment as BIND writes it, then the DNSKEY record
/// (with `ttl` when given). `created` (seconds since 1970) adds the `Created` comment.
pub fn format_public_key(
    owner: &Name,
    ttl: Option<u32>,
    key: &SigningKey,
    created: Option<u32>,
) -> String {
    let mut zone = owner.to_lowercase();
    zone.set_fqdn(true);
    let kind = if key.role() == KeyRole::Zsk {
        "zone-signing"
    } else {
        "key-signing"
    };
    let mut out = format!(
        "; This is a {kind} key, keyid {}, for {}\n",
        key.key_tag(),
        zone.to_ascii()
    );
    if let Some(t) = created {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "; Created: {}", timestamp(t));
    }
    let dnskey = key.dnskey();
    let _ = write!(out, "{} ", zone.to_ascii());
    if let Some(ttl) = ttl {
        let _ = write!(out, "{ttl} ");
    }
    let _ = writeln!(
        out,
        "IN DNSKEY {} 3 {} {}",
        dnskey.flags(),
        u8::from(dnskey.public_key().algorithm()),
        BASE64.encode(dnskey.public_key().public_bytes())
    );
    out
}

/// The `.private` file (format v1.3) of a key. `created` (seconds since 1970) adds
/// `Created`, `Publish` and `Activate` at that time, so BIND's tools treat the key as active.
pub fn format_private_key(parts: &PrivateKeyParts, created: Option<u32>) -> String {
    let algorithm = parts.algorithm();
    let mut out = format!(
        "Private-key-format: v1.3\nAlgorithm: {} ({})\n",
        u8::from(algorithm.dnssec_algorithm()),
        bind_algorithm_name(algorithm)
    );
    let mut field = |name: &str, value: &[u8]| {
        let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
        let _ = writeln!(out, "{name}: {}", BASE64.encode(&value[start..]));
    };
    match parts {
        PrivateKeyParts::Rsa(rsa) => {
            let values = rsa.fields();
            for (name, value) in RSA_FIELDS.iter().zip(values) {
                field(name, value);
            }
        }
        // Fixed length, leading zeros kept (RFC 6605 §6, RFC 8080 §6).
        PrivateKeyParts::Ecdsa { private_key, .. } => {
            let _ = writeln!(out, "PrivateKey: {}", BASE64.encode(private_key));
        }
        PrivateKeyParts::Ed25519 { seed } => {
            let _ = writeln!(out, "PrivateKey: {}", BASE64.encode(seed));
        }
    }
    if let Some(t) = created {
        let t = timestamp(t);
        for name in ["Created", "Publish", "Activate"] {
            let _ = writeln!(out, "{name}: {t}");
        }
    }
    out
}

/// `YYYYMMDDHHMMSS` in UTC, as BIND writes key times.
fn timestamp(secs: u32) -> String {
    let (year, month, day) = crate::civil::civil_from_days(i64::from(secs / 86_400));
    let rest = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::dnssec::DigestType;
    use ring::rand::SystemRandom;
    use ring::signature::{self, UnparsedPublicKey};

    /// A key pair made by BIND 9.18 `dnssec-keygen` (tests/data/bind), and the DS SHA-256
    /// that `dnssec-dsfromkey -2` printed for it (tests/data/bind/ds-sha256.txt).
    struct Fixture {
        stem: &'static str,
        key: &'static str,
        private: &'static str,
    }

    macro_rules! fixture {
        ($stem:literal) => {
            Fixture {
                stem: $stem,
                key: include_str!(concat!("../tests/data/bind/", $stem, ".key")),
                private: include_str!(concat!("../tests/data/bind/", $stem, ".private")),
            }
        };
    }

    const RSA_KSK: Fixture = fixture!("Kexample.com.+008+62752");
    const RSASHA512_ZSK: Fixture = fixture!("Kexample.com.+010+08906");
    const P256_ZSK: Fixture = fixture!("Kexample.com.+013+61451");
    const P256_KSK: Fixture = fixture!("Kexample.com.+013+64220");
    const P384_ZSK: Fixture = fixture!("Kexample.com.+014+60711");
    const ED25519_KSK: Fixture = fixture!("Kexample.com.+015+13987");
    const DS_SHA256: &str = include_str!("../tests/data/bind/ds-sha256.txt");

    fn import(f: &Fixture, role: Option<KeyRole>) -> Result<ImportedKey, BindKeyError> {
        let key_file = format!("{}.key", f.stem);
        let private_file = format!("{}.private", f.stem);
        let public = parse_public_key(f.key, &key_file)?;
        let private = parse_private_key(f.private, &private_file)?;
        import_pair(
            &public,
            &key_file,
            &private,
            &private_file,
            role,
            &SystemRandom::new(),
        )
    }

    /// The `DS` line `dnssec-dsfromkey -2` printed for key tag `tag`: (alg, digest type, hex).
    fn bind_ds(tag: u16) -> (u8, u8, String) {
        let line = DS_SHA256
            .lines()
            .find(|l| l.split_whitespace().nth(3) == Some(&tag.to_string()))
            .unwrap_or_else(|| panic!("no DS for {tag} in ds-sha256.txt"));
        let f: Vec<&str> = line.split_whitespace().collect();
        (
            f[4].parse().unwrap(),
            f[5].parse().unwrap(),
            f[6..].concat(),
        )
    }

    /// Imports `f`, checks the key tag in its file name and the DS BIND computed, then signs
    /// with it and verifies the signature against the `.key` file's public key with ring.
    fn check_import_keeps_ds_and_signs(f: &Fixture, expected_role: KeyRole) {
        let imported = import(f, None).unwrap();
        let tag: u16 = f.stem.rsplit('+').next().unwrap().parse().unwrap();
        assert_eq!(imported.key.key_tag(), tag, "{}", f.stem);
        assert_eq!(imported.key.role(), expected_role);
        assert_eq!(imported.owner, Name::from_ascii("example.com.").unwrap());
        let ds = imported
            .key
            .ds(&imported.owner, DigestType::SHA256)
            .unwrap();
        let (alg, digest_type, hex) = bind_ds(tag);
        assert_eq!(u8::from(ds.algorithm()), alg);
        assert_eq!(u8::from(ds.digest_type()), digest_type);
        assert_eq!(data_encoding::HEXUPPER.encode(ds.digest()), hex);
        // The stored PKCS#8 gives back the same key.
        let again =
            SigningKey::from_pkcs8(&imported.pkcs8, expected_role, &SystemRandom::new()).unwrap();
        assert_eq!(again.dnskey(), imported.key.dnskey());

        let data = b"RRSIG signed data";
        let sig = imported.key.sign(data, &SystemRandom::new()).unwrap();
        let public = parse_public_key(f.key, "k").unwrap();
        let bytes = public.dnskey.public_key().public_bytes();
        let ok = match imported.key.algorithm() {
            KeyAlgorithm::RsaSha256 => {
                // RFC 3110 §2: exponent length octet, exponent, modulus.
                let elen = usize::from(bytes[0]);
                signature::RsaPublicKeyComponents {
                    n: &bytes[1 + elen..],
                    e: &bytes[1..1 + elen],
                }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, data, &sig)
                .is_ok()
            }
            KeyAlgorithm::EcdsaP256Sha256 | KeyAlgorithm::EcdsaP384Sha384 => {
                let alg = if imported.key.algorithm() == KeyAlgorithm::EcdsaP256Sha256 {
                    &signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED
                };
                let point = [&[0x04][..], bytes].concat();
                UnparsedPublicKey::new(alg, point)
                    .verify(data, &sig)
                    .is_ok()
            }
            KeyAlgorithm::Ed25519 => UnparsedPublicKey::new(&signature::ED25519, bytes)
                .verify(data, &sig)
                .is_ok(),
        };
        assert!(ok, "{}: signature does not verify", f.stem);
    }

    #[test]
    fn rfc3110_s2_rsasha256_bind_key_keeps_its_tag_and_ds() {
        // RFC 3110 §2: "The structure of the algorithm specific portion of the RDATA part of
        // such RRs is as shown below. ... exponent length 1 or 3 octets ... exponent ...
        // modulus". The DNSKEY rebuilt from the private key must equal the file's.
        check_import_keeps_ds_and_signs(&RSA_KSK, KeyRole::Csk);
    }

    #[test]
    fn rfc6605_s4_ecdsa_bind_keys_keep_their_tag_and_ds() {
        // RFC 6605 §4: "ECDSA public keys consist of a single value, called "Q" in FIPS
        // 186-3. In DNSSEC keys, Q is a simple bit string that represents the uncompressed
        // form of a curve point, "x | y"."
        check_import_keeps_ds_and_signs(&P256_KSK, KeyRole::Csk);
        check_import_keeps_ds_and_signs(&P256_ZSK, KeyRole::Zsk);
        check_import_keeps_ds_and_signs(&P384_ZSK, KeyRole::Zsk);
    }

    #[test]
    fn rfc8080_s3_ed25519_bind_key_keeps_its_tag_and_ds() {
        // RFC 8080 §3: "An Ed25519 public key consists of a 32-octet value, which is encoded
        // into the Public Key field of a DNSKEY resource record as a simple bit string."
        check_import_keeps_ds_and_signs(&ED25519_KSK, KeyRole::Csk);
    }

    #[test]
    fn role_follows_flags_and_ksk_may_be_asked_for() {
        assert_eq!(
            import(&P256_KSK, Some(KeyRole::Ksk)).unwrap().key.role(),
            KeyRole::Ksk
        );
        // RFC 4034 §2.1.1: the SEP bit is part of the RDATA, so changing the role would change
        // the key tag: refused.
        let err = import(&P256_KSK, Some(KeyRole::Zsk)).unwrap_err();
        assert!(matches!(err.kind, BindKeyErrorKind::Mismatch(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with("Kexample.com.+013+64220.key:5:"),
            "{err}"
        );
        let err = import(&P256_ZSK, Some(KeyRole::Csk)).unwrap_err();
        assert!(matches!(err.kind, BindKeyErrorKind::Mismatch(_)), "{err}");
    }

    #[test]
    fn mismatched_key_and_private_files_name_both() {
        for (public, private) in [
            (&P256_KSK, &P256_ZSK),
            (&ED25519_KSK, &ED25519_KSK),
            (&RSA_KSK, &P256_KSK),
        ] {
            let mut private_text = private.private.to_string();
            if public.stem == private.stem {
                // Another Ed25519 seed: the all-ones seed is a valid key, just not this one.
                private_text = private_text.replace(
                    private_text
                        .lines()
                        .find(|l| l.starts_with("PrivateKey:"))
                        .unwrap(),
                    &format!("PrivateKey: {}", BASE64.encode(&[1u8; 32])),
                );
            }
            let pub_file = format!("{}.key", public.stem);
            let priv_file = format!("{}.private", private.stem);
            let err = import_pair(
                &parse_public_key(public.key, &pub_file).unwrap(),
                &pub_file,
                &parse_private_key(&private_text, &priv_file).unwrap(),
                &priv_file,
                None,
                &SystemRandom::new(),
            )
            .unwrap_err();
            assert!(matches!(err.kind, BindKeyErrorKind::Mismatch(_)), "{err}");
            let msg = err.to_string();
            assert!(msg.contains(&pub_file) && msg.contains(&priv_file), "{msg}");
        }
    }

    #[test]
    fn rsasha512_is_an_unsupported_algorithm_error_with_its_line() {
        let err = parse_private_key(RSASHA512_ZSK.private, "K.private").unwrap_err();
        assert!(
            matches!(
                err.kind,
                BindKeyErrorKind::UnsupportedAlgorithm { number: 10, ref name } if name == "RSASHA512"
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("K.private:2: unsupported algorithm 10"),
            "{err}"
        );
    }

    #[test]
    fn truncated_private_files_name_the_missing_field() {
        // Cut the RSA file before its last field.
        let cut = RSA_KSK.private.find("Coefficient:").unwrap();
        let err = parse_private_key(&RSA_KSK.private[..cut], "K.private").unwrap_err();
        assert!(
            matches!(err.kind, BindKeyErrorKind::MissingField("Coefficient")),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("K.private: missing field `Coefficient`"),
            "{err}"
        );
        let cut = P256_KSK.private.find("PrivateKey:").unwrap();
        let err = parse_private_key(&P256_KSK.private[..cut], "K.private").unwrap_err();
        assert!(
            matches!(err.kind, BindKeyErrorKind::MissingField("PrivateKey")),
            "{err}"
        );
        let err = parse_private_key("", "K.private").unwrap_err();
        assert!(
            matches!(err.kind, BindKeyErrorKind::MissingField(_)),
            "{err}"
        );
        // A value cut in the middle of its base64 is bad base64 on its line.
        let line = P256_KSK
            .private
            .lines()
            .find(|l| l.starts_with("PrivateKey:"))
            .unwrap();
        let cut_value = P256_KSK.private.replace(line, &line[..line.len() - 5]);
        let err = parse_private_key(&cut_value, "K.private").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("K.private:3: `PrivateKey` is not valid base64"),
            "{err}"
        );
        // A short scalar that is valid base64 is refused when the key is built, naming the line.
        let short = P256_KSK.private.replace(line, "PrivateKey: AAEC");
        let private = parse_private_key(&short, "K.private").unwrap();
        let public = parse_public_key(P256_KSK.key, "K.key").unwrap();
        let err = import_pair(
            &public,
            "K.key",
            &private,
            "K.private",
            None,
            &SystemRandom::new(),
        )
        .unwrap_err();
        assert_eq!(err.file, "K.private");
    }

    #[test]
    fn garbage_files_name_file_and_line() {
        let err =
            parse_private_key("Private-key-format: v1.3\nhello world\n", "x.private").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x.private:2: expected `Field: value`"),
            "{err}"
        );
        let err = parse_private_key("Private-key-format: v2.0\n", "x.private").unwrap_err();
        assert!(
            matches!(err.kind, BindKeyErrorKind::UnsupportedFormat(_)),
            "{err}"
        );
        assert_eq!(err.line, Some(1));
        let err = parse_private_key(
            "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nLabel: pkcs11:x\n",
            "x.private",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        let twice = format!("{}Algorithm: 13\n", P256_KSK.private);
        let err = parse_private_key(&twice, "x.private").unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");

        let err = parse_public_key("; only a comment\n\n", "x.key").unwrap_err();
        assert!(
            err.to_string().starts_with("x.key: no DNSKEY record"),
            "{err}"
        );
        let err = parse_public_key("; c\nexample.com. IN DS 1 13 2 00\n", "x.key").unwrap_err();
        assert!(
            err.to_string().starts_with("x.key:2: record type \"DS\""),
            "{err}"
        );
        let err =
            parse_public_key("example.com. IN DNSKEY 257 3 13 !!notbase64\n", "x.key").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x.key:1: public key is not valid base64"),
            "{err}"
        );
        let err = parse_public_key("example.com IN DNSKEY 257 3 13 AAAA\n", "x.key").unwrap_err();
        assert!(err.to_string().contains("not absolute"), "{err}");
        // RFC 4034 §2.1.2: "The Protocol Field MUST have value 3".
        let err = parse_public_key("example.com. IN DNSKEY 257 2 13 AAAA\n", "x.key").unwrap_err();
        assert!(err.to_string().contains("protocol 2, must be 3"), "{err}");
        let err = parse_public_key("example.com. IN DNSKEY 257 3\n", "x.key").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x.key:1: DNSKEY record ends before its algorithm")
        );
        let two = format!("{}{}", P256_KSK.key, P256_ZSK.key.lines().last().unwrap());
        let err = parse_public_key(&two, "x.key").unwrap_err();
        assert!(
            err.to_string().starts_with("x.key:6: a second record"),
            "{err}"
        );
        let err =
            parse_public_key("example.com. IN DNSKEY 257 3 13 ( AAAA\n", "x.key").unwrap_err();
        assert!(err.to_string().contains("never closed"), "{err}");
    }

    #[test]
    fn public_key_with_ttl_and_parentheses_parses() {
        let one = parse_public_key(P256_KSK.key, "a").unwrap();
        let bytes = BASE64.encode(one.dnskey.public_key().public_bytes());
        let (a, b) = bytes.split_at(20);
        let text = format!("; c\nexample.com. 3600 IN DNSKEY 257 3 13 (\n  {a}\n  {b} ) ; k\n");
        let two = parse_public_key(&text, "b").unwrap();
        assert_eq!(two.dnskey, one.dnskey);
        assert_eq!(two.ttl, Some(3600));
        assert_eq!(two.line, 2);
        assert_eq!(one.ttl, None);
    }

    /// Export then import: the `.key` and `.private` written for a key read back into the same
    /// key, with the same file stem BIND uses.
    #[test]
    fn format_round_trips_for_every_algorithm() {
        let rng = SystemRandom::new();
        for f in [&RSA_KSK, &P256_KSK, &P256_ZSK, &P384_ZSK, &ED25519_KSK] {
            let imported = import(f, None).unwrap();
            assert_eq!(file_stem(&imported.owner, &imported.key), f.stem);
            let parts = imported.pkcs8.parts().unwrap();
            let key_text = format_public_key(
                &imported.owner,
                Some(300),
                &imported.key,
                Some(1_800_000_000),
            );
            let private_text = format_private_key(&parts, Some(1_800_000_000));
            assert!(
                private_text.contains("Created: 20270115080000\n"),
                "{private_text}"
            );
            let public = parse_public_key(&key_text, "out.key").unwrap();
            assert_eq!(public.ttl, Some(300));
            let private = parse_private_key(&private_text, "out.private").unwrap();
            assert_eq!(private.timing.len(), 3);
            let back =
                import_pair(&public, "out.key", &private, "out.private", None, &rng).unwrap();
            assert_eq!(back.key.dnskey(), imported.key.dnskey());
            // The written private fields are BIND's own, byte for byte, except the timing.
            let fields = |t: &str| -> Vec<String> {
                t.lines()
                    .filter(|l| {
                        let name = l.split(':').next().unwrap_or("");
                        !TIMING_FIELDS.contains(&name) && name != "Private-key-format"
                    })
                    .map(str::to_string)
                    .collect()
            };
            assert_eq!(fields(&private_text), fields(f.private), "{}", f.stem);
        }
    }

    #[test]
    fn timestamps_are_utc_civil_time() {
        assert_eq!(timestamp(0), "19700101000000");
        // 2024-02-29 12:34:56 UTC, a leap day.
        assert_eq!(timestamp(1_709_210_096), "20240229123456");
    }
}
