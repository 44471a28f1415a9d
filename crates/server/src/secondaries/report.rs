//! What the NOTIFY and SOA poll tasks tell the manager about each secondary, over a channel
//! of their own (the manager keeps the propagation [`Tracker`](super::propagation::Tracker)).

use std::net::SocketAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;

use crate::secondaries::client::ClientError;

/// What a NOTIFY or SOA poll task learned about one secondary of one zone.
#[derive(Debug)]
pub struct SecondaryReport {
    /// The zone.
    pub zone: Name,
    /// The secondary (its configured address).
    pub secondary: SocketAddr,
    /// What was learned.
    pub kind: ReportKind,
}

/// One observation of a secondary.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReportKind {
    /// A NOTIFY round for `serial` ended.
    Notify {
        /// The serial notified.
        serial: u32,
        /// Whether the secondary acknowledged it.
        acknowledged: bool,
    },
    /// A SOA poll: the serial served, or why there is none.
    Soa(Result<u32, SoaError>),
}

/// Why a SOA poll learned no serial.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SoaError {
    /// No usable answer.
    #[error(transparent)]
    Exchange(#[from] ClientError),
    /// The secondary answered with an error code.
    #[error("answered {rcode}")]
    Rcode {
        /// The response code.
        rcode: ResponseCode,
    },
    /// The answer holds no SOA of the zone.
    #[error("no SOA of the zone in the answer")]
    NoSoa,
}
