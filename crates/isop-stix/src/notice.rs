//! One notice as STIX 2.1 objects (`docs/STIX.md` §Mapping): referrals,
//! intelligence reports and takedown requests are `report`s holding their
//! observables, `indicator`s and (for a site or server) `infrastructure`;
//! status answers, case messages and retractions are `note`s on what they
//! concern. The notice's own data rides on its report or note in isop's
//! property extension ([`crate::common::EXTENSION`]).

use isop_api::NoticeView;
use isop_core::json::enum_words;
use isop_core::pb::{self, IndicatorKind, notice::Body};
use serde_json::{Value, json};

use crate::common::{EXTENSION, WALLET_EXTENSION, identity_id, object, tlp_marking_id};
use crate::{Error, Object, SPEC_VERSION, ids, pattern, str_of, timestamp};

/// The first signed checkpoint of the node's log that covers a notice's
/// entry (stable: it stays the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Covering {
    /// Its tree size.
    pub size: u64,
    /// Its root hash, hex.
    pub root: String,
}

/// What mapping a notice needs beyond the notice.
pub struct Context<'a> {
    /// The checkpoint that covers its entry, if one does.
    pub checkpoint: Option<Covering>,
    /// The kind of another notice this node holds, by id: what a status
    /// answer, a link or a retraction points at.
    pub kind_of: &'a dyn Fn(&str) -> Option<pb::NoticeKind>,
}

/// The id of the object a notice of `kind` becomes: a `report` for a
/// referral, intelligence report or takedown request, a `note` for the
/// others.
pub fn primary_id(kind: pb::NoticeKind, notice: &str) -> String {
    ids::sdo(primary_type(kind), notice)
}

/// A kind's name in isop's extension (`notice_kind`): `referral`,
/// `status_update`, `intel_report`, `takedown_request`, `case_message`,
/// `retraction`.
pub fn kind_name(kind: pb::NoticeKind) -> String {
    enum_words("isop.v1.NoticeKind", kind.as_str_name()).replace(' ', "_")
}

fn primary_type(kind: pb::NoticeKind) -> &'static str {
    match kind {
        pb::NoticeKind::Referral
        | pb::NoticeKind::IntelReport
        | pb::NoticeKind::TakedownRequest => "report",
        _ => "note",
    }
}

/// Whether `path` is `withdrawn` or lies under it.
pub(crate) fn under(path: &str, withdrawn: &str) -> bool {
    path.strip_prefix(withdrawn)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// The STIX objects `view` becomes, as of its author's narrowing of the
/// fields at `withdrawn` (none for the notice as sent). A notice whose
/// signature no longer verifies becomes nothing: its fields are withheld
/// and nothing in it can be vouched for.
pub fn objects(
    view: &NoticeView,
    cx: &Context<'_>,
    withdrawn: &[String],
) -> Result<Vec<Object>, Error> {
    if !view.verified {
        return Ok(Vec::new());
    }
    let bad = |why: String| Error::Notice {
        id: view.id.clone(),
        why,
    };
    // What its author withdrew is gone from every name and description
    // the objects take from the body.
    let notice: pb::Notice = isop_core::json::from_json(
        narrowed_body(&view.body, withdrawn, false),
        "isop.v1.Notice",
    )
    .map_err(|e| bad(format!("its body: {e}")))?;
    let body = notice.body.ok_or_else(|| bad("it has no body".into()))?;
    let mut revealed = Vec::new();
    for f in &view.revealed {
        if withdrawn.iter().any(|w| under(&f.path, w)) {
            continue;
        }
        let v: pb::FieldValue = isop_core::json::from_json(f.value.clone(), "isop.v1.FieldValue")
            .map_err(|e| bad(format!("its field {}: {e}", f.path)))?;
        revealed.push((f, v));
    }
    let mut b = Build {
        view,
        cx,
        created: timestamp(view.created_at.0),
        marking: tlp_marking_id(view.tlp),
        author: identity_id(&view.author),
        withdrawn,
        out: Vec::new(),
        outside: Vec::new(),
    };
    b.labelled(&revealed);
    let primary = match &body {
        Body::Referral(r) => {
            b.target(r.target.as_ref(), "referral.target", "Referred site");
            b.evidence(&r.evidence);
            let name = format!(
                "Referral: {}",
                isop_core::indicator::target_name(r.target.as_ref())
            );
            b.report(name, &r.summary, None)
        }
        Body::TakedownRequest(t) => {
            b.target(t.target.as_ref(), "takedown.target", "Site to take down");
            let name = format!(
                "Takedown request: {}",
                isop_core::indicator::target_name(t.target.as_ref())
            );
            let about = format!("Legal basis: {}", t.legal_basis);
            b.report(name, &about, None)
        }
        Body::IntelReport(r) => {
            for (i, ind) in r.indicators.iter().enumerate() {
                let path = format!("intel.indicators[{i}]");
                b.indicator(ind, &path);
            }
            for linked in &r.linked_notices {
                let id =
                    uuid_text(linked).map_err(|e| bad(format!("intel.linked_notices: {e}")))?;
                if let Some(kind) = (cx.kind_of)(&id) {
                    b.out_ref(primary_id(kind, &id));
                }
            }
            b.report(
                r.title.clone(),
                &r.handling,
                confidence(r.information_credibility),
            )
        }
        Body::StatusUpdate(u) => {
            let referral = uuid_text(&u.referral_id).map_err(&bad)?;
            let status = enum_words(
                "isop.v1.ReferralStatus",
                pb::ReferralStatus::try_from(u.status).map_or("", |s| s.as_str_name()),
            );
            let mut content = u.reason.clone();
            if let Some(a) = &u.action {
                let action = enum_words(
                    "isop.v1.ActionType",
                    pb::ActionType::try_from(a.action).map_or("", |s| s.as_str_name()),
                );
                let line = format!(
                    "Action: {action} at {}. {}",
                    timestamp(a.taken_at),
                    a.details
                );
                content = [content, line]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            let about = vec![primary_id(pb::NoticeKind::Referral, &referral)];
            b.note(format!("Referral status: {status}"), content, about)
        }
        Body::CaseMessage(c) => {
            let action = enum_words(
                "isop.v1.CaseAction",
                pb::CaseAction::try_from(c.action).map_or("", |s| s.as_str_name()),
            );
            let case = view.case_ref.clone().unwrap_or_default();
            let mut about: Vec<String> = c.participants.iter().map(|p| identity_id(p)).collect();
            about.push(b.author.clone());
            let text = if c.text.is_empty() {
                c.subject.clone()
            } else {
                c.text.clone()
            };
            let head = [format!("Case {case}: {action}"), c.subject.clone()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" — ");
            b.note(head, text, about)
        }
        Body::Retraction(r) => {
            let of = uuid_text(&r.notice_id).map_err(&bad)?;
            let scope = match pb::RetractionScope::try_from(r.scope) {
                Ok(pb::RetractionScope::Narrow) => format!("narrowed: {}", r.paths.join(", ")),
                _ => "withdrawn".to_owned(),
            };
            let about = match (cx.kind_of)(&of) {
                Some(kind) => vec![primary_id(kind, &of)],
                None => vec![b.author.clone()],
            };
            b.note(
                format!("Retraction: notice {of} {scope}"),
                r.reason.clone(),
                about,
            )
        }
    };
    // The primary object first: it names what the others are.
    let mut out = vec![primary];
    out.append(&mut b.out);
    Ok(out)
}

/// STIX confidence for an Admiralty credibility (STIX 2.1 Appendix B.3);
/// none when the truth cannot be judged.
fn confidence(credibility: i32) -> Option<u8> {
    use pb::InformationCredibility as C;
    match C::try_from(credibility).ok()? {
        C::Confirmed => Some(90),
        C::ProbablyTrue => Some(70),
        C::PossiblyTrue => Some(50),
        C::Doubtful => Some(30),
        C::Improbable => Some(10),
        _ => None,
    }
}

fn uuid_text(raw: &[u8]) -> Result<String, String> {
    isop_core::NoticeId::from_slice(raw)
        .map(|i| i.to_string())
        .map_err(|e| e.to_string())
}

/// The SCO type and property a value of `kind` is, if STIX has one.
pub fn observable_type(kind: IndicatorKind, value: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        IndicatorKind::Domain => ("domain-name", "value"),
        IndicatorKind::Url => ("url", "value"),
        IndicatorKind::Ip if value.contains(':') => ("ipv6-addr", "value"),
        IndicatorKind::Ip => ("ipv4-addr", "value"),
        IndicatorKind::Email => ("email-addr", "value"),
        IndicatorKind::CryptoWallet => ("cryptocurrency-wallet", "address"),
        _ => return None,
    })
}

struct Build<'a> {
    view: &'a NoticeView,
    cx: &'a Context<'a>,
    created: String,
    marking: Option<&'static str>,
    author: String,
    withdrawn: &'a [String],
    out: Vec<Object>,
    /// Objects of other notices the primary object refers to.
    outside: Vec<String>,
}

impl Build<'_> {
    fn gone(&self, path: &str) -> bool {
        self.withdrawn.iter().any(|w| under(path, w))
    }

    /// What an object's id is derived from: the notice's id, with the
    /// field's path for any object but the report or note itself (whose id
    /// [`primary_id`] gives).
    fn name(&self, path: &str) -> String {
        if path.is_empty() {
            self.view.id.clone()
        } else {
            format!("{}/{path}", self.view.id)
        }
    }

    /// The properties every domain object of this notice has.
    fn sdo(&self, ty: &str, path: &str, props: Value) -> Object {
        let mut o = object(json!({
            "type": ty,
            "spec_version": SPEC_VERSION,
            "id": ids::sdo(ty, &self.name(path)),
            "created": self.created,
            "modified": self.created,
            "created_by_ref": self.author,
        }));
        if let Some(m) = self.marking {
            o.insert("object_marking_refs".into(), json!([m]));
        }
        let source = if path.is_empty() {
            format!("isop notice by {}", self.view.author)
        } else {
            format!("isop notice by {}, field {path}", self.view.author)
        };
        o.insert(
            "external_references".into(),
            json!([{"source_name": "isop", "external_id": self.view.id, "description": source}]),
        );
        o.extend(object(props));
        prune(&mut o);
        o
    }

    /// An observable of this notice (named by its notice and path). An
    /// observable of a type STIX does not define (a wallet) takes a domain
    /// object's id, as validators hold such types to.
    fn sco(&self, ty: &str, path: &str, props: Value) -> Object {
        let id = if ty == "cryptocurrency-wallet" {
            ids::sdo(ty, &self.name(path))
        } else {
            ids::sco(ty, &self.name(path))
        };
        let mut o = object(json!({
            "type": ty,
            "spec_version": SPEC_VERSION,
            "id": id,
        }));
        if let Some(m) = self.marking {
            o.insert("object_marking_refs".into(), json!([m]));
        }
        o.extend(object(props));
        o
    }

    fn push(&mut self, o: Object) -> String {
        let id = str_of(&o, "id").to_owned();
        self.out.push(o);
        id
    }

    /// A reference in the report to an object outside this notice.
    fn out_ref(&mut self, id: String) {
        self.outside.push(id);
    }

    fn relate(&mut self, source: &str, rel: &str, target: &str) {
        let r = self.sdo(
            "relationship",
            &format!("{source}>{rel}>{target}"),
            json!({"relationship_type": rel, "source_ref": source, "target_ref": target}),
        );
        self.push(r);
    }

    /// `value` of `kind` at `path`: its observable and an indicator whose
    /// pattern matches it. Returns both ids, or `None` if STIX has no
    /// observable for the kind (payment accounts ride in the extension
    /// only) or the path was withdrawn.
    fn observe(
        &mut self,
        kind: IndicatorKind,
        value: &str,
        path: &str,
        context: &str,
    ) -> Option<(String, String)> {
        if value.is_empty() || self.gone(path) {
            return None;
        }
        let (ty, property) = observable_type(kind, value)?;
        let mut sco = self.sco(ty, path, json!({ property: value }));
        if ty == "cryptocurrency-wallet" {
            sco.insert(
                "extensions".into(),
                json!({ WALLET_EXTENSION: {"extension_type": "new-sco"} }),
            );
        }
        let sco = self.push(sco);
        let what = enum_words("isop.v1.IndicatorKind", kind.as_str_name());
        let description = if context.is_empty() {
            format!(
                "Named by {} in field {} of isop notice {}",
                self.view.author,
                path.trim_start_matches("field:"),
                self.view.id
            )
        } else {
            context.to_owned()
        };
        let indicator = self.sdo(
            "indicator",
            path,
            json!({
                "name": format!("{what} {value}"),
                "description": description,
                "indicator_types": ["malicious-activity"],
                "pattern": pattern::equals(ty, property, value),
                "pattern_type": "stix",
                "pattern_version": SPEC_VERSION,
                "valid_from": self.created,
            }),
        );
        let indicator = self.push(indicator);
        Some((sco, indicator))
    }

    /// A referral's or takedown's target: its observables and indicators,
    /// the infrastructure they make up, and how they relate.
    fn target(&mut self, t: Option<&pb::Target>, path: &str, what: &str) {
        let Some(t) = t else { return };
        let domain = self.observe(
            IndicatorKind::Domain,
            &t.domain,
            &format!("{path}.domain"),
            "",
        );
        let url = self.observe(IndicatorKind::Url, &t.url, &format!("{path}.url"), "");
        let ip = self.observe(IndicatorKind::Ip, &t.ip, &format!("{path}.ip"), "");
        let asn_path = format!("{path}.hosting_asn");
        let asn = (t.hosting_asn != 0 && !self.gone(&asn_path)).then(|| {
            let mut props = json!({"number": t.hosting_asn});
            if !t.hosting_provider.is_empty() {
                props["name"] = json!(t.hosting_provider);
            }
            let o = self.sco("autonomous-system", &asn_path, props);
            self.push(o)
        });
        let parts: Vec<&(String, String)> = [&domain, &url, &ip].into_iter().flatten().collect();
        if parts.is_empty() {
            return;
        }
        let mut about = vec![what.to_owned()];
        for (label, v) in [
            ("hosted by", &t.hosting_provider),
            ("in", &t.hosting_country),
            ("registrar", &t.registrar),
        ] {
            if !v.is_empty() {
                about.push(format!("{label} {v}"));
            }
        }
        let name = isop_core::indicator::target_name(Some(t)).to_owned();
        let infra = self.sdo(
            "infrastructure",
            path,
            json!({"name": name, "description": about.join(", ")}),
        );
        let infra = self.push(infra);
        for (sco, indicator) in &parts {
            self.relate(&infra, "consists-of", sco);
            self.relate(indicator, "indicates", &infra);
        }
        if let (Some((d, _)), Some((i, _))) = (&domain, &ip) {
            self.relate(d, "resolves-to", i);
        }
        if let (Some((i, _)), Some(a)) = (&ip, &asn) {
            self.relate(i, "belongs-to", a);
        }
    }

    /// A referral's evidence: a `file` observable for each capture's hash.
    fn evidence(&mut self, evidence: &[pb::Evidence]) {
        for (i, e) in evidence.iter().enumerate() {
            let path = format!("referral.evidence[{i}]");
            if e.sha256.is_empty() || self.gone(&path) {
                continue;
            }
            let mut props = json!({"hashes": {"SHA-256": hex::encode(&e.sha256)}});
            if e.size_bytes > 0 {
                props["size"] = json!(e.size_bytes);
            }
            if !e.media_type.is_empty() {
                props["mime_type"] = json!(e.media_type);
            }
            let o = self.sco("file", &path, props);
            self.push(o);
        }
    }

    /// An indicator an intelligence report names in the clear.
    fn indicator(&mut self, ind: &pb::Indicator, path: &str) {
        let kind = IndicatorKind::try_from(ind.kind).unwrap_or(IndicatorKind::Unspecified);
        self.observe(kind, &ind.value, path, &ind.context);
    }

    /// The labelled fields held revealed that STIX has objects for:
    /// indicators (observables and indicators) and persons (identities).
    fn labelled(&mut self, revealed: &[(&isop_api::Revealed, pb::FieldValue)]) {
        use pb::field_value::Value as V;
        for (f, v) in revealed {
            let path = format!("field:{}", f.path);
            match &v.value {
                Some(V::Indicator(ind)) if ind.kind == IndicatorKind::Person as i32 => {
                    let mut props = json!({"name": ind.value, "identity_class": "individual"});
                    if !ind.context.is_empty() {
                        props["description"] = json!(ind.context);
                    }
                    let o = self.sdo("identity", &path, props);
                    self.push(o);
                }
                Some(V::Indicator(ind)) => self.indicator(ind, &path),
                Some(V::Person(p)) if !p.name.is_empty() => {
                    let mut about = Vec::new();
                    if !p.aliases.is_empty() {
                        about.push(format!("also known as {}", p.aliases.join(", ")));
                    }
                    if !p.nationality.is_empty() {
                        about.push(format!("nationality {}", p.nationality));
                    }
                    if !p.date_of_birth.is_empty() {
                        about.push(format!("born {}", p.date_of_birth));
                    }
                    let mut props = json!({"name": p.name, "identity_class": "individual"});
                    if !about.is_empty() {
                        props["description"] = json!(about.join("; "));
                    }
                    let o = self.sdo("identity", &path, props);
                    self.push(o);
                }
                _ => {}
            }
        }
    }

    /// isop's extension: what STIX has no property for.
    fn extension(&self) -> Value {
        let v = self.view;
        let body = narrowed_body(&v.body, self.withdrawn, true);
        let mut ext = json!({
            "extension_type": "property-extension",
            "notice_id": v.id,
            "notice_kind": kind_name(v.kind),
            "author": v.author,
            "tlp": v.tlp.as_str_name(),
            "to_orgs": v.to_orgs,
            "to_groups": v.to_groups,
            "body": body,
            "revealed": v.revealed.iter().filter(|f| !self.gone(&f.path)).map(|f| json!({"path": f.path, "label": f.label, "value": f.value})).collect::<Vec<_>>(),
            "withheld": v.withheld.iter().map(|f| json!({"path": f.path, "label": f.label})).collect::<Vec<_>>(),
            "signed_by": v.signed_by,
            "log_index": v.index,
            "logged_at": timestamp(v.logged_at.0),
        });
        if let Some(c) = &v.case_ref {
            ext["case_ref"] = json!(c);
        }
        if let Some(r) = &v.in_reply_to {
            ext["in_reply_to"] = json!(r.id);
        }
        if let Some(c) = &self.cx.checkpoint {
            ext["checkpoint"] = json!({"size": c.size, "root": c.root});
        }
        if !self.withdrawn.is_empty() {
            ext["narrowed"] = json!(self.withdrawn);
        }
        ext
    }

    fn refs(&self) -> Vec<String> {
        let mut refs: Vec<String> = self
            .out
            .iter()
            .map(|o| str_of(o, "id").to_owned())
            .collect();
        refs.extend(self.outside.iter().cloned());
        refs.push(self.author.clone());
        refs
    }

    fn report(&mut self, name: String, description: &str, confidence: Option<u8>) -> Object {
        let mut props = json!({
            "name": name,
            "published": self.created,
            "report_types": ["threat-report"],
            "object_refs": self.refs(),
            "extensions": { EXTENSION: self.extension() },
        });
        if !description.is_empty() {
            props["description"] = json!(description);
        }
        if let Some(c) = confidence {
            props["confidence"] = json!(c);
        }
        self.sdo("report", "", props)
    }

    fn note(&mut self, head: String, content: String, about: Vec<String>) -> Object {
        let mut refs = about;
        for r in self.refs() {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
        let content = if content.is_empty() {
            head.clone()
        } else {
            content
        };
        self.sdo(
            "note",
            "",
            json!({
                "abstract": head,
                "content": content,
                "authors": [self.view.author],
                "object_refs": refs,
                "extensions": { EXTENSION: self.extension() },
            }),
        )
    }
}

/// Removes every empty list from `o`, however deep: STIX allows none.
fn prune(o: &mut Object) {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, v| !matches!(v, Value::Array(a) if a.is_empty()));
                m.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    o.retain(|_, v| !matches!(v, Value::Array(a) if a.is_empty()));
    o.values_mut().for_each(walk);
}

/// `body` (in its JSON form) without the values at `withdrawn`. With
/// `whole_items`, a withdrawn list item is taken out of its list (the last
/// first, so that each path still names what it named); without, it is
/// left for the mapping to skip by its path, which names its objects.
fn narrowed_body(body: &Value, withdrawn: &[String], whole_items: bool) -> Value {
    let mut body = body.clone();
    let mut paths: Vec<&String> = withdrawn.iter().collect();
    let indices = |p: &str| -> Vec<u64> {
        p.split('[')
            .skip(1)
            .filter_map(|s| s.split(']').next()?.parse().ok())
            .collect()
    };
    paths.sort_by_key(|p| std::cmp::Reverse((indices(p), p.as_str())));
    for p in paths {
        remove_path(&mut body, p, whole_items);
    }
    body
}

/// Removes the value at `path` (`referral.target.ip`,
/// `referral.evidence[1].location`) from a body in its JSON form, whose
/// one key names the kind (`referral` for paths under `referral.`); a list
/// item only with `whole_items`.
fn remove_path(body: &mut Value, path: &str, whole_items: bool) {
    let Value::Object(kinds) = body else {
        return;
    };
    let Some((kind, rest)) = path.split_once('.') else {
        return;
    };
    let key = match kind {
        "intel" => "intel_report",
        "takedown" => "takedown_request",
        "case" => "case_message",
        "status" => "status_update",
        other => other,
    };
    let Some(mut at) = kinds.get_mut(key) else {
        return;
    };
    let steps: Vec<&str> = rest.split('.').collect();
    for (n, step) in steps.iter().enumerate() {
        let (name, index) = match step.split_once('[') {
            Some((name, i)) => (name, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (*step, None),
        };
        let last = n + 1 == steps.len();
        let Value::Object(fields) = at else { return };
        if last && index.is_none() {
            fields.remove(name);
            return;
        }
        let Some(next) = fields.get_mut(name) else {
            return;
        };
        at = match (next, index) {
            (Value::Array(items), Some(i)) if last => {
                if whole_items && i < items.len() {
                    items.remove(i);
                }
                return;
            }
            (Value::Array(items), Some(i)) => match items.get_mut(i) {
                Some(item) => item,
                None => return,
            },
            (next, None) => next,
            _ => return,
        };
    }
}
