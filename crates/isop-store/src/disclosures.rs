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

/// Splits a stored disclosure value into its owner entry and its bytes.
pub(crate) fn split_held(v: &[u8]) -> Result<(LogIndex, Bytes), Error> {
    match (v.get(..8), v.get(8..)) {
        (Some(owner), Some(bytes)) => Ok((
            LogIndex(keys::tail_u64(owner).unwrap_or_default()),
            Bytes::copy_from_slice(bytes),
        )),
        _ => Err(Error::Corrupt {
            index: LogIndex(0),
            why: "a stored disclosure is shorter than its owner index".into(),
        }),
    }
}

impl Store {
    /// The disclosure with `digest` and the entry that holds it, if its value is held.
    pub(crate) fn held_disclosure(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(LogIndex, Bytes)>, Error> {
        self.get(&keys::prefixed(keys::DISCLOSURE, digest))?
            .map(|v| split_held(&v))
            .transpose()
    }

    /// The disclosure with `digest`, if held or erased.
    pub fn disclosure(&self, digest: &[u8; 32]) -> Result<Option<DisclosureState>, Error> {
        if let Some((_, bytes)) = self.held_disclosure(digest)? {
            return Ok(Some(DisclosureState::Held(bytes)));
        }
        match self.get(&keys::prefixed(keys::ERASED, digest))? {
            None => Ok(None),
            Some(v) => pb::ErasedDisclosure::decode(v.as_ref())
                .map(|e| Some(DisclosureState::Erased(e)))
                .map_err(|e| Error::Corrupt {
                    index: LogIndex(0),
                    why: format!("erasure record does not decode: {e}"),
                }),
        }
    }

    /// Erases a disclosure's value (retention ended, or a lawful order): in
    /// one commit, the value and its indicator index keys are deleted, an
    /// erasure record is kept, and a LOCAL entry naming the digest and the
    /// reason is appended. The tree and every signature still verify.
    pub fn erase_disclosure(
        &self,
        digest: &[u8; 32],
        reason: &str,
        now: UnixMillis,
    ) -> Result<LogIndex, Error> {
        let Some((owner, bytes)) = self.held_disclosure(digest)? else {
            return Err(Error::InvalidEntry(
                "no disclosure with that digest is held".into(),
            ));
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
            .push((keys::prefixed(keys::DISCLOSURE, digest), None));
        prepared.ops.push((
            keys::prefixed(keys::ERASED, digest),
            Some(record.encode_to_vec()),
        ));
        if let Some(entry) = self.entry(owner)? {
            for (prefix, name) in crate::index::disclosure_keys(&bytes, &entry) {
                prepared
                    .ops
                    .push((keys::multi(prefix, &name, owner.0), None));
            }
        }
        Ok(self.append_prepared(prepared)?.index())
    }
}
