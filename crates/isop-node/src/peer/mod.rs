//! Serving and reaching peers: accepting connections and dispatching each
//! request (this file), receiving deliveries, delivering the outbox,
//! syncing, proofs and witnessing. Each file below imports only
//! `crate::state` and the files listed before it, never this one.

mod deliver;
mod proofs;
mod receive;
mod sync;
mod witness;

use std::sync::Arc;

use isop_core::{Delivery, pb, protocol};
use isop_net::{PeerConnection, PeerIdentity, error_frame};
use pb::frame::Kind;

pub(crate) use deliver::delivery_loop;
pub(crate) use receive::{MAX_QUEUED, collect_deliveries};
pub(crate) use sync::sync_with;
pub use witness::Witnessed;
pub(crate) use witness::{open_checkpoint, witness, witness_loop};

use crate::state::Inner;

/// Accepts peers until the node stops, each handshake and connection on
/// a task of its own.
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
    inner.peer_connected(&conn.peer().org);
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
            inner.peer_roster(&peer.org, req.frame.roster_version);
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
        Some(Kind::Deliver(d)) => receive::receive_single(inner, &peer.org, d.into())
            .await
            .map(Kind::Receipt),
        Some(Kind::DeliverBatch(b)) => {
            let deliveries: Vec<Delivery> = b.items.into_iter().map(Delivery::from).collect();
            if let Err(fault) = protocol::check_batch(&deliveries) {
                return error_frame(fault.code(), fault.to_string());
            }
            receive::receive_batch(inner, &peer.org, deliveries)
                .await
                .map(|receipts| {
                    Kind::ReceiptBatch(pb::ReceiptBatch {
                        receipts: Some(receipts),
                    })
                })
        }
        Some(Kind::Sync(s)) => sync::sync(inner, &peer.org, s).await.map(Kind::SyncBatch),
        Some(Kind::GetCheckpoint(_)) => inner.checkpoint().map(|note| {
            Kind::Checkpoint(pb::Checkpoint {
                note: note.to_bytes().into(),
            })
        }),
        Some(Kind::GetConsistencyProof(p)) => {
            proofs::consistency(inner, p).map(Kind::ConsistencyProof)
        }
        Some(Kind::GetInclusionProof(p)) => {
            proofs::inclusion(inner, &peer.org, p).map(Kind::InclusionProof)
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
        Some(Kind::SubmitCosignature(c)) => witness::cosignature(inner, &peer.org, &c.note)
            .await
            .map(|()| Kind::Ack(pb::Ack {})),
        Some(Kind::MatchOpen(m)) => crate::matching::open(inner, &peer.org, m).await,
        Some(Kind::MatchEvaluate(m)) => crate::matching::evaluate(inner, &peer.org, m).await,
        Some(Kind::GetMatchRecords(m)) => crate::matching::records(inner, &peer.org, m).await,
        Some(Kind::MatchClose(m)) => crate::matching::close(inner, &peer.org, m).await,
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
            error_frame(e.wire_code(), e.to_string())
        }
    }
}
