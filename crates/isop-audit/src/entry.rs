//! What every pass shares: walking an export's records in their documented
//! order, reading each entry as what it records, and the roster history.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use isop_core::pb::export_record::Record as Rec;
use isop_core::{
    Checkpoint, NOTICE_PAYLOAD_TYPE, NoteSigners, Notice, OrgId, RECEIPT_PAYLOAD_TYPE,
    RECEIPTS_PAYLOAD_TYPE, ROSTER_PAYLOAD_TYPE, Roster, RosterKey, SignedNote, SignedReceipts,
    UnixMillis, pb,
};
use isop_export::{ExportError, ExportReader, RecordOrder};
use prost::Message;

use crate::finding::{FindingKind, Findings};
use crate::{AuditError, Progress};

/// Report progress every this many bytes.
const PROGRESS_EVERY: u64 = 4 << 20;

/// One record of an export, in its place.
pub(crate) enum Event {
    /// A roster version the node held.
    Roster(pb::Envelope),
    /// An entry, at its position in the file.
    Entry(Box<EntryRec>),
    /// A disclosure of the entry before it.
    Disclosure { offset: u64, bytes: Bytes },
    /// An erased disclosure of the entry before it.
    Erased {
        offset: u64,
        erased: pb::ErasedDisclosure,
    },
    /// A checkpoint of the origin's log.
    Checkpoint { offset: u64, note: Bytes },
    /// A delivery still in the outbox.
    Pending {
        offset: u64,
        pending: pb::PendingDelivery,
    },
}

/// An entry and where it is.
pub(crate) struct EntryRec {
    /// Its position: the number of entries before it in the file.
    pub(crate) position: u64,
    pub(crate) offset: u64,
    pub(crate) bytes: Bytes,
    /// The decoded entry, or why it does not decode.
    pub(crate) entry: Result<pb::LogEntry, String>,
}

/// Walks an export's records, checking their order and the trailer. Every
/// problem with the file's structure is a finding; reading stops at the
/// first record that cannot be read.
pub(crate) struct Walker<'p, R> {
    rd: ExportReader<R>,
    pub(crate) header: pb::ExportHeader,
    pub(crate) origin: OrgId,
    order: RecordOrder,
    /// Whether the walk is over (the trailer, or where the file stops
    /// making sense).
    done: bool,
    /// Whether a valid trailer ended the file.
    pub(crate) complete: bool,
    /// The trailer's root, once read.
    pub(crate) trailer_root: Option<Bytes>,
    progress: Option<Progress<'p>>,
    reported: u64,
}

fn not_export(e: ExportError) -> AuditError {
    match e {
        ExportError::Io { offset, source } => AuditError::Io { offset, source },
        ExportError::Format {
            record,
            offset,
            why,
        } => AuditError::NotAnExport {
            record,
            offset,
            why,
        },
        other => AuditError::NotAnExport {
            record: 0,
            offset: 0,
            why: other.to_string(),
        },
    }
}

impl<'p, R: Read> Walker<'p, R> {
    /// Reads the header; a file that does not start with one is not an export.
    pub(crate) fn open(r: R, progress: Option<Progress<'p>>) -> Result<Self, AuditError> {
        let mut rd = ExportReader::new(r);
        let header = rd.header().map_err(not_export)?;
        let origin = OrgId::new(&header.origin).map_err(|e| AuditError::NotAnExport {
            record: 0,
            offset: 0,
            why: format!("header origin: {e}"),
        })?;
        Ok(Self {
            rd,
            header,
            origin,
            order: RecordOrder::new(),
            done: false,
            complete: false,
            trailer_root: None,
            progress,
            reported: 0,
        })
    }

    /// Entry records read so far.
    pub(crate) fn entries(&self) -> u64 {
        self.order.entries()
    }

    fn tick(&mut self) {
        let at = self.rd.offset();
        if at - self.reported >= PROGRESS_EVERY {
            self.reported = at;
            if let Some(p) = self.progress.as_mut() {
                p(at);
            }
        }
    }

    /// The next record, or `None` at the end (after the trailer, or where
    /// the file stops making sense, which is a finding).
    pub(crate) fn next(
        &mut self,
        tree_root: impl FnOnce() -> [u8; 32],
        f: &mut Findings,
    ) -> Result<Option<Event>, AuditError> {
        if self.done {
            return Ok(None);
        }
        self.tick();
        let (record, offset) = (self.rd.record_number(), self.rd.offset());
        let rec = match self.rd.next_record() {
            Ok(Some((_, rec))) => rec,
            Ok(None) => {
                f.add(
                    FindingKind::Truncated,
                    Some(self.order.entries()),
                    Some(offset),
                    format!(
                        "the file ends after {} entries ({record} records) without a trailer",
                        self.order.entries()
                    ),
                );
                self.done = true;
                return Ok(None);
            }
            Err(ExportError::Io { offset, source }) => {
                return Err(AuditError::Io { offset, source });
            }
            Err(e) => {
                let kind = if e.to_string().contains("truncated") {
                    FindingKind::Truncated
                } else {
                    FindingKind::FileMalformed
                };
                f.add(
                    kind,
                    Some(self.order.entries()),
                    Some(offset),
                    format!("after {} entries: {e}", self.order.entries()),
                );
                self.done = true;
                return Ok(None);
            }
        };
        let entries = self.order.entries();
        if let Err(why) = self.order.take(&rec) {
            f.add(
                FindingKind::RecordOutOfOrder,
                Some(entries),
                Some(offset),
                format!("record {record}: {why}"),
            );
        }
        Ok(Some(match rec {
            // Reported above: the walk goes on with the record after it.
            Rec::Header(_) => return self.next(tree_root, f),
            Rec::Roster(env) => Event::Roster(env),
            Rec::Entry(bytes) => {
                let position = entries;
                let entry = pb::LogEntry::decode(bytes.as_ref()).map_err(|e| e.to_string());
                Event::Entry(Box::new(EntryRec {
                    position,
                    offset,
                    bytes,
                    entry,
                }))
            }
            Rec::Disclosure(bytes) => Event::Disclosure { offset, bytes },
            Rec::Erased(erased) => Event::Erased { offset, erased },
            Rec::Checkpoint(c) => Event::Checkpoint {
                offset,
                note: c.note,
            },
            Rec::Pending(pending) => Event::Pending { offset, pending },
            Rec::Trailer(t) => {
                self.done = true;
                self.complete = true;
                let mut bad = self.order.trailer_mismatches(&t, &self.header, record);
                if t.root.as_ref() != tree_root() {
                    bad.push("the trailer's root is not the root of the entries".into());
                }
                if !bad.is_empty() {
                    f.add(
                        FindingKind::TrailerMismatch,
                        None,
                        Some(offset),
                        bad.join("; "),
                    );
                }
                self.trailer_root = Some(t.root);
                if let Err(e) = self.rd.end() {
                    f.add(
                        FindingKind::RecordOutOfOrder,
                        None,
                        Some(self.rd.offset()),
                        e.to_string(),
                    );
                }
                return Ok(None);
            }
        }))
    }
}

/// What an entry records, decoded but not yet trusted: signatures are
/// checked by the caller.
pub(crate) enum Content {
    Notice {
        env: pb::Envelope,
        notice: Box<Notice>,
    },
    /// One receipt, or a list answering a batch, under one signature.
    Receipts {
        env: pb::Envelope,
        receipts: SignedReceipts,
    },
    Roster(pb::Envelope),
    Cosigned {
        note: SignedNote,
        checkpoint: Checkpoint,
    },
    Erasure(pb::Erasure),
    /// An access through the node's local API.
    Access(pb::Access),
    /// A private matching run.
    Match(Box<pb::MatchRun>),
    /// A delivery of the notice logged at `notice_index` to `recipient`
    /// given up on.
    Failed {
        notice_index: u64,
        recipient: String,
    },
    /// Disclosures a later copy added to the notice logged at `notice_index`.
    Added {
        notice_index: u64,
        env: pb::Envelope,
        notice: Box<Notice>,
    },
}

/// Reads an entry's record.
pub(crate) fn content(entry: &pb::LogEntry) -> Result<Content, String> {
    use pb::log_entry::Record;
    match &entry.record {
        Some(Record::Envelope(bytes)) => {
            let env = pb::Envelope::decode(bytes.as_ref())
                .map_err(|e| format!("the envelope does not decode: {e}"))?;
            match env.payload_type.as_str() {
                NOTICE_PAYLOAD_TYPE => {
                    let (env, notice) = notice_of(env)?;
                    Ok(Content::Notice {
                        env,
                        notice: Box::new(notice),
                    })
                }
                RECEIPT_PAYLOAD_TYPE | RECEIPTS_PAYLOAD_TYPE => {
                    let receipts = SignedReceipts::open(&env).map_err(|e| e.to_string())?;
                    Ok(Content::Receipts { env, receipts })
                }
                ROSTER_PAYLOAD_TYPE => Ok(Content::Roster(env)),
                other => Err(format!("an envelope of unknown payload type {other:?}")),
            }
        }
        Some(Record::CosignedCheckpoint(bytes)) => {
            let note = SignedNote::parse(bytes).map_err(|e| e.to_string())?;
            let checkpoint = Checkpoint::parse(note.text()).map_err(|e| e.to_string())?;
            Ok(Content::Cosigned { note, checkpoint })
        }
        Some(Record::Erasure(e)) => Ok(Content::Erasure(e.clone())),
        Some(Record::Access(a)) => Ok(Content::Access(a.clone())),
        Some(Record::MatchRun(m)) => Ok(Content::Match(Box::new(m.clone()))),
        Some(Record::DeliveryFailed(f)) => Ok(Content::Failed {
            notice_index: f.notice_index,
            recipient: f.recipient.clone(),
        }),
        Some(Record::DisclosuresAdded(a)) => {
            let (env, notice) = pb::Envelope::decode(a.envelope.as_ref())
                .map_err(|e| format!("the envelope does not decode: {e}"))
                .and_then(notice_of)
                .map_err(|why| format!("the notice disclosures are added to: {why}"))?;
            Ok(Content::Added {
                notice_index: a.notice_index,
                env,
                notice: Box::new(notice),
            })
        }
        None => Err("the entry records nothing".into()),
    }
}

/// The notice a notice envelope carries.
fn notice_of(env: pb::Envelope) -> Result<(pb::Envelope, Notice), String> {
    isop_core::check_shape(&env, NOTICE_PAYLOAD_TYPE).map_err(|e| e.to_string())?;
    let notice = Notice::decode(&env.payload).map_err(|e| e.to_string())?;
    Ok((env, notice))
}

/// The org whose log a checkpoint origin line names.
pub(crate) fn checkpoint_org(c: &Checkpoint) -> Option<OrgId> {
    c.origin
        .strip_prefix("isop.log/")
        .and_then(|o| OrgId::new(o).ok())
}

/// The roster versions an export carries, and which one is in force.
pub(crate) struct Rosters {
    key: RosterKey,
    /// Every valid version seen, oldest first.
    versions: Vec<Arc<Roster>>,
    /// The version the log last took into force (a LOCAL roster entry).
    current: Option<Arc<Roster>>,
}

/// The most roster versions kept.
const MAX_ROSTERS: usize = 4096;

impl Rosters {
    pub(crate) fn new(key: RosterKey) -> Self {
        Self {
            key,
            versions: Vec::new(),
            current: None,
        }
    }

    /// Verifies a roster envelope and keeps it.
    /// The name of the roster key rosters are checked against.
    pub(crate) fn key_name(&self) -> &str {
        &self.key.name
    }

    pub(crate) fn add(&mut self, env: &pb::Envelope) -> Result<Arc<Roster>, String> {
        let r = Roster::verify(env, &self.key).map_err(|e| e.to_string())?;
        if let Some(same) = self.versions.iter().find(|v| v.version() == r.version()) {
            return Ok(same.clone());
        }
        if self.versions.len() >= MAX_ROSTERS {
            return Err(format!("more than {MAX_ROSTERS} roster versions"));
        }
        let r = Arc::new(r);
        let at = self.versions.partition_point(|v| v.version() < r.version());
        self.versions.insert(at, r.clone());
        Ok(r)
    }

    /// A LOCAL roster entry: this version is in force from here on. Going
    /// back in version is an error.
    pub(crate) fn take_into_force(&mut self, env: &pb::Envelope) -> Result<(), String> {
        let r = self.add(env)?;
        if let Some(c) = self.current.as_ref().filter(|c| r.version() < c.version()) {
            return Err(format!(
                "roster version {} taken into force after version {}",
                r.version(),
                c.version()
            ));
        }
        self.current = Some(r);
        Ok(())
    }

    /// The roster in force for an entry appended at `at`: the last one the
    /// log took into force, or (for a log that records none) the newest
    /// version issued by then, or the oldest known.
    pub(crate) fn at(&self, at: UnixMillis) -> Option<Arc<Roster>> {
        self.current.clone().or_else(|| {
            self.versions
                .iter()
                .rev()
                .find(|r| r.issued_at() <= at)
                .or(self.versions.first())
                .cloned()
        })
    }

    /// Checks a note's signature lines against every roster version,
    /// newest first: the orgs whose line verifies, and each line by a
    /// roster key that does not.
    pub(crate) fn note_signers(&self, note: &SignedNote) -> NoteSigners {
        note.signers(self.versions.iter().rev().map(|r| &**r))
    }
}
