//! Composing a notice of each kind a member sends (a referral, an
//! intelligence report, a takedown request, a case message, a
//! retraction): the form, the preview of what each recipient would see
//! (`POST /v1/notices/preview`), and sending (`POST /v1/notices`). A
//! refusal is shown beside the field it names, the form as it was
//! filled, and nothing is sent. Status answers are sent from the notice
//! they answer.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use isop_api::{Federation, LabelledField, Preview, Sent, SubmitNotice};
use isop_core::{NoticeKind, pb};
use serde_json::{Value, json};

use super::pages::{Choice, Chrome, choices};
use super::{Console, Fields, Posted, Refusal, SignedIn, field, page};

/// A labelled field the form offers: its input names' stem, its path in
/// the notice, what people call it, and the label it starts with.
struct Offered {
    stem: &'static str,
    path: &'static str,
    words: &'static str,
    label: &'static str,
}

const fn offer(
    stem: &'static str,
    path: &'static str,
    words: &'static str,
    label: &'static str,
) -> Offered {
    Offered {
        stem,
        path,
        words,
        label,
    }
}

const REFERRAL_FIELDS: [Offered; 3] = [
    offer(
        "contact",
        "referral.contact",
        "Contact for the agencies",
        "role:agency|role:hub",
    ),
    offer(
        "location",
        "referral.evidence[0].location",
        "Where the evidence is kept",
        "role:agency",
    ),
    offer(
        "internal_ref",
        "referral.internal_ref",
        "Internal reference",
        "role:hub",
    ),
];
const INTEL_FIELDS: [Offered; 3] = [
    offer(
        "narrative",
        "intel.narrative",
        "What the agency knows",
        "role:agency",
    ),
    offer("person", "intel.person", "Who is behind it", "role:agency"),
    offer("source", "intel.source", "The source", "role:agency"),
];
const TAKEDOWN_FIELDS: [Offered; 2] = [
    offer(
        "officer",
        "takedown.officer",
        "Officer in charge",
        "role:agency|role:hub",
    ),
    offer(
        "details",
        "takedown.details",
        "Operational details",
        "role:agency",
    ),
];
const CASE_FIELDS: [Offered; 1] = [offer(
    "details",
    "case.details",
    "Details for agencies",
    "role:agency",
)];

/// The kinds the console composes: every kind but the status answer,
/// which is sent from the notice it answers. The form names each as
/// labelled fields' paths do (`NoticeKind::as_str`).
const COMPOSED: [NoticeKind; 5] = [
    NoticeKind::Referral,
    NoticeKind::IntelReport,
    NoticeKind::TakedownRequest,
    NoticeKind::CaseMessage,
    NoticeKind::Retraction,
];

/// The kind `s` names (a referral if none).
fn kind_named(s: &str) -> NoticeKind {
    COMPOSED
        .into_iter()
        .find(|k| k.as_str() == s)
        .unwrap_or(NoticeKind::Referral)
}

/// A kind's name on its tab: `Intel report`.
fn title(kind: NoticeKind) -> String {
    let words = super::view::kind(kind.to_pb());
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The labelled fields the form of `kind` offers.
fn offered(kind: NoticeKind) -> &'static [Offered] {
    match kind {
        NoticeKind::Referral => &REFERRAL_FIELDS,
        NoticeKind::IntelReport => &INTEL_FIELDS,
        NoticeKind::TakedownRequest => &TAKEDOWN_FIELDS,
        NoticeKind::CaseMessage => &CASE_FIELDS,
        NoticeKind::Retraction | NoticeKind::StatusUpdate => &[],
    }
}

/// What a refusal's message may name, most specific first, with the
/// field of the form of `kind` it belongs beside.
fn named(kind: NoticeKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        NoticeKind::Referral => &[
            (
                "referral.evidence[0].location",
                "referral.evidence[0].location",
            ),
            ("referral.evidence", "referral.evidence"),
            ("referral.internal_ref", "referral.internal_ref"),
            ("referral.contact", "referral.contact"),
            ("referral.target.domain", "referral.target.domain"),
            ("referral.target.url", "referral.target.url"),
            ("referral.target.ip", "referral.target.ip"),
            (
                "referral.target.hosting_country",
                "referral.target.hosting_country",
            ),
            ("referral.target", "referral.target"),
            ("referral.jurisdiction", "referral.jurisdiction"),
            ("referral.works", "referral.works"),
            ("referral.summary", "referral.summary"),
        ],
        NoticeKind::IntelReport => &[
            ("intel.narrative", "intel.narrative"),
            ("intel.person", "intel.person"),
            ("intel.source", "intel.source"),
            ("indicators", "intel.indicators"),
            ("title", "intel.title"),
        ],
        NoticeKind::TakedownRequest => &[
            ("takedown.officer", "takedown.officer"),
            ("takedown.details", "takedown.details"),
            ("target.domain", "referral.target.domain"),
            ("target.url", "referral.target.url"),
            ("target.ip", "referral.target.ip"),
            ("target", "referral.target"),
            ("legal_basis", "takedown.legal_basis"),
            ("referrals", "takedown.referrals"),
        ],
        NoticeKind::CaseMessage => &[
            ("case.details", "case.details"),
            ("participants", "case.participants"),
            ("subject", "case.subject"),
            ("text", "case.text"),
        ],
        NoticeKind::Retraction => &[
            ("notice_id", "retraction.notice"),
            ("in_reply_to", "retraction.notice"),
            ("paths", "retraction.paths"),
            ("reason", "retraction.reason"),
        ],
        NoticeKind::StatusUpdate => &[],
    }
}

/// The field of the form of `kind` a refusal's `message` belongs beside,
/// or "" for the whole form.
fn field_named(kind: NoticeKind, message: &str) -> &'static str {
    named(kind)
        .iter()
        .chain(&[("to_orgs", "to_orgs"), ("case_ref", "case_ref")])
        .find(|(said, _)| message.contains(said))
        .map_or("", |(_, field)| field)
}

fn words(type_name: &str, name: &str) -> String {
    isop_core::json::enum_words(type_name, name)
}

/// The names of every value of an enum but its unspecified zero.
fn names<E: TryFrom<i32> + Copy>(name: fn(&E) -> &'static str) -> Vec<&'static str> {
    super::view::values::<E>().iter().map(name).collect()
}

/// Each `<select>` of an enum the forms hold: its field's name, the enum,
/// its values, and the one chosen at first.
type Select = (
    &'static str,
    &'static str,
    fn() -> Vec<&'static str>,
    &'static str,
);

const SELECTS: [Select; 7] = [
    (
        "category",
        "isop.v1.ContentCategory",
        || names(pb::ContentCategory::as_str_name),
        "",
    ),
    (
        "requested_action",
        "isop.v1.RequestedAction",
        || names(pb::RequestedAction::as_str_name),
        "REQUESTED_ACTION_TAKEDOWN",
    ),
    (
        "method",
        "isop.v1.CaptureMethod",
        || names(pb::CaptureMethod::as_str_name),
        "",
    ),
    (
        "source_reliability",
        "isop.v1.SourceReliability",
        || names(pb::SourceReliability::as_str_name),
        "SOURCE_RELIABILITY_B",
    ),
    (
        "information_credibility",
        "isop.v1.InformationCredibility",
        || names(pb::InformationCredibility::as_str_name),
        "INFORMATION_CREDIBILITY_PROBABLY_TRUE",
    ),
    (
        "case_action",
        "isop.v1.CaseAction",
        || names(pb::CaseAction::as_str_name),
        "CASE_ACTION_MESSAGE",
    ),
    (
        "scope",
        "isop.v1.RetractionScope",
        || names(pb::RetractionScope::as_str_name),
        "RETRACTION_SCOPE_WITHDRAW",
    ),
];

/// A recipient the form offers.
pub(super) struct Member {
    org: String,
    about: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "compose.html")]
pub(super) struct ComposePage {
    chrome: Chrome,
    /// The kind composed: `referral`, `intel`, `takedown`, `case`,
    /// `retraction`.
    kind: &'static str,
    /// A tab for each kind: its name, in words, and whether it is this one.
    kinds: Vec<(&'static str, String, bool)>,
    fields: Fields,
    members: Vec<Member>,
    tlps: Vec<Choice>,
    /// The choices of each `<select>` of an enum, by its field's name.
    selects: Vec<(&'static str, Vec<Choice>)>,
    labelled: Vec<LabelledRow>,
    /// Each problem, by the field it belongs beside ("" for the whole form).
    problems: Problems,
    /// The rendered preview, when one was asked for.
    preview_html: String,
}

/// A labelled field's row of the form.
pub(super) struct LabelledRow {
    stem: &'static str,
    path: &'static str,
    words: &'static str,
    value: String,
    label: String,
}

impl ComposePage {
    /// The choices of the `<select>` named `name`.
    fn select(&self, name: &str) -> &[Choice] {
        self.selects
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[], |(_, c)| c.as_slice())
    }

    /// The value posted for `name`.
    fn v(&self, name: &str) -> &str {
        field(&self.fields, name)
    }

    /// The problem named for the field at `path`, if any.
    fn problem(&self, path: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, m)| m.as_str())
    }

    /// A problem that names no field of the form.
    fn general(&self) -> Option<&str> {
        self.problem("")
    }
}

/// Values separated by commas, trimmed, empty ones left out.
fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(Into::into)
        .collect()
}

/// The problems a person must fix before anything is asked of the API.
type Problems = Vec<(String, String)>;

/// What the form says, as the API takes it; or the problems a person
/// must fix first (a required field left empty, an indicator of no known
/// kind), by the field they belong beside.
fn notice(fields: &Fields) -> Result<SubmitNotice, Problems> {
    let kind = kind_named(field(fields, "kind"));
    let f = |name: &str| field(fields, name);
    let some = |name: &str| Some(f(name).to_owned()).filter(|s| !s.is_empty());
    let mut problems = Vec::new();
    let mut need = |ok: bool, at: &str, why: &str| {
        if !ok {
            problems.push((at.to_owned(), why.to_owned()));
        }
    };
    let to: Vec<String> = fields
        .iter()
        .filter(|(k, v)| k == "to" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let groups = list(f("groups"));
    need(
        !to.is_empty() || !groups.is_empty(),
        "to_orgs",
        "choose at least one recipient or group",
    );
    let target = || {
        let mut t = serde_json::Map::new();
        for key in ["domain", "url", "ip", "hosting_provider", "hosting_country"] {
            if let Some(v) = some(key) {
                t.insert(key.into(), Value::String(v));
            }
        }
        Value::Object(t)
    };
    let has_target = !(f("domain").is_empty() && f("url").is_empty() && f("ip").is_empty());
    let mut in_reply_to = None;
    let body = match kind {
        NoticeKind::Referral => {
            need(
                has_target,
                "referral.target",
                "give the site: a domain, a URL or an IP",
            );
            need(
                !f("summary").is_empty(),
                "referral.summary",
                "say what is infringing",
            );
            need(
                !f("work_title").is_empty(),
                "referral.works",
                "name the work infringed",
            );
            need(
                !f("sha256").is_empty(),
                "referral.evidence",
                "choose the evidence file (it is hashed here; the file stays on this machine) or give its SHA-256",
            );
            need(
                f("good_faith") == "on",
                "referral.good_faith_statement",
                "affirm the good-faith statement",
            );
            need(
                f("accuracy") == "on",
                "referral.accuracy_statement",
                "affirm the accuracy statement",
            );
            let mut evidence = json!({
                "sha256": f("sha256"),
                "method": f("method"),
                "description": f("evidence_description"),
                "captured_at": some("captured_at").map_or(Value::Null, |t| {
                    // A datetime-local input gives minutes, read as UTC.
                    Value::String(if t.len() == 16 { format!("{t}:00Z") } else { t })
                }),
            });
            if let Some(size) = some("size_bytes").and_then(|s| s.parse::<u64>().ok()) {
                evidence["size_bytes"] = json!(size);
            }
            if let Some(media) = some("media_type") {
                evidence["media_type"] = json!(media);
            }
            let mut works =
                vec![json!({ "title": f("work_title"), "rights_owner": f("work_owner") })];
            if let Some(second) = some("work2_title") {
                works.push(json!({ "title": second, "rights_owner": f("work2_owner") }));
            }
            json!({ "referral": {
                "target": target(),
                "category": f("category"),
                "works": works,
                "evidence": [evidence],
                "requested_action": f("requested_action"),
                "jurisdiction": f("jurisdiction"),
                "summary": f("summary"),
                "good_faith_statement": true,
                "accuracy_statement": true,
            } })
        }
        NoticeKind::IntelReport => {
            need(
                !f("title").is_empty(),
                "intel.title",
                "give the report a title",
            );
            let mut indicators = Vec::new();
            for (n, line) in f("indicators").lines().map(str::trim).enumerate() {
                if line.is_empty() {
                    continue;
                }
                let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                let (value, context) = rest.split_once(';').unwrap_or((rest, ""));
                let known = pb::IndicatorKind::from_str_name(&format!(
                    "INDICATOR_KIND_{}",
                    kind.to_uppercase()
                ));
                match known {
                    Some(k) if !value.trim().is_empty() => indicators.push(json!({
                        "kind": k.as_str_name(),
                        "value": value.trim(),
                        "context": context.trim(),
                    })),
                    _ => need(
                        false,
                        "intel.indicators",
                        &format!(
                            "line {}: write a kind (domain, ip or url), then the value, then ; and its context if any",
                            n + 1
                        ),
                    ),
                }
            }
            json!({ "intel_report": {
                "title": f("title"),
                "indicators": indicators,
                "linked_cases": list(f("linked_cases")),
                "source_reliability": f("source_reliability"),
                "information_credibility": f("information_credibility"),
                "handling": f("handling"),
            } })
        }
        NoticeKind::TakedownRequest => {
            need(
                has_target,
                "referral.target",
                "give the site: a domain, a URL or an IP",
            );
            need(
                !f("legal_basis").is_empty(),
                "takedown.legal_basis",
                "give the legal basis",
            );
            json!({ "takedown_request": {
                "target": target(),
                "legal_basis": f("legal_basis"),
                "deadline": some("deadline").map_or(Value::Null, |d| Value::String(format!("{d}T23:59:59Z"))),
                "requested_action": f("requested_action"),
                "referrals": list(f("referrals")),
            } })
        }
        NoticeKind::CaseMessage => {
            need(
                !f("case_ref").is_empty(),
                "case_ref",
                "a case message needs its case reference",
            );
            need(
                !f("text").is_empty() || !f("subject").is_empty(),
                "case.text",
                "write the message",
            );
            json!({ "case_message": {
                "action": f("case_action"),
                "subject": f("subject"),
                "participants": list(f("participants")),
                "text": f("text"),
            } })
        }
        // A status answer is never composed here: `kind_named` gives none.
        NoticeKind::Retraction | NoticeKind::StatusUpdate => {
            need(
                !f("notice").is_empty(),
                "retraction.notice",
                "name the notice to retract",
            );
            need(
                !f("reason").is_empty(),
                "retraction.reason",
                "say why it is retracted",
            );
            in_reply_to = some("notice");
            json!({ "retraction": {
                "notice_id": f("notice"),
                "scope": f("scope"),
                "paths": list(f("paths")),
                "reason": f("reason"),
            } })
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let labelled = offered(kind)
        .iter()
        .filter_map(|o| {
            let value = some(&format!("{}_value", o.stem))?;
            Some(LabelledField {
                path: o.path.into(),
                label: f(&format!("{}_label", o.stem)).into(),
                value: json!({ "text": value }),
            })
        })
        .collect();
    Ok(SubmitNotice {
        tlp: f("tlp").into(),
        to_orgs: to,
        to_groups: groups,
        case_ref: some("case_ref"),
        in_reply_to,
        labelled,
        body,
    })
}

impl Console {
    async fn compose_page(
        &self,
        s: &super::session::Session,
        fields: Fields,
        problems: Vec<(String, String)>,
        preview_html: String,
    ) -> Result<ComposePage, Refusal> {
        let chrome = self.chrome(s, "compose").await?;
        let fed: Federation = self.get(s, "/v1/federation").await?;
        // The policy decides which kinds this node sends, and to whom; a
        // new form is of the first kind it may send.
        let may = |k: NoticeKind| fed.sends.iter().any(|r| r.kinds.contains(&k.to_pb()));
        let kind = match field(&fields, "kind") {
            "" => COMPOSED
                .into_iter()
                .find(|k| may(*k))
                .unwrap_or(NoticeKind::Referral),
            named => kind_named(named),
        };
        let to_roles: Vec<pb::Role> = fed
            .sends
            .iter()
            .filter(|r| r.kinds.contains(&kind.to_pb()))
            .map(|r| r.to)
            .collect();
        let chosen = |org: &str| fields.iter().any(|(k, v)| k == "to" && v == org);
        let members = fed
            .members
            .iter()
            .filter(|m| m.health.is_some() && m.revoked_at.is_none() && to_roles.contains(&m.role))
            .map(|m| Member {
                org: m.org.clone(),
                about: format!(
                    "{}, {}",
                    words("isop.v1.Role", m.role.as_str_name()),
                    m.country
                ),
                chosen: chosen(&m.org),
            })
            .collect();
        let mut problems = problems;
        if !may(kind) {
            let role = fed.members.first().map_or("", |m| m.role.as_str_name());
            problems.push((
                String::new(),
                format!(
                    "the roster's policy lets no {} send a {}",
                    words("isop.v1.Role", role),
                    super::view::kind(kind.to_pb())
                ),
            ));
        }
        let f = |name: &str| field(&fields, name).to_owned();
        let selects = SELECTS
            .iter()
            .map(|(name, type_name, names, default)| {
                let chosen = Some(f(name)).filter(|v| !v.is_empty());
                let chosen = chosen.as_deref().unwrap_or(default);
                let list = names()
                    .into_iter()
                    .map(|n| Choice {
                        value: n.to_owned(),
                        words: words(type_name, n),
                        chosen: n == chosen,
                    })
                    .collect();
                (*name, list)
            })
            .collect();
        let labelled = offered(kind)
            .iter()
            .map(|o| LabelledRow {
                stem: o.stem,
                path: o.path,
                words: o.words,
                value: f(&format!("{}_value", o.stem)),
                label: if field(&fields, "csrf").is_empty() {
                    // A new form: the label each field usually takes.
                    o.label.to_owned()
                } else {
                    f(&format!("{}_label", o.stem))
                },
            })
            .collect();
        let tlp = Some(f("tlp")).filter(|t| !t.is_empty());
        Ok(ComposePage {
            kind: kind.as_str(),
            kinds: COMPOSED
                .into_iter()
                .filter(|k| may(*k))
                .map(|k| (k.as_str(), title(k), k == kind))
                .collect(),
            tlps: choices(
                &super::view::values::<pb::Tlp>(),
                |t| t.as_str_name(),
                super::view::tlp,
                tlp.as_deref().unwrap_or("TLP_AMBER"),
            ),
            selects,
            chrome,
            members,
            labelled,
            problems,
            preview_html,
            fields,
        })
    }

    /// Asks the API (`POST uri`) about the notice the form says: its
    /// answer, or the problems to show beside their fields (those found
    /// here first, then the API's refusal of a bad request).
    async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        s: &super::session::Session,
        fields: &Fields,
        uri: &str,
    ) -> Result<Result<T, Problems>, Refusal> {
        let n = match notice(fields) {
            Ok(n) => n,
            Err(problems) => return Ok(Err(problems)),
        };
        match self.post::<T>(s, uri, &n).await {
            Ok(answer) => Ok(Ok(answer)),
            Err(r) if r.status.is_client_error() => {
                let at = field_named(kind_named(field(fields, "kind")), &r.message);
                Ok(Err(vec![(at.to_owned(), r.message)]))
            }
            Err(r) => Err(r),
        }
    }
}

/// What each recipient would see, or why it cannot be sent.
#[derive(Template)]
#[template(path = "preview.html")]
pub(super) struct PreviewFragment {
    preview: Option<Preview>,
    problems: Vec<(String, String)>,
}

/// `GET /ui/compose?kind=…`: an empty form of that kind (by default the
/// first kind the policy lets this node send); `notice=` and `to=` start
/// a retraction of that notice to those it went to.
pub(super) async fn form(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
    Query(given): Query<Vec<(String, String)>>,
) -> Result<Response, Refusal> {
    let fields = given
        .into_iter()
        .filter(|(k, _)| ["kind", "notice", "to"].contains(&k.as_str()))
        .collect();
    Ok(page(
        &c.compose_page(&s, fields, Vec::new(), String::new())
            .await?,
    ))
}

/// `POST /ui/compose/preview`: the preview alone (what htmx swaps in as
/// the form changes), or, without htmx, the form with it.
pub(super) async fn preview(
    State(c): State<Console>,
    headers: axum::http::HeaderMap,
    posted: Posted,
) -> Result<Response, Refusal> {
    let s = &posted.signed_in.session;
    let fragment = match c.ask(s, &posted.fields, "/v1/notices/preview").await? {
        Ok(p) => PreviewFragment {
            preview: Some(p),
            problems: Vec::new(),
        },
        Err(problems) => PreviewFragment {
            preview: None,
            problems,
        },
    };
    if headers.contains_key("hx-request") {
        return Ok(page(&fragment));
    }
    let html = fragment.render().map_err(Refusal::internal)?;
    Ok(page(
        &c.compose_page(s, posted.fields, Vec::new(), html).await?,
    ))
}

/// `POST /ui/compose`: sends the notice through the API, then shows what
/// was sent; a refusal is shown beside its field and nothing sent.
pub(super) async fn send(State(c): State<Console>, posted: Posted) -> Result<Response, Refusal> {
    let s = &posted.signed_in.session;
    let problems = match c.ask::<Sent>(s, &posted.fields, "/v1/notices").await? {
        Ok(_) => return Ok(Redirect::to("/ui/sent").into_response()),
        Err(problems) => problems,
    };
    let shown = c
        .compose_page(s, posted.fields, problems, String::new())
        .await?;
    Ok((StatusCode::BAD_REQUEST, page(&shown)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> Fields {
        [
            ("to", "KR-KNPA"),
            ("tlp", "TLP_AMBER"),
            ("domain", "streamz.example"),
            ("summary", "live stream"),
            ("work_title", "Cup Final"),
            ("work_owner", "SportsNet"),
            ("sha256", &"ab".repeat(32)),
            ("captured_at", "2026-12-01T10:30"),
            ("good_faith", "on"),
            ("accuracy", "on"),
            ("contact_value", "desk@filmco.example"),
            ("contact_label", "role:agency"),
            ("location_value", ""),
            ("location_label", "role:agency"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn the_form_becomes_the_api_s_notice() {
        let n = notice(&filled()).unwrap();
        assert_eq!(n.to_orgs, ["KR-KNPA"]);
        assert_eq!(n.body["referral"]["target"]["domain"], "streamz.example");
        assert_eq!(
            n.body["referral"]["evidence"][0]["captured_at"],
            "2026-12-01T10:30:00Z"
        );
        // A labelled field left empty is not sent.
        assert_eq!(n.labelled.len(), 1);
        assert_eq!(n.labelled[0].path, "referral.contact");
    }

    #[test]
    fn a_required_field_left_empty_is_named() {
        let mut f = filled();
        f.retain(|(k, _)| k != "domain" && k != "good_faith");
        let problems = notice(&f).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["referral.target", "referral.good_faith_statement"]);
        assert_eq!(
            field_named(
                NoticeKind::Referral,
                "referral.target.domain: \"Bad\" is not a domain"
            ),
            "referral.target.domain"
        );
        assert_eq!(field_named(NoticeKind::Referral, "something else"), "");
        assert_eq!(
            field_named(
                NoticeKind::Referral,
                "labelled referral.evidence[0].location's label: invalid"
            ),
            "referral.evidence[0].location"
        );
    }
}

#[cfg(test)]
mod kinds {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn each_kind_s_form_becomes_its_body() {
        let n = notice(&form(&[
            ("kind", "intel"),
            ("to", "KR-KNPA"),
            ("title", "Streamz operator"),
            (
                "indicators",
                "domain streamz.example\ncrypto_wallet bc1qexample ; payments\n",
            ),
            ("narrative_value", "rents the origin under a false name"),
            ("narrative_label", "role:agency"),
        ]))
        .unwrap();
        let r = &n.body["intel_report"];
        assert_eq!(r["indicators"][1]["kind"], "INDICATOR_KIND_CRYPTO_WALLET");
        assert_eq!(r["indicators"][1]["context"], "payments");
        assert_eq!(n.labelled[0].path, "intel.narrative");
        let bad = notice(&form(&[
            ("kind", "intel"),
            ("to", "KR-KNPA"),
            ("title", "t"),
            ("indicators", "planet mars"),
        ]))
        .unwrap_err();
        assert_eq!(bad[0].0, "intel.indicators");
        assert!(bad[0].1.starts_with("line 1:"), "{bad:?}");
        let n = notice(&form(&[
            ("kind", "retraction"),
            ("to", "KR-KNPA"),
            ("notice", "01a23a7f-9c2d-7c67-8ca3-bba88e142c56"),
            ("reason", "sent in error"),
        ]))
        .unwrap();
        assert_eq!(
            n.in_reply_to.as_deref(),
            Some("01a23a7f-9c2d-7c67-8ca3-bba88e142c56")
        );
        let case = notice(&form(&[
            ("kind", "case"),
            ("to", "KR-KNPA"),
            ("text", "hello"),
        ]))
        .unwrap_err();
        assert_eq!(case[0].0, "case_ref");
        let takedown = notice(&form(&[
            ("kind", "takedown"),
            ("to", "KR-KNPA"),
            ("domain", "streamz.example"),
            ("legal_basis", "Copyright Act art. 104"),
            ("deadline", "2026-12-31"),
        ]))
        .unwrap();
        assert_eq!(
            takedown.body["takedown_request"]["deadline"],
            "2026-12-31T23:59:59Z"
        );
    }
}
