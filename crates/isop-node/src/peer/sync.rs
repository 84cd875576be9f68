//! Sync: answering a peer's pull of what this node sent it, and pulling
//! from a peer.

use std::sync::Arc;

use isop_core::{Delivery, LogIndex, OrgId, ReceiptOutcome, pb};
use pb::frame::Kind;
use prost::Message;

use super::deliver::delivery_for;
use super::receive::log_deliveries;
use crate::Error;
use crate::state::Inner;

/// The most items one sync answer carries.
const SYNC_LIMIT: u32 = 256;
/// The most entries one sync request scans.
const SYNC_SCAN: u64 = 16_384;

/// Answers a sync on a blocking thread (a scan reads up to
/// [`SYNC_SCAN`] entries), one at a time per peer: a peer that asks for
/// many at once waits for its own, and holds up no one else.
pub(super) async fn sync(
    inner: &Arc<Inner>,
    peer: &OrgId,
    s: pb::Sync,
) -> Result<pb::SyncBatch, Error> {
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
        .map_err(|_| Error::ShuttingDown)?;
    let (inner, peer) = (inner.clone(), peer.clone());
    tokio::task::spawn_blocking(move || sync_batch(&inner, &peer, s))
        .await
        .map_err(|e| Error::Task {
            what: "answering a sync",
            why: e.to_string(),
        })?
}

/// Answers a sync: the outbound notices addressed to `peer`, from the cursor.
fn sync_batch(inner: &Inner, peer: &OrgId, s: pb::Sync) -> Result<pb::SyncBatch, Error> {
    let limit = s.limit.clamp(1, SYNC_LIMIT) as usize;
    let size = inner.store.size();
    let end = s.cursor.saturating_add(SYNC_SCAN).min(size);
    let mut items = Vec::new();
    let mut next = s.cursor.min(size);
    let clearance = inner.roster().clearance(peer)?;
    for r in inner.store.entries(LogIndex(s.cursor), LogIndex(end)) {
        let (index, bytes) = r?;
        next = index.0 + 1;
        let Ok(entry) = pb::LogEntry::decode(bytes) else {
            continue;
        };
        if entry.direction == pb::Direction::Outbound as i32
            && entry.recipients.iter().any(|r| r == peer.as_str())
        {
            if let Some(delivery) = delivery_for(inner, index, &entry, &clearance)? {
                items.push(pb::SyncItem {
                    index: index.0,
                    deliver: Some(delivery.into()),
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
