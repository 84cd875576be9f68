//! `isop audit cross-check A B`: two nodes' exports against each other.
//!
//! For each direction (A to B, then B to A): every notice the sender logged
//! as sent to the receiver must be in the receiver's log with the same
//! digest, and the sender must hold the receiver's receipt for it (or still
//! have the delivery pending); each receipt must point at the receiver's
//! entry for that notice. Then every checkpoint of one log that the other
//! witnessed and cosigned must match the first log's own history at that
//! size: a mismatch is a split view.
//!
//! Three streaming passes: A, B, then A again for the roots at the sizes B
//! witnessed (B's roots at the sizes A witnessed are taken in B's pass).
//! Memory grows with the notices exchanged between the two, not with the
//! logs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;

use isop_core::merkle::{Hash, RootBuilder, leaf_hash};
use isop_core::{
    Judgement, NoticeId, OrgId, ReceiptOutcome, RosterKey, SignedReceipts, UnixMillis, pb, sha256,
};
use serde::Serialize;

use crate::entry::{Content, Event, Rosters, Walker, checkpoint_org, content};
use crate::finding::{Finding, FindingKind, Findings};
use crate::{AuditError, Progress};

/// What a cross-check found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CrossReport {
    /// The two logs' origins.
    pub a: String,
    /// The second log's origin.
    pub b: String,
    /// Notices A logged as sent to B, and B to A.
    pub sent_a_to_b: u64,
    /// Notices B logged as sent to A.
    pub sent_b_to_a: u64,
    /// Of those, found in the receiver's log with the same digest.
    pub matched: u64,
    /// Receipts held that point at the receiver's entry for the notice.
    pub receipts_matched: u64,
    /// Deliveries still pending in the sender's outbox.
    pub pending: u64,
    /// Checkpoints of A that B cosigned, and of B that A cosigned, compared.
    pub witnessed_checked: u64,
    /// Checkpoints cosigned after the other export was taken, of more
    /// entries than it holds: not comparable, and not findings.
    pub witnessed_later: u64,
    /// Every finding, by log and entry.
    pub findings: Vec<Finding>,
    /// How many findings there were.
    pub findings_total: u64,
}

impl CrossReport {
    /// Whether the two logs agree.
    pub fn is_clean(&self) -> bool {
        self.findings_total == 0
    }
}

/// A notice one side sent the other.
struct SentTo {
    index: u64,
    appended_at: u64,
    digest: [u8; 32],
}

/// A receipt one side holds from the other.
struct HeldReceipt {
    index: u64,
    outcome: ReceiptOutcome,
    verified: bool,
    /// When the receiver says it logged the notice (the receipt's own,
    /// signed time).
    received_at: u64,
}

/// What one pass over one side gathers about the other side.
struct Side {
    origin: OrgId,
    exported_at: u64,
    entries: u64,
    /// Notices it sent to the other, by id.
    sent: BTreeMap<NoticeId, SentTo>,
    /// Receipts it holds from the other, by notice id.
    receipts: HashMap<NoticeId, HeldReceipt>,
    /// Notices it received from the other: id to (entry, digest).
    received: HashMap<NoticeId, (u64, [u8; 32])>,
    /// When it logged each of those entries.
    received_at: HashMap<u64, u64>,
    /// Notices from the other it rejected (its LOCAL signed rejections).
    rejected: HashSet<NoticeId>,
    /// Pending deliveries to the other, by entry index.
    pending: BTreeSet<u64>,
    /// Checkpoints of the other's log it witnessed: (its entry, when, size, root).
    witnessed: Vec<(u64, u64, u64, Hash)>,
    /// Its own roots at the sizes asked for.
    roots: BTreeMap<u64, Option<Hash>>,
    findings: Findings,
}

/// Reads one export, gathering what concerns `other`, and the roots at `sizes`.
fn pass(
    r: impl Read,
    other: Option<&OrgId>,
    roster_key: &RosterKey,
    sizes: &BTreeSet<u64>,
    progress: Option<Progress<'_>>,
) -> Result<Side, AuditError> {
    let mut walker = Walker::open(r, progress)?;
    let origin = walker.origin.clone();
    let mut side = Side {
        findings: Findings::new(origin.as_str()),
        exported_at: walker.header.exported_at,
        origin,
        entries: 0,
        sent: BTreeMap::new(),
        received_at: HashMap::new(),
        receipts: HashMap::new(),
        received: HashMap::new(),
        rejected: HashSet::new(),
        pending: BTreeSet::new(),
        witnessed: Vec::new(),
        roots: sizes.iter().map(|s| (*s, None)).collect(),
    };
    let mut rosters = Rosters::new(roster_key.clone());
    let mut tree = RootBuilder::new();
    if sizes.contains(&0) {
        side.roots.insert(0, Some(tree.root()));
    }
    loop {
        let t = &tree;
        let Some(event) = walker.next(|| t.root(), &mut side.findings)? else {
            break;
        };
        let e = match event {
            Event::Roster(env) => {
                let _ = rosters.add(&env);
                continue;
            }
            Event::Pending { pending, .. } => {
                if other.is_some_and(|o| o.as_str() == pending.recipient) {
                    side.pending.insert(pending.index);
                }
                continue;
            }
            Event::Entry(e) => e,
            _ => continue,
        };
        tree.push_hash(leaf_hash(&e.bytes));
        if sizes.contains(&tree.size()) {
            side.roots.insert(tree.size(), Some(tree.root()));
        }
        let (Some(other), Ok(entry)) = (other, &e.entry) else {
            continue;
        };
        let direction = pb::Direction::try_from(entry.direction).ok();
        let from_other = entry.peer == other.as_str();
        match (content(entry), direction) {
            (Ok(Content::Roster(env)), _) => {
                let _ = rosters.take_into_force(&env);
            }
            // A delivery to the other given up on: not expected to be held,
            // as one still pending is not.
            (
                Ok(Content::Failed {
                    notice_index,
                    recipient,
                }),
                Some(pb::Direction::Local),
            ) if recipient == other.as_str() => {
                side.pending.insert(notice_index);
            }
            (Ok(Content::Notice { env, notice }), Some(pb::Direction::Outbound))
                if entry.recipients.iter().any(|r| r == other.as_str()) =>
            {
                side.sent.insert(
                    notice.id(),
                    SentTo {
                        index: e.position,
                        appended_at: entry.appended_at,
                        digest: sha256(&env.payload),
                    },
                );
            }
            // The other's notice, whoever brought it (a relay may come first).
            (Ok(Content::Notice { env, notice }), Some(pb::Direction::Inbound))
                if from_other || notice.author() == other =>
            {
                side.received
                    .insert(notice.id(), (e.position, sha256(&env.payload)));
                side.received_at.insert(e.position, entry.appended_at);
            }
            // A later copy from the other added fields to a notice held.
            (
                Ok(Content::Added {
                    notice_index,
                    env,
                    notice,
                }),
                Some(pb::Direction::Inbound),
            ) if from_other => {
                side.received
                    .entry(notice.id())
                    .or_insert((notice_index, sha256(&env.payload)));
            }
            (Ok(Content::Receipts { env, receipts }), Some(pb::Direction::Inbound))
                if from_other =>
            {
                let verified = rosters
                    .at(UnixMillis(entry.appended_at))
                    .is_some_and(|roster| {
                        SignedReceipts::verify(&env, &roster, Judgement::AtCreation).is_ok()
                    });
                for receipt in receipts.receipts() {
                    let Some(id) = receipt.notice_id() else {
                        continue;
                    };
                    side.receipts.insert(
                        id,
                        HeldReceipt {
                            index: e.position,
                            outcome: receipt.outcome().clone(),
                            verified,
                            received_at: receipt.received_at().0,
                        },
                    );
                }
            }
            (Ok(Content::Receipts { receipts, .. }), Some(pb::Direction::Local)) if from_other => {
                side.rejected
                    .extend(receipts.receipts().iter().filter_map(|r| r.notice_id()));
            }
            // Only a checkpoint the other validly signed binds it.
            (Ok(Content::Cosigned { note, checkpoint }), Some(pb::Direction::Local))
                if from_other
                    && checkpoint_org(&checkpoint).as_ref() == Some(other)
                    && rosters.note_signers(&note).valid.contains(other) =>
            {
                side.witnessed.push((
                    e.position,
                    entry.appended_at,
                    checkpoint.size,
                    checkpoint.root,
                ));
            }
            _ => {}
        }
    }
    side.entries = walker.entries();
    Ok(side)
}

/// Compares two nodes' exports, held in files (each is read up to twice,
/// so both directions of witnessing are checked).
pub fn cross_check(
    a: &std::path::Path,
    b: &std::path::Path,
    roster_key: &RosterKey,
    mut progress: Option<Progress<'_>>,
) -> Result<CrossReport, AuditError> {
    let open = |p: &std::path::Path| {
        std::fs::File::open(p)
            .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
            .map_err(|source| AuditError::Io { offset: 0, source })
    };
    let none = BTreeSet::new();
    let a_origin = Walker::open(open(a)?, None)?.origin;
    let b_origin = Walker::open(open(b)?, None)?.origin;
    // A first, gathering what concerns B and the checkpoints of B it witnessed.
    let a_first = pass(
        open(a)?,
        Some(&b_origin),
        roster_key,
        &none,
        reborrow(&mut progress),
    )?;
    let b_sizes: BTreeSet<u64> = a_first.witnessed.iter().map(|w| w.2).collect();
    let b_side = pass(
        open(b)?,
        Some(&a_origin),
        roster_key,
        &b_sizes,
        reborrow(&mut progress),
    )?;
    // Then A's roots at the sizes B witnessed.
    let a_sizes: BTreeSet<u64> = b_side.witnessed.iter().map(|w| w.2).collect();
    let a_side = if a_sizes.is_empty() {
        a_first
    } else {
        pass(
            open(a)?,
            Some(&b_origin),
            roster_key,
            &a_sizes,
            reborrow(&mut progress),
        )?
    };
    let mut report = CrossReport {
        a: a_side.origin.to_string(),
        b: b_side.origin.to_string(),
        sent_a_to_b: a_side.sent.len() as u64,
        sent_b_to_a: b_side.sent.len() as u64,
        ..Default::default()
    };
    let mut f = Findings::new(a_side.origin.as_str());
    one_way(&a_side, &b_side, &mut report, &mut f);
    one_way(&b_side, &a_side, &mut report, &mut f);
    witnessing(&a_side, &b_side, &mut report, &mut f);
    witnessing(&b_side, &a_side, &mut report, &mut f);
    f.merge(a_side.findings);
    f.merge(b_side.findings);
    let (findings, total) = f.sorted();
    report.findings = findings;
    report.findings_total = total;
    Ok(report)
}

/// A shorter loan of the progress callback, for one pass.
fn reborrow<'s>(p: &'s mut Option<Progress<'_>>) -> Option<Progress<'s>> {
    match p {
        Some(p) => Some(&mut **p),
        None => None,
    }
}

fn add(f: &mut Findings, log: &OrgId, kind: FindingKind, index: Option<u64>, detail: String) {
    f.add_in(log.as_str(), kind, index, None, detail);
}

/// Everything `s` sent `r` against `r`'s log and `s`'s receipts.
fn one_way(s: &Side, r: &Side, report: &mut CrossReport, f: &mut Findings) {
    let (so, ro) = (&s.origin, &r.origin);
    for (id, sent) in &s.sent {
        let pending = s.pending.contains(&sent.index);
        // Sent after the receiver's export was taken: in flight, not missing.
        let after = sent.appended_at >= r.exported_at;
        match (r.received.get(id), s.receipts.get(id)) {
            (Some(&(at, digest)), receipt) => {
                if digest != sent.digest {
                    add(
                        f,
                        ro,
                        FindingKind::DigestMismatch,
                        Some(at),
                        format!(
                            "notice {id}: {ro} holds other bytes than {so} sent (its entry {})",
                            sent.index
                        ),
                    );
                    continue;
                }
                report.matched += 1;
                match receipt {
                    Some(rc) if rc.verified => match rc.outcome {
                        ReceiptOutcome::Accepted(i) | ReceiptOutcome::Duplicate(i) if i.0 != at => {
                            add(
                                f,
                                ro,
                                FindingKind::DenialOfReceipt,
                                Some(at),
                                format!(
                                    "notice {id}: {ro}'s receipt (held by {so} at entry {}) names its entry {}, but its log holds the notice at entry {at}",
                                    rc.index, i.0
                                ),
                            );
                        }
                        _ => report.receipts_matched += 1,
                    },
                    Some(_) => {}
                    None if pending || s.exported_at <= at_time(r, at) => report.pending += 1,
                    None => add(
                        f,
                        so,
                        FindingKind::ReceiptNotHeld,
                        Some(sent.index),
                        format!(
                            "notice {id} is in {ro}'s log (entry {at}), but {so} holds no receipt and has no delivery pending"
                        ),
                    ),
                }
            }
            (None, Some(rc)) if rc.verified => {
                let claimed = match rc.outcome {
                    ReceiptOutcome::Accepted(i) | ReceiptOutcome::Duplicate(i) => Some(i.0),
                    ReceiptOutcome::Rejected { .. } => None,
                };
                match claimed {
                    // Logged after the receiver's export was taken: in
                    // flight then, not denied.
                    Some(i) if i >= r.entries && rc.received_at >= r.exported_at => {
                        report.pending += 1;
                    }
                    Some(i) if i < r.entries => add(
                        f,
                        ro,
                        FindingKind::DenialOfReceipt,
                        Some(i),
                        format!(
                            "{ro} signed a receipt for notice {id} at its entry {i} (held by {so} at entry {}), but its log does not hold the notice",
                            rc.index
                        ),
                    ),
                    Some(i) => add(
                        f,
                        ro,
                        FindingKind::DenialOfReceipt,
                        None,
                        format!(
                            "{ro} signed a receipt for notice {id} at its entry {i}, beyond the {} entries of its export",
                            r.entries
                        ),
                    ),
                    None if !r.rejected.contains(id) => add(
                        f,
                        ro,
                        FindingKind::DenialOfReceipt,
                        None,
                        format!(
                            "{ro} signed a rejection of notice {id} (held by {so} at entry {}) that its log does not record",
                            rc.index
                        ),
                    ),
                    None => {}
                }
            }
            (None, _) if pending || after => report.pending += 1,
            (None, _) if r.rejected.contains(id) => {}
            (None, _) => add(
                f,
                so,
                FindingKind::Omission,
                Some(sent.index),
                format!(
                    "{so} logged notice {id} as sent to {ro}, which does not hold it; no receipt, no delivery pending"
                ),
            ),
        }
    }
    // What the receiver holds from the sender that the sender's log does not record sending.
    for (id, &(at, _)) in &r.received {
        if !s.sent.contains_key(id) && at_time(r, at) < s.exported_at {
            add(
                f,
                so,
                FindingKind::Omission,
                None,
                format!(
                    "{ro} holds notice {id} from {so} (its entry {at}), which {so}'s log does not record sending"
                ),
            );
        }
    }
}

/// When the receiver logged entry `at`, if known.
fn at_time(r: &Side, at: u64) -> u64 {
    r.received_at.get(&at).copied().unwrap_or(0)
}

/// The checkpoints of `of`'s log that `by` cosigned, against `of`'s history.
fn witnessing(of: &Side, by: &Side, report: &mut CrossReport, f: &mut Findings) {
    for &(entry, at, size, root) in &by.witnessed {
        // Witnessed after `of`'s export was taken, of a log grown since:
        // nothing to compare it with.
        if size > of.entries && at >= of.exported_at {
            report.witnessed_later += 1;
            continue;
        }
        report.witnessed_checked += 1;
        match of.roots.get(&size).copied().flatten() {
            Some(r) if r == root => {}
            Some(_) => add(
                f,
                &of.origin,
                FindingKind::SplitView,
                size.checked_sub(1),
                format!(
                    "{} cosigned {}'s checkpoint at size {size} (its entry {entry}); {}'s export has another root at that size",
                    by.origin, of.origin, of.origin
                ),
            ),
            None => add(
                f,
                &of.origin,
                FindingKind::SplitView,
                None,
                format!(
                    "{} cosigned {}'s checkpoint at size {size} (its entry {entry}); {}'s export holds only {} entries",
                    by.origin, of.origin, of.origin, of.entries
                ),
            ),
        }
    }
}
