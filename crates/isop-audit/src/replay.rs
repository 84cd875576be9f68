//! `isop audit replay`: the story a log tells, for people and for tools.
//!
//! Replay trusts nothing it has not read, but checks nothing either: run
//! [`crate::verify`] first. It never shows a withheld value, only field
//! paths and labels.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Read;

use isop_core::pb::notice::Body;
use isop_core::{Notice, NoticeId, NoticeKind, OrgId, ReceiptOutcome, RosterKey, pb};
use serde::Serialize;

use crate::entry::{Content, Event, Rosters, Walker, content};
use crate::finding::{Finding, Findings};
use crate::{AuditError, Progress};

/// The story of one log.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Story {
    /// The log's origin org.
    pub origin: String,
    /// Entries read.
    pub entries: u64,
    /// Each referral the log holds, with what happened to it.
    pub referrals: Vec<ReferralStory>,
    /// Each case, with its participants.
    pub cases: Vec<CaseStory>,
    /// Receipt latency per peer, for notices this node sent.
    pub latency: Vec<PeerLatency>,
    /// Who saw which labelled field, and when.
    pub field_views: Vec<FieldView>,
    /// Who used the node's local API for what: each access the log
    /// records, in entry order.
    pub accesses: Vec<AccessSeen>,
    /// The private matching runs the log records, each stage an entry, in
    /// entry order.
    pub matches: Vec<MatchSeen>,
    /// Problems with the file's structure met while reading.
    pub findings: Vec<Finding>,
}

/// A stage of a private matching run, as a node's log records it.
#[derive(Clone, Debug, Serialize)]
pub struct MatchSeen {
    /// The entry recording it.
    pub index: u64,
    /// When, Unix milliseconds.
    pub at: u64,
    /// The run's id, hex.
    pub run: String,
    /// The other side.
    pub peer: String,
    /// Whether this node asked (else it answered).
    pub asked: bool,
    /// Where the run stood: opened, closed, abandoned or refused.
    pub stage: String,
    /// Distinct items asked.
    pub query_items: u64,
    /// Items the answerer matched against.
    pub held_items: u64,
    /// How many matched, once known.
    pub matched: Option<u64>,
    /// The commitment to the query set, hex.
    pub query_commitment: String,
    /// The user who asked, on the asking side.
    pub user: String,
    /// Why it was refused or abandoned.
    pub detail: String,
}

/// An access through a node's local API, as its log records it.
#[derive(Clone, Debug, Serialize)]
pub struct AccessSeen {
    /// The entry recording it.
    pub index: u64,
    /// When, Unix milliseconds.
    pub at: u64,
    /// The user.
    pub user: String,
    /// Their role.
    pub role: String,
    /// What they did, or were refused.
    pub action: String,
    /// The notice concerned, if one was.
    pub notice: Option<String>,
    /// Whether it was refused.
    pub refused: bool,
    /// What came of it, or why it was refused.
    pub detail: String,
}

/// A referral's lifecycle.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReferralStory {
    /// Notice id.
    pub id: String,
    /// The referring org.
    pub author: String,
    /// The target's domain (or URL, or IP).
    pub target: String,
    /// Case reference, if any.
    pub case_ref: Option<String>,
    /// TLP marking.
    pub tlp: String,
    /// Creation time, Unix milliseconds.
    pub created_at: u64,
    /// Entry index where this log holds it.
    pub index: u64,
    /// `sent` (this node referred it) or `received`.
    pub direction: String,
    /// Events in time order: deliveries, triage, actions, closure.
    pub events: Vec<ReferralEvent>,
    /// The latest status reported (`SUBMITTED` if none).
    pub status: String,
    /// When it was closed (ACTION_TAKEN, REJECTED or CLOSED), if it was.
    pub closed_at: Option<u64>,
}

/// One step in a referral's lifecycle.
#[derive(Clone, Debug, Serialize)]
pub struct ReferralEvent {
    /// Unix milliseconds.
    pub at: u64,
    /// The org that acted.
    pub by: String,
    /// What: `DELIVERED`, `STATUS_UPDATE`, `TAKEDOWN_REQUEST`, `CASE_MESSAGE`, `RETRACTION`.
    pub what: String,
    /// Details: the status, the action, the recipient.
    pub detail: String,
    /// Entry index.
    pub index: u64,
}

/// A case and who took part.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CaseStory {
    /// The case reference.
    pub case_ref: String,
    /// Orgs that authored, sent or received its notices.
    pub participants: BTreeSet<String>,
    /// Notices by kind.
    pub notices: BTreeMap<String, u64>,
    /// First and last notice time, Unix milliseconds.
    pub first_at: u64,
    /// Last notice time.
    pub last_at: u64,
}

/// How fast a peer receipted this node's notices.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeerLatency {
    /// The peer.
    pub peer: String,
    /// Receipts held.
    pub receipts: u64,
    /// Rejections among them.
    pub rejected: u64,
    /// Median time from logging the notice to logging the receipt, ms.
    pub p50_ms: u64,
    /// 99th percentile, ms.
    pub p99_ms: u64,
    /// Slowest, ms.
    pub max_ms: u64,
}

/// The labelled fields of `notice` that this log's origin received with
/// `entry`: when it logged them.
fn received_fields<'a>(
    origin: &'a OrgId,
    notice: &'a Notice,
    entry: &'a pb::LogEntry,
) -> impl Iterator<Item = FieldView> + 'a {
    notice
        .commitments()
        .iter()
        .filter(|c| {
            entry
                .disclosure_digests
                .iter()
                .any(|d| d.as_ref() == c.digest)
        })
        .map(|c| FieldView {
            at: entry.appended_at,
            org: origin.to_string(),
            notice: notice.id().to_string(),
            path: c.path.clone(),
            label: c.label.to_string(),
        })
}

/// An org saw a labelled field (its value is never shown).
#[derive(Clone, Debug, Serialize)]
pub struct FieldView {
    /// Unix milliseconds.
    pub at: u64,
    /// The org that received the field.
    pub org: String,
    /// The notice.
    pub notice: String,
    /// The field's path.
    pub path: String,
    /// Its label.
    pub label: String,
}

/// What a sent notice needs to tell its receipts' part of the story.
struct SentNotice {
    appended_at: u64,
    fields: Vec<([u8; 32], String, String)>,
    referral: Option<NoticeId>,
}

/// Rebuilds the story of the log in an export.
pub fn replay(
    r: impl Read,
    roster_key: &RosterKey,
    progress: Option<Progress<'_>>,
) -> Result<Story, AuditError> {
    let mut walker = Walker::open(r, progress)?;
    let origin = walker.origin.clone();
    let mut f = Findings::new(origin.as_str());
    let mut rosters = Rosters::new(roster_key.clone());
    let mut referrals: HashMap<NoticeId, ReferralStory> = HashMap::new();
    let mut events: Vec<(NoticeId, ReferralEvent)> = Vec::new();
    let mut cases: BTreeMap<String, CaseStory> = BTreeMap::new();
    let mut sent: HashMap<NoticeId, SentNotice> = HashMap::new();
    let mut latency: BTreeMap<String, (Vec<u64>, u64)> = BTreeMap::new();
    let mut views = Vec::new();
    let mut accesses = Vec::new();
    let mut matches = Vec::new();
    let mut tree = isop_core::merkle::RootBuilder::new();
    loop {
        let t = &tree;
        let Some(event) = walker.next(|| t.root(), &mut f)? else {
            break;
        };
        let e = match event {
            Event::Roster(env) => {
                let _ = rosters.add(&env);
                continue;
            }
            Event::Entry(e) => e,
            _ => continue,
        };
        tree.push_hash(isop_core::merkle::leaf_hash(&e.bytes));
        let Ok(entry) = &e.entry else { continue };
        let at = entry.appended_at;
        let peer = entry.peer.clone();
        let outbound = entry.direction == pb::Direction::Outbound as i32;
        match content(entry) {
            Ok(Content::Notice { notice, env }) => {
                let by = notice.author().to_string();
                let mut parties: BTreeSet<String> = [by.clone(), origin.to_string()].into();
                parties.extend(entry.recipients.iter().cloned());
                if !peer.is_empty() {
                    parties.insert(peer.clone());
                }
                if let Some(case) = notice.case_ref() {
                    let c = cases.entry(case.to_owned()).or_insert_with(|| CaseStory {
                        case_ref: case.to_owned(),
                        first_at: notice.created_at().0,
                        ..Default::default()
                    });
                    c.participants.extend(parties.iter().cloned());
                    if let Body::CaseMessage(m) = notice.body() {
                        c.participants.extend(m.participants.iter().cloned());
                    }
                    *c.notices.entry(notice.kind().to_string()).or_default() += 1;
                    c.first_at = c.first_at.min(notice.created_at().0);
                    c.last_at = c.last_at.max(notice.created_at().0);
                }
                let commitments = notice.commitments();
                if outbound {
                    sent.insert(
                        notice.id(),
                        SentNotice {
                            appended_at: at,
                            fields: commitments
                                .iter()
                                .map(|c| (c.digest, c.path.clone(), c.label.to_string()))
                                .collect(),
                            referral: (notice.kind() == NoticeKind::Referral)
                                .then_some(notice.id()),
                        },
                    );
                } else {
                    views.extend(received_fields(&origin, &notice, entry));
                }
                let _ = env;
                lifecycle(&notice, e.position, outbound, &mut referrals, &mut events);
            }
            Ok(Content::Added { notice, .. }) => {
                views.extend(received_fields(&origin, &notice, entry));
            }
            Ok(Content::Match(m)) => matches.push(MatchSeen {
                index: e.position,
                at,
                run: hex::encode(&m.run),
                peer: peer.clone(),
                asked: m.asked,
                stage: match pb::MatchStage::try_from(m.stage) {
                    Ok(pb::MatchStage::Opened) => "opened",
                    Ok(pb::MatchStage::Closed) => "closed",
                    Ok(pb::MatchStage::Abandoned) => "abandoned",
                    Ok(pb::MatchStage::Refused) => "refused",
                    _ => "unknown",
                }
                .into(),
                query_items: m.query_items,
                held_items: m.held_items,
                matched: m.matched,
                query_commitment: hex::encode(&m.query_commitment),
                user: m.user,
                detail: m.detail,
            }),
            Ok(Content::Access(a)) => accesses.push(AccessSeen {
                index: e.position,
                at,
                user: a.user,
                role: a.role,
                action: a.action,
                notice: NoticeId::from_slice(&a.notice_id)
                    .ok()
                    .map(|id| id.to_string()),
                refused: a.refused,
                detail: a.detail,
            }),
            Ok(Content::Receipts { receipts, .. }) if !outbound && !peer.is_empty() => {
                for receipt in receipts.receipts() {
                    let Some(id) = receipt.notice_id() else {
                        continue;
                    };
                    let Some(s) = sent.get(&id) else { continue };
                    let rejected = matches!(receipt.outcome(), ReceiptOutcome::Rejected { .. });
                    let l = latency.entry(peer.clone()).or_default();
                    l.0.push(at.saturating_sub(s.appended_at));
                    l.1 += u64::from(rejected);
                    let received = receipt.received_at().0;
                    if !rejected {
                        for d in receipt.disclosure_digests() {
                            if let Some((_, path, label)) = s.fields.iter().find(|f| f.0 == *d) {
                                views.push(FieldView {
                                    at: received,
                                    org: peer.clone(),
                                    notice: id.to_string(),
                                    path: path.clone(),
                                    label: label.clone(),
                                });
                            }
                        }
                    }
                    if let Some(r) = s.referral {
                        events.push((
                            r,
                            ReferralEvent {
                                at: received,
                                by: peer.clone(),
                                what: if rejected { "REFUSED" } else { "DELIVERED" }.into(),
                                detail: match receipt.outcome() {
                                    ReceiptOutcome::Rejected { code, reason, .. } => {
                                        format!("{}: {reason}", code.as_str_name())
                                    }
                                    o => format!("receipt {o:?}"),
                                },
                                index: e.position,
                            },
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    for (id, ev) in events {
        if let Some(r) = referrals.get_mut(&id) {
            r.events.push(ev);
        }
    }
    let mut referrals: Vec<ReferralStory> = referrals.into_values().collect();
    for r in &mut referrals {
        r.events.sort_by_key(|e| (e.at, e.index));
        for e in &r.events {
            if e.what == "STATUS_UPDATE" {
                let status = e.detail.split(':').next().unwrap_or_default().to_owned();
                if matches!(status.as_str(), "ACTION_TAKEN" | "REJECTED" | "CLOSED") {
                    r.closed_at.get_or_insert(e.at);
                }
                r.status = status;
            }
        }
    }
    referrals.sort_by_key(|r| (r.created_at, r.index));
    let latency = latency
        .into_iter()
        .map(|(peer, (mut v, rejected))| {
            v.sort_unstable();
            let pct = |p: usize| {
                v.get((v.len().saturating_sub(1)) * p / 100)
                    .copied()
                    .unwrap_or(0)
            };
            PeerLatency {
                peer,
                receipts: v.len() as u64,
                rejected,
                p50_ms: pct(50),
                p99_ms: pct(99),
                max_ms: v.last().copied().unwrap_or(0),
            }
        })
        .collect();
    views.sort_by(|a, b| (a.at, &a.org, &a.path).cmp(&(b.at, &b.org, &b.path)));
    Ok(Story {
        origin: origin.to_string(),
        entries: walker.entries(),
        referrals,
        cases: cases.into_values().collect(),
        latency,
        field_views: views,
        accesses,
        matches,
        findings: f.sorted().0,
    })
}

/// Files a notice into the referrals' lifecycles.
fn lifecycle(
    n: &Notice,
    index: u64,
    outbound: bool,
    referrals: &mut HashMap<NoticeId, ReferralStory>,
    events: &mut Vec<(NoticeId, ReferralEvent)>,
) {
    let by = n.author().to_string();
    let at = n.created_at().0;
    let mut event = |id: NoticeId, what: &str, detail: String| {
        events.push((
            id,
            ReferralEvent {
                at,
                by: by.clone(),
                what: what.into(),
                detail,
                index,
            },
        ));
    };
    let ids = |v: &[bytes::Bytes]| -> Vec<NoticeId> {
        v.iter()
            .filter_map(|b| NoticeId::from_slice(b).ok())
            .collect()
    };
    match n.body() {
        Body::Referral(r) => {
            referrals.entry(n.id()).or_insert_with(|| ReferralStory {
                id: n.id().to_string(),
                author: by.clone(),
                target: isop_core::indicator::target_name(r.target.as_ref()).to_owned(),
                case_ref: n.case_ref().map(Into::into),
                tlp: n.tlp().to_string(),
                created_at: at,
                index,
                direction: if outbound { "sent" } else { "received" }.into(),
                events: Vec::new(),
                status: "SUBMITTED".into(),
                closed_at: None,
            });
        }
        Body::StatusUpdate(s) => {
            let status = pb::ReferralStatus::try_from(s.status)
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("REFERRAL_STATUS_")
                        .to_owned()
                })
                .unwrap_or_else(|_| "UNKNOWN".into());
            let mut detail = status;
            if let Some(a) = &s.action {
                let action = pb::ActionType::try_from(a.action)
                    .map(|a| {
                        a.as_str_name()
                            .trim_start_matches("ACTION_TYPE_")
                            .to_owned()
                    })
                    .unwrap_or_default();
                detail = format!("{detail}: {action} {}", a.details)
                    .trim_end()
                    .to_owned();
            } else if !s.reason.is_empty() {
                detail = format!("{detail}: {}", s.reason);
            }
            for id in ids(std::slice::from_ref(&s.referral_id)) {
                event(id, "STATUS_UPDATE", detail.clone());
            }
        }
        Body::TakedownRequest(t) => {
            let target = isop_core::indicator::target_name(t.target.as_ref()).to_owned();
            for id in ids(&t.referrals) {
                event(
                    id,
                    "TAKEDOWN_REQUEST",
                    format!("{target} ({})", t.legal_basis),
                );
            }
        }
        Body::Retraction(r) => {
            for id in ids(std::slice::from_ref(&r.notice_id)) {
                event(id, "RETRACTION", r.reason.clone());
            }
        }
        Body::CaseMessage(m) => {
            if let Some(id) = n.in_reply_to() {
                event(id, "CASE_MESSAGE", m.subject.clone());
            }
        }
        Body::IntelReport(r) => {
            for id in ids(&r.linked_notices) {
                event(id, "INTEL_REPORT", r.title.clone());
            }
        }
    }
}

/// A Unix-millisecond time as `YYYY-MM-DD HH:MM:SS.mmmZ`.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

impl fmt::Display for Story {
    /// For people: every text that members wrote (targets, case references,
    /// reasons, paths, labels) is shown escaped; see [`isop_core::text`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use isop_core::text::printable as p;
        writeln!(
            f,
            "The story of {}'s log ({} entries)",
            self.origin, self.entries
        )?;
        writeln!(f, "\nReferrals ({}):", self.referrals.len())?;
        for r in &self.referrals {
            writeln!(
                f,
                "  {} {} by {} ({}, {}{}), entry {}: now {}{}",
                utc(r.created_at),
                p(&r.target),
                r.author,
                r.direction,
                r.tlp,
                r.case_ref
                    .as_ref()
                    .map(|c| format!(", case {}", p(c)))
                    .unwrap_or_default(),
                r.index,
                r.status,
                r.closed_at
                    .map(|c| format!(", closed {}", utc(c)))
                    .unwrap_or_default(),
            )?;
            for e in &r.events {
                writeln!(
                    f,
                    "    {} {:<16} {:<14} {}",
                    utc(e.at),
                    e.what,
                    e.by,
                    p(&e.detail)
                )?;
            }
        }
        writeln!(f, "\nCases ({}):", self.cases.len())?;
        for c in &self.cases {
            let kinds: Vec<String> = c.notices.iter().map(|(k, n)| format!("{n} {k}")).collect();
            writeln!(
                f,
                "  {}: {} from {} to {}; participants {}",
                p(&c.case_ref),
                kinds.join(", "),
                utc(c.first_at),
                utc(c.last_at),
                c.participants
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        writeln!(f, "\nReceipt latency by peer:")?;
        for l in &self.latency {
            writeln!(
                f,
                "  {:<14} {:>6} receipts ({} rejected)  p50 {} ms  p99 {} ms  max {} ms",
                l.peer, l.receipts, l.rejected, l.p50_ms, l.p99_ms, l.max_ms
            )?;
        }
        writeln!(
            f,
            "\nWho saw which labelled field ({}):",
            self.field_views.len()
        )?;
        for v in &self.field_views {
            writeln!(
                f,
                "  {} {:<14} {:<36} {} [{}]",
                utc(v.at),
                v.org,
                p(&v.path),
                v.notice,
                p(&v.label)
            )?;
        }
        writeln!(f, "\nPrivate matching ({} entries):", self.matches.len())?;
        for m in &self.matches {
            writeln!(
                f,
                "  {} entry {:<6} run {} {} {} {}: {} asked, {} held, {} matched{}{}",
                utc(m.at),
                m.index,
                &m.run[..m.run.len().min(8)],
                if m.asked { "asked" } else { "answered" },
                m.peer,
                m.stage,
                m.query_items,
                m.held_items,
                m.matched.map_or_else(|| "?".into(), |n| n.to_string()),
                if m.user.is_empty() {
                    String::new()
                } else {
                    format!(", by {}", p(&m.user))
                },
                if m.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", p(&m.detail))
                },
            )?;
        }
        for finding in &self.findings {
            writeln!(f, "\n{finding}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_civil_time() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(super::utc(951_782_400_123), "2000-02-29 00:00:00.123Z");
        assert_eq!(super::utc(1_795_910_400_000), "2026-11-29 00:00:00.000Z");
    }
}
