//! The export file format: a sequence of records, each a 4-byte big-endian
//! length and an encoded `isop.v1.ExportRecord` (docs/PROTOCOL.md §11).
//!
//! This crate frames records, over any `Read` or `Write`, and holds the
//! file's grammar once for every reader (the store's import and the
//! auditor): the header ([`ExportReader::header`]), the order of the
//! sections ([`RecordOrder`]), the trailer's counts
//! ([`RecordOrder::trailer_mismatches`]) and the end of the file
//! ([`ExportReader::end`]). What records mean (signatures, the tree, which
//! entry holds a disclosure) is the readers' to check. It is apart from
//! `isop-core`, which does no I/O.

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::{BufWriter, Read, Write};

use prost::Message;

use isop_proto::v1 as pb;
use pb::export_record::Record;

/// The export format identifier in the header.
pub const EXPORT_FORMAT: &str = "isop-export/1";

/// The version [`EXPORT_FORMAT`] names. A later isop keeps reading every
/// earlier version (the fixtures in `tests/federation/fixtures`).
pub const EXPORT_VERSION: u32 = 1;
/// The largest record accepted when reading, in bytes.
pub const MAX_EXPORT_RECORD: u32 = 64 << 20;

/// A malformed or unreadable export file. Every error names the record and
/// the byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading or writing the file failed.
    #[error("export I/O at byte {offset}: {source}")]
    Io {
        /// Byte offset in the file.
        offset: u64,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is malformed, truncated, or fails a check.
    #[error("export record {record} at byte {offset}: {why}")]
    Format {
        /// Number of the record (0 is the header).
        record: u64,
        /// Byte offset of the record.
        offset: u64,
        /// What is wrong.
        why: String,
    },
}

/// Reads an export file record by record, never allocating more than the
/// bytes actually present (and at most [`MAX_EXPORT_RECORD`]).
#[derive(Debug)]
pub struct ExportReader<R> {
    r: R,
    offset: u64,
    record: u64,
}

impl<R: Read> ExportReader<R> {
    /// Starts reading at the beginning of the file.
    pub fn new(r: R) -> Self {
        Self {
            r,
            offset: 0,
            record: 0,
        }
    }

    /// The record number the next call reads (0 is the header).
    pub fn record_number(&self) -> u64 {
        self.record
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// An error about the next record.
    pub fn fail(&self, why: impl Into<String>) -> ExportError {
        ExportError::Format {
            record: self.record,
            offset: self.offset,
            why: why.into(),
        }
    }

    /// The next record with its byte offset, or `None` at a clean end of
    /// file. A record cut short, too long, or not decodable is an error.
    pub fn next_record(&mut self) -> Result<Option<(u64, Record)>, ExportError> {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.r.read(&mut len[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(self.fail(format!("truncated: {got} of 4 length bytes"))),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ExportError::Io {
                        offset: self.offset,
                        source,
                    });
                }
            }
        }
        let len = u32::from_be_bytes(len);
        if len > MAX_EXPORT_RECORD {
            return Err(self.fail(format!(
                "record of {len} bytes exceeds the {MAX_EXPORT_RECORD}-byte limit"
            )));
        }
        // Grows with the bytes read, so a lying length costs nothing.
        let mut body = Vec::with_capacity((len as usize).min(1 << 16));
        (&mut self.r)
            .take(u64::from(len))
            .read_to_end(&mut body)
            .map_err(|source| ExportError::Io {
                offset: self.offset,
                source,
            })?;
        if body.len() < len as usize {
            return Err(self.fail(format!(
                "truncated: record of {len} bytes, only {} present",
                body.len()
            )));
        }
        let rec = pb::ExportRecord::decode(body.as_slice())
            .map_err(|e| self.fail(format!("does not decode: {e}")))?
            .record
            .ok_or_else(|| self.fail("record is empty"))?;
        let at = self.offset;
        self.offset += 4 + u64::from(len);
        self.record += 1;
        Ok(Some((at, rec)))
    }
}

impl<R: Read> ExportReader<R> {
    /// Reads the header, which must be the first record and name this
    /// format: a file that does not start so is not an export.
    pub fn header(&mut self) -> Result<pb::ExportHeader, ExportError> {
        let header = match self.next_record()? {
            Some((_, Record::Header(h))) => h,
            Some(_) => {
                return Err(ExportError::Format {
                    record: 0,
                    offset: 0,
                    why: "the first record is not a header".into(),
                });
            }
            None => return Err(self.fail("the file is empty")),
        };
        if header.format != EXPORT_FORMAT {
            let newer = header
                .format
                .strip_prefix("isop-export/")
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|v| v > EXPORT_VERSION);
            return Err(ExportError::Format {
                record: 0,
                offset: 0,
                why: if newer {
                    format!(
                        "format {:?} is from a newer isop; this isop reads {EXPORT_FORMAT:?}: verify it with the isop that wrote it, or a later one",
                        header.format
                    )
                } else {
                    format!("format {:?} is not {EXPORT_FORMAT:?}", header.format)
                },
            });
        }
        Ok(header)
    }

    /// After the trailer: the file must end there.
    pub fn end(&mut self) -> Result<(), ExportError> {
        let at = self.offset;
        match self.next_record() {
            Ok(None) => Ok(()),
            _ => Err(ExportError::Format {
                record: self.record,
                offset: at,
                why: "data after the trailer".into(),
            }),
        }
    }
}

/// The sections of an export, in the order they come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// The roster versions the node held.
    Rosters,
    /// The entries, each followed by its disclosures and erasures, and by
    /// the checkpoints at the size it brings the log to.
    Entries,
    /// The deliveries still pending in the outbox.
    Pending,
    /// The trailer has been read: nothing may follow.
    Done,
}

/// The order of an export's records after its header (docs/PROTOCOL.md
/// §11): rosters, then entries with what follows each, then pending
/// deliveries, then the trailer. Every reader takes each record through
/// it, so the order is enforced in one place.
#[derive(Debug)]
pub struct RecordOrder {
    section: Section,
    entries: u64,
}

impl Default for RecordOrder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordOrder {
    /// The order right after the header.
    pub fn new() -> Self {
        Self {
            section: Section::Rosters,
            entries: 0,
        }
    }

    /// The section the records so far have reached.
    pub fn section(&self) -> Section {
        self.section
    }

    /// Entry records read so far, in their place or not.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Takes the next record, or says why it may not stand here. A record
    /// refused leaves the section as it was, so that a reader that goes on
    /// judges the next record as if this one had not come (an entry is
    /// counted all the same: it is in the file).
    pub fn take(&mut self, record: &Record) -> Result<(), String> {
        let (section, what) = match record {
            Record::Header(_) => return Err("a second header".into()),
            Record::Roster(_) => (Section::Rosters, "a roster"),
            Record::Entry(_) => (Section::Entries, "an entry"),
            Record::Disclosure(_) => (Section::Entries, "a disclosure"),
            Record::Erased(_) => (Section::Entries, "an erasure"),
            Record::Checkpoint(_) => (Section::Entries, "a checkpoint"),
            Record::Pending(_) => (Section::Pending, "a pending"),
            Record::Trailer(_) => (Section::Done, "a trailer"),
        };
        if self.section == Section::Done {
            return Err("data after the trailer".into());
        }
        self.entries += u64::from(matches!(record, Record::Entry(_)));
        if self.section > section {
            return Err(format!(
                "{what} record after the {:?} section",
                self.section
            ));
        }
        self.section = section;
        Ok(())
    }

    /// What the trailer `t`, read as record number `record`, counts that
    /// the file does not hold: entries, records, or the header's announced
    /// count. The root is the reader's to check, against its own tree.
    pub fn trailer_mismatches(
        &self,
        t: &pb::ExportTrailer,
        header: &pb::ExportHeader,
        record: u64,
    ) -> Vec<String> {
        let mut bad = Vec::new();
        if t.entry_count != self.entries {
            bad.push(format!(
                "the trailer counts {} entries; the file holds {}",
                t.entry_count, self.entries
            ));
        }
        if t.record_count != record {
            bad.push(format!(
                "the trailer counts {} records; the file holds {record}",
                t.record_count
            ));
        }
        if header.entry_count != self.entries {
            bad.push(format!(
                "the header announced {} entries; the file holds {}",
                header.entry_count, self.entries
            ));
        }
        bad
    }
}

/// Writes export records, counting records and bytes.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    w: BufWriter<W>,
    records: u64,
    bytes: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Starts writing at the beginning of the file.
    pub fn new(w: W) -> Self {
        Self {
            w: BufWriter::with_capacity(1 << 20, w),
            records: 0,
            bytes: 0,
        }
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes one record.
    pub fn put(&mut self, record: Record) -> Result<(), ExportError> {
        let body = pb::ExportRecord {
            record: Some(record),
        }
        .encode_to_vec();
        let len = u32::try_from(body.len())
            .ok()
            .filter(|l| *l <= MAX_EXPORT_RECORD)
            .ok_or_else(|| ExportError::Format {
                record: self.records,
                offset: self.bytes,
                why: format!("a record of {} bytes is over the limit", body.len()),
            })?;
        let io = |offset| move |source| ExportError::Io { offset, source };
        self.w
            .write_all(&len.to_be_bytes())
            .map_err(io(self.bytes))?;
        self.w.write_all(&body).map_err(io(self.bytes))?;
        self.records += 1;
        self.bytes += 4 + body.len() as u64;
        Ok(())
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W, ExportError> {
        self.flush()?;
        let offset = self.bytes;
        self.w.into_inner().map_err(|e| ExportError::Io {
            offset,
            source: e.into_error(),
        })
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> Result<(), ExportError> {
        self.w.flush().map_err(|source| ExportError::Io {
            offset: self.bytes,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Record {
        Record::Entry(Vec::new().into())
    }
    fn roster() -> Record {
        Record::Roster(pb::Envelope::default())
    }
    fn pending() -> Record {
        Record::Pending(pb::PendingDelivery::default())
    }
    fn trailer() -> Record {
        Record::Trailer(pb::ExportTrailer::default())
    }

    #[test]
    fn records_come_in_their_sections() {
        let mut order = RecordOrder::new();
        for r in [
            roster(),
            roster(),
            entry(),
            Record::Disclosure(Vec::new().into()),
            Record::Erased(pb::ErasedDisclosure::default()),
            Record::Checkpoint(pb::ExportCheckpoint::default()),
            entry(),
            pending(),
            pending(),
            trailer(),
        ] {
            assert_eq!(order.take(&r), Ok(()), "{r:?}");
        }
        assert_eq!((order.section(), order.entries()), (Section::Done, 2));
        // A file of nothing but its trailer is in order too.
        assert_eq!(RecordOrder::new().take(&trailer()), Ok(()));
    }

    #[test]
    fn a_record_out_of_place_is_named_and_changes_nothing() {
        for (before, wrong, why) in [
            (
                vec![entry()],
                roster(),
                "a roster record after the Entries section",
            ),
            (
                vec![pending()],
                entry(),
                "an entry record after the Pending section",
            ),
            (
                vec![pending()],
                Record::Checkpoint(pb::ExportCheckpoint::default()),
                "a checkpoint record after the Pending section",
            ),
            (
                vec![],
                Record::Header(pb::ExportHeader::default()),
                "a second header",
            ),
            (vec![trailer()], roster(), "data after the trailer"),
        ] {
            let mut order = RecordOrder::new();
            for r in &before {
                order.take(r).unwrap();
            }
            let section = order.section();
            assert_eq!(order.take(&wrong), Err(why.to_string()));
            assert_eq!(order.section(), section, "{why}");
        }
        // An entry out of place is still counted: it is in the file.
        let mut order = RecordOrder::new();
        order.take(&pending()).unwrap();
        assert!(order.take(&entry()).is_err());
        assert_eq!(order.entries(), 1);
    }

    #[test]
    fn the_trailer_counts_what_the_file_holds() {
        let mut order = RecordOrder::new();
        order.take(&entry()).unwrap();
        let header = pb::ExportHeader {
            entry_count: 1,
            ..Default::default()
        };
        let t = pb::ExportTrailer {
            entry_count: 1,
            record_count: 3,
            ..Default::default()
        };
        assert!(order.trailer_mismatches(&t, &header, 3).is_empty());
        let lying = pb::ExportTrailer {
            entry_count: 2,
            record_count: 9,
            ..Default::default()
        };
        let header = pb::ExportHeader {
            entry_count: 5,
            ..Default::default()
        };
        assert_eq!(
            order.trailer_mismatches(&lying, &header, 3),
            [
                "the trailer counts 2 entries; the file holds 1",
                "the trailer counts 9 records; the file holds 3",
                "the header announced 5 entries; the file holds 1",
            ]
        );
    }

    #[test]
    fn the_header_comes_first_and_the_file_ends_at_the_trailer() {
        let write = |records: Vec<Record>| {
            let mut w = ExportWriter::new(Vec::new());
            for r in records {
                w.put(r).unwrap();
            }
            w.into_inner().unwrap()
        };
        let header = Record::Header(pb::ExportHeader {
            format: EXPORT_FORMAT.into(),
            ..Default::default()
        });
        let file = write(vec![header.clone(), trailer(), roster()]);
        let mut rd = ExportReader::new(file.as_slice());
        assert_eq!(rd.header().unwrap().format, EXPORT_FORMAT);
        assert!(matches!(
            rd.next_record(),
            Ok(Some((_, Record::Trailer(_))))
        ));
        assert!(
            rd.end()
                .unwrap_err()
                .to_string()
                .contains("data after the trailer")
        );

        let not_first = write(vec![roster()]);
        let e = ExportReader::new(not_first.as_slice())
            .header()
            .unwrap_err();
        assert!(
            e.to_string().contains("the first record is not a header"),
            "{e}"
        );
        let e = ExportReader::new(&[][..]).header().unwrap_err();
        assert!(e.to_string().contains("the file is empty"), "{e}");
        let other = write(vec![Record::Header(pb::ExportHeader {
            format: "isop-export/0".into(),
            ..Default::default()
        })]);
        let e = ExportReader::new(other.as_slice()).header().unwrap_err();
        assert!(e.to_string().contains("is not \"isop-export/1\""), "{e}");
    }
}
