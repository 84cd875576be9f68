//! isop's transport: QUIC with mutual TLS between federation members.
//!
//! This is the only crate that knows quinn and rustls. It builds endpoints
//! from the federation CA and a node's certificate (TLS 1.3 only, ALPN
//! `isop/1`, client certificates required, no 0-RTT, the ring provider),
//! reads a peer's org from its certificate (`URI:urn:isop:org:<ORG-ID>`),
//! lets the node's [`Gate`] admit or refuse it (the refusal is the
//! connection-close reason), and moves frames: one request per
//! bidirectional stream, a 4-byte big-endian length, a size limit. It also
//! makes the federation's certificates ([`pki`]). It knows nothing of
//! rosters, notices or logs.
//!
//! ```no_run
//! # async fn demo(ca: Vec<rustls_pki_types::CertificateDer<'static>>, id: isop_net::TlsIdentity) -> Result<(), isop_net::Error> {
//! use std::sync::Arc;
//! use isop_net::{Endpoint, EndpointConfig};
//! let gate: isop_net::Gate = Arc::new(|_peer| Ok(()));
//! let ep = Endpoint::bind("127.0.0.1:0".parse().unwrap(), EndpointConfig::new(ca, id), gate)?;
//! let conn = ep.connect("127.0.0.1:4433".parse().unwrap(), &"KR-KNPA".parse().unwrap()).await?;
//! let answer = conn.request(&isop_proto::v1::Frame {
//!     kind: Some(isop_proto::v1::frame::Kind::GetCheckpoint(Default::default())),
//!     ..Default::default()
//! }).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod endpoint;
mod error;
mod frame;
mod https;
mod identity;
#[cfg(feature = "memory")]
mod memory;
pub mod pki;
mod tls;

pub use endpoint::{
    Endpoint, EndpointConfig, Gate, HANDSHAKE_TIMEOUT, Incoming, IncomingRequest, PeerConnection,
    Request,
};
pub use error::{Error, Refusal};
pub use frame::{DEFAULT_MAX_FRAME, check_len, decode_frame, encode_frame, error_frame};
pub use https::{HttpsClientConfig, https_client_config};
pub use identity::PeerIdentity;
#[cfg(feature = "memory")]
pub use memory::MemoryNetwork;
pub use tls::{ALPN, TlsIdentity};

pub use rustls_pki_types::CertificateDer;
