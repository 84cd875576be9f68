//! A notice as the local API takes it (`isop_api::SubmitNotice`: its body
//! and labelled values in the JSON form of the schema, `isop_core::json`)
//! made into a draft; the core validates it when it is sealed.

use isop_api::SubmitNotice;
use isop_core::{NoticeDraft, NoticeId, OrgId, Tlp, pb};

use crate::Error;

fn bad(what: &str, why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{what}: {why}"))
}

fn notice_id(what: &str, s: &str) -> Result<NoticeId, Error> {
    s.parse().map_err(|e| bad(what, e))
}

/// The body of `body` (the JSON form of isop.v1.Notice's body: one key
/// naming its kind over its fields).
fn body(body: serde_json::Value) -> Result<pb::notice::Body, Error> {
    const KINDS: [&str; 6] = [
        "referral",
        "status_update",
        "intel_report",
        "takedown_request",
        "case_message",
        "retraction",
    ];
    let give = || format!("give one key of {}", KINDS.join(", "));
    let kind = match &body {
        serde_json::Value::Object(fields) if fields.len() == 1 => {
            fields.keys().next().cloned().unwrap_or_default()
        }
        serde_json::Value::Object(fields) => {
            return Err(bad(
                "body",
                format!("has {} keys: {}", fields.len(), give()),
            ));
        }
        _ => return Err(bad("body", format!("is not an object: {}", give()))),
    };
    if !KINDS.contains(&kind.as_str()) {
        return Err(bad(
            "body",
            format!("{kind:?} is not a kind of notice: {}", give()),
        ));
    }
    let notice: pb::Notice =
        isop_core::json::from_json(body, "isop.v1.Notice").map_err(|e| bad("body", e))?;
    notice
        .body
        .ok_or_else(|| bad("body", format!("{kind} is empty")))
}

/// The draft `notice` describes.
pub fn draft(notice: SubmitNotice) -> Result<NoticeDraft, Error> {
    let SubmitNotice {
        tlp,
        to_orgs,
        to_groups,
        case_ref,
        in_reply_to,
        labelled,
        body: b,
    } = notice;
    let tlp = isop_core::json::enum_value("tlp", "isop.v1.Tlp", &tlp, pb::Tlp::from_str_name)?;
    let tlp = Tlp::from_pb(tlp as i32).map_err(|e| bad("tlp", e))?;
    let mut d = NoticeDraft::new(tlp, body(b)?);
    for o in &to_orgs {
        d = d.to_org(&OrgId::new(o).map_err(|e| bad("to_orgs", e))?);
    }
    for g in &to_groups {
        d = d.to_group(g);
    }
    if let Some(c) = &case_ref {
        d = d.case_ref(c);
    }
    if let Some(r) = &in_reply_to {
        d = d.in_reply_to(notice_id("in_reply_to", r)?);
    }
    for f in labelled {
        let what = format!("labelled {}", f.path);
        let value: pb::FieldValue =
            isop_core::json::from_json(f.value, "isop.v1.FieldValue").map_err(|e| bad(&what, e))?;
        let value = value.value.ok_or_else(|| {
            bad(
                &what,
                "has no value: give text, indicator, contact, person or binary",
            )
        })?;
        // The label is checked here too, so that its error names the field.
        isop_core::Label::parse(&f.label).map_err(|e| bad(&format!("{what}'s label"), e))?;
        d = d.labelled(&f.path, &f.label, value);
    }
    Ok(d)
}
