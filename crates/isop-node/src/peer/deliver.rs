//! Delivery workers: drain the durable outbox, one worker per recipient,
//! each sending the head of its recipient's outbox as one `DeliverBatch`
//! at a time, so that every recipient receives notices in the order of this
//! node's log; with capped exponential backoff and jitter.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isop_core::protocol::Sent;
use isop_core::{
    Delivery, Judgement, LogIndex, OrgId, ReceiptOutcome, Redaction, SignedReceipts, UnixMillis, pb,
};
use isop_store::{Delivered, Direction, DisclosureState, NewEntry, OutboxItem, Record};
use pb::frame::Kind;
use prost::Message;
use rand::Rng;

use crate::Error;
use crate::state::Inner;

/// How long the worker sleeps when nothing is due and nothing wakes it.
const IDLE: Duration = Duration::from_secs(1);

pub(crate) async fn delivery_loop(inner: Arc<Inner>) {
    let mut stop = inner.shutdown.subscribe();
    let active: Arc<Mutex<HashSet<OrgId>>> = Arc::default();
    loop {
        if *stop.borrow() {
            break;
        }
        match inner.store.outbox_due_recipients(due(&inner)) {
            Ok(recipients) => {
                for recipient in recipients {
                    let fresh = active
                        .lock()
                        .map(|mut s| s.insert(recipient.clone()))
                        .unwrap_or(false);
                    if !fresh {
                        continue;
                    }
                    let (inner, active) = (inner.clone(), active.clone());
                    tokio::spawn(async move {
                        drain(&inner, &recipient).await;
                        if let Ok(mut s) = active.lock() {
                            s.remove(&recipient);
                        }
                        inner.progress.notify_waiters();
                        inner.outbox_wake.notify_one();
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
        }
        // Retries fall due with time: look again within the shortest backoff.
        let idle = IDLE.min(Duration::from_millis(
            inner.config.delivery.initial_backoff_ms.max(10),
        ));
        tokio::select! {
            _ = inner.outbox_wake.notified() => {}
            _ = tokio::time::sleep(idle) => {}
            _ = stop.wait_for(|stopping| *stopping) => {}
        }
    }
}

/// Delivers the head of `recipient`'s outbox, batch after batch, until
/// nothing is due or an attempt fails (then every item of the batch waits
/// out its backoff, and no later item overtakes it). Only this worker
/// removes the recipient's items, so no notice is sent twice at once.
async fn drain(inner: &Arc<Inner>, recipient: &OrgId) {
    loop {
        if *inner.shutdown.borrow() {
            return;
        }
        let most = inner.config.delivery.in_flight.clamp(1, MAX_BATCH);
        let batch = match inner.store.outbox_head(recipient, due(inner), most) {
            Ok(b) if b.is_empty() => return,
            Ok(b) => b,
            Err(e) => {
                tracing::error!(to = %recipient, error = %e, "cannot read the outbox");
                return;
            }
        };
        let batch = match give_up(inner, recipient, batch) {
            Ok(b) if b.is_empty() => continue,
            Ok(b) => b,
            Err(e) => {
                tracing::error!(to = %recipient, error = %e, "cannot record a failed delivery");
                return;
            }
        };
        match attempt(inner, recipient, &batch).await {
            Ok(outcomes) => {
                let rejected = outcomes
                    .iter()
                    .filter(|o| matches!(o, ReceiptOutcome::Rejected { .. }))
                    .count();
                tracing::info!(to = %recipient, notices = batch.len(), rejected, "delivered");
                inner.peer_answered(recipient);
                inner.progress.notify_waiters();
            }
            Err(e) => {
                // A peer whose disk is full answered: its connection is
                // sound, and the batch waits out its backoff.
                let full = matches!(
                    &e,
                    Error::Net(isop_net::Error::Remote {
                        code: pb::ErrorCode::ResourceExhausted,
                        ..
                    })
                );
                if matches!(e, Error::Net(_) | Error::Peer { .. }) {
                    if !full {
                        inner.drop_connection(recipient).await;
                    }
                    inner.peer_failed(recipient, &e);
                }
                for (item, _) in &batch {
                    let wait = backoff(inner, item.attempts);
                    if let Err(e) = inner.store.outbox_defer(
                        recipient,
                        item.index,
                        UnixMillis(inner.now().0 + wait),
                        &e.to_string(),
                    ) {
                        tracing::error!(error = %e, "cannot record a failed delivery");
                    }
                }
                let first = &batch[0].0;
                tracing::warn!(to = %recipient, from_index = %first.index, notices = batch.len(), attempts = first.attempts + 1, error = %e, "delivery failed");
                return;
            }
        }
    }
}

/// What a batch read from the outbox holds that can still be delivered:
/// each item with its log entry, read once (`None` if it cannot be read). The deliveries that can never
/// succeed are given up, each logged with its reason
/// (`Store::fail_delivery`), and leave the outbox: every one if the
/// recipient left the roster or was revoked, else each notice older than
/// any receiver takes (they would refuse it as `EXPIRED`).
fn give_up(
    inner: &Inner,
    recipient: &OrgId,
    batch: Vec<OutboxItem>,
) -> Result<Vec<(OutboxItem, Option<pb::LogEntry>)>, Error> {
    let now = inner.now();
    let gone = inner
        .roster()
        .active_member(recipient, now)
        .err()
        .map(|e| format!("{e}; it can never receive this notice"));
    let max = inner.config.max_notice_age_ms;
    let mut left = Vec::with_capacity(batch.len());
    for item in batch {
        let entry = match &gone {
            Some(_) => None,
            None => inner.store.log_entry(item.index)?,
        };
        let why = match (&gone, &entry) {
            (Some(why), _) => Some(why.clone()),
            (None, Some(e)) if now.0.saturating_sub(e.appended_at) > max => Some(format!(
                "the notice is {} days old, older than the {} days a receiver takes",
                now.0.saturating_sub(e.appended_at) / 86_400_000,
                max / 86_400_000
            )),
            _ => None,
        };
        match (why, entry) {
            (Some(why), _) => {
                let at = inner
                    .store
                    .fail_delivery(recipient, item.index, &why, now)?;
                tracing::warn!(to = %recipient, index = %item.index, entry = %at, reason = %why, "delivery given up");
                inner.progress.notify_waiters();
            }
            // An entry that cannot be read fails its attempt, and waits.
            (None, entry) => left.push((item, entry)),
        }
    }
    Ok(left)
}

/// The delay before attempt `attempts + 1`: exponential from the initial
/// backoff, capped, with ±50% jitter.
fn backoff(inner: &Inner, attempts: u32) -> u64 {
    let base = backoff_base(inner, attempts);
    rand::thread_rng().gen_range(base / 2..=base + base / 2)
}

/// The backoff before its jitter.
fn backoff_base(inner: &Inner, attempts: u32) -> u64 {
    let c = &inner.config.delivery;
    c.initial_backoff_ms
        .saturating_mul(1u64 << attempts.min(30))
        .min(c.max_backoff_ms)
        .max(1)
}

/// Which outbox items are due now: an item deferred further ahead than
/// the longest backoff was deferred before this node's clock went back.
fn due(inner: &Inner) -> isop_store::Due {
    let longest = backoff_base(inner, u32::MAX);
    isop_store::Due {
        now: inner.now(),
        longest_wait_ms: longest + longest / 2,
    }
}

/// One batch: send it, verify its list of receipts (one signature), and log
/// the list as one entry (which clears the outbox items and records the
/// outcomes).
async fn attempt(
    inner: &Arc<Inner>,
    recipient: &OrgId,
    batch: &[(OutboxItem, Option<pb::LogEntry>)],
) -> Result<Vec<ReceiptOutcome>, Error> {
    let mut items = Vec::with_capacity(batch.len());
    // What each receipt must name: the id and digest this node sent.
    let mut sent = Vec::with_capacity(batch.len());
    let mut queued = Vec::with_capacity(batch.len());
    let clearance = inner.roster().clearance(recipient)?;
    for (item, entry) in batch {
        let delivery = match entry {
            Some(entry) => delivery_for(inner, item.index, entry, &clearance)?,
            None => None,
        };
        let (Some(delivery), Some(entry)) = (delivery, entry) else {
            // Kept in the outbox: nothing accepted is ever dropped here.
            return Err(Error::Roster(format!(
                "entry {} cannot be read as an outbound notice",
                item.index
            )));
        };
        sent.push(Sent::of(&delivery.envelope));
        items.push(delivery.into());
        queued.push(entry.appended_at);
    }
    let conn = inner.connection(recipient).await?;
    let answer = inner
        .request(&conn, Kind::DeliverBatch(pb::DeliverBatch { items }))
        .await?;
    let peer_fault = |why: String| Error::Peer {
        org: recipient.clone(),
        why,
    };
    let Some(Kind::ReceiptBatch(pb::ReceiptBatch {
        receipts: Some(envelope),
    })) = answer.kind
    else {
        return Err(peer_fault("answered a batch without receipts".into()));
    };
    // A receipt's time is the receiver's clock: told, not judged (keys
    // are still judged at it, and revocation by this node's clock).
    let now = inner.now();
    let answers = Judgement::Live {
        now,
        max_skew_ms: u64::MAX,
        max_age_ms: u64::MAX,
    };
    let receipts = SignedReceipts::verify(&envelope, &inner.roster(), answers)
        .and_then(|r| r.answering(recipient, &sent))
        .map_err(|e| peer_fault(format!("its receipts do not answer the batch: {e}")))?;
    if let Some(r) = receipts.first() {
        clock_offset(inner, recipient, r.received_at(), now);
    }
    // One entry holds the list: it clears every item of the batch from the
    // outbox and records each outcome, in one commit.
    let mut entry = NewEntry::new(
        inner.now(),
        Direction::Inbound,
        Record::Envelope(envelope.encode_to_vec().into()),
    );
    entry.peer = Some(recipient.clone());
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut retry = Vec::new();
    for ((item, _), receipt) in batch.iter().zip(receipts) {
        let outcome = receipt.outcome().clone();
        if let ReceiptOutcome::Rejected { code, reason, .. } = &outcome {
            tracing::warn!(to = %recipient, index = %item.index, ?code, reason, "delivery rejected by the recipient");
            if !outcome.settles() {
                let code = code.as_str_name().trim_start_matches("REJECT_REASON_");
                retry.push((item, format!("rejected {code}: {reason}")));
                outcomes.push(outcome);
                continue;
            }
        }
        entry.dequeue.push((recipient.clone(), item.index));
        entry.delivered.push(Delivered {
            notice: item.index,
            recipient: recipient.clone(),
            accepted: !matches!(outcome, ReceiptOutcome::Rejected { .. }),
        });
        outcomes.push(outcome);
    }
    inner.store.append_async(entry).await?;
    // Refused for the clocks: kept, and retried after the backoff.
    for (item, reason) in retry {
        let wait = backoff(inner, item.attempts);
        inner.store.outbox_defer(
            recipient,
            item.index,
            UnixMillis(inner.now().0 + wait),
            &reason,
        )?;
    }
    let done = inner.now().0;
    for at in queued {
        inner
            .metrics
            .delivery_latency
            .observe(done.saturating_sub(at) as f64 / 1000.0);
    }
    Ok(outcomes)
}

/// Records how far `peer`'s clock (its receipts' `received_at`) is from
/// this node's `now`, and warns when that is more than the skew allowed.
fn clock_offset(inner: &Inner, peer: &OrgId, theirs: UnixMillis, now: UnixMillis) {
    let ahead =
        i64::try_from(theirs.0).unwrap_or(i64::MAX) - i64::try_from(now.0).unwrap_or(i64::MAX);
    inner
        .metrics
        .peer_clock_offset
        .get_or_create(&crate::metrics::Metrics::label("peer", peer))
        .set(ahead / 1000);
    if ahead.unsigned_abs() > inner.config.max_clock_skew_ms {
        let way = if ahead > 0 { "ahead of" } else { "behind" };
        tracing::warn!(
            peer = %peer,
            "{peer}'s clock is {} {way} this node's (its receipts say {}, this node's clock {}): one of them is wrong (run NTP on both)",
            isop_core::span(ahead.unsigned_abs()),
            isop_core::json::rfc3339(theirs.0),
            isop_core::json::rfc3339(now.0),
        );
    }
}

/// The most deliveries one `DeliverBatch` may carry: as many as one list
/// of receipts answers.
pub(crate) const MAX_BATCH: usize = isop_core::MAX_RECEIPTS;

/// The delivery of outbound entry `index` (its log entry `entry`) to a
/// recipient of `clearance`: the envelope and the held disclosures the
/// core's [`Redaction`] shows that clearance.
pub(crate) fn delivery_for(
    inner: &Inner,
    index: LogIndex,
    entry: &pb::LogEntry,
    clearance: &isop_core::Clearance,
) -> Result<Option<Delivery>, Error> {
    let Some(pb::log_entry::Record::Envelope(env)) = &entry.record else {
        return Ok(None);
    };
    let envelope = pb::Envelope::decode(env.clone()).map_err(|e| isop_store::Error::Corrupt {
        index,
        why: format!("outbound envelope: {e}"),
    })?;
    let redaction = Redaction::of_envelope(&envelope, clearance)?;
    let mut disclosures = Vec::new();
    for d in inner.store.disclosures_of(index)? {
        if let Some(DisclosureState::Held(bytes)) = d.state
            && redaction.shows_digest(&d.digest)
        {
            disclosures.push(bytes);
        }
    }
    Ok(Some(Delivery {
        envelope,
        disclosures,
    }))
}
