//! Generated protobuf types of the isop v1 wire schema.
//!
//! The schema's only source is `proto/isop/v1/`; `build.rs` compiles it with
//! protox and prost-build at build time, so no system `protoc` is needed.
//! This crate holds no logic: `isop-core` turns these types into validated
//! ones with `TryFrom`, and nothing else should construct wire messages by
//! hand.
//!
//! ```
//! use isop_proto::v1::{Envelope, Signature};
//! use prost::Message;
//!
//! let env = Envelope {
//!     payload_type: "application/vnd.isop.notice.v1+protobuf".into(),
//!     payload: b"...".to_vec().into(),
//!     signatures: vec![Signature { keyid: "RH-FILMCO/k1".into(), sig: vec![0; 64].into() }],
//! };
//! let bytes = env.encode_to_vec();
//! assert_eq!(Envelope::decode(bytes.as_slice()).unwrap(), env);
//! ```

#![forbid(unsafe_code)]

/// Version 1 of the schema (`package isop.v1`).
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    rustdoc::all
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/isop.v1.rs"));
}

pub use prost;
