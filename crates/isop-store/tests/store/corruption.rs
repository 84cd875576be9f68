//! A corrupt database stops the open (or `verify_all`) with an error that
//! names the index, and nothing is truncated or repaired.

use isop_core::{Checkpoint, LogIndex};
use isop_store::*;

use crate::fixture::*;

fn entry_key(i: u64) -> Vec<u8> {
    let mut k = vec![b'E'];
    k.extend_from_slice(&i.to_be_bytes());
    k
}

/// Zeroes the stored hash of the perfect subtree of 2^level leaves at
/// `start` (pages of 16 hashes per level: key `N`, level, page number).
fn zero_node(t: &sled::Tree, level: u8, start: u64) {
    let pos = start >> level;
    let mut k = vec![b'N', level];
    k.extend_from_slice(&(pos / 16).to_be_bytes());
    let mut page = t.get(&k).unwrap().unwrap().to_vec();
    let slot = (pos % 16) as usize * 32;
    page[slot..slot + 32].fill(0);
    t.insert(k, page).unwrap();
}

fn store_of(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for r in store.append_many((0..n).map(|i| filler(i, 80))) {
        r.unwrap();
    }
    store.close().unwrap();
    dir
}

fn open_err(dir: &std::path::Path) -> Error {
    Store::open(&StoreConfig::new(dir)).unwrap_err()
}

#[test]
fn a_flipped_entry_byte_is_named() {
    let dir = store_of(20);
    tamper(dir.path(), |t| {
        let mut v = t.get(entry_key(5)).unwrap().unwrap().to_vec();
        let mid = v.len() / 2;
        v[mid] ^= 1;
        t.insert(entry_key(5), v).unwrap();
    });
    let e = open_err(dir.path());
    assert!(
        matches!(
            e,
            Error::TreeMismatch {
                index: LogIndex(5),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("index 5"), "{e}");
}

#[test]
fn a_missing_entry_is_named_and_nothing_is_truncated() {
    let dir = store_of(20);
    tamper(dir.path(), |t| drop(t.remove(entry_key(7)).unwrap()));
    let e = open_err(dir.path());
    assert!(
        matches!(
            e,
            Error::Corrupt {
                index: LogIndex(7),
                ..
            }
        ),
        "{e}"
    );
    // Entries after the gap are still there.
    tamper(dir.path(), |t| assert_eq!(t.scan_prefix(b"E").count(), 19));

    let dir = store_of(20);
    tamper(dir.path(), |t| drop(t.remove(entry_key(19)).unwrap()));
    let e = open_err(dir.path());
    assert!(
        matches!(
            e,
            Error::Corrupt {
                index: LogIndex(19),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn an_entry_with_the_wrong_index_or_garbage_is_named() {
    let dir = store_of(20);
    tamper(dir.path(), |t| {
        let v = t.get(entry_key(4)).unwrap().unwrap();
        t.insert(entry_key(3), v).unwrap();
    });
    let e = open_err(dir.path());
    assert!(
        matches!(e, Error::Corrupt { index: LogIndex(3), ref why } if why.contains("claims index 4")),
        "{e}"
    );

    let dir = store_of(20);
    tamper(dir.path(), |t| {
        drop(t.insert(entry_key(12), &b"\xff\xff\xff"[..]).unwrap())
    });
    let e = open_err(dir.path());
    assert!(
        matches!(e, Error::Corrupt { index: LogIndex(12), ref why } if why.contains("decode")),
        "{e}"
    );
}

#[test]
fn a_bad_interior_node_is_named() {
    let dir = store_of(20);
    tamper(dir.path(), |t| zero_node(t, 2, 8));
    let e = open_err(dir.path());
    assert!(
        matches!(e, Error::TreeMismatch { index: LogIndex(8), ref why } if why.contains("level 2")),
        "{e}"
    );
}

#[test]
fn verify_all_reaches_what_the_tail_window_does_not() {
    let fed = fed();
    let dir = store_of(50);
    open(dir.path()).sign_checkpoint(&fed.agency).unwrap();
    tamper(dir.path(), |t| {
        let mut v = t.get(entry_key(2)).unwrap().unwrap().to_vec();
        let mid = v.len() / 2;
        v[mid] ^= 0x20;
        t.insert(entry_key(2), v).unwrap();
    });
    let mut config = StoreConfig::new(dir.path());
    config.verify_tail = 4;
    let store =
        Store::open(&config).expect("the tail is intact and the tree matches the checkpoint");
    let e = store.verify_all().unwrap_err();
    assert!(
        matches!(
            e,
            Error::TreeMismatch {
                index: LogIndex(2),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_tree_that_disagrees_with_the_signed_checkpoint_is_refused() {
    let fed = fed();
    let dir = store_of(16);
    open(dir.path()).sign_checkpoint(&fed.agency).unwrap();
    // The entries and nodes agree with each other, but not with what the
    // node signed for size 16.
    let other = Checkpoint::new(&org("KR-KNPA"), 16, [1; 32])
        .sign(&fed.agency)
        .unwrap();
    tamper(dir.path(), |t| {
        let mut k = vec![b'K'];
        k.extend_from_slice(&16u64.to_be_bytes());
        t.insert(k, other.to_bytes()).unwrap();
    });
    let e = open_err(dir.path());
    assert!(
        matches!(e, Error::TreeMismatch { index: LogIndex(15), ref why } if why.contains("signed checkpoint")),
        "{e}"
    );
}

#[test]
fn a_store_in_use_is_refused_as_locked() {
    let dir = store_of(1);
    let _running = open(dir.path());
    let e = open_err(dir.path());
    assert!(matches!(e, Error::Locked(_)), "{e}");
}

#[test]
fn a_path_that_is_not_a_database_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-db");
    std::fs::write(&file, b"hello").unwrap();
    let e = open_err(&file);
    assert!(matches!(e, Error::Db { .. }), "{e}");
    assert!(e.to_string().contains("not-a-db"), "{e}");
}

/// A store of a newer format is refused by name, and left as it was; one
/// made before formats were recorded is format 1.
#[test]
fn a_store_of_a_newer_format_is_refused_by_name() {
    let dir = store_of(3);
    let next = STORE_FORMAT + 1;
    tamper(dir.path(), |t| {
        t.insert(b"Mformat", &next.to_be_bytes()[..]).unwrap();
    });
    let e = open_err(dir.path());
    assert!(
        matches!(e, Error::NewerFormat { found, .. } if found == next),
        "{e}"
    );
    for says in ["is format 2", "written by a newer isop", "opens format 1"] {
        assert!(e.to_string().contains(says), "{e}");
    }
    tamper(dir.path(), |t| {
        assert_eq!(
            t.get(b"Mformat").unwrap().unwrap().as_ref(),
            next.to_be_bytes()
        );
        t.remove(b"Mformat").unwrap();
    });
    let store = open(dir.path());
    assert_eq!(store.size(), 3);
    store.close().unwrap();
    tamper(dir.path(), |t| {
        assert_eq!(
            t.get(b"Mformat").unwrap().unwrap().as_ref(),
            STORE_FORMAT.to_be_bytes()
        );
    });
}
