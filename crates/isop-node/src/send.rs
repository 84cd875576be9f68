//! Sending: a draft is sealed, its recipients checked against the policy,
//! and it is logged OUTBOUND with each recipient queued in one durable
//! append; the delivery workers take it from there.

use std::sync::Arc;

use bytes::Bytes;
use isop_core::{LogIndex, NoticeDraft, NoticeId, OrgId, Role, SealedNotice};
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

/// The recipients of a sealed notice, each checked against the policy.
fn check_recipients(inner: &Inner, sealed: &SealedNotice) -> Result<Vec<OrgId>, Error> {
    let n = sealed.notice();
    let roster = inner.roster();
    let to = roster.expand_recipients(
        &inner.org,
        n.to_orgs(),
        n.to_groups().iter().map(String::as_str),
        inner.now(),
    )?;
    if to.is_empty() {
        return Err(Error::Roster("the notice reaches no member".into()));
    }
    let my_role: Role = roster.member(&inner.org)?.role;
    let reply = inner.reply_context(n.in_reply_to())?;
    for r in &to {
        roster.policy().check(
            &inner.org,
            my_role,
            roster.member(r)?.role,
            n.kind(),
            &reply,
        )?;
    }
    Ok(to.into_iter().collect())
}

/// Seals `draft` as this node, checks its recipients, logs it and queues
/// it for each.
pub(crate) async fn send(inner: &Arc<Inner>, draft: NoticeDraft) -> Result<Sent, Error> {
    let sealed = draft.seal(&inner.signer, inner.now(), &mut rand::rngs::OsRng)?;
    let recipients = check_recipients(inner, &sealed)?;
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
