//! `isop audit verify`: one streaming pass over an export that checks every
//! rule DESIGN.md "Auditing" lists, in bounded memory.
//!
//! Signatures are resolved against the roster in force on the reading
//! thread, then checked in batches on worker threads (ed25519 batch
//! verification, with a per-signature fallback that locates each bad one).
//! Everything else (the tree, checkpoints, disclosures, clearances, TLP,
//! receipts) is checked on the reading thread as the records go by.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use isop_core::merkle::{self, Hash, RootBuilder};
use isop_core::{
    Clearance, Commitment, Error as CoreError, Judgement, Label, NoteSigners, Notice, NoticeId,
    NoticeKind, OrgId, PendingSignature, ReceiptOutcome, ReplyContext, Roster, RosterKey,
    UnixMillis, check_transmission, pb, sha256, verify_batch,
};
use prost::Message;
use serde::Serialize;

use crate::entry::{Content, EntryRec, Event, Rosters, Walker, checkpoint_org, content};
use crate::finding::{Finding, FindingKind, Findings};
use crate::{AuditError, Progress};

/// Signatures per batch handed to a worker.
const BATCH: usize = 128;
/// Own checkpoints remembered, to compare the cosigned copies peers send back.
const KEEP_CHECKPOINTS: usize = 65_536;

/// The memory the sent notices still awaiting receipts may take, by
/// default: about 250,000 notices of a few fields each.
pub const DEFAULT_MAX_OUTSTANDING_BYTES: usize = 64 << 20;

/// How to verify.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The federation's roster key: the trust anchor every roster must be
    /// signed by.
    pub roster_key: RosterKey,
    /// Signature-checking threads (at least 1).
    pub threads: usize,
    /// The most memory, in bytes as the verifier counts them, that the sent
    /// notices still awaiting receipts may take (their commitments, labels
    /// and recipients). A notice sent beyond it is checked as any other,
    /// but its receipts are not: a `TOO_MANY_OUTSTANDING` finding says
    /// from which entry and how many, and memory stays bounded whatever
    /// the export holds.
    pub max_outstanding_bytes: usize,
}

impl VerifyOptions {
    /// Verifies with `roster_key`, on as many threads as the machine has.
    pub fn new(roster_key: RosterKey) -> Self {
        Self {
            roster_key,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_outstanding_bytes: DEFAULT_MAX_OUTSTANDING_BYTES,
        }
    }
}

/// An erasure the log records.
#[derive(Clone, Debug, Serialize)]
pub struct ErasureSeen {
    /// The LOCAL entry recording it.
    pub index: u64,
    /// The entry whose value was erased.
    pub entry_index: u64,
    /// The field's path.
    pub path: String,
    /// Who erased it.
    pub erased_by: String,
    /// Why.
    pub reason: String,
    /// When, Unix milliseconds.
    pub erased_at: u64,
}

/// What a verification found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// The log's origin org.
    pub origin: String,
    /// Export time, Unix milliseconds.
    pub exported_at: u64,
    /// The clearance the disclosures were exported for.
    pub clearance: Vec<String>,
    /// Entries read.
    pub entries: u64,
    /// Whether the file ended with a valid trailer.
    pub complete: bool,
    /// The recomputed RFC 6962 root, hex.
    pub root: String,
    /// Roster versions verified.
    pub rosters: u64,
    /// Notices sent and received.
    pub notices_sent: u64,
    /// Notices received.
    pub notices_received: u64,
    /// Receipts held (from recipients) and rejections issued.
    pub receipts: u64,
    /// Envelope signatures checked.
    pub signatures: u64,
    /// Checkpoints of this log checked.
    pub checkpoints: u64,
    /// Cosignatures on this log's checkpoints verified.
    pub cosignatures: u64,
    /// Peer checkpoints this node witnessed and cosigned.
    pub witnessed: u64,
    /// Disclosures checked against their commitments.
    pub disclosures: u64,
    /// Disclosures held by the node but withheld from this export's clearance.
    pub withheld: u64,
    /// Disclosures erased (not a finding).
    pub erased: u64,
    /// The erasures the log records (LOCAL entries), in entry order: who
    /// erased which field of which entry, when and why (at most
    /// `MAX_KEPT`; `erased` counts the erased values the export shows).
    pub erasures: Vec<ErasureSeen>,
    /// Accesses through the node's local API the log records
    /// (`audit replay --access` lists them).
    pub accesses: u64,
    /// Private matching runs logged (each stage an entry).
    pub match_runs: u64,
    /// Deliveries still pending in the outbox.
    pub pending: u64,
    /// Deliveries given up on (`DeliveryFailed` entries).
    pub failed: u64,
    /// Every finding kept, in entry order.
    pub findings: Vec<Finding>,
    /// How many findings there were (more than `findings` holds if very many).
    pub findings_total: u64,
}

impl VerifyReport {
    /// Whether the export verified with no finding.
    pub fn is_clean(&self) -> bool {
        self.findings_total == 0
    }
}

/// One signature to check, with the entry it belongs to.
struct SigJob {
    index: u64,
    offset: u64,
    what: String,
    sig: PendingSignature,
}

/// The signature workers: batches in, findings out.
struct Pool {
    tx: Option<SyncSender<Vec<SigJob>>>,
    workers: Vec<std::thread::JoinHandle<Findings>>,
    batch: Vec<SigJob>,
    checked: u64,
}

impl Pool {
    fn start(threads: usize, log: &str) -> Self {
        let (tx, rx) = sync_channel::<Vec<SigJob>>(threads.max(1) * 2);
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads.max(1))
            .map(|_| {
                let rx: Arc<Mutex<Receiver<Vec<SigJob>>>> = rx.clone();
                let log = log.to_owned();
                std::thread::spawn(move || {
                    let mut f = Findings::new(&log);
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        let Ok(Ok(batch)) = next else { break };
                        let checks: Vec<_> = batch.iter().map(|j| j.sig.check()).collect();
                        for bad in verify_batch(&checks) {
                            let j = &batch[bad];
                            f.add(
                                FindingKind::BadSignature,
                                Some(j.index),
                                Some(j.offset),
                                format!("{} signed by {}", j.what, j.sig.key_id()),
                            );
                        }
                    }
                    f
                })
            })
            .collect();
        Self {
            tx: Some(tx),
            workers,
            batch: Vec::with_capacity(BATCH),
            checked: 0,
        }
    }

    fn push(&mut self, job: SigJob) {
        self.checked += 1;
        self.batch.push(job);
        if self.batch.len() >= BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Some(tx) = &self.tx {
            // A worker only stops when the channel closes, so this succeeds.
            let _ = tx.send(batch);
        }
    }

    fn finish(mut self, f: &mut Findings) {
        if !self.batch.is_empty() {
            self.send();
        }
        self.tx = None;
        for w in self.workers.drain(..) {
            match w.join() {
                Ok(found) => f.merge(found),
                Err(_) => f.add(
                    FindingKind::FileMalformed,
                    None,
                    None,
                    "a signature worker failed",
                ),
            }
        }
    }
}

/// A sent notice still waiting for receipts: what its receipts are
/// checked against, and who has not answered.
struct Outstanding {
    id: NoticeId,
    digest: [u8; 32],
    /// Its commitments: each digest, and its label as a number in
    /// `Verifier::labels`.
    commitments: Box<[([u8; 32], u32)]>,
    /// Recipients yet to answer, as numbers in `Verifier::orgs`.
    waiting: Vec<u32>,
    /// What it was counted at, by `Outstanding::cost`.
    cost: usize,
}

impl Outstanding {
    /// What it takes in memory, counted with its share of the maps that
    /// hold it (an allowance for their nodes and its `by_id` entry).
    fn cost(commitments: usize, waiting: usize) -> usize {
        const MAP_ALLOWANCE: usize = 96;
        std::mem::size_of::<Self>() + MAP_ALLOWANCE + commitments * 36 + waiting * 4
    }
}

/// What a label kept for outstanding notices takes in memory: its text
/// twice (the key and the label) and its parsed tokens.
fn label_cost(text: &str) -> usize {
    let tokens = 1 + text.bytes().filter(|b| matches!(b, b'&' | b'|')).count();
    2 * text.len() + 96 * tokens + 64
}

/// Where a notice was first logged: its author (a number in
/// `Verifier::orgs`), its entry's index modulo 2^32 (exact for any log
/// under four billion entries) and whether it is a referral. One is kept
/// for every notice, so it is kept small: 28 bytes with its id.
struct Logged {
    author: u32,
    index_low: u32,
    /// Whether it is a referral (what a reply's rules depend on).
    referral: bool,
}

/// The entry the next disclosure records belong to.
struct Current {
    index: u64,
    held: Vec<[u8; 32]>,
    commitments: Vec<Commitment>,
    /// Disclosure and erasure records seen for it.
    seen: u64,
}

struct Verifier {
    origin: OrgId,
    rosters: Rosters,
    tree: RootBuilder,
    f: Findings,
    pool: Pool,
    report: VerifyReport,
    clearance: Clearance,
    current: Option<Current>,
    /// Sent notices by entry index, and their ids.
    outstanding: BTreeMap<u64, Outstanding>,
    by_id: HashMap<NoticeId, u64>,
    /// The labels of outstanding notices' commitments, each kept once, and
    /// their numbers by text.
    labels: Vec<Label>,
    label_numbers: HashMap<Box<str>, u32>,
    /// Memory taken by the outstanding notices and the labels, as counted
    /// by `Outstanding::cost` and `label_cost`, and its bound.
    outstanding_bytes: usize,
    max_outstanding_bytes: usize,
    /// Sent notices whose receipts are not checked, past the bound: the
    /// first one's entry index, and how many.
    untracked: Option<(u64, u64)>,
    /// The export's rosters the roster key refused, with why, and whether
    /// they name that key at all: said once if none names it (a wrong
    /// key), else each.
    refused_rosters: Vec<(String, bool)>,
    /// Entries not judged for want of a valid roster: the first one's
    /// index, and how many (said once).
    unjudged: Option<(u64, u64)>,
    /// Set when the roster key verified none of the export's rosters: the
    /// one finding, since nothing else could be judged.
    wrong_key: Option<String>,
    /// Every notice logged so far, where it was first logged: what a later
    /// retraction or addition of disclosures is judged against.
    logged: HashMap<NoticeId, Logged>,
    /// Authors and recipients, each kept once, and their numbers.
    org_numbers: HashMap<OrgId, u32>,
    orgs: Vec<OrgId>,
    /// This log's checkpoints seen so far (the latest ones), by size.
    own_checkpoints: BTreeMap<u64, Hash>,
    /// The size of the last checkpoint with the right root and a valid
    /// signature by the origin: the entries it attests.
    attested: Option<u64>,
}

/// Verifies an export read from `r`. Problems inside the export are
/// findings in the report; only a file that cannot be read, or is not an
/// export at all, is an error.
pub fn verify(
    r: impl Read,
    options: &VerifyOptions,
    progress: Option<Progress<'_>>,
) -> Result<VerifyReport, AuditError> {
    let mut walker = Walker::open(r, progress)?;
    let origin = walker.origin.clone();
    let mut v = Verifier {
        rosters: Rosters::new(options.roster_key.clone()),
        tree: RootBuilder::new(),
        f: Findings::new(origin.as_str()),
        pool: Pool::start(options.threads, origin.as_str()),
        report: VerifyReport {
            origin: origin.to_string(),
            exported_at: walker.header.exported_at,
            clearance: walker.header.clearance.clone(),
            ..Default::default()
        },
        clearance: Clearance::from_tokens(walker.header.clearance.iter()),
        current: None,
        outstanding: BTreeMap::new(),
        by_id: HashMap::new(),
        labels: Vec::new(),
        label_numbers: HashMap::new(),
        outstanding_bytes: 0,
        max_outstanding_bytes: options.max_outstanding_bytes,
        untracked: None,
        refused_rosters: Vec::new(),
        unjudged: None,
        wrong_key: None,
        logged: HashMap::new(),
        org_numbers: HashMap::new(),
        orgs: Vec::new(),
        own_checkpoints: BTreeMap::new(),
        attested: None,
        origin,
    };
    loop {
        let tree = &v.tree;
        let next = walker.next(|| tree.root(), &mut v.f);
        let Some(event) = next? else { break };
        match event {
            Event::Roster(env) => match v.rosters.add(&env) {
                Ok(_) => v.report.rosters += 1,
                Err(why) => {
                    let names_key = env
                        .signatures
                        .iter()
                        .any(|sig| sig.keyid == options.roster_key.name);
                    v.refused_rosters.push((why, names_key));
                }
            },
            Event::Entry(e) => v.entry(*e),
            Event::Disclosure { offset, bytes } => v.disclosure(offset, &bytes),
            Event::Erased { offset, erased } => v.erased(offset, &erased),
            Event::Checkpoint { offset, note } => v.checkpoint(offset, &note),
            Event::Pending { offset, pending } => v.pending(offset, &pending),
        }
    }
    v.close_current();
    v.rosters_said();
    v.unattested();
    for (index, o) in std::mem::take(&mut v.outstanding) {
        for r in o.waiting {
            v.f.add(
                FindingKind::MissingReceipt,
                Some(index),
                None,
                format!(
                    "notice {} sent to {}: no receipt, and no delivery pending",
                    o.id, v.orgs[r as usize]
                ),
            );
        }
    }
    if let Some((first, count)) = v.untracked {
        v.f.add(
            FindingKind::TooManyOutstanding,
            Some(first),
            None,
            format!(
                "sent notices awaiting receipts reached the bound of {} MiB at entry {first}: the receipts of {count} notices sent from there on were not checked",
                v.max_outstanding_bytes >> 20
            ),
        );
    }
    let Verifier {
        mut f,
        pool,
        mut report,
        tree,
        wrong_key,
        ..
    } = v;
    report.signatures = pool.checked;
    pool.finish(&mut f);
    report.entries = walker.entries();
    report.complete = walker.complete;
    report.root = hex::encode(tree.root());
    let (mut findings, mut total) = f.sorted();
    if let Some(why) = wrong_key {
        // What needs a roster follows from the key; what the file itself
        // breaks does not, and is still said.
        findings.retain(|f| f.kind.is_structural());
        findings.insert(
            0,
            Finding {
                kind: FindingKind::RosterInvalid,
                log: report.origin.clone(),
                index: None,
                offset: None,
                detail: why,
            },
        );
        total = findings.len() as u64;
    }
    report.findings = findings;
    report.findings_total = total;
    Ok(report)
}

impl Verifier {
    fn add(&mut self, kind: FindingKind, e: &EntryRec, detail: impl Into<String>) {
        self.f.add(kind, Some(e.position), Some(e.offset), detail);
    }

    fn sig(&mut self, e: &EntryRec, what: String, sig: Result<PendingSignature, CoreError>) {
        match sig {
            Ok(sig) => self.pool.push(SigJob {
                index: e.position,
                offset: e.offset,
                what,
                sig,
            }),
            Err(err) => self.add(FindingKind::KeyNotValid, e, format!("{what}: {err}")),
        }
    }

    fn entry(&mut self, e: EntryRec) {
        self.tree.push_hash(merkle::leaf_hash(&e.bytes));
        self.close_current();
        let entry = match &e.entry {
            Ok(entry) => entry,
            Err(why) => {
                let why = format!("does not decode: {why}");
                self.add(FindingKind::EntryInvalid, &e, why);
                return;
            }
        };
        if entry.index != e.position {
            let why = format!(
                "the entry at position {} claims index {}: an entry was deleted, inserted or moved",
                e.position, entry.index
            );
            self.add(FindingKind::EntryIndexMismatch, &e, why);
        }
        let held: Vec<[u8; 32]> = entry
            .disclosure_digests
            .iter()
            .filter_map(|d| <[u8; 32]>::try_from(d.as_ref()).ok())
            .collect();
        if held.len() != entry.disclosure_digests.len() {
            self.add(
                FindingKind::EntryInvalid,
                &e,
                "a disclosure digest is not 32 bytes",
            );
        }
        let at = UnixMillis(entry.appended_at);
        let Some(roster) = self.rosters.at(at) else {
            let (first, count) = self.unjudged.unwrap_or((e.position, 0));
            self.unjudged = Some((first, count + 1));
            return;
        };
        let direction = pb::Direction::try_from(entry.direction).ok();
        let peer = OrgId::new(&entry.peer).ok();
        match content(entry) {
            Err(why) => self.add(FindingKind::EntryInvalid, &e, why),
            Ok(Content::Notice { env, notice }) => {
                let sig = roster.resolve_signature(
                    &env,
                    notice.author(),
                    notice.created_at(),
                    Judgement::AtCreation,
                );
                self.sig(&e, format!("notice {}", notice.id()), sig);
                let receivers: Vec<OrgId> = match direction {
                    Some(pb::Direction::Inbound) => vec![self.origin.clone()],
                    // Recipients that do not parse are reported with the entry.
                    _ => entry
                        .recipients
                        .iter()
                        .filter_map(|r| OrgId::new(r).ok())
                        .collect(),
                };
                self.policy(&e, &roster, &notice, &receivers);
                self.record_notice(&notice, e.position);
                self.committed(&e, &notice, &held);
                match direction {
                    Some(pb::Direction::Inbound) => {
                        self.report.notices_received += 1;
                        self.inbound_notice(&e, &roster, &notice, peer, &held, at);
                    }
                    Some(pb::Direction::Outbound) => {
                        self.report.notices_sent += 1;
                        self.outbound_notice(&e, &roster, &notice, &env, entry, at);
                    }
                    _ => self.add(FindingKind::EntryInvalid, &e, "a notice logged LOCAL"),
                }
                self.expect_disclosures(&e, held, &notice);
            }
            Ok(Content::Added {
                notice_index,
                env,
                notice,
            }) => {
                // A notice signed by its author, first logged at
                // `notice_index`; what it adds must be its fields.
                let sig = roster.resolve_signature(
                    &env,
                    notice.author(),
                    notice.created_at(),
                    Judgement::AtCreation,
                );
                self.sig(
                    &e,
                    format!("notice {} (disclosures added)", notice.id()),
                    sig,
                );
                match self.logged.get(&notice.id()) {
                    Some(l) if l.index_low == notice_index as u32 => {}
                    _ => {
                        let why = format!(
                            "adds disclosures to notice {} at entry {notice_index}, which does not hold that notice",
                            notice.id()
                        );
                        self.add(FindingKind::DisclosureMismatch, &e, why);
                    }
                }
                self.committed(&e, &notice, &held);
                if direction == Some(pb::Direction::Inbound) {
                    self.inbound_notice(&e, &roster, &notice, peer, &held, at);
                } else {
                    self.add(
                        FindingKind::EntryInvalid,
                        &e,
                        "disclosures added other than INBOUND",
                    );
                }
                self.expect_disclosures(&e, held, &notice);
            }
            Ok(Content::Receipts { env, receipts }) => {
                self.report.receipts += receipts.receipts().len() as u64;
                let receiver = receipts.receiver().clone();
                let sig = roster.resolve_signature(
                    &env,
                    &receiver,
                    receipts.received_at(),
                    Judgement::AtCreation,
                );
                self.sig(&e, format!("receipt by {receiver}"), sig);
                match direction {
                    Some(pb::Direction::Inbound) => {
                        if peer.as_ref() != Some(&receiver) {
                            let why = format!("receipts by {receiver} logged as from {peer:?}");
                            self.add(FindingKind::ReceiptMismatch, &e, why);
                        }
                        for receipt in receipts.receipts() {
                            self.receipt(&e, &roster, receipt);
                        }
                    }
                    Some(pb::Direction::Local) if receiver == self.origin => {}
                    _ => {
                        let why = format!(
                            "a receipt by {receiver} logged {direction:?} with peer {:?}",
                            entry.peer
                        );
                        self.add(FindingKind::ReceiptMismatch, &e, why);
                    }
                }
            }
            Ok(Content::Roster(env)) => {
                if let Err(why) = self.rosters.take_into_force(&env) {
                    self.add(FindingKind::RosterInvalid, &e, why);
                }
            }
            Ok(Content::Cosigned { note, checkpoint }) => {
                let NoteSigners {
                    valid: signers,
                    invalid: bad,
                } = self.rosters.note_signers(&note);
                for why in bad {
                    self.add(FindingKind::CosignatureInvalid, &e, why);
                }
                let of = checkpoint_org(&checkpoint);
                let Some(peer) = peer else {
                    self.add(
                        FindingKind::EntryInvalid,
                        &e,
                        "a cosigned checkpoint names no peer",
                    );
                    return;
                };
                match direction {
                    // This node witnessed the peer's checkpoint: the peer signed it.
                    Some(pb::Direction::Local) => {
                        self.report.witnessed += 1;
                        if of.as_ref() != Some(&peer) || !signers.contains(&peer) {
                            let why = format!(
                                "a witnessed checkpoint of {:?} without a valid signature by {peer}",
                                checkpoint.origin
                            );
                            self.add(FindingKind::CheckpointSignature, &e, why);
                        }
                    }
                    // A peer cosigned this log's checkpoint: it must be one this log signed.
                    Some(pb::Direction::Inbound) => {
                        if of.as_ref() != Some(&self.origin) || !signers.contains(&peer) {
                            let why = format!(
                                "a cosignature from {peer} on {:?} that it did not validly sign",
                                checkpoint.origin
                            );
                            self.add(FindingKind::CosignatureInvalid, &e, why);
                        }
                        if self
                            .own_checkpoints
                            .get(&checkpoint.size)
                            .is_some_and(|root| *root != checkpoint.root)
                        {
                            let why = format!(
                                "{peer} cosigned this log at size {} with a root this log's own checkpoint does not have",
                                checkpoint.size
                            );
                            self.add(FindingKind::SplitView, &e, why);
                        }
                    }
                    _ => self.add(
                        FindingKind::EntryInvalid,
                        &e,
                        "a cosigned checkpoint logged OUTBOUND",
                    ),
                }
            }
            Ok(Content::Access(_)) => {
                self.report.accesses += 1;
                if direction != Some(pb::Direction::Local) {
                    self.add(
                        FindingKind::EntryInvalid,
                        &e,
                        "an access record not logged LOCAL",
                    );
                }
            }
            Ok(Content::Match(m)) => {
                self.report.match_runs += 1;
                if direction != Some(pb::Direction::Local) {
                    self.add(
                        FindingKind::EntryInvalid,
                        &e,
                        "a matching run not logged LOCAL",
                    );
                } else if m.run.len() != 16 || m.query_commitment.len() != 32 || peer.is_none() {
                    self.add(
                        FindingKind::EntryInvalid,
                        &e,
                        "a matching run without its 16-byte id, its 32-byte commitment or its peer",
                    );
                }
            }
            Ok(Content::Erasure(erasure)) => {
                if direction != Some(pb::Direction::Local) {
                    self.add(FindingKind::EntryInvalid, &e, "an erasure not logged LOCAL");
                }
                if self.report.erasures.len() < crate::finding::MAX_KEPT {
                    self.report.erasures.push(ErasureSeen {
                        index: e.position,
                        entry_index: erasure.entry_index,
                        path: erasure.path,
                        erased_by: erasure.erased_by,
                        reason: erasure.reason,
                        erased_at: erasure.erased_at,
                    });
                }
            }
            Ok(Content::Failed {
                notice_index,
                recipient,
            }) => {
                self.report.failed += 1;
                if direction != Some(pb::Direction::Local) {
                    self.add(
                        FindingKind::EntryInvalid,
                        &e,
                        "a failed delivery not logged LOCAL",
                    );
                }
                if !self.settle(notice_index, &recipient) {
                    let why = format!(
                        "a failed delivery to {recipient:?} of entry {notice_index}, which is not a notice awaiting that recipient"
                    );
                    self.add(FindingKind::ReceiptMismatch, &e, why);
                }
            }
        }
    }

    /// The disclosure records that follow belong to entry `e`, which holds
    /// `held` of `notice`'s fields.
    fn expect_disclosures(&mut self, e: &EntryRec, held: Vec<[u8; 32]>, notice: &Notice) {
        self.current = Some(Current {
            index: e.position,
            held,
            commitments: notice.commitments().to_vec(),
            seen: 0,
        });
    }

    /// Every digest an entry holds must be one its notice commits to.
    fn committed(&mut self, e: &EntryRec, notice: &Notice, held: &[[u8; 32]]) {
        for d in held {
            if !notice.commitments().iter().any(|c| c.digest == *d) {
                let why = format!("holds digest {} that no commitment names", hex::encode(d));
                self.add(FindingKind::DisclosureMismatch, e, why);
            }
        }
    }

    /// The sending policy, as the node that sent or received the notice
    /// had to judge it: the author's role, each receiver's role and the
    /// kind, a reply against the notice it answers as this log holds it;
    /// and a retraction only by the author of what it retracts.
    fn policy(&mut self, e: &EntryRec, roster: &Roster, notice: &Notice, receivers: &[OrgId]) {
        let reply = match notice
            .in_reply_to()
            .and_then(|target| self.logged.get(&target))
            .and_then(|l| Some(l.referral).zip(self.orgs.get(l.author as usize)))
        {
            Some((true, author)) => ReplyContext::ReferralBy(author.clone()),
            Some((false, author)) => ReplyContext::Other(author.clone()),
            None => ReplyContext::Unknown,
        };
        if notice.kind() == NoticeKind::Retraction
            && let Some(author) = reply.author()
            && author != notice.author()
        {
            let why = format!(
                "{} retracts notice {}, whose author is {author}",
                notice.author(),
                notice
                    .in_reply_to()
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            );
            self.add(FindingKind::RetractionNotByAuthor, e, why);
            return;
        }
        // An author that is not a member is reported with its signature.
        let Ok(from) = roster.member(notice.author()).map(|m| m.role) else {
            return;
        };
        for r in receivers {
            let Ok(to) = roster.member(r).map(|m| m.role) else {
                continue;
            };
            if let Err(err) =
                roster
                    .policy()
                    .check(notice.author(), from, to, notice.kind(), &reply)
            {
                let why = format!(
                    "notice {} from {} to {r}: {err}",
                    notice.id(),
                    notice.author()
                );
                self.add(FindingKind::PolicyViolation, e, why);
            }
        }
    }

    /// Remembers where a notice was first logged.
    fn record_notice(&mut self, notice: &Notice, index: u64) {
        let author = self.org_number(notice.author());
        self.logged.entry(notice.id()).or_insert(Logged {
            author,
            // Truncated on purpose; see `Logged`.
            index_low: index as u32,
            referral: notice.kind() == NoticeKind::Referral,
        });
    }

    fn inbound_notice(
        &mut self,
        e: &EntryRec,
        roster: &Roster,
        notice: &Notice,
        peer: Option<OrgId>,
        held: &[[u8; 32]],
        at: UnixMillis,
    ) {
        let Some(sender) = peer else {
            self.add(
                FindingKind::EntryInvalid,
                e,
                "an inbound notice names no sender",
            );
            return;
        };
        self.transmission(e, roster, notice, &sender, &self.origin.clone(), at);
        let clearance = roster.clearance(&self.origin).unwrap_or_default();
        for c in notice.commitments() {
            if held.contains(&c.digest) && !c.label.allows(&clearance) {
                let why = format!(
                    "{} received {:?} labelled {:?} from {sender}",
                    self.origin,
                    c.path,
                    c.label.as_str()
                );
                self.add(FindingKind::DisclosureBeyondClearance, e, why);
            }
        }
    }

    fn outbound_notice(
        &mut self,
        e: &EntryRec,
        roster: &Roster,
        notice: &Notice,
        env: &pb::Envelope,
        entry: &pb::LogEntry,
        at: UnixMillis,
    ) {
        let mut waiting = Vec::new();
        for r in &entry.recipients {
            match OrgId::new(r) {
                Ok(r) => {
                    self.transmission(e, roster, notice, &self.origin.clone(), &r, at);
                    let r = self.org_number(&r);
                    if !waiting.contains(&r) {
                        waiting.push(r);
                    }
                }
                Err(err) => self.add(FindingKind::EntryInvalid, e, format!("recipient: {err}")),
            }
        }
        if waiting.is_empty() {
            return;
        }
        if self.by_id.contains_key(&notice.id()) {
            let why = format!("notice {} sent a second time", notice.id());
            self.add(FindingKind::EntryInvalid, e, why);
        }
        // Kept within the bound; from the first notice past it on, none is
        // kept and no receipt of one is judged.
        if let Some((_, count)) = &mut self.untracked {
            *count += 1;
            return;
        }
        let cost = Outstanding::cost(notice.commitments().len(), waiting.len());
        let new_labels: usize = notice
            .commitments()
            .iter()
            .filter(|c| !self.label_numbers.contains_key(c.label.as_str()))
            .map(|c| label_cost(c.label.as_str()))
            .sum();
        if self.outstanding_bytes + cost + new_labels > self.max_outstanding_bytes {
            self.untracked = Some((e.position, 1));
            return;
        }
        self.outstanding_bytes += cost + new_labels;
        let commitments = notice
            .commitments()
            .iter()
            .map(|c| (c.digest, self.label_number(&c.label)))
            .collect();
        self.by_id.insert(notice.id(), e.position);
        self.outstanding.insert(
            e.position,
            Outstanding {
                id: notice.id(),
                digest: sha256(&env.payload),
                commitments,
                waiting,
                cost,
            },
        );
    }

    /// `org`'s number in `orgs`.
    fn org_number(&mut self, org: &OrgId) -> u32 {
        let next = u32::try_from(self.orgs.len()).unwrap_or(u32::MAX);
        let n = *self.org_numbers.entry(org.clone()).or_insert(next);
        if n == next {
            self.orgs.push(org.clone());
        }
        n
    }

    /// `label`'s number in `labels`.
    fn label_number(&mut self, label: &Label) -> u32 {
        if let Some(n) = self.label_numbers.get(label.as_str()) {
            return *n;
        }
        let n = u32::try_from(self.labels.len()).unwrap_or(u32::MAX);
        self.labels.push(label.clone());
        self.label_numbers.insert(label.as_str().into(), n);
        n
    }

    /// Forgets an outstanding notice every recipient has answered.
    fn answered(&mut self, index: u64) {
        if let Some(o) = self.outstanding.remove(&index) {
            self.by_id.remove(&o.id);
            self.outstanding_bytes -= o.cost;
        }
    }

    /// Whether `sender` could pass `notice` to `receiver` under its TLP and addressing.
    fn transmission(
        &mut self,
        e: &EntryRec,
        roster: &Roster,
        notice: &Notice,
        sender: &OrgId,
        receiver: &OrgId,
        at: UnixMillis,
    ) {
        if let Err(err) = check_transmission(notice, sender, receiver, roster, at) {
            let kind = match err {
                CoreError::TlpForbids { .. } => FindingKind::TlpViolation,
                _ => FindingKind::NotAddressed,
            };
            let why = format!("notice {} from {sender} to {receiver}: {err}", notice.id());
            self.add(kind, e, why);
        }
    }

    fn receipt(&mut self, e: &EntryRec, roster: &Roster, receipt: &isop_core::Receipt) {
        // A refusal for the clocks answers nothing: the sender retries,
        // and the delivery is still waiting.
        if !receipt.outcome().settles() {
            return;
        }
        let receiver = receipt.receiver().clone();
        let Some(id) = receipt.notice_id() else {
            if !matches!(receipt.outcome(), ReceiptOutcome::Rejected { .. }) {
                self.add(FindingKind::ReceiptMismatch, e, "a receipt names no notice");
            }
            return;
        };
        let Some(index) = self.by_id.get(&id).copied() else {
            // Past the bound, a receipt for a notice not tracked is not
            // judged: the TOO_MANY_OUTSTANDING finding says so.
            if self.untracked.is_none() {
                let why = format!(
                    "a receipt by {receiver} for notice {id}, which this log did not send or had receipted by every recipient already"
                );
                self.add(FindingKind::ReceiptMismatch, e, why);
            }
            return;
        };
        let Some(o) = self.outstanding.get_mut(&index) else {
            return;
        };
        let mut problems = Vec::new();
        if receipt.notice_digest() != Some(&o.digest) {
            problems.push((
                FindingKind::ReceiptMismatch,
                format!(
                    "{receiver}'s receipt for notice {id} (entry {index}) names another digest"
                ),
            ));
        }
        let answered = self
            .org_numbers
            .get(&receiver)
            .and_then(|r| o.waiting.iter().position(|w| w == r))
            .map(|at| o.waiting.swap_remove(at));
        if answered.is_none() {
            problems.push((
                FindingKind::ReceiptMismatch,
                format!("a receipt by {receiver} for notice {id} (entry {index}), which was not sent to it or is receipted already"),
            ));
        }
        let clearance = roster.clearance(&receiver).unwrap_or_default();
        for d in receipt.disclosure_digests() {
            match o.commitments.iter().find(|(c, _)| c == d) {
                None => problems.push((
                    FindingKind::DisclosureMismatch,
                    format!(
                        "{receiver} received digest {} that notice {id} does not commit to",
                        hex::encode(d)
                    ),
                )),
                Some((_, label)) if !self.labels[*label as usize].allows(&clearance) => problems
                    .push((
                        FindingKind::DisclosureBeyondClearance,
                        format!(
                            "{receiver} received a field of notice {id} labelled {:?}",
                            self.labels[*label as usize].as_str()
                        ),
                    )),
                Some(_) => {}
            }
        }
        if o.waiting.is_empty() {
            self.answered(index);
        }
        for (kind, why) in problems {
            self.add(kind, e, why);
        }
    }

    /// Done with the entry whose disclosures were being read: what it held
    /// and the export did not carry was withheld from the export's clearance.
    fn close_current(&mut self) {
        if let Some(c) = self.current.take() {
            self.report.withheld += (c.held.len() as u64).saturating_sub(c.seen);
        }
    }

    fn disclosure_owner(
        &mut self,
        offset: u64,
        digest: &[u8; 32],
    ) -> Option<(u64, Option<Commitment>)> {
        let Some(cur) = &mut self.current else {
            self.f.add(
                FindingKind::DisclosureMismatch,
                None,
                Some(offset),
                format!("disclosure {} follows no notice entry", hex::encode(digest)),
            );
            return None;
        };
        let index = cur.index;
        if !cur.held.contains(digest) {
            self.f.add(
                FindingKind::DisclosureMismatch,
                Some(index),
                Some(offset),
                format!(
                    "disclosure {} is not one entry {index} holds",
                    hex::encode(digest)
                ),
            );
            return None;
        }
        cur.seen += 1;
        Some((
            index,
            cur.commitments
                .iter()
                .find(|c| c.digest == *digest)
                .cloned(),
        ))
    }

    fn disclosure(&mut self, offset: u64, bytes: &Bytes) {
        let digest = sha256(bytes);
        let Some((index, commitment)) = self.disclosure_owner(offset, &digest) else {
            return;
        };
        self.report.disclosures += 1;
        let mut fail = |why: String| {
            self.f.add(
                FindingKind::DisclosureMismatch,
                Some(index),
                Some(offset),
                why,
            )
        };
        let Some(c) = commitment else {
            // Already reported with the entry (a held digest no commitment names).
            return;
        };
        match pb::Disclosure::decode(bytes.as_ref()) {
            Err(err) => fail(format!("disclosure {:?} does not decode: {err}", c.path)),
            Ok(d) if d.path != c.path || d.label != c.label.as_str() => fail(format!(
                "disclosure says {:?}/{:?}, its commitment {:?}/{:?}",
                d.path,
                d.label,
                c.path,
                c.label.as_str()
            )),
            Ok(_) if !c.label.allows(&self.clearance) => fail(format!(
                "disclosure {:?} labelled {:?} exported beyond the export's clearance",
                c.path,
                c.label.as_str()
            )),
            Ok(_) => {}
        }
    }

    fn erased(&mut self, offset: u64, erased: &pb::ErasedDisclosure) {
        let Ok(digest) = <[u8; 32]>::try_from(erased.digest.as_ref()) else {
            self.f.add(
                FindingKind::DisclosureMismatch,
                self.current.as_ref().map(|c| c.index),
                Some(offset),
                "an erasure record's digest is not 32 bytes",
            );
            return;
        };
        if self.disclosure_owner(offset, &digest).is_some() {
            self.report.erased += 1;
        }
    }

    fn checkpoint(&mut self, offset: u64, note: &[u8]) {
        self.report.checkpoints += 1;
        let size = self.tree.size();
        let at = size.checked_sub(1);
        let mut fail = |kind, why: String| self.f.add(kind, at, Some(offset), why);
        let parsed = isop_core::SignedNote::parse(note).and_then(|n| {
            let c = isop_core::Checkpoint::parse(n.text())?;
            Ok((n, c))
        });
        let (note, cp) = match parsed {
            Ok(p) => p,
            Err(err) => {
                return fail(
                    FindingKind::CheckpointMisplaced,
                    format!("checkpoint: {err}"),
                );
            }
        };
        if checkpoint_org(&cp).as_ref() != Some(&self.origin) {
            return fail(
                FindingKind::CheckpointMisplaced,
                format!(
                    "a checkpoint of {:?} in {}'s export",
                    cp.origin, self.origin
                ),
            );
        }
        if cp.size != size {
            return fail(
                FindingKind::CheckpointMisplaced,
                format!(
                    "a checkpoint of size {} placed after {size} entries",
                    cp.size
                ),
            );
        }
        if cp.root != self.tree.root() {
            fail(
                FindingKind::CheckpointRootMismatch,
                format!("the checkpoint at size {size} signs a root the entries do not have"),
            );
        }
        let NoteSigners {
            valid: signers,
            invalid: bad,
        } = self.rosters.note_signers(&note);
        for why in bad {
            fail(
                FindingKind::CosignatureInvalid,
                format!("checkpoint at size {size}: {why}"),
            );
        }
        if !signers.contains(&self.origin) {
            fail(
                FindingKind::CheckpointSignature,
                format!(
                    "the checkpoint at size {size} carries no valid signature by {}",
                    self.origin
                ),
            );
        }
        if cp.root == self.tree.root() && signers.contains(&self.origin) {
            self.attested = Some(size);
        }
        self.report.cosignatures += signers.iter().filter(|o| **o != self.origin).count() as u64;
        if self.own_checkpoints.len() >= KEEP_CHECKPOINTS {
            self.own_checkpoints.pop_first();
        }
        self.own_checkpoints.insert(size, cp.root);
    }

    /// Entries no checkpoint of the origin attests: without one, anyone
    /// handling the export could have cut or rewritten its history.
    fn unattested(&mut self) {
        let size = self.tree.size();
        let why = match self.attested {
            None if size > 0 => format!(
                "no checkpoint signed by {} attests any of the {size} entries: the history could have been cut or rewritten",
                self.origin
            ),
            Some(a) if a < size => format!(
                "entries {a} to {} come after the last checkpoint signed by {} (size {a}): nothing attests them",
                size - 1,
                self.origin
            ),
            _ => return,
        };
        self.f
            .add(FindingKind::Unattested, self.attested, None, why);
    }

    /// The roster findings, each cause said once: when no roster of the
    /// export is even signed under the roster key's name (the wrong
    /// federation's key, most likely), that is the one judgement made
    /// (the file's own faults are still said); otherwise each roster
    /// refused, and the entries left unjudged once.
    fn rosters_said(&mut self) {
        let refused = std::mem::take(&mut self.refused_rosters);
        if let Some((first, _)) = refused.first()
            && self.report.rosters == 0
            && refused.iter().all(|(_, names_key)| !names_key)
        {
            self.wrong_key = Some(format!(
                "none of the export's {} rosters is signed under the roster key given ({}): is it this federation's roster key? Nothing that needs a roster could be judged. The first: {first}",
                refused.len(),
                self.rosters.key_name()
            ));
            return;
        }
        for (why, _) in refused {
            self.f.add(FindingKind::RosterInvalid, None, None, why);
        }
        if let Some((first, count)) = self.unjudged {
            let why = format!(
                "{count} entries from entry {first} on were not judged: no valid roster to judge them by"
            );
            self.f
                .add(FindingKind::RosterInvalid, Some(first), None, why);
        }
    }

    fn pending(&mut self, offset: u64, p: &pb::PendingDelivery) {
        self.report.pending += 1;
        if !self.settle(p.index, &p.recipient) {
            self.f.add(
                FindingKind::ReceiptMismatch,
                Some(p.index),
                Some(offset),
                format!(
                    "a pending delivery to {:?} of entry {}, which is not a notice awaiting that recipient",
                    p.recipient, p.index
                ),
            );
        }
    }

    /// The delivery of the notice at `index` to `recipient` is accounted
    /// for without a receipt (pending in the export, or given up on): no
    /// longer awaited. False if that notice was not awaiting that recipient.
    fn settle(&mut self, index: u64, recipient: &str) -> bool {
        let recipient = OrgId::new(recipient)
            .ok()
            .and_then(|r| self.org_numbers.get(&r).copied());
        let known = self.outstanding.get_mut(&index).and_then(|o| {
            let at = o.waiting.iter().position(|w| Some(*w) == recipient)?;
            o.waiting.swap_remove(at);
            Some(o.waiting.is_empty())
        });
        match known {
            Some(true) => {
                self.answered(index);
                true
            }
            Some(false) => true,
            // Past the bound, the notice may be one not tracked.
            None => self.untracked.is_some_and(|(first, _)| index >= first),
        }
    }
}
