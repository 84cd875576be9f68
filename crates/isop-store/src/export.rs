//! Export and import of a log as one file (docs/PROTOCOL.md §11).
//!
//! The file is a sequence of records ([`isop_export`]): the header;
//! the roster versions held; each entry in index order, followed by its
//! disclosures that the export's clearance allows and its erasure records,
//! then by each checkpoint (with every cosignature) at the size it brings
//! the log to; the deliveries still pending in the outbox; the trailer with
//! the entry count, the root and the record count. Both directions stream,
//! in constant memory.

use std::io::{Read, Write};
use std::path::Path;

use bytes::Bytes;
use isop_core::merkle::{self, RootBuilder};
use isop_core::pb::export_record::Record as Rec;
use isop_core::{
    Checkpoint, Clearance, LogIndex, OrgId, Redaction, Roster, RosterKey, SignedNote, UnixMillis,
    pb, sha256,
};
use isop_export::{EXPORT_FORMAT, ExportError, ExportReader, ExportWriter, RecordOrder, Section};
use prost::Message;

use crate::error::{Error, db_err};
use crate::keys;
use crate::store::{Store, StoreConfig};

/// The most roster versions an import keeps to check signatures with.
const MAX_ROSTERS: usize = 1024;
const IMPORT_BATCH: u64 = 4096;

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Entries written.
    pub entries: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Disclosures written (allowed to the clearance).
    pub disclosures: u64,
    /// Disclosures held but withheld from this clearance.
    pub withheld: u64,
    /// Erasure records written.
    pub erased: u64,
    /// Pending deliveries written.
    pub pending: u64,
    /// Roster versions written.
    pub rosters: u64,
    /// Records written, trailer included.
    pub records: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The root over the entries.
    pub root: [u8; 32],
}

/// What an import read and checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// The exporting node.
    pub origin: String,
    /// Entries imported.
    pub entries: u64,
    /// Checkpoints imported, each signed by the origin.
    pub checkpoints: u64,
    /// Cosignatures verified against roster keys.
    pub cosignatures: u64,
    /// Disclosures imported.
    pub disclosures: u64,
    /// Erasure records imported.
    pub erased: u64,
    /// Pending deliveries put back in the outbox.
    pub pending: u64,
    /// Roster versions verified and imported.
    pub rosters: u64,
    /// The root over the entries, equal to the trailer's.
    pub root: [u8; 32],
}

impl From<ExportError> for Error {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Io { offset, source } => Error::ExportIo { offset, source },
            ExportError::Format {
                record,
                offset,
                why,
            } => Error::Export {
                record,
                offset,
                why,
            },
            other => Error::InvalidEntry(other.to_string()),
        }
    }
}

/// The entry index after a key's one-byte prefix: the owner of a `D` or `R`
/// key, the notice of a `V` key.
/// What of the notice that the entry `bytes` logs (or adds fields to)
/// `clearance` may see: the core's one rule.
fn redaction_of(index: LogIndex, bytes: &[u8], clearance: &Clearance) -> Result<Redaction, Error> {
    let corrupt = |why: String| Error::Corrupt { index, why };
    let entry = pb::LogEntry::decode(bytes).map_err(|e| corrupt(format!("entry: {e}")))?;
    let envelope = crate::index::notice_envelope(&entry)
        .ok_or_else(|| corrupt("holds disclosures but no notice".into()))?;
    let envelope =
        pb::Envelope::decode(envelope.as_ref()).map_err(|e| corrupt(format!("envelope: {e}")))?;
    Redaction::of_envelope(&envelope, clearance).map_err(|e| corrupt(e.to_string()))
}

fn owner_of(key: &[u8]) -> u64 {
    key.get(1..9)
        .and_then(|b| b.try_into().ok())
        .map_or(u64::MAX, u64::from_be_bytes)
}

impl Store {
    /// Writes the whole log to `w` as one export file, with the
    /// disclosures that `clearance` allows. `origin` is this node's org.
    pub fn export(
        &self,
        w: impl Write,
        origin: &OrgId,
        clearance: &Clearance,
        now: UnixMillis,
    ) -> Result<ExportSummary, Error> {
        self.export_to(w, origin, clearance, now, self.size())
    }

    /// As [`export`](Self::export), of the log's first `size` entries:
    /// a node exports up to the checkpoint it has just signed, so that
    /// every entry of the export is attested by its origin.
    pub fn export_to(
        &self,
        w: impl Write,
        origin: &OrgId,
        clearance: &Clearance,
        now: UnixMillis,
        size: u64,
    ) -> Result<ExportSummary, Error> {
        let root = self.root(size)?;
        let mut out = ExportWriter::new(w);
        let mut s = ExportSummary {
            root,
            ..Default::default()
        };
        out.put(Rec::Header(pb::ExportHeader {
            format: EXPORT_FORMAT.into(),
            origin: origin.to_string(),
            exported_at: now.0,
            clearance: clearance.tokens().map(Into::into).collect(),
            first_index: 0,
            entry_count: size,
        }))?;
        for r in self.rosters() {
            let (version, bytes) = r?;
            let env = pb::Envelope::decode(bytes).map_err(|e| Error::Corrupt {
                index: LogIndex(0),
                why: format!("stored roster {version}: {e}"),
            })?;
            out.put(Rec::Roster(env))?;
            s.rosters += 1;
        }
        let mut checkpoints = self.checkpoints().peekable();
        let mut put_checkpoints =
            |at: u64, out: &mut ExportWriter<_>, s: &mut ExportSummary| -> Result<(), Error> {
                while let Some(r) =
                    checkpoints.next_if(|r| r.as_ref().map_or(true, |(cs, _)| *cs <= at))
                {
                    let (cs, note) = r?;
                    if cs == at {
                        out.put(Rec::Checkpoint(pb::ExportCheckpoint {
                            note: note.to_bytes().into(),
                        }))?;
                        s.checkpoints += 1;
                    }
                }
                Ok(())
            };
        // Disclosures and erasures are keyed by their entry: walk them in step.
        let mut held = self.scan(&[keys::DISCLOSURE]).peekable();
        let mut erased = self.scan(&[keys::ERASED]).peekable();
        let mine = |index: u64| {
            move |r: &Result<(sled::IVec, sled::IVec), Error>| {
                r.as_ref().map_or(true, |(k, _)| owner_of(k) <= index)
            }
        };
        put_checkpoints(0, &mut out, &mut s)?;
        for r in self.entries(LogIndex(0), LogIndex(size)) {
            let (index, bytes) = r?;
            out.put(Rec::Entry(bytes.clone()))?;
            s.entries += 1;
            // What of this entry's notice the clearance may see, read
            // once, when the entry holds disclosures.
            let mut redaction = None;
            while let Some(r) = held.next_if(mine(index.0)) {
                let (k, v) = r?;
                if owner_of(&k) != index.0 {
                    continue;
                }
                let shows = match &redaction {
                    Some(r) => r,
                    None => redaction.insert(redaction_of(index, &bytes, clearance)?),
                };
                if keys::disclosure_digest(&k).is_some_and(|d| shows.shows_digest(&d)) {
                    out.put(Rec::Disclosure(Bytes::copy_from_slice(&v)))?;
                    s.disclosures += 1;
                } else {
                    s.withheld += 1;
                }
            }
            while let Some(r) = erased.next_if(mine(index.0)) {
                let (k, v) = r?;
                if owner_of(&k) != index.0 {
                    continue;
                }
                let e = pb::ErasedDisclosure::decode(v.as_ref()).map_err(|e| Error::Corrupt {
                    index,
                    why: format!("erasure record: {e}"),
                })?;
                out.put(Rec::Erased(e))?;
                s.erased += 1;
            }
            put_checkpoints(index.0 + 1, &mut out, &mut s)?;
        }
        for item in self.outbox_scan(&[keys::OUTBOX]) {
            let item = item?;
            if item.index.0 >= size {
                continue;
            }
            out.put(Rec::Pending(pb::PendingDelivery {
                index: item.index.0,
                recipient: item.recipient.to_string(),
                attempts: item.attempts,
                next_attempt_at: item.next_attempt.0,
                last_error: item.last_error,
            }))?;
            s.pending += 1;
        }
        // Deliveries receipted after the last exported entry were still
        // pending as of that entry: say so, or the export would show a
        // notice with neither its receipt nor a pending delivery.
        for r in self.scan(&[keys::DELIVERY]) {
            let (k, v) = r?;
            let notice = owner_of(&k);
            let receipt = keys::tail_u64(&v).unwrap_or(0);
            if notice >= size || receipt < size {
                continue;
            }
            let Some(recipient) = k.get(9..).and_then(|b| std::str::from_utf8(b).ok()) else {
                continue;
            };
            out.put(Rec::Pending(pb::PendingDelivery {
                index: notice,
                recipient: recipient.into(),
                attempts: 0,
                next_attempt_at: 0,
                last_error: format!("answered at entry {receipt}, after this export's last entry"),
            }))?;
            s.pending += 1;
        }
        let record_count = out.records();
        out.put(Rec::Trailer(pb::ExportTrailer {
            entry_count: size,
            root: Bytes::copy_from_slice(&root),
            record_count,
        }))?;
        out.flush()?;
        s.records = out.records();
        s.bytes = out.bytes();
        Ok(s)
    }

    /// Imports an export file into a new store at `config.path` (which must
    /// not exist or be empty), checking as it goes: rosters against
    /// `roster_key`, entry numbering, every checkpoint's origin signature
    /// and root, every cosignature by a roster key, that every disclosure
    /// and erasure belongs to the entry before it, and the trailer. The
    /// pending deliveries go back in the outbox. On any error the partial
    /// store is removed.
    pub fn import(
        config: &StoreConfig,
        r: impl Read,
        roster_key: &RosterKey,
    ) -> Result<(Store, ImportSummary), Error> {
        let path = &config.path;
        if std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some()) {
            return Err(Error::NotEmpty(path.display().to_string()));
        }
        let result = import_into(path, r, roster_key, config.index_run.max(1));
        match result {
            Ok(summary) => Ok((Store::open(config)?, summary)),
            Err(e) => {
                // Only the import's own files are there: removing them loses nothing.
                let _ = std::fs::remove_dir_all(path);
                Err(e)
            }
        }
    }
}

struct Import {
    path: std::path::PathBuf,
    tree: sled::Tree,
    db: sled::Db,
    builder: RootBuilder,
    pages: crate::nodes::OpenPages,
    written_pages: crate::nodes::OpenPages,
    /// Index postings not yet written as a run, and the runs written.
    postings: std::collections::BTreeMap<crate::postings::Posting, Vec<u64>>,
    posting_count: usize,
    run_postings: usize,
    runs: u32,
    batch: sled::Batch,
    pending: u64,
    rosters: Vec<Roster>,
    /// The last entry read, with the digests it holds: its disclosures and
    /// erasures come next.
    last: Option<(u64, Bytes, Vec<Bytes>)>,
    origin: OrgId,
    summary: ImportSummary,
}

fn import_into(
    path: &Path,
    r: impl Read,
    roster_key: &RosterKey,
    run_postings: usize,
) -> Result<ImportSummary, Error> {
    let mut rd = ExportReader::new(std::io::BufReader::with_capacity(1 << 20, r));
    let header = rd.header()?;
    if header.first_index != 0 {
        return Err(header_fail("only exports from index 0 can be imported"));
    }
    let origin = OrgId::new(&header.origin).map_err(|e| header_fail(&e.to_string()))?;
    let db = crate::store::open_db(crate::store::sled_config(path), path)?;
    let tree = db.open_tree("log").map_err(db_err(path))?;
    let mut im = Import {
        path: path.to_path_buf(),
        tree,
        db,
        builder: RootBuilder::new(),
        pages: Default::default(),
        written_pages: Default::default(),
        postings: Default::default(),
        posting_count: 0,
        run_postings,
        runs: 0,
        batch: sled::Batch::default(),
        pending: 0,
        rosters: Vec::new(),
        last: None,
        summary: ImportSummary {
            origin: origin.to_string(),
            ..Default::default()
        },
        origin,
    };
    let mut order = RecordOrder::new();
    loop {
        let (record, offset) = (rd.record_number(), rd.offset());
        let fail = |why: String| Error::Export {
            record,
            offset,
            why,
        };
        let Some((_, rec)) = rd.next_record()? else {
            return Err(fail(format!(
                "truncated: no trailer after {record} records"
            )));
        };
        let before = order.section();
        order
            .take(&rec)
            .map_err(|why| fail(format!("record out of order: {why}")))?;
        match rec {
            // Refused by the order above.
            Rec::Header(_) => {}
            Rec::Roster(env) => {
                im.roster(&env, roster_key)
                    .map_err(|e| fail(e.to_string()))?;
            }
            Rec::Entry(bytes) => im.entry(&bytes).map_err(|e| fail(e.to_string()))?,
            Rec::Checkpoint(cp) => im.checkpoint(&cp.note).map_err(|e| fail(e.to_string()))?,
            Rec::Disclosure(bytes) => im.disclosure(&bytes).map_err(|e| fail(e.to_string()))?,
            Rec::Erased(e) => im.erased(&e).map_err(|e| fail(e.to_string()))?,
            Rec::Pending(p) => {
                if before < Section::Pending {
                    // Pending deliveries are checked against the entries.
                    im.flush(false).map_err(|e| fail(e.to_string()))?;
                }
                im.pending(&p).map_err(|e| fail(e.to_string()))?;
            }
            Rec::Trailer(t) => {
                im.finish().map_err(|e| fail(e.to_string()))?;
                let root = im.builder.root();
                let mut bad = order.trailer_mismatches(&t, &header, record);
                if t.root.as_ref() != root {
                    bad.push("the trailer's root is not the root of the entries".into());
                }
                if !bad.is_empty() {
                    return Err(fail(bad.join("; ")));
                }
                rd.end()?;
                im.summary.root = root;
                return Ok(im.summary);
            }
        }
    }
}

fn header_fail(why: &str) -> Error {
    Error::Export {
        record: 0,
        offset: 0,
        why: why.into(),
    }
}

impl Import {
    fn flush(&mut self, sync: bool) -> Result<(), Error> {
        let mut batch = std::mem::take(&mut self.batch);
        let mut dirty = Vec::new();
        self.pages.partial_changes(&self.written_pages, &mut dirty);
        for (level, page, hashes) in dirty {
            batch.insert(&crate::nodes::page_key(level, page)[..], hashes);
        }
        self.written_pages = self.pages.clone();
        batch.insert(keys::META_SIZE, &self.builder.size().to_be_bytes()[..]);
        self.tree.apply_batch(batch).map_err(db_err(&self.path))?;
        if sync {
            self.db.flush().map_err(db_err(&self.path))?;
        }
        self.pending = 0;
        Ok(())
    }

    /// Writes what is left and makes it all durable.
    fn finish(&mut self) -> Result<(), Error> {
        self.write_run();
        self.batch.insert(
            crate::postings::META_RUNS,
            &u64::from(self.runs).to_be_bytes()[..],
        );
        self.batch.insert(
            crate::postings::META_INDEXED,
            &self.builder.size().to_be_bytes()[..],
        );
        self.batch.insert(
            crate::postings::META_FORMAT,
            &crate::postings::INDEX_FORMAT.to_be_bytes()[..],
        );
        self.flush(true)
    }

    /// Writes the collected postings as the next index run.
    fn write_run(&mut self) {
        if self.postings.is_empty() {
            return;
        }
        crate::postings::write_run(&mut self.batch, self.runs, &self.postings);
        self.runs += 1;
        self.pending += self.posting_count as u64;
        self.postings.clear();
        self.posting_count = 0;
    }

    /// Counts a record into the open batch, and writes the batch when full.
    fn bump(&mut self) -> Result<(), Error> {
        if self.posting_count >= self.run_postings {
            self.write_run();
        }
        self.pending += 1;
        if self.pending >= IMPORT_BATCH {
            self.flush(false)?;
        }
        Ok(())
    }

    fn roster(&mut self, env: &pb::Envelope, key: &RosterKey) -> Result<(), Error> {
        let roster = Roster::verify(env, key)?;
        if self.rosters.len() >= MAX_ROSTERS {
            return Err(Error::InvalidEntry(format!(
                "more than {MAX_ROSTERS} roster versions"
            )));
        }
        self.batch.insert(
            &keys::prefixed_u64(keys::ROSTER, roster.version())[..],
            env.encode_to_vec(),
        );
        self.rosters.push(roster);
        self.summary.rosters += 1;
        Ok(())
    }

    fn entry(&mut self, bytes: &Bytes) -> Result<(), Error> {
        let index = self.builder.size();
        let e = pb::LogEntry::decode(bytes.as_ref())
            .map_err(|e| Error::InvalidEntry(format!("entry {index} does not decode: {e}")))?;
        if e.index != index {
            return Err(Error::InvalidEntry(format!(
                "entry claims index {}, expected {index}",
                e.index
            )));
        }
        let batch = &mut self.batch;
        let mut dirty = Vec::new();
        let pages = &mut self.pages;
        self.builder
            .push_hash_visit(merkle::leaf_hash(bytes), |level, start, hash| {
                pages.push(level, start, hash, &mut dirty)
            });
        for (level, page, hashes) in dirty {
            batch.insert(&crate::nodes::page_key(level, page)[..], hashes);
        }
        batch.insert(&keys::entry(index)[..], bytes.as_ref());
        if let Some(pb::log_entry::Record::Envelope(env)) = &e.record {
            let k = crate::IndexKeys::of_envelope(env, std::iter::empty());
            if let Some(id) = k.notice_id {
                let key = keys::prefixed(keys::NOTICE, &id);
                if self.tree.get(&key).map_err(db_err(&self.path))?.is_none() {
                    batch.insert(key, keys::notice_value(k.notice_digest.as_ref(), index));
                }
            }
            for posting in k.multi {
                self.postings.entry(posting).or_default().push(index);
                self.posting_count += 1;
            }
        }
        if let Some(pb::log_entry::Record::DisclosuresAdded(a)) = &e.record {
            if a.notice_index >= index {
                return Err(Error::InvalidEntry(format!(
                    "entry {index} adds disclosures to entry {}, which does not precede it",
                    a.notice_index
                )));
            }
            batch.insert(&keys::added(a.notice_index, index)[..], &[][..]);
        }
        self.last = Some((index, bytes.clone(), e.disclosure_digests));
        self.summary.entries += 1;
        self.bump()
    }

    fn checkpoint(&mut self, note_bytes: &[u8]) -> Result<(), Error> {
        let note = SignedNote::parse(note_bytes)?;
        let cp = Checkpoint::parse(note.text())?;
        if cp.origin != Checkpoint::origin_of(&self.origin) {
            return Err(Error::InvalidEntry(format!(
                "checkpoint of {:?}, not of {}",
                cp.origin, self.origin
            )));
        }
        if cp.size != self.builder.size() {
            return Err(Error::InvalidEntry(format!(
                "checkpoint at size {} placed after {} entries",
                cp.size,
                self.builder.size()
            )));
        }
        if cp.root != self.builder.root() {
            return Err(Error::InvalidEntry(format!(
                "checkpoint at size {}: its root differs from the entries' root",
                cp.size
            )));
        }
        // Every signature line naming a roster key must verify; the origin's must be there.
        let signers = note.signers(self.rosters.iter().rev());
        if let Some(why) = signers.invalid.first() {
            return Err(Error::InvalidEntry(format!(
                "checkpoint at size {}: {why}",
                cp.size
            )));
        }
        let origin_signed = signers.valid.contains(&self.origin);
        self.summary.cosignatures +=
            signers.valid.iter().filter(|o| **o != self.origin).count() as u64;
        if !origin_signed {
            return Err(Error::InvalidEntry(format!(
                "checkpoint at size {} carries no valid signature by {}",
                cp.size, self.origin
            )));
        }
        self.batch.insert(
            &keys::prefixed_u64(keys::CHECKPOINT, cp.size)[..],
            note_bytes,
        );
        self.summary.checkpoints += 1;
        Ok(())
    }

    /// The entry a disclosure or erasure record belongs to: the last one
    /// read, which must hold its digest.
    fn owner(&self, digest: &[u8]) -> Result<(u64, Bytes), Error> {
        match &self.last {
            Some((index, bytes, digests)) if digests.iter().any(|d| d.as_ref() == digest) => {
                Ok((*index, bytes.clone()))
            }
            Some((index, _, _)) => Err(Error::InvalidEntry(format!(
                "a disclosure that entry {index} before it does not hold"
            ))),
            None => Err(Error::InvalidEntry("a disclosure before any entry".into())),
        }
    }

    fn disclosure(&mut self, bytes: &Bytes) -> Result<(), Error> {
        let digest = sha256(bytes);
        let (owner, entry) = self.owner(&digest)?;
        self.batch.insert(
            keys::disclosure(keys::DISCLOSURE, owner, &digest),
            bytes.as_ref(),
        );
        let (target, postings) = crate::index::postings_of_disclosure(bytes, &entry, owner);
        for posting in postings {
            self.postings.entry(posting).or_default().push(target);
            self.posting_count += 1;
        }
        self.summary.disclosures += 1;
        self.bump()
    }

    fn erased(&mut self, e: &pb::ErasedDisclosure) -> Result<(), Error> {
        let (owner, _) = self.owner(&e.digest)?;
        self.batch.insert(
            keys::disclosure(keys::ERASED, owner, &e.digest),
            e.encode_to_vec(),
        );
        self.summary.erased += 1;
        self.bump()
    }

    /// Puts a pending delivery back in the outbox: it must name an OUTBOUND
    /// notice addressed to the recipient.
    fn pending(&mut self, p: &pb::PendingDelivery) -> Result<(), Error> {
        let recipient = OrgId::new(&p.recipient)?;
        let addressed = self
            .tree
            .get(keys::entry(p.index))
            .map_err(db_err(&self.path))?
            .and_then(|b| pb::LogEntry::decode(b.as_ref()).ok())
            .is_some_and(|e| {
                e.direction == pb::Direction::Outbound as i32 && e.recipients.contains(&p.recipient)
            });
        if !addressed {
            return Err(Error::InvalidEntry(format!(
                "a pending delivery to {recipient} of entry {}, which is not a notice sent to it",
                p.index
            )));
        }
        self.batch.insert(
            keys::multi(keys::OUTBOX, recipient.as_str().as_bytes(), p.index),
            crate::outbox::State::new(p.attempts, p.next_attempt_at, &p.last_error).encode(),
        );
        self.summary.pending += 1;
        self.bump()
    }
}
