//! The API's JSON views of what the node holds: a notice as this node
//! holds it, a summary line, a notice sent, a peer.

use isop_core::pb::field_value::Value;
use isop_core::{LogIndex, Notice, RevealedField, indicator, pb};
use serde::Serialize;
use serde_json::json;

use super::shared::{ApiError, not_found, notice_of};
use crate::state::{Held, Inner};
use axum::http::StatusCode;

#[derive(Serialize)]
pub(super) struct Peer {
    pub(super) org: String,
    pub(super) role: String,
    pub(super) country: String,
    pub(super) endpoint: Option<String>,
    pub(super) outbox_depth: usize,
}

/// The answer to a notice sent: its id, its OUTBOUND entry, its recipients.
pub(super) fn sent_json(sent: &crate::Sent) -> serde_json::Value {
    json!({ "id": sent.id.to_string(), "index": sent.index.0, "recipients": sent.recipients.iter().map(ToString::to_string).collect::<Vec<_>>() })
}

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

fn internal(e: isop_core::Error) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Each name in the notice (its target, its indicators, in the clear or
/// revealed, a contact's e-mail address) that holds an IDNA A-label, with
/// its Unicode form, so that a look-alike shows for what it is.
pub(super) fn idna_forms(n: &Notice, revealed: &[RevealedField]) -> Vec<serde_json::Value> {
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
            indicator::unicode_form(ascii)
                .map(|unicode| json!({ "ascii": ascii, "unicode": unicode }))
        })
        .collect()
}

/// A notice as this node holds it, with what its log says about it.
pub(super) fn notice_json(inner: &Inner, at: LogIndex) -> Result<serde_json::Value, ApiError> {
    let Held {
        entry,
        notice: n,
        verified,
        erased,
    } = inner
        .held(at)?
        .ok_or_else(|| not_found(format!("entry {at} is not a notice")))?;
    let erased: Vec<_> = erased
        .into_iter()
        .map(|(digest, e)| json!({ "digest": hex::encode(digest), "reason": e.reason, "erased_at": e.erased_at }))
        .collect();
    // A notice that no longer verifies (its key revoked from before it was
    // made, say) is shown as the log holds it, said so, its fields withheld.
    let (revealed, withheld, idna, verification_error) = match verified {
        Ok(v) => (
            v.revealed().iter().map(|f| Ok(json!({ "path": f.path, "label": f.label.to_string(), "value": value_json(&f.value)? }))).collect::<Result<Vec<_>, ApiError>>()?,
            v.withheld().iter().map(|w| json!({ "path": w.path, "label": w.label.to_string() })).collect::<Vec<_>>(),
            idna_forms(&n, v.revealed()),
            None,
        ),
        Err(e) => (
            Vec::new(),
            n.commitments().iter().map(|c| json!({ "path": c.path, "label": c.label.to_string() })).collect(),
            idna_forms(&n, &[]),
            Some(e.to_string()),
        ),
    };
    let read = inner
        .store
        .inbox(false)?
        .iter()
        .find(|(i, _)| *i == at)
        .map(|(_, r)| *r);
    Ok(json!({
        "index": at.0,
        "direction": pb::Direction::try_from(entry.direction).map(|d| d.as_str_name()).unwrap_or("?"),
        "peer": entry.peer,
        "id": n.id().to_string(),
        "kind": n.kind().to_string(),
        "author": n.author().to_string(),
        "created_at": n.created_at().0,
        "tlp": n.tlp().to_string(),
        "to_orgs": n.to_orgs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "to_groups": n.to_groups(),
        "case_ref": n.case_ref(),
        "in_reply_to": n.in_reply_to().map(|i| i.to_string()),
        "body": body_json(&n)?,
        "verified": verification_error.is_none(),
        "verification_error": verification_error,
        "revealed": revealed,
        "withheld": withheld,
        "idna": idna,
        "erased": erased,
        "read": read,
    }))
}

pub(super) fn summary(inner: &Inner, at: LogIndex) -> Option<serde_json::Value> {
    let n = notice_of(inner, at).ok()?;
    Some(
        json!({ "index": at.0, "id": n.id().to_string(), "kind": n.kind().to_string(), "author": n.author().to_string(), "created_at": n.created_at().0, "tlp": n.tlp().to_string(), "case_ref": n.case_ref() }),
    )
}
