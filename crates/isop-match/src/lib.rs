//! Private matching: one member learns which of its indicators another
//! member also holds, and nothing about the rest; the other learns how
//! many were asked.
//!
//! [`item`] fixes the form every indicator is matched under, [`psi`] the
//! two sides of a run (an OPRF-based private set intersection over
//! ristretto255, RFC 9497), and [`query_commitment`] what both logs record
//! of the query. The protocol, its messages and its security argument are
//! in `docs/MATCHING.md`.

pub mod item;
pub mod psi;

pub use item::{Item, ItemError, held_forms};
pub use psi::{Answerer, Asker, ELEMENT_LEN, Error, Outcome, SUITE, Sources, TAG_LEN};

use sha2::{Digest, Sha256};

/// The commitment to a query set that both sides log: SHA-256 over the
/// tag `isop-match-v1 query`, a zero byte, a 32-byte random `salt` (kept
/// in the asking side's log only), and each distinct item's OPRF input
/// ([`Item::input`]) in ascending byte order, each preceded by its length
/// as a 4-byte big-endian number. With the salt and the list, anyone can
/// check the commitment; without the salt, the commitment says nothing
/// about the list, even to someone who guesses it.
pub fn query_commitment<'a>(
    items: impl IntoIterator<Item = &'a Item>,
    salt: &[u8; 32],
) -> [u8; 32] {
    let mut inputs: Vec<Vec<u8>> = items.into_iter().map(Item::input).collect();
    inputs.sort_unstable();
    inputs.dedup();
    let mut h = Sha256::new();
    h.update(b"isop-match-v1 query\0");
    h.update(salt);
    for input in &inputs {
        h.update((input.len() as u32).to_be_bytes());
        h.update(input);
    }
    h.finalize().into()
}
