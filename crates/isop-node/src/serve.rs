//! Serving peers: accepting connections, answering each request, and the
//! receive pipeline for deliveries.

use std::sync::Arc;

use bytes::Bytes;
use isop_core::merkle::Hash;
use isop_core::protocol::{self, Placed, Receiver, Take, Verdict};
use isop_core::{
    Checkpoint, Delivery, Error as CoreError, Judgement, KeyId, LogIndex, NoteVerifier, OrgId,
    ReceiptDraft, ReceiptOutcome, SignedNote, pb,
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
            let mut answer = serve_request(&inner, peer, req.frame.clone()).await;
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

async fn serve_request(inner: &Arc<Inner>, peer: &PeerIdentity, request: pb::Frame) -> pb::Frame {
    let result = match request.kind {
        Some(Kind::Deliver(d)) => receive_single(inner, &peer.org, d.into())
            .await
            .map(Kind::Receipt),
        Some(Kind::DeliverBatch(b)) => {
            let deliveries: Vec<Delivery> = b.items.into_iter().map(Delivery::from).collect();
            if let Err(fault) = protocol::check_batch(&deliveries) {
                return error_frame(fault.code(), fault.to_string());
            }
            receive_batch(inner, &peer.org, deliveries)
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

/// Receives one delivery, answered with its signed receipt: it joins the
/// single deliveries waiting at that moment, which are received together
/// (one batch signature check, one group commit; see [`log_deliveries`]).
async fn receive_single(
    inner: &Arc<Inner>,
    sender: &OrgId,
    delivery: Delivery,
) -> Result<pb::Envelope, Error> {
    let (receipt, received) = oneshot::channel();
    let queued = Queued {
        sender: sender.clone(),
        delivery,
        receipt,
    };
    inner
        .deliveries
        .send(queued)
        .await
        .map_err(|_| Error::ShuttingDown)?;
    let draft = received
        .await
        .map_err(|_| Error::ShuttingDown)?
        .map_err(Error::Invalid)?;
    Ok(draft.sign(&inner.signer)?)
}

/// Takes the single deliveries that wait, up to [`MAX_BATCH`] at a time, and
/// receives each sender's together, in their order: under concurrent load a
/// notice's signature is checked in a batch, as in a `DeliverBatch`; alone,
/// it is received at once. Each is still answered with its own signed
/// receipt.
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
                let (deliveries, receipts): (Vec<_>, Vec<_>) =
                    items.into_iter().map(|q| (q.delivery, q.receipt)).unzip();
                match log_deliveries(&inner, &sender, deliveries).await {
                    Ok(drafts) => {
                        for (draft, receipt) in drafts.into_iter().zip(receipts) {
                            let _ = receipt.send(Ok(draft));
                        }
                    }
                    Err(e) => {
                        for receipt in receipts {
                            let _ = receipt.send(Err(e.to_string()));
                        }
                    }
                }
            });
        }
    }
}

/// Receives a batch of deliveries (checked whole already), answered with
/// one signed list of their receipts, in order: see [`log_deliveries`].
async fn receive_batch(
    inner: &Arc<Inner>,
    sender: &OrgId,
    deliveries: Vec<Delivery>,
) -> Result<pb::Envelope, Error> {
    let drafts = log_deliveries(inner, sender, deliveries).await?;
    Ok(ReceiptDraft::sign_list(&drafts, &inner.signer)?)
}

/// A delivery on its way into the log: `F` is its append.
enum Pending<F> {
    /// Taken, appended with its disclosures (which a copy of a notice
    /// already held may add to it).
    Taken {
        take: Box<Take>,
        disclosures: Vec<Bytes>,
        appended: F,
    },
    /// Refused, and its rejection logged unless the peer is past its limit.
    Refused {
        refusal: protocol::Refusal,
        logged: Option<F>,
    },
}

/// Receives deliveries from `sender`: the core decides on them
/// ([`protocol::decide`]); they are appended durably in their order in one
/// group commit (each notice once: by id and digest), and each one's
/// receipt is returned, for the caller to sign. A refusal is logged, as
/// the signed rejection, and never reaches the inbox.
pub(crate) async fn log_deliveries(
    inner: &Arc<Inner>,
    sender: &OrgId,
    deliveries: Vec<Delivery>,
) -> Result<Vec<ReceiptDraft>, Error> {
    let received_at = inner.now();
    let judgement = inner.live();
    // Decided on a blocking thread: a batch's signatures take milliseconds.
    let (task_inner, task_sender) = (inner.clone(), sender.clone());
    let (deliveries, verdicts) = tokio::task::spawn_blocking(move || {
        let roster = task_inner.roster();
        let receiver = Receiver {
            org: &task_inner.org,
            roster: &roster,
            now: received_at,
            judgement,
        };
        let verdicts = protocol::decide(&receiver, &task_sender, &deliveries, &*task_inner);
        (deliveries, verdicts)
    })
    .await
    .map_err(|e| Error::Invalid(format!("checking deliveries: {e}")))?;
    let mut pending = Vec::with_capacity(deliveries.len());
    for (delivery, verdict) in deliveries.into_iter().zip(verdicts?) {
        pending.push(match verdict {
            Verdict::Take(take) => {
                let mut entry = NewEntry::new(
                    received_at,
                    Direction::Inbound,
                    Record::Envelope(Bytes::from(delivery.envelope.encode_to_vec())),
                );
                entry.disclosures = delivery.disclosures.clone();
                entry.inbox = true;
                entry.dedupe = true;
                entry.requires = take.requires();
                entry.peer = Some(sender.clone());
                Pending::Taken {
                    take,
                    disclosures: delivery.disclosures,
                    appended: inner.store.append_async(entry),
                }
            }
            Verdict::Refuse(refusal) => Pending::Refused {
                logged: refusal_entry(inner, sender, received_at, &refusal)?
                    .map(|entry| inner.store.append_async(entry)),
                refusal,
            },
        });
    }
    let mut receipts = Vec::with_capacity(pending.len());
    let mut accepted = 0usize;
    for p in pending {
        let (take, disclosures, appended) = match p {
            Pending::Refused { refusal, logged } => {
                let logged = match logged {
                    Some(appended) => Some(appended.await?.index()),
                    None => None,
                };
                receipts.push(refusal.receipt(received_at, logged));
                continue;
            }
            Pending::Taken {
                take,
                disclosures,
                appended,
            } => (take, disclosures, appended.await?),
        };
        let placed = match appended {
            Appended::New(i) => Placed::New(i),
            Appended::Duplicate(i) => {
                add_disclosures(inner, sender, i, disclosures, received_at).await?;
                Placed::Duplicate(i)
            }
            Appended::Conflict(i) => Placed::Conflict(i),
            Appended::Unmet(i) => Placed::Unmet(i),
        };
        let n = take.verified().notice();
        match take.settle(placed, received_at, &**inner)? {
            Ok(receipt) => {
                tracing::debug!(from = %sender, id = %n.id(), kind = %n.kind(), outcome = ?receipt.outcome, "delivery received");
                if matches!(placed, Placed::New(_)) {
                    accepted += 1;
                    inner
                        .metrics
                        .received
                        .get_or_create(&crate::metrics::Metrics::label("kind", n.kind()))
                        .inc();
                }
                receipts.push(receipt);
            }
            Err(refusal) => {
                let logged = match refusal_entry(inner, sender, received_at, &refusal)? {
                    Some(entry) => Some(inner.store.append_async(entry).await?.index()),
                    None => None,
                };
                receipts.push(refusal.receipt(received_at, logged));
            }
        }
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

/// A refusal, counted by reason, and the entry that logs its signed
/// rejection (LOCAL, for the caller to append). The entry is bounded: ids,
/// digests, the code and the reason text (bounded by the core), never the
/// payload. Past the peer's limit of logged rejections a minute there is
/// no entry: the first one over the limit is logged as a summary instead,
/// the rest are only counted.
fn refusal_entry(
    inner: &Inner,
    sender: &OrgId,
    received_at: isop_core::UnixMillis,
    refusal: &protocol::Refusal,
) -> Result<Option<NewEntry>, Error> {
    let code = refusal.code;
    inner
        .metrics
        .rejected
        .get_or_create(&crate::metrics::Metrics::label(
            "reason",
            code.as_str_name(),
        ))
        .inc();
    let logging = inner.rejection_logging(sender);
    if code == pb::RejectReason::IdConflict {
        tracing::error!(from = %sender, error = %refusal.reason, "notice id conflict: another notice holds this id");
    }
    match logging {
        RejectionLogging::Logged if code == pb::RejectReason::IdConflict => {}
        RejectionLogging::Logged => {
            tracing::warn!(from = %sender, reason = code.as_str_name(), error = %refusal.reason, "delivery rejected");
        }
        RejectionLogging::Summary => {
            tracing::warn!(from = %sender, limit = inner.config.max_logged_rejections_per_minute, "too many rejected deliveries from this peer: for the rest of the minute they are counted, not logged");
        }
        RejectionLogging::Counted => {
            tracing::debug!(from = %sender, reason = code.as_str_name(), error = %refusal.reason, "delivery rejected (counted, not logged)");
        }
    }
    let logged = match logging {
        RejectionLogging::Logged => refusal.receipt(received_at, None),
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
        RejectionLogging::Counted => return Ok(None),
    };
    let mut entry = NewEntry::new(
        received_at,
        Direction::Local,
        Record::Envelope(Bytes::from(logged.sign(&inner.signer)?.encode_to_vec())),
    );
    entry.peer = Some(sender.clone());
    Ok(Some(entry))
}

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
        let items: Vec<Delivery> = batch
            .items
            .into_iter()
            .filter_map(|i| Some(i.deliver?.into()))
            .collect();
        // Nothing to answer: a sync's receipts are not signed.
        new += log_deliveries(inner, peer, items)
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
