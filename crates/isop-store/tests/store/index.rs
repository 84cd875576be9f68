//! What the index holds beyond ids, cases, authors and indicators: the
//! notices an entry answers, and a site's names; and an index of an older
//! format is built again when the store opens.

use isop_core::*;
use isop_store::*;

use crate::fixture::*;

/// The agency's status answer to `referral`, as it logs it OUTBOUND.
fn answer(fed: &Fed, referral: &SealedNotice) -> NewEntry {
    let body =
        StatusUpdateBuilder::new(referral.notice().id(), pb::ReferralStatus::Accepted).build();
    let sealed = NoticeDraft::new(Tlp::Amber, body)
        .to_org(&org("RH-FILMCO"))
        .in_reply_to(referral.notice().id())
        .seal(&fed.agency, NOW, &mut rng(2))
        .unwrap();
    let mut e = NewEntry::new(
        NOW,
        Direction::Outbound,
        Record::Envelope(envelope_bytes(&sealed)),
    );
    e.recipients = vec![org("RH-FILMCO")];
    e
}

fn check(store: &Store, referral: &SealedNotice) {
    let id = referral.notice().id();
    assert_eq!(store.replies(&id).unwrap(), [LogIndex(1)]);
    // The site and its parent down to the registrable domain find the
    // subdomain; a name above that (the suffix) does not.
    for site in [
        "live.streamz.example",
        "streamz.example",
        "STREAMZ.example.",
    ] {
        assert_eq!(store.by_indicator(site).unwrap(), [LogIndex(0)], "{site}");
    }
    assert!(store.by_indicator("example").unwrap().is_empty());
    assert!(
        store
            .by_indicator("other.streamz.example")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn answers_and_site_names_are_indexed_and_an_older_index_is_built_again() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path().join("log"));
    let referral = referral(&fed, "live.streamz.example", "CASE-1", 1);
    {
        let store = Store::open(&config).unwrap();
        store.append(inbound(&referral)).unwrap();
        store.append(answer(&fed, &referral)).unwrap();
        check(&store, &referral);
        store.close().unwrap();
    }
    // As a store written under an older index format has it: no format
    // mark, and runs that lack the newer keys (here, none at all), though
    // every entry counts as indexed.
    tamper(&config.path, |tree| {
        for k in tree.scan_prefix(b"P").keys() {
            tree.remove(k.unwrap()).unwrap();
        }
        tree.remove(b"Mindex-format").unwrap();
        tree.insert(b"Mruns", &0u64.to_be_bytes()).unwrap();
        tree.insert(b"Mindexed", &2u64.to_be_bytes()).unwrap();
    });
    let store = Store::open(&config).unwrap();
    check(&store, &referral);
}

#[test]
fn many_index_runs_are_merged_and_lookups_stay_whole() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("log"));
    // A run every few postings: many runs, merged again and again.
    config.index_run = 5;
    let n = 60;
    let check = |store: &Store| {
        assert_eq!(store.by_case("CASE-M").unwrap().len(), n);
        for i in [0, 17, n - 1] {
            assert_eq!(
                store.by_indicator(&format!("site{i}.example")).unwrap(),
                [LogIndex(i as u64)],
                "site{i}"
            );
        }
    };
    {
        let store = Store::open(&config).unwrap();
        for i in 0..n {
            let r = referral(&fed, &format!("site{i}.example"), "CASE-M", i as u64);
            store.append(inbound(&r)).unwrap();
        }
        check(&store);
        store.close().unwrap();
    }
    let store = Store::open(&config).unwrap();
    let (first, end) = store.index_runs();
    assert!(end > 8, "{end} runs were written: enough to merge");
    assert!(first > 0 && end - first <= 8, "live runs {first}..{end}");
    check(&store);
    // A value each notice holds in a disclosure, in every merged run.
    assert_eq!(store.by_indicator(WALLET).unwrap().len(), n);
}

/// The node hands the store the index keys of a notice it has decoded
/// already: they must be the keys the store finds in the entry's bytes,
/// labelled indicators and answers included.
#[test]
fn index_keys_from_the_decoded_notice_are_the_stores_own() {
    let fed = fed();
    let referral = referral(&fed, "streamz.example", "SOP-1", 1);
    let disclosures: Vec<bytes::Bytes> = referral
        .disclosures()
        .iter()
        .map(|d| d.bytes().clone())
        .collect();
    let from_notice = IndexKeys::of_notice(
        referral.notice(),
        sha256(&referral.envelope().payload),
        disclosures.iter(),
    );
    let from_bytes = IndexKeys::of_envelope(&envelope_bytes(&referral), disclosures.iter());
    assert_eq!(from_notice, from_bytes);
    assert_ne!(from_bytes, IndexKeys::default());
    // Without the disclosures, the labelled indicators are not indexed.
    assert_ne!(
        IndexKeys::of_envelope(&envelope_bytes(&referral), std::iter::empty()),
        from_bytes
    );
    let answer = answer(&fed, &referral);
    let Record::Envelope(bytes) = &answer.record else {
        panic!("an envelope")
    };
    let env = <pb::Envelope as prost::Message>::decode(bytes.as_ref()).unwrap();
    let notice = Notice::decode(&env.payload).unwrap();
    assert_eq!(
        IndexKeys::of_notice(&notice, sha256(&env.payload), std::iter::empty()),
        IndexKeys::of_envelope(bytes, std::iter::empty())
    );
}
