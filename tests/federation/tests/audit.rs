//! The auditor's toolkit against real logs: exports of nodes that really
//! exchanged notices verify clean, and each kind of tampering is found at
//! the right index with a named finding.

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use isop_audit::{CrossReport, Finding, FindingKind, VerifyOptions, VerifyReport};
use isop_core::merkle::{RootBuilder, leaf_hash};
use isop_core::pb::export_record::Record as Rec;
use isop_core::*;
use isop_federation_tests::*;
use prost::Message;

/// The exports of a small exchange, and what the tests need to forge with.
struct Logs {
    _dir: tempfile::TempDir,
    paths: std::path::PathBuf,
    kr: Vec<u8>,
    hub: Vec<u8>,
    filmco: Vec<u8>,
    roster_key: RosterKey,
    kr_signer: Signer,
    filmco_signer: Signer,
}

/// FILMCO refers a site to KR and the hub; KR accepts; the hub witnesses
/// KR's log twice; every node exports its log.
async fn exchange() -> Result<Logs> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let hub = fed.start(HUB).await?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let mut sent = Vec::new();
    for _ in 0..3 {
        sent.push(filmco.send(referral(&[KR, HUB], Tlp::Amber)).await?);
    }
    filmco
        .wait_until("receipts", STEP, |n| {
            sent.iter()
                .all(|s| delivered(n, s.index, KR) && delivered(n, s.index, HUB))
        })
        .await?;
    hub.witness(&org(KR)).await?;
    let status = NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(sent[0].id, pb::ReferralStatus::Accepted).build(),
    )
    .to_org(&org(FILMCO))
    .in_reply_to(sent[0].id);
    let answer = kr.send(status).await?;
    kr.wait_until("the status is delivered", STEP, |n| {
        delivered(n, answer.index, FILMCO)
    })
    .await?;
    hub.witness(&org(KR)).await?;
    let export = |node: &isop_node::Node| -> Result<Vec<u8>> {
        let clearance = node.roster().clearance(node.org())?;
        let mut out = Vec::new();
        node.export(&mut out, &clearance)?;
        Ok(out)
    };
    let logs = Logs {
        paths: dir.path().join("exports"),
        kr: export(&kr)?,
        hub: export(&hub)?,
        filmco: export(&filmco)?,
        roster_key: fed.roster_key(),
        kr_signer: signer(&fed, KR)?,
        filmco_signer: signer(&fed, FILMCO)?,
        _dir: dir,
    };
    std::fs::create_dir_all(&logs.paths)?;
    for n in [hub, kr, filmco] {
        n.shutdown().await?;
    }
    Ok(logs)
}

fn records(bytes: &[u8]) -> Vec<Rec> {
    let mut r = isop_export::ExportReader::new(bytes);
    std::iter::from_fn(|| {
        r.next_record()
            .expect("a readable export")
            .map(|(_, rec)| rec)
    })
    .collect()
}

fn assemble(recs: &[Rec]) -> Vec<u8> {
    let mut out = isop_export::ExportWriter::new(Vec::new());
    for r in recs {
        out.put(r.clone()).expect("writable");
    }
    out.into_inner().expect("flushed")
}

fn verify(logs: &Logs, bytes: &[u8]) -> VerifyReport {
    isop_audit::verify(bytes, &VerifyOptions::new(logs.roster_key.clone()), None)
        .expect("an export")
}

fn cross(logs: &Logs, a: &[u8], b: &[u8]) -> Result<CrossReport> {
    let (pa, pb) = (logs.paths.join("a.isop"), logs.paths.join("b.isop"));
    std::fs::write(&pa, a)?;
    std::fs::write(&pb, b)?;
    Ok(isop_audit::cross_check(&pa, &pb, &logs.roster_key, None)?)
}

/// Entry positions (record number of each entry) in `recs`.
fn entry_records(recs: &[Rec]) -> Vec<usize> {
    (0..recs.len())
        .filter(|&i| matches!(recs[i], Rec::Entry(_)))
        .collect()
}

fn entry_of(rec: &Rec) -> pb::LogEntry {
    let Rec::Entry(b) = rec else {
        panic!("not an entry")
    };
    pb::LogEntry::decode(b.as_ref()).expect("an entry")
}

fn envelope_of(e: &pb::LogEntry) -> Option<pb::Envelope> {
    match &e.record {
        Some(pb::log_entry::Record::Envelope(b)) => pb::Envelope::decode(b.as_ref()).ok(),
        _ => None,
    }
}

/// The position of the first entry matching `pred`.
fn find_entry(recs: &[Rec], pred: impl Fn(&pb::LogEntry, Option<&pb::Envelope>) -> bool) -> usize {
    let entries = entry_records(recs);
    entries
        .iter()
        .position(|&r| {
            let e = entry_of(&recs[r]);
            pred(&e, envelope_of(&e).as_ref())
        })
        .expect("such an entry")
}

fn is_notice(e: &pb::LogEntry, env: Option<&pb::Envelope>, dir: pb::Direction) -> bool {
    e.direction == dir as i32 && env.is_some_and(|v| v.payload_type == NOTICE_PAYLOAD_TYPE)
}

#[track_caller]
fn expect(report: &VerifyReport, kind: FindingKind, index: Option<u64>) -> Finding {
    report
        .findings
        .iter()
        .find(|f| f.kind == kind && f.index == index)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} at {index:?} in {:#?}", report.findings))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_exports_verify_and_cross_check_clean() -> Result<()> {
    let logs = exchange().await?;
    for (name, bytes) in [
        ("KR", &logs.kr),
        ("HUB", &logs.hub),
        ("FILMCO", &logs.filmco),
    ] {
        let r = verify(&logs, bytes);
        ensure!(r.is_clean(), "{name}: {:#?}", r.findings);
        ensure!(r.complete && r.signatures > 0, "{name}: {r:?}");
    }
    let r = verify(&logs, &logs.kr);
    assert_eq!((r.notices_received, r.notices_sent), (3, 1));
    assert_eq!(r.checkpoints, 3, "two witnessed, one for the export: {r:?}");
    assert_eq!(
        r.cosignatures, 2,
        "the hub cosigned both of KR's witnessed checkpoints"
    );
    assert!(
        r.disclosures >= 6,
        "KR's own clearance exports its fields: {r:?}"
    );

    let c = cross(&logs, &logs.filmco, &logs.kr)?;
    ensure!(c.is_clean(), "{:#?}", c.findings);
    assert_eq!(
        (c.sent_a_to_b, c.sent_b_to_a, c.receipts_matched),
        (3, 1, 4)
    );
    let c = cross(&logs, &logs.hub, &logs.kr)?;
    ensure!(c.is_clean(), "{:#?}", c.findings);
    assert_eq!(c.witnessed_checked, 2);

    // The story: three referrals, one accepted, fields seen by KR and the hub.
    let story = isop_audit::replay(logs.filmco.as_slice(), &logs.roster_key, None)?;
    assert_eq!(story.referrals.len(), 3);
    assert_eq!(
        story
            .referrals
            .iter()
            .filter(|r| r.status == "ACCEPTED")
            .count(),
        1
    );
    assert!(
        story
            .latency
            .iter()
            .any(|l| l.peer == KR && l.receipts == 3)
    );
    assert!(story.field_views.iter().any(|v| v.org == KR));
    let json = serde_json::to_string(&story)?;
    assert!(
        !json.contains("desk@filmco.example"),
        "replay never shows values"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_tampering_is_found_at_its_index() -> Result<()> {
    let logs = exchange().await?;
    let recs = records(&logs.kr);
    let entries = entry_records(&recs);

    // A flipped byte inside a signed notice: its signature fails at its index,
    // and the tree no longer matches the next checkpoint.
    let i = find_entry(&recs, |e, env| is_notice(e, env, pb::Direction::Inbound));
    let mut bytes = logs.kr.clone();
    let Rec::Entry(entry_bytes) = &recs[entries[i]] else {
        unreachable!()
    };
    let payload = envelope_of(&entry_of(&recs[entries[i]]))
        .context("envelope")?
        .payload;
    let at = find(&bytes, entry_bytes) + find(entry_bytes, &payload) + payload.len() / 2;
    bytes[at] ^= 0x01;
    let r = verify(&logs, &bytes);
    expect(&r, FindingKind::BadSignature, Some(i as u64));
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == FindingKind::CheckpointRootMismatch)
    );

    // A flipped byte in unsigned metadata (appended_at): only the tree shows
    // it, at the first checkpoint after the entry.
    let mut stamped = entry_of(&recs[entries[i]]);
    stamped.appended_at ^= 0x0100;
    let mut r2 = recs.clone();
    r2[entries[i]] = Rec::Entry(stamped.encode_to_vec().into());
    let r = verify(&logs, &assemble(&r2));
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::CheckpointRootMismatch)
        .context("a root mismatch")?;
    assert!(f.index >= Some(i as u64), "{f}");

    // A deleted entry: the next one claims the deleted one's successor index.
    let mut r2 = recs.clone();
    r2.remove(entries[5]);
    let r = verify(&logs, &assemble(&r2));
    let f = expect(&r, FindingKind::EntryIndexMismatch, Some(5));
    assert!(f.detail.contains("claims index 6"), "{f}");
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == FindingKind::TrailerMismatch)
    );

    // Two entries swapped (ones that hold no disclosures).
    let plain: Vec<usize> = (0..entries.len())
        .filter(|&k| entry_of(&recs[entries[k]]).disclosure_digests.is_empty())
        .collect();
    let (x, y) = (plain[1], plain[2]);
    let mut r2 = recs.clone();
    r2.swap(entries[x], entries[y]);
    let r = verify(&logs, &assemble(&r2));
    expect(&r, FindingKind::EntryIndexMismatch, Some(x as u64));
    expect(&r, FindingKind::EntryIndexMismatch, Some(y as u64));

    // A truncated tail: cut inside the last entry.
    let last = entries.len() - 1;
    let Rec::Entry(last_bytes) = &recs[entries[last]] else {
        unreachable!()
    };
    let cut = find(&logs.kr, last_bytes) + last_bytes.len() / 2;
    let r = verify(&logs, &logs.kr[..cut]);
    let f = expect(&r, FindingKind::Truncated, Some(last as u64));
    assert!(f.offset.is_some() && !r.complete, "{f}");

    // A swapped disclosure: two notices' disclosures trade places.
    let with: Vec<usize> = (0..recs.len())
        .filter(|&k| matches!(recs[k], Rec::Disclosure(_)))
        .collect();
    let owner = |rec: usize| entries.iter().rposition(|&e| e < rec).expect("an owner");
    let (d1, d2) = (
        with[0],
        *with
            .iter()
            .find(|&&d| owner(d) != owner(with[0]))
            .context("disclosures of two entries")?,
    );
    let mut r2 = recs.clone();
    r2.swap(d1, d2);
    let r = verify(&logs, &assemble(&r2));
    expect(&r, FindingKind::DisclosureMismatch, Some(owner(d1) as u64));
    expect(&r, FindingKind::DisclosureMismatch, Some(owner(d2) as u64));

    // A forged checkpoint: the right root and size, signed by an impostor
    // key under KR's key name.
    let c = (0..recs.len())
        .find(|&k| matches!(recs[k], Rec::Checkpoint(_)))
        .context("a checkpoint")?;
    let size = entries.iter().filter(|&&e| e < c).count() as u64;
    let Rec::Checkpoint(cp) = &recs[c] else {
        unreachable!()
    };
    let text = String::from_utf8(cp.note.to_vec())?;
    let body = Checkpoint::parse(&text[..text.find("\n\n").context("a note")? + 1])?;
    let impostor = Signer::new(
        logs.kr_signer.id().clone(),
        SecretKey::generate(&mut rand::rngs::OsRng),
    );
    let mut r2 = recs.clone();
    r2[c] = Rec::Checkpoint(pb::ExportCheckpoint {
        note: body.sign(&impostor)?.to_bytes().into(),
    });
    let r = verify(&logs, &assemble(&r2));
    expect(&r, FindingKind::CheckpointSignature, Some(size - 1));

    // A forged receipt in FILMCO's log: KR's receipt altered (the status
    // flipped), then one FILMCO made itself in KR's name.
    let frecs = records(&logs.filmco);
    let fentries = entry_records(&frecs);
    let k = find_entry(&frecs, |e, env| {
        e.direction == pb::Direction::Inbound as i32
            && e.peer == KR
            && env.is_some_and(|v| v.payload_type == RECEIPTS_PAYLOAD_TYPE)
    });
    let mut entry = entry_of(&frecs[fentries[k]]);
    let mut env = envelope_of(&entry).context("receipt")?;
    let mut list = pb::ReceiptList::decode(env.payload.as_ref())?;
    list.receipts[0].status = pb::ReceiptStatus::Duplicate as i32;
    env.payload = list.encode_to_vec().into();
    entry.record = Some(pb::log_entry::Record::Envelope(env.encode_to_vec().into()));
    let mut r2 = frecs.clone();
    r2[fentries[k]] = Rec::Entry(entry.encode_to_vec().into());
    let r = verify(&logs, &assemble(&r2));
    let f = expect(&r, FindingKind::BadSignature, Some(k as u64));
    assert!(f.detail.contains("receipt by KR-KNPA"), "{f}");

    let forged = sign_envelope(
        &logs.filmco_signer,
        RECEIPTS_PAYLOAD_TYPE,
        list.encode_to_vec().into(),
    );
    let mut forged = pb::Envelope {
        signatures: forged.signatures,
        ..env
    };
    forged.signatures[0].keyid = format!("{KR}/k1");
    entry.record = Some(pb::log_entry::Record::Envelope(
        forged.encode_to_vec().into(),
    ));
    let mut r2 = frecs.clone();
    r2[fentries[k]] = Rec::Entry(entry.encode_to_vec().into());
    let r = verify(&logs, &assemble(&r2));
    expect(&r, FindingKind::BadSignature, Some(k as u64));
    Ok(())
}

/// `recs` with entry `drop` (one that holds no disclosures) deleted, the
/// entries after it renumbered, every checkpoint removed and the trailer
/// recomputed: a history cut by whoever handled the file.
fn cut_history(recs: &[Rec], drop: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut tree = RootBuilder::new();
    for rec in recs {
        match rec {
            Rec::Checkpoint(_) => {}
            Rec::Entry(_) => {
                let mut e = entry_of(rec);
                assert!(e.index != drop || e.disclosure_digests.is_empty());
                if e.index == drop {
                    continue;
                }
                if e.index > drop {
                    e.index -= 1;
                }
                let bytes: Bytes = e.encode_to_vec().into();
                tree.push_hash(leaf_hash(&bytes));
                out.push(Rec::Entry(bytes));
            }
            Rec::Pending(p) if p.index > drop => out.push(Rec::Pending(pb::PendingDelivery {
                index: p.index - 1,
                ..p.clone()
            })),
            Rec::Trailer(_) => out.push(Rec::Trailer(pb::ExportTrailer {
                entry_count: tree.size(),
                root: Bytes::copy_from_slice(&tree.root()),
                record_count: out.len() as u64,
            })),
            Rec::Header(h) => out.push(Rec::Header(pb::ExportHeader {
                entry_count: h.entry_count - 1,
                ..h.clone()
            })),
            other => out.push(other.clone()),
        }
    }
    assemble(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_no_checkpoint_attests_is_reported() -> Result<()> {
    let logs = exchange().await?;
    let recs = records(&logs.kr);
    // Every export ends at a checkpoint its origin signed for it.
    assert!(matches!(recs[recs.len() - 2], Rec::Checkpoint(_)));
    assert!(verify(&logs, &logs.kr).is_clean());

    // Checkpoints stripped, a plain entry deleted, the rest renumbered,
    // the trailer recomputed: nothing else shows it, and verify says so.
    let plain = (1..)
        .find(|&i| {
            entry_records(&recs)
                .get(i)
                .is_some_and(|&r| entry_of(&recs[r]).disclosure_digests.is_empty())
        })
        .context("a plain entry")?;
    let r = verify(&logs, &cut_history(&recs, plain as u64));
    let found: Vec<_> = r.findings.iter().map(|f| (f.kind, f.index)).collect();
    assert_eq!(
        found,
        [(FindingKind::Unattested, None)],
        "{:#?}",
        r.findings
    );

    // The last checkpoint removed: the entries after the one before it
    // are an unattested tail.
    let cps: Vec<usize> = (0..recs.len())
        .filter(|&k| matches!(recs[k], Rec::Checkpoint(_)))
        .collect();
    ensure!(cps.len() >= 2, "two checkpoints");
    let before = entry_records(&recs)
        .iter()
        .filter(|&&e| e < cps[cps.len() - 2])
        .count() as u64;
    let mut r2 = recs.clone();
    r2.remove(cps[cps.len() - 1]);
    let count = r2.len() as u64 - 1;
    if let Some(Rec::Trailer(t)) = r2.last_mut() {
        t.record_count = count;
    }
    let r = verify(&logs, &assemble(&r2));
    let f = expect(&r, FindingKind::Unattested, Some(before));
    assert!(f.detail.contains(&format!("size {before}")), "{f}");
    assert_eq!(r.findings_total, 1, "{:#?}", r.findings);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_awaited_past_the_memory_bound_are_reported_not_kept() -> Result<()> {
    let logs = exchange().await?;
    let recs = records(&logs.filmco);
    let first_sent = entry_of(
        &recs[entry_records(&recs)
            [find_entry(&recs, |e, env| is_notice(e, env, pb::Direction::Outbound))]],
    )
    .index;
    let verify_within = |bytes: usize| {
        let options = VerifyOptions {
            max_outstanding_bytes: bytes,
            ..VerifyOptions::new(logs.roster_key.clone())
        };
        isop_audit::verify(logs.filmco.as_slice(), &options, None)
    };
    assert!(verify_within(isop_audit::DEFAULT_MAX_OUTSTANDING_BYTES)?.is_clean());
    // No room at all: what the three referrals await is not kept, their
    // receipts are not judged (none is reported unmatched), and one
    // finding says from where and how many.
    let r = verify_within(0)?;
    let found: Vec<_> = r.findings.iter().map(|f| (f.kind, f.index)).collect();
    assert_eq!(
        found,
        [(FindingKind::TooManyOutstanding, Some(first_sent))],
        "{:#?}",
        r.findings
    );
    assert!(
        r.findings[0]
            .detail
            .contains("the receipts of 3 notices sent from there on were not checked"),
        "{}",
        r.findings[0]
    );
    Ok(())
}

/// Logs that took in (or sent out) what the policy forbids, as a node that
/// skipped the check would have: the auditor finds each at its index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sending_policy_broken_in_and_out_is_found() -> Result<()> {
    use isop_audit::FindingKind::{MissingReceipt, PolicyViolation};
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco_node = fed.start(FILMCO).await?;
    let filmco = signer(&fed, FILMCO)?;
    let sports = signer(&fed, SPORTS)?;
    let seal =
        |draft: NoticeDraft, signer: &Signer| draft.seal(signer, now(), &mut rand::rngs::OsRng);
    // A genuine referral, delivered and accepted: nothing to find.
    let sent = filmco_node.send(referral(&[KR], Tlp::Amber)).await?;
    filmco_node
        .wait_until("the referral is delivered", STEP, |n| {
            delivered(n, sent.index, KR)
        })
        .await?;
    assert_eq!(audit_findings(&kr, &fed)?, []);

    // What every node refuses, logged all the same: a partner's takedown
    // request, and a partner's status update on another partner's referral.
    let takedown = || {
        NoticeDraft::new(
            Tlp::Amber,
            TakedownRequestBuilder::new(
                pb::Target {
                    domain: "streamz.example".into(),
                    hosting_country: "KR".into(),
                    ..Default::default()
                },
                pb::RequestedAction::Takedown,
            )
            .legal_basis("Copyright Act, s. 104")
            .deadline(UnixMillis(now().0 + 86_400_000))
            .build(),
        )
        .to_org(&org(KR))
    };
    let by_partner = forge(&kr, &seal(takedown(), &filmco)?, Some(FILMCO), &[])?;
    let status = NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(sent.id, pb::ReferralStatus::Accepted).build(),
    )
    .to_org(&org(KR))
    .in_reply_to(sent.id);
    let on_anothers = forge(&kr, &seal(status, &sports)?, Some(SPORTS), &[])?;
    assert_eq!(
        audit_findings(&kr, &fed)?,
        [
            (PolicyViolation, Some(by_partner.0)),
            (PolicyViolation, Some(on_anothers.0))
        ]
    );
    // And on the sending side: the partner's own log shows it sent one.
    let forbidden = forge(&filmco_node, &seal(takedown(), &filmco)?, None, &[KR])?;
    assert_eq!(
        audit_findings(&filmco_node, &fed)?,
        [
            (MissingReceipt, Some(forbidden.0)),
            (PolicyViolation, Some(forbidden.0))
        ]
    );
    for n in [kr, filmco_node] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_history_and_a_denied_receipt_show_in_the_cross_check() -> Result<()> {
    let logs = exchange().await?;
    let recs = records(&logs.kr);
    let entries = entry_records(&recs);

    // KR rewrites an early entry, then re-signs every checkpoint with its own
    // key and drops the hub's cosignatures: a self-consistent second history.
    let i = find_entry(&recs, |e, env| is_notice(e, env, pb::Direction::Inbound));
    let mut forged = recs.clone();
    let mut e = entry_of(&recs[entries[i]]);
    e.appended_at += 1;
    forged[entries[i]] = Rec::Entry(e.encode_to_vec().into());
    let mut tree = RootBuilder::new();
    let kr_org = org(KR);
    for rec in forged.iter_mut() {
        match rec {
            Rec::Entry(b) => tree.push_hash(leaf_hash(b)),
            Rec::Checkpoint(c) => {
                let note =
                    Checkpoint::new(&kr_org, tree.size(), tree.root()).sign(&logs.kr_signer)?;
                c.note = note.to_bytes().into();
            }
            Rec::Trailer(t) => t.root = Bytes::copy_from_slice(&tree.root()),
            _ => {}
        }
    }
    let forged = assemble(&forged);
    // The hub's cosignatures that KR logged still name the old roots.
    let alone = verify(&logs, &forged);
    assert!(
        !alone.findings.is_empty()
            && alone
                .findings
                .iter()
                .all(|f| f.kind == FindingKind::SplitView),
        "{:#?}",
        alone.findings
    );
    // The hub's log holds the checkpoints of KR it cosigned: a split view.
    let c = cross(&logs, &forged, &logs.hub)?;
    let split: Vec<_> = c
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::SplitView && f.log == KR)
        .collect();
    assert_eq!(split.len(), 2, "{:#?}", c.findings);

    // KR's export cut short of the notices FILMCO holds KR's receipts for:
    // KR signed receipts its log does not show.
    let cut = entry_records(&records(&logs.kr))[2];
    let mut short: Vec<Rec> = recs[..cut].to_vec();
    short.push(Rec::Trailer(pb::ExportTrailer::default()));
    let c = cross(&logs, &logs.filmco, &assemble(&short))?;
    assert!(
        c.findings
            .iter()
            .any(|f| f.kind == FindingKind::DenialOfReceipt && f.log == KR),
        "{:#?}",
        c.findings
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_foreign_files_never_panic() -> Result<()> {
    let logs = exchange().await?;
    let options = VerifyOptions::new(logs.roster_key.clone());
    for (bytes, needle) in [
        (&b""[..], "empty"),
        (&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], "exceeds"),
        (&[0u8, 0, 0, 3, 0xff, 0xff, 0xff][..], "does not decode"),
    ] {
        let e = isop_audit::verify(bytes, &options, None).expect_err("not an export");
        assert!(e.to_string().contains(needle), "{e}");
        assert!(e.to_string().contains("byte"), "{e}");
    }
    // Random corruption anywhere: a report (or an error naming the place), never a panic.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..300 {
        let mut b = logs.kr.clone();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..b.len());
            b[at] = rng.r#gen();
        }
        if rng.gen_bool(0.3) {
            b.truncate(rng.gen_range(0..b.len()));
        }
        match isop_audit::verify(b.as_slice(), &options, None) {
            Ok(r) => ensure!(
                r.findings_total > 0 || b == logs.kr,
                "a corrupt file verified clean"
            ),
            Err(e) => ensure!(e.to_string().contains("byte"), "{e}"),
        }
        let _ = isop_audit::replay(b.as_slice(), &logs.roster_key, None);
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("present")
}

/// A receiver's export taken before a notice reached it: the sender's
/// receipt for that notice, signed after the export, names an entry beyond
/// it. The notice was in flight when the export was cut, not denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_signed_after_the_receivers_export_is_in_flight() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let export = |node: &isop_node::Node, name: &str| -> Result<std::path::PathBuf> {
        let clearance = node.roster().clearance(node.org())?;
        let mut out = Vec::new();
        node.export(&mut out, &clearance)?;
        let path = dir.path().join(name);
        std::fs::write(&path, out)?;
        Ok(path)
    };
    for n in 0..2 {
        if n == 1 {
            // KR's export is cut between the two.
            export(&kr, "kr.isop")?;
        }
        let sent = filmco.send(referral(&[KR], Tlp::Amber)).await?;
        filmco
            .wait_until("the receipt", STEP, |f| delivered(f, sent.index, KR))
            .await?;
    }
    let filmco_export = export(&filmco, "filmco.isop")?;
    let c = isop_audit::cross_check(
        &filmco_export,
        &dir.path().join("kr.isop"),
        &fed.roster_key(),
        None,
    )?;
    assert!(c.findings.is_empty(), "{:#?}", c.findings);
    assert_eq!(c.pending, 1, "the second referral was in flight");
    for node in [kr, filmco] {
        node.shutdown().await?;
    }
    Ok(())
}
