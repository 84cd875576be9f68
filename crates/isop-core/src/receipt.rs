//! Receipts: a receiver's signed statement that it durably holds a
//! delivery (or why it refused it).

use bytes::Bytes;
use isop_proto::v1 as pb;
use prost::Message;

use crate::dsse::{self, RECEIPT_PAYLOAD_TYPE, RECEIPTS_PAYLOAD_TYPE, sign_envelope};
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
        /// Where the receiver logged the rejection (`log_index`; 0 on the
        /// wire for none: the logged copy itself, or one counted but not
        /// logged past the sender's limit). Index 0 of a log is never a
        /// rejection: it is the roster the log starts with.
        logged: Option<LogIndex>,
    },
}

impl ReceiptOutcome {
    /// Whether this answer ends the delivery: an acceptance, a duplicate,
    /// or a rejection other than `CLOCK_SKEW`. A notice refused for
    /// looking ahead of the receiver's clock is kept and retried (with the
    /// sender's backoff) until a clock is put right or time catches up; an
    /// auditor counts the delivery as still waiting.
    pub fn settles(&self) -> bool {
        !matches!(
            self,
            Self::Rejected {
                code: pb::RejectReason::ClockSkew,
                ..
            }
        )
    }
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
    /// A rejection, stating where the receiver logged it; any other
    /// outcome as it is.
    pub fn logged_at(mut self, at: Option<LogIndex>) -> Self {
        if let ReceiptOutcome::Rejected { logged, .. } = &mut self.outcome {
            *logged = at;
        }
        self
    }

    /// The receipt message, as `receiver` states it.
    fn message(&self, receiver: &OrgId) -> pb::Receipt {
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
            ReceiptOutcome::Rejected {
                code,
                reason,
                logged,
            } => (
                pb::ReceiptStatus::Rejected,
                logged.map_or(0, |i| i.0),
                *code,
                reason.clone(),
            ),
        };
        pb::Receipt {
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
            receiver: receiver.to_string(),
            received_at: self.received_at.0,
            log_index,
            status: status as i32,
            reason_code: reason_code as i32,
            reason,
        }
    }

    /// Signs the receipt as `signer`'s org.
    pub fn sign(&self, signer: &Signer) -> Result<pb::Envelope, Error> {
        let msg = self.message(&signer.id().org);
        let payload = Bytes::from(msg.encode_to_vec());
        Receipt::validate(msg)?;
        Ok(sign_envelope(signer, RECEIPT_PAYLOAD_TYPE, payload))
    }

    /// Signs the receipts for a batch of deliveries, in its order, under one
    /// signature as `signer`'s org: a `ReceiptList` envelope. There must be
    /// 1 to [`MAX_RECEIPTS`], all received at the same time.
    pub fn sign_list(drafts: &[ReceiptDraft], signer: &Signer) -> Result<pb::Envelope, Error> {
        let list = pb::ReceiptList {
            receipts: drafts.iter().map(|d| d.message(&signer.id().org)).collect(),
        };
        let payload = Bytes::from(list.encode_to_vec());
        SignedReceipts::validate_list(list)?;
        Ok(sign_envelope(signer, RECEIPTS_PAYLOAD_TYPE, payload))
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
    /// Decodes and validates a single-receipt envelope, signature unchecked.
    fn open(env: &pb::Envelope) -> Result<Self, Error> {
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
                    logged: (m.log_index != 0).then_some(LogIndex(m.log_index)),
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

/// The most receipts one `ReceiptList` may carry (as a `DeliverBatch` may
/// carry at most this many deliveries).
pub const MAX_RECEIPTS: usize = 256;

/// The receipts under one receiver's signature: a single `Receipt`, or a
/// `ReceiptList` answering a batch of deliveries. Every receipt names the
/// same receiver and time. This is how any receipt envelope is opened and
/// verified.
#[derive(Clone, Debug)]
pub struct SignedReceipts {
    receipts: Vec<Receipt>,
}

impl SignedReceipts {
    /// Decodes and validates a receipt or receipt-list envelope **without**
    /// checking its signature, for a caller that checks signatures in
    /// batches: resolve the key with [`Roster::resolve_signature`] (author:
    /// [`Self::receiver`]; time: [`Self::received_at`]) and check it before
    /// trusting anything here.
    pub fn open(env: &pb::Envelope) -> Result<Self, Error> {
        if env.payload_type == RECEIPT_PAYLOAD_TYPE {
            return Ok(Self {
                receipts: vec![Receipt::open(env)?],
            });
        }
        dsse::check_shape(env, RECEIPTS_PAYLOAD_TYPE)?;
        let list = pb::ReceiptList::decode(env.payload.as_ref()).map_err(|e| Error::Decode {
            what: "receipt list",
            source: e,
        })?;
        Self::validate_list(list)
    }

    /// Verifies a receipt or receipt-list envelope: one signature by a key
    /// of the receiver the receipts name, valid under `judgement` at their
    /// `received_at`.
    pub fn verify(
        env: &pb::Envelope,
        roster: &Roster,
        judgement: Judgement,
    ) -> Result<Self, Error> {
        let mut r = Self::open(env)?;
        let pending = roster.resolve_signature(env, r.receiver(), r.received_at(), judgement)?;
        if !pending.verify() {
            return Err(Error::BadSignature(format!(
                "receipts signed by {}",
                pending.key_id
            )));
        }
        for receipt in &mut r.receipts {
            receipt.signed_by = Some(pending.key_id.clone());
        }
        Ok(r)
    }

    fn validate_list(list: pb::ReceiptList) -> Result<Self, Error> {
        let bad = |why: String| Error::InvalidReceipt(why);
        let n = list.receipts.len();
        if n == 0 || n > MAX_RECEIPTS {
            return Err(bad(format!(
                "a receipt list of {n} receipts; 1 to {MAX_RECEIPTS} are allowed"
            )));
        }
        let receipts = list
            .receipts
            .into_iter()
            .map(Receipt::validate)
            .collect::<Result<Vec<_>, _>>()?;
        let first = &receipts[0];
        if let Some((i, r)) = receipts
            .iter()
            .enumerate()
            .find(|(_, r)| r.receiver != first.receiver || r.received_at != first.received_at)
        {
            return Err(bad(format!(
                "receipt {i} of the list names {} at {}, not {} at {} as the first does",
                r.receiver, r.received_at.0, first.receiver, first.received_at.0
            )));
        }
        Ok(Self { receipts })
    }

    /// The receiver (and signer).
    pub fn receiver(&self) -> &OrgId {
        &self.receipts[0].receiver
    }
    /// When the deliveries were received.
    pub fn received_at(&self) -> UnixMillis {
        self.receipts[0].received_at
    }
    /// The receipts, in order.
    pub fn receipts(&self) -> &[Receipt] {
        &self.receipts
    }
    /// The receipts, in order.
    pub fn into_receipts(self) -> Vec<Receipt> {
        self.receipts
    }
}
