//! Objects as a bundle, and a bundle's objects chosen by the notices they
//! come from.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::common::EXTENSION;
use crate::{Object, ids, str_of};

/// isop's extension on `o`, if it is a notice's report or note.
pub fn extension(o: &Object) -> Option<&serde_json::Map<String, Value>> {
    o.get("extensions")?.get(EXTENSION)?.as_object()
}

/// `objects` as a STIX 2.1 bundle: each object version once (the first
/// given), in the order given. Its id is derived from the object versions
/// it holds, so the same objects make the same bundle.
pub fn bundle(objects: Vec<Object>) -> Value {
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    for o in objects {
        let key = (
            str_of(&o, "id").to_owned(),
            str_of(&o, "modified").to_owned(),
        );
        if seen.insert(key) {
            kept.push(Value::Object(o));
        }
    }
    let names: Vec<String> = seen.iter().map(|(i, m)| format!("{i}@{m}")).collect();
    json!({
        "type": "bundle",
        "id": ids::sdo("bundle", &names.join(",")),
        "objects": kept,
    })
}

/// Of `objects` (a collection's, in its order), those of the notices
/// whose report or note `keep` accepts, and those of no notice (markings,
/// members' identities, the extension's definition). An object is a
/// notice's if it is its report or note, names it in an `isop` external
/// reference, or is an observable its report or note refers to.
pub fn select(objects: Vec<Object>, keep: impl Fn(&Object) -> bool) -> Vec<Object> {
    // Each notice's verdict, and the observables each refers to.
    let mut verdict: BTreeMap<String, bool> = BTreeMap::new();
    let mut observed: BTreeMap<String, bool> = BTreeMap::new();
    for o in &objects {
        let Some(ext) = extension(o) else { continue };
        let Some(notice) = ext.get("notice_id").and_then(Value::as_str) else {
            continue;
        };
        let yes = keep(o);
        let v = verdict.entry(notice.to_owned()).or_insert(yes);
        *v |= yes;
        for r in o
            .get("object_refs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let v = observed.entry(r.to_owned()).or_insert(yes);
            *v |= yes;
        }
    }
    objects
        .into_iter()
        .filter(|o| {
            if let Some(ext) = extension(o) {
                return ext
                    .get("notice_id")
                    .and_then(Value::as_str)
                    .and_then(|n| verdict.get(n))
                    .copied()
                    .unwrap_or(true);
            }
            let of_notice = o
                .get("external_references")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|r| r.get("source_name").and_then(Value::as_str) == Some("isop"))
                .filter_map(|r| r.get("external_id").and_then(Value::as_str))
                .find_map(|n| verdict.get(n).copied());
            if let Some(v) = of_notice {
                return v;
            }
            if !o.contains_key("created")
                && let Some(v) = observed.get(str_of(o, "id"))
            {
                return *v;
            }
            true
        })
        .collect()
}
