//! The store's error type.

use isop_core::LogIndex;

/// Everything that can go wrong in the store. Each message names what and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be opened or read or written.
    #[error("database error in {path}: {source}")]
    Db {
        /// The store's directory.
        path: String,
        /// sled's error.
        source: sled::Error,
    },
    /// The store was written by a newer isop, in a format this one does
    /// not know.
    #[error(
        "store {path} is format {found}, written by a newer isop; this isop opens format {supported}: run the newer isop (a store is never converted back)"
    )]
    NewerFormat {
        /// The store's directory.
        path: String,
        /// The store's format.
        found: u32,
        /// The format this isop opens.
        supported: u32,
    },
    /// Another process holds the database.
    #[error("database {0} is locked by another process (is a node already running on it?)")]
    Locked(String),
    /// Stored data contradicts itself at an index.
    #[error("store corrupt at index {index}: {why}")]
    Corrupt {
        /// The first index affected.
        index: LogIndex,
        /// What is wrong.
        why: String,
    },
    /// A stored tree hash differs from the one recomputed from the entries.
    #[error("tree hash mismatch at index {index}: {why}")]
    TreeMismatch {
        /// The first index the bad hash covers.
        index: LogIndex,
        /// Which hash.
        why: String,
    },
    /// A core check failed (decoding, a proof range, a signature).
    #[error(transparent)]
    Core(#[from] isop_core::Error),
    /// An earlier write failed; the store takes no more writes until reopened.
    #[error("the store failed earlier and must be reopened: {0}")]
    Failed(String),
    /// The store's filesystem has less space free than the store keeps in
    /// reserve: nothing was written. Retry once space is freed; the store
    /// resumes by itself.
    #[error(
        "disk full: {available} bytes free on the filesystem of {path}, under the {reserve} bytes the store keeps free; nothing was written (free space and it resumes by itself)"
    )]
    DiskFull {
        /// The store's directory.
        path: String,
        /// Bytes available.
        available: u64,
        /// The reserve (`min_free_bytes`).
        reserve: u64,
    },
    /// The store's writer has shut down.
    #[error("the store is closed")]
    Closed,
    /// An entry to append is unusable.
    #[error("invalid entry: {0}")]
    InvalidEntry(String),
    /// A read or write of an export file failed.
    #[error("export I/O at byte {offset}: {source}")]
    ExportIo {
        /// Byte offset in the file.
        offset: u64,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An export file is malformed, truncated, or fails a check.
    #[error("export record {record} at byte {offset}: {why}")]
    Export {
        /// Number of the record (0 is the header).
        record: u64,
        /// Byte offset of the record.
        offset: u64,
        /// What is wrong.
        why: String,
    },
    /// Import needs an empty store.
    #[error("cannot import into {0}: the store is not empty")]
    NotEmpty(String),
}

pub(crate) fn db_err(path: &std::path::Path) -> impl Fn(sled::Error) -> Error + '_ {
    move |source| Error::Db {
        path: path.display().to_string(),
        source,
    }
}
