//! The export file format: a sequence of records, each a 4-byte big-endian
//! length and an encoded `isop.v1.ExportRecord` (docs/PROTOCOL.md §11).
//!
//! This crate only frames records, over any `Read` or `Write`; what they
//! must contain, and in which order, is checked by the store's import and
//! by the auditor. It is apart from `isop-core`, which does no I/O.

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
