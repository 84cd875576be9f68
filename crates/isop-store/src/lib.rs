//! The isop node's log on sled: append-only entries and their RFC 6962
//! tree, checkpoints with cosignatures, disclosures by digest, indexes,
//! the outbox, inbox and sync cursors, and export and import of one file.
//!
//! This is the only crate that knows sled. It does not verify signatures
//! of what it is given to append (the node does that); it keeps what it
//! acknowledged, proves it, and refuses to open over data that contradicts
//! itself.
//!
//! ```
//! use isop_store::{Direction, NewEntry, Record, Store, StoreConfig};
//! use isop_core::{LogIndex, UnixMillis, merkle};
//! # fn main() -> Result<(), isop_store::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(&StoreConfig::new(dir.path()))?;
//! let note = bytes::Bytes::from_static(b"isop.log/KR-KNPA\n0\n...\n");
//! let at = store.append(NewEntry::new(UnixMillis(1), Direction::Local, Record::CosignedCheckpoint(note)))?;
//! assert_eq!(at.index(), LogIndex(0));
//! let leaf = merkle::leaf_hash(&store.entry(LogIndex(0))?.unwrap());
//! let proof = store.inclusion_proof(LogIndex(0), 1)?;
//! merkle::verify_inclusion(&leaf, 0, 1, &proof, &store.root(1)?)?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod disclosures;
mod entry;
mod error;
mod export;
mod index;
mod keys;
mod nodes;
mod outbox;
mod postings;
mod store;
mod verify;

pub use disclosures::{DisclosureState, EntryDisclosure};
pub use entry::{Appended, Delivered, Direction, MAX_ENTRY_BYTES, NewEntry, Record};
pub use error::Error;
pub use export::{ExportSummary, ImportSummary};
pub use index::IndexKeys;
pub use outbox::{DeliveryStatus, Due, OutboxItem};
pub use store::{STORE_FORMAT, Store, StoreConfig};
pub use verify::VerifyReport;
