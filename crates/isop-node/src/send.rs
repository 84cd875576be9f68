//! Sending: a draft is sealed, its recipients checked against the policy,
//! and it is logged OUTBOUND with each recipient queued in one durable
//! append; the delivery workers take it from there.

use std::sync::Arc;

use bytes::Bytes;
use isop_core::protocol::{self, NoticeLog};
use isop_core::{LogIndex, NoticeDraft, NoticeId, OrgId, SealedNotice};
use isop_store::{Direction, NewEntry, Record};
use prost::Message;

use crate::Error;
use crate::state::Inner;

/// A notice this node sent.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The notice's id.
    pub id: NoticeId,
    /// Its OUTBOUND entry in this node's log.
    pub index: LogIndex,
    /// The orgs it goes to.
    pub recipients: Vec<OrgId>,
}

/// With the roster's `copy_hub_on_status`, a status update answering a
/// referral this node holds goes as well to each hub (active, not this
/// node) the referral was addressed to, by name or through a group: the
/// hub sees who accepted, refused or acted.
fn copy_hub(inner: &Inner, mut draft: NoticeDraft) -> Result<NoticeDraft, Error> {
    let roster = inner.roster();
    if !roster.policy().copy_hub_on_status || draft.kind() != isop_core::NoticeKind::StatusUpdate {
        return Ok(draft);
    }
    let Some(at) = draft
        .replies_to()
        .map(|id| inner.store.find_notice(&id))
        .transpose()?
        .flatten()
    else {
        return Ok(draft);
    };
    let Some(referral) = inner.notice_at(at)?.map(|l| l.notice) else {
        return Ok(draft);
    };
    if referral.kind() != isop_core::NoticeKind::Referral {
        return Ok(draft);
    }
    let now = inner.now();
    let hubs: Vec<OrgId> = roster
        .members()
        .filter(|m| m.role == isop_core::Role::Hub && m.org_id != inner.org && !m.revoked_by(now))
        .filter(|m| {
            referral.to_orgs().contains(&m.org_id)
                || referral
                    .to_groups()
                    .iter()
                    .any(|g| roster.in_group(g, &m.org_id))
        })
        .map(|m| m.org_id.clone())
        .collect();
    for hub in hubs {
        if !draft.names(&hub) {
            draft = draft.to_org(&hub);
        }
    }
    Ok(draft)
}

/// `draft` sealed as this node, and the orgs it goes to: everything
/// sending checks, nothing logged.
pub(crate) fn prepare(
    inner: &Inner,
    draft: NoticeDraft,
) -> Result<(SealedNotice, Vec<OrgId>), Error> {
    let draft = copy_hub(inner, draft)?;
    // A notice signed with a key its recipients refuse can never be
    // delivered: refused here, naming the key (revoked, or expired).
    let now = inner.now();
    let signer = inner.signer();
    inner
        .roster()
        .signing_key(signer.id(), &inner.org, now, inner.live())
        .map_err(|e| match e {
            // Most often this node's clock is wrong: say which clock.
            isop_core::Error::KeyNotValid { .. } => Error::Roster(format!(
                "this node cannot sign by its clock ({}): {e}; if the clock is wrong, set it right (NTP)",
                isop_core::json::rfc3339(now.0)
            )),
            e => e.into(),
        })?;
    let sealed = draft.seal(&signer, now, &mut rand::rngs::OsRng)?;
    let n = sealed.notice();
    let reply = inner.reply_context(n.in_reply_to())?;
    let recipients = protocol::recipients(&inner.roster(), &inner.org, n, &reply, now)?;
    Ok((sealed, recipients))
}

/// The orgs `draft` would go to if it were sent now: every check sending
/// makes (the notice's validity, this node's key, the policy, TLP and
/// recipients), nothing logged or sent.
pub(crate) fn check(inner: &Inner, draft: NoticeDraft) -> Result<Vec<OrgId>, Error> {
    Ok(prepare(inner, draft)?.1)
}

/// Seals `draft` as this node, checks its recipients, logs it and queues
/// it for each.
pub(crate) async fn send(inner: &Arc<Inner>, draft: NoticeDraft) -> Result<Sent, Error> {
    let (sealed, recipients) = prepare(inner, draft)?;
    let mut entry = NewEntry::new(
        inner.now(),
        Direction::Outbound,
        Record::Envelope(Bytes::from(sealed.envelope().encode_to_vec())),
    );
    entry.disclosures = sealed
        .disclosures()
        .iter()
        .map(|d| d.bytes().clone())
        .collect();
    entry.recipients = recipients.clone();
    entry.enqueue = recipients.clone();
    let index = inner.store.append_async(entry).await?.index();
    inner.outbox_wake.notify_one();
    let kind = sealed.notice().kind();
    inner
        .metrics
        .sent
        .get_or_create(&crate::metrics::Metrics::label("kind", kind))
        .inc();
    tracing::info!(id = %sealed.notice().id(), %kind, index = %index, to = recipients.len(), "notice queued");
    Ok(Sent {
        id: sealed.notice().id(),
        index,
        recipients,
    })
}
