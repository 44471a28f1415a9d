//! The one error type of the signing crate.

use hickory_proto::rr::{Name, RecordType};

/// Everything that can go wrong while building, signing or checking a zone, or while handling
/// keys and certificates. Each variant names the owner, type or key involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// An RRset was built with no records.
    #[error("{name} {rtype}: an RRset needs at least one record")]
    EmptyRrset {
        /// Owner name.
        name: Name,
        /// RR type.
        rtype: RecordType,
    },
    /// An RDATA of another type was put in an RRset.
    #[error("{name} {rtype}: record of type {found} in the RRset")]
    MixedRrset {
        /// Owner name.
        name: Name,
        /// RR type of the set.
        rtype: RecordType,
        /// The type that was found.
        found: RecordType,
    },
    /// A record could not be encoded to wire format.
    #[error("{name} {rtype}: cannot encode: {reason}")]
    Encode {
        /// Owner name.
        name: Name,
        /// RR type.
        rtype: RecordType,
        /// hickory-proto's message.
        reason: String,
    },
    /// A record lies outside the zone.
    #[error("{name} is outside the zone {origin}")]
    OutOfZone {
        /// Owner name.
        name: Name,
        /// Zone apex.
        origin: Name,
    },
    /// The zone content held a type that the signer makes itself.
    #[error("{name} {rtype}: this type is made by the signer and cannot be in the zone content")]
    SignerOwnedType {
        /// Owner name.
        name: Name,
        /// RR type.
        rtype: RecordType,
    },
    /// The zone has a structural error (no SOA, CNAME beside other data, ...).
    #[error("{name}: {reason}")]
    BadZone {
        /// The name where the problem is.
        name: Name,
        /// What is wrong.
        reason: String,
    },
    /// There is no key that can sign this zone.
    #[error("zone {origin}: no signing key")]
    NoKeys {
        /// Zone apex.
        origin: Name,
    },
    /// The crypto library refused to sign.
    #[error("{name} {rtype}: signing with key {key_tag} failed")]
    Signing {
        /// Owner name.
        name: Name,
        /// RR type.
        rtype: RecordType,
        /// Key tag of the key.
        key_tag: u16,
    },
    /// A key could not be created, read or used.
    #[error("key: {0}")]
    Key(String),
    /// A certificate could not be read or used for a TLSA record.
    #[error("certificate: {0}")]
    Certificate(String),
}
