//! Re-verifying the stored tree against the entries.

use std::path::Path;

use isop_core::merkle::{self, Hash, RootBuilder};
use isop_core::{Checkpoint, LogIndex, SignedNote, pb};
use prost::Message;

use crate::error::{Error, db_err};
use crate::keys;
use crate::nodes::read_node;
use crate::store::{Store, TreeView};

/// What [`Store::verify_all`] checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries re-hashed.
    pub entries: u64,
    /// Interior tree nodes recomputed.
    pub nodes: u64,
    /// Checkpoint roots compared.
    pub checkpoints: u64,
    /// The root at the verified size.
    pub root: Hash,
}

/// Checks entry `index`'s bytes: present, decodable, and numbered `index`.
fn check_entry(index: u64, bytes: Option<&[u8]>) -> Result<Hash, Error> {
    let bytes = bytes.ok_or_else(|| Error::Corrupt {
        index: LogIndex(index),
        why: "entry missing".into(),
    })?;
    let e = pb::LogEntry::decode(bytes).map_err(|e| Error::Corrupt {
        index: LogIndex(index),
        why: format!("entry does not decode: {e}"),
    })?;
    if e.index != index {
        return Err(Error::Corrupt {
            index: LogIndex(index),
            why: format!("entry claims index {}", e.index),
        });
    }
    Ok(merkle::leaf_hash(bytes))
}

fn mismatch(level: u32, start: u64) -> Error {
    Error::TreeMismatch {
        index: LogIndex(start),
        why: if level == 0 {
            "the stored leaf hash differs from the entry's".into()
        } else {
            format!("the stored node at level {level} differs from its children")
        },
    }
}

fn check_checkpoint_root(note: &SignedNote, size: u64, root: &Hash) -> Result<(), Error> {
    let cp = Checkpoint::parse(note.text()).map_err(|e| Error::Corrupt {
        index: LogIndex(size),
        why: format!("stored checkpoint: {e}"),
    })?;
    if cp.size != size || &cp.root != root {
        return Err(Error::TreeMismatch {
            index: LogIndex(size.saturating_sub(1)),
            why: format!("the root at size {size} differs from the signed checkpoint's"),
        });
    }
    Ok(())
}

/// Re-verifies the newest `window` entries: each entry's leaf hash, every
/// stored node over them, and the latest checkpoint's root.
pub(crate) fn verify_tail(
    tree: &sled::Tree,
    path: &Path,
    size: u64,
    window: u64,
) -> Result<(), Error> {
    let start = size.saturating_sub(window);
    for i in start..size {
        let bytes = tree.get(keys::entry(i)).map_err(db_err(path))?;
        let leaf = check_entry(i, bytes.as_deref())?;
        if read_node(tree, path, 0, i)? != leaf {
            return Err(mismatch(0, i));
        }
    }
    let mut level = 1;
    while level < 64 && (1u64 << level) <= size {
        for pos in (start >> level)..(size >> level) {
            let s = pos << level;
            let half = 1u64 << (level - 1);
            let expected = merkle::node_hash(
                &read_node(tree, path, level - 1, s)?,
                &read_node(tree, path, level - 1, s + half)?,
            );
            if read_node(tree, path, level, s)? != expected {
                return Err(mismatch(level, s));
            }
        }
        level += 1;
    }
    if let Some(r) = tree.scan_prefix([keys::CHECKPOINT]).next_back() {
        let (k, v) = r.map_err(db_err(path))?;
        let cp_size = keys::tail_u64(&k).unwrap_or_default();
        let note = SignedNote::parse(&v).map_err(|e| Error::Corrupt {
            index: LogIndex(cp_size),
            why: format!("stored checkpoint: {e}"),
        })?;
        if cp_size > size {
            return Err(Error::Corrupt {
                index: LogIndex(size),
                why: format!("a checkpoint covers {cp_size} entries but only {size} are stored"),
            });
        }
        let root = merkle::root(&TreeView::new(tree, path, size), cp_size)?;
        check_checkpoint_root(&note, cp_size, &root)?;
    }
    Ok(())
}

impl Store {
    /// Re-verifies the whole log: every entry is present, decodes and
    /// carries its index; every stored leaf and interior node equals the
    /// recomputation; every stored checkpoint's root matches. The first
    /// problem stops it with an error naming the index.
    pub fn verify_all(&self) -> Result<VerifyReport, Error> {
        let size = self.size();
        let mut checkpoints = self.checkpoints().peekable();
        let mut builder = RootBuilder::new();
        let mut report = VerifyReport::default();
        let mut check_cps =
            |builder: &RootBuilder, report: &mut VerifyReport| -> Result<(), Error> {
                while let Some(r) =
                    checkpoints.next_if(|r| r.as_ref().map_or(true, |(s, _)| *s == builder.size()))
                {
                    let (cp_size, note) = r?;
                    check_checkpoint_root(&note, cp_size, &builder.root())?;
                    report.checkpoints += 1;
                }
                Ok(())
            };
        check_cps(&builder, &mut report)?;
        for r in self.entries(LogIndex(0), LogIndex(size)) {
            let (index, bytes) = r?;
            let leaf = check_entry(index.0, Some(&bytes))?;
            let mut bad = None;
            builder.push_hash_visit(leaf, |level, start, hash| {
                if bad.is_none() {
                    match read_node(&self.tree, &self.path, level, start) {
                        Ok(stored) if &stored == hash => {}
                        Ok(_) => bad = Some(mismatch(level, start)),
                        Err(e) => bad = Some(e),
                    }
                }
                if level > 0 {
                    report.nodes += 1;
                }
            });
            if let Some(e) = bad {
                return Err(e);
            }
            report.entries += 1;
            check_cps(&builder, &mut report)?;
        }
        if report.entries != size {
            return Err(Error::Corrupt {
                index: LogIndex(report.entries),
                why: "entry missing".into(),
            });
        }
        report.root = builder.root();
        Ok(report)
    }
}
