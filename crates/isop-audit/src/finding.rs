//! Findings: a broken rule, named by kind and located by entry index.

use std::fmt;

use serde::Serialize;

/// What rule a finding says was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum FindingKind {
    /// A record cannot be read (bad length or encoding); reading stops there.
    FileMalformed,
    /// The file ends without a trailer.
    Truncated,
    /// Records are out of the documented order.
    RecordOutOfOrder,
    /// The trailer's count, root or record count disagrees with the file.
    TrailerMismatch,
    /// A roster record or roster entry is not validly signed by the roster
    /// key, or goes back in version.
    RosterInvalid,
    /// An entry does not decode, or holds no usable record.
    EntryInvalid,
    /// An entry's `index` is not its position: an entry was deleted,
    /// inserted or moved.
    EntryIndexMismatch,
    /// An envelope's signature does not verify.
    BadSignature,
    /// An envelope is signed by a key that is unknown, not its author's, or
    /// not valid (expired, revoked) when it was made.
    KeyNotValid,
    /// A disclosure does not match any commitment of its entry, or is not
    /// held by the entry it follows.
    DisclosureMismatch,
    /// A disclosure went to (or was held by) an org whose clearance does not
    /// satisfy its label.
    DisclosureBeyondClearance,
    /// A notice travelled against its TLP marking.
    TlpViolation,
    /// A retraction of a notice the log holds, by another org than that
    /// notice's author.
    RetractionNotByAuthor,
    /// A notice the sending policy forbids (author role, receiver role,
    /// kind, reply rules), sent or accepted all the same.
    PolicyViolation,
    /// A notice went to (or came from) an org it was not addressed to, or
    /// from a sender that was not an active member.
    NotAddressed,
    /// A sent notice has neither a receipt from a recipient nor a pending
    /// delivery to it.
    MissingReceipt,
    /// So many sent notices awaited receipts at once that they reached the
    /// verifier's memory bound: the receipts of those sent from then on
    /// were not checked.
    TooManyOutstanding,
    /// A receipt does not match the notice it answers (digest, receiver,
    /// or no such notice sent), or repeats one already held.
    ReceiptMismatch,
    /// A checkpoint does not sit right after the entry that brings the log
    /// to its size, or is not of this log.
    CheckpointMisplaced,
    /// A checkpoint's root is not the root of the entries before it.
    CheckpointRootMismatch,
    /// A checkpoint carries no valid signature by the log's origin.
    CheckpointSignature,
    /// Entries that no valid checkpoint of the origin covers (none at all,
    /// or a tail after the last one): nothing attests them.
    Unattested,
    /// A cosignature line by a roster key does not verify.
    CosignatureInvalid,
    /// Two signed views of one log disagree: a cosigned checkpoint whose
    /// root differs from the log's at that size.
    SplitView,
    /// A notice sent to a peer is missing from the peer's log, with no
    /// receipt held and no delivery pending.
    Omission,
    /// A peer signed a receipt for a notice its own log does not hold (or
    /// holds elsewhere than the receipt says).
    DenialOfReceipt,
    /// The peer's log holds a notice, but the sender holds no receipt for it
    /// and has no delivery pending.
    ReceiptNotHeld,
    /// The two logs hold different bytes for the same notice id.
    DigestMismatch,
}

impl FindingKind {
    /// The kind's name, as in reports: `BAD_SIGNATURE`, `SPLIT_VIEW`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FileMalformed => "FILE_MALFORMED",
            Self::Truncated => "TRUNCATED",
            Self::RecordOutOfOrder => "RECORD_OUT_OF_ORDER",
            Self::TrailerMismatch => "TRAILER_MISMATCH",
            Self::RosterInvalid => "ROSTER_INVALID",
            Self::EntryInvalid => "ENTRY_INVALID",
            Self::EntryIndexMismatch => "ENTRY_INDEX_MISMATCH",
            Self::BadSignature => "BAD_SIGNATURE",
            Self::KeyNotValid => "KEY_NOT_VALID",
            Self::DisclosureMismatch => "DISCLOSURE_MISMATCH",
            Self::DisclosureBeyondClearance => "DISCLOSURE_BEYOND_CLEARANCE",
            Self::TlpViolation => "TLP_VIOLATION",
            Self::RetractionNotByAuthor => "RETRACTION_NOT_BY_AUTHOR",
            Self::PolicyViolation => "POLICY_VIOLATION",
            Self::NotAddressed => "NOT_ADDRESSED",
            Self::MissingReceipt => "MISSING_RECEIPT",
            Self::TooManyOutstanding => "TOO_MANY_OUTSTANDING",
            Self::ReceiptMismatch => "RECEIPT_MISMATCH",
            Self::CheckpointMisplaced => "CHECKPOINT_MISPLACED",
            Self::CheckpointRootMismatch => "CHECKPOINT_ROOT_MISMATCH",
            Self::CheckpointSignature => "CHECKPOINT_SIGNATURE",
            Self::Unattested => "UNATTESTED",
            Self::CosignatureInvalid => "COSIGNATURE_INVALID",
            Self::SplitView => "SPLIT_VIEW",
            Self::Omission => "OMISSION",
            Self::DenialOfReceipt => "DENIAL_OF_RECEIPT",
            Self::ReceiptNotHeld => "RECEIPT_NOT_HELD",
            Self::DigestMismatch => "DIGEST_MISMATCH",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What rule.
    pub kind: FindingKind,
    /// The log whose entry is at fault (the export's origin).
    pub log: String,
    /// The entry at fault, if the finding concerns one.
    pub index: Option<u64>,
    /// Byte offset of the record in the export file, if known.
    pub offset: Option<u64>,
    /// What exactly is wrong.
    pub detail: String,
}

impl FindingKind {
    /// Whether the finding is about the export file itself (its records,
    /// their order, its end), judged without any roster.
    pub fn is_structural(self) -> bool {
        matches!(
            self,
            Self::Truncated | Self::FileMalformed | Self::RecordOutOfOrder | Self::TrailerMismatch
        )
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<27} {}", self.kind, self.log)?;
        match self.index {
            Some(i) => write!(f, " entry {i}")?,
            None => write!(f, " (file)")?,
        }
        if let Some(o) = self.offset {
            write!(f, " @byte {o}")?;
        }
        // The detail quotes what members wrote: shown escaped.
        write!(f, ": {}", isop_core::text::printable(&self.detail))
    }
}

/// Findings kept in a report; beyond this only the count grows, so a file
/// full of garbage cannot exhaust memory.
pub(crate) const MAX_KEPT: usize = 10_000;

/// A bounded list of findings about one log.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) log: String,
    pub(crate) kept: Vec<Finding>,
    pub(crate) total: u64,
}

impl Findings {
    pub(crate) fn new(log: &str) -> Self {
        Self {
            log: log.into(),
            ..Default::default()
        }
    }

    pub(crate) fn add(
        &mut self,
        kind: FindingKind,
        index: Option<u64>,
        offset: Option<u64>,
        detail: impl Into<String>,
    ) {
        let log = self.log.clone();
        self.add_in(&log, kind, index, offset, detail);
    }

    /// A finding about another log than this list's own (a cross-check's).
    pub(crate) fn add_in(
        &mut self,
        log: &str,
        kind: FindingKind,
        index: Option<u64>,
        offset: Option<u64>,
        detail: impl Into<String>,
    ) {
        self.total += 1;
        if self.kept.len() < MAX_KEPT {
            self.kept.push(Finding {
                kind,
                log: log.to_owned(),
                index,
                offset,
                detail: detail.into(),
            });
        }
    }

    pub(crate) fn merge(&mut self, other: Findings) {
        self.total += other.total;
        let room = MAX_KEPT.saturating_sub(self.kept.len());
        self.kept.extend(other.kept.into_iter().take(room));
    }

    /// The findings in entry order (file-level ones last).
    pub(crate) fn sorted(mut self) -> (Vec<Finding>, u64) {
        self.kept
            .sort_by_key(|f| (f.index.is_none(), f.index, f.offset, f.kind));
        (self.kept, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_shows_what_members_wrote_escaped() {
        let f = Finding {
            kind: FindingKind::PolicyViolation,
            log: "KR-KNPA".into(),
            index: Some(7),
            offset: None,
            detail: "reason \u{1b}]0;title\u{7}\nTRUNCATED fake".into(),
        };
        assert_eq!(
            f.to_string(),
            "POLICY_VIOLATION            KR-KNPA entry 7: reason \\u{1b}]0;title\\u{7}\\nTRUNCATED fake"
        );
    }
}
