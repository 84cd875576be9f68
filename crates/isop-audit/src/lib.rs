//! The auditor's toolkit: verify, replay and cross-check isop log exports
//! offline, from the export files and the federation's roster key alone.
//!
//! - [`verify`] streams one export in bounded memory and reports every
//!   broken rule as a [`Finding`] naming its kind and entry index: the
//!   RFC 6962 tree against every checkpoint, checkpoint signatures and
//!   cosignatures, envelope signatures against the roster in force (batch
//!   verified on worker threads, each failure located), disclosures against
//!   their commitments, clearances, TLP onward-sharing, and a receipt (or a
//!   pending delivery) for every notice sent. Its memory is a fixed part,
//!   about 40 bytes per notice the log holds (where each was first logged,
//!   what a later retraction or addition is judged against) whatever the
//!   notices hold, and the notices still awaiting receipts, bounded by
//!   [`VerifyOptions::max_outstanding_bytes`].
//! - [`replay`] rebuilds the story: each referral's lifecycle, cases and
//!   their participants, receipt latency per peer, and who saw which
//!   labelled field when (paths and labels only, never values).
//! - [`cross_check`] compares two nodes' exports: every notice one sent the
//!   other is in the other's log with the same digest and receipted, and the
//!   checkpoints each cosigned for the other match the other's history.
//!
//! It knows no database and no network: only the export format
//! ([`isop_export`]) and the core's checks.

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cross;
mod entry;
mod finding;
mod replay;
mod verify;

pub use cross::{CrossReport, cross_check};
pub use finding::{Finding, FindingKind};
pub use replay::{
    AccessSeen, CaseStory, FieldView, MatchSeen, PeerLatency, ReferralEvent, ReferralStory, Story,
    replay,
};
pub use verify::{DEFAULT_MAX_OUTSTANDING_BYTES, ErasureSeen, VerifyOptions, VerifyReport, verify};

/// Why an export could not be audited at all: it could not be read, or it
/// is not an isop export. Problems inside an export are [`Finding`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Reading the file failed.
    #[error("cannot read the export at byte {offset}: {source}")]
    Io {
        /// Byte offset.
        offset: u64,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not start with an isop export header.
    #[error("not an isop export (record {record} at byte {offset}): {why}")]
    NotAnExport {
        /// Record number.
        record: u64,
        /// Byte offset.
        offset: u64,
        /// What is wrong.
        why: String,
    },
}

/// Progress of a pass over an export: called now and then with the bytes
/// read so far.
pub type Progress<'a> = &'a mut dyn FnMut(u64);
