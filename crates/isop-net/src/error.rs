//! The transport's error type.

use isop_core::OrgId;

/// Why a peer was refused. Each names the check that failed; the text is
/// logged and sent as the connection-close reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The peer presented no certificate.
    #[error("no client certificate")]
    NoCertificate,
    /// The certificate does not parse, or lacks the isop org SAN.
    #[error("bad certificate: {0}")]
    BadCertificate(String),
    /// The certificate names an org the roster does not list.
    #[error("org {0} is not in the roster")]
    UnknownOrg(OrgId),
    /// The org is revoked in the roster.
    #[error("org {0} is revoked")]
    RevokedOrg(OrgId),
    /// The certificate's public key is not pinned for the org.
    #[error("TLS key of {org} does not match the roster pin (SPKI SHA-256 {spki})")]
    PinMismatch {
        /// The org the certificate names.
        org: OrgId,
        /// The presented key's SPKI SHA-256, hex.
        spki: String,
    },
    /// The server is not the org the client meant to reach.
    #[error("expected org {expected}, the peer is {found}")]
    WrongOrg {
        /// The org dialled.
        expected: OrgId,
        /// The org the certificate names.
        found: OrgId,
    },
}

/// Everything that can go wrong in the transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Certificates or keys could not be read or made.
    #[error("PKI: {0}")]
    Pki(String),
    /// TLS configuration failed.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The endpoint could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("connecting to {addr}: {why}")]
    Connect {
        /// The address dialled.
        addr: std::net::SocketAddr,
        /// Why.
        why: String,
    },
    /// The peer was refused, by us or by it.
    #[error("peer refused: {0}")]
    Refused(#[from] Refusal),
    /// The connection was lost or closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A stream failed.
    #[error("stream: {0}")]
    Stream(String),
    /// A frame exceeds the size limit.
    #[error("frame of {size} bytes exceeds the {limit}-byte limit")]
    FrameTooLarge {
        /// The announced size.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// A frame does not decode.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The peer answered with an error frame.
    #[error("peer answered {code:?}: {message}")]
    Remote {
        /// The error code.
        code: isop_proto::v1::ErrorCode,
        /// The peer's message.
        message: String,
    },
    /// A request timed out.
    #[error("request timed out after {0:?}")]
    Timeout(std::time::Duration),
}
