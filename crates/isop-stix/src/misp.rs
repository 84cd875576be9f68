//! A MISP feed (`docs/STIX.md` §MISP) made from a collection's STIX
//! objects: one event per notice (or per case), its indicators as
//! attributes, TLP and isop's labels as tags, the notice id as an
//! internal reference; a `manifest.json` listing the events, and
//! `hashes.csv` for MISP's feed cache.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use crate::bundle::extension;
use crate::common::strictest_tlp;
use crate::{Object, ids, str_of};

/// How a feed groups notices into events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    /// One event per notice.
    Notice,
    /// One event per case; a notice of no case is an event of its own.
    Case,
}

/// A MISP feed: its events (by UUID) and manifest.
#[derive(Clone, Debug, Default)]
pub struct Feed {
    /// Each event file's UUID and content (`{"Event": …}`).
    pub events: Vec<(String, Value)>,
    /// `manifest.json`.
    pub manifest: Map<String, Value>,
    /// `hashes.csv`: each attribute value's MD5, with its event's UUID.
    pub hashes: Vec<(String, String)>,
}

fn uuid_part(id: &str) -> String {
    ids::uuid_of(id).map(|u| u.to_string()).unwrap_or_default()
}

/// Seconds since the epoch of an RFC 3339 time, as MISP writes them.
fn seconds(t: &str) -> String {
    (isop_core::json::parse_rfc3339(t).unwrap_or_default() / 1000).to_string()
}

/// MISP's tag for `tlp` (its `tlp` taxonomy).
fn tlp_tag(tlp: isop_core::pb::Tlp) -> Value {
    let (name, colour) = match tlp {
        isop_core::pb::Tlp::Clear => ("tlp:clear", "#ffffff"),
        isop_core::pb::Tlp::Green => ("tlp:green", "#33ff00"),
        isop_core::pb::Tlp::Amber => ("tlp:amber", "#ffc000"),
        isop_core::pb::Tlp::AmberStrict => ("tlp:amber+strict", "#ffc000"),
        _ => ("tlp:red", "#ff0000"),
    };
    json!({"name": name, "colour": colour, "local": false, "relationship_type": ""})
}

fn tag(name: String) -> Value {
    json!({"name": name, "colour": "#0088cc", "local": false, "relationship_type": ""})
}

/// MISP's distribution for `tlp`: the organisation only for AMBER and
/// stricter, the community for GREEN, everyone for CLEAR.
fn distribution(tlp: isop_core::pb::Tlp) -> &'static str {
    match tlp {
        isop_core::pb::Tlp::Clear => "3",
        isop_core::pb::Tlp::Green => "1",
        _ => "0",
    }
}

/// The MISP attribute type and category of an observable, and whether it
/// is for detection (`to_ids`).
fn attribute_type(o: &Object) -> Option<(&'static str, &'static str, bool, String)> {
    let value = str_of(o, "value").to_owned();
    Some(match str_of(o, "type") {
        "domain-name" => ("domain", "Network activity", true, value),
        "url" => ("url", "Network activity", true, value),
        "ipv4-addr" | "ipv6-addr" => ("ip-dst", "Network activity", true, value),
        "email-addr" => ("email", "Attribution", false, value),
        "autonomous-system" => (
            "AS",
            "Network activity",
            false,
            o.get("number")?.as_u64()?.to_string(),
        ),
        "cryptocurrency-wallet" => {
            let address = str_of(o, "address").to_owned();
            let bitcoin =
                address.starts_with("bc1") || address.starts_with('1') || address.starts_with('3');
            if bitcoin {
                ("btc", "Financial fraud", true, address)
            } else {
                ("text", "Financial fraud", true, address)
            }
        }
        "file" => (
            "sha256",
            "Payload delivery",
            false,
            o.get("hashes")?.get("SHA-256")?.as_str()?.to_owned(),
        ),
        "identity" if str_of(o, "identity_class") == "individual" => {
            ("full-name", "Person", false, str_of(o, "name").to_owned())
        }
        _ => return None,
    })
}

/// The attributes of one notice's report or note `primary`, its tags, and
/// its labelled values' labels.
fn attributes(primary: &Object, by_id: &BTreeMap<&str, &Object>) -> Vec<Value> {
    let ext = extension(primary);
    let revealed: Vec<&Value> = ext
        .and_then(|e| e.get("revealed"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let label_of = |value: &str| -> Option<String> {
        revealed
            .iter()
            .find(|f| {
                f.pointer("/value/indicator/value").and_then(Value::as_str) == Some(value)
                    || f.pointer("/value/person/name").and_then(Value::as_str) == Some(value)
            })
            .and_then(|f| f.get("label").and_then(Value::as_str))
            .map(str::to_owned)
    };
    let created = seconds(str_of(primary, "created"));
    let mut out = Vec::new();
    let notice = ext
        .and_then(|e| e.get("notice_id"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    out.push(json!({
        "uuid": ids::sco("misp-attribute", &format!("{notice}/notice_id")).trim_start_matches("misp-attribute--"),
        "type": "text",
        "category": "Internal reference",
        "value": notice,
        "comment": "isop notice id",
        "to_ids": false,
        "timestamp": created,
    }));
    for r in primary
        .get("object_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let Some(o) = by_id.get(r) else { continue };
        let Some((ty, category, to_ids, value)) = attribute_type(o) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let mut a = json!({
            "uuid": uuid_part(r),
            "type": ty,
            "category": category,
            "value": value,
            "to_ids": to_ids,
            "timestamp": created,
        });
        if ty == "text" {
            a["comment"] = json!("cryptocurrency wallet");
        }
        if let Some(label) = label_of(&value) {
            a["Tag"] = json!([tag(format!("isop:label=\"{label}\""))]);
        }
        out.push(a);
    }
    // Payment accounts have no STIX observable: from the extension.
    for f in &revealed {
        if f.pointer("/value/indicator/kind").and_then(Value::as_str)
            == Some("INDICATOR_KIND_PAYMENT_ACCOUNT")
            && let Some(v) = f.pointer("/value/indicator/value").and_then(Value::as_str)
        {
            let iban = v.len() > 4
                && v.get(..2)
                    .is_some_and(|c| c.chars().all(|c| c.is_ascii_uppercase()))
                && v.get(2..4)
                    .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()));
            let path = f.get("path").and_then(Value::as_str).unwrap_or_default();
            let mut a = json!({
                "uuid": ids::sco("misp-attribute", &format!("{notice}/{path}")).trim_start_matches("misp-attribute--"),
                "type": if iban { "iban" } else { "bank-account-nr" },
                "category": "Financial fraud",
                "value": v,
                "to_ids": true,
                "timestamp": created,
            });
            if let Some(label) = f.get("label").and_then(Value::as_str) {
                a["Tag"] = json!([tag(format!("isop:label=\"{label}\""))]);
            }
            out.push(a);
        }
    }
    out
}

/// The feed of `objects` (a collection's STIX objects), grouped `per`.
pub fn feed(objects: &[Object], per: Per) -> Feed {
    let by_id: BTreeMap<&str, &Object> = objects.iter().map(|o| (str_of(o, "id"), o)).collect();
    // Each event: its UUID, and the reports and notes it gathers.
    let mut events: Vec<(String, Vec<&Object>)> = Vec::new();
    let mut case_event: BTreeMap<String, usize> = BTreeMap::new();
    for o in objects.iter().filter(|o| extension(o).is_some()) {
        if o.get("revoked") == Some(&json!(true)) {
            continue;
        }
        let case = extension(o)
            .and_then(|e| e.get("case_ref"))
            .and_then(Value::as_str);
        match (per, case) {
            (Per::Case, Some(c)) => {
                if let Some(&i) = case_event.get(c) {
                    events[i].1.push(o);
                } else {
                    case_event.insert(c.to_owned(), events.len());
                    let uuid = uuid_part(&ids::sdo("misp-event", &format!("case:{c}")));
                    events.push((uuid, vec![o]));
                }
            }
            _ => events.push((uuid_part(str_of(o, "id")), vec![o])),
        }
    }
    let mut out = Feed::default();
    for (uuid, notices) in events {
        let Some(first) = notices.first() else {
            continue;
        };
        let ext = extension(first);
        let author = ext
            .and_then(|e| e.get("author"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let tlp = notices
            .iter()
            .filter_map(|n| strictest_tlp(n))
            .max_by_key(|t| *t as i32)
            .unwrap_or(isop_core::pb::Tlp::Red);
        let case = ext.and_then(|e| e.get("case_ref")).and_then(Value::as_str);
        let info = match (per, case) {
            (Per::Case, Some(c)) => format!("isop case {c}"),
            _ => {
                let n = first;
                let name = str_of(n, "name");
                if name.is_empty() {
                    str_of(n, "abstract")
                } else {
                    name
                }
                .to_owned()
            }
        };
        let created = notices
            .iter()
            .map(|n| str_of(n, "created"))
            .min()
            .unwrap_or_default();
        let modified = notices
            .iter()
            .map(|n| str_of(n, "modified"))
            .max()
            .unwrap_or_default();
        let mut tags = vec![tlp_tag(tlp)];
        let mut kinds: Vec<&str> = notices
            .iter()
            .filter_map(|n| extension(n)?.get("notice_kind")?.as_str())
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        tags.extend(kinds.iter().map(|k| tag(format!("isop:kind=\"{k}\""))));
        if let Some(c) = case {
            tags.push(tag(format!("isop:case=\"{c}\"")));
        }
        let mut attrs = Vec::new();
        for n in &notices {
            attrs.extend(attributes(n, &by_id));
        }
        for a in &mut attrs {
            a["distribution"] = json!("5");
            if let Some(v) = a.get("value").and_then(Value::as_str) {
                out.hashes
                    .push((hex::encode(md5_of(v.as_bytes())), uuid.clone()));
            }
        }
        let date = created.get(..10).unwrap_or_default().to_owned();
        let orgc = json!({
            "name": author,
            "uuid": uuid_part(&crate::common::identity_id(author)),
        });
        let threat = match kinds.first().copied() {
            Some("referral" | "intel_report" | "takedown_request") => "2",
            _ => "4",
        };
        let event = json!({
            "Event": {
                "uuid": uuid,
                "info": info,
                "date": date,
                "timestamp": seconds(modified),
                "publish_timestamp": seconds(modified),
                "published": true,
                "analysis": "2",
                "threat_level_id": threat,
                "distribution": distribution(tlp),
                "Orgc": orgc,
                "Tag": tags,
                "Attribute": attrs,
            }
        });
        out.manifest.insert(
            uuid.clone(),
            json!({
                "Orgc": orgc,
                "Tag": tags,
                "info": info,
                "date": date,
                "analysis": 2,
                "threat_level_id": threat.parse::<u8>().unwrap_or(4),
                "timestamp": seconds(modified).parse::<u64>().unwrap_or_default(),
            }),
        );
        out.events.push((uuid, event));
    }
    out
}

/// MD5, as MISP's feed cache keys values (not for security).
fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}
