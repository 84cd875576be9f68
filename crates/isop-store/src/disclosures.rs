//! Disclosures stored beside the tree, and their lawful erasure.

use bytes::Bytes;
use isop_core::{LogIndex, OrgId, UnixMillis, pb, sha256};
use prost::Message;

use crate::entry::{Direction, NewEntry, Prepared, Record};
use crate::error::{Error, db_err};
use crate::keys;
use crate::store::Store;

/// What the store holds for a disclosure digest.
#[derive(Clone, Debug, PartialEq)]
pub enum DisclosureState {
    /// The value, as its exact encoded bytes.
    Held(Bytes),
    /// The value was erased; the digest stays verifiable.
    Erased(pb::ErasedDisclosure),
}

/// A disclosure an entry lists, and what the store holds for it.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryDisclosure {
    /// The digest the entry lists.
    pub digest: [u8; 32],
    /// The value, its erasure, or `None` if the store never held it.
    pub state: Option<DisclosureState>,
}

impl Store {
    /// What is held for disclosure `digest` of entry `index`: its value, its
    /// erasure, or nothing.
    pub fn disclosure(
        &self,
        index: LogIndex,
        digest: &[u8; 32],
    ) -> Result<Option<DisclosureState>, Error> {
        if let Some(v) = self.get(&keys::disclosure(keys::DISCLOSURE, index.0, digest))? {
            return Ok(Some(DisclosureState::Held(Bytes::copy_from_slice(&v))));
        }
        match self.get(&keys::disclosure(keys::ERASED, index.0, digest))? {
            None => Ok(None),
            Some(v) => pb::ErasedDisclosure::decode(v.as_ref())
                .map(|e| Some(DisclosureState::Erased(e)))
                .map_err(|e| Error::Corrupt {
                    index,
                    why: format!("erasure record does not decode: {e}"),
                }),
        }
    }

    /// What is held for each disclosure of entry `index`: the digests the
    /// entry lists, in its order, then those that later copies of its
    /// notice added (see [`add_disclosures`](Self::add_disclosures)).
    pub fn disclosures_of(&self, index: LogIndex) -> Result<Vec<EntryDisclosure>, Error> {
        let mut out = Vec::new();
        for holder in self.holders(index) {
            let holder = holder?;
            let Some(entry) = self.log_entry(holder)? else {
                continue;
            };
            for d in &entry.disclosure_digests {
                let digest: [u8; 32] = d.as_ref().try_into().map_err(|_| Error::Corrupt {
                    index: holder,
                    why: "a disclosure digest is not 32 bytes".into(),
                })?;
                out.push(EntryDisclosure {
                    digest,
                    state: self.disclosure(holder, &digest)?,
                });
            }
        }
        Ok(out)
    }

    /// The entries that hold disclosures of the notice at `index`: its own,
    /// then the `DisclosuresAdded` entries that added to it, in order.
    fn holders(&self, index: LogIndex) -> impl Iterator<Item = Result<LogIndex, Error>> + '_ {
        let added = self
            .tree
            .scan_prefix(keys::prefixed_u64(keys::ADDED, index.0))
            .map(|r| {
                r.map(|(k, _)| LogIndex(keys::tail_u64(&k).unwrap_or_default()))
                    .map_err(db_err(&self.path))
            });
        std::iter::once(Ok(index)).chain(added)
    }

    /// The entry that holds disclosure `digest` of the notice at `index`:
    /// its own entry, or one that added to it.
    fn holder_of(&self, index: LogIndex, digest: &[u8; 32]) -> Result<Option<LogIndex>, Error> {
        for holder in self.holders(index) {
            let holder = holder?;
            if self.disclosure(holder, digest)?.is_some() {
                return Ok(Some(holder));
            }
        }
        Ok(None)
    }

    /// Adds to the notice logged at `notice` the disclosures of a later copy
    /// of it, received from `peer`, that the log does not hold for it yet:
    /// one INBOUND `DisclosuresAdded` entry lists them, and they are stored
    /// beside it. Returns that entry's index, or `None` when every one was
    /// held already. The caller has checked the disclosures against the
    /// notice's commitments and this node's clearance.
    pub fn add_disclosures(
        &self,
        notice: LogIndex,
        peer: &OrgId,
        disclosures: Vec<Bytes>,
        at: UnixMillis,
    ) -> Result<Option<LogIndex>, Error> {
        // One at a time: two copies adding the same field add it once.
        let _one = self
            .additions
            .lock()
            .map_err(|_| Error::Failed("the additions lock is poisoned".into()))?;
        let envelope = match self.log_entry(notice)?.and_then(|e| e.record) {
            Some(pb::log_entry::Record::Envelope(env)) => env,
            _ => {
                return Err(Error::InvalidEntry(format!(
                    "entry {notice} logs no notice to add disclosures to"
                )));
            }
        };
        let held: Vec<[u8; 32]> = self
            .disclosures_of(notice)?
            .into_iter()
            .map(|d| d.digest)
            .collect();
        let mut fresh: Vec<Bytes> = Vec::new();
        for d in disclosures {
            if !held.contains(&sha256(&d)) && !fresh.contains(&d) {
                fresh.push(d);
            }
        }
        if fresh.is_empty() {
            return Ok(None);
        }
        let mut entry = NewEntry::new(
            at,
            Direction::Inbound,
            Record::DisclosuresAdded { notice, envelope },
        );
        entry.peer = Some(peer.clone());
        entry.disclosures = fresh;
        Ok(Some(self.append(entry)?.index()))
    }

    /// Erases the value of disclosure `digest` of entry `index`, or of an
    /// entry that added it to that notice (its retention ended, or a
    /// lawful order), as `by` asks: in one commit, the value and its
    /// indicator index keys are deleted, an erasure record is kept, and a
    /// LOCAL entry naming the entry, the field's path and digest, who and
    /// why is appended. The tree and every signature still verify.
    pub fn erase_disclosure(
        &self,
        index: LogIndex,
        digest: &[u8; 32],
        reason: &str,
        by: &str,
        now: UnixMillis,
    ) -> Result<LogIndex, Error> {
        let holder = self.holder_of(index, digest)?.unwrap_or(index);
        let Some(DisclosureState::Held(bytes)) = self.disclosure(holder, digest)? else {
            return Err(Error::InvalidEntry(format!(
                "entry {index} holds no disclosure with that digest"
            )));
        };
        let index = holder;
        if reason.is_empty() {
            return Err(Error::InvalidEntry("an erasure needs a reason".into()));
        }
        // The path as the disclosure itself names it.
        let path = pb::Disclosure::decode(bytes.as_ref())
            .map(|d| d.path)
            .unwrap_or_default();
        let record = pb::ErasedDisclosure {
            digest: Bytes::copy_from_slice(digest),
            reason: reason.into(),
            erased_at: now.0,
            path: path.clone(),
            erased_by: by.into(),
        };
        let mut prepared = Prepared::new(NewEntry::new(
            now,
            Direction::Local,
            Record::Erasure(pb::Erasure {
                digest: Bytes::copy_from_slice(digest),
                reason: reason.into(),
                erased_at: now.0,
                entry_index: index.0,
                path,
                erased_by: by.into(),
            }),
        ))?;
        prepared
            .ops
            .push((keys::disclosure(keys::DISCLOSURE, index.0, digest), None));
        prepared.ops.push((
            keys::disclosure(keys::ERASED, index.0, digest),
            Some(record.encode_to_vec()),
        ));
        let (target, postings) = match self.entry(index)? {
            Some(entry) => crate::index::postings_of_disclosure(&bytes, &entry, index.0),
            None => (index.0, Vec::new()),
        };
        // Hold the index's run lock until the erasure is committed and the
        // pending postings are told, so that no run captures the value.
        let guard = self.index.lock_runs()?;
        for p in &postings {
            prepared
                .ops
                .extend(self.index.run_edits_without(p, target)?);
        }
        let at = self.append_prepared(prepared)?.index();
        for p in &postings {
            self.index.forget(p, target)?;
        }
        drop(guard);
        Ok(at)
    }
}
