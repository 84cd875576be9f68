//! A STIX 2.1 bundle from a partner's or an agency's platform made into
//! isop notices (`docs/STIX.md` §Import): first [`read_bundle`] checks
//! the whole bundle (every error names its object); then [`plan`] turns
//! each report or grouping, and what no report holds, into an
//! intelligence report or a referral, and names every object it leaves
//! out, and why. Nothing is sent here: the caller shows the plan, and
//! sends once the user agrees.

use std::collections::{BTreeMap, BTreeSet};

use isop_api::{LabelledField, SubmitNotice};
use isop_core::pb::{self, IndicatorKind};
use serde_json::{Value, json};

use crate::bundle::extension;
use crate::common::strictest_tlp;
use crate::{Object, ids, pattern, str_of};

/// A problem with one object of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The object's id, or its place (`objects[3]`) if it has none.
    pub id: String,
    /// What is wrong, or why it is left out.
    pub why: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.why)
    }
}

/// The properties a STIX 2.1 object of each type must have (STIX 2.1
/// §4–§7), beyond `type`, `id` and (for domain, relationship and meta
/// objects) `spec_version`, `created` and `modified`.
const REQUIRED: &[(&str, &[&str])] = &[
    ("attack-pattern", &["name"]),
    ("campaign", &["name"]),
    ("course-of-action", &["name"]),
    ("grouping", &["context", "object_refs"]),
    ("identity", &["name"]),
    ("incident", &["name"]),
    ("indicator", &["pattern", "pattern_type", "valid_from"]),
    ("infrastructure", &["name"]),
    ("intrusion-set", &["name"]),
    ("location", &[]),
    ("malware", &["is_family"]),
    ("malware-analysis", &["product"]),
    ("note", &["content", "object_refs"]),
    (
        "observed-data",
        &["first_observed", "last_observed", "number_observed"],
    ),
    ("opinion", &["opinion", "object_refs"]),
    ("report", &["name", "published", "object_refs"]),
    ("threat-actor", &["name"]),
    ("tool", &["name"]),
    ("vulnerability", &["name"]),
    (
        "relationship",
        &["relationship_type", "source_ref", "target_ref"],
    ),
    ("sighting", &["sighting_of_ref"]),
    ("marking-definition", &[]),
    (
        "extension-definition",
        &[
            "name",
            "schema",
            "version",
            "extension_types",
            "created_by_ref",
        ],
    ),
    ("language-content", &["object_ref", "contents"]),
];

/// Observables (STIX 2.1 §6) and what each must have; `hashes|name`
/// means one of them.
const OBSERVABLES: &[(&str, &[&str])] = &[
    ("artifact", &[]),
    ("autonomous-system", &["number"]),
    ("directory", &["path"]),
    ("domain-name", &["value"]),
    ("email-addr", &["value"]),
    ("email-message", &["is_multipart"]),
    ("file", &["hashes|name"]),
    ("ipv4-addr", &["value"]),
    ("ipv6-addr", &["value"]),
    ("mac-addr", &["value"]),
    ("mutex", &["name"]),
    ("network-traffic", &["protocols"]),
    ("process", &[]),
    ("software", &["name"]),
    ("url", &["value"]),
    ("user-account", &[]),
    ("windows-registry-key", &[]),
    ("x509-certificate", &[]),
    ("cryptocurrency-wallet", &["address"]),
];

const TIMES: [&str; 6] = [
    "created",
    "modified",
    "valid_from",
    "valid_until",
    "published",
    "first_observed",
];

/// Checks `bundle` is a STIX 2.1 bundle and each object has what its type
/// requires, and its STIX patterns parse; its objects if so, every
/// problem found if not.
pub fn read_bundle(bundle: &Value) -> Result<Vec<Object>, Vec<Problem>> {
    let whole = |why: &str| {
        vec![Problem {
            id: "the bundle".into(),
            why: why.into(),
        }]
    };
    let Some(b) = bundle.as_object() else {
        return Err(whole("is not a JSON object: a STIX 2.1 bundle is one"));
    };
    if str_of(b, "type") != "bundle" {
        return Err(whole(&format!(
            "has type {:?}, not \"bundle\": not a STIX 2.1 bundle",
            str_of(b, "type")
        )));
    }
    if let Some(v) = b.get("spec_version") {
        return Err(whole(&format!(
            "has spec_version {v} at its top, as STIX 2.0 bundles do; isop reads STIX 2.1"
        )));
    }
    let id = str_of(b, "id");
    if !id.starts_with("bundle--") || ids::uuid_of(id).is_none() {
        return Err(whole(&format!("has id {id:?}, not bundle--<UUID>")));
    }
    let Some(objects) = b.get("objects").and_then(Value::as_array) else {
        return Err(whole("has no objects list"));
    };
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let Some(o) = o.as_object() else {
            problems.push(Problem {
                id: format!("objects[{i}]"),
                why: "is not a JSON object".into(),
            });
            continue;
        };
        match check(o) {
            Ok(()) => out.push(o.clone()),
            Err(why) => problems.push(Problem {
                id: o
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("objects[{i}]"), str::to_owned),
                why,
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Whether one object is well formed.
fn check(o: &Object) -> Result<(), String> {
    let ty = o.get("type").and_then(Value::as_str).ok_or("has no type")?;
    let id = o.get("id").and_then(Value::as_str).ok_or("has no id")?;
    match id.split_once("--") {
        Some((prefix, _)) if prefix == ty && ids::uuid_of(id).is_some() => {}
        _ => return Err(format!("id {id:?} is not {ty}--<UUID>")),
    }
    let observable = OBSERVABLES.iter().find(|(t, _)| *t == ty);
    let versioned = REQUIRED.iter().find(|(t, _)| *t == ty);
    let needs: &[&str] = match (observable, versioned) {
        (Some((_, needs)), _) | (None, Some((_, needs))) => needs,
        // A custom type: only the common properties.
        (None, None) => &[],
    };
    let spec = o.get("spec_version").and_then(Value::as_str);
    match (spec, observable.is_some()) {
        (Some("2.1"), _) | (None, true) => {}
        (Some(v), _) => return Err(format!("is STIX {v}; isop reads STIX 2.1")),
        (None, false) => {
            return Err("has no spec_version (STIX 2.1 objects carry \"2.1\")".into());
        }
    }
    let mut missing: Vec<&str> = Vec::new();
    if observable.is_none() {
        missing.extend(
            ["created", "modified"]
                .into_iter()
                .filter(|p| !o.contains_key(*p)),
        );
        if ty == "marking-definition" {
            missing.retain(|p| *p != "modified");
        }
    }
    for need in needs {
        if !need.split('|').any(|p| o.contains_key(p)) {
            missing.push(need);
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "lacks the required propert{} {} of a {ty}",
            if missing.len() == 1 { "y" } else { "ies" },
            missing.join(", ")
        ));
    }
    for t in TIMES {
        if let Some(v) = o.get(t)
            && v.as_str()
                .and_then(isop_core::json::parse_rfc3339)
                .is_none()
        {
            return Err(format!("{t} {v} is not an RFC 3339 time"));
        }
    }
    if ty == "indicator" && str_of(o, "pattern_type") == "stix" {
        pattern::parse(str_of(o, "pattern")).map_err(|e| format!("its {e}"))?;
    }
    Ok(())
}

/// What the notices become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An agency's or the hub's intelligence reports.
    Intel,
    /// A partner's referrals.
    Referral,
}

/// What the bundle does not say: recipients, and for referrals what a
/// referral must hold that STIX has no property for (works, category,
/// jurisdiction, the referrer's statements). A notice in the form of `POST
/// /v1/notices`; the bundle's reports fill in the rest.
#[derive(Clone, Debug)]
pub struct Template {
    /// The notice the bundle's fill in.
    pub notice: SubmitNotice,
    /// The TLP to use where the bundle marks none (`None`: such a report
    /// is left out).
    pub tlp: Option<pb::Tlp>,
    /// The label of the values isop sends only as labelled fields
    /// (wallets, e-mail addresses, a report's description). Given, it
    /// holds for every one; not given, the bundle's isop extension must
    /// name one, or the report is left out: a bundle never decides alone
    /// who may read such a value.
    pub label: Option<String>,
}

/// A notice to send, and what it was made from.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The report or grouping it comes from, or `None` for what no report
    /// held.
    pub from: Option<String>,
    /// What it is about, for people.
    pub about: String,
    /// The notice.
    pub notice: SubmitNotice,
}

/// The notices a bundle makes, and what it leaves out.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The notices, in the bundle's order.
    pub notices: Vec<Planned>,
    /// Every object left out, and why.
    pub skipped: Vec<Problem>,
}

/// One indicator value found.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    kind: IndicatorKind,
    value: String,
    context: String,
}

/// The indicator kind and canonical value of an observable's property
/// (`domain-name`'s `value`), if isop takes it.
fn kind_of(object: &str, property: &str, value: &str) -> Option<IndicatorKind> {
    let kind = match (object, property) {
        ("domain-name", "value") => IndicatorKind::Domain,
        ("url", "value") => IndicatorKind::Url,
        ("ipv4-addr" | "ipv6-addr", "value") => IndicatorKind::Ip,
        ("email-addr", "value") => IndicatorKind::Email,
        ("cryptocurrency-wallet", "address" | "value") => IndicatorKind::CryptoWallet,
        _ => return None,
    };
    // A CIDR block is a network, not an address isop takes.
    (!value.contains('/') || kind == IndicatorKind::Url).then_some(kind)
}

/// `bundle`'s objects (from [`read_bundle`]) as notices of `target`, with
/// what `template` gives.
pub fn plan(objects: &[Object], target: Target, template: &Template) -> Plan {
    // Each object's latest version.
    let modified = |o: &Object| isop_core::json::parse_rfc3339(str_of(o, "modified"));
    let mut by_id: BTreeMap<&str, &Object> = BTreeMap::new();
    for o in objects {
        let id = str_of(o, "id");
        if by_id
            .get(id)
            .is_none_or(|held| modified(held) <= modified(o))
        {
            by_id.insert(id, o);
        }
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut plan = Plan::default();
    let skip = |plan: &mut Plan, id: &str, why: String| {
        plan.skipped.push(Problem {
            id: id.to_owned(),
            why,
        });
    };
    // Markings are read, not sent.
    for o in objects {
        if str_of(o, "type") == "marking-definition" {
            used.insert(str_of(o, "id").to_owned());
        }
    }
    // Only a report's latest version; a revoked one makes nothing.
    let mut latest: BTreeMap<&str, &Object> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for o in objects
        .iter()
        .filter(|o| matches!(str_of(o, "type"), "report" | "grouping"))
    {
        let id = str_of(o, "id");
        match latest.get(id) {
            Some(held) if modified(held) >= modified(o) => {}
            Some(_) => {
                latest.insert(id, o);
            }
            None => {
                latest.insert(id, o);
                order.push(id);
            }
        }
    }
    for c in order.into_iter().filter_map(|id| latest.get(id).copied()) {
        let id = str_of(c, "id").to_owned();
        used.insert(id.clone());
        if c.get("revoked") == Some(&json!(true)) {
            skip(&mut plan, &id, "is revoked".into());
            for r in refs(c) {
                if by_id.contains_key(r) && used.insert(r.to_owned()) {
                    skip(&mut plan, r, format!("belongs to {id}, which is revoked"));
                }
            }
            continue;
        }
        let members: Vec<&Object> = refs(c).filter_map(|r| by_id.get(r).copied()).collect();
        let mut found = Vec::new();
        let mut evidence = Vec::new();
        for m in &members {
            let mid = str_of(m, "id").to_owned();
            match read_member(m) {
                Ok(Member::Values(v)) => {
                    found.extend(v);
                    used.insert(mid);
                }
                Ok(Member::Evidence(sha)) => {
                    evidence.push((
                        sha,
                        str_of(m, "name").to_owned(),
                        str_of(m, "mime_type").to_owned(),
                    ));
                    used.insert(mid);
                }
                Ok(Member::Structure) => {}
                Err(why) => {
                    used.insert(mid.clone());
                    skip(&mut plan, &mid, why);
                }
            }
        }
        // As strictly as the report or anything in it is marked.
        let marked = std::iter::once(c)
            .chain(members.iter().copied())
            .filter_map(strictest_tlp)
            .max_by_key(|t| *t as i32);
        match notice_of(c, marked, found, evidence, target, template) {
            Ok(p) => plan.notices.push(p),
            Err(why) => skip(&mut plan, &id, why),
        }
    }
    // Indicators and observables no report holds: one more notice; but
    // not an observable a revoked indicator names.
    let revoked: BTreeSet<String> = objects
        .iter()
        .filter(|o| str_of(o, "type") == "indicator" && o.get("revoked") == Some(&json!(true)))
        .filter_map(|o| pattern::parse(str_of(o, "pattern")).ok())
        .flat_map(|p| p.comparisons.into_iter().map(|c| c.value))
        .collect();
    let mut loose = Vec::new();
    let mut loose_ids = Vec::new();
    for o in objects {
        let id = str_of(o, "id");
        if used.contains(id) {
            continue;
        }
        let o = by_id.get(id).copied().unwrap_or(o);
        match read_member(o) {
            Ok(Member::Values(v)) if v.iter().any(|f| revoked.contains(&f.value)) => {
                used.insert(id.to_owned());
                skip(&mut plan, id, "an indicator of it is revoked".into());
            }
            Ok(Member::Values(v)) => {
                loose.extend(v);
                loose_ids.push(id.to_owned());
                used.insert(id.to_owned());
            }
            Ok(Member::Evidence(_)) => {}
            Ok(Member::Structure) => {}
            Err(why) => {
                used.insert(id.to_owned());
                skip(&mut plan, id, why);
            }
        }
    }
    if !loose.is_empty() {
        let mut holder = Object::new();
        holder.insert("id".into(), json!(""));
        holder.insert(
            "name".into(),
            json!(format!(
                "Indicators imported from STIX ({} objects)",
                loose_ids.len()
            )),
        );
        // The loose objects' strictest marking.
        let tlp = loose_ids
            .iter()
            .filter_map(|i| by_id.get(i.as_str()).and_then(|o| strictest_tlp(o)))
            .max_by_key(|t| *t as i32);
        match notice_of(&holder, tlp, loose, Vec::new(), target, template) {
            Ok(mut p) => {
                p.from = None;
                plan.notices.push(p);
            }
            Err(why) => {
                for i in loose_ids {
                    skip(&mut plan, &i, why.clone());
                }
            }
        }
    }
    for o in objects {
        let id = str_of(o, "id");
        if used.contains(id) {
            continue;
        }
        let o = by_id.get(id).copied().unwrap_or(o);
        let ty = str_of(o, "type");
        let why = match ty {
            "identity" => "an identity is not sent: the importing node is the author".into(),
            "relationship" => "relationships are not sent: a notice holds its indicators".into(),
            "extension-definition" => "an extension definition is not sent".into(),
            "infrastructure" => "infrastructure is not sent: its observables are".into(),
            "note" | "opinion" => format!("a {ty} is not sent: isop answers referrals itself"),
            _ => format!("isop makes no notice of a {ty} object"),
        };
        skip(&mut plan, id, why);
    }
    plan
}

/// The ids `o` refers to in `object_refs`.
fn refs(o: &Object) -> impl Iterator<Item = &str> {
    o.get("object_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// What one object of a report gives.
enum Member {
    /// Indicator values.
    Values(Vec<Found>),
    /// A file's SHA-256, as a referral's evidence.
    Evidence(Vec<u8>),
    /// Nothing by itself (a relationship, an identity, infrastructure).
    Structure,
}

fn read_member(o: &Object) -> Result<Member, String> {
    let ty = str_of(o, "type");
    if o.get("revoked") == Some(&json!(true)) {
        return Err("is revoked".into());
    }
    match ty {
        "indicator" => {
            if str_of(o, "pattern_type") != "stix" {
                return Err(format!(
                    "its pattern is {}, not STIX: isop reads STIX patterns",
                    str_of(o, "pattern_type")
                ));
            }
            let p = pattern::parse(str_of(o, "pattern")).map_err(|e| e.to_string())?;
            if !p.beyond_equality.is_empty() {
                return Err(format!(
                    "its pattern uses {}: isop takes indicators that are equalities",
                    p.beyond_equality.join(", ")
                ));
            }
            let context = str_of(o, "name").to_owned();
            let mut values = Vec::new();
            for c in &p.comparisons {
                let Some(kind) = kind_of(&c.object, &c.path, &c.value) else {
                    return Err(format!(
                        "its pattern compares {}:{}, which isop has no indicator for",
                        c.object, c.path
                    ));
                };
                values.push(Found {
                    kind,
                    value: c.value.clone(),
                    context: context.clone(),
                });
            }
            Ok(Member::Values(values))
        }
        "file" => {
            let sha = o
                .get("hashes")
                .and_then(Value::as_object)
                .and_then(|h| h.get("SHA-256").or_else(|| h.get("sha256")))
                .and_then(Value::as_str)
                .and_then(|h| hex::decode(h).ok())
                .filter(|h| h.len() == 32)
                .ok_or("a file without a SHA-256 hash is no evidence isop takes")?;
            Ok(Member::Evidence(sha))
        }
        // Read for what they say of others, or named at the end if
        // nothing used them.
        "relationship"
        | "identity"
        | "infrastructure"
        | "marking-definition"
        | "report"
        | "grouping"
        | "note"
        | "opinion"
        | "location"
        | "extension-definition" => Ok(Member::Structure),
        _ => {
            let property = if ty == "cryptocurrency-wallet" {
                "address"
            } else {
                "value"
            };
            let value = str_of(o, property);
            match kind_of(ty, property, value) {
                Some(kind) if !value.is_empty() => Ok(Member::Values(vec![Found {
                    kind,
                    value: value.to_owned(),
                    context: String::new(),
                }])),
                _ => Err(format!("isop takes no {ty} object as an indicator")),
            }
        }
    }
}

/// The notice report `c` (with its `found` indicators and `evidence`)
/// makes.
fn notice_of(
    c: &Object,
    marked: Option<pb::Tlp>,
    mut found: Vec<Found>,
    evidence: Vec<(Vec<u8>, String, String)>,
    target: Target,
    template: &Template,
) -> Result<Planned, String> {
    found.sort();
    found.dedup_by(|a, b| a.kind == b.kind && a.value == b.value);
    let mut notice = template.notice.clone();
    let tlp = marked
        .or(template.tlp)
        .ok_or("has no TLP marking: give one (--tlp)")?;
    notice.tlp = tlp.as_str_name().to_owned();
    let ext = extension(c);
    // An isop notice exported before names its labelled fields: the
    // label of the one at `path`, or of the one holding `value`.
    let revealed = ext
        .and_then(|e| e.get("revealed"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let label_where = |hit: &dyn Fn(&Value) -> bool| -> Result<String, String> {
        let named = || {
            revealed
                .iter()
                .find(|f| hit(f))
                .and_then(|f| f.get("label").and_then(Value::as_str))
                .map(str::to_owned)
        };
        template.label.clone().or_else(named).ok_or_else(|| {
            "holds values isop sends only under an access label (wallets, e-mail \
             addresses, a description) and names none: give one (--label)"
                .to_owned()
        })
    };
    let label_of =
        |path: &str| label_where(&|f| f.get("path").and_then(Value::as_str) == Some(path));
    let label_of_value = |value: &str| {
        label_where(&|f| f.pointer("/value/indicator/value").and_then(Value::as_str) == Some(value))
    };
    let name = str_of(c, "name").to_owned();
    let description = str_of(c, "description").to_owned();
    match target {
        Target::Intel => {
            let clear: Vec<&Found> = found
                .iter()
                .filter(|f| {
                    matches!(
                        f.kind,
                        IndicatorKind::Domain | IndicatorKind::Ip | IndicatorKind::Url
                    )
                })
                .collect();
            let labelled: Vec<&Found> = found.iter().filter(|f| !clear.contains(f)).collect();
            if found.is_empty() {
                return Err("holds no indicator isop takes".into());
            }
            let mut body = ext
                .and_then(|e| e.get("body"))
                .and_then(|b| b.get("intel_report"))
                .filter(|b| b.is_object())
                .cloned()
                .unwrap_or_else(|| json!({}));
            body["title"] = json!(if name.is_empty() {
                "Imported indicators".to_owned()
            } else {
                name.clone()
            });
            body["indicators"] = json!(clear
                .iter()
                .map(|f| json!({"kind": f.kind.as_str_name(), "value": f.value, "context": f.context}))
                .collect::<Vec<_>>());
            if body.get("source_reliability").is_none() {
                body["source_reliability"] = json!("SOURCE_RELIABILITY_F");
            }
            if body.get("information_credibility").is_none() {
                body["information_credibility"] = json!(credibility(c.get("confidence")));
            }
            notice.body = json!({ "intel_report": body });
            notice
                .labelled
                .retain(|f| !f.path.starts_with("intel.indicators"));
            let first = clear.len();
            for (i, f) in labelled.iter().enumerate() {
                let path = format!("intel.indicators[{}]", first + i);
                notice.labelled.push(LabelledField {
                    label: label_of_value(&f.value)?,
                    path,
                    value: json!({"indicator": {"kind": f.kind.as_str_name(), "value": f.value, "context": f.context}}),
                });
            }
            // The narrative: an isop notice's own (its value and label, as
            // its extension holds them); else the report's description.
            notice.labelled.retain(|f| f.path != "intel.narrative");
            let narrative = match ext {
                Some(_) => revealed
                    .iter()
                    .find(|f| f.get("path").and_then(Value::as_str) == Some("intel.narrative"))
                    .and_then(|f| f.get("value").cloned())
                    .map(|value| Ok::<_, String>((label_of("intel.narrative")?, value)))
                    .transpose()?,
                None if !description.is_empty() => {
                    Some((label_of("intel.narrative")?, json!({"text": description})))
                }
                None => None,
            };
            if let Some((label, value)) = narrative {
                notice.labelled.push(LabelledField {
                    label,
                    path: "intel.narrative".into(),
                    value,
                });
            }
            Ok(Planned {
                from: Some(str_of(c, "id").to_owned()),
                about: format!(
                    "intelligence report {:?}: {} indicators",
                    body["title"].as_str().unwrap_or_default(),
                    found.len()
                ),
                notice,
            })
        }
        Target::Referral => {
            let mut body = ext
                .and_then(|e| e.get("body"))
                .and_then(|b| b.get("referral"))
                .or_else(|| notice.body.get("referral"))
                .filter(|b| b.is_object())
                .cloned()
                .ok_or("a referral needs what STIX does not say (works, category, jurisdiction, the referrer's statements): give a --template")?;
            let first =
                |k: IndicatorKind| found.iter().find(|f| f.kind == k).map(|f| f.value.clone());
            let (domain, url, ip) = (
                first(IndicatorKind::Domain),
                first(IndicatorKind::Url),
                first(IndicatorKind::Ip),
            );
            if domain.is_none() && url.is_none() && ip.is_none() {
                return Err("names no domain, URL or IP to refer".into());
            }
            let mut t = body
                .get("target")
                .filter(|t| t.is_object())
                .cloned()
                .unwrap_or_else(|| json!({}));
            for (k, v) in [("domain", domain), ("url", url), ("ip", ip)] {
                if let Some(v) = v {
                    t[k] = json!(v);
                }
            }
            body["target"] = t;
            let published = str_of(c, "published");
            let captured = if published.is_empty() {
                str_of(c, "created")
            } else {
                published
            };
            if !evidence.is_empty() && ext.is_none() {
                body["evidence"] = json!(evidence
                    .iter()
                    .map(|(sha, name, media)| {
                        let mut e = json!({
                            "sha256": hex::encode(sha),
                            "captured_at": captured,
                            "method": "CAPTURE_METHOD_OTHER",
                            "description": if name.is_empty() { "File named in the STIX report".to_owned() } else { format!("File {name}") },
                        });
                        if !media.is_empty() {
                            e["media_type"] = json!(media);
                        }
                        e
                    })
                    .collect::<Vec<_>>());
            }
            if !description.is_empty() {
                body["summary"] = json!(description);
            }
            let about = format!(
                "referral of {}",
                body["target"]
                    .get("domain")
                    .or_else(|| body["target"].get("url"))
                    .or_else(|| body["target"].get("ip"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
            notice.body = json!({ "referral": body });
            Ok(Planned {
                from: Some(str_of(c, "id").to_owned()),
                about,
                notice,
            })
        }
    }
}

/// An Admiralty credibility for a STIX confidence (the reverse of STIX
/// 2.1 Appendix B.3's table).
fn credibility(confidence: Option<&Value>) -> &'static str {
    match confidence.and_then(Value::as_u64) {
        Some(c) if c >= 80 => "INFORMATION_CREDIBILITY_CONFIRMED",
        Some(c) if c >= 60 => "INFORMATION_CREDIBILITY_PROBABLY_TRUE",
        Some(c) if c >= 40 => "INFORMATION_CREDIBILITY_POSSIBLY_TRUE",
        Some(c) if c >= 20 => "INFORMATION_CREDIBILITY_DOUBTFUL",
        Some(_) => "INFORMATION_CREDIBILITY_IMPROBABLE",
        None => "INFORMATION_CREDIBILITY_CANNOT_BE_JUDGED",
    }
}
