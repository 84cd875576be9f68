//! Export and import of one file: a faithful round trip, and clear errors
//! for truncated, altered and foreign files.

use bytes::Bytes;
use isop_core::pb::export_record::Record as Rec;
use isop_core::{Checkpoint, Clearance, LogIndex, SecretKey, Signer, UnixMillis, pb};
use isop_store::*;
use prost::Message;

use crate::fixture::*;

/// A store with notices, a roster, a cosigned checkpoint and an erasure.
fn populated(fed: &Fed) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .put_roster(1, &fed.roster_env.encode_to_vec())
        .unwrap();
    let notices: Vec<_> = (0..5)
        .map(|i| referral(fed, &format!("site{i}.example"), "CASE-9", 10 + i))
        .collect();
    for n in &notices {
        store.append(inbound(n)).unwrap();
    }
    let mut note = store.sign_checkpoint(&fed.agency).unwrap();
    note.add_signature(&fed.hub);
    store.add_cosignature(5, &note).unwrap();
    for i in 0..40 {
        store.append(filler(i, 200)).unwrap();
    }
    let wallet = notices[0]
        .disclosures()
        .iter()
        .find(|d| d.path() == "referral.payment")
        .unwrap();
    store
        .erase_disclosure(
            LogIndex(0),
            wallet.digest(),
            "lawful order 2026/17",
            "operator",
            NOW,
        )
        .unwrap();
    store.sign_checkpoint(&fed.agency).unwrap();
    (dir, store)
}

fn export_bytes(store: &Store, clearance: &Clearance) -> (Vec<u8>, ExportSummary) {
    let mut out = Vec::new();
    let s = store
        .export(&mut out, &org("KR-KNPA"), clearance, NOW)
        .unwrap();
    assert_eq!(s.bytes as usize, out.len());
    (out, s)
}

fn import(bytes: &[u8], fed: &Fed) -> (tempfile::TempDir, Result<(Store, ImportSummary), Error>) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("imported");
    let r = Store::import(&StoreConfig::new(&target), bytes, &fed.roster_key());
    (dir, r)
}

fn records(bytes: &[u8]) -> Vec<Rec> {
    let mut r = isop_export::ExportReader::new(bytes);
    std::iter::from_fn(|| r.next_record().unwrap().map(|(_, rec)| rec)).collect()
}

fn assemble(recs: &[Rec]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        let body = pb::ExportRecord {
            record: Some(r.clone()),
        }
        .encode_to_vec();
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
    }
    out
}

#[test]
fn round_trip_keeps_the_log_and_filters_disclosures_by_clearance() {
    let fed = fed();
    let (_dir, store) = populated(&fed);
    let agency = fed.roster.clearance(&org("KR-KNPA")).unwrap();
    let (bytes, s) = export_bytes(&store, &agency);
    assert_eq!(
        (s.entries, s.checkpoints, s.rosters, s.erased),
        (46, 2, 1, 1)
    );
    // Each referral had a contact (role:agency) and a wallet (role:hub); one wallet was erased.
    assert_eq!((s.disclosures, s.withheld), (5, 4));

    let (_t, r) = import(&bytes, &fed);
    let (copy, summary) = r.unwrap();
    assert_eq!(summary.root, store.root(46).unwrap());
    assert_eq!(
        (
            summary.entries,
            summary.checkpoints,
            summary.cosignatures,
            summary.disclosures,
            summary.erased
        ),
        (46, 2, 1, 5, 1)
    );
    assert_eq!(copy.size(), 46);
    for i in 0..46 {
        assert_eq!(
            copy.entry(LogIndex(i)).unwrap(),
            store.entry(LogIndex(i)).unwrap()
        );
    }
    assert_eq!(copy.verify_all().unwrap().checkpoints, 2);
    assert_eq!(copy.checkpoint(5).unwrap().unwrap().signatures().len(), 2);
    assert_eq!(copy.by_case("CASE-9").unwrap().len(), 5);
    assert_eq!(copy.by_indicator("site3.example").unwrap(), [LogIndex(3)]);
    assert!(
        copy.by_indicator(WALLET).unwrap().is_empty(),
        "wallets were withheld from this clearance"
    );
    assert_eq!(copy.rosters().count(), 1);

    // The hub's clearance takes the wallets that were not erased.
    let hub = fed.roster.clearance(&org("INTERPOL-GS")).unwrap();
    let (bytes, s) = export_bytes(&store, &hub);
    assert_eq!((s.disclosures, s.withheld), (4, 5));
    let (_t, r) = import(&bytes, &fed);
    let (copy, _) = r.unwrap();
    assert_eq!(copy.by_indicator(WALLET).unwrap().len(), 4);
}

#[track_caller]
fn refused(bytes: &[u8], fed: &Fed, needle: &str) -> Error {
    let (dir, r) = import(bytes, fed);
    let e = r
        .err()
        .unwrap_or_else(|| panic!("import accepted a bad file (expected {needle:?})"));
    assert!(e.to_string().contains(needle), "{e} lacks {needle:?}");
    assert!(
        !dir.path().join("imported").exists(),
        "a failed import leaves nothing behind"
    );
    e
}

#[test]
fn every_truncation_is_refused_with_its_place() {
    let fed = fed();
    let (_dir, store) = populated(&fed);
    let (bytes, _) = export_bytes(&store, &Clearance::default());
    let mut cuts: Vec<usize> = (0..bytes.len()).step_by(97).collect();
    cuts.extend([1, 3, 4, 5, bytes.len() - 1]);
    for cut in cuts {
        let e = refused(&bytes[..cut], &fed, "");
        let msg = e.to_string();
        assert!(
            msg.contains("truncated") || msg.contains("empty"),
            "cut at {cut}: {msg}"
        );
        assert!(
            msg.contains("byte") || msg.contains("empty"),
            "cut at {cut}: {msg}"
        );
    }
}

#[test]
fn altered_files_are_refused() {
    let fed = fed();
    let (_dir, store) = populated(&fed);
    let (bytes, _) = export_bytes(&store, &Clearance::default());
    let recs = records(&bytes);
    let last = recs.len() - 1;

    // A wrong root in the trailer.
    let mut r = recs.clone();
    if let Rec::Trailer(t) = &mut r[last] {
        t.root = Bytes::from_static(&[7; 32]);
    }
    refused(&assemble(&r), &fed, "trailer's root");

    // A flipped byte in an entry: the next checkpoint's root no longer matches.
    let mut r = recs.clone();
    let i = r.iter().position(|x| matches!(x, Rec::Entry(_))).unwrap() + 2;
    if let Rec::Entry(e) = &mut r[i] {
        let mut v = e.to_vec();
        let mid = v.len() / 2;
        v[mid] ^= 1;
        *e = v.into();
    }
    refused(&assemble(&r), &fed, "root differs");

    // Signed text altered (an extension line added): size and root still
    // match, the signatures no longer do.
    let mut r = recs.clone();
    let i = r
        .iter()
        .position(|x| matches!(x, Rec::Checkpoint(_)))
        .unwrap();
    if let Rec::Checkpoint(c) = &mut r[i] {
        let text = String::from_utf8(c.note.to_vec()).unwrap();
        c.note = text
            .replacen("\n\n", "\nextension\n\n", 1)
            .into_bytes()
            .into();
    }
    refused(&assemble(&r), &fed, "does not verify");

    // A checkpoint signed by an impostor key under the node's key name: its
    // key hash matches no roster key, so the node's signature is missing.
    let mut r = recs.clone();
    if let Rec::Checkpoint(c) = &mut r[i] {
        let text = String::from_utf8(c.note.to_vec()).unwrap();
        let impostor = Signer::new(
            "KR-KNPA/k1".parse().unwrap(),
            SecretKey::generate(&mut rng(3)),
        );
        c.note = Checkpoint::parse(&text[..text.find("\n\n").unwrap() + 1])
            .unwrap()
            .sign(&impostor)
            .unwrap()
            .to_bytes()
            .into();
    }
    refused(&assemble(&r), &fed, "no valid signature by KR-KNPA");

    // A checkpoint signed by someone else entirely.
    let mut r = recs.clone();
    if let Rec::Checkpoint(c) = &mut r[i] {
        let text = String::from_utf8(c.note.to_vec()).unwrap();
        let other = Checkpoint::parse(&text[..text.find("\n\n").unwrap() + 1])
            .unwrap()
            .sign(&fed.hub)
            .unwrap();
        c.note = other.to_bytes().into();
    }
    refused(&assemble(&r), &fed, "no valid signature by KR-KNPA");

    // Two entries swapped (the fillers, which hold no disclosures).
    let mut r = recs.clone();
    let entries: Vec<usize> = (0..r.len())
        .filter(|&i| matches!(r[i], Rec::Entry(_)))
        .collect();
    r.swap(entries[10], entries[11]);
    refused(&assemble(&r), &fed, "claims index 11");

    // A roster not signed by the roster key.
    let mut r = recs.clone();
    if let Rec::Roster(env) = &mut r[1] {
        env.signatures[0].sig = Bytes::from(vec![0u8; 64]);
    }
    refused(&assemble(&r), &fed, "roster not signed");

    // A disclosure no entry refers to.
    let mut r = recs.clone();
    r.insert(
        last,
        Rec::Disclosure(Bytes::from_static(b"\x0a\x10unreferenced....")),
    );
    if let Rec::Trailer(t) = &mut r[last + 1] {
        t.record_count += 1;
    }
    refused(&assemble(&r), &fed, "does not hold");

    // Data after the trailer.
    let mut b = bytes.clone();
    b.extend_from_slice(&assemble(&recs[..1]));
    refused(&b, &fed, "after the trailer");
}

#[test]
fn foreign_files_are_refused() {
    let fed = fed();
    refused(b"", &fed, "empty");
    refused(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", &fed, "exceeds");
    refused(&[0, 0, 0, 3, 0xff, 0xff, 0xff], &fed, "does not decode");
    let not_header = assemble(&[Rec::Entry(Bytes::from_static(b"x"))]);
    refused(&not_header, &fed, "not a header");
    let wrong_format = assemble(&[Rec::Header(pb::ExportHeader {
        format: "tar".into(),
        ..Default::default()
    })]);
    refused(&wrong_format, &fed, "format");
}

#[test]
fn import_needs_an_empty_target() {
    let fed = fed();
    let (dir, store) = populated(&fed);
    let (bytes, _) = export_bytes(&store, &Clearance::default());
    drop(store);
    let e = Store::import(
        &StoreConfig::new(dir.path()),
        bytes.as_slice(),
        &fed.roster_key(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NotEmpty(_)), "{e}");
    // The existing store is untouched.
    assert_eq!(open(dir.path()).size(), 46);
}

#[test]
fn pending_deliveries_go_back_in_the_outbox() {
    let fed = fed();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let sealed = referral(&fed, "pending.example", "CASE-1", 1);
    let mut e = NewEntry::new(
        NOW,
        Direction::Outbound,
        Record::Envelope(envelope_bytes(&sealed)),
    );
    e.recipients = vec![org("KR-KNPA"), org("INTERPOL-GS")];
    e.enqueue = e.recipients.clone();
    store.append(e).unwrap();
    store
        .outbox_defer(
            &org("KR-KNPA"),
            LogIndex(0),
            UnixMillis(NOW.0 + 5),
            "timed out",
        )
        .unwrap();
    let (bytes, s) = export_bytes(&store, &Clearance::default());
    assert_eq!(s.pending, 2);

    let (_t, r) = import(&bytes, &fed);
    let (copy, summary) = r.unwrap();
    assert_eq!(summary.pending, 2);
    assert_eq!(copy.outbox().unwrap(), store.outbox().unwrap());

    // A pending delivery of an entry that is not a notice sent to that org.
    let mut recs = records(&bytes);
    let at = recs
        .iter()
        .position(|r| matches!(r, Rec::Pending(_)))
        .unwrap();
    if let Rec::Pending(p) = &mut recs[at] {
        p.recipient = "RH-FILMCO".into();
    }
    refused(&assemble(&recs), &fed, "not a notice sent to it");
}
