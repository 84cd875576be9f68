//! What an append carries, and its preparation outside the writer thread.

use bytes::Bytes;
use isop_core::merkle::{Hash, LeafHashPrefix};
use isop_core::{LogIndex, NoticeId, OrgId, UnixMillis, pb, sha256};
use prost::Message;

use crate::error::Error;
use crate::index::{self, IndexKeys};
use crate::keys;
use crate::store::Op;

/// Which way an entry's object travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received from a peer.
    Inbound,
    /// Sent to peers.
    Outbound,
    /// Made and kept here.
    Local,
}

impl Direction {
    fn to_pb(self) -> pb::Direction {
        match self {
            Self::Inbound => pb::Direction::Inbound,
            Self::Outbound => pb::Direction::Outbound,
            Self::Local => pb::Direction::Local,
        }
    }
}

/// What an entry records.
#[derive(Clone, Debug)]
pub enum Record {
    /// The exact bytes of a signed envelope: a notice, receipt or roster.
    Envelope(Bytes),
    /// A cosigned checkpoint, as signed-note bytes.
    CosignedCheckpoint(Bytes),
    /// The erasure of a disclosure's value: its digest (32 bytes), the
    /// entry and field path it belonged to, why, who, and when.
    Erasure(pb::Erasure),
    /// Disclosures of the notice logged at `notice`, carried by a later
    /// copy of it; the entry's disclosures are the added ones. Appended by
    /// [`Store::add_disclosures`](crate::Store::add_disclosures).
    DisclosuresAdded {
        /// The entry that logged the notice first.
        notice: LogIndex,
        /// The notice's envelope bytes, as logged there.
        envelope: Bytes,
    },
    /// A delivery of the OUTBOUND notice at `notice` to `recipient` given
    /// up on. Appending it takes the delivery out of the outbox and
    /// records it as failed. Appended by
    /// [`Store::fail_delivery`](crate::Store::fail_delivery).
    DeliveryFailed {
        /// The notice's entry.
        notice: LogIndex,
        /// The recipient.
        recipient: OrgId,
        /// Why.
        reason: String,
    },
    /// An access through the node's local API (LOCAL).
    Access(pb::Access),
    /// A private matching run with the entry's peer (LOCAL).
    MatchRun(pb::MatchRun),
}

/// The first byte of a delivery's outcome key: accepted (or already held),
/// rejected, given up on; then the index of the entry that says so.
pub(crate) const DELIVERY_REJECTED: u8 = 0;
pub(crate) const DELIVERY_ACCEPTED: u8 = 1;
pub(crate) const DELIVERY_FAILED: u8 = 2;

/// The largest entry the log takes, in bytes (its encoded `LogEntry`:
/// the envelope and the disclosures' digests, not the disclosures).
pub const MAX_ENTRY_BYTES: usize = 16 << 20;

/// An entry to append, with what the store should do alongside it in the
/// same atomic commit.
#[derive(Clone, Debug)]
pub struct NewEntry {
    /// Append time.
    pub appended_at: UnixMillis,
    /// Direction.
    pub direction: Direction,
    /// The peer (sender of an inbound object, recipient of an outbound receipt).
    pub peer: Option<OrgId>,
    /// What is recorded.
    pub record: Record,
    /// Disclosures held for this entry (encoded bytes); stored by digest,
    /// and their digests go into the entry.
    pub disclosures: Vec<Bytes>,
    /// For an outbound notice: the orgs it is sent to (recorded in the entry).
    pub recipients: Vec<OrgId>,
    /// Put the new entry in these recipients' outboxes.
    pub enqueue: Vec<OrgId>,
    /// Remove these outbox items (for example, on logging their receipt).
    pub dequeue: Vec<(OrgId, LogIndex)>,
    /// Record the outcome of delivering outbound notices (with the receipt
    /// that is this entry).
    pub delivered: Vec<Delivered>,
    /// Put the new entry in the inbox.
    pub inbox: bool,
    /// If the record is a notice whose id is already logged, append nothing:
    /// answer [`Appended::Duplicate`] with the original index when the
    /// original is the same notice (same payload digest), and
    /// [`Appended::Conflict`] when another notice holds the id.
    pub dedupe: bool,
    /// Append only if this notice id is held by the notice with this
    /// payload digest; otherwise append nothing and answer
    /// [`Appended::Unmet`]. For a reply judged against a notice accepted
    /// earlier in the same batch: if that notice was not the one logged
    /// (another took its id first), the reply's judgement does not hold.
    pub requires: Option<(NoticeId, [u8; 32])>,
    /// The index keys of the notice the record logs, from a caller that
    /// holds it decoded already ([`IndexKeys::of_notice`]); without them
    /// the store decodes the envelope to find them.
    pub index_keys: Option<IndexKeys>,
}

impl NewEntry {
    /// An entry with nothing alongside it.
    pub fn new(appended_at: UnixMillis, direction: Direction, record: Record) -> Self {
        Self {
            appended_at,
            direction,
            peer: None,
            record,
            disclosures: Vec::new(),
            recipients: Vec::new(),
            enqueue: Vec::new(),
            dequeue: Vec::new(),
            delivered: Vec::new(),
            inbox: false,
            dedupe: false,
            requires: None,
            index_keys: None,
        }
    }
}

/// The outcome of delivering an outbound notice to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The outbound notice's entry.
    pub notice: LogIndex,
    /// The recipient.
    pub recipient: OrgId,
    /// Whether the recipient accepted it (or already held it).
    pub accepted: bool,
}

/// The outcome of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Appended at this index.
    New(LogIndex),
    /// Not appended: the notice was already logged at this index.
    Duplicate(LogIndex),
    /// Not appended: another notice (another payload digest) holds the id,
    /// logged at this index. An id belongs to the first notice logged
    /// under it.
    Conflict(LogIndex),
    /// Not appended: [`NewEntry::requires`] did not hold; the required id
    /// is held by another notice, logged at this index.
    Unmet(LogIndex),
}

impl Appended {
    /// The index, new or original.
    pub fn index(self) -> LogIndex {
        match self {
            Self::New(i) | Self::Duplicate(i) | Self::Conflict(i) | Self::Unmet(i) => i,
        }
    }
}

/// An entry encoded, hashed and indexed in the caller's thread, so the
/// writer only numbers it and writes.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The LogEntry encoded without its index.
    body: Vec<u8>,
    /// The leaf hash state after the body.
    leaf: LeafHashPrefix,
    pub(crate) notice_id: Option<[u8; 16]>,
    pub(crate) notice_digest: Option<[u8; 32]>,
    pub(crate) dedupe: bool,
    pub(crate) requires: Option<([u8; 16], [u8; 32])>,
    /// For a `DisclosuresAdded` entry: the notice's entry, which its
    /// postings point to.
    pub(crate) added_to: Option<u64>,
    /// For a `DeliveryFailed` entry: the delivery it gives up.
    failed: Option<(LogIndex, OrgId)>,
    /// The entry's postings in the case, author and indicator indexes.
    pub(crate) postings: Vec<crate::postings::Posting>,
    disclosures: Vec<([u8; 32], Bytes)>,
    enqueue: Vec<OrgId>,
    dequeue: Vec<(OrgId, LogIndex)>,
    delivered: Vec<Delivered>,
    inbox: bool,
    pub(crate) ops: Vec<Op>,
    /// An access record or an erasure: written from the lower half of the
    /// disk reserve, so that reads stay on the access record and lawful
    /// erasure goes on while the disk is full.
    pub(crate) reserved: bool,
}

impl Prepared {
    pub(crate) fn new(e: NewEntry) -> Result<Self, Error> {
        let disclosures: Vec<([u8; 32], Bytes)> =
            e.disclosures.into_iter().map(|d| (sha256(&d), d)).collect();
        let mut keys = IndexKeys::default();
        let mut added_to = None;
        let mut failed = None;
        let reserved = matches!(e.record, Record::Access(_) | Record::Erasure(_));
        let record = match e.record {
            Record::Envelope(b) => {
                if b.is_empty() {
                    return Err(Error::InvalidEntry("empty envelope".into()));
                }
                keys = match e.index_keys {
                    Some(given) => given,
                    None => IndexKeys::of_envelope(&b, disclosures.iter().map(|(_, d)| d)),
                };
                pb::log_entry::Record::Envelope(b)
            }
            Record::CosignedCheckpoint(b) => pb::log_entry::Record::CosignedCheckpoint(b),
            Record::Erasure(e) => pb::log_entry::Record::Erasure(e),
            Record::DisclosuresAdded { notice, envelope } => {
                keys.multi = index::added_keys(&envelope, disclosures.iter().map(|(_, d)| d));
                added_to = Some(notice.0);
                pb::log_entry::Record::DisclosuresAdded(pb::DisclosuresAdded {
                    notice_index: notice.0,
                    envelope,
                })
            }
            Record::DeliveryFailed {
                notice,
                recipient,
                reason,
            } => {
                let record = pb::DeliveryFailed {
                    notice_index: notice.0,
                    recipient: recipient.to_string(),
                    reason,
                };
                failed = Some((notice, recipient));
                pb::log_entry::Record::DeliveryFailed(record)
            }
            Record::Access(a) => pb::log_entry::Record::Access(a),
            Record::MatchRun(m) => pb::log_entry::Record::MatchRun(m),
        };
        let entry = pb::LogEntry {
            index: 0,
            appended_at: e.appended_at.0,
            direction: e.direction.to_pb() as i32,
            peer: e.peer.map(|p| p.to_string()).unwrap_or_default(),
            record: Some(record),
            disclosure_digests: disclosures
                .iter()
                .map(|(d, _)| Bytes::copy_from_slice(d))
                .collect(),
            recipients: e.recipients.iter().map(ToString::to_string).collect(),
        };
        let body = entry.encode_to_vec();
        if body.len() > MAX_ENTRY_BYTES {
            return Err(Error::InvalidEntry(format!(
                "an entry of {} bytes; at most {MAX_ENTRY_BYTES} are logged",
                body.len()
            )));
        }
        Ok(Self {
            leaf: LeafHashPrefix::new(&body),
            body,
            notice_id: keys.notice_id,
            notice_digest: keys.notice_digest,
            dedupe: e.dedupe,
            requires: e.requires.map(|(id, digest)| (*id.as_bytes(), digest)),
            added_to,
            failed,
            postings: keys.multi,
            disclosures,
            enqueue: e.enqueue,
            dequeue: e.dequeue,
            delivered: e.delivered,
            inbox: e.inbox,
            ops: Vec::new(),
            reserved,
        })
    }

    /// The entry's exact bytes at `index`, and its leaf hash. The index
    /// (field 1) is written after the other fields, so the body's hash is
    /// computed before the index is known; any field order is valid
    /// protobuf, and the leaf is these exact bytes. Index 0 is omitted,
    /// as proto3 does for a default value.
    pub(crate) fn encode(&self, index: u64) -> (Vec<u8>, Hash) {
        let mut suffix = Vec::with_capacity(11);
        if index != 0 {
            prost::encoding::encode_key(1, prost::encoding::WireType::Varint, &mut suffix);
            prost::encoding::encode_varint(index, &mut suffix);
        }
        let leaf = self.leaf.finish(&suffix);
        let mut out = Vec::with_capacity(self.body.len() + suffix.len());
        out.extend_from_slice(&self.body);
        out.extend_from_slice(&suffix);
        (out, leaf)
    }

    /// Adds everything that goes alongside the entry at `index`.
    pub(crate) fn apply(&self, index: u64, batch: &mut sled::Batch) {
        for (digest, bytes) in &self.disclosures {
            batch.insert(
                keys::disclosure(keys::DISCLOSURE, index, digest),
                bytes.as_ref(),
            );
        }
        for r in &self.enqueue {
            batch.insert(
                keys::multi(keys::OUTBOX, r.as_str().as_bytes(), index),
                crate::outbox::State::fresh(),
            );
        }
        for (r, i) in &self.dequeue {
            batch.remove(keys::multi(keys::OUTBOX, r.as_str().as_bytes(), i.0));
        }
        let outcome = |first: u8| {
            let mut v = vec![first];
            v.extend_from_slice(&index.to_be_bytes());
            v
        };
        for d in &self.delivered {
            let first = if d.accepted {
                DELIVERY_ACCEPTED
            } else {
                DELIVERY_REJECTED
            };
            batch.insert(keys::delivery(d.notice.0, &d.recipient), outcome(first));
        }
        if let Some((notice, r)) = &self.failed {
            batch.remove(keys::multi(keys::OUTBOX, r.as_str().as_bytes(), notice.0));
            batch.insert(keys::delivery(notice.0, r), outcome(DELIVERY_FAILED));
        }
        if self.inbox {
            batch.insert(&keys::prefixed_u64(keys::INBOX, index)[..], &[0u8][..]);
        }
        if let Some(notice) = self.added_to {
            batch.insert(&keys::added(notice, index)[..], &[][..]);
        }
        for (k, v) in &self.ops {
            match v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_decode_with_their_index_and_hash_as_leaves() {
        let mut e = NewEntry::new(
            UnixMillis(5),
            Direction::Local,
            Record::CosignedCheckpoint(Bytes::from_static(b"note\n")),
        );
        e.disclosures.push(Bytes::from_static(b"d"));
        let p = Prepared::new(e).unwrap();
        for index in [0u64, 1, 127, 128, 1 << 40, u64::MAX] {
            let (bytes, leaf) = p.encode(index);
            let m = pb::LogEntry::decode(bytes.as_slice()).unwrap();
            assert_eq!(m.index, index);
            assert_eq!(m.appended_at, 5);
            assert_eq!(m.disclosure_digests.len(), 1);
            assert_eq!(leaf, isop_core::merkle::leaf_hash(&bytes), "index {index}");
        }
    }
}
