//! Audit benchmark, in a release build:
//!
//! ```sh
//! cargo bench -p isop-audit --bench verify
//! ISOP_BENCH_ENTRIES=200000 cargo bench -p isop-audit --bench verify   # smaller
//! ```
//!
//! It writes (once, then reuses from `target/`) an export of
//! `ISOP_BENCH_ENTRIES` entries (default 1,000,000) as a partner's node
//! logs them: a roster, then signed referrals of about 1 KiB with three
//! labelled fields, each followed by the recipient agency's signed receipt,
//! with a cosigned checkpoint every 65,536 entries. Then, each in a fresh
//! process so that peak memory is its own, it times: reading the records
//! alone; reading, decoding and hashing the tree; and `verify` with 1
//! thread and with one per core, reporting entries/s and peak resident
//! memory (VmHWM).
//!
//! Then the crafted exports: a partner's log of notices that were never
//! receipted (its peer never answered and nothing is pending), each with
//! 64 labelled fields under distinct labels of about 1 KiB, the most a
//! verifier must keep per notice, in three sizes each four times the last.
//! Peak memory must stay flat as the file grows: what the awaited receipts
//! take is bounded (`VerifyOptions::max_outstanding_bytes`).

use std::io::Write;
use std::time::Instant;

use isop_core::merkle::{RootBuilder, leaf_hash};
use isop_core::pb::export_record::Record as Rec;
use isop_core::pb::field_value::Value;
use isop_core::*;
use isop_export::{EXPORT_FORMAT, ExportReader, ExportWriter};
use prost::Message;

/// The allocator the `isop` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHILD: &str = "ISOP_AUDIT_BENCH_CHILD";
const T0: u64 = 1_790_000_000_000;

fn org(s: &str) -> OrgId {
    s.parse().expect("an org id")
}

fn signer(org_id: &str, seed: u8) -> Signer {
    Signer::new(
        KeyId::new(org(org_id), "k1".parse().expect("a key name")),
        SecretKey::from_seed(&[seed; 32]),
    )
}

fn roster(partner: &Signer, agency: &Signer, key: &Signer) -> pb::Envelope {
    let k1: KeyName = "k1".parse().expect("a key name");
    RosterBuilder::new("isop-bench", 1, UnixMillis(T0 - 1000))
        .member(&org("RH-FILMCO"), "FilmCo", Role::Partner, "US")
        .key(
            &org("RH-FILMCO"),
            &k1,
            &partner.public(),
            UnixMillis(0),
            UnixMillis(u64::MAX),
        )
        .expect("a key")
        .member(&org("KR-KNPA"), "KNPA", Role::Agency, "KR")
        .key(
            &org("KR-KNPA"),
            &k1,
            &agency.public(),
            UnixMillis(0),
            UnixMillis(u64::MAX),
        )
        .expect("a key")
        .sign(key)
        .expect("a roster")
}

fn entry(
    index: u64,
    at: u64,
    direction: pb::Direction,
    peer: &str,
    env: &pb::Envelope,
) -> pb::LogEntry {
    pb::LogEntry {
        index,
        appended_at: at,
        direction: direction as i32,
        peer: peer.into(),
        record: Some(pb::log_entry::Record::Envelope(env.encode_to_vec().into())),
        disclosure_digests: Vec::new(),
        recipients: Vec::new(),
    }
}

/// An export being written to a temporary file: entries go into its tree.
struct Writing {
    out: ExportWriter<std::fs::File>,
    tree: RootBuilder,
    tmp: std::path::PathBuf,
}

impl Writing {
    /// Starts the export that `path` will hold: the header, the roster,
    /// and the roster's LOCAL entry.
    fn start(path: &std::path::Path, header: pb::ExportHeader, roster_env: &pb::Envelope) -> Self {
        let tmp = path.with_extension("partial");
        let file = std::fs::File::create(&tmp).expect("a file");
        let mut w = Self {
            out: ExportWriter::new(file),
            tree: RootBuilder::new(),
            tmp,
        };
        w.out.put(Rec::Header(header)).expect("written");
        w.out.put(Rec::Roster(roster_env.clone())).expect("written");
        w.entry(&entry(0, T0, pb::Direction::Local, "", roster_env));
        w
    }

    fn entry(&mut self, e: &pb::LogEntry) {
        let bytes = e.encode_to_vec();
        self.tree.push_hash(leaf_hash(&bytes));
        self.out.put(Rec::Entry(bytes.into())).expect("written");
    }

    fn checkpoint(&mut self, note: &SignedNote) {
        self.out
            .put(Rec::Checkpoint(pb::ExportCheckpoint {
                note: note.to_bytes().into(),
            }))
            .expect("written");
    }

    /// The trailer; then the file, synced, takes its place at `path`.
    fn finish(mut self, path: &std::path::Path) {
        let records = self.out.records();
        self.out
            .put(Rec::Trailer(pb::ExportTrailer {
                entry_count: self.tree.size(),
                root: bytes::Bytes::copy_from_slice(&self.tree.root()),
                record_count: records,
            }))
            .expect("written");
        self.out
            .into_inner()
            .expect("flushed")
            .sync_all()
            .expect("synced");
        std::fs::rename(&self.tmp, path).expect("renamed");
    }
}

/// Fields per crafted notice, and the length of each one's label.
const CRAFTED_FIELDS: usize = 64;
const CRAFTED_LABEL_LEN: usize = 1000;

/// Writes a crafted export of `notices` unreceipted notices with large,
/// distinct labels; returns the roster key.
fn generate_crafted(path: &std::path::Path, notices: u64) -> RosterKey {
    let key = signer("ISOP-FED", 9);
    let roster_key = RosterKey::of(&key);
    if path.exists() {
        return roster_key;
    }
    let (partner, agency) = (signer("RH-FILMCO", 1), signer("KR-KNPA", 2));
    let roster_env = roster(&partner, &agency, &key);
    let mut w = Writing::start(
        path,
        pb::ExportHeader {
            format: EXPORT_FORMAT.into(),
            origin: "RH-FILMCO".into(),
            exported_at: T0 + notices + 1,
            clearance: vec!["role:auditor".into()],
            first_index: 0,
            entry_count: 1 + notices,
        },
        &roster_env,
    );
    let mut rng = rand::rngs::OsRng;
    for i in 0..notices {
        let at = T0 + 1 + i;
        let mut draft = NoticeDraft::new(
            Tlp::Amber,
            testing::referral_builder(testing::target(&format!("site{i}.example")), UnixMillis(at))
                .build(),
        )
        .to_org(&org("KR-KNPA"));
        for f in 0..CRAFTED_FIELDS {
            let mut label = String::new();
            let mut t = 0;
            while label.len() < CRAFTED_LABEL_LEN - 24 {
                if t > 0 {
                    label.push('|');
                }
                label.push_str(&format!("n{i}-f{f}-t{t}"));
                t += 1;
            }
            draft = draft.labelled(&format!("referral.f{f}"), &label, Value::Text("x".into()));
        }
        let sealed = draft
            .seal(&partner, UnixMillis(at), &mut rng)
            .expect("sealed");
        let mut sent = entry(1 + i, at, pb::Direction::Outbound, "", sealed.envelope());
        sent.recipients = vec!["KR-KNPA".into()];
        w.entry(&sent);
    }
    let note = Checkpoint::new(&org("RH-FILMCO"), w.tree.size(), w.tree.root())
        .sign(&partner)
        .expect("signed");
    w.checkpoint(&note);
    w.finish(path);
    roster_key
}

/// Writes the export; returns the roster key.
fn generate(path: &std::path::Path, entries: u64) -> RosterKey {
    let key = signer("ISOP-FED", 9);
    let roster_key = RosterKey::of(&key);
    if path.exists() {
        return roster_key;
    }
    eprintln!("writing a {entries}-entry export to {} …", path.display());
    let started = Instant::now();
    let (partner, agency) = (signer("RH-FILMCO", 1), signer("KR-KNPA", 2));
    let roster_env = roster(&partner, &agency, &key);
    let kr = org("KR-KNPA");
    // The roster entry, then a notice and its receipt per pair.
    let pairs = entries / 2;
    let mut w = Writing::start(
        path,
        pb::ExportHeader {
            format: EXPORT_FORMAT.into(),
            origin: "RH-FILMCO".into(),
            exported_at: T0 + entries,
            clearance: vec![
                "role:auditor".into(),
                "role:agency".into(),
                "country:KR".into(),
            ],
            first_index: 0,
            entry_count: 1 + 2 * pairs,
        },
        &roster_env,
    );
    // Notices and their receipts, made on every core in chunks.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = 4096;
    let mut next = 0u64;
    while next < pairs {
        let n = chunk.min(pairs - next);
        let made: Vec<Vec<(pb::LogEntry, Vec<bytes::Bytes>, pb::LogEntry)>> =
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads as u64)
                    .map(|t| {
                        let (partner, agency, kr) = (&partner, &agency, &kr);
                        s.spawn(move || {
                            let mut rng = rand::rngs::OsRng;
                            (t..n)
                                .step_by(threads)
                                .map(|k| {
                                    let i = next + k;
                                    let at = T0 + 1 + 2 * i;
                                    // The shared example referral, its summary
                                    // padding it to about 1 KiB.
                                    let sealed = testing::referral_draft(
                                        testing::referral_builder(
                                            testing::target(&format!("site{i}.example")),
                                            UnixMillis(at),
                                        )
                                        .summary(&"recording of the stream; ".repeat(12))
                                        .build(),
                                        &[kr],
                                        Tlp::Amber,
                                    )
                                    .seal(partner, UnixMillis(at), &mut rng)
                                    .expect("sealed");
                                    let mut sent = entry(
                                        0,
                                        at,
                                        pb::Direction::Outbound,
                                        "",
                                        sealed.envelope(),
                                    );
                                    sent.recipients = vec!["KR-KNPA".into()];
                                    let disclosures: Vec<bytes::Bytes> = sealed
                                        .disclosures()
                                        .iter()
                                        .map(|d| d.bytes().clone())
                                        .collect();
                                    sent.disclosure_digests = sealed
                                        .disclosures()
                                        .iter()
                                        .map(|d| bytes::Bytes::copy_from_slice(d.digest()))
                                        .collect();
                                    let delivered: Vec<[u8; 32]> = sealed.disclosures()[..2]
                                        .iter()
                                        .map(|d| *d.digest())
                                        .collect();
                                    let receipt = ReceiptDraft {
                                        notice_id: Some(sealed.notice().id()),
                                        notice_digest: Some(sha256(&sealed.envelope().payload)),
                                        disclosure_digests: delivered,
                                        received_at: UnixMillis(at),
                                        outcome: ReceiptOutcome::Accepted(LogIndex(i)),
                                    }
                                    .sign(agency)
                                    .expect("a receipt");
                                    let got = entry(
                                        0,
                                        at + 1,
                                        pb::Direction::Inbound,
                                        "KR-KNPA",
                                        &receipt,
                                    );
                                    (sent, disclosures, got)
                                })
                                .collect()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a maker"))
                    .collect()
            });
        // Interleave the threads' results back into order.
        let mut iters: Vec<_> = made.into_iter().map(|v| v.into_iter()).collect();
        for k in 0..n {
            let (mut sent, disclosures, mut got) =
                iters[(k % threads as u64) as usize].next().expect("made");
            sent.index = w.tree.size();
            w.entry(&sent);
            // The auditor's clearance (role:agency) takes two of the three.
            for d in &disclosures[..2] {
                w.out.put(Rec::Disclosure(d.clone())).expect("written");
            }
            got.index = w.tree.size();
            w.entry(&got);
            if w.tree.size() % 65_536 < 2 {
                let note = Checkpoint::new(&org("RH-FILMCO"), w.tree.size(), w.tree.root())
                    .sign(&partner)
                    .expect("signed");
                w.checkpoint(&note);
            }
        }
        next += n;
    }
    let mut note = Checkpoint::new(&org("RH-FILMCO"), w.tree.size(), w.tree.root())
        .sign(&partner)
        .expect("signed");
    note.add_signature(&agency);
    w.checkpoint(&note);
    let size = w.tree.size();
    w.finish(path);
    eprintln!(
        "  {} entries written in {:.1} s",
        size,
        started.elapsed().as_secs_f64()
    );
    roster_key
}

fn vm_hwm_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One measurement, in this (fresh) process: prints `entries seconds hwm_mb`.
fn child(mode: &str, path: &std::path::Path, key: RosterKey, crafted: bool) {
    let file =
        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).expect("the export"));
    let started = Instant::now();
    let entries = match mode {
        "read" => {
            let mut r = ExportReader::new(file);
            let mut n = 0u64;
            while let Some((_, rec)) = r.next_record().expect("readable") {
                n += u64::from(matches!(rec, Rec::Entry(_)));
            }
            n
        }
        "hash" => {
            let mut r = ExportReader::new(file);
            let mut tree = RootBuilder::new();
            while let Some((_, rec)) = r.next_record().expect("readable") {
                if let Rec::Entry(b) = rec {
                    let e = pb::LogEntry::decode(b.as_ref()).expect("an entry");
                    if let Some(pb::log_entry::Record::Envelope(env)) = &e.record {
                        let env = pb::Envelope::decode(env.as_ref()).expect("an envelope");
                        std::hint::black_box(env);
                    }
                    tree.push_hash(leaf_hash(&b));
                }
            }
            tree.size()
        }
        m => {
            let threads = m
                .strip_prefix("verify:")
                .and_then(|t| t.parse().ok())
                .unwrap_or(1);
            let mut options = isop_audit::VerifyOptions::new(key);
            options.threads = threads;
            let report = isop_audit::verify(file, &options, None).expect("an export");
            if crafted {
                // Never receipted: reported, within the bound.
                assert!(
                    report
                        .findings
                        .iter()
                        .any(|f| f.kind == isop_audit::FindingKind::MissingReceipt),
                    "{:#?}",
                    &report.findings[..report.findings.len().min(5)]
                );
            } else {
                assert!(
                    report.is_clean(),
                    "{:#?}",
                    &report.findings[..report.findings.len().min(5)]
                );
            }
            report.entries
        }
    };
    let secs = started.elapsed().as_secs_f64();
    println!("{entries} {secs} {}", vm_hwm_mb());
}

/// Runs `mode` in a fresh process (so that its peak memory is its own):
/// entries, seconds and peak RSS in MB.
fn measure(mode: &str, entries: u64) -> (f64, f64, f64) {
    let out = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .env(CHILD, mode)
        .env("ISOP_BENCH_ENTRIES", entries.to_string())
        .output()
        .expect("a child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (v[0], v[1], v[2])
}

fn main() {
    let entries: u64 = std::env::var("ISOP_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&dir).expect("a directory");
    if let Ok(mode) = std::env::var(CHILD) {
        if let Some(n) = mode.strip_prefix("crafted:") {
            let n: u64 = n.parse().expect("a count");
            let path = dir.join(format!("audit-crafted-{n}.isop"));
            let key = generate_crafted(&path, n);
            return child("verify:1", &path, key, true);
        }
        let path = dir.join(format!("audit-{entries}.isop"));
        let key = generate(&path, entries);
        return child(&mode, &path, key, false);
    }
    let path = dir.join(format!("audit-{entries}.isop"));
    generate(&path, entries);
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "audit verify on {entries} entries ({:.0} MB export, {} cores)",
        size as f64 / 1e6,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut modes = vec!["read".to_owned(), "hash".to_owned(), "verify:1".to_owned()];
    if cores > 1 {
        modes.push(format!("verify:{cores}"));
    }
    let mut rows = Vec::new();
    for mode in &modes {
        let (n, secs, hwm) = measure(mode, entries);
        rows.push((mode.clone(), n / secs, secs));
        println!(
            "  {mode:<10} {:>10.0} entries/s  {secs:>7.2} s  peak RSS {hwm:>6.1} MB",
            n / secs
        );
        std::io::stdout().flush().ok();
    }
    let per = |m: &str| rows.iter().find(|r| r.0 == m).map_or(f64::NAN, |r| r.2);
    let full = per(modes.last().map(String::as_str).unwrap_or("verify:1"));
    println!(
        "  where the time goes (one core, share of verify:1): reading {:.0}%, decoding and hashing {:.0}%, checks and signatures {:.0}%; {}-core speed-up {:.2}×",
        100.0 * per("read") / per("verify:1"),
        100.0 * (per("hash") - per("read")) / per("verify:1"),
        100.0 * (per("verify:1") - per("hash")) / per("verify:1"),
        cores,
        per("verify:1") / full
    );
    println!(
        "crafted exports: unreceipted notices, {CRAFTED_FIELDS} fields each under distinct {CRAFTED_LABEL_LEN}-byte labels (verify:1)"
    );
    let mut first_hwm = None;
    for n in [250u64, 1000, 4000] {
        let (_, _, hwm) = measure(&format!("crafted:{n}"), entries);
        let size = std::fs::metadata(dir.join(format!("audit-crafted-{n}.isop")))
            .map_or(0, |m| m.len()) as f64
            / 1e6;
        let base = *first_hwm.get_or_insert(hwm);
        println!(
            "  {n:>5} notices {size:>6.0} MB  peak RSS {hwm:>6.1} MB  ({:.2}× the smallest's, {:.2}× the file)",
            hwm / base,
            hwm / size
        );
        std::io::stdout().flush().ok();
    }
}
