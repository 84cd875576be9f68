//! Receipts: a receiver's signed statement that it durably holds a
//! delivery (or why it refused it).

use bytes::Bytes;
use isop_proto::v1 as pb;
use prost::Message;

use crate::dsse::{self, RECEIPT_PAYLOAD_TYPE, sign_envelope};
use crate::{Error, Judgement, KeyId, LogIndex, NoticeId, OrgId, Roster, Signer, UnixMillis};

/// The outcome a receipt states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Appended durably at this index.
    Accepted(LogIndex),
    /// Already held at this index.
    Duplicate(LogIndex),
    /// Refused.
    Rejected {
        /// The reason code.
        code: pb::RejectReason,
        /// Human-readable reason.
        reason: String,
    },
}

/// A receipt's content, before signing.
#[derive(Clone, Debug)]
pub struct ReceiptDraft {
    /// The notice delivered; `None` only for a delivery too malformed to name one.
    pub notice_id: Option<NoticeId>,
    /// SHA-256 of the notice payload; `None` as for `notice_id`.
    pub notice_digest: Option<[u8; 32]>,
    /// Digests of the disclosures received, in delivery order.
    pub disclosure_digests: Vec<[u8; 32]>,
    /// When it was received.
    pub received_at: UnixMillis,
    /// The outcome.
    pub outcome: ReceiptOutcome,
}

impl ReceiptDraft {
    /// Signs the receipt as `signer`'s org.
    pub fn sign(&self, signer: &Signer) -> Result<pb::Envelope, Error> {
        let (status, log_index, reason_code, reason) = match &self.outcome {
            ReceiptOutcome::Accepted(i) => (
                pb::ReceiptStatus::Accepted,
                i.0,
                pb::RejectReason::Unspecified,
                String::new(),
            ),
            ReceiptOutcome::Duplicate(i) => (
                pb::ReceiptStatus::Duplicate,
                i.0,
                pb::RejectReason::Unspecified,
                String::new(),
            ),
            ReceiptOutcome::Rejected { code, reason } => {
                (pb::ReceiptStatus::Rejected, 0, *code, reason.clone())
            }
        };
        let msg = pb::Receipt {
            notice_id: self
                .notice_id
                .map(|i| Bytes::copy_from_slice(i.as_bytes()))
                .unwrap_or_default(),
            notice_digest: self
                .notice_digest
                .map(|d| Bytes::copy_from_slice(&d))
                .unwrap_or_default(),
            disclosure_digests: self
                .disclosure_digests
                .iter()
                .map(|d| Bytes::copy_from_slice(d))
                .collect(),
            receiver: signer.id().org.to_string(),
            received_at: self.received_at.0,
            log_index,
            status: status as i32,
            reason_code: reason_code as i32,
            reason,
        };
        let payload = Bytes::from(msg.encode_to_vec());
        Receipt::validate(msg)?;
        Ok(sign_envelope(signer, RECEIPT_PAYLOAD_TYPE, payload))
    }
}

/// A verified receipt.
#[derive(Clone, Debug)]
pub struct Receipt {
    receiver: OrgId,
    notice_id: Option<NoticeId>,
    notice_digest: Option<[u8; 32]>,
    disclosure_digests: Vec<[u8; 32]>,
    received_at: UnixMillis,
    outcome: ReceiptOutcome,
    signed_by: Option<KeyId>,
}

impl Receipt {
    /// Verifies a receipt envelope: signed by a key of the receiver it names,
    /// valid under `judgement`.
    pub fn verify(
        env: &pb::Envelope,
        roster: &Roster,
        judgement: Judgement,
    ) -> Result<Self, Error> {
        let mut r = Self::open(env)?;
        let pending = roster.resolve_signature(env, &r.receiver, r.received_at, judgement)?;
        if !pending.verify() {
            return Err(Error::BadSignature(format!(
                "receipt signed by {}",
                pending.key_id
            )));
        }
        r.signed_by = Some(pending.key_id);
        Ok(r)
    }

    /// Verifies many receipt envelopes with one batch signature check (on a
    /// batch failure each signature is checked alone, so every result names
    /// its own problem), each as [`Receipt::verify`] would.
    pub fn verify_batch(
        envs: &[pb::Envelope],
        roster: &Roster,
        judgement: Judgement,
    ) -> Vec<Result<Self, Error>> {
        let opened: Vec<Result<(Self, crate::PendingSignature), Error>> = envs
            .iter()
            .map(|env| {
                let r = Self::open(env)?;
                let sig = roster.resolve_signature(env, &r.receiver, r.received_at, judgement)?;
                Ok((r, sig))
            })
            .collect();
        let pending: Vec<usize> = (0..opened.len()).filter(|&i| opened[i].is_ok()).collect();
        let checks: Vec<_> = pending
            .iter()
            .filter_map(|&i| opened[i].as_ref().ok().map(|(_, sig)| sig.check()))
            .collect();
        let bad: Vec<usize> = crate::verify_batch(&checks)
            .into_iter()
            .map(|j| pending[j])
            .collect();
        opened
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                let (mut r, sig) = o?;
                if bad.contains(&i) {
                    return Err(Error::BadSignature(format!(
                        "receipt signed by {}",
                        sig.key_id
                    )));
                }
                r.signed_by = Some(sig.key_id);
                Ok(r)
            })
            .collect()
    }

    /// Decodes and validates a receipt envelope **without** checking its
    /// signature, for a caller that checks signatures in batches: resolve
    /// the key with [`Roster::resolve_signature`] (author: the receiver; time:
    /// `received_at`) and check it before trusting anything here.
    pub fn open(env: &pb::Envelope) -> Result<Self, Error> {
        dsse::check_shape(env, RECEIPT_PAYLOAD_TYPE)?;
        let msg = pb::Receipt::decode(env.payload.as_ref()).map_err(|e| Error::Decode {
            what: "receipt",
            source: e,
        })?;
        Self::validate(msg)
    }

    fn validate(m: pb::Receipt) -> Result<Self, Error> {
        let bad = |why: String| Error::InvalidReceipt(why);
        let receiver = OrgId::new(&m.receiver)?;
        if m.received_at == 0 {
            return Err(bad("received_at is not set".into()));
        }
        let status = pb::ReceiptStatus::try_from(m.status)
            .map_err(|_| bad(format!("status {} is unknown", m.status)))?;
        let outcome = match status {
            pb::ReceiptStatus::Accepted => ReceiptOutcome::Accepted(LogIndex(m.log_index)),
            pb::ReceiptStatus::Duplicate => ReceiptOutcome::Duplicate(LogIndex(m.log_index)),
            pb::ReceiptStatus::Rejected => {
                let code = pb::RejectReason::try_from(m.reason_code)
                    .ok()
                    .filter(|c| *c != pb::RejectReason::Unspecified)
                    .ok_or_else(|| bad("a rejection needs a reason code".into()))?;
                ReceiptOutcome::Rejected {
                    code,
                    reason: m.reason,
                }
            }
            pb::ReceiptStatus::Unspecified => return Err(bad("status is not set".into())),
        };
        let rejected = matches!(outcome, ReceiptOutcome::Rejected { .. });
        let notice_id = match (m.notice_id.is_empty(), rejected) {
            (true, true) => None,
            (true, false) => return Err(bad("notice_id is required unless rejected".into())),
            (false, _) => Some(NoticeId::from_slice(&m.notice_id)?),
        };
        let notice_digest = match (m.notice_digest.is_empty(), rejected) {
            (true, true) => None,
            _ => Some(
                <[u8; 32]>::try_from(m.notice_digest.as_ref())
                    .map_err(|_| bad("notice_digest is not 32 bytes".into()))?,
            ),
        };
        let disclosure_digests = m
            .disclosure_digests
            .iter()
            .map(|d| <[u8; 32]>::try_from(d.as_ref()))
            .collect::<Result<_, _>>()
            .map_err(|_| bad("a disclosure digest is not 32 bytes".into()))?;
        Ok(Self {
            receiver,
            notice_id,
            notice_digest,
            disclosure_digests,
            received_at: UnixMillis(m.received_at),
            outcome,
            signed_by: None,
        })
    }

    /// The receiver (and signer).
    pub fn receiver(&self) -> &OrgId {
        &self.receiver
    }
    /// The notice it is about.
    pub fn notice_id(&self) -> Option<NoticeId> {
        self.notice_id
    }
    /// SHA-256 of the notice payload received.
    pub fn notice_digest(&self) -> Option<&[u8; 32]> {
        self.notice_digest.as_ref()
    }
    /// The disclosures received.
    pub fn disclosure_digests(&self) -> &[[u8; 32]] {
        &self.disclosure_digests
    }
    /// When it was received.
    pub fn received_at(&self) -> UnixMillis {
        self.received_at
    }
    /// The outcome.
    pub fn outcome(&self) -> &ReceiptOutcome {
        &self.outcome
    }
    /// The key whose signature verified.
    pub fn signed_by(&self) -> Option<&KeyId> {
        self.signed_by.as_ref()
    }
}
