//! The receive pipeline: single deliveries queued and taken together, a
//! batch answered with one signed list, and both logged by
//! [`log_deliveries`] on the core's decision.

use std::sync::Arc;

use bytes::Bytes;
use isop_core::protocol::{self, Placed, Receiver, Take, Verdict};
use isop_core::{Delivery, LogIndex, OrgId, ReceiptDraft, ReceiptOutcome, pb};
use isop_store::{Appended, Direction, IndexKeys, NewEntry, Record};
use prost::Message;
use tokio::sync::{mpsc, oneshot};

use super::deliver::MAX_BATCH;
use crate::Error;
use crate::state::{Inner, Queued, RejectionLogging};

/// The most single deliveries waiting to be received together; past it,
/// their requests wait (and QUIC pushes back on the peers sending them).
pub(crate) const MAX_QUEUED: usize = 4 * MAX_BATCH;

/// Receives one delivery, answered with its signed receipt: it joins the
/// single deliveries waiting at that moment, which are received together
/// (one batch signature check, one group commit; see [`log_deliveries`]).
pub(super) async fn receive_single(
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
        .map_err(|why| Error::Task {
            what: "receiving deliveries",
            why,
        })?;
    Ok(draft.sign(&inner.signer())?)
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
pub(super) async fn receive_batch(
    inner: &Arc<Inner>,
    sender: &OrgId,
    deliveries: Vec<Delivery>,
) -> Result<pb::Envelope, Error> {
    let drafts = log_deliveries(inner, sender, deliveries).await?;
    Ok(ReceiptDraft::sign_list(&drafts, &inner.signer())?)
}

/// A delivery on its way into the log, in the order of the batch's entries.
enum Pending {
    /// Taken, appended with its disclosures (which a copy of a notice
    /// already held may add to it).
    Taken {
        take: Box<Take>,
        disclosures: Vec<Bytes>,
    },
    /// Refused, and its rejection logged unless the peer is past its limit
    /// (`logged`: it has an entry in the batch).
    Refused {
        refusal: protocol::Refusal,
        logged: bool,
    },
}

/// Receives deliveries from `sender`: the core decides on them
/// ([`protocol::decide`]); they are appended durably in their order in one
/// group commit (each notice once: by id and digest), and each one's
/// receipt is returned, for the caller to sign. A refusal is logged, as
/// the signed rejection, and never reaches the inbox.
pub(super) async fn log_deliveries(
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
    .map_err(|e| Error::Task {
        what: "checking deliveries",
        why: e.to_string(),
    })?;
    let mut pending = Vec::with_capacity(deliveries.len());
    let mut entries = Vec::with_capacity(deliveries.len());
    for (delivery, verdict) in deliveries.into_iter().zip(verdicts?) {
        pending.push(match verdict {
            Verdict::Take(take) => {
                let mut entry = NewEntry::new(
                    received_at,
                    Direction::Inbound,
                    Record::Envelope(Bytes::from(delivery.envelope.encode_to_vec())),
                );
                // Decoded once: the store takes its index keys from the
                // notice the checks decoded.
                let verified = take.verified();
                entry.index_keys = Some(IndexKeys::of_notice(
                    verified.notice(),
                    *verified.notice_digest(),
                    delivery.disclosures.iter(),
                ));
                entry.disclosures = delivery.disclosures.clone();
                entry.inbox = true;
                entry.dedupe = true;
                entry.requires = take.requires();
                entry.peer = Some(sender.clone());
                entries.push(entry);
                Pending::Taken {
                    take,
                    disclosures: delivery.disclosures,
                }
            }
            Verdict::Refuse(refusal) => {
                let entry = refusal_entry(inner, sender, received_at, &refusal)?;
                let logged = entry.is_some();
                entries.extend(entry);
                Pending::Refused { refusal, logged }
            }
        });
    }
    // The batch's entries in one group commit: one fsync for all.
    let mut appended = inner.store.append_many_async(entries).await.into_iter();
    let mut next = || appended.next().unwrap_or(Err(isop_store::Error::Closed));
    let mut receipts = Vec::with_capacity(pending.len());
    let mut accepted = 0usize;
    for p in pending {
        let (take, disclosures, appended) = match p {
            Pending::Refused { refusal, logged } => {
                let logged = if logged { Some(next()?.index()) } else { None };
                receipts.push(refusal.receipt(received_at, logged));
                continue;
            }
            Pending::Taken { take, disclosures } => (take, disclosures, next()?),
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
    .map_err(|e| Error::Task {
        what: "adding disclosures",
        why: e.to_string(),
    })??;
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
        Record::Envelope(Bytes::from(logged.sign(&inner.signer())?.encode_to_vec())),
    );
    entry.peer = Some(sender.clone());
    Ok(Some(entry))
}
