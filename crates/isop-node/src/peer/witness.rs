//! Witnessing: fetch each peer's checkpoint, check it is consistent with
//! the last one seen, cosign it, and log the cosignature on both sides.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use isop_core::merkle::{self, Hash};
use isop_core::{Checkpoint, Judgement, KeyId, NoteVerifier, OrgId, SignedNote, pb};
use isop_store::{Direction, NewEntry, Record};
use pb::frame::Kind;

use crate::Error;
use crate::state::Inner;

/// A peer checkpoint this node checked and cosigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witnessed {
    /// The peer.
    pub peer: OrgId,
    /// Its log's size.
    pub size: u64,
    /// Its log's root.
    pub root: Hash,
    /// The size of the previous checkpoint it was proven consistent with.
    pub consistent_with: Option<u64>,
}

pub(crate) async fn witness_loop(inner: Arc<Inner>) {
    let mut stop = inner.shutdown.subscribe();
    let period = Duration::from_millis(inner.config.witness.interval_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
        let roster = inner.roster();
        let peers: Vec<OrgId> = roster
            .members()
            .filter(|m| {
                m.org_id != inner.org && !m.endpoints.is_empty() && !m.revoked_by(inner.now())
            })
            .map(|m| m.org_id.clone())
            .collect();
        for peer in peers {
            match witness(&inner, &peer).await {
                Ok(_) => inner.peer_answered(&peer),
                Err(e) => {
                    if matches!(e, Error::Net(_) | Error::Peer { .. }) {
                        inner.peer_failed(&peer, &e);
                    }
                    tracing::debug!(%peer, error = %e, "witnessing skipped");
                }
            }
        }
    }
}

/// Checks a note as `peer`'s checkpoint with its roster keys: for a new
/// checkpoint (`valid_at` set), only keys valid and not revoked then; for
/// one witnessed before, any key the roster lists for the peer.
pub(crate) fn open_checkpoint(
    inner: &Inner,
    peer: &OrgId,
    note: &SignedNote,
    valid_at: Option<isop_core::UnixMillis>,
) -> Result<Checkpoint, Error> {
    let roster = inner.roster();
    let member = roster.member(peer)?;
    let origin = Checkpoint::origin_of(peer);
    let mut last = None;
    for k in &member.keys {
        let name = format!("{peer}/{}", k.name);
        if let Some(t) = valid_at {
            let id = isop_core::KeyId {
                org: peer.clone(),
                name: k.name.clone(),
            };
            if let Err(e) = roster.signing_key(&id, peer, t, isop_core::Judgement::AtCreation) {
                last = Some(e);
                continue;
            }
        }
        let verifier = NoteVerifier::new(&name, k.public)?;
        match Checkpoint::open(note, &origin, &verifier) {
            Ok(cp) => return Ok(cp),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(
        || Error::Roster(format!("{peer} has no signing key")),
        Error::Core,
    ))
}

/// Fetches `peer`'s latest checkpoint, checks its signature and its
/// consistency with the last one witnessed, cosigns it, sends the
/// cosignature back, and logs it here.
pub(crate) async fn witness(inner: &Arc<Inner>, peer: &OrgId) -> Result<Witnessed, Error> {
    let conn = inner.connection(peer).await?;
    let answer = inner
        .request(&conn, Kind::GetCheckpoint(pb::GetCheckpoint {}))
        .await?;
    let Some(Kind::Checkpoint(c)) = answer.kind else {
        return Err(Error::Peer {
            org: peer.clone(),
            why: "answered a checkpoint request with something else".into(),
        });
    };
    let mut note = SignedNote::parse(&c.note)?;
    let cp = open_checkpoint(inner, peer, &note, Some(inner.now()))?;
    let mut consistent_with = None;
    if let Some(previous) = inner.store.witnessed(peer)? {
        let old = open_checkpoint(inner, peer, &previous, None)?;
        let consistent = if cp.size < old.size {
            Err(format!(
                "its log shrank from {} to {} entries",
                old.size, cp.size
            ))
        } else {
            let proof_frame = inner
                .request(
                    &conn,
                    Kind::GetConsistencyProof(pb::GetConsistencyProof {
                        from: old.size,
                        to: cp.size,
                    }),
                )
                .await?;
            let Some(Kind::ConsistencyProof(p)) = proof_frame.kind else {
                return Err(Error::Peer {
                    org: peer.clone(),
                    why: "answered a proof request with something else".into(),
                });
            };
            let hashes: Vec<Hash> = p
                .hashes
                .iter()
                .filter_map(|h| Hash::try_from(h.as_ref()).ok())
                .collect();
            merkle::verify_consistency(old.size, cp.size, &old.root, &cp.root, &hashes)
                .map_err(|e| e.to_string())
        };
        if let Err(why) = consistent {
            inner.inconsistencies.fetch_add(1, Ordering::Relaxed);
            inner.metrics.split_views.inc();
            tracing::error!(%peer, old_size = old.size, new_size = cp.size, why, "SPLIT VIEW: the peer's checkpoints are inconsistent; both are kept as evidence");
            for evidence in [previous, note] {
                let mut entry = NewEntry::new(
                    inner.now(),
                    Direction::Local,
                    Record::CosignedCheckpoint(Bytes::from(evidence.to_bytes())),
                );
                entry.peer = Some(peer.clone());
                inner.store.append_async(entry).await?;
            }
            return Err(Error::Peer {
                org: peer.clone(),
                why: format!("inconsistent checkpoints: {why}"),
            });
        }
        consistent_with = Some(old.size);
    }
    note.add_signature(&inner.signer());
    inner
        .request(
            &conn,
            Kind::SubmitCosignature(pb::SubmitCosignature {
                note: note.to_bytes().into(),
            }),
        )
        .await?;
    let mut entry = NewEntry::new(
        inner.now(),
        Direction::Local,
        Record::CosignedCheckpoint(Bytes::from(note.to_bytes())),
    );
    entry.peer = Some(peer.clone());
    inner.store.append_async(entry).await?;
    inner.store.set_witnessed(peer, &note)?;
    tracing::info!(%peer, size = cp.size, "checkpoint witnessed and cosigned");
    Ok(Witnessed {
        peer: peer.clone(),
        size: cp.size,
        root: cp.root,
        consistent_with,
    })
}

/// A peer's cosignature on one of our checkpoints: the text must be a
/// checkpoint of this log, and the peer's own line must verify with a key
/// of the peer that is valid now. Only that line is merged into the stored
/// checkpoint and logged; every other line of the note is ignored.
pub(super) async fn cosignature(
    inner: &Arc<Inner>,
    peer: &OrgId,
    note: &[u8],
) -> Result<(), Error> {
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
