//! The sans-IO core of isop: identifiers, DSSE signing, the roster, access
//! labels, labelled-field disclosures, notices, TLP, receipts, RFC 6962
//! Merkle trees and C2SP checkpoints.
//!
//! It does no I/O and reads no clock: times ([`UnixMillis`]) and randomness
//! (a `CryptoRngCore`) come in as arguments, bytes come in and go out. It
//! knows nothing of tokio, sled, quinn or rustls.
//!
//! The paved path: an author seals a [`NoticeDraft`] into a
//! [`SealedNotice`]; [`SealedNotice::delivery_for`] gives each recipient a
//! [`Delivery`] redacted to its [`Clearance`]; the recipient turns it into a
//! [`VerifiedDelivery`] with [`Delivery::verify`], the only way to get one.
//!
//! ```
//! use isop_core::*;
//! use isop_core::pb;
//! # fn main() -> Result<(), Error> {
//! let mut rng = rand_core::OsRng;
//! let now = UnixMillis(1_780_000_000_000);
//! let partner: OrgId = "RH-FILMCO".parse()?;
//! let agency: OrgId = "KR-KNPA".parse()?;
//! let signer = Signer::new(KeyId::new(partner.clone(), "k1".parse()?), SecretKey::generate(&mut rng));
//! # let roster = Roster::try_from(pb::Roster {
//! #     federation: "doc".into(), version: 1, issued_at: 1,
//! #     members: vec![
//! #         pb::Member { org_id: "RH-FILMCO".into(), role: pb::Role::Partner as i32, country: "US".into(),
//! #             keys: vec![pb::SigningKey { name: "k1".into(), public_key: signer.public().to_bytes().to_vec().into(),
//! #                 not_before: 0, not_after: u64::MAX, ..Default::default() }], ..Default::default() },
//! #         pb::Member { org_id: "KR-KNPA".into(), role: pb::Role::Agency as i32, country: "KR".into(), ..Default::default() },
//! #     ],
//! #     groups: vec![], policy: Some(Policy::standard().to_pb()),
//! # })?;
//! let body = ReferralBuilder::new(pb::Target { domain: "streamz.example".into(), ..Default::default() })
//!     .category(pb::ContentCategory::LiveSport)
//!     .work("Final 2026", "FilmCo", &[])
//!     .evidence([1; 32], now, pb::CaptureMethod::StreamRecording, "recording of the stream")
//!     .action(pb::RequestedAction::Takedown)
//!     .jurisdiction("KR")
//!     .affirm_statements()
//!     .build();
//! let sealed = NoticeDraft::new(Tlp::Amber, body)
//!     .to_org(&agency)
//!     .labelled("referral.contact", "role:hub", pb::field_value::Value::Text("desk@filmco.example".into()))
//!     .seal(&signer, now, &mut rng)?;
//! let delivery = sealed.delivery_for(&roster.clearance(&agency)?);
//! let verified = delivery.verify(&roster, &agency, Judgement::live(now))?;
//! assert_eq!(verified.withheld()[0].path, "referral.contact");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod builders;
mod checkpoint;
mod disclosure;
mod dsse;
mod error;
mod ids;
pub mod indicator;
pub mod json;
mod keys;
mod label;
pub mod merkle;
mod notice;
pub mod protocol;
mod receipt;
mod roster;
mod seal;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;
mod tlp;

pub use builders::{
    CaseMessageBuilder, IntelReportBuilder, ReferralBuilder, RetractionBuilder,
    StatusUpdateBuilder, TakedownRequestBuilder,
};
pub use checkpoint::{
    Checkpoint, MAX_NOTE_LEN, MAX_NOTE_SIGNATURES, NoteSignature, NoteSigners, NoteVerifier,
    SignedNote, key_hash,
};
pub use disclosure::{
    Delivery, Redaction, RevealedField, SALT_LEN, SealedDisclosure, SignedDelivery,
    VerifiedDelivery, WithheldField, sha256,
};
pub use dsse::{
    MAX_SIGNATURES, NOTICE_PAYLOAD_TYPE, PendingSignature, RECEIPT_PAYLOAD_TYPE,
    RECEIPTS_PAYLOAD_TYPE, ROSTER_PAYLOAD_TYPE, check_shape, pae, sign_envelope,
};
pub use error::Error;
pub use ids::{KeyId, KeyName, LogIndex, NoticeId, OrgId, UnixMillis, span};
pub use keys::{
    PublicKey, SecretKey, SigCheck, Signature, Signer, public_key_from_slice, verify_batch,
};
pub use label::{Clearance, Label, LabelErrorKind, MAX_LABEL_DEPTH, MAX_LABEL_LEN};
pub use notice::{
    Commitment, MAX_FIELDS, MAX_ITEMS, MAX_PATH_LEN, MAX_RECIPIENTS, Notice, NoticeKind,
};
pub use receipt::{MAX_RECEIPTS, Receipt, ReceiptDraft, ReceiptOutcome, SignedReceipts};
pub use roster::{
    Judgement, MatchRule, Member, MemberKey, Policy, PolicyRule, ReplyContext, Role, Roster,
    RosterBuilder, RosterKey,
};
pub use seal::{NoticeDraft, SealedNotice};
pub use tlp::{Tlp, Transmission, check_transmission};

/// The generated wire types (`isop.v1`), re-exported for building bodies.
pub use isop_proto::v1 as pb;
