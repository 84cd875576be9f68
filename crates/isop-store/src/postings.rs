//! The case, author and indicator indexes, built like a small LSM tree.
//!
//! Index values are scattered (every domain and wallet is its own key), and
//! sled pays dearly in memory and time for small inserts scattered over
//! its tree. So postings are collected in memory and written in sorted
//! *runs*: key `prefix || run (u32 BE) || name || 0x00 || index`. A run's
//! keys come after every earlier run's, so writing it is sequential; a
//! lookup scans each run and the pending postings. Pending postings are
//! not durable: on open they are rebuilt from the entries after
//! `indexed_to`, the first entry whose postings are not in a run.
//!
//! Erasure removes an indicator from every run and from what is pending;
//! it holds the run lock while it commits, so no run can capture a value
//! being erased.
//!
//! Runs are compacted: when more than [`MAX_LIVE_RUNS`] are live, they
//! are merged, streaming block by block, into one new run, and the live
//! runs start from it (`first_run`), so a lookup reads a bounded number of
//! runs however long the log. Blocks of runs outside the live range (those
//! merged, or a merge cut short by a crash) are removed when found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;

use isop_core::{LogIndex, pb};
use prost::Message;

use crate::error::{Error, db_err};
use crate::keys;

pub(crate) const META_RUNS: &[u8] = b"Mruns";
pub(crate) const META_INDEXED: &[u8] = b"Mindexed";
/// The index's format: what an entry is indexed under. A store indexed
/// under an older format is indexed again, once, when it opens.
pub(crate) const META_FORMAT: &[u8] = b"Mindex-format";
/// Format 2 adds the notices an entry answers (`keys::REPLY`); format 3,
/// a site's names for the domains and URLs a notice names in clear
/// (`index::site_key`).
pub(crate) const INDEX_FORMAT: u64 = 3;
/// The first live run: runs before it were merged into a later one.
pub(crate) const META_FIRST_RUN: &[u8] = b"Mfirst-run";
/// Past this many live runs, they are merged into one.
pub(crate) const MAX_LIVE_RUNS: u32 = 8;
/// Blocks written per batch while merging.
const MERGE_BATCH_BLOCKS: usize = 1024;

/// One posting: (prefix, name) → entry index.
pub(crate) type Posting = (u8, Vec<u8>);

/// Blocks of a run are about this many bytes.
const BLOCK_BYTES: usize = 4096;

/// The key of a run block: `P || run (u32 BE) || prefix || name` of the
/// block's first posting.
fn block_key(run: u32, prefix: u8, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(6 + name.len());
    k.push(keys::POSTINGS);
    k.extend_from_slice(&run.to_be_bytes());
    k.push(prefix);
    k.extend_from_slice(name);
    k
}

/// A decoded block: its postings in key order.
type Block = Vec<(Posting, Vec<u64>)>;

/// A block: postings in key order, each `prefix, varint name length, name,
/// varint count, count × varint delta-coded index`.
fn encode_posting(out: &mut Vec<u8>, prefix: u8, name: &[u8], indexes: &[u64]) {
    out.push(prefix);
    prost::encoding::encode_varint(name.len() as u64, out);
    out.extend_from_slice(name);
    prost::encoding::encode_varint(indexes.len() as u64, out);
    let mut last = 0;
    for i in indexes {
        prost::encoding::encode_varint(i - last, out);
        last = *i;
    }
}

/// Decodes a block into its postings.
fn decode_block(mut b: &[u8]) -> Option<Block> {
    let mut out = Vec::new();
    while let Some((&prefix, rest)) = b.split_first() {
        b = rest;
        let len = usize::try_from(prost::encoding::decode_varint(&mut b).ok()?).ok()?;
        let name = b.get(..len)?.to_vec();
        b = &b[len..];
        let count = prost::encoding::decode_varint(&mut b).ok()?;
        let mut indexes = Vec::with_capacity(usize::try_from(count.min(1 << 16)).ok()?);
        let mut last = 0u64;
        for _ in 0..count {
            last = last.checked_add(prost::encoding::decode_varint(&mut b).ok()?)?;
            indexes.push(last);
        }
        out.push(((prefix, name), indexes));
    }
    Some(out)
}

/// The block of run `run` that would hold (prefix, name), with its key.
fn find_block(
    tree: &sled::Tree,
    path: &Path,
    run: u32,
    prefix: u8,
    name: &[u8],
) -> Result<Option<(sled::IVec, Block)>, Error> {
    let start = block_key(run, 0, &[]);
    let Some(r) = tree
        .range(start.as_slice()..=block_key(run, prefix, name).as_slice())
        .next_back()
    else {
        return Ok(None);
    };
    let (k, v) = r.map_err(db_err(path))?;
    let postings = decode_block(&v).ok_or_else(|| Error::Corrupt {
        index: LogIndex(0),
        why: format!("index run {run} has a block that does not decode"),
    })?;
    Ok(Some((k, postings)))
}

/// Writes `postings` as run `run` into `batch`, in blocks of about
/// [`BLOCK_BYTES`] keyed by their first posting.
pub(crate) fn write_run(batch: &mut sled::Batch, run: u32, postings: &BTreeMap<Posting, Vec<u64>>) {
    let mut block = Vec::with_capacity(BLOCK_BYTES + 256);
    let mut first: Option<&Posting> = None;
    for (posting, indexes) in postings.iter().filter(|(_, v)| !v.is_empty()) {
        let head = *first.get_or_insert(posting);
        encode_posting(&mut block, posting.0, &posting.1, indexes);
        if block.len() >= BLOCK_BYTES {
            batch.insert(block_key(run, head.0, &head.1), std::mem::take(&mut block));
            first = None;
        }
    }
    if let Some(head) = first {
        batch.insert(block_key(run, head.0, &head.1), block);
    }
}

type Map = BTreeMap<Posting, Vec<u64>>;

#[derive(Default)]
struct State {
    /// Postings not yet in a run.
    pending: Map,
    pending_count: usize,
    /// Entries below this have all their postings pending or in runs.
    seen_to: u64,
    /// Postings being written as a run right now.
    flushing: Option<Map>,
}

struct Shared {
    state: RwLock<State>,
    /// The live runs are `first_run..runs`.
    first_run: AtomicU32,
    runs: AtomicU32,
    /// Read by lookups while they read runs, taken to write by a merge
    /// while it drops the runs it merged.
    live: RwLock<()>,
    /// Held while a run is written, and by erasure while it commits.
    run_lock: Mutex<()>,
    /// Postings that make a run.
    run_postings: usize,
    tree: sled::Tree,
    path: PathBuf,
}

impl Shared {
    /// The live runs, as they stand now.
    fn live_runs(&self) -> std::ops::Range<u32> {
        self.first_run.load(Ordering::Acquire)..self.runs.load(Ordering::Acquire)
    }

    fn state(&self) -> Result<std::sync::RwLockReadGuard<'_, State>, Error> {
        self.state
            .read()
            .map_err(|_| Error::Failed("the index lock is poisoned".into()))
    }

    fn state_mut(&self) -> Result<std::sync::RwLockWriteGuard<'_, State>, Error> {
        self.state
            .write()
            .map_err(|_| Error::Failed("the index lock is poisoned".into()))
    }
}

fn add_to(map: &mut Map, count: &mut usize, index: u64, postings: Vec<Posting>) {
    for p in postings {
        map.entry(p).or_default().push(index);
        *count += 1;
    }
}

/// The writer's handle: adds the postings of each committed group before
/// the group is acknowledged, so lookups agree with appends.
pub(crate) struct Feed {
    shared: Arc<Shared>,
    wake: SyncSender<()>,
}

impl Feed {
    /// Whether nothing is pending or being written: then every entry so far
    /// is fully indexed, and the writer may record that in its commit.
    pub(crate) fn idle(&self) -> bool {
        self.shared
            .state
            .read()
            .is_ok_and(|s| s.pending.is_empty() && s.flushing.is_none())
    }

    /// Adds the postings of a committed group, and the size after it.
    pub(crate) fn add(&self, postings: Vec<(u64, Vec<Posting>)>, size: u64) {
        let Ok(mut s) = self.shared.state.write() else {
            return;
        };
        let State {
            pending,
            pending_count,
            seen_to,
            ..
        } = &mut *s;
        for (i, ps) in postings {
            add_to(pending, pending_count, i, ps);
        }
        *seen_to = (*seen_to).max(size);
        if *pending_count >= self.shared.run_postings {
            // A full channel means a wake-up is already waiting.
            let _ = self.wake.try_send(());
        }
    }
}

/// The index: pending postings, the runs, and the thread that writes runs.
pub(crate) struct Index {
    shared: Arc<Shared>,
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Index {
    /// Opens the index of a store of `size` entries: reads the run count and
    /// rebuilds the pending postings of entries from `indexed_to` on.
    pub(crate) fn open(
        tree: &sled::Tree,
        path: &Path,
        size: u64,
        run_postings: usize,
    ) -> Result<Self, Error> {
        let meta = |k: &[u8]| -> Result<u64, Error> {
            Ok(tree
                .get(k)
                .map_err(db_err(path))?
                .and_then(|v| keys::tail_u64(&v))
                .unwrap_or(0))
        };
        if meta(META_FORMAT)? < INDEX_FORMAT {
            // Indexed under an older format (or new): drop the runs and
            // index every entry again, in one atomic step.
            let mut batch = sled::Batch::default();
            for k in tree.scan_prefix([keys::POSTINGS]).keys() {
                batch.remove(k.map_err(db_err(path))?);
            }
            batch.insert(META_RUNS, &0u64.to_be_bytes()[..]);
            batch.insert(META_FIRST_RUN, &0u64.to_be_bytes()[..]);
            batch.insert(META_INDEXED, &0u64.to_be_bytes()[..]);
            batch.insert(META_FORMAT, &INDEX_FORMAT.to_be_bytes()[..]);
            tree.apply_batch(batch).map_err(db_err(path))?;
        }
        let runs = u32::try_from(meta(META_RUNS)?).map_err(|_| Error::Corrupt {
            index: LogIndex(0),
            why: "run count out of range".into(),
        })?;
        let first_run = u32::try_from(meta(META_FIRST_RUN)?)
            .ok()
            .filter(|f| *f <= runs)
            .ok_or_else(|| Error::Corrupt {
                index: LogIndex(0),
                why: "the first live index run is out of range".into(),
            })?;
        // Blocks outside the live runs: runs merged whose removal a crash
        // cut short, or a merge cut short before it took effect.
        drop_runs(tree, path, 0, Some(first_run))?;
        drop_runs(tree, path, runs, None)?;
        let indexed_to = meta(META_INDEXED)?;
        if indexed_to > size {
            return Err(Error::Corrupt {
                index: LogIndex(size),
                why: format!("the index covers {indexed_to} entries, the log holds {size}"),
            });
        }
        let mut state = State {
            seen_to: size,
            ..Default::default()
        };
        for i in indexed_to..size {
            let bytes = tree
                .get(keys::entry(i))
                .map_err(db_err(path))?
                .ok_or_else(|| Error::Corrupt {
                    index: LogIndex(i),
                    why: "entry missing".into(),
                })?;
            let (target, postings) = postings_of_stored(tree, path, i, &bytes)?;
            add_to(
                &mut state.pending,
                &mut state.pending_count,
                target,
                postings,
            );
        }
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            first_run: AtomicU32::new(first_run),
            runs: AtomicU32::new(runs),
            live: RwLock::new(()),
            run_lock: Mutex::new(()),
            run_postings,
            tree: tree.clone(),
            path: path.to_path_buf(),
        });
        let (wake, rx) = sync_channel(1);
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("isop-store-index".into())
            .spawn(move || {
                // An index opened with many runs (an import, say) is merged
                // before anything else.
                let _ = compact(&worker);
                while rx.recv().is_ok() {
                    // A failed run write leaves the postings pending: the
                    // next wake-up, or the next open, covers them.
                    let _ = write_run_of(&worker);
                    // A failed merge leaves the runs as they were.
                    let _ = compact(&worker);
                }
            })
            .map_err(|e| Error::Failed(format!("cannot start the index thread: {e}")))?;
        Ok(Self {
            shared,
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// The writer's handle.
    pub(crate) fn feed(&self) -> Result<Feed, Error> {
        let wake = self.wake.clone().ok_or(Error::Closed)?;
        Ok(Feed {
            shared: self.shared.clone(),
            wake,
        })
    }

    /// The live runs: the first and the end.
    pub(crate) fn runs(&self) -> (u32, u32) {
        let live = self.shared.live_runs();
        (live.start, live.end)
    }

    /// The entries posted under (prefix, name), in order.
    pub(crate) fn lookup(&self, prefix: u8, name: &[u8]) -> Result<Vec<LogIndex>, Error> {
        let key = (prefix, name.to_vec());
        let mut out: Vec<u64> = {
            let s = self.shared.state()?;
            let mut v = s.pending.get(&key).cloned().unwrap_or_default();
            if let Some(f) = s.flushing.as_ref().and_then(|f| f.get(&key)) {
                v.extend(f);
            }
            v
        };
        // Runs are read after the pending postings: a run is counted before
        // its postings leave `flushing`, so none is missed. A merge does not
        // drop the runs it merged while they are read.
        // The lock guards nothing but this reading: a poisoned one is as good.
        let _live = self
            .shared
            .live
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for run in self.shared.live_runs() {
            if let Some((_, block)) =
                find_block(&self.shared.tree, &self.shared.path, run, prefix, name)?
            {
                out.extend(
                    block
                        .into_iter()
                        .filter(|(p, _)| *p == key)
                        .flat_map(|(_, v)| v),
                );
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out.into_iter().map(LogIndex).collect())
    }

    /// Holds off run writing: erasure holds this until it has committed
    /// and called [`Index::forget`], so no run captures an erased value.
    pub(crate) fn lock_runs(&self) -> Result<MutexGuard<'_, ()>, Error> {
        self.shared
            .run_lock
            .lock()
            .map_err(|_| Error::Failed("the index lock is poisoned".into()))
    }

    /// The rewrites of run blocks that drop `posting` for entry `index`.
    pub(crate) fn run_edits_without(
        &self,
        posting: &Posting,
        index: u64,
    ) -> Result<Vec<crate::store::Op>, Error> {
        let mut edits = Vec::new();
        for run in self.shared.live_runs() {
            let Some((key, mut block)) = find_block(
                &self.shared.tree,
                &self.shared.path,
                run,
                posting.0,
                &posting.1,
            )?
            else {
                continue;
            };
            let Some((_, v)) = block
                .iter_mut()
                .find(|(p, v)| p == posting && v.contains(&index))
            else {
                continue;
            };
            v.retain(|i| *i != index);
            let mut bytes = Vec::new();
            for ((prefix, name), v) in block.iter().filter(|(_, v)| !v.is_empty()) {
                encode_posting(&mut bytes, *prefix, name, v);
            }
            edits.push((key.to_vec(), (!bytes.is_empty()).then_some(bytes)));
        }
        Ok(edits)
    }

    /// Forgets a pending posting; called with the run lock held, after the
    /// erasure committed.
    pub(crate) fn forget(&self, posting: &Posting, index: u64) -> Result<(), Error> {
        let mut s = self.shared.state_mut()?;
        if let Some(v) = s.pending.get_mut(posting) {
            v.retain(|i| *i != index);
            if v.is_empty() {
                s.pending.remove(posting);
            }
        }
        Ok(())
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        // The thread stops once the writer's feed is gone too.
        drop(self.wake.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Moves the pending postings to `flushing`, writes them as the next run
/// with the new run count and `indexed_to`, then lets them go.
fn write_run_of(shared: &Shared) -> Result<(), Error> {
    let _runs = shared
        .run_lock
        .lock()
        .map_err(|_| Error::Failed("the index lock is poisoned".into()))?;
    let run = shared.runs.load(Ordering::Acquire);
    let (mut batch, seen_to) = {
        let mut s = shared.state_mut()?;
        let map = std::mem::take(&mut s.pending);
        s.pending_count = 0;
        let mut batch = sled::Batch::default();
        write_run(&mut batch, run, &map);
        s.flushing = Some(map);
        (batch, s.seen_to)
    };
    batch.insert(META_RUNS, &u64::from(run + 1).to_be_bytes()[..]);
    batch.insert(META_INDEXED, &seen_to.to_be_bytes()[..]);
    let written = shared.tree.apply_batch(batch).map_err(db_err(&shared.path));
    let mut s = shared.state_mut()?;
    let map = s.flushing.take().unwrap_or_default();
    match written {
        Ok(()) => {
            shared.runs.store(run + 1, Ordering::Release);
            Ok(())
        }
        Err(e) => {
            // Put them back, ahead of what arrived meanwhile.
            for (p, mut v) in map {
                s.pending_count += v.len();
                let e = s.pending.entry(p).or_default();
                v.append(e);
                *e = v;
            }
            Err(e)
        }
    }
}

/// Removes every block of the runs from `from` up to `to` (every later
/// run if `None`).
fn drop_runs(tree: &sled::Tree, path: &Path, from: u32, to: Option<u32>) -> Result<(), Error> {
    let start = block_key(from, 0, &[]);
    let end = to.map_or_else(|| vec![keys::POSTINGS + 1], |t| block_key(t, 0, &[]));
    if start >= end {
        return Ok(());
    }
    let mut batch = sled::Batch::default();
    for (n, k) in tree.range(start..end).keys().enumerate() {
        batch.remove(k.map_err(db_err(path))?);
        if (n + 1) % MERGE_BATCH_BLOCKS == 0 {
            tree.apply_batch(std::mem::take(&mut batch))
                .map_err(db_err(path))?;
        }
    }
    tree.apply_batch(batch).map_err(db_err(path))
}

/// The postings of run `run`, in key order, block by block.
fn run_postings(
    shared: &Shared,
    run: u32,
) -> impl Iterator<Item = Result<(Posting, Vec<u64>), Error>> + '_ {
    shared
        .tree
        .range(block_key(run, 0, &[])..block_key(run.saturating_add(1), 0, &[]))
        .flat_map(move |r| {
            let block = r.map_err(db_err(&shared.path)).and_then(|(_, v)| {
                decode_block(&v).ok_or_else(|| Error::Corrupt {
                    index: LogIndex(0),
                    why: format!("index run {run} has a block that does not decode"),
                })
            });
            match block {
                Ok(b) => b.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }
        })
}

/// Merges the live runs into one new run when there are more than
/// [`MAX_LIVE_RUNS`]: streaming, a block of each at a time; the new run
/// takes effect in one commit, then the merged runs are dropped.
fn compact(shared: &Shared) -> Result<(), Error> {
    let _runs = shared
        .run_lock
        .lock()
        .map_err(|_| Error::Failed("the index lock is poisoned".into()))?;
    let live = shared.live_runs();
    if live.len() <= MAX_LIVE_RUNS as usize {
        return Ok(());
    }
    let merged = live.end;
    if let Err(e) = merge(shared, live.clone(), merged) {
        // What was written of the merged run would be taken for the next
        // run's: dropped. (Open drops it too, after a crash.)
        let _ = drop_runs(&shared.tree, &shared.path, merged, None);
        return Err(e);
    }
    {
        // Lookups reading the merged runs finish first; later ones read the
        // new run only. (Never refused: the store already says so.)
        let _swapping = shared
            .live
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.first_run.store(merged, Ordering::Release);
        shared.runs.store(merged + 1, Ordering::Release);
    }
    drop_runs(&shared.tree, &shared.path, live.start, Some(live.end))
}

/// Writes the postings of the runs `live`, merged, as run `merged`, and
/// makes it the one live run in the store (not yet in `shared`).
fn merge(shared: &Shared, live: std::ops::Range<u32>, merged: u32) -> Result<(), Error> {
    let mut streams: Vec<_> = live
        .map(|run| run_postings(shared, run).peekable())
        .collect();
    let mut batch = sled::Batch::default();
    let mut blocks = 0;
    let mut block = Vec::with_capacity(BLOCK_BYTES + 256);
    let mut head: Option<Posting> = None;
    loop {
        // The least posting any stream holds next.
        let mut least: Option<Posting> = None;
        for s in &mut streams {
            if let Some(Err(_)) = s.peek()
                && let Some(Err(e)) = s.next()
            {
                return Err(e);
            }
            if let Some(Ok((p, _))) = s.peek()
                && least.as_ref().is_none_or(|l| p < l)
            {
                least = Some(p.clone());
            }
        }
        let Some(posting) = least else { break };
        let mut indexes = Vec::new();
        for s in &mut streams {
            while let Some(Ok((p, _))) = s.peek() {
                if *p != posting {
                    break;
                }
                if let Some(Ok((_, v))) = s.next() {
                    indexes.extend(v);
                }
            }
        }
        indexes.sort_unstable();
        indexes.dedup();
        if indexes.is_empty() {
            continue;
        }
        let first = head.get_or_insert_with(|| posting.clone());
        encode_posting(&mut block, posting.0, &posting.1, &indexes);
        if block.len() >= BLOCK_BYTES {
            batch.insert(
                block_key(merged, first.0, &first.1),
                std::mem::take(&mut block),
            );
            head = None;
            blocks += 1;
            if blocks % MERGE_BATCH_BLOCKS == 0 {
                shared
                    .tree
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(db_err(&shared.path))?;
            }
        }
    }
    if let Some(first) = head {
        batch.insert(block_key(merged, first.0, &first.1), block);
    }
    // The merged run takes effect: the live runs are it alone.
    batch.insert(META_FIRST_RUN, &u64::from(merged).to_be_bytes()[..]);
    batch.insert(META_RUNS, &u64::from(merged + 1).to_be_bytes()[..]);
    shared.tree.apply_batch(batch).map_err(db_err(&shared.path))
}

/// The postings of a stored entry, with the disclosures the store holds
/// for it, and the entry they point to (see [`crate::index::posting_target`]).
pub(crate) fn postings_of_stored(
    tree: &sled::Tree,
    path: &Path,
    index: u64,
    entry: &[u8],
) -> Result<(u64, Vec<Posting>), Error> {
    let e = pb::LogEntry::decode(entry).map_err(|e| Error::Corrupt {
        index: LogIndex(index),
        why: format!("entry does not decode: {e}"),
    })?;
    let target = crate::index::posting_target(&e, index);
    let Some(env) = crate::index::notice_envelope(&e) else {
        return Ok((target, Vec::new()));
    };
    let mut held = Vec::new();
    for r in tree.scan_prefix(keys::prefixed_u64(keys::DISCLOSURE, index)) {
        held.push(bytes::Bytes::copy_from_slice(&r.map_err(db_err(path))?.1));
    }
    let postings = match &e.record {
        Some(pb::log_entry::Record::DisclosuresAdded(_)) => {
            crate::index::added_keys(env, held.iter())
        }
        _ => crate::IndexKeys::of_envelope(env, held.iter()).multi,
    };
    Ok((target, postings))
}
