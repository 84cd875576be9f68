//! isop notices in the field's standards (`docs/STIX.md` holds the
//! mapping): a notice as this node holds it ([`isop_api::NoticeView`]) as
//! STIX 2.1 objects ([`notice`]), with its later versions when its author
//! retracts it ([`history()`]); the objects every bundle and collection
//! carries ([`common`]); STIX patterns, written and parsed ([`pattern`]);
//! the TAXII 2.1 resources a node serves ([`taxii`]).
//!
//! Only what the node holds revealed is mapped; a withheld field appears
//! as its path and label, never its value. Ids are derived, not drawn, so
//! that exporting again gives the same objects ([`ids`]).

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bundle;
pub mod common;
pub mod history;
pub mod ids;
pub mod import;
pub mod misp;
pub mod notice;
pub mod pattern;
pub mod taxii;

pub use history::{Retracted, Stage, history};
pub use notice::{Covering, objects};

/// One STIX object, as JSON.
pub type Object = serde_json::Map<String, serde_json::Value>;

/// The STIX version every object is written in.
pub const SPEC_VERSION: &str = "2.1";

/// What keeps a notice or a bundle from being mapped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The notice as the node answered it does not read as the schema.
    #[error("notice {id}: {why}")]
    Notice {
        /// The notice.
        id: String,
        /// What is wrong.
        why: String,
    },
    /// A STIX object is not what it must be.
    #[error("{id}: {why}")]
    Object {
        /// The object's id (or its place in the bundle, if it has none).
        id: String,
        /// What is wrong.
        why: String,
    },
}

/// The string property `key` of the object `o`; empty if it has none.
pub fn str_of<'a>(o: &'a Object, key: &str) -> &'a str {
    o.get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

/// STIX's timestamp form for Unix milliseconds: RFC 3339 in UTC to the
/// millisecond.
pub fn timestamp(ms: u64) -> String {
    isop_core::json::rfc3339(ms)
}
