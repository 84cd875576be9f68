//! Disclosures stored beside the tree, and their lawful erasure.

use bytes::Bytes;
use isop_core::{LogIndex, UnixMillis, pb};
use prost::Message;

use crate::entry::{Direction, NewEntry, Prepared, Record};
use crate::error::Error;
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

    /// What is held for each disclosure digest entry `index` lists, in its order.
    pub fn disclosures_of(&self, index: LogIndex) -> Result<Vec<EntryDisclosure>, Error> {
        let Some(entry) = self.log_entry(index)? else {
            return Ok(Vec::new());
        };
        entry
            .disclosure_digests
            .iter()
            .map(|d| {
                let digest: [u8; 32] = d.as_ref().try_into().map_err(|_| Error::Corrupt {
                    index,
                    why: "a disclosure digest is not 32 bytes".into(),
                })?;
                Ok(EntryDisclosure {
                    digest,
                    state: self.disclosure(index, &digest)?,
                })
            })
            .collect()
    }

    /// Erases the value of disclosure `digest` of entry `index` (its
    /// retention ended, or a lawful order): in one commit, the value and its
    /// indicator index keys are deleted, an erasure record is kept, and a
    /// LOCAL entry naming the digest and the reason is appended. The tree
    /// and every signature still verify.
    pub fn erase_disclosure(
        &self,
        index: LogIndex,
        digest: &[u8; 32],
        reason: &str,
        now: UnixMillis,
    ) -> Result<LogIndex, Error> {
        let Some(DisclosureState::Held(bytes)) = self.disclosure(index, digest)? else {
            return Err(Error::InvalidEntry(format!(
                "entry {index} holds no disclosure with that digest"
            )));
        };
        if reason.is_empty() {
            return Err(Error::InvalidEntry("an erasure needs a reason".into()));
        }
        let record = pb::ErasedDisclosure {
            digest: Bytes::copy_from_slice(digest),
            reason: reason.into(),
            erased_at: now.0,
        };
        let mut prepared = Prepared::new(NewEntry::new(
            now,
            Direction::Local,
            Record::Erasure {
                digest: *digest,
                reason: reason.into(),
                erased_at: now,
            },
        ))?;
        prepared
            .ops
            .push((keys::disclosure(keys::DISCLOSURE, index.0, digest), None));
        prepared.ops.push((
            keys::disclosure(keys::ERASED, index.0, digest),
            Some(record.encode_to_vec()),
        ));
        let postings = match self.entry(index)? {
            Some(entry) => crate::index::disclosure_keys(&bytes, &entry),
            None => Vec::new(),
        };
        // Hold the index's run lock until the erasure is committed and the
        // pending postings are told, so that no run captures the value.
        let guard = self.index.lock_runs()?;
        for p in &postings {
            prepared
                .ops
                .extend(self.index.run_edits_without(p, index.0)?);
        }
        let at = self.append_prepared(prepared)?.index();
        for p in &postings {
            self.index.forget(p, index.0)?;
        }
        drop(guard);
        Ok(at)
    }
}
