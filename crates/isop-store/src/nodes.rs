//! Tree nodes in pages. The hash of every perfect subtree is kept, level by
//! level, in pages of [`PAGE`] consecutive hashes: key `N`, level (u8),
//! page number (u64 BE); value the page's hashes, 32 bytes each (the last
//! page of a level may be partial). Appends fill pages in order, so a group
//! commit writes each touched page once, and a proof reads one page per
//! level.

use std::path::Path;

use isop_core::LogIndex;
use isop_core::merkle::Hash;

use crate::error::{Error, db_err};
use crate::keys::NODE;

/// Hashes per page.
pub(crate) const PAGE: u64 = 16;

pub(crate) fn page_key(level: u32, page: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = NODE;
    // Levels are below 64, so the cast cannot truncate.
    k[1] = level as u8;
    k[2..].copy_from_slice(&page.to_be_bytes());
    k
}

/// The page and slot of the perfect subtree of `2^level` leaves at `start`.
pub(crate) fn locate(level: u32, start: u64) -> (u64, usize) {
    let pos = start >> level;
    (pos / PAGE, (pos % PAGE) as usize)
}

fn missing(level: u32, start: u64, why: &str) -> Error {
    Error::Corrupt {
        index: LogIndex(start),
        why: format!("tree node (level {level}) {why}"),
    }
}

/// Picks slot `slot` of a page.
pub(crate) fn slot_of(page: &[u8], level: u32, start: u64, slot: usize) -> Result<Hash, Error> {
    if !page.len().is_multiple_of(32) || page.len() > PAGE as usize * 32 {
        return Err(missing(
            level,
            start,
            &format!("is in a page of {} bytes", page.len()),
        ));
    }
    page.get(slot * 32..slot * 32 + 32)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| missing(level, start, "is missing"))
}

/// Reads one node.
pub(crate) fn read_node(
    tree: &sled::Tree,
    path: &Path,
    level: u32,
    start: u64,
) -> Result<Hash, Error> {
    let (page, slot) = locate(level, start);
    let v = tree
        .get(page_key(level, page))
        .map_err(db_err(path))?
        .ok_or_else(|| missing(level, start, "is missing"))?;
    slot_of(&v, level, start, slot)
}

/// The last, partial page of each level, as the writer fills it.
#[derive(Clone, Debug, Default)]
pub(crate) struct OpenPages {
    /// Per level: the page number and the hashes it holds so far.
    levels: Vec<(u64, Vec<Hash>)>,
}

impl OpenPages {
    /// Loads the partial pages of a tree of `size` leaves.
    pub(crate) fn load(tree: &sled::Tree, path: &Path, size: u64) -> Result<Self, Error> {
        let mut levels = Vec::new();
        for level in 0..64u32 {
            let nodes = size >> level;
            if nodes == 0 {
                break;
            }
            let (page, filled) = (nodes / PAGE, (nodes % PAGE) as usize);
            let mut hashes = Vec::with_capacity(PAGE as usize);
            if filled > 0 {
                let v = tree.get(page_key(level, page)).map_err(db_err(path))?;
                let v =
                    v.ok_or_else(|| missing(level, (page * PAGE) << level, "page is missing"))?;
                if v.len() != filled * 32 {
                    return Err(missing(
                        level,
                        (page * PAGE) << level,
                        &format!("page holds {} hashes, expected {filled}", v.len() / 32),
                    ));
                }
                hashes.extend(v.chunks_exact(32).filter_map(|c| Hash::try_from(c).ok()));
            }
            levels.push((page, hashes));
        }
        Ok(Self { levels })
    }

    /// Stages a node; the writer calls this in append order.
    pub(crate) fn push(
        &mut self,
        level: u32,
        start: u64,
        hash: &Hash,
        dirty: &mut Vec<(u32, u64, Vec<u8>)>,
    ) {
        let (page, _) = locate(level, start);
        let level_ix = level as usize;
        while self.levels.len() <= level_ix {
            self.levels.push((0, Vec::new()));
        }
        let open = &mut self.levels[level_ix];
        if open.0 != page {
            *open = (page, Vec::with_capacity(PAGE as usize));
        }
        open.1.push(*hash);
        if open.1.len() as u64 == PAGE {
            dirty.push((level, page, open.1.concat()));
            *open = (page + 1, Vec::with_capacity(PAGE as usize));
        }
    }

    /// The partial pages touched since `before`, to write at the end of a commit.
    pub(crate) fn partial_changes(&self, before: &OpenPages, dirty: &mut Vec<(u32, u64, Vec<u8>)>) {
        for (level, open) in self.levels.iter().enumerate() {
            let unchanged = before
                .levels
                .get(level)
                .is_some_and(|b| b.0 == open.0 && b.1.len() == open.1.len());
            if !open.1.is_empty() && !unchanged {
                dirty.push((level as u32, open.0, open.1.concat()));
            }
        }
    }
}
