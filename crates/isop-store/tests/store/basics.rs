//! Appends, reads, proofs, dedupe, indexes, outbox, inbox, cursors,
//! checkpoints, erasure, reopening.

use isop_core::merkle::{self, LeafHashSource, MemoryTree};
use isop_core::{Checkpoint, LogIndex, NoteVerifier, NoticeId, UnixMillis, sha256};
use isop_store::*;

use crate::fixture::*;

#[test]
fn proofs_from_the_store_match_a_memory_tree_at_every_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut mem = MemoryTree::new();
    for i in 0..70u64 {
        let a = store.append(filler(i, 20 + (i as usize % 7) * 30)).unwrap();
        assert_eq!(a, Appended::New(LogIndex(i)));
        let bytes = store.entry(LogIndex(i)).unwrap().unwrap();
        mem.push(&bytes);
        let n = i + 1;
        assert_eq!(store.root(n).unwrap(), mem.root(), "root at {n}");
        for m in [0, n / 3, n / 2, n - 1] {
            let p = store.inclusion_proof(LogIndex(m), n).unwrap();
            assert_eq!(p, merkle::inclusion_proof(&mem, m, n).unwrap());
            merkle::verify_inclusion(&mem.leaf_hash(m).unwrap(), m, n, &p, &mem.root()).unwrap();
            let c = store.consistency_proof(m, n).unwrap();
            let old_root = merkle::root(&mem, m).unwrap();
            merkle::verify_consistency(m, n, &old_root, &mem.root(), &c).unwrap();
        }
    }
    assert!(store.root(71).is_err());
    assert!(store.inclusion_proof(LogIndex(70), 70).is_err());
    assert_eq!(store.entries(LogIndex(65), LogIndex(100)).count(), 5);
    assert_eq!(store.entry(LogIndex(70)).unwrap(), None);
    let e = store.log_entry(LogIndex(3)).unwrap().unwrap();
    assert_eq!(e.index, 3);
    assert_eq!(e.direction, isop_core::pb::Direction::Local as i32);
}

#[test]
fn reopening_keeps_everything_and_continues_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let mut mem = MemoryTree::new();
    for round in 0..3u64 {
        let store = open(dir.path());
        assert_eq!(store.size(), round * 13);
        let r = store.append_many((0..13).map(|i| filler(round * 13 + i, 100)));
        for (i, a) in r.into_iter().enumerate() {
            assert_eq!(a.unwrap().index(), LogIndex(round * 13 + i as u64));
        }
        for i in round * 13..(round + 1) * 13 {
            mem.push(&store.entry(LogIndex(i)).unwrap().unwrap());
        }
        assert_eq!(store.root(store.size()).unwrap(), mem.root());
        assert_eq!(store.verify_all().unwrap().root, mem.root());
        store.close().unwrap();
    }
}

#[test]
fn duplicates_indexes_and_inbox() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = referral(&fed, "streamz.example", "CASE-1", 1);
    let b = referral(&fed, "other.example", "CASE-2", 2);
    assert_eq!(
        store.append(inbound(&a)).unwrap(),
        Appended::New(LogIndex(0))
    );
    assert_eq!(
        store.append(inbound(&b)).unwrap(),
        Appended::New(LogIndex(1))
    );
    assert_eq!(
        store.append(inbound(&a)).unwrap(),
        Appended::Duplicate(LogIndex(0))
    );
    // Duplicates racing in one group commit are caught too.
    let c = referral(&fed, "third.example", "CASE-1", 3);
    let r: Vec<_> = store
        .append_many([inbound(&c), inbound(&c), inbound(&b)])
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        r,
        [
            Appended::New(LogIndex(2)),
            Appended::Duplicate(LogIndex(2)),
            Appended::Duplicate(LogIndex(1))
        ]
    );
    assert_eq!(store.size(), 3);

    assert_eq!(
        store.find_notice(&a.notice().id()).unwrap(),
        Some(LogIndex(0))
    );
    assert_eq!(
        store
            .find_notice(&NoticeId::new_v7(NOW, &mut rng(99)))
            .unwrap(),
        None
    );
    assert_eq!(store.by_case("CASE-1").unwrap(), [LogIndex(0), LogIndex(2)]);
    assert_eq!(
        store.by_author(&org("RH-FILMCO")).unwrap(),
        [LogIndex(0), LogIndex(1), LogIndex(2)]
    );
    assert_eq!(
        store.by_indicator("STREAMZ.example.").unwrap(),
        [LogIndex(0)]
    );
    assert_eq!(store.by_indicator("203.0.113.9").unwrap().len(), 3);
    // The wallet travelled in a disclosure this node holds.
    assert_eq!(store.by_indicator(WALLET).unwrap().len(), 3);
    assert!(store.by_indicator("nothing.example").unwrap().is_empty());

    assert_eq!(
        store.inbox(true).unwrap(),
        [
            (LogIndex(0), false),
            (LogIndex(1), false),
            (LogIndex(2), false)
        ]
    );
    store.mark_read(LogIndex(1)).unwrap();
    assert_eq!(store.inbox(true).unwrap().len(), 2);
    assert_eq!(store.inbox(false).unwrap()[1], (LogIndex(1), true));
    assert!(store.mark_read(LogIndex(9)).is_err());

    // Disclosures are stored by digest.
    for d in a.disclosures() {
        assert_eq!(
            store.disclosure(LogIndex(0), d.digest()).unwrap(),
            Some(DisclosureState::Held(d.bytes().clone()))
        );
    }
    let entry = store.log_entry(LogIndex(0)).unwrap().unwrap();
    assert_eq!(entry.disclosure_digests.len(), 2);
    let held = store.disclosures_of(LogIndex(0)).unwrap();
    assert_eq!(held.len(), 2);
    for (h, d) in held.iter().zip(a.disclosures()) {
        assert_eq!(&h.digest, d.digest());
        assert_eq!(h.state, Some(DisclosureState::Held(d.bytes().clone())));
    }
    assert_eq!(
        store
            .disclosure(LogIndex(1), a.disclosures()[0].digest())
            .unwrap(),
        None,
        "held per entry"
    );
}

#[test]
fn due_recipients_are_found_by_their_heads() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (kr, hub, gb) = (org("KR-KNPA"), org("INTERPOL-GS"), org("GB-NCA"));
    let mut first = Vec::new();
    for i in 0..4 {
        let s = referral(&fed, "streamz.example", "C", 10 + i);
        let mut e = NewEntry::new(
            NOW,
            Direction::Outbound,
            Record::Envelope(envelope_bytes(&s)),
        );
        e.recipients = vec![kr.clone(), hub.clone(), gb.clone()];
        e.enqueue = e.recipients.clone();
        first.push(store.append(e).unwrap().index());
    }
    assert_eq!(store.outbox().unwrap().len(), 12);
    // Each recipient is named once, in key order, however many items it has.
    assert_eq!(
        store.outbox_due_recipients(NOW).unwrap(),
        [gb.clone(), hub.clone(), kr.clone()]
    );
    // A deferred head holds back its whole outbox, and only its own.
    let later = UnixMillis(NOW.0 + 5000);
    store
        .outbox_defer(&hub, first[0], later, "timed out")
        .unwrap();
    assert_eq!(
        store.outbox_due_recipients(NOW).unwrap(),
        [gb.clone(), kr.clone()]
    );
    assert!(store.outbox_head(&hub, NOW, 10).unwrap().is_empty());
    assert_eq!(store.outbox_due_recipients(later).unwrap().len(), 3);
    // An emptied outbox is not named.
    store
        .outbox_defer(&kr, first[0], later, "timed out")
        .unwrap();
    for i in &first {
        store.outbox_remove(&gb, *i).unwrap();
    }
    assert!(store.outbox_due_recipients(NOW).unwrap().is_empty());
    assert_eq!(store.outbox_due_recipients(later).unwrap(), [hub, kr]);
}

#[test]
fn outbox_and_cursors_are_durable() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let kr = org("KR-KNPA");
    let hub = org("INTERPOL-GS");
    {
        let store = open(dir.path());
        let s = referral(&fed, "streamz.example", "C", 4);
        let mut e = NewEntry::new(
            NOW,
            Direction::Outbound,
            Record::Envelope(envelope_bytes(&s)),
        );
        e.recipients = vec![kr.clone(), hub.clone()];
        e.enqueue = vec![kr.clone(), hub.clone()];
        let at = store.append(e).unwrap().index();
        assert_eq!(store.outbox().unwrap().len(), 2);
        let later = UnixMillis(NOW.0 + 5000);
        assert_eq!(
            store
                .outbox_defer(&kr, at, later, "connection refused")
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .outbox_defer(&kr, at, later, "connection refused")
                .unwrap(),
            2
        );
        assert_eq!(
            store.outbox_due_recipients(NOW).unwrap(),
            std::slice::from_ref(&hub),
            "only the hub's item is due"
        );
        assert_eq!(
            store.outbox_due_recipients(later).unwrap(),
            [hub.clone(), kr.clone()]
        );
        // A recipient's head stops at its first item not yet due.
        assert!(store.outbox_head(&kr, NOW, 10).unwrap().is_empty());
        assert_eq!(store.outbox_head(&kr, later, 10).unwrap().len(), 1);
        assert_eq!(store.outbox_head(&hub, NOW, 10).unwrap().len(), 1);
        store.set_cursor(&hub, 42).unwrap();
    }
    let store = open(dir.path());
    let items = store.outbox_for(&kr).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].attempts, items[0].last_error.as_str()),
        (2, "connection refused")
    );
    assert_eq!(store.cursor(&hub).unwrap(), 42);
    assert_eq!(store.cursor(&kr).unwrap(), 0);
    // Logging the receipt removes the item in the same commit.
    assert!(matches!(
        store.delivery_status(items[0].index).unwrap()[..],
        [
            (_, DeliveryStatus::Pending { attempts: 2, .. }),
            (_, DeliveryStatus::Pending { attempts: 0, .. })
        ]
    ));
    let mut receipt = filler(1, 10);
    receipt.dequeue = vec![(kr.clone(), items[0].index)];
    receipt.delivered = vec![Delivered {
        notice: items[0].index,
        recipient: kr.clone(),
        accepted: true,
    }];
    let receipt_at = store.append(receipt).unwrap().index();
    let status = store.delivery_status(items[0].index).unwrap();
    assert_eq!(
        status[0],
        (
            kr.clone(),
            DeliveryStatus::Delivered {
                receipt: receipt_at
            }
        )
    );
    assert!(matches!(status[1], (ref o, DeliveryStatus::Pending { .. }) if *o == hub));
    assert!(store.outbox_for(&kr).unwrap().is_empty());
    assert_eq!(store.outbox().unwrap().len(), 1);
    assert!(store.outbox_defer(&kr, items[0].index, NOW, "x").is_err());
}

#[test]
fn checkpoints_and_cosignatures() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for r in store.append_many((0..10).map(|i| filler(i, 50))) {
        r.unwrap();
    }
    let note = store.sign_checkpoint(&fed.agency).unwrap();
    let verifier = NoteVerifier::new(&fed.agency.id().to_string(), fed.agency.public()).unwrap();
    let cp = Checkpoint::open(&note, "isop.log/KR-KNPA", &verifier).unwrap();
    assert_eq!((cp.size, cp.root), (10, store.root(10).unwrap()));

    let mut witnessed = note.clone();
    witnessed.add_signature(&fed.hub);
    let merged = store.add_cosignature(10, &witnessed).unwrap();
    assert_eq!(merged.signatures().len(), 2);
    // Re-signing at the same size keeps the cosignature.
    assert_eq!(
        store
            .sign_checkpoint(&fed.agency)
            .unwrap()
            .signatures()
            .len(),
        2
    );
    assert_eq!(
        store
            .latest_checkpoint()
            .unwrap()
            .unwrap()
            .signatures()
            .len(),
        2
    );
    assert!(store.add_cosignature(11, &witnessed).is_err());
    store.append(filler(10, 50)).unwrap();
    store.sign_checkpoint(&fed.agency).unwrap();
    assert_eq!(
        store
            .checkpoints()
            .map(|r| r.unwrap().0)
            .collect::<Vec<_>>(),
        [10, 11]
    );
    assert_eq!(store.verify_all().unwrap().checkpoints, 2);
}

#[test]
fn erasure_deletes_the_value_and_keeps_the_log_verifiable() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let s = referral(&fed, "streamz.example", "C", 5);
    store.append(inbound(&s)).unwrap();
    let root_before = store.root(1).unwrap();
    let wallet = s
        .disclosures()
        .iter()
        .find(|d| d.path() == "referral.payment")
        .unwrap();
    assert_eq!(store.by_indicator(WALLET).unwrap(), [LogIndex(0)]);

    let at = store
        .erase_disclosure(
            LogIndex(0),
            wallet.digest(),
            "retention period ended",
            "analyst-7",
            UnixMillis(NOW.0 + 1),
        )
        .unwrap();
    assert_eq!(at, LogIndex(1));
    match store.disclosure(LogIndex(0), wallet.digest()).unwrap() {
        Some(DisclosureState::Erased(e)) => {
            assert_eq!(e.reason, "retention period ended");
            assert_eq!(e.erased_by, "analyst-7");
            assert_eq!(e.path, wallet.path());
        }
        other => panic!("{other:?}"),
    }
    assert!(store.by_indicator(WALLET).unwrap().is_empty());
    assert_eq!(
        store.by_indicator("streamz.example").unwrap(),
        [LogIndex(0)],
        "clear indicators stay"
    );
    assert_eq!(store.root(1).unwrap(), root_before, "history is unchanged");
    let e = store.log_entry(at).unwrap().unwrap();
    let Some(isop_core::pb::log_entry::Record::Erasure(logged)) = e.record else {
        panic!("{e:?}")
    };
    // The LOCAL entry names the entry, the field, who and why.
    assert_eq!(
        (
            logged.entry_index,
            logged.path.as_str(),
            logged.erased_by.as_str()
        ),
        (0, wallet.path(), "analyst-7")
    );
    store.verify_all().unwrap();
    assert!(
        store
            .erase_disclosure(LogIndex(0), wallet.digest(), "again", "operator", NOW)
            .is_err()
    );
    assert!(
        store
            .erase_disclosure(LogIndex(0), &[0; 32], "none", "operator", NOW)
            .is_err()
    );
}

#[test]
fn concurrent_appenders_share_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| store.append(filler(t * 1000 + i, 64)).unwrap().index().0)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(
        all,
        (0..400).collect::<Vec<_>>(),
        "every append got its own index, with no gaps"
    );
    assert_eq!(store.verify_all().unwrap().entries, 400);
}

#[test]
fn async_appends_resolve_when_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let futures: Vec<_> = (0..5).map(|i| store.append_async(filler(i, 10))).collect();
    // A minimal executor: the futures complete when the writer answers.
    for (i, f) in futures.into_iter().enumerate() {
        let a = block_on(f).unwrap();
        assert_eq!(a.index(), LogIndex(i as u64));
    }
}

/// A batch's entries are one submission: one group commit (one fsync),
/// however long each takes to prepare, in their order; an entry that
/// cannot be logged is answered alone.
#[test]
fn append_many_is_one_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let fed = fed();
    for round in 0..3u64 {
        let before = store.commits();
        let size = store.size();
        let entries: Vec<NewEntry> = (0..64)
            .map(|i| {
                inbound(&referral(
                    &fed,
                    &format!("s{round}-{i}.example"),
                    "SOP-1",
                    round * 1000 + i,
                ))
            })
            .collect();
        let appended = block_on(store.append_many_async(entries));
        assert_eq!(store.commits() - before, 1, "round {round}");
        let indexes: Vec<u64> = appended.into_iter().map(|a| a.unwrap().index().0).collect();
        assert_eq!(indexes, (size..size + 64).collect::<Vec<_>>());
    }
    let mut too_big = filler(1, 10);
    too_big.record = Record::Envelope(vec![0u8; MAX_ENTRY_BYTES + 1].into());
    let before = store.commits();
    let out = store.append_many([filler(2, 10), too_big, filler(3, 10)]);
    assert!(
        matches!(out[1], Err(Error::InvalidEntry(_))),
        "{:?}",
        out[1]
    );
    assert_eq!(
        out.iter().filter_map(|r| r.as_ref().ok()).count(),
        2,
        "{out:?}"
    );
    assert_eq!(store.commits() - before, 1);
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn indexes_across_runs_erasure_reopen_and_import() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path());
    // Tiny runs: a run is written every few notices.
    config.index_run = 7;
    let mut sealed = Vec::new();
    {
        let store = Store::open(&config).unwrap();
        for i in 0..30u64 {
            let s = referral(
                &fed,
                &format!("site{}.example", i % 4),
                &format!("CASE-{}", i % 3),
                100 + i,
            );
            assert_eq!(store.append(inbound(&s)).unwrap().index(), LogIndex(i));
            sealed.push(s);
        }
        let expect = |m: u64, k: u64| {
            (0..30)
                .filter(|i| i % m == k)
                .map(LogIndex)
                .collect::<Vec<_>>()
        };
        // Lookups agree with the appends at once, whatever is in runs or pending.
        assert_eq!(store.by_indicator("site1.example").unwrap(), expect(4, 1));
        assert_eq!(store.by_case("CASE-2").unwrap(), expect(3, 2));
        assert_eq!(store.by_author(&org("RH-FILMCO")).unwrap().len(), 30);
        assert_eq!(store.by_indicator(WALLET).unwrap().len(), 30);

        // Erase the wallets of an early entry (surely in a run) and a late one.
        for i in [2u64, 29] {
            let wallet = sealed[i as usize]
                .disclosures()
                .iter()
                .find(|d| d.path() == "referral.payment")
                .unwrap();
            store
                .erase_disclosure(LogIndex(i), wallet.digest(), "retention", "operator", NOW)
                .unwrap();
        }
        let wallets = store.by_indicator(WALLET).unwrap();
        assert_eq!(wallets.len(), 28);
        assert!(!wallets.contains(&LogIndex(2)) && !wallets.contains(&LogIndex(29)));
        store.close().unwrap();
    }
    // Reopening rebuilds the pending postings from the entries.
    let store = Store::open(&config).unwrap();
    assert_eq!(store.by_indicator("site1.example").unwrap().len(), 8);
    assert_eq!(store.by_indicator(WALLET).unwrap().len(), 28);
    assert_eq!(store.by_case("CASE-0").unwrap().len(), 10);

    // An import with tiny runs answers the same.
    let clearance = fed.roster.clearance(&org("INTERPOL-GS")).unwrap();
    let mut file = Vec::new();
    store
        .export(&mut file, &org("KR-KNPA"), &clearance, NOW)
        .unwrap();
    let target = tempfile::tempdir().unwrap();
    let mut tconfig = StoreConfig::new(target.path().join("copy"));
    tconfig.index_run = 5;
    let (copy, _) = Store::import(&tconfig, file.as_slice(), &fed.roster_key()).unwrap();
    assert_eq!(
        copy.by_indicator("site1.example").unwrap(),
        store.by_indicator("site1.example").unwrap()
    );
    assert_eq!(
        copy.by_indicator(WALLET).unwrap(),
        store.by_indicator(WALLET).unwrap()
    );
    assert_eq!(copy.by_case("CASE-0").unwrap().len(), 10);
}

#[test]
fn an_id_belongs_to_the_first_notice_logged_under_it() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // The same seed gives the same id; another target, another digest.
    let genuine = referral(&fed, "streamz.example", "CASE-1", 5);
    let squat = referral(&fed, "decoy.example", "CASE-1", 5);
    assert_eq!(genuine.notice().id(), squat.notice().id());
    assert_ne!(genuine.envelope().payload, squat.envelope().payload);

    assert_eq!(
        store.append(inbound(&squat)).unwrap(),
        Appended::New(LogIndex(0))
    );
    assert_eq!(
        store.append(inbound(&genuine)).unwrap(),
        Appended::Conflict(LogIndex(0)),
        "same id, another digest: never appended"
    );
    assert_eq!(
        store.append(inbound(&squat)).unwrap(),
        Appended::Duplicate(LogIndex(0))
    );
    // In one group commit too.
    let other = referral(&fed, "third.example", "CASE-2", 6);
    let clash = referral(&fed, "fourth.example", "CASE-2", 6);
    let r: Vec<_> = store
        .append_many([inbound(&other), inbound(&clash), inbound(&other)])
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        r,
        [
            Appended::New(LogIndex(1)),
            Appended::Conflict(LogIndex(1)),
            Appended::Duplicate(LogIndex(1))
        ]
    );
    assert_eq!(store.size(), 2);

    // A requirement on an id held by the notice with that digest holds;
    // on an id held by another notice it does not, and nothing is appended.
    let mut ok = filler(10, 10);
    ok.requires = Some((squat.notice().id(), sha256(&squat.envelope().payload)));
    assert_eq!(store.append(ok).unwrap(), Appended::New(LogIndex(2)));
    let mut unmet = filler(11, 10);
    unmet.requires = Some((genuine.notice().id(), sha256(&genuine.envelope().payload)));
    assert_eq!(store.append(unmet).unwrap(), Appended::Unmet(LogIndex(0)));
    let mut absent = filler(12, 10);
    absent.requires = Some((referral(&fed, "x.example", "C", 99).notice().id(), [0; 32]));
    assert!(store.append(absent).is_err());
    assert_eq!(store.size(), 3);

    // Reopened, the index still knows each id's digest.
    store.close().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store.append(inbound(&genuine)).unwrap(),
        Appended::Conflict(LogIndex(0))
    );
}

#[test]
fn a_later_copy_adds_the_disclosures_the_first_lacked() {
    use isop_core::pb::log_entry::Record as Rec;
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path());
    let s = referral(&fed, "streamz.example", "C", 8);
    let digest_of = |path: &str| {
        *s.disclosures()
            .iter()
            .find(|d| d.path() == path)
            .unwrap()
            .digest()
    };
    let (contact, wallet) = (digest_of("referral.contact"), digest_of("referral.payment"));
    {
        let store = Store::open(&config).unwrap();
        // A relay reached the node first, with the contact field alone.
        let mut first = inbound(&s);
        first.peer = Some(org("INTERPOL-GS"));
        first.disclosures.retain(|d| sha256(d) == contact);
        assert_eq!(store.append(first).unwrap(), Appended::New(LogIndex(0)));
        assert!(store.by_indicator(WALLET).unwrap().is_empty());

        // The author's own copy carries both: only the wallet is added.
        let all = inbound(&s).disclosures;
        let at = UnixMillis(NOW.0 + 1);
        let added = store
            .add_disclosures(LogIndex(0), &org("RH-FILMCO"), all.clone(), at)
            .unwrap();
        assert_eq!(added, Some(LogIndex(1)));
        let e = store.log_entry(LogIndex(1)).unwrap().unwrap();
        assert_eq!(e.peer, "RH-FILMCO");
        assert_eq!(e.direction, isop_core::pb::Direction::Inbound as i32);
        assert_eq!(e.disclosure_digests, [wallet.to_vec()]);
        match e.record {
            Some(Rec::DisclosuresAdded(a)) => {
                assert_eq!(a.notice_index, 0);
                assert_eq!(a.envelope, envelope_bytes(&s));
            }
            other => panic!("{other:?}"),
        }
        let held: Vec<_> = store
            .disclosures_of(LogIndex(0))
            .unwrap()
            .into_iter()
            .map(|d| (d.digest, matches!(d.state, Some(DisclosureState::Held(_)))))
            .collect();
        assert_eq!(held, [(contact, true), (wallet, true)]);
        assert_eq!(
            store.by_indicator(WALLET).unwrap(),
            [LogIndex(0)],
            "a lookup finds the notice, whichever copy brought the field"
        );
        // A third copy adds nothing, and nothing is appended.
        assert_eq!(
            store
                .add_disclosures(LogIndex(0), &org("RH-FILMCO"), all, at)
                .unwrap(),
            None
        );
        assert_eq!(store.size(), 2);
        let not_a_notice = store.add_disclosures(LogIndex(1), &org("RH-FILMCO"), vec![], at);
        assert!(
            not_a_notice
                .unwrap_err()
                .to_string()
                .contains("logs no notice")
        );
        store.close().unwrap();
    }
    // Reopened (its postings rebuilt from the entries), exported and
    // imported (at the hub's clearance: the wallet, not the contact): the same.
    let store = Store::open(&config).unwrap();
    let clearance = fed.roster.clearance(&org("INTERPOL-GS")).unwrap();
    let mut file = Vec::new();
    store
        .export(&mut file, &org("KR-KNPA"), &clearance, NOW)
        .unwrap();
    let target = tempfile::tempdir().unwrap();
    let (copy, _) = Store::import(
        &StoreConfig::new(target.path().join("copy")),
        file.as_slice(),
        &fed.roster_key(),
    )
    .unwrap();
    for st in [&store, &copy] {
        assert_eq!(st.by_indicator(WALLET).unwrap(), [LogIndex(0)]);
        let held = st.disclosures_of(LogIndex(0)).unwrap();
        assert_eq!(
            held.iter().map(|d| d.digest).collect::<Vec<_>>(),
            [contact, wallet]
        );
        assert!(matches!(held[1].state, Some(DisclosureState::Held(_))));
    }

    // Erasing the added field by the notice's index erases it where it is held.
    store
        .erase_disclosure(
            LogIndex(0),
            &wallet,
            "retention period ended",
            "operator",
            NOW,
        )
        .unwrap();
    assert!(matches!(
        store.disclosure(LogIndex(1), &wallet).unwrap(),
        Some(DisclosureState::Erased(_))
    ));
    assert!(store.by_indicator(WALLET).unwrap().is_empty());
    store.verify_all().unwrap();
}
