//! The API's answers as the templates show them: words, not enum names;
//! times to the minute; a notice's body as an outline of rows.

use isop_api::{Summary, Time};
use isop_core::json::{enum_words, in_words};
use isop_core::pb;
use serde_json::Value;

/// Every value of a protobuf enum but its unspecified zero, in order.
pub(super) fn values<E: TryFrom<i32> + Copy>() -> Vec<E> {
    (1..).map_while(|i| E::try_from(i).ok()).collect()
}

/// A notice kind in words: `status update`.
pub(super) fn kind(k: pb::NoticeKind) -> String {
    enum_words("isop.v1.NoticeKind", k.as_str_name())
}

/// A referral status in words: `action taken`.
pub(super) fn status(s: pb::ReferralStatus) -> String {
    enum_words("isop.v1.ReferralStatus", s.as_str_name())
}

/// A TLP marking as people write it: `TLP:AMBER+STRICT`.
pub(super) fn tlp(t: pb::Tlp) -> String {
    isop_core::Tlp::from_pb(t as i32).map_or_else(|_| "TLP:unspecified".into(), |t| t.to_string())
}

/// A time to the second, in UTC: `2026-12-02 14:22:02`.
pub(super) fn time(t: Time) -> String {
    let s = isop_core::json::rfc3339(t.0);
    s.get(..19).unwrap_or(&s).replace('T', " ")
}

/// A line of a list of notices.
pub(super) struct Line {
    pub(super) href: String,
    pub(super) unread: bool,
    pub(super) kind: String,
    pub(super) subject: String,
    pub(super) author: String,
    pub(super) case_ref: String,
    pub(super) status: String,
    pub(super) created: String,
    pub(super) tlp: String,
}

impl Line {
    pub(super) fn of(s: &Summary) -> Self {
        Self {
            href: format!("/ui/notices/{}", s.id),
            unread: s.read == Some(false),
            kind: kind(s.kind),
            subject: s.subject.clone(),
            author: s.author.clone(),
            case_ref: s.case_ref.clone().unwrap_or_default(),
            status: s.status.map(status).unwrap_or_default(),
            created: time(s.created_at),
            tlp: tlp(s.tlp),
        }
    }
}

/// A row of a notice's outline: a field's name in words at a depth, and
/// its value (empty for a field that holds others).
pub(super) struct Row {
    pub(super) depth: usize,
    pub(super) name: String,
    pub(super) value: String,
}

/// A message's JSON form (of `type_name`) as rows, enum values in words,
/// the deepest nesting shown at depth 6.
pub(super) fn outline(v: &Value, type_name: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    walk(&in_words(v.clone(), type_name), 0, "", &mut rows);
    rows
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn walk(v: &Value, depth: usize, name: &str, rows: &mut Vec<Row>) {
    let depth_shown = depth.min(6);
    match v {
        Value::Object(fields) => {
            if !name.is_empty() {
                rows.push(Row {
                    depth: depth_shown,
                    name: name.to_owned(),
                    value: String::new(),
                });
            }
            let inner = if name.is_empty() { depth } else { depth + 1 };
            for (k, x) in fields {
                walk(x, inner, &k.replace('_', " "), rows);
            }
        }
        Value::Array(items) => {
            rows.push(Row {
                depth: depth_shown,
                name: name.to_owned(),
                value: String::new(),
            });
            for (i, x) in items.iter().enumerate() {
                walk(x, depth + 1, &format!("{}.", i + 1), rows);
            }
        }
        other => rows.push(Row {
            depth: depth_shown,
            name: name.to_owned(),
            value: scalar(other),
        }),
    }
}

/// A labelled field's value for people: its text, an indicator's value
/// with its kind, anything else as its JSON on one line, enum values in
/// words.
pub(super) fn field_value(v: &Value) -> String {
    let v = in_words(v.clone(), "isop.v1.FieldValue");
    if let Some(text) = v.get("text").and_then(Value::as_str) {
        return text.to_owned();
    }
    if let Some(i) = v.get("indicator") {
        return format!("{} ({})", scalar(&i["value"]), scalar(&i["kind"]));
    }
    scalar(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_becomes_rows_with_names_in_words() {
        let body = serde_json::json!({
            "referral": {
                "target": { "domain": "streamz.example" },
                "hosting_country": "KR",
                "works": [{ "title": "Film" }],
            }
        });
        let rows = outline(&body, "isop.v1.Notice");
        let shown: Vec<(usize, &str, &str)> = rows
            .iter()
            .map(|r| (r.depth, r.name.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                (0, "referral", ""),
                (1, "hosting country", "KR"),
                (1, "target", ""),
                (2, "domain", "streamz.example"),
                (1, "works", ""),
                (2, "1.", ""),
                (3, "title", "Film"),
            ]
        );
        assert_eq!(time(Time(1_764_000_000_000)), "2025-11-24 16:00:00");
        assert_eq!(tlp(pb::Tlp::AmberStrict), "TLP:AMBER+STRICT");
    }
}
