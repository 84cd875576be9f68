//! The protocol's decisions, pure: whom a new notice may go to
//! ([`recipients`]), what a node does with the deliveries a peer sends it
//! ([`decide`]), and how a sender reads the receipts it gets back
//! ([`SignedReceipts::answering`]). For receiving, the node
//! supplies what its log holds through [`NoticeLog`], appends what
//! [`decide`] takes, and settles each receipt with [`Take::settle`] once
//! the log has placed the notice (the log places atomically, so of two
//! copies of an id arriving at once, one is first).
//!
//! The order of the checks, for each delivery of a batch in turn:
//! 1. the batch as a whole ([`check_batch`]): at most [`MAX_RECEIPTS`]
//!    items, no notice id twice, so no item is judged against a decoy;
//! 2. the envelope decodes and is signed by a key of its author that was
//!    valid when the notice was made and is not revoked now (one batch
//!    signature check); the notice is not too old or too far ahead;
//! 3. the sender may transmit it to this node ([`check_transmission`]:
//!    the author to an addressee, the hub relaying, or a forward the TLP
//!    allows);
//! 4. the policy for the author's role, this node's role and the kind; a
//!    reply is judged against the notice it answers, as the log holds it
//!    or as an earlier item of the batch that will be logged (one whose id
//!    the log does not hold yet);
//! 5. the disclosures against their commitments and this node's clearance.
//!
//! What passes is taken; the log then finds it new, a duplicate (same id,
//! same digest: the receipt lists the disclosures held), or an id conflict
//! (another digest holds the id: refused, naming the holder).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use isop_proto::v1 as pb;
use prost::Message;

use crate::{
    Delivery, Error, Judgement, LogIndex, MAX_FIELDS, MAX_RECEIPTS, Notice, NoticeId, NoticeKind,
    OrgId, Receipt, ReceiptDraft, ReceiptOutcome, ReplyContext, Roster, SignedDelivery,
    SignedReceipts, UnixMillis, VerifiedDelivery, check_transmission, sha256,
};

/// The longest reason text a rejection carries, in bytes (cut on a
/// character boundary and marked with `…`).
pub const MAX_REASON: usize = 1024;

/// A notice the receiver's log holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldNotice {
    /// Where it is logged.
    pub index: LogIndex,
    /// SHA-256 of its payload.
    pub digest: [u8; 32],
    /// Its author.
    pub author: OrgId,
    /// Its kind.
    pub kind: NoticeKind,
}

impl HeldNotice {
    /// What a reply to this notice answers, as the policy needs it.
    pub fn reply_context(&self) -> ReplyContext {
        reply_context(self.kind, &self.author)
    }
}

fn reply_context(kind: NoticeKind, author: &OrgId) -> ReplyContext {
    if kind == NoticeKind::Referral {
        ReplyContext::ReferralBy(author.clone())
    } else {
        ReplyContext::Other(author.clone())
    }
}

/// What the receive decision looks up in the receiver's log.
pub trait NoticeLog {
    /// A failure to read the log: it fails the whole receive (the sender
    /// tries again later), never a delivery.
    type Error;

    /// The notice logged under `id`, if any.
    fn find(&self, id: &NoticeId) -> Result<Option<HeldNotice>, Self::Error>;

    /// What a notice replying to `in_reply_to` answers, as the log holds it.
    fn reply_context(&self, in_reply_to: Option<NoticeId>) -> Result<ReplyContext, Self::Error> {
        Ok(match in_reply_to {
            Some(id) => self
                .find(&id)?
                .map_or(ReplyContext::Unknown, |h| h.reply_context()),
            None => ReplyContext::Unknown,
        })
    }

    /// The digests of the disclosures the log holds for the notice at
    /// `index`, in the order they were logged.
    fn disclosure_digests(&self, index: LogIndex) -> Result<Vec<[u8; 32]>, Self::Error>;
}

/// The receiving node, as the decision sees it.
#[derive(Clone, Copy, Debug)]
pub struct Receiver<'a> {
    /// The receiving org.
    pub org: &'a OrgId,
    /// The roster it judges by.
    pub roster: &'a Roster,
    /// Its clock.
    pub now: UnixMillis,
    /// How it judges signatures and times: [`Judgement::Live`] for a new
    /// delivery.
    pub judgement: Judgement,
}

/// Why a batch is refused whole, before any of its items is judged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchFault {
    /// More items than one list of receipts answers.
    #[error("a batch of {0} deliveries; at most {MAX_RECEIPTS}")]
    TooLarge(usize),
    /// Two items carry one notice id.
    #[error("the batch carries notice id {} twice", hex::encode(.0))]
    RepeatedId(Bytes),
}

impl BatchFault {
    /// The error code the request is answered with.
    pub fn code(&self) -> pb::ErrorCode {
        match self {
            Self::TooLarge(_) => pb::ErrorCode::TooLarge,
            Self::RepeatedId(_) => pb::ErrorCode::Malformed,
        }
    }
}

/// Checks a batch as a whole: at most [`MAX_RECEIPTS`] items, and no notice
/// id in two of them (an item that does not decode names none).
pub fn check_batch(deliveries: &[Delivery]) -> Result<(), BatchFault> {
    if deliveries.len() > MAX_RECEIPTS {
        return Err(BatchFault::TooLarge(deliveries.len()));
    }
    let mut seen = HashSet::with_capacity(deliveries.len());
    match deliveries
        .iter()
        .filter_map(|d| pb::Notice::decode(d.envelope.payload.clone()).ok())
        .map(|n| n.id)
        .find(|id| !id.is_empty() && !seen.insert(id.clone()))
    {
        Some(id) => Err(BatchFault::RepeatedId(id)),
        None => Ok(()),
    }
}

/// What the decision says of one delivery.
#[derive(Debug)]
pub enum Verdict {
    /// It passed every check: append it (deduplicated by id and digest),
    /// then settle its receipt.
    Take(Box<Take>),
    /// It is refused: answer with this rejection.
    Refuse(Refusal),
}

/// A delivery that passed every check.
#[derive(Debug)]
pub struct Take {
    verified: VerifiedDelivery,
    requires: Option<(NoticeId, [u8; 32])>,
}

/// Where the log placed a taken delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// Appended at this index.
    New(LogIndex),
    /// The same notice (id and digest) is logged at this index.
    Duplicate(LogIndex),
    /// Another notice holds the id, logged at this index.
    Conflict(LogIndex),
    /// The notice of the same batch it answers was not logged: another
    /// notice holds that id, at this index.
    Unmet(LogIndex),
}

impl Take {
    /// The delivery, verified.
    pub fn verified(&self) -> &VerifiedDelivery {
        &self.verified
    }

    /// The notice of the same batch that this reply's policy judgement
    /// rests on (its id and digest): the log must hold exactly that notice
    /// when this one is appended, else it is [`Placed::Unmet`].
    pub fn requires(&self) -> Option<(NoticeId, [u8; 32])> {
        self.requires
    }

    /// The receipt for this delivery once the log placed it: accepted, or
    /// a duplicate listing the disclosures the log holds for the notice
    /// (never the copy's); or the refusal of an id conflict or of a reply
    /// whose judgement no longer holds, naming the notice that holds the
    /// id.
    pub fn settle<L: NoticeLog>(
        &self,
        placed: Placed,
        received_at: UnixMillis,
        log: &L,
    ) -> Result<Result<ReceiptDraft, Refusal>, L::Error> {
        let v = &self.verified;
        let (outcome, disclosure_digests) = match placed {
            Placed::New(i) => (
                ReceiptOutcome::Accepted(i),
                v.revealed().iter().map(|r| r.digest).collect(),
            ),
            Placed::Duplicate(i) => (ReceiptOutcome::Duplicate(i), log.disclosure_digests(i)?),
            Placed::Conflict(at) => {
                let n = v.notice();
                let holder = holder(log, &n.id(), at)?;
                return Ok(Err(Refusal::of_verified(
                    v,
                    pb::RejectReason::IdConflict,
                    format!(
                        "notice id {} is held by another notice: entry {at} by {holder}; this one by {} has digest {}",
                        n.id(),
                        n.author(),
                        hex::encode(v.notice_digest())
                    ),
                )));
            }
            Placed::Unmet(at) => {
                let holder = match self.requires {
                    Some((id, _)) => holder(log, &id, at)?,
                    None => "an unknown notice".into(),
                };
                return Ok(Err(Refusal::of_verified(
                    v,
                    pb::RejectReason::Policy,
                    format!(
                        "it answers a notice of the same batch that was not logged: entry {at} by {holder} holds that id"
                    ),
                )));
            }
        };
        Ok(Ok(ReceiptDraft {
            notice_id: Some(v.notice().id()),
            notice_digest: Some(*v.notice_digest()),
            disclosure_digests,
            received_at,
            outcome,
        }))
    }
}

/// Who holds `id` at `at`, for a refusal's text.
fn holder<L: NoticeLog>(log: &L, id: &NoticeId, at: LogIndex) -> Result<String, L::Error> {
    Ok(match log.find(id)? {
        Some(h) if h.index == at => format!("{} (digest {})", h.author, hex::encode(h.digest)),
        _ => "a notice the log no longer finds under that id".into(),
    })
}

/// A refusal: the rejection receipt's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The notice's id, whenever the payload decodes far enough.
    pub id: Option<NoticeId>,
    /// The payload's digest, whenever there is a payload.
    pub digest: Option<[u8; 32]>,
    /// The disclosures' digests, as delivered (none past [`MAX_FIELDS`]).
    pub disclosures: Vec<[u8; 32]>,
    /// The reason code.
    pub code: pb::RejectReason,
    /// The reason, at most [`MAX_REASON`] bytes.
    pub reason: String,
}

impl Refusal {
    /// The refusal of `delivery` for `error`, naming whatever can be named
    /// of a delivery that may not even decode.
    pub fn of(delivery: &Delivery, error: &Error) -> Self {
        let sent = Sent::of(&delivery.envelope);
        let disclosures = if delivery.disclosures.len() <= MAX_FIELDS {
            delivery.disclosures.iter().map(|b| sha256(b)).collect()
        } else {
            Vec::new()
        };
        Self {
            id: sent.id,
            digest: sent.digest,
            disclosures,
            code: error.reject_reason(),
            reason: bounded(error.to_string()),
        }
    }

    fn of_verified(v: &VerifiedDelivery, code: pb::RejectReason, reason: String) -> Self {
        Self {
            id: Some(v.notice().id()),
            digest: Some(*v.notice_digest()),
            disclosures: v.revealed().iter().map(|r| r.digest).collect(),
            code,
            reason: bounded(reason),
        }
    }

    /// The rejection receipt, received at `received_at`, stating where the
    /// receiver logged it.
    pub fn receipt(&self, received_at: UnixMillis, logged: Option<LogIndex>) -> ReceiptDraft {
        ReceiptDraft {
            notice_id: self.id,
            notice_digest: self.digest,
            disclosure_digests: self.disclosures.clone(),
            received_at,
            outcome: ReceiptOutcome::Rejected {
                code: self.code,
                reason: self.reason.clone(),
                logged,
            },
        }
    }
}

/// `reason` cut to [`MAX_REASON`] bytes.
fn bounded(mut reason: String) -> String {
    if reason.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    reason
}

/// Decides on deliveries from `sender` to `receiver`, in order (see the
/// module's documentation for the checks). Items of one batch are
/// judged together: a reply may answer an earlier item that will be
/// logged, and then [`Take::requires`] it.
pub fn decide<L: NoticeLog>(
    receiver: &Receiver<'_>,
    sender: &OrgId,
    deliveries: &[Delivery],
    log: &L,
) -> Result<Vec<Verdict>, L::Error> {
    let roster = receiver.roster;
    // Notices earlier in this batch that will be logged, which later ones
    // may answer, with their payload digests.
    let mut earlier: HashMap<NoticeId, (ReplyContext, [u8; 32])> = HashMap::new();
    let signed = Delivery::verify_signatures(deliveries, roster, receiver.judgement);
    let mut verdicts = Vec::with_capacity(deliveries.len());
    for (delivery, signed) in deliveries.iter().zip(signed) {
        let taken = match signed {
            Err(e) => Err(e),
            Ok(signed) => {
                let n = signed.notice();
                let (id, context) = (n.id(), reply_context(n.kind(), n.author()));
                // What it answers: an earlier item of this batch, or a
                // notice the log holds.
                let answered = n.in_reply_to();
                let (reply, requires) = match answered.and_then(|a| Some((a, earlier.get(&a)?))) {
                    Some((a, (r, digest))) => (r.clone(), Some((a, *digest))),
                    None => (log.reply_context(answered)?, None),
                };
                match check_one(receiver, sender, signed, &reply) {
                    Ok(verified) => {
                        // A copy of a held id is answered DUPLICATE or
                        // ID_CONFLICT: it never counts as answerable.
                        if !earlier.contains_key(&id) && log.find(&id)?.is_none() {
                            earlier.insert(id, (context, *verified.notice_digest()));
                        }
                        Ok(Take { verified, requires })
                    }
                    Err(e) => Err(e),
                }
            }
        };
        verdicts.push(match taken {
            Ok(take) => Verdict::Take(Box::new(take)),
            Err(e) => Verdict::Refuse(Refusal::of(delivery, &e)),
        });
    }
    Ok(verdicts)
}

/// The recipients `author` may send `notice` to at `now`: its addressees
/// and the active members of its groups, each allowed by the policy (a
/// reply judged by `reply`, what the author's log holds of the notice it
/// answers). A notice that reaches no member is refused.
pub fn recipients(
    roster: &Roster,
    author: &OrgId,
    notice: &Notice,
    reply: &ReplyContext,
    now: UnixMillis,
) -> Result<Vec<OrgId>, Error> {
    let to = roster.expand_recipients(
        author,
        notice.to_orgs(),
        notice.to_groups().iter().map(String::as_str),
        now,
    )?;
    if to.is_empty() {
        return Err(Error::InvalidNotice {
            what: "notice.to".into(),
            why: "it reaches no member".into(),
        });
    }
    let role = roster.member(author)?.role;
    for r in &to {
        roster
            .policy()
            .check(author, role, roster.member(r)?.role, notice.kind(), reply)?;
    }
    Ok(to.into_iter().collect())
}

/// Checks one signed delivery: that `sender` may transmit it to the
/// receiver, the policy (a reply judged by `reply`), and its disclosures.
fn check_one(
    receiver: &Receiver<'_>,
    sender: &OrgId,
    signed: SignedDelivery<'_>,
    reply: &ReplyContext,
) -> Result<VerifiedDelivery, Error> {
    let roster = receiver.roster;
    let n = signed.notice();
    check_transmission(n, sender, receiver.org, roster, receiver.now)?;
    roster.policy().check(
        n.author(),
        roster.member(n.author())?.role,
        roster.member(receiver.org)?.role,
        n.kind(),
        reply,
    )?;
    signed.check_disclosures(roster, receiver.org)
}

/// What a sender sent, as a receipt must name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The notice id, whenever the payload decodes far enough.
    pub id: Option<NoticeId>,
    /// The payload's digest, whenever there is a payload.
    pub digest: Option<[u8; 32]>,
}

impl Sent {
    /// What a delivery of `envelope` names.
    pub fn of(envelope: &pb::Envelope) -> Self {
        let payload = &envelope.payload;
        Self {
            id: pb::Notice::decode(payload.clone())
                .ok()
                .and_then(|n| NoticeId::from_slice(&n.id).ok()),
            digest: (!payload.is_empty()).then(|| sha256(payload)),
        }
    }
}

impl SignedReceipts {
    /// The receipts, checked against what was sent to `receiver`: signed
    /// by it, one for each delivery, in order, each naming the id and
    /// digest sent. A receipt for something else (say, a notice a squatter
    /// logged under the id) is never taken as a delivery.
    pub fn answering(self, receiver: &OrgId, sent: &[Sent]) -> Result<Vec<Receipt>, Error> {
        if self.receiver() != receiver {
            return Err(Error::InvalidReceipt(format!(
                "receipts by {} answer deliveries to {receiver}",
                self.receiver()
            )));
        }
        if self.receipts().len() != sent.len() {
            return Err(Error::InvalidReceipt(format!(
                "{} deliveries answered with {} receipts",
                sent.len(),
                self.receipts().len()
            )));
        }
        let receipts = self.into_receipts();
        for (at, (receipt, sent)) in receipts.iter().zip(sent).enumerate() {
            if receipt.notice_digest() != sent.digest.as_ref() || receipt.notice_id() != sent.id {
                return Err(Error::InvalidReceipt(format!(
                    "receipt {at} is for something other than delivery {at}"
                )));
            }
        }
        Ok(receipts)
    }
}
