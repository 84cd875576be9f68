//! Opening the store, the group-commit writer, appends and reads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use isop_core::merkle::{self, Hash, LeafHashSource, RootBuilder};
use isop_core::{Checkpoint, LogIndex, NoticeId, OrgId, SignedNote, Signer, UnixMillis, pb};
use prost::Message;

use crate::entry::{Appended, Direction, NewEntry, Prepared, Record};
use crate::error::{Error, db_err};
use crate::keys;
use crate::nodes::{self, OpenPages};
use crate::postings::{Feed, Index, Posting};

/// Where and how to open a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The database directory; created if missing.
    pub path: PathBuf,
    /// sled's page cache, in bytes. Default 64 MiB.
    pub cache_bytes: u64,
    /// How many of the newest entries `open` re-verifies against the
    /// stored tree. Default 4096. `verify_all` checks everything.
    pub verify_tail: u64,
    /// The most jobs one group commit takes. Default 4096.
    pub max_batch: usize,
    /// Index postings collected in memory before they are written as a
    /// run. Default 131072. Smaller means less memory and more runs to
    /// read per lookup.
    pub index_run: usize,
    /// The disk space, in bytes, that must stay free on the store's
    /// filesystem: a group commit that finds less refuses its writes with
    /// [`Error::DiskFull`] and writes nothing, and the next one that finds
    /// enough goes ahead. Default 64 MiB. It keeps the database itself
    /// from running out of space mid-write (sled takes no writes after a
    /// failed one until it is reopened).
    pub min_free_bytes: u64,
}

impl StoreConfig {
    /// Whether the filesystem the store is (or will be) on has
    /// [`min_free_bytes`](Self::min_free_bytes) free; else
    /// [`Error::DiskFull`]. As [`Store::room`], without the store open.
    pub fn room(&self) -> Result<(), Error> {
        let on = self
            .path
            .ancestors()
            .find(|p| p.exists())
            .unwrap_or(&self.path);
        room(on, self.min_free_bytes)
    }

    /// Defaults for a store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache_bytes: 64 << 20,
            verify_tail: 4096,
            max_batch: 4096,
            index_run: 128 * 1024,
            min_free_bytes: 64 << 20,
        }
    }
}

/// One key-value change: `None` removes the key.
pub(crate) type Op = (Vec<u8>, Option<Vec<u8>>);

enum Job {
    Append(Box<Prepared>, oneshot::Sender<Result<Appended, Error>>),
    Write(Vec<Op>, oneshot::Sender<Result<(), Error>>),
}

struct Shared {
    size: AtomicU64,
    /// Group commits made since the store opened.
    commits: AtomicU64,
    failed: Mutex<Option<String>>,
}

/// A node's log: append-only entries, their RFC 6962 tree, checkpoints,
/// disclosures, indexes, outbox, inbox and cursors, in one sled database.
///
/// Appends are durable when they return: they are group-committed by one
/// writer thread, so one flush covers every append waiting at the time.
pub struct Store {
    pub(crate) db: sled::Db,
    pub(crate) tree: sled::Tree,
    pub(crate) path: PathBuf,
    shared: Arc<Shared>,
    /// Submissions to the writer: the jobs of one are always committed in
    /// the same group.
    jobs: Option<Sender<Vec<Job>>>,
    writer: Option<JoinHandle<()>>,
    min_free_bytes: u64,
    /// Dropped after the writer has stopped (fields drop after `Drop::drop`).
    pub(crate) index: Index,
    /// Held while disclosures are added to a notice already logged.
    pub(crate) additions: Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store, and re-verifies the newest
    /// `config.verify_tail` entries against the stored tree. Any
    /// inconsistency stops the open with an error naming the index; nothing
    /// is truncated or repaired.
    pub fn open(config: &StoreConfig) -> Result<Self, Error> {
        let path = config.path.clone();
        let db = open_db(sled_config(&path).cache_capacity(config.cache_bytes), &path)?;
        let tree = db.open_tree("log").map_err(db_err(&path))?;
        check_format(&tree, &path)?;
        let size = stored_size(&tree, &path)?;
        let frontier = {
            let view = TreeView::new(&tree, &path, size);
            let hashes = RootBuilder::frontier_positions(size)
                .map(|(level, start)| view.perfect_subtree(start, level))
                .collect::<Result<Vec<_>, _>>()?;
            RootBuilder::resume(size, hashes)?
        };
        let pages = OpenPages::load(&tree, &path, size)?;
        crate::verify::verify_tail(&tree, &path, size, config.verify_tail)?;
        let index = Index::open(&tree, &path, size, config.index_run.max(1))?;
        let shared = Arc::new(Shared {
            size: AtomicU64::new(size),
            commits: AtomicU64::new(0),
            failed: Mutex::new(None),
        });
        let (tx, rx) = channel();
        let writer = Writer {
            db: db.clone(),
            tree: tree.clone(),
            path: path.clone(),
            shared: shared.clone(),
            frontier,
            pages,
            feed: index.feed()?,
            max_batch: config.max_batch.max(1),
            min_free_bytes: config.min_free_bytes,
        };
        let handle = std::thread::Builder::new()
            .name("isop-store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::Failed(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            db,
            tree,
            path,
            shared,
            jobs: Some(tx),
            writer: Some(handle),
            min_free_bytes: config.min_free_bytes,
            index,
            additions: Mutex::new(()),
        })
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store's filesystem has the space the store keeps free
    /// ([`StoreConfig::min_free_bytes`]); else [`Error::DiskFull`], which
    /// every write meets until space is freed.
    pub fn room(&self) -> Result<(), Error> {
        room(&self.path, self.min_free_bytes)
    }

    /// Why the store takes no more writes, if a write failed (sled takes
    /// none after a failed one): it must be reopened, by restarting the node.
    pub fn failure(&self) -> Option<String> {
        self.shared
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The number of durable entries.
    pub fn size(&self) -> u64 {
        self.shared.size.load(Ordering::Acquire)
    }

    /// How many group commits (each one atomic batch and one fsync) the
    /// store has made since it opened.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    fn submit(&self, jobs: Vec<Job>) -> Result<(), Error> {
        if let Some(why) = self.failure() {
            return Err(Error::Failed(why));
        }
        self.jobs
            .as_ref()
            .ok_or(Error::Closed)?
            .send(jobs)
            .map_err(|_| Error::Closed)
    }

    fn submit_append(
        &self,
        entry: NewEntry,
    ) -> Result<oneshot::Receiver<Result<Appended, Error>>, Error> {
        self.submit_prepared(Prepared::new(entry)?)
    }

    fn submit_prepared(
        &self,
        prepared: Prepared,
    ) -> Result<oneshot::Receiver<Result<Appended, Error>>, Error> {
        let (tx, rx) = oneshot::channel();
        self.submit(vec![Job::Append(Box::new(prepared), tx)])?;
        Ok(rx)
    }

    pub(crate) fn append_prepared(&self, prepared: Prepared) -> Result<Appended, Error> {
        self.submit_prepared(prepared)?
            .recv()
            .map_err(|_| Error::Closed)?
    }

    /// Appends an entry and returns once it is durable. With
    /// [`NewEntry::dedupe`], a notice already logged is not appended again
    /// and its original index is returned as [`Appended::Duplicate`].
    pub fn append(&self, entry: NewEntry) -> Result<Appended, Error> {
        self.submit_append(entry)?
            .recv()
            .map_err(|_| Error::Closed)?
    }

    /// As [`append`](Self::append), for async callers: the returned future
    /// resolves once the entry is durable.
    pub fn append_async(
        &self,
        entry: NewEntry,
    ) -> impl Future<Output = Result<Appended, Error>> + Send + 'static {
        let rx = self.submit_append(entry);
        async move { rx?.await.map_err(|_| Error::Closed)? }
    }

    /// Appends many entries in one group commit (one fsync), in their
    /// order, and returns each one's outcome once all are durable. An
    /// entry that cannot be logged is answered with its error; the others
    /// are still appended.
    pub fn append_many(
        &self,
        entries: impl IntoIterator<Item = NewEntry>,
    ) -> Vec<Result<Appended, Error>> {
        self.submit_appends(entries)
            .into_iter()
            .map(|rx| rx?.recv().map_err(|_| Error::Closed)?)
            .collect()
    }

    /// As [`append_many`](Self::append_many), for async callers.
    pub fn append_many_async(
        &self,
        entries: impl IntoIterator<Item = NewEntry>,
    ) -> impl Future<Output = Vec<Result<Appended, Error>>> + Send + 'static {
        let pending = self.submit_appends(entries);
        async move {
            let mut out = Vec::with_capacity(pending.len());
            for rx in pending {
                out.push(match rx {
                    Ok(rx) => rx.await.unwrap_or(Err(Error::Closed)),
                    Err(e) => Err(e),
                });
            }
            out
        }
    }

    /// Prepares `entries` here and submits them to the writer together,
    /// so they land in one group commit.
    fn submit_appends(
        &self,
        entries: impl IntoIterator<Item = NewEntry>,
    ) -> Vec<Result<oneshot::Receiver<Result<Appended, Error>>, Error>> {
        let mut jobs = Vec::new();
        let answers: Vec<_> = entries
            .into_iter()
            .map(|e| {
                let prepared = Prepared::new(e)?;
                let (tx, rx) = oneshot::channel();
                jobs.push(Job::Append(Box::new(prepared), tx));
                Ok(rx)
            })
            .collect();
        if jobs.is_empty() {
            return answers;
        }
        match self.submit(jobs) {
            Ok(()) => answers,
            // The store failed or closed: each entry hears why.
            Err(e) => answers
                .into_iter()
                .map(|a| {
                    a.and_then(|_| {
                        Err(match &e {
                            Error::Failed(why) => Error::Failed(why.clone()),
                            _ => Error::Closed,
                        })
                    })
                })
                .collect(),
        }
    }

    /// Applies key-value changes durably, through the writer.
    pub(crate) fn write(&self, ops: Vec<Op>) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.submit(vec![Job::Write(ops, tx)])?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, Error> {
        self.tree.get(key).map_err(db_err(&self.path))
    }

    /// The first key-value pair at or after `from`.
    pub(crate) fn first_from(
        &self,
        from: &[u8],
    ) -> Result<Option<(sled::IVec, sled::IVec)>, Error> {
        self.tree
            .range(from..)
            .next()
            .transpose()
            .map_err(db_err(&self.path))
    }

    pub(crate) fn scan(
        &self,
        prefix: &[u8],
    ) -> impl DoubleEndedIterator<Item = Result<(sled::IVec, sled::IVec), Error>> + '_ {
        self.tree
            .scan_prefix(prefix)
            .map(|r| r.map_err(db_err(&self.path)))
    }

    /// The bytes of entry `index`, if it is durable.
    pub fn entry(&self, index: LogIndex) -> Result<Option<Bytes>, Error> {
        if index.0 >= self.size() {
            return Ok(None);
        }
        Ok(self
            .get(&keys::entry(index.0))?
            .map(|v| Bytes::copy_from_slice(&v)))
    }

    /// The entries with indexes in `[from, to)`, in order (clamped to the size).
    pub fn entries(
        &self,
        from: LogIndex,
        to: LogIndex,
    ) -> impl Iterator<Item = Result<(LogIndex, Bytes), Error>> + '_ {
        let to = to.0.min(self.size());
        let from = from.0.min(to);
        let mut expected = from;
        self.tree
            .range(keys::entry(from)..keys::entry(to))
            .map(move |r| {
                let (k, v) = r.map_err(db_err(&self.path))?;
                let index = keys::tail_u64(&k).unwrap_or(u64::MAX);
                if index != expected {
                    return Err(Error::Corrupt {
                        index: LogIndex(expected),
                        why: "entry missing".into(),
                    });
                }
                expected += 1;
                Ok((LogIndex(index), Bytes::copy_from_slice(&v)))
            })
    }

    /// Decodes entry `index`.
    pub fn log_entry(&self, index: LogIndex) -> Result<Option<pb::LogEntry>, Error> {
        self.entry(index)?
            .map(|b| {
                pb::LogEntry::decode(b).map_err(|e| Error::Corrupt {
                    index,
                    why: format!("entry does not decode: {e}"),
                })
            })
            .transpose()
    }

    /// A view of the tree at `size` for the core's proof functions.
    fn view(&self, size: u64) -> Result<TreeView<'_>, Error> {
        if size > self.size() {
            return Err(isop_core::Error::TreeSize {
                size,
                available: self.size(),
            }
            .into());
        }
        Ok(TreeView::new(&self.tree, &self.path, size))
    }

    /// The root of the tree of the first `size` entries.
    pub fn root(&self, size: u64) -> Result<Hash, Error> {
        merkle::root(&self.view(size)?, size)
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: LogIndex, size: u64) -> Result<Vec<Hash>, Error> {
        merkle::inclusion_proof(&self.view(size)?, index.0, size)
    }

    /// The consistency proof between tree sizes `old` and `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, Error> {
        merkle::consistency_proof(&self.view(new)?, old, new)
    }

    /// Signs a checkpoint of the whole log as it is now with `signer` (the
    /// node's key), stores it, and returns it. Cosignatures already held
    /// for the same size are kept.
    pub fn sign_checkpoint(&self, signer: &Signer) -> Result<SignedNote, Error> {
        let (size, note) = self.checkpoint_now(signer)?;
        self.write(vec![(
            keys::prefixed_u64(keys::CHECKPOINT, size).to_vec(),
            Some(note.to_bytes()),
        )])?;
        Ok(note)
    }

    /// Signs a checkpoint of the whole log as it is now, with the
    /// cosignatures held for its size, without storing it (what a node
    /// still hands out while its disk is full), and returns its size.
    pub fn checkpoint_now(&self, signer: &Signer) -> Result<(u64, SignedNote), Error> {
        let size = self.size();
        let mut note = Checkpoint::new(&signer.id().org, size, self.root(size)?).sign(signer)?;
        if let Some(old) = self.checkpoint(size)? {
            note.merge(&old)?;
        }
        Ok((size, note))
    }

    /// Adds the signature lines of `cosigned` (the stored checkpoint at
    /// `size` with a witness's cosignature) that the stored copy lacks.
    /// The caller has verified the cosignature. Returns the merged note.
    pub fn add_cosignature(&self, size: u64, cosigned: &SignedNote) -> Result<SignedNote, Error> {
        let mut note = self
            .checkpoint(size)?
            .ok_or_else(|| Error::InvalidEntry(format!("no checkpoint stored at size {size}")))?;
        if note.merge(cosigned)? > 0 {
            self.write(vec![(
                keys::prefixed_u64(keys::CHECKPOINT, size).to_vec(),
                Some(note.to_bytes()),
            )])?;
        }
        Ok(note)
    }

    /// The checkpoint stored at `size`, with its cosignatures.
    pub fn checkpoint(&self, size: u64) -> Result<Option<SignedNote>, Error> {
        self.get(&keys::prefixed_u64(keys::CHECKPOINT, size))?
            .map(|v| {
                SignedNote::parse(&v).map_err(|e| Error::Corrupt {
                    index: LogIndex(size),
                    why: format!("stored checkpoint: {e}"),
                })
            })
            .transpose()
    }

    /// The newest stored checkpoint.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedNote>, Error> {
        match self.tree.scan_prefix([keys::CHECKPOINT]).next_back() {
            None => Ok(None),
            Some(r) => {
                let (k, v) = r.map_err(db_err(&self.path))?;
                let size = keys::tail_u64(&k).unwrap_or_default();
                Ok(Some(SignedNote::parse(&v).map_err(|e| Error::Corrupt {
                    index: LogIndex(size),
                    why: format!("stored checkpoint: {e}"),
                })?))
            }
        }
    }

    /// Every stored checkpoint, by tree size (`.rev()` for the newest
    /// first).
    pub fn checkpoints(
        &self,
    ) -> impl DoubleEndedIterator<Item = Result<(u64, SignedNote), Error>> + '_ {
        self.scan(&[keys::CHECKPOINT]).map(|r| {
            let (k, v) = r?;
            let size = keys::tail_u64(&k).unwrap_or_default();
            let note = SignedNote::parse(&v).map_err(|e| Error::Corrupt {
                index: LogIndex(size),
                why: format!("stored checkpoint: {e}"),
            })?;
            Ok((size, note))
        })
    }

    /// The first stored checkpoint that covers entry `index`: the one of
    /// the smallest tree size above it. Once there is one, it stays the
    /// answer.
    pub fn checkpoint_covering(&self, index: LogIndex) -> Result<Option<(u64, SignedNote)>, Error> {
        let from = keys::prefixed_u64(keys::CHECKPOINT, index.0.saturating_add(1));
        let to = keys::prefixed_u64(keys::CHECKPOINT, u64::MAX);
        let Some(found) = self.tree.range(from..=to).next() else {
            return Ok(None);
        };
        let (k, v) = found.map_err(db_err(&self.path))?;
        let size = keys::tail_u64(&k).unwrap_or_default();
        let note = SignedNote::parse(&v).map_err(|e| Error::Corrupt {
            index: LogIndex(size),
            why: format!("stored checkpoint: {e}"),
        })?;
        Ok(Some((size, note)))
    }

    /// The index of the first entry of notice `id`, if logged.
    pub fn find_notice(&self, id: &NoticeId) -> Result<Option<LogIndex>, Error> {
        // Only a durable entry: a commit's keys are visible a moment before its flush completes.
        let size = self.size();
        Ok(self
            .get(&keys::prefixed(keys::NOTICE, id.as_bytes()))?
            .and_then(|v| keys::tail_u64(&v))
            .filter(|i| *i < size)
            .map(LogIndex))
    }

    /// The index's live runs, as (first, end): a lookup reads `end - first`
    /// runs, at most `postings::MAX_LIVE_RUNS` once merging caught up.
    pub fn index_runs(&self) -> (u32, u32) {
        self.index.runs()
    }

    /// The entries of notices with case reference `case_ref`.
    pub fn by_case(&self, case_ref: &str) -> Result<Vec<LogIndex>, Error> {
        self.index.lookup(keys::CASE, case_ref.as_bytes())
    }

    /// The entries of notices answering notice `id`: in reply to it, or
    /// naming it as the referral a status answers or a takedown rests on,
    /// or as the notice retracted.
    pub fn replies(&self, id: &NoticeId) -> Result<Vec<LogIndex>, Error> {
        self.index.lookup(keys::REPLY, id.as_bytes())
    }

    /// The entries of notices naming an indicator (domain, IP, URL, wallet,
    /// payment account or e-mail), in clear or in a disclosure this node
    /// holds; for a domain, also those naming its subdomains or a URL on
    /// it or them (in clear).
    pub fn by_indicator(&self, value: &str) -> Result<Vec<LogIndex>, Error> {
        let mut out = Vec::new();
        for form in crate::index::lookup_forms(value) {
            out.extend(self.index.lookup(keys::INDICATOR, form.as_bytes())?);
        }
        // A site: its subdomains and URLs too.
        let site = crate::index::site_key(value);
        out.extend(self.index.lookup(keys::INDICATOR, site.as_bytes())?);
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The entries of notices by `author`.
    pub fn by_author(&self, author: &OrgId) -> Result<Vec<LogIndex>, Error> {
        self.index.lookup(keys::AUTHOR, author.as_str().as_bytes())
    }

    /// Stores a roster envelope (its bytes) under its version.
    pub fn put_roster(&self, version: u64, envelope: &[u8]) -> Result<(), Error> {
        self.write(vec![(
            keys::prefixed_u64(keys::ROSTER, version).to_vec(),
            Some(envelope.to_vec()),
        )])
    }

    /// Records a roster version the node now holds: the first time, it is
    /// logged as a LOCAL entry (so an auditor knows from which point of the
    /// log it was in force) and stored by version. Returns whether it was new.
    pub fn record_roster(
        &self,
        version: u64,
        envelope: Bytes,
        at: UnixMillis,
    ) -> Result<bool, Error> {
        if self
            .get(&keys::prefixed_u64(keys::ROSTER, version))?
            .is_some()
        {
            return Ok(false);
        }
        // Logged first: a crash in between logs it again on restart, and
        // never leaves a roster stored but unlogged.
        self.append(NewEntry::new(
            at,
            Direction::Local,
            Record::Envelope(envelope.clone()),
        ))?;
        self.put_roster(version, &envelope)?;
        Ok(true)
    }

    /// Every stored roster envelope, by version.
    pub fn rosters(&self) -> impl Iterator<Item = Result<(u64, Bytes), Error>> + '_ {
        self.scan(&[keys::ROSTER]).map(|r| {
            r.map(|(k, v)| {
                (
                    keys::tail_u64(&k).unwrap_or_default(),
                    Bytes::copy_from_slice(&v),
                )
            })
        })
    }

    /// The sync cursor kept for `peer` (0 if none).
    pub fn cursor(&self, peer: &OrgId) -> Result<u64, Error> {
        Ok(self
            .get(&keys::prefixed(keys::CURSOR, peer.as_str().as_bytes()))?
            .and_then(|v| keys::tail_u64(&v))
            .unwrap_or(0))
    }

    /// Durably sets the sync cursor for `peer`.
    pub fn set_cursor(&self, peer: &OrgId, cursor: u64) -> Result<(), Error> {
        self.write(vec![(
            keys::prefixed(keys::CURSOR, peer.as_str().as_bytes()),
            Some(cursor.to_be_bytes().to_vec()),
        )])
    }

    /// The last checkpoint of `peer`'s log that this node witnessed.
    pub fn witnessed(&self, peer: &OrgId) -> Result<Option<SignedNote>, Error> {
        self.get(&keys::prefixed(keys::WITNESSED, peer.as_str().as_bytes()))?
            .map(|v| {
                SignedNote::parse(&v).map_err(|e| Error::Corrupt {
                    index: LogIndex(0),
                    why: format!("witnessed checkpoint of {peer}: {e}"),
                })
            })
            .transpose()
    }

    /// Records the last checkpoint of `peer`'s log this node witnessed.
    pub fn set_witnessed(&self, peer: &OrgId, note: &SignedNote) -> Result<(), Error> {
        self.write(vec![(
            keys::prefixed(keys::WITNESSED, peer.as_str().as_bytes()),
            Some(note.to_bytes()),
        )])
    }

    /// The next entry the webhook `name` is to be told of; `None` for a
    /// webhook never seen.
    pub fn notify_cursor(&self, name: &str) -> Result<Option<u64>, Error> {
        Ok(self
            .get(&keys::prefixed(keys::NOTIFY, name.as_bytes()))?
            .and_then(|v| keys::tail_u64(&v)))
    }

    /// Records that the webhook `name` is to be told of entry `next` on.
    pub fn set_notify_cursor(&self, name: &str, next: u64) -> Result<(), Error> {
        self.write(vec![(
            keys::prefixed(keys::NOTIFY, name.as_bytes()),
            Some(next.to_be_bytes().to_vec()),
        )])
    }

    /// Inbox entries (delivered notices not yet handled), oldest first, with their read flag.
    pub fn inbox(&self, unread_only: bool) -> Result<Vec<(LogIndex, bool)>, Error> {
        // Only durable entries: a commit's keys are visible a moment before its flush completes.
        let size = self.size();
        self.scan(&[keys::INBOX])
            .filter(|r| {
                r.as_ref()
                    .map_or(true, |(k, _)| keys::tail_u64(k).is_some_and(|i| i < size))
            })
            .filter_map(|r| match r {
                Ok((k, v)) => {
                    let read = v.first() == Some(&1);
                    (!(unread_only && read))
                        .then(|| Ok((LogIndex(keys::tail_u64(&k).unwrap_or_default()), read)))
                }
                Err(e) => Some(Err(e)),
            })
            .collect()
    }

    /// Whether inbox entry `index` was read; `None` if it is not in the inbox.
    pub fn is_read(&self, index: LogIndex) -> Result<Option<bool>, Error> {
        // Only a durable entry, as `inbox` reads it.
        if index.0 >= self.size() {
            return Ok(None);
        }
        Ok(self
            .get(&keys::prefixed_u64(keys::INBOX, index.0))?
            .map(|v| v.first() == Some(&1)))
    }

    /// Marks an inbox entry read.
    pub fn mark_read(&self, index: LogIndex) -> Result<(), Error> {
        if self
            .get(&keys::prefixed_u64(keys::INBOX, index.0))?
            .is_none()
        {
            return Err(Error::InvalidEntry(format!(
                "entry {index} is not in the inbox"
            )));
        }
        self.write(vec![(
            keys::prefixed_u64(keys::INBOX, index.0).to_vec(),
            Some(vec![1]),
        )])
    }

    /// Makes every write so far durable (appends already are).
    pub fn flush(&self) -> Result<(), Error> {
        self.db.flush().map(drop).map_err(db_err(&self.path))
    }

    /// Finishes every append already submitted, then stops the writer.
    pub fn close(mut self) -> Result<(), Error> {
        self.stop();
        self.flush()
    }

    fn stop(&mut self) {
        drop(self.jobs.take());
        if let Some(h) = self.writer.take() {
            // The writer only ends when the channel closes; a panic there
            // has already failed its waiters, so there is nothing to add.
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop();
    }
}

/// sled's configuration. The store flushes itself at each group commit,
/// so sled's background flusher is off: it would only add flushes, and it
/// holds the database's lock for a while after the store is dropped.
pub(crate) fn sled_config(path: &Path) -> sled::Config {
    sled::Config::new()
        .path(path)
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(None)
}

/// The format of a store: the layout of its keys and values
/// (`keys`). A store records it when it is created; this isop opens this
/// format and refuses a newer one. A later format that changes the layout
/// converts an older store when it opens it, and keeps opening the
/// fixtures of every earlier format (`tests/federation/fixtures`).
pub const STORE_FORMAT: u32 = 1;

/// Refuses a store of a newer format; records the format in a store that
/// has none (a new one, or one made before formats were recorded, which
/// is format 1).
fn check_format(tree: &sled::Tree, path: &Path) -> Result<(), Error> {
    let Some(v) = tree.get(keys::META_FORMAT).map_err(db_err(path))? else {
        tree.insert(keys::META_FORMAT, &STORE_FORMAT.to_be_bytes()[..])
            .and_then(|_| tree.flush())
            .map_err(db_err(path))?;
        return Ok(());
    };
    let found = <[u8; 4]>::try_from(v.as_ref())
        .map(u32::from_be_bytes)
        .map_err(|_| Error::Corrupt {
            index: LogIndex(0),
            why: format!("the format marker is {} bytes, not 4", v.len()),
        })?;
    match found {
        STORE_FORMAT => Ok(()),
        f if f > STORE_FORMAT => Err(Error::NewerFormat {
            path: path.display().to_string(),
            found,
            supported: STORE_FORMAT,
        }),
        _ => Err(Error::Corrupt {
            index: LogIndex(0),
            why: format!("format {found} is not a store format"),
        }),
    }
}

/// How long opening waits for sled's lock: a store dropped a moment ago
/// releases it from a background thread (sled 0.34 does not wait for that
/// in `Drop`); a lock held longer belongs to another process.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens the database, waiting (bounded) for a lingering lock.
pub(crate) fn open_db(config: sled::Config, path: &Path) -> Result<sled::Db, Error> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let mut backoff = std::time::Duration::from_millis(2);
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(Error::Locked(path.display().to_string()));
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(db_err(path)(e)),
        }
    }
}

/// The committed size: one past the last entry, cross-checked with the
/// size recorded by the last commit.
fn stored_size(tree: &sled::Tree, path: &Path) -> Result<u64, Error> {
    let by_entries = match tree.scan_prefix([keys::ENTRY]).next_back() {
        None => 0,
        Some(r) => keys::tail_u64(&r.map_err(db_err(path))?.0).map_or(0, |i| i + 1),
    };
    let recorded = tree
        .get(keys::META_SIZE)
        .map_err(db_err(path))?
        .and_then(|v| keys::tail_u64(&v))
        .unwrap_or(0);
    if by_entries != recorded {
        return Err(Error::Corrupt {
            index: LogIndex(by_entries.min(recorded)),
            why: format!(
                "the last commit recorded {recorded} entries but entries run to {by_entries}"
            ),
        });
    }
    Ok(recorded)
}

/// The stored tree at a size, as a [`LeafHashSource`] for the core's proof
/// code. A proof reads one page per level; pages read once are kept for
/// the view's lifetime, so the right-edge subtrees shared by a proof's
/// steps cost nothing more, and a proof costs O(log n) reads.
pub(crate) struct TreeView<'a> {
    tree: &'a sled::Tree,
    path: &'a Path,
    size: u64,
    cache: RefCell<HashMap<(u32, u64), sled::IVec>>,
}

impl<'a> TreeView<'a> {
    pub(crate) fn new(tree: &'a sled::Tree, path: &'a Path, size: u64) -> Self {
        Self {
            tree,
            path,
            size,
            cache: RefCell::new(HashMap::new()),
        }
    }
}

impl LeafHashSource for TreeView<'_> {
    type Error = Error;

    fn size(&self) -> u64 {
        self.size
    }

    fn leaf_hash(&self, index: u64) -> Result<Hash, Error> {
        self.perfect_subtree(index, 0)
    }

    fn perfect_subtree(&self, start: u64, level: u32) -> Result<Hash, Error> {
        let (page, slot) = nodes::locate(level, start);
        if let Some(v) = self.cache.borrow().get(&(level, page)) {
            return nodes::slot_of(v, level, start, slot);
        }
        let v = self
            .tree
            .get(nodes::page_key(level, page))
            .map_err(db_err(self.path))?
            .ok_or_else(|| Error::Corrupt {
                index: LogIndex(start),
                why: format!("tree node (level {level}) is missing"),
            })?;
        let h = nodes::slot_of(&v, level, start, slot)?;
        self.cache.borrow_mut().insert((level, page), v);
        Ok(h)
    }
}

/// The bytes available on the filesystem of `path`; `None` if it cannot
/// say (then it is taken to have room, and a write reports what is wrong).
fn available(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// [`Error::DiskFull`] if the filesystem of `path` has fewer than
/// `reserve` bytes available.
fn room(path: &Path, reserve: u64) -> Result<(), Error> {
    match available(path) {
        Some(free) if free < reserve => Err(disk_full(path, free, reserve)),
        _ => Ok(()),
    }
}

fn disk_full(path: &Path, available: u64, reserve: u64) -> Error {
    Error::DiskFull {
        path: path.display().to_string(),
        available,
        reserve,
    }
}

/// The single writer: takes every job waiting, applies them as one atomic
/// sled batch, flushes once, then answers them all.
struct Writer {
    db: sled::Db,
    tree: sled::Tree,
    path: PathBuf,
    shared: Arc<Shared>,
    frontier: RootBuilder,
    pages: OpenPages,
    feed: Feed,
    max_batch: usize,
    min_free_bytes: u64,
}

/// A group commit, built and not yet written.
struct Staged {
    batch: sled::Batch,
    frontier: RootBuilder,
    pages: OpenPages,
    postings: Vec<(u64, Vec<Posting>)>,
    outcomes: Vec<Result<Outcome, Error>>,
}

enum Outcome {
    Appended(Appended),
    Written,
}

impl Writer {
    fn run(mut self, rx: Receiver<Vec<Job>>) {
        while let Ok(mut jobs) = rx.recv() {
            // Whatever else waits joins the group, a submission whole.
            while jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(more) => jobs.extend(more),
                    Err(_) => break,
                }
            }
            // Nothing is written short of the reserve (an access record or
            // an erasure, short of half of it); each group checks again.
            let free = available(&self.path).unwrap_or(u64::MAX);
            let (jobs, refused): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|job| {
                let needed = match job {
                    Job::Append(p, _) if p.reserved => self.min_free_bytes / 2,
                    _ => self.min_free_bytes,
                };
                free >= needed
            });
            for job in refused {
                let full = disk_full(&self.path, free, self.min_free_bytes);
                match job {
                    Job::Append(_, tx) => drop(tx.send(Err(full))),
                    Job::Write(_, tx) => drop(tx.send(Err(full))),
                }
            }
            if jobs.is_empty() {
                continue;
            }
            let result = self.commit(&jobs);
            for (job, r) in jobs.into_iter().zip(result) {
                // A waiter that went away just does not hear the answer.
                match (job, r) {
                    (Job::Append(_, tx), Ok(Outcome::Appended(a))) => drop(tx.send(Ok(a))),
                    (Job::Write(_, tx), Ok(_)) => drop(tx.send(Ok(()))),
                    (Job::Append(_, tx), Err(e)) => drop(tx.send(Err(e))),
                    (Job::Write(_, tx), Err(e)) => drop(tx.send(Err(e))),
                    (Job::Append(_, tx), Ok(Outcome::Written)) => drop(tx.send(Err(Error::Closed))),
                }
            }
        }
    }

    /// Commits a group. On a database error the store is marked failed:
    /// what reached the disk is unknown until it is reopened and verified.
    fn commit(&mut self, jobs: &[Job]) -> Vec<Result<Outcome, Error>> {
        let failed = |why: &str| {
            jobs.iter()
                .map(|_| Err(Error::Failed(why.to_owned())))
                .collect()
        };
        if let Ok(guard) = self.shared.failed.lock()
            && let Some(why) = guard.as_deref()
        {
            return failed(why);
        }
        match self.build(jobs) {
            Ok(Staged {
                batch,
                frontier,
                pages,
                postings,
                outcomes,
            }) => {
                let durable = self
                    .tree
                    .apply_batch(batch)
                    .and_then(|()| self.db.flush().map(drop));
                match durable {
                    Ok(()) => {
                        self.frontier = frontier;
                        self.pages = pages;
                        self.feed.add(postings, self.frontier.size());
                        self.shared
                            .size
                            .store(self.frontier.size(), Ordering::Release);
                        self.shared.commits.fetch_add(1, Ordering::Relaxed);
                        outcomes
                    }
                    Err(e) => {
                        let why = db_err(&self.path)(e).to_string();
                        if let Ok(mut guard) = self.shared.failed.lock() {
                            *guard = Some(why.clone());
                        }
                        failed(&why)
                    }
                }
            }
            Err(e) => {
                let why = e.to_string();
                if let Ok(mut guard) = self.shared.failed.lock() {
                    *guard = Some(why.clone());
                }
                failed(&why)
            }
        }
    }

    /// The payload digest and index of the notice that holds `id`, if one
    /// does: one appended earlier in this group (`staged`), or one
    /// committed. A store written before digests were kept in the index
    /// holds the index alone; the digest is then read from the entry.
    fn held_notice(
        &self,
        staged: &HashMap<[u8; 16], keys::HeldNotice>,
        id: &[u8; 16],
    ) -> Result<Option<keys::HeldNotice>, Error> {
        if let Some(held) = staged.get(id) {
            return Ok(Some(*held));
        }
        let Some(v) = self
            .tree
            .get(keys::prefixed(keys::NOTICE, id))
            .map_err(db_err(&self.path))?
        else {
            return Ok(None);
        };
        let Some((digest, index)) = keys::parse_notice_value(&v) else {
            return Err(Error::Corrupt {
                index: LogIndex(self.frontier.size()),
                why: format!(
                    "notice index value for {} is {} bytes",
                    hex::encode(id),
                    v.len()
                ),
            });
        };
        if digest.is_some() {
            return Ok(Some((digest, index)));
        }
        let corrupt = |why: &str| Error::Corrupt {
            index: LogIndex(index),
            why: why.into(),
        };
        let entry = self
            .tree
            .get(keys::entry(index))
            .map_err(db_err(&self.path))?
            .ok_or_else(|| corrupt("the notice index names an entry that is not stored"))?;
        let payload = pb::LogEntry::decode(entry.as_ref())
            .ok()
            .as_ref()
            .and_then(crate::index::notice_envelope)
            .and_then(|env| pb::Envelope::decode(env.as_ref()).ok())
            .map(|env| env.payload)
            .ok_or_else(|| corrupt("the notice index names an entry without an envelope"))?;
        Ok(Some((Some(isop_core::sha256(&payload)), index)))
    }

    fn build(&self, jobs: &[Job]) -> Result<Staged, Error> {
        let mut batch = sled::Batch::default();
        let mut frontier = self.frontier.clone();
        let mut pages = self.pages.clone();
        let mut dirty = Vec::new();
        let mut postings = Vec::new();
        let mut new_ids: HashMap<[u8; 16], keys::HeldNotice> = HashMap::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job {
                Job::Write(ops, _) => {
                    for (k, v) in ops {
                        match v {
                            Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                            None => batch.remove(k.as_slice()),
                        }
                    }
                    outcomes.push(Ok(Outcome::Written));
                }
                Job::Append(p, _) => {
                    let known = match &p.notice_id {
                        Some(id) => self.held_notice(&new_ids, id)?,
                        None => None,
                    };
                    if let Some((id, digest)) = &p.requires {
                        match self.held_notice(&new_ids, id)? {
                            Some((Some(held), _)) if held == *digest => {}
                            Some((_, at)) => {
                                outcomes.push(Ok(Outcome::Appended(Appended::Unmet(LogIndex(at)))));
                                continue;
                            }
                            None => {
                                outcomes.push(Err(Error::InvalidEntry(format!(
                                    "requires notice {}, which is not logged",
                                    hex::encode(id)
                                ))));
                                continue;
                            }
                        }
                    }
                    if let (true, Some((held, original))) = (p.dedupe, known) {
                        let original = LogIndex(original);
                        outcomes.push(Ok(Outcome::Appended(if held == p.notice_digest {
                            Appended::Duplicate(original)
                        } else {
                            Appended::Conflict(original)
                        })));
                        continue;
                    }
                    let index = frontier.size();
                    let (bytes, leaf) = p.encode(index);
                    frontier.push_hash_visit(leaf, |level, start, hash| {
                        pages.push(level, start, hash, &mut dirty);
                    });
                    batch.insert(&keys::entry(index)[..], bytes);
                    if let (Some(id), None) = (p.notice_id, known) {
                        batch.insert(
                            keys::prefixed(keys::NOTICE, &id),
                            keys::notice_value(p.notice_digest.as_ref(), index),
                        );
                        new_ids.insert(id, (p.notice_digest, index));
                    }
                    p.apply(index, &mut batch);
                    if !p.postings.is_empty() {
                        postings.push((p.added_to.unwrap_or(index), p.postings.clone()));
                    }
                    outcomes.push(Ok(Outcome::Appended(Appended::New(LogIndex(index)))));
                }
            }
        }
        if postings.is_empty() && self.feed.idle() {
            // Nothing to index is pending: opening need not rebuild anything.
            batch.insert(
                crate::postings::META_INDEXED,
                &frontier.size().to_be_bytes()[..],
            );
        }
        pages.partial_changes(&self.pages, &mut dirty);
        for (level, page, hashes) in dirty {
            batch.insert(&nodes::page_key(level, page)[..], hashes);
        }
        batch.insert(keys::META_SIZE, &frontier.size().to_be_bytes()[..]);
        Ok(Staged {
            batch,
            frontier,
            pages,
            postings,
            outcomes,
        })
    }
}
