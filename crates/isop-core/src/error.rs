//! The core's error type.

use crate::label::LabelErrorKind;
use crate::{KeyId, NoticeKind, OrgId, Role, Tlp, UnixMillis};

/// Everything that can go wrong in the core. Each message names the thing
/// at fault.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An org id is malformed.
    #[error(
        "invalid org id {0:?}: expected upper-case letters and digits in hyphen-joined groups, 2 to 64 characters"
    )]
    InvalidOrgId(String),
    /// A key name is malformed.
    #[error("invalid key name {0:?}: expected 1 to 64 of A-Z a-z 0-9 . _ -")]
    InvalidKeyName(String),
    /// A key id is malformed.
    #[error("invalid key id {0:?}: expected <ORG-ID>/<key-name>")]
    InvalidKeyId(String),
    /// A notice id is malformed.
    #[error("invalid notice id: {0}")]
    InvalidNoticeId(String),
    /// A country code is malformed.
    #[error("invalid country code {0:?}: expected ISO 3166-1 alpha-2, upper case")]
    InvalidCountry(String),
    /// Key material is malformed.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A signature is not 64 bytes.
    #[error("malformed signature of {0} bytes, expected 64")]
    MalformedSignature(usize),
    /// A label does not parse.
    #[error("invalid label {label:?} at byte {position}: {kind}")]
    InvalidLabel {
        /// The label (first 80 characters).
        label: String,
        /// Byte offset of the problem.
        position: usize,
        /// What is wrong.
        kind: LabelErrorKind,
    },
    /// A protobuf message does not decode.
    #[error("cannot decode {what}: {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's error.
        source: prost::DecodeError,
    },
    /// An envelope has the wrong payload type.
    #[error("wrong payload type {found:?}, expected {expected:?}")]
    WrongPayloadType {
        /// The type required here.
        expected: &'static str,
        /// The type found.
        found: String,
    },
    /// An envelope carries no signature.
    #[error("envelope carries no usable signature")]
    Unsigned,
    /// An envelope carries too many signatures.
    #[error("envelope carries {0} signatures; at most 8 are read")]
    TooManySignatures(usize),
    /// A count in a message is over its limit: refused before any work.
    #[error("{count} {what}; at most {max}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// How many there were.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A signature does not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A key is not in the roster.
    #[error("unknown key {0}")]
    UnknownKey(KeyId),
    /// A key belongs to another org than the payload's author.
    #[error("key {key} does not belong to the author {author}")]
    KeyNotAuthors {
        /// The key.
        key: KeyId,
        /// The author named in the payload.
        author: OrgId,
    },
    /// A key was not valid at the time that counts.
    #[error("key {key} not valid: {why}")]
    KeyNotValid {
        /// The key.
        key: KeyId,
        /// Why.
        why: String,
    },
    /// A new delivery's creation time is ahead of the receiver's clock by
    /// more than the allowed skew.
    #[error(
        "created_at {} is {} ahead of the receiver's clock ({}), more than the {} allowed (max_clock_skew_ms): the sender's clock or the receiver's is wrong (run NTP on both)",
        crate::json::rfc3339(.created_at.0),
        crate::ids::span(.created_at.0.saturating_sub(.now.0)),
        crate::json::rfc3339(.now.0),
        crate::ids::span(*.max_skew_ms)
    )]
    ClockSkew {
        /// The payload's creation time.
        created_at: UnixMillis,
        /// The receiver's clock.
        now: UnixMillis,
        /// The allowed skew.
        max_skew_ms: u64,
    },
    /// A new delivery's creation time is older than the maximum age.
    #[error(
        "created_at {} is {} before the receiver's clock ({}), older than the {} a new notice may be (max_notice_age_ms): expired",
        crate::json::rfc3339(.created_at.0),
        crate::ids::span(.now.0.saturating_sub(.created_at.0)),
        crate::json::rfc3339(.now.0),
        crate::ids::span(*.max_age_ms)
    )]
    Expired {
        /// The payload's creation time.
        created_at: UnixMillis,
        /// The receiver's clock.
        now: UnixMillis,
        /// The maximum age.
        max_age_ms: u64,
    },
    /// An org is not in the roster.
    #[error("org {0} is not in the roster")]
    UnknownOrg(OrgId),
    /// An org is revoked.
    #[error("org {0} is revoked")]
    OrgRevoked(OrgId),
    /// A group is not in the roster.
    #[error("group {0:?} is not in the roster")]
    UnknownGroup(String),
    /// A roster is invalid.
    #[error("invalid roster: {0}")]
    InvalidRoster(String),
    /// A roster is not newer than the current one.
    #[error("roster version {offered} is not newer than the current version {current}")]
    StaleRoster {
        /// The version in force.
        current: u64,
        /// The version offered.
        offered: u64,
    },
    /// The sending policy forbids a notice.
    #[error("policy forbids sending {kind} notices from role {from} to role {to}: {why}")]
    PolicyDenied {
        /// Sender role.
        from: Role,
        /// Recipient role.
        to: Role,
        /// Notice kind.
        kind: NoticeKind,
        /// Why.
        why: &'static str,
    },
    /// A notice is invalid.
    #[error("invalid notice: {what} {why}")]
    InvalidNotice {
        /// The field at fault, as a path.
        what: String,
        /// What is wrong with it.
        why: String,
    },
    /// A value is not one of those its field takes.
    #[error("{field}: {given:?} is not one of {}", valid.join(", "))]
    UnknownValue {
        /// The field, flag or parameter.
        field: String,
        /// What was given.
        given: String,
        /// The values it takes.
        valid: Vec<String>,
    },
    /// A receipt is invalid.
    #[error("invalid receipt: {0}")]
    InvalidReceipt(String),
    /// A disclosure in a delivery does not check out.
    #[error("disclosure {index} of the delivery: {why}")]
    Disclosure {
        /// Its position in the delivery.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// A delivery disclosed a field the receiver is not cleared for: the sender's fault.
    #[error("disclosure {path:?} with label {label:?} exceeds the receiver's clearance")]
    BeyondClearance {
        /// The field path.
        path: String,
        /// Its label.
        label: String,
    },
    /// The receiver is not among the notice's recipients.
    #[error("{0} is not addressed by this notice")]
    NotAddressed(OrgId),
    /// TLP forbids passing a notice on.
    #[error("{tlp} forbids this: {why}")]
    TlpForbids {
        /// The notice's marking.
        tlp: Tlp,
        /// Who may not pass it to whom.
        why: String,
    },
    /// A tree size beyond what the source holds.
    #[error("tree size {size} exceeds the {available} leaves available")]
    TreeSize {
        /// The size asked for.
        size: u64,
        /// The leaves held.
        available: u64,
    },
    /// A proof request out of range.
    #[error("proof request out of range: {0}")]
    ProofRange(String),
    /// A proof does not verify.
    #[error("proof does not verify: {0}")]
    ProofInvalid(String),
    /// A signed note is malformed.
    #[error("malformed signed note: {0}")]
    MalformedNote(String),
    /// A signed note lacks a required signature.
    #[error("note has no signature by {0}")]
    NoteUnsigned(String),
}

impl Error {
    /// The reason code a receiver answers when a delivery fails with this
    /// error (docs/PROTOCOL.md §7). Every variant is named: a new error
    /// must be given its code here.
    pub fn reject_reason(&self) -> isop_proto::v1::RejectReason {
        use isop_proto::v1::RejectReason as R;
        match self {
            Self::Decode { .. }
            | Self::WrongPayloadType { .. }
            | Self::Unsigned
            | Self::TooManySignatures(_)
            | Self::TooMany { .. }
            | Self::MalformedSignature(_) => R::Malformed,
            Self::BadSignature(_) => R::BadSignature,
            Self::UnknownKey(_)
            | Self::KeyNotValid { .. }
            | Self::KeyNotAuthors { .. }
            | Self::UnknownOrg(_)
            | Self::OrgRevoked(_) => R::KeyInvalid,
            Self::ClockSkew { .. } => R::ClockSkew,
            Self::Expired { .. } => R::Expired,
            Self::NotAddressed(_) => R::NotAddressed,
            Self::TlpForbids { .. } => R::Tlp,
            Self::PolicyDenied { .. } => R::Policy,
            Self::Disclosure { .. } | Self::BeyondClearance { .. } => R::Disclosure,
            // What a notice's own content breaks, and what a delivery's
            // checks never raise (rosters, trees, notes): the notice is
            // not one this node can take.
            Self::InvalidNotice { .. }
            | Self::UnknownValue { .. }
            | Self::InvalidOrgId(_)
            | Self::InvalidKeyName(_)
            | Self::InvalidKeyId(_)
            | Self::InvalidNoticeId(_)
            | Self::InvalidCountry(_)
            | Self::InvalidKey(_)
            | Self::InvalidLabel { .. }
            | Self::UnknownGroup(_)
            | Self::InvalidRoster(_)
            | Self::StaleRoster { .. }
            | Self::InvalidReceipt(_)
            | Self::TreeSize { .. }
            | Self::ProofRange(_)
            | Self::ProofInvalid(_)
            | Self::MalformedNote(_)
            | Self::NoteUnsigned(_) => R::InvalidNotice,
        }
    }
}
