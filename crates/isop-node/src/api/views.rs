//! The API's answers (the types of `isop_api`) built from what the node
//! holds: a notice as this node holds it, a summary line, a thread.

use isop_api::{Idna, InLog, NoticeRef, NoticeView, Overlap, Revealed, Summary, Time, Withheld};
use isop_core::pb::field_value::Value;
use isop_core::pb::notice::Body;
use isop_core::{
    Clearance, Label, LogIndex, Notice, NoticeId, RevealedField, indicator, merkle, pb,
};

use super::shared::{ApiError, internal, not_found};
use crate::Error;
use crate::state::{Held, Inner, LoggedNotice};

/// A labelled field's value in the JSON form (`isop_core::json`): one
/// key naming its kind (`text`, `indicator`, `contact`, `person`,
/// `binary`).
fn value_json(v: &Value) -> Result<serde_json::Value, ApiError> {
    let field = pb::FieldValue {
        value: Some(v.clone()),
    };
    isop_core::json::to_json(&field, "isop.v1.FieldValue").map_err(internal)
}

/// A notice's body in the JSON form: one key naming its kind
/// (`referral`, `status_update`, …) over its fields.
fn body_json(n: &Notice) -> Result<serde_json::Value, ApiError> {
    let only_body = pb::Notice {
        body: Some(n.body().clone()),
        ..Default::default()
    };
    isop_core::json::to_json(&only_body, "isop.v1.Notice").map_err(internal)
}

/// Each name in the notice (its target, its indicators, in the clear or
/// revealed, a contact's e-mail address) that holds an IDNA A-label, with
/// its Unicode form, so that a look-alike shows for what it is.
fn idna_forms(n: &Notice, revealed: &[RevealedField]) -> Vec<Idna> {
    let mut names: Vec<&str> = indicator::in_body(n.body())
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    for f in revealed {
        match &f.value {
            Value::Indicator(i) => names.push(&i.value),
            Value::Contact(c) => names.push(&c.email),
            _ => {}
        }
    }
    names
        .into_iter()
        .filter_map(|ascii| {
            indicator::unicode_form(ascii).map(|unicode| Idna {
                ascii: ascii.to_owned(),
                unicode,
            })
        })
        .collect()
}

/// Why a field under `label` is withheld from `who`, of `clearance`, in
/// plain words: "needs role:agency and country:KR; this node is role:hub,
/// country:FR, org:INTERPOL-GS".
pub(super) fn withheld_reason(label: &Label, clearance: &Clearance, who: &str) -> String {
    let is: Vec<&str> = clearance.tokens().collect();
    format!("needs {}; {who} is {}", label.words(), is.join(", "))
}

/// What a notice is about, in a few words: a referral's or takedown's
/// domain (or URL, or IP), a report's title, a case's subject, a
/// retraction's or status answer's reason.
pub(crate) fn subject(n: &Notice) -> String {
    let target = |t: &Option<pb::Target>| indicator::target_name(t.as_ref()).to_owned();
    match n.body() {
        Body::Referral(r) => target(&r.target),
        Body::TakedownRequest(t) => target(&t.target),
        Body::IntelReport(i) => i.title.clone(),
        Body::CaseMessage(c) if !c.subject.is_empty() => c.subject.clone(),
        Body::CaseMessage(c) => c.text.chars().take(60).collect(),
        Body::Retraction(r) => r.reason.clone(),
        Body::StatusUpdate(s) => s.reason.clone(),
    }
}

/// The status a status answer gives.
fn answer_status(n: &Notice) -> Option<pb::ReferralStatus> {
    match n.body() {
        Body::StatusUpdate(s) => pb::ReferralStatus::try_from(s.status).ok(),
        _ => None,
    }
}

/// The notices this node holds answering `id` (in reply to it, or naming
/// it), in log order, with their entries.
pub(crate) fn thread(inner: &Inner, id: &NoticeId) -> Result<Vec<(LogIndex, LoggedNotice)>, Error> {
    let mut out = Vec::new();
    for at in inner.store.replies(id)? {
        if let Some(n) = inner.notice_at(at)? {
            out.push((at, n));
        }
    }
    Ok(out)
}

/// The status `answer` gives `referral`, if it is a status answer by one
/// of the referral's addressees: an answer from anyone else says nothing
/// of where the referral stands.
pub(crate) fn addressee_status(
    referral: &Notice,
    answer: &Notice,
    roster: &isop_core::Roster,
) -> Option<pb::ReferralStatus> {
    (answer.author() != referral.author() && referral.addresses(answer.author(), roster))
        .then(|| answer_status(answer))
        .flatten()
}

/// A referral's latest status: the newest of its addressees' answers this
/// node holds.
fn latest_status(inner: &Inner, referral: &Notice) -> Result<Option<pb::ReferralStatus>, Error> {
    let roster = inner.roster();
    Ok(thread(inner, &referral.id())?
        .iter()
        .map(|(_, r)| &r.notice)
        .filter_map(|r| addressee_status(referral, r, &roster).map(|s| (r.created_at(), s)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, s)| s))
}

/// The summary line of `logged`, the notice logged at `at`.
pub(crate) fn summary_of(
    inner: &Inner,
    at: LogIndex,
    logged: &LoggedNotice,
) -> Result<Summary, Error> {
    let n = &logged.notice;
    let status = match n.kind() {
        isop_core::NoticeKind::Referral => latest_status(inner, n)?,
        _ => answer_status(n),
    };
    Ok(Summary {
        index: at.0,
        id: n.id().to_string(),
        kind: n.kind().to_pb(),
        direction: direction(&logged.entry),
        author: n.author().to_string(),
        created_at: Time(n.created_at().0),
        logged_at: Time(logged.entry.appended_at),
        tlp: n.tlp().to_pb(),
        case_ref: n.case_ref().map(Into::into),
        subject: subject(n),
        status,
        in_reply_to: n.in_reply_to().map(|i| i.to_string()),
        read: None,
    })
}

fn direction(entry: &pb::LogEntry) -> pb::Direction {
    pb::Direction::try_from(entry.direction).unwrap_or_default()
}

/// Another notice, named, with what it is if this node holds it.
fn notice_ref(inner: &Inner, id: NoticeId) -> Result<NoticeRef, ApiError> {
    let held = match inner.store.find_notice(&id)? {
        Some(at) => inner.notice_at(at)?,
        None => None,
    };
    Ok(NoticeRef {
        id: id.to_string(),
        kind: held.as_ref().map(|h| h.notice.kind().to_pb()),
        subject: held.as_ref().map(|h| subject(&h.notice)),
    })
}

/// A notice as this node holds it, with what its log says about it.
pub(super) fn notice_view(inner: &Inner, at: LogIndex) -> Result<NoticeView, ApiError> {
    let Held {
        entry,
        notice: n,
        verified,
        erased,
    } = inner
        .held(at)?
        .ok_or_else(|| not_found(format!("entry {at} is not a notice")))?;
    let erased = erased
        .into_iter()
        .map(|(digest, e)| isop_api::Erased {
            digest: hex::encode(digest),
            path: e.path,
            reason: e.reason,
            erased_by: e.erased_by,
            erased_at: Time(e.erased_at),
        })
        .collect();
    let clearance = inner.roster().clearance(&inner.org).unwrap_or_default();
    let withheld = |path: &str, label: &Label| Withheld {
        path: path.to_owned(),
        label: label.to_string(),
        reason: withheld_reason(label, &clearance, "this node"),
    };
    // A notice that no longer verifies (its key revoked from before it was
    // made, say) is shown as the log holds it, said so, its fields withheld.
    let signed_by = verified.as_ref().ok().map(|v| v.signed_by().to_string());
    let (revealed, withheld, idna, verification_error) = match verified {
        Ok(v) => (
            v.revealed()
                .iter()
                .map(|f| {
                    Ok(Revealed {
                        path: f.path.clone(),
                        label: f.label.to_string(),
                        value: value_json(&f.value)?,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?,
            v.withheld()
                .iter()
                .map(|w| withheld(&w.path, &w.label))
                .collect(),
            idna_forms(&n, v.revealed()),
            None,
        ),
        Err(e) => (
            Vec::new(),
            n.commitments()
                .iter()
                .map(|c| Withheld {
                    path: c.path.clone(),
                    label: c.label.to_string(),
                    reason: "the notice does not verify now".into(),
                })
                .collect(),
            idna_forms(&n, &[]),
            Some(e.to_string()),
        ),
    };
    let read = inner.store.is_read(at)?;
    Ok(NoticeView {
        index: at.0,
        direction: direction(&entry),
        peer: entry.peer.clone(),
        id: n.id().to_string(),
        kind: n.kind().to_pb(),
        author: n.author().to_string(),
        created_at: Time(n.created_at().0),
        logged_at: Time(entry.appended_at),
        tlp: n.tlp().to_pb(),
        to_orgs: n.to_orgs().iter().map(ToString::to_string).collect(),
        to_groups: n.to_groups().to_vec(),
        case_ref: n.case_ref().map(Into::into),
        in_reply_to: n.in_reply_to().map(|i| notice_ref(inner, i)).transpose()?,
        body: body_json(&n)?,
        verified: verification_error.is_none(),
        signed_by,
        verification_error,
        revealed,
        withheld,
        idna,
        erased,
        read,
        thread: thread(inner, &n.id())?
            .iter()
            .map(|(at, r)| summary_of(inner, *at, r))
            .collect::<Result<_, _>>()?,
    })
}

/// The orgs whose signature on checkpoint `note` verifies under `roster`:
/// its log's own, and its witnesses' cosignatures.
pub(super) fn signers(note: &isop_core::SignedNote, roster: &isop_core::Roster) -> Vec<String> {
    note.signers([roster])
        .valid
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Where the notice logged at `at` stands in this node's log: its inclusion
/// proof against the latest signed checkpoint (one signed now if none
/// covers it yet), checked.
pub(super) fn in_log(inner: &Inner, at: LogIndex) -> Result<InLog, ApiError> {
    let entry = inner
        .store
        .entry(at)?
        .ok_or_else(|| not_found(format!("entry {at} is not in this log")))?;
    let mut answer = InLog {
        index: at.0,
        leaf_hash: hex::encode(merkle::leaf_hash(&entry)),
        checkpoint_size: None,
        root: None,
        signed_by: Vec::new(),
        proof: Vec::new(),
        verified: false,
        problem: None,
    };
    // The latest checkpoint if it covers the entry; a new one, signed now,
    // only if it does not (a read is recorded in the log, so signing at
    // every read would add a checkpoint a read).
    let note = match inner.store.latest_checkpoint()? {
        Some(n) if isop_core::Checkpoint::parse(n.text()).is_ok_and(|c| c.size > at.0) => n,
        _ => inner.checkpoint()?,
    };
    answer.signed_by = signers(&note, &inner.roster());
    let cp = match crate::peer::open_checkpoint(inner, &inner.org, &note, None) {
        Ok(cp) => cp,
        Err(e) => {
            answer.problem = Some(format!(
                "the latest checkpoint does not verify under this node's roster keys: {e}"
            ));
            return Ok(answer);
        }
    };
    answer.checkpoint_size = Some(cp.size);
    answer.root = Some(hex::encode(cp.root));
    let proof = inner.store.inclusion_proof(at, cp.size)?;
    match merkle::verify_inclusion(&merkle::leaf_hash(&entry), at.0, cp.size, &proof, &cp.root) {
        Ok(()) => answer.verified = true,
        Err(e) => answer.problem = Some(format!("the inclusion proof does not verify: {e}")),
    }
    answer.proof = proof.iter().map(hex::encode).collect();
    Ok(answer)
}

/// An overlap as the API shows it; with `notices`, each notice naming it
/// with its latest status.
pub(crate) fn overlap_view(
    inner: &Inner,
    f: &crate::correlate::Found,
    notices: bool,
) -> Result<Overlap, Error> {
    let names = |orgs: &std::collections::BTreeSet<isop_core::OrgId>| {
        orgs.iter().map(ToString::to_string).collect()
    };
    let mut summaries = Vec::new();
    if notices {
        for at in &f.notices {
            if let Some(logged) = inner.notice_at(*at)? {
                summaries.push(summary_of(inner, *at, &logged)?);
            }
        }
    }
    Ok(Overlap {
        target: f.target.clone(),
        kind: f.kind,
        referred_by: names(&f.referred_by),
        reported_by: names(&f.reported_by),
        since: Time(f.since.map_or(0, |t| t.0)),
        notices: summaries,
    })
}
