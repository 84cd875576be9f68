//! Delivery workers: drain the durable outbox over reused connections,
//! many notices in flight, with capped exponential backoff and jitter.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isop_core::{LogIndex, OrgId, Receipt, ReceiptOutcome, UnixMillis, pb, sha256};
use isop_store::{Delivered, Direction, NewEntry, OutboxItem, Record};
use pb::frame::Kind;
use prost::Message;
use rand::Rng;

use crate::Error;
use crate::node::{Inner, now};

/// The most outbox items taken per pass.
const PASS: usize = 4096;
/// How long the worker sleeps when nothing is due and nothing wakes it.
const IDLE: Duration = Duration::from_secs(1);

pub(crate) async fn delivery_loop(inner: Arc<Inner>) {
    let mut stop = inner.shutdown.subscribe();
    let in_flight: Arc<Mutex<HashSet<(OrgId, LogIndex)>>> = Arc::default();
    let permits = Arc::new(tokio::sync::Semaphore::new(
        inner.config.delivery.in_flight.max(1) * 16,
    ));
    loop {
        if *stop.borrow() {
            break;
        }
        match inner.store.outbox_due(now(), PASS) {
            Ok(due) => {
                for item in due {
                    let key = (item.recipient.clone(), item.index);
                    let fresh = in_flight
                        .lock()
                        .map(|mut s| s.insert(key.clone()))
                        .unwrap_or(false);
                    if !fresh {
                        continue;
                    }
                    // The list was read before this item's slot was taken: an
                    // earlier attempt may have been receipted since. Only a
                    // logged receipt removes an item, and it does so before
                    // its attempt gives the slot back.
                    if !inner
                        .store
                        .outbox_contains(&item.recipient, item.index)
                        .unwrap_or(true)
                    {
                        if let Ok(mut s) = in_flight.lock() {
                            s.remove(&key);
                        }
                        continue;
                    }
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        break;
                    };
                    let (inner, in_flight) = (inner.clone(), in_flight.clone());
                    tokio::spawn(async move {
                        deliver_one(&inner, item).await;
                        if let Ok(mut s) = in_flight.lock() {
                            s.remove(&key);
                        }
                        drop(permit);
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

/// The delay before attempt `attempts + 1`: exponential from the initial
/// backoff, capped, with ±50% jitter.
fn backoff(inner: &Inner, attempts: u32) -> u64 {
    let c = &inner.config.delivery;
    let base = c
        .initial_backoff_ms
        .saturating_mul(1u64 << attempts.min(30))
        .min(c.max_backoff_ms)
        .max(1);
    rand::thread_rng().gen_range(base / 2..=base + base / 2)
}

async fn deliver_one(inner: &Arc<Inner>, item: OutboxItem) {
    match attempt(inner, &item).await {
        Ok(outcome) => {
            tracing::info!(to = %item.recipient, index = %item.index, ?outcome, "delivered")
        }
        Err(e) => {
            let wait = backoff(inner, item.attempts);
            tracing::warn!(to = %item.recipient, index = %item.index, attempts = item.attempts + 1, retry_in_ms = wait, error = %e, "delivery failed");
            if matches!(e, Error::Net(_) | Error::Peer { .. }) {
                inner.drop_connection(&item.recipient).await;
            }
            if let Err(e) = inner.store.outbox_defer(
                &item.recipient,
                item.index,
                UnixMillis(now().0 + wait),
                &e.to_string(),
            ) {
                tracing::error!(error = %e, "cannot record a failed delivery");
            }
        }
    }
}

/// One delivery: send, verify the receipt, log it (which clears the
/// outbox item and records the outcome).
async fn attempt(inner: &Arc<Inner>, item: &OutboxItem) -> Result<ReceiptOutcome, Error> {
    let Some(deliver) = crate::serve::delivery_for(inner, item.index, &item.recipient)? else {
        // Kept in the outbox: nothing accepted is ever dropped here.
        return Err(Error::Roster(format!(
            "entry {} cannot be read as an outbound notice",
            item.index
        )));
    };
    let payload_digest = deliver.envelope.as_ref().map(|e| sha256(&e.payload));
    let conn = inner.connection(&item.recipient).await?;
    let answer = conn
        .request(&pb::Frame {
            kind: Some(Kind::Deliver(deliver)),
        })
        .await?;
    let Some(Kind::Receipt(envelope)) = answer.kind else {
        return Err(Error::Peer {
            org: item.recipient.clone(),
            why: "answered a delivery without a receipt".into(),
        });
    };
    let receipt = Receipt::verify(&envelope, &inner.roster(), inner.live())?;
    if receipt.receiver() != &item.recipient || receipt.notice_digest() != payload_digest.as_ref() {
        return Err(Error::Peer {
            org: item.recipient.clone(),
            why: "its receipt is for something else".into(),
        });
    }
    let outcome = receipt.outcome().clone();
    let mut entry = NewEntry::new(
        now(),
        Direction::Inbound,
        Record::Envelope(envelope.encode_to_vec().into()),
    );
    entry.peer = Some(item.recipient.clone());
    entry.dequeue = vec![(item.recipient.clone(), item.index)];
    entry.delivered = vec![Delivered {
        notice: item.index,
        recipient: item.recipient.clone(),
        accepted: !matches!(outcome, ReceiptOutcome::Rejected { .. }),
    }];
    inner.store.append_async(entry).await?;
    if let Some(queued) = inner.store.log_entry(item.index)?.map(|e| e.appended_at) {
        inner
            .metrics
            .delivery_latency
            .observe(now().0.saturating_sub(queued) as f64 / 1000.0);
    }
    if let ReceiptOutcome::Rejected { code, reason } = &outcome {
        tracing::warn!(to = %item.recipient, index = %item.index, ?code, reason, "delivery rejected by the recipient");
    }
    Ok(outcome)
}
