//! The key layout. Everything lives in one sled tree so that each group
//! commit is one atomic batch. Keys start with a one-byte prefix:
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `E` | index (u64 BE) | the LogEntry bytes (the leaf) |
//! | `N` | level (u8), page (u64 BE) | up to 16 hashes of perfect subtrees of 2^level leaves (see `nodes`) |
//! | `M` | name | metadata (`size`: u64 BE; `format`: u32 BE, [`crate::STORE_FORMAT`]) |
//! | `D` | entry index (u64 BE), digest (32) | the disclosure bytes |
//! | `R` | entry index (u64 BE), digest (32) | an encoded `ErasedDisclosure` |
//! | `I` | notice id (16) | index of the notice's first entry |
//! | `C` | case ref, 0x00, index | (empty) |
//! | `X` | indicator, 0x00, index | (empty) |
//! | `A` | author org, 0x00, index | (empty) |
//! | `T` | id of a notice answered (16), 0x00, index | (empty): the entry answers it (in reply, or naming it in its body) |
//! | `O` | recipient org, 0x00, index | outbox state |
//! | `B` | index | inbox flag: 0 unread, 1 read |
//! | `Y` | peer org | sync cursor (u64 BE) |
//! | `H` | webhook name | the next entry to tell it of (u64 BE) |
//! | `K` | tree size (u64 BE) | signed checkpoint note, with cosignatures |
//! | `S` | roster version (u64 BE) | roster envelope bytes |
//! | `W` | peer org | the last checkpoint of the peer's log this node witnessed (signed note) |
//! | `V` | outbound entry (u64 BE), recipient org | delivery outcome (1 accepted, 0 rejected, 2 given up), the receipt's or `DeliveryFailed` entry (u64 BE) |
//! | `L` | notice entry (u64 BE), `DisclosuresAdded` entry (u64 BE) | (empty): disclosures a later copy of the notice added |
//! | `P` | run (u32 BE), first posting's prefix and name | a block of index postings (see `postings`) |

pub(crate) const ENTRY: u8 = b'E';
pub(crate) const NODE: u8 = b'N';
pub(crate) const META_SIZE: &[u8] = b"Msize";
pub(crate) const META_FORMAT: &[u8] = b"Mformat";
pub(crate) const DISCLOSURE: u8 = b'D';
pub(crate) const ERASED: u8 = b'R';
pub(crate) const NOTICE: u8 = b'I';
pub(crate) const CASE: u8 = b'C';
pub(crate) const INDICATOR: u8 = b'X';
pub(crate) const AUTHOR: u8 = b'A';
pub(crate) const OUTBOX: u8 = b'O';
pub(crate) const INBOX: u8 = b'B';
pub(crate) const CURSOR: u8 = b'Y';
pub(crate) const CHECKPOINT: u8 = b'K';
pub(crate) const ROSTER: u8 = b'S';
pub(crate) const POSTINGS: u8 = b'P';
pub(crate) const DELIVERY: u8 = b'V';
pub(crate) const WITNESSED: u8 = b'W';
pub(crate) const ADDED: u8 = b'L';
/// A notice's replies: in reply to it, or naming it in the body (the
/// referral a status answers or a takedown rests on, the notice retracted).
pub(crate) const REPLY: u8 = b'T';
/// Where each webhook stands in the log.
pub(crate) const NOTIFY: u8 = b'H';

pub(crate) fn entry(index: u64) -> [u8; 9] {
    prefixed_u64(ENTRY, index)
}

pub(crate) fn prefixed_u64(prefix: u8, v: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&v.to_be_bytes());
    k
}

pub(crate) fn prefixed(prefix: u8, body: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + body.len());
    k.push(prefix);
    k.extend_from_slice(body);
    k
}

/// The value under a `NOTICE` key: the notice's payload digest and the
/// index of the first entry that logged it (`digest || index`). Stores
/// written before digests were kept hold the index alone.
pub(crate) fn notice_value(digest: Option<&[u8; 32]>, index: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(40);
    if let Some(d) = digest {
        v.extend_from_slice(d);
    }
    v.extend_from_slice(&index.to_be_bytes());
    v
}

/// What a `NOTICE` value says: the notice's payload digest (if kept) and
/// its entry's index.
pub(crate) type HeldNotice = (Option<[u8; 32]>, u64);

/// A `NOTICE` value read back.
pub(crate) fn parse_notice_value(v: &[u8]) -> Option<HeldNotice> {
    let index = tail_u64(v)?;
    let digest = match v.len() {
        40 => v[..32].try_into().ok(),
        _ => None,
    };
    Some((digest, index))
}

/// `prefix || index || digest`: a disclosure (or its erasure) of entry `index`.
pub(crate) fn disclosure(prefix: u8, index: u64, digest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.push(prefix);
    k.extend_from_slice(&index.to_be_bytes());
    k.extend_from_slice(digest);
    k
}

/// The digest a [`disclosure`] key ends with.
pub(crate) fn disclosure_digest(key: &[u8]) -> Option<[u8; 32]> {
    key.get(9..41)?.try_into().ok()
}

/// `L || notice || addition`: entry `addition` added disclosures to the
/// notice logged at entry `notice`.
pub(crate) fn added(notice: u64, addition: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[..9].copy_from_slice(&prefixed_u64(ADDED, notice));
    k[9..].copy_from_slice(&addition.to_be_bytes());
    k
}

/// `V || notice || recipient`: the outcome of one delivery.
pub(crate) fn delivery(notice: u64, recipient: &isop_core::OrgId) -> Vec<u8> {
    let mut k = prefixed_u64(DELIVERY, notice).to_vec();
    k.extend_from_slice(recipient.as_str().as_bytes());
    k
}

/// `prefix || name || 0x00 || index`: a multimap key, scanned by `prefix || name || 0x00`.
pub(crate) fn multi(prefix: u8, name: &[u8], index: u64) -> Vec<u8> {
    let mut k = multi_prefix(prefix, name);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

pub(crate) fn multi_prefix(prefix: u8, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 10);
    k.push(prefix);
    k.extend_from_slice(name);
    k.push(0);
    k
}

/// The trailing u64 of a key or value.
pub(crate) fn tail_u64(bytes: &[u8]) -> Option<u64> {
    let n = bytes.len();
    if n < 8 {
        return None;
    }
    bytes[n - 8..].try_into().ok().map(u64::from_be_bytes)
}
