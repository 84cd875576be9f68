//! The isop node's local API as types: every request and answer of
//! `docs/api.openapi.yaml`, shared by the node that serves them and the
//! clients that read them (the `isop` CLI, and partners' systems written in
//! Rust), and [`ApiClient`], a typed client.
//!
//! Values follow the canonical protobuf JSON mapping as `isop_core::json`
//! profiles it: enum values by their full names (`TLP_AMBER`,
//! `NOTICE_KIND_REFERRAL`), ids as UUIDs, digests as hex, times as RFC
//! 3339. The schemas of `docs/api.openapi.yaml` are generated from these
//! types ([`schemas`]); a test keeps the file in step.
//!
//! ```
//! use isop_api::{ErrorBody, ErrorCode};
//!
//! let e: ErrorBody = serde_json::from_str(
//!     r#"{ "code": "NOT_FOUND", "message": "notice 0190… is not in this log" }"#,
//! ).unwrap();
//! assert_eq!(e.code, ErrorCode::NotFound);
//! ```

mod client;
mod model;

pub use client::{ApiClient, Error, http_client, http_client_builder};
pub use model::*;
