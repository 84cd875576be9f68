//! Serving peers: accepting connections, answering each request, and the
//! receive pipeline for deliveries.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use isop_core::merkle::Hash;
use isop_core::{
    Checkpoint, Delivery, Error as CoreError, Judgement, KeyId, LogIndex, NoteVerifier, NoticeId,
    OrgId, ReceiptDraft, ReceiptOutcome, ReplyContext, SignedNote, VerifiedDelivery,
    check_transmission, pb, sha256,
};
use isop_net::{PeerConnection, PeerIdentity, error_frame};
use isop_store::{Appended, Direction, NewEntry, Record};
use pb::frame::Kind;
use prost::Message;
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::deliver::{MAX_BATCH, delivery_for};
use crate::state::{Inner, Queued, RejectionLogging};

/// The most items one sync answer carries.
const SYNC_LIMIT: u32 = 256;
/// The most entries one sync request scans.
const SYNC_SCAN: u64 = 16_384;

pub(crate) async fn accept_loop(inner: Arc<Inner>) {
    let mut stop = inner.shutdown.subscribe();
    loop {
        let next = tokio::select! {
            n = inner.endpoint.accept() => n,
            _ = stop.wait_for(|stopping| *stopping) => None,
        };
        let Some(incoming) = next else { break };
        let inner = inner.clone();
        // Each handshake on its own task: a stalled one delays no one else.
        tokio::spawn(async move {
            // A refusal was logged and sent as the close reason.
            if let Ok(conn) = incoming.admit().await {
                tracing::debug!(peer = %conn.peer().org, "peer connected");
                serve_connection(inner, conn).await;
            }
        });
    }
}

/// The most single deliveries waiting to be received together; past it,
/// their requests wait (and QUIC pushes back on the peers sending them).
pub(crate) const MAX_QUEUED: usize = 4 * MAX_BATCH;
/// The most inbound connections one peer may hold open: a new one beyond
/// it closes that peer's oldest (a peer that restarts leaves connections
/// behind until they time out).
pub(crate) const MAX_CONNECTIONS_PER_PEER: usize = 4;

/// Serves one connection's requests, each on its own task (QUIC bounds how
/// many a connection has open at once). The peer's standing is checked
/// again on every request and whenever the roster changes: a peer the
/// roster no longer admits is cut off at once.
async fn serve_connection(inner: Arc<Inner>, conn: PeerConnection) {
    let id = track_connection(&inner, &conn);
    let mut roster_changed = inner.roster_changed.subscribe();
    loop {
        let next = tokio::select! {
            r = conn.next_request() => r,
            Ok(()) = roster_changed.changed() => {
                if refused(&inner, &conn) {
                    break;
                }
                continue;
            }
        };
        let Some(incoming) = next else { break };
        if refused(&inner, &conn) {
            break;
        }
        let (inner, conn) = (inner.clone(), conn.clone());
        tokio::spawn(async move {
            // Read on this request's own task: a stalled stream holds up
            // only itself, until the read timeout.
            let Ok(req) = incoming.read().await else {
                return;
            };
            let peer = conn.peer();
            // A peer that is ahead: take up its roster before serving it.
            if req.frame.roster_version > inner.roster().version() {
                inner.catch_up(&peer.org, req.frame.roster_version).await;
                if refused(&inner, &conn) {
                    return;
                }
            }
            let mut answer = answer(&inner, peer, req.frame.clone()).await;
            answer.roster_version = inner.roster().version();
            inner.progress.notify_waiters();
            if let Err(e) = req.respond(&answer).await {
                tracing::debug!(peer = %peer.org, error = %e, "answer not sent");
            }
        });
    }
    let mut inbound = inner.inbound.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(open) = inbound.get_mut(&conn.peer().org) {
        open.retain(|(i, _)| *i != id);
    }
}

/// Records an inbound connection; past [`MAX_CONNECTIONS_PER_PEER`] for
/// its peer, the oldest is closed, with the reason. Returns its number.
fn track_connection(inner: &Inner, conn: &PeerConnection) -> u64 {
    let id = inner
        .next_connection
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut inbound = inner.inbound.lock().unwrap_or_else(|p| p.into_inner());
    let open = inbound.entry(conn.peer().org.clone()).or_default();
    open.push_back((id, conn.clone()));
    while open.len() > MAX_CONNECTIONS_PER_PEER {
        if let Some((_, oldest)) = open.pop_front() {
            tracing::warn!(peer = %conn.peer().org, limit = MAX_CONNECTIONS_PER_PEER, "too many connections from this peer: closing its oldest");
            oldest.close(&format!(
                "more than {MAX_CONNECTIONS_PER_PEER} connections from {}: the oldest is closed",
                conn.peer().org
            ));
        }
    }
    id
}

/// Whether the peer of `conn` lost its standing; if so, the connection is
/// closed with the reason, which is logged.
fn refused(inner: &Inner, conn: &PeerConnection) -> bool {
    let Err(refusal) = inner.standing(conn.peer()) else {
        return false;
    };
    tracing::warn!(peer = %conn.peer().org, %refusal, "closing the connection of a peer the roster no longer admits");
    conn.close(&refusal.to_string());
    true
}

async fn answer(inner: &Arc<Inner>, peer: &PeerIdentity, request: pb::Frame) -> pb::Frame {
    let result = match request.kind {
        Some(Kind::Deliver(d)) => receive(inner, &peer.org, d).await.map(Kind::Receipt),
        Some(Kind::DeliverBatch(b)) if b.items.len() > MAX_BATCH => {
            return error_frame(
                pb::ErrorCode::TooLarge,
                format!(
                    "a batch of {} deliveries; at most {MAX_BATCH}",
                    b.items.len()
                ),
            );
        }
        Some(Kind::DeliverBatch(b)) if let Some(id) = repeated_id(&b.items) => {
            return error_frame(
                pb::ErrorCode::Malformed,
                format!("the batch carries notice id {id} twice"),
            );
        }
        Some(Kind::DeliverBatch(b)) => {
            receive_batch(inner, &peer.org, b.items)
                .await
                .map(|receipts| {
                    Kind::ReceiptBatch(pb::ReceiptBatch {
                        receipts: Some(receipts),
                    })
                })
        }
        Some(Kind::Sync(s)) => sync(inner, &peer.org, s).await.map(Kind::SyncBatch),
        Some(Kind::GetCheckpoint(_)) => inner.checkpoint().map(|note| {
            Kind::Checkpoint(pb::Checkpoint {
                note: note.to_bytes().into(),
            })
        }),
        Some(Kind::GetConsistencyProof(p)) => consistency(inner, p).map(Kind::ConsistencyProof),
        Some(Kind::GetInclusionProof(p)) => {
            inclusion(inner, &peer.org, p).map(Kind::InclusionProof)
        }
        Some(Kind::RosterPush(p)) => match p.roster {
            Some(env) => match inner.accept_roster(&env, Some(&peer.org)) {
                Ok(_) => Ok(Kind::Ack(pb::Ack {})),
                Err(e) => return error_frame(pb::ErrorCode::RosterRefused, e.to_string()),
            },
            None => return error_frame(pb::ErrorCode::Malformed, "roster push without a roster"),
        },
        Some(Kind::GetRoster(_)) => Ok(Kind::Roster(pb::RosterPush {
            roster: Some(inner.roster_envelope()),
        })),
        Some(Kind::SubmitCosignature(c)) => cosignature(inner, &peer.org, &c.note)
            .await
            .map(|()| Kind::Ack(pb::Ack {})),
        Some(_) => return error_frame(pb::ErrorCode::Unexpected, "not a request"),
        None => return error_frame(pb::ErrorCode::Malformed, "empty frame"),
    };
    match result {
        Ok(kind) => pb::Frame {
            kind: Some(kind),
            roster_version: 0,
        },
        Err(e) => {
            tracing::warn!(peer = %peer.org, error = %e, "request failed");
            let code = match &e {
                Error::Core(CoreError::TreeSize { .. } | CoreError::ProofRange(_))
                | Error::Store(isop_store::Error::Core(
                    CoreError::TreeSize { .. } | CoreError::ProofRange(_),
                )) => pb::ErrorCode::NotFound,
                Error::Core(_) | Error::Roster(_) => pb::ErrorCode::Forbidden,
                _ => pb::ErrorCode::Internal,
            };
            error_frame(code, e.to_string())
        }
    }
}

/// A notice id that two items of a batch carry, if any (hex): such a
/// batch is refused whole, so no item can be judged against a decoy.
fn repeated_id(items: &[pb::Deliver]) -> Option<String> {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items
        .iter()
        .filter_map(|d| pb::Notice::decode(d.envelope.as_ref()?.payload.clone()).ok())
        .map(|n| n.id)
        .find(|id| !id.is_empty() && !seen.insert(id.clone()))
        .map(hex::encode)
}

/// A delivery that passed every check, and the notice of the same batch
/// that its reply judgement rests on, if it answers one.
struct Checked {
    verified: VerifiedDelivery,
    requires: Option<(NoticeId, [u8; 32])>,
}

/// Checks deliveries from `sender`, each in order: the envelope's signature
/// and key (all signatures in one batch check); that `sender` may transmit
/// the author's notice (and TLP allows it); the policy for the author's
/// role, this node's role and the kind, a reply judged against the notice
/// it answers as the log holds it or as an earlier item of the batch that
/// will be logged (one whose id the log does not hold yet: a copy of a
/// held id is answered DUPLICATE or ID_CONFLICT and never counts); the
/// disclosures against their commitments and this node's clearance.
fn check(
    inner: &Inner,
    sender: &OrgId,
    deliveries: &[Delivery],
    judgement: Judgement,
) -> Vec<Result<Checked, CoreError>> {
    let roster = inner.roster();
    // Notices earlier in this batch that will be logged, which later ones
    // may answer, with their payload digests.
    let mut earlier: HashMap<NoticeId, (ReplyContext, [u8; 32])> = HashMap::new();
    Delivery::verify_signatures(deliveries, &roster, judgement)
        .into_iter()
        .map(|signed| {
            let signed = signed?;
            let n = signed.notice();
            check_transmission(n, sender, &inner.org, &roster, inner.now())?;
            let answered = n
                .in_reply_to()
                .and_then(|id| earlier.get(&id).map(|(r, d)| (id, r.clone(), *d)));
            let (reply, requires) = match answered {
                Some((id, r, digest)) => (r, Some((id, digest))),
                None => (
                    inner
                        .reply_context(n.in_reply_to())
                        .map_err(|e| CoreError::InvalidNotice {
                            what: "notice.in_reply_to".into(),
                            why: e.to_string(),
                        })?,
                    None,
                ),
            };
            roster.policy().check(
                n.author(),
                roster.member(n.author())?.role,
                roster.member(&inner.org)?.role,
                n.kind(),
                &reply,
            )?;
            let context = if n.kind() == isop_core::NoticeKind::Referral {
                ReplyContext::ReferralBy(n.author().clone())
            } else {
                ReplyContext::Other(n.author().clone())
            };
            let id = n.id();
            let verified = signed.check_disclosures(&roster, &inner.org)?;
            let will_log =
                !earlier.contains_key(&id) && matches!(inner.store.find_notice(&id), Ok(None));
            if will_log {
                earlier.insert(id, (context, *verified.notice_digest()));
            }
            Ok(Checked { verified, requires })
        })
        .collect()
}

/// Receives one delivery, answered with its signed receipt: it joins the
/// single deliveries waiting at that moment, which are received together
/// (one batch signature check, one group commit; see [`receive_many`]).
pub(crate) async fn receive(
    inner: &Arc<Inner>,
    sender: &OrgId,
    deliver: pb::Deliver,
) -> Result<pb::Envelope, Error> {
    let (answer, answered) = oneshot::channel();
    let queued = Queued {
        sender: sender.clone(),
        deliver,
        answer,
    };
    let closed = || Error::Invalid("the node is shutting down".into());
    inner.deliveries.send(queued).await.map_err(|_| closed())?;
    let draft = answered
        .await
        .map_err(|_| closed())?
        .map_err(Error::Invalid)?;
    Ok(draft.sign(&inner.signer)?)
}

/// Takes the single deliveries that wait, up to [`MAX_BATCH`] at a time, and
/// receives each sender's together, in their order: under concurrent load a
/// notice's signature is checked in a batch, as in a `DeliverBatch`; alone,
/// it is received at once. Each answer is still its own signed receipt.
pub(crate) async fn collect_deliveries(inner: Arc<Inner>, mut queue: mpsc::Receiver<Queued>) {
    let mut stop = inner.shutdown.subscribe();
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    loop {
        let n = tokio::select! {
            n = queue.recv_many(&mut waiting, MAX_BATCH) => n,
            _ = stop.wait_for(|stopping| *stopping) => 0,
        };
        if n == 0 {
            return;
        }
        let mut by_sender: Vec<(OrgId, Vec<Queued>)> = Vec::new();
        for q in waiting.drain(..) {
            match by_sender.iter_mut().find(|(s, _)| *s == q.sender) {
                Some((_, items)) => items.push(q),
                None => by_sender.push((q.sender.clone(), vec![q])),
            }
        }
        for (sender, items) in by_sender {
            let inner = inner.clone();
            tokio::spawn(async move {
                let (delivers, answers): (Vec<_>, Vec<_>) =
                    items.into_iter().map(|q| (q.deliver, q.answer)).unzip();
                match receive_many(&inner, &sender, delivers).await {
                    Ok(drafts) => {
                        for (draft, answer) in drafts.into_iter().zip(answers) {
                            let _ = answer.send(Ok(draft));
                        }
                    }
                    Err(e) => {
                        for answer in answers {
                            let _ = answer.send(Err(e.to_string()));
                        }
                    }
                }
            });
        }
    }
}

/// Receives a batch of deliveries, answered with one signed list of their
/// receipts, in order: see [`receive_many`].
async fn receive_batch(
    inner: &Arc<Inner>,
    sender: &OrgId,
    items: Vec<pb::Deliver>,
) -> Result<pb::Envelope, Error> {
    let drafts = receive_many(inner, sender, items).await?;
    Ok(ReceiptDraft::sign_list(&drafts, &inner.signer)?)
}

/// Receives deliveries from `sender`: checks them, appends them durably in
/// their order in one group commit (each notice once: by id and digest),
/// and returns each one's receipt, for the caller to sign. A refusal is
/// logged, as the signed rejection, and never reaches the inbox.
pub(crate) async fn receive_many(
    inner: &Arc<Inner>,
    sender: &OrgId,
    items: Vec<pb::Deliver>,
) -> Result<Vec<ReceiptDraft>, Error> {
    let received_at = inner.now();
    let judgement = inner.live();
    let deliveries: Vec<Delivery> = items
        .into_iter()
        .map(|d| Delivery {
            envelope: d.envelope.unwrap_or_default(),
            disclosures: d.disclosures,
        })
        .collect();
    // Each delivery's entry, submitted in order; then each receipt.
    enum Answer {
        /// With the delivery's disclosures, which a copy of a notice
        /// already held may add to it.
        Accepted(Box<VerifiedDelivery>, Vec<Bytes>),
        Refused(ReceiptDraft),
    }
    // Checked on a blocking thread: a batch's signatures take milliseconds.
    let (task_inner, task_sender) = (inner.clone(), sender.clone());
    let (deliveries, verdicts) = tokio::task::spawn_blocking(move || {
        let verdicts = check(&task_inner, &task_sender, &deliveries, judgement);
        (deliveries, verdicts)
    })
    .await
    .map_err(|e| Error::Invalid(format!("checking deliveries: {e}")))?;
    let mut pending = Vec::with_capacity(deliveries.len());
    for (delivery, verdict) in deliveries.into_iter().zip(verdicts) {
        let (mut entry, answer) = match verdict {
            Ok(Checked { verified, requires }) => {
                let mut entry = NewEntry::new(
                    received_at,
                    Direction::Inbound,
                    Record::Envelope(Bytes::from(delivery.envelope.encode_to_vec())),
                );
                entry.disclosures = delivery.disclosures.clone();
                entry.inbox = true;
                entry.dedupe = true;
                entry.requires = requires;
                (
                    entry,
                    Answer::Accepted(Box::new(verified), delivery.disclosures),
                )
            }
            Err(e) => {
                let (rejection, entry) = refuse(
                    inner,
                    sender,
                    received_at,
                    Refused::of(&delivery),
                    e.reject_reason(),
                    e.to_string(),
                )?;
                let logged = entry.map(|entry| inner.store.append_async(entry));
                pending.push((logged, Answer::Refused(rejection)));
                continue;
            }
        };
        entry.peer = Some(sender.clone());
        pending.push((Some(inner.store.append_async(entry)), answer));
    }
    let mut receipts = Vec::with_capacity(pending.len());
    let mut accepted = 0usize;
    for (appended, answer) in pending {
        let appended = match appended {
            Some(appended) => Some(appended.await?),
            None => None,
        };
        let (v, disclosures) = match answer {
            Answer::Refused(rejection) => {
                receipts.push(rejection.logged_at(appended.map(Appended::index)));
                continue;
            }
            Answer::Accepted(v, disclosures) => (v, disclosures),
        };
        // An accepted delivery always has its entry.
        let Some(appended) = appended else {
            return Err(Error::Invalid(
                "an accepted delivery without its entry".into(),
            ));
        };
        let n = v.notice();
        let outcome = match appended {
            Appended::New(i) => ReceiptOutcome::Accepted(i),
            Appended::Duplicate(i) => {
                add_disclosures(inner, sender, i, disclosures, received_at).await?;
                ReceiptOutcome::Duplicate(i)
            }
            Appended::Conflict(held) | Appended::Unmet(held) => {
                let (holder_author, holder_digest) = match inner.notice_at(held)? {
                    Some((_, env, h)) => {
                        (h.author().to_string(), hex::encode(sha256(&env.payload)))
                    }
                    None => ("an unreadable entry".into(), "unknown".into()),
                };
                let (code, why) = if matches!(appended, Appended::Conflict(_)) {
                    tracing::error!(from = %sender, id = %n.id(), author = %n.author(), digest = %hex::encode(v.notice_digest()), held_at = %held, held_author = %holder_author, held_digest = %holder_digest, "notice id conflict: another notice holds this id");
                    (
                        pb::RejectReason::IdConflict,
                        format!(
                            "notice id {} is held by another notice: entry {held} by {holder_author} (digest {holder_digest}); this one by {} has digest {}",
                            n.id(),
                            n.author(),
                            hex::encode(v.notice_digest())
                        ),
                    )
                } else {
                    (
                        pb::RejectReason::Policy,
                        format!(
                            "it answers a notice of the same batch that was not logged: entry {held} by {holder_author} holds that id"
                        ),
                    )
                };
                let (rejection, entry) = refuse(
                    inner,
                    sender,
                    received_at,
                    Refused {
                        id: Some(n.id()),
                        digest: Some(*v.notice_digest()),
                        disclosures: v.revealed().iter().map(|r| r.digest).collect(),
                    },
                    code,
                    why,
                )?;
                let logged = match entry {
                    Some(entry) => Some(inner.store.append_async(entry).await?.index()),
                    None => None,
                };
                receipts.push(rejection.logged_at(logged));
                continue;
            }
        };
        tracing::debug!(from = %sender, id = %n.id(), kind = %n.kind(), ?outcome, "delivery received");
        let disclosure_digests = match outcome {
            ReceiptOutcome::Accepted(_) => {
                accepted += 1;
                inner
                    .metrics
                    .received
                    .get_or_create(&crate::metrics::Metrics::label("kind", n.kind()))
                    .inc();
                // Checked in the delivery's order, each digest taken once.
                v.revealed().iter().map(|r| r.digest).collect()
            }
            // What the log holds at the original index, never the copy's.
            _ => held_digests(inner, appended.index())?,
        };
        receipts.push(ReceiptDraft {
            notice_id: Some(n.id()),
            notice_digest: Some(*v.notice_digest()),
            disclosure_digests,
            received_at,
            outcome,
        });
    }
    // One line per batch; each notice is logged at debug.
    tracing::info!(from = %sender, deliveries = receipts.len(), accepted, "deliveries received");
    Ok(receipts)
}

/// Stores the disclosures of a later copy of the notice logged at `index`
/// that the log lacks for it (a relay or forward arrived first with fewer
/// fields). They were checked with the copy, against the notice's
/// commitments and this node's clearance.
async fn add_disclosures(
    inner: &Arc<Inner>,
    sender: &OrgId,
    index: LogIndex,
    disclosures: Vec<Bytes>,
    at: isop_core::UnixMillis,
) -> Result<(), Error> {
    if disclosures.is_empty() {
        return Ok(());
    }
    let (task_inner, task_sender) = (inner.clone(), sender.clone());
    let added = tokio::task::spawn_blocking(move || {
        task_inner
            .store
            .add_disclosures(index, &task_sender, disclosures, at)
    })
    .await
    .map_err(|e| Error::Invalid(format!("adding disclosures: {e}")))??;
    if let Some(added) = added {
        tracing::info!(from = %sender, notice_at = %index, at = %added, "a later copy added disclosures the log lacked");
    }
    Ok(())
}

/// The digests of the disclosures the log holds for the notice at `index`,
/// with those later copies added.
fn held_digests(inner: &Inner, index: LogIndex) -> Result<Vec<[u8; 32]>, Error> {
    Ok(inner
        .store
        .disclosures_of(index)?
        .into_iter()
        .map(|d| d.digest)
        .collect())
}

/// What a rejection names of the delivery it refuses.
struct Refused {
    id: Option<NoticeId>,
    digest: Option<[u8; 32]>,
    disclosures: Vec<[u8; 32]>,
}

impl Refused {
    /// Whatever can be named of a delivery that may not even decode:
    /// the payload's digest whenever there is a payload, the id whenever
    /// it parses, and the disclosures' digests only within their limit.
    fn of(d: &Delivery) -> Self {
        let payload = &d.envelope.payload;
        let id = pb::Notice::decode(payload.clone())
            .ok()
            .and_then(|n| NoticeId::from_slice(&n.id).ok());
        let disclosures = if d.disclosures.len() <= isop_core::MAX_FIELDS {
            d.disclosures.iter().map(|b| sha256(b)).collect()
        } else {
            Vec::new()
        };
        Self {
            id,
            digest: (!payload.is_empty()).then(|| sha256(payload)),
            disclosures,
        }
    }
}

/// A refusal: counted by reason, and its rejection receipt, both as the
/// draft to answer with and as the entry that logs it (LOCAL, signed, for
/// the caller to append). The entry is bounded: ids, digests, the code and
/// the reason text cut to [`MAX_REASON`] bytes, never the payload. Past
/// the peer's limit of logged rejections a minute there is no entry: the
/// first one over the limit is logged as a summary instead, the rest are
/// only counted.
fn refuse(
    inner: &Inner,
    sender: &OrgId,
    received_at: isop_core::UnixMillis,
    what: Refused,
    code: pb::RejectReason,
    mut why: String,
) -> Result<(ReceiptDraft, Option<NewEntry>), Error> {
    inner
        .metrics
        .rejected
        .get_or_create(&crate::metrics::Metrics::label(
            "reason",
            code.as_str_name(),
        ))
        .inc();
    if why.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !why.is_char_boundary(cut) {
            cut -= 1;
        }
        why.truncate(cut);
        why.push('…');
    }
    let logging = inner.rejection_logging(sender);
    match logging {
        // An id conflict has its own error-level line.
        RejectionLogging::Logged if code == pb::RejectReason::IdConflict => {}
        RejectionLogging::Logged => {
            tracing::warn!(from = %sender, reason = code.as_str_name(), error = %why, "delivery rejected");
        }
        RejectionLogging::Summary => {
            tracing::warn!(from = %sender, limit = inner.config.max_logged_rejections_per_minute, "too many rejected deliveries from this peer: for the rest of the minute they are counted, not logged");
        }
        RejectionLogging::Counted => {
            tracing::debug!(from = %sender, reason = code.as_str_name(), error = %why, "delivery rejected (counted, not logged)");
        }
    }
    let rejection = ReceiptDraft {
        notice_id: what.id,
        notice_digest: what.digest,
        disclosure_digests: what.disclosures,
        received_at,
        outcome: ReceiptOutcome::Rejected {
            code,
            reason: why,
            logged: None,
        },
    };
    let logged = match logging {
        RejectionLogging::Logged => rejection.clone(),
        RejectionLogging::Summary => ReceiptDraft {
            notice_id: None,
            notice_digest: None,
            disclosure_digests: Vec::new(),
            received_at,
            outcome: ReceiptOutcome::Rejected {
                code,
                reason: format!(
                    "more than {} deliveries from {sender} rejected within a minute: the rest of \
                     this minute's are counted in isop_rejections_unlogged_total, not logged",
                    inner.config.max_logged_rejections_per_minute
                ),
                logged: None,
            },
        },
        RejectionLogging::Counted => return Ok((rejection, None)),
    };
    let mut entry = NewEntry::new(
        received_at,
        Direction::Local,
        Record::Envelope(Bytes::from(logged.sign(&inner.signer)?.encode_to_vec())),
    );
    entry.peer = Some(sender.clone());
    Ok((rejection, Some(entry)))
}

/// The longest reason text a rejection carries, in bytes.
const MAX_REASON: usize = 1024;

/// Answers a sync on a blocking thread (a scan reads up to
/// [`SYNC_SCAN`] entries), one at a time per peer: a peer that asks for
/// many at once waits for its own, and holds up no one else.
async fn sync(inner: &Arc<Inner>, peer: &OrgId, s: pb::Sync) -> Result<pb::SyncBatch, Error> {
    let slot = inner
        .sync_slots
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(peer.clone())
        .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(1)))
        .clone();
    let _turn = slot
        .acquire_owned()
        .await
        .map_err(|_| Error::Invalid("the node is shutting down".into()))?;
    let (inner, peer) = (inner.clone(), peer.clone());
    tokio::task::spawn_blocking(move || sync_batch(&inner, &peer, s))
        .await
        .map_err(|e| Error::Invalid(format!("answering a sync: {e}")))?
}

/// Answers a sync: the outbound notices addressed to `peer`, from the cursor.
fn sync_batch(inner: &Inner, peer: &OrgId, s: pb::Sync) -> Result<pb::SyncBatch, Error> {
    let limit = s.limit.clamp(1, SYNC_LIMIT) as usize;
    let size = inner.store.size();
    let end = s.cursor.saturating_add(SYNC_SCAN).min(size);
    let mut items = Vec::new();
    let mut next = s.cursor.min(size);
    for r in inner.store.entries(LogIndex(s.cursor), LogIndex(end)) {
        let (index, bytes) = r?;
        next = index.0 + 1;
        let Ok(entry) = pb::LogEntry::decode(bytes) else {
            continue;
        };
        if entry.direction == pb::Direction::Outbound as i32
            && entry.recipients.iter().any(|r| r == peer.as_str())
        {
            if let Some((deliver, _)) = delivery_for(inner, index, peer)? {
                items.push(pb::SyncItem {
                    index: index.0,
                    deliver: Some(deliver),
                });
            }
            if items.len() >= limit {
                break;
            }
        }
    }
    Ok(pb::SyncBatch {
        items,
        next_cursor: next,
        more: next < size,
    })
}

/// Pulls what `peer` holds for this node, from the kept cursor.
pub(crate) async fn sync_with(inner: &Arc<Inner>, peer: &OrgId) -> Result<usize, Error> {
    let conn = inner.connection(peer).await?;
    let mut cursor = inner.store.cursor(peer)?;
    let mut new = 0;
    loop {
        let answer = inner
            .request(
                &conn,
                Kind::Sync(pb::Sync {
                    cursor,
                    limit: SYNC_LIMIT,
                }),
            )
            .await?;
        let Some(Kind::SyncBatch(batch)) = answer.kind else {
            return Err(Error::Peer {
                org: peer.clone(),
                why: "answered a sync with something else".into(),
            });
        };
        // Taken in as one batch: one signature check, one group commit.
        let items: Vec<pb::Deliver> = batch.items.into_iter().filter_map(|i| i.deliver).collect();
        // Nothing to answer: a sync's receipts are not signed.
        new += receive_many(inner, peer, items)
            .await?
            .iter()
            .filter(|r| matches!(r.outcome, ReceiptOutcome::Accepted(_)))
            .count();
        if batch.next_cursor <= cursor && batch.more {
            return Err(Error::Peer {
                org: peer.clone(),
                why: "sync cursor did not advance".into(),
            });
        }
        cursor = batch.next_cursor;
        inner.store.set_cursor(peer, cursor)?;
        if !batch.more {
            return Ok(new);
        }
    }
}

fn hashes(h: Vec<Hash>) -> Vec<Bytes> {
    h.into_iter().map(|h| Bytes::copy_from_slice(&h)).collect()
}

fn consistency(inner: &Inner, p: pb::GetConsistencyProof) -> Result<pb::ConsistencyProof, Error> {
    Ok(pb::ConsistencyProof {
        from: p.from,
        to: p.to,
        hashes: hashes(inner.store.consistency_proof(p.from, p.to)?),
    })
}

/// An inclusion proof. The entry's bytes come with it only for an entry
/// the peer is party to (received from it, or sent to it): entries name
/// other orgs' notices.
fn inclusion(
    inner: &Inner,
    peer: &OrgId,
    p: pb::GetInclusionProof,
) -> Result<pb::InclusionProof, Error> {
    let proof = inner.store.inclusion_proof(LogIndex(p.index), p.size)?;
    let entry = inner.store.entry(LogIndex(p.index))?.unwrap_or_default();
    let party = pb::LogEntry::decode(entry.clone())
        .is_ok_and(|e| e.peer == peer.as_str() || e.recipients.iter().any(|r| r == peer.as_str()));
    Ok(pb::InclusionProof {
        index: p.index,
        size: p.size,
        hashes: hashes(proof),
        entry: if party { entry } else { Bytes::new() },
    })
}

/// A peer's cosignature on one of our checkpoints: the text must be a
/// checkpoint of this log, and the peer's own line must verify with a key
/// of the peer that is valid now. Only that line is merged into the stored
/// checkpoint and logged; every other line of the note is ignored.
async fn cosignature(inner: &Arc<Inner>, peer: &OrgId, note: &[u8]) -> Result<(), Error> {
    let note = SignedNote::parse(note)?;
    let cp = Checkpoint::parse(note.text())?;
    if cp.origin != Checkpoint::origin_of(&inner.org) {
        return Err(Error::Roster(format!(
            "a cosignature on {:?}, not on this log",
            cp.origin
        )));
    }
    let roster = inner.roster();
    let now = inner.now();
    roster.active_member(peer, now)?;
    let mut refused = None;
    let mut line = None;
    for s in note.signatures() {
        let Ok(key_id) = s.name.parse::<KeyId>() else {
            continue;
        };
        if &key_id.org != peer {
            continue;
        }
        let checked = roster
            .signing_key(&key_id, peer, now, Judgement::AtCreation)
            .and_then(|key| note.only(&NoteVerifier::new(&s.name, *key)?));
        match checked {
            Ok(one) => {
                line = Some(one);
                break;
            }
            Err(e) => refused = Some(e),
        }
    }
    let Some(line) = line else {
        return Err(match refused {
            Some(e) => Error::Roster(format!("{peer}'s cosignature is refused: {e}")),
            None => Error::Roster(format!("the note carries no signature by {peer}")),
        });
    };
    let merged = inner.store.add_cosignature(cp.size, &line)?;
    let mut entry = NewEntry::new(
        inner.now(),
        Direction::Inbound,
        Record::CosignedCheckpoint(Bytes::from(merged.to_bytes())),
    );
    entry.peer = Some(peer.clone());
    inner.store.append_async(entry).await?;
    tracing::info!(witness = %peer, size = cp.size, "checkpoint cosigned");
    Ok(())
}
