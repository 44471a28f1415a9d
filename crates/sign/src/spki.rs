//! The public key of a staged next-key file, as DER `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).
//!
//! A TLSA rollover (RFC 7671 §8.1) publishes the record of the *next* key before any
//! certificate carries it, so the next key arrives as whatever the operator's tooling leaves
//! behind: a certificate, a CSR, a public key, or a private key whose public half is taken
//! (acme.sh's `*.key.next` is a SEC1 `EC PRIVATE KEY`). [`spki_from_pem_or_der`] reduces all of
//! them to the `SubjectPublicKeyInfo` DER that `openssl pkey -pubout -outform DER` prints, and
//! [`crate::tlsa::tlsa_from_spki`] turns that into the TLSA RDATA (selector 1 only: a bare key
//! has no certificate to hash for selector 0).
//!
//! All DER is read and written with `asn1-rs` (through x509-parser) and ring; nothing is
//! sliced at counted offsets.

use std::borrow::Cow;

use ring::signature::{Ed25519KeyPair, KeyPair};
use x509_parser::asn1_rs::{
    Any, BitString, Class, Header, Integer, Null, Oid, Sequence, SerializeError, Tag, ToDer,
};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::error::X509Error;
use x509_parser::nom;
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::armour;
use crate::error::SignError;

/// The DER `SubjectPublicKeyInfo` of whatever a staged next-key file holds.
///
/// Accepted, in PEM or DER:
/// - a certificate (`CERTIFICATE`; of a chain, the first: the end entity),
/// - a certificate request (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`, PKCS#10),
/// - a public key (`PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`),
/// - a private key: PKCS#8 `PRIVATE KEY` (EC on any named curve, Ed25519 with or without the
///   public key, RSA), SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`.
///
/// In PEM, `EC PARAMETERS` blocks are skipped and the first block of a kind above is used.
/// The result equals `openssl pkey -pubout -outform DER` on the same key.
///
/// # Errors
///
/// [`SignError::Key`] with the reason: empty input, truncated PEM or DER, an encrypted private
/// key, an unsupported key algorithm, an EC private key that does not carry its public key, or
/// bytes that are none of the forms above.
pub fn spki_from_pem_or_der(data: &[u8]) -> Result<Vec<u8>, SignError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(key_error(
            "empty input: expected a certificate, CSR, public key or private key".to_owned(),
        ));
    }
    let spki = if armour::is_pem(data) {
        from_pem(data)?
    } else {
        from_der(data)?
    };
    // Every path ends in one well-formed SubjectPublicKeyInfo: check it once more here, so a
    // bug in one encoder can never publish a record for bytes that are not a public key.
    match SubjectPublicKeyInfo::from_der(&spki) {
        Ok(([], _)) => Ok(spki),
        Ok((rest, _)) => Err(key_error(format!(
            "internal: {} trailing bytes after the SubjectPublicKeyInfo made",
            rest.len()
        ))),
        Err(e) => Err(key_error(format!(
            "internal: the SubjectPublicKeyInfo made does not parse: {}",
            x509_reason(&e)
        ))),
    }
}

/// The forms of key material this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Certificate,
    Request,
    PublicKey,
    RsaPublicKey,
    Pkcs8,
    Sec1,
    Pkcs1,
}

impl Form {
    /// The form a PEM label names; `None` for labels that carry no usable key.
    fn from_pem_label(label: &str) -> Option<Self> {
        match label {
            "CERTIFICATE" => Some(Self::Certificate),
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Some(Self::Request),
            "PUBLIC KEY" => Some(Self::PublicKey),
            "RSA PUBLIC KEY" => Some(Self::RsaPublicKey),
            "PRIVATE KEY" => Some(Self::Pkcs8),
            "EC PRIVATE KEY" => Some(Self::Sec1),
            "RSA PRIVATE KEY" => Some(Self::Pkcs1),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::Request => "certificate request (PKCS#10)",
            Self::PublicKey => "public key (SubjectPublicKeyInfo)",
            Self::RsaPublicKey => "RSA public key (PKCS#1)",
            Self::Pkcs8 => "private key (PKCS#8)",
            Self::Sec1 => "EC private key (SEC1)",
            Self::Pkcs1 => "RSA private key (PKCS#1)",
        }
    }

    /// The order in which bare DER is tried. The outer structures differ (a certificate is a
    /// SEQUENCE of three SEQUENCE-led fields, an SPKI a SEQUENCE and a BIT STRING, PKCS#8
    /// starts INTEGER SEQUENCE OCTET STRING, SEC1 INTEGER 1 OCTET STRING, PKCS#1 INTEGER
    /// INTEGER ...), so at most one form parses a given input whole.
    const DER_ORDER: [Self; 7] = [
        Self::Certificate,
        Self::PublicKey,
        Self::Request,
        Self::Pkcs8,
        Self::Sec1,
        Self::Pkcs1,
        Self::RsaPublicKey,
    ];

    fn spki(self, der: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Self::Certificate => crate::tlsa::subject_public_key_info(der).map_err(|e| match e {
                SignError::Certificate(reason) => reason,
                other => other.to_string(),
            }),
            Self::Request => spki_of_request(der),
            Self::PublicKey => spki_of_public_key(der),
            Self::RsaPublicKey => spki_of_rsa_public_key(der),
            Self::Pkcs8 => spki_of_pkcs8(der),
            Self::Sec1 => spki_of_sec1(der, None),
            Self::Pkcs1 => spki_of_rsa_private_key(der),
        }
    }
}

fn from_pem(data: &[u8]) -> Result<Vec<u8>, SignError> {
    let blocks = armour::parse_blocks(data).map_err(|e| key_error(e.to_string()))?;
    let mut others = Vec::new();
    for block in &blocks {
        let label = block.tag();
        if let Some(form) = Form::from_pem_label(label) {
            return form
                .spki(block.contents())
                .map_err(|reason| key_error(format!("{label} block: {reason}")));
        }
        if label == "ENCRYPTED PRIVATE KEY" {
            return Err(key_error(
                "ENCRYPTED PRIVATE KEY: daned cannot read an encrypted key; stage its public key \
                 (`openssl pkey -in KEY -pubout`) or a CSR instead"
                    .to_owned(),
            ));
        }
        if label != "EC PARAMETERS" {
            others.push(label.to_owned());
        }
    }
    Err(key_error(format!(
        "no key in the PEM (found: {}); expected CERTIFICATE, CERTIFICATE REQUEST, PUBLIC KEY, \
         PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY",
        if others.is_empty() {
            "only EC PARAMETERS".to_owned()
        } else {
            others.join(", ")
        }
    )))
}

fn from_der(data: &[u8]) -> Result<Vec<u8>, SignError> {
    // A DER file cut short declares more content than it has: say so rather than "not a key".
    if let Ok((_, header)) = Header::from_der(data)
        && header.tag() == Tag::Sequence
        && header.is_constructed()
        && matches!(Any::from_der(data), Err(nom::Err::Incomplete(_)))
    {
        return Err(key_error(format!(
            "truncated DER: the outer element declares more than the {} bytes present",
            data.len()
        )));
    }
    for form in Form::DER_ORDER {
        if let Ok(spki) = form.spki(data) {
            return Ok(spki);
        }
    }
    Err(key_error(format!(
        "{} bytes that are neither PEM nor a DER certificate, certificate request, public key \
         or private key (PKCS#8, SEC1, PKCS#1)",
        data.len()
    )))
}

fn spki_of_request(der: &[u8]) -> Result<Vec<u8>, String> {
    match X509CertificationRequest::from_der(der) {
        Ok(([], csr)) => Ok(csr.certification_request_info.subject_pki.raw.to_vec()),
        Ok((rest, _)) => Err(trailing(Form::Request, rest)),
        Err(e) => Err(format!(
            "not a DER {}: {}",
            Form::Request.describe(),
            x509_reason(&e)
        )),
    }
}

fn spki_of_public_key(der: &[u8]) -> Result<Vec<u8>, String> {
    match SubjectPublicKeyInfo::from_der(der) {
        Ok(([], spki)) => Ok(spki.raw.to_vec()),
        Ok((rest, _)) => Err(trailing(Form::PublicKey, rest)),
        Err(e) => Err(format!(
            "not a DER {}: {}",
            Form::PublicKey.describe(),
            x509_reason(&e)
        )),
    }
}

/// RFC 8017 §A.1.1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`,
/// wrapped as an `rsaEncryption` SubjectPublicKeyInfo.
fn spki_of_rsa_public_key(der: &[u8]) -> Result<Vec<u8>, String> {
    let form = Form::RsaPublicKey;
    let content = whole_sequence(der, form)?;
    let (rest, modulus) = Integer::from_der(&content).map_err(|e| field(form, "modulus", &e))?;
    let (rest, exponent) =
        Integer::from_der(rest).map_err(|e| field(form, "publicExponent", &e))?;
    if !rest.is_empty() {
        return Err(trailing(form, rest));
    }
    rsa_spki(&modulus, &exponent)
}

/// RFC 8017 §A.1.2 `RSAPrivateKey`: version, modulus, publicExponent, then the private fields.
fn spki_of_rsa_private_key(der: &[u8]) -> Result<Vec<u8>, String> {
    let form = Form::Pkcs1;
    let content = whole_sequence(der, form)?;
    let (rest, version) = u32::from_der(&content).map_err(|e| field(form, "version", &e))?;
    if version > 1 {
        return Err(format!("{}: unknown version {version}", form.describe()));
    }
    let (rest, modulus) = Integer::from_der(rest).map_err(|e| field(form, "modulus", &e))?;
    let (mut rest, exponent) =
        Integer::from_der(rest).map_err(|e| field(form, "publicExponent", &e))?;
    // The five private values must be there too, or this is not a private key at all.
    for name in [
        "privateExponent",
        "prime1",
        "prime2",
        "exponent1",
        "exponent2",
        "coefficient",
    ] {
        (rest, _) = Integer::from_der(rest).map_err(|e| field(form, name, &e))?;
    }
    // `otherPrimeInfos` (version 1, multi-prime) may follow; it holds nothing we need.
    if !rest.is_empty() && version == 0 {
        return Err(trailing(form, rest));
    }
    rsa_spki(&modulus, &exponent)
}

/// RFC 5958 §2 `OneAsymmetricKey` (PKCS#8 v1 and v2): version, privateKeyAlgorithm,
/// privateKey OCTET STRING, `[0]` attributes, `[1]` publicKey.
fn spki_of_pkcs8(der: &[u8]) -> Result<Vec<u8>, String> {
    let form = Form::Pkcs8;
    let content = whole_sequence(der, form)?;
    let (rest, version) = u32::from_der(&content).map_err(|e| field(form, "version", &e))?;
    if version > 1 {
        return Err(format!("{}: unknown version {version}", form.describe()));
    }
    let (rest, algorithm) = AlgorithmIdentifier::from_der(rest).map_err(|e| {
        format!(
            "{}: privateKeyAlgorithm: {}",
            form.describe(),
            x509_reason(&e)
        )
    })?;
    let (mut rest, private_key) =
        <&[u8]>::from_der(rest).map_err(|e| field(form, "privateKey", &e))?;
    let mut public_key = None;
    while !rest.is_empty() {
        let (after, element) = Any::from_der(rest).map_err(|e| field(form, "attributes", &e))?;
        match (element.class(), element.tag()) {
            (Class::ContextSpecific, Tag(0)) => {}
            (Class::ContextSpecific, Tag(1)) => {
                // `[1] IMPLICIT BIT STRING`: the same content as a universal BIT STRING.
                let bits = BitString::try_from(
                    element
                        .with_class(Class::Universal)
                        .with_tag(Tag::BitString),
                )
                .map_err(|e| format!("{}: publicKey: {e}", form.describe()))?;
                public_key = Some(bits);
            }
            (class, tag) => {
                return Err(format!(
                    "{}: unexpected element {class:?} {tag} after privateKey",
                    form.describe()
                ));
            }
        }
        rest = after;
    }

    if algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = match &algorithm.parameters {
            Some(parameters) => Some(parameters.clone().oid().map_err(|_| {
                "EC key with explicit curve parameters; only named curves are supported".to_owned()
            })?),
            None => None,
        };
        match public_key {
            // A PKCS#8 v2 wrapper may carry the public key itself.
            Some(bits) => ec_spki(curve.as_ref(), &bits),
            None => spki_of_sec1(private_key, curve.as_ref()),
        }
    } else if algorithm.algorithm == OID_PKCS1_RSAENCRYPTION {
        spki_of_rsa_private_key(private_key)
    } else if algorithm.algorithm == OID_SIG_ED25519 {
        // openssl writes PKCS#8 v1 without the public key: ring derives it from the seed (and
        // checks it against the one in a v2 file).
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| format!("Ed25519 private key rejected: {e}"))?;
        encode_spki(&OID_SIG_ED25519, None, pair.public_key().as_ref())
    } else {
        Err(format!(
            "unsupported key algorithm {} (supported: EC, Ed25519, RSA)",
            algorithm.algorithm
        ))
    }
}

/// RFC 5915 §3 `ECPrivateKey ::= SEQUENCE { version INTEGER { ecPrivkeyVer1(1) },
/// privateKey OCTET STRING, parameters [0] ECParameters OPTIONAL,
/// publicKey [1] BIT STRING OPTIONAL }`. `outer_curve` is the curve named by an enclosing
/// PKCS#8 AlgorithmIdentifier, which openssl writes instead of `[0]`.
fn spki_of_sec1(der: &[u8], outer_curve: Option<&Oid<'_>>) -> Result<Vec<u8>, String> {
    let form = Form::Sec1;
    let content = whole_sequence(der, form)?;
    let (rest, version) = u32::from_der(&content).map_err(|e| field(form, "version", &e))?;
    if version != 1 {
        return Err(format!(
            "{}: version {version}, expected 1",
            form.describe()
        ));
    }
    let (mut rest, _private) =
        <&[u8]>::from_der(rest).map_err(|e| field(form, "privateKey", &e))?;
    let mut curve = None;
    let mut public_key = None;
    while !rest.is_empty() {
        let (after, element) = Any::from_der(rest).map_err(|e| field(form, "parameters", &e))?;
        match (element.class(), element.tag()) {
            (Class::ContextSpecific, Tag(0)) => {
                let (inner_rest, oid) = Oid::from_der(element.data).map_err(|_| {
                    "EC key with explicit curve parameters; only named curves are supported"
                        .to_owned()
                })?;
                if !inner_rest.is_empty() {
                    return Err(trailing(form, inner_rest));
                }
                curve = Some(oid);
            }
            (Class::ContextSpecific, Tag(1)) => {
                let (inner_rest, bits) =
                    BitString::from_der(element.data).map_err(|e| field(form, "publicKey", &e))?;
                if !inner_rest.is_empty() {
                    return Err(trailing(form, inner_rest));
                }
                public_key = Some(bits);
            }
            (class, tag) => {
                return Err(format!(
                    "{}: unexpected element {class:?} {tag}",
                    form.describe()
                ));
            }
        }
        rest = after;
    }
    let curve = match (curve.as_ref(), outer_curve) {
        (Some(inner), Some(outer)) if inner != outer => {
            return Err(format!(
                "EC key names two curves: {outer} outside and {inner} inside"
            ));
        }
        (Some(inner), _) => Some(inner),
        (None, outer) => outer,
    };
    let Some(public_key) = public_key else {
        return Err(
            "the EC private key does not carry its public key, which daned cannot derive; \
             rewrite it with `openssl ec -in KEY -out KEY2` (which adds it) or stage the public \
             key"
            .to_owned(),
        );
    };
    ec_spki(curve, &public_key)
}

/// RFC 5480 §2: `id-ecPublicKey` with the named curve, and the point as the BIT STRING.
fn ec_spki(curve: Option<&Oid<'_>>, public_key: &BitString<'_>) -> Result<Vec<u8>, String> {
    let Some(curve) = curve else {
        return Err("EC key without a named curve".to_owned());
    };
    if public_key.unused_bits != 0 || public_key.data.is_empty() {
        return Err("EC public key is not a whole number of bytes".to_owned());
    }
    let parameters = curve.to_der_vec().map_err(serialize_reason)?;
    encode_spki(
        &OID_KEY_TYPE_EC_PUBLIC_KEY,
        Some(&parameters),
        &public_key.data,
    )
}

/// RFC 8017 §A.1 / RFC 3279 §2.3.1: `rsaEncryption` with NULL parameters, and the DER
/// `RSAPublicKey` as the BIT STRING.
fn rsa_spki(modulus: &Integer<'_>, exponent: &Integer<'_>) -> Result<Vec<u8>, String> {
    let mut fields = modulus.to_der_vec().map_err(serialize_reason)?;
    fields.extend(exponent.to_der_vec().map_err(serialize_reason)?);
    let rsa_public_key = Sequence::new(Cow::Owned(fields))
        .to_der_vec()
        .map_err(serialize_reason)?;
    let null = Null {}.to_der_vec().map_err(serialize_reason)?;
    encode_spki(&OID_PKCS1_RSAENCRYPTION, Some(&null), &rsa_public_key)
}

/// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT
/// STRING }` with `parameters_der` (already DER) after the algorithm OID.
fn encode_spki(
    algorithm: &Oid<'_>,
    parameters_der: Option<&[u8]>,
    public_key: &[u8],
) -> Result<Vec<u8>, String> {
    let mut identifier = algorithm.to_der_vec().map_err(serialize_reason)?;
    if let Some(parameters) = parameters_der {
        identifier.extend_from_slice(parameters);
    }
    let mut body = Sequence::new(Cow::Owned(identifier))
        .to_der_vec()
        .map_err(serialize_reason)?;
    body.extend(
        BitString::new(0, public_key)
            .to_der_vec()
            .map_err(serialize_reason)?,
    );
    Sequence::new(Cow::Owned(body))
        .to_der_vec()
        .map_err(serialize_reason)
}

/// The content of the one SEQUENCE that `der` must be, with nothing after it.
fn whole_sequence(der: &[u8], form: Form) -> Result<Cow<'_, [u8]>, String> {
    match Sequence::from_der(der) {
        Ok(([], sequence)) => Ok(sequence.into_content()),
        Ok((rest, _)) => Err(trailing(form, rest)),
        Err(e) => Err(format!(
            "not a DER {}: {}",
            form.describe(),
            asn1_reason(&e)
        )),
    }
}

fn field(form: Form, name: &str, e: &nom::Err<x509_parser::asn1_rs::Error>) -> String {
    format!("{}: {name}: {}", form.describe(), asn1_reason(e))
}

fn trailing(form: Form, rest: &[u8]) -> String {
    format!(
        "{}: {} trailing bytes after the DER structure",
        form.describe(),
        rest.len()
    )
}

fn asn1_reason(e: &nom::Err<x509_parser::asn1_rs::Error>) -> String {
    match e {
        nom::Err::Incomplete(_) => "truncated DER".to_owned(),
        nom::Err::Error(e) | nom::Err::Failure(e) => e.to_string(),
    }
}

fn x509_reason(e: &nom::Err<X509Error>) -> String {
    match e {
        nom::Err::Incomplete(_) => "truncated DER".to_owned(),
        nom::Err::Error(e) | nom::Err::Failure(e) => e.to_string(),
    }
}

fn serialize_reason(e: SerializeError) -> String {
    format!("cannot encode the public key: {e}")
}

fn key_error(reason: String) -> SignError {
    SignError::Key(format!("next key: {reason}"))
}
