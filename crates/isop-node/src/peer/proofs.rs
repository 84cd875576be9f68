//! Proofs a peer asks for: consistency between two tree sizes, and an
//! entry's inclusion.

use bytes::Bytes;
use isop_core::merkle::Hash;
use isop_core::{LogIndex, OrgId, pb};
use prost::Message;

use crate::Error;
use crate::state::Inner;

fn hashes(h: Vec<Hash>) -> Vec<Bytes> {
    h.into_iter().map(|h| Bytes::copy_from_slice(&h)).collect()
}

pub(super) fn consistency(
    inner: &Inner,
    p: pb::GetConsistencyProof,
) -> Result<pb::ConsistencyProof, Error> {
    Ok(pb::ConsistencyProof {
        from: p.from,
        to: p.to,
        hashes: hashes(inner.store.consistency_proof(p.from, p.to)?),
    })
}

/// An inclusion proof. The entry's bytes come with it only for an entry
/// the peer is party to (received from it, or sent to it): entries name
/// other orgs' notices.
pub(super) fn inclusion(
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
