//! Composing a referral: the form, the preview of what each recipient
//! would see (`POST /v1/notices/preview`), and sending (`POST
//! /v1/notices`). A refusal is shown beside the field it names, the form
//! as it was filled, and nothing is sent.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use isop_api::{LabelledField, Preview, Sent, Status, SubmitNotice};
use isop_core::pb;
use serde_json::{Value, json};

use super::pages::{Choice, Chrome, choices};
use super::{Console, Posted, Refusal, SignedIn, page};

/// The form's fields, by name, as posted (a name may repeat: `to`).
type Fields = Vec<(String, String)>;

/// A labelled field the form offers: its input names' stem, its path in
/// the notice, what people call it, and the label it starts with.
struct Offered {
    stem: &'static str,
    path: &'static str,
    words: &'static str,
    label: &'static str,
}

const LABELLED: [Offered; 3] = [
    Offered {
        stem: "contact",
        path: "referral.contact",
        words: "Contact for the agencies",
        label: "role:agency|role:hub",
    },
    Offered {
        stem: "location",
        path: "referral.evidence[0].location",
        words: "Where the evidence is kept",
        label: "role:agency",
    },
    Offered {
        stem: "internal_ref",
        path: "referral.internal_ref",
        words: "Internal reference",
        label: "role:hub",
    },
];

/// Every value of a protobuf enum but its unspecified zero.
fn values<E: TryFrom<i32> + Copy>() -> Vec<E> {
    (1..).map_while(|i| E::try_from(i).ok()).collect()
}

fn words(type_name: &str, name: &str) -> String {
    isop_core::json::enum_words(type_name, name)
}

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
    fields: Fields,
    members: Vec<Member>,
    tlps: Vec<Choice>,
    categories: Vec<Choice>,
    actions: Vec<Choice>,
    methods: Vec<Choice>,
    labelled: Vec<LabelledRow>,
    /// Each problem, by the form path it names ("" for the whole form).
    problems: Vec<(String, String)>,
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

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.trim())
}

/// The paths a problem may name, most specific first, each with the
/// input it belongs beside.
const PATHS: [&str; 18] = [
    "referral.evidence[0].location",
    "referral.evidence",
    "referral.internal_ref",
    "referral.contact",
    "referral.target.domain",
    "referral.target.url",
    "referral.target.ip",
    "referral.target.hosting_country",
    "referral.target",
    "referral.jurisdiction",
    "referral.works",
    "referral.summary",
    "referral.category",
    "referral.requested_action",
    "referral.good_faith_statement",
    "referral.accuracy_statement",
    "to_orgs",
    "case_ref",
];

/// The form path a refusal's message names, or "" for none.
fn path_named(message: &str) -> &'static str {
    PATHS
        .iter()
        .find(|p| message.contains(*p))
        .copied()
        .unwrap_or("")
}

/// What the form says, as the API takes it; or the problems a person
/// must fix first (a required field left empty), by path.
fn notice(fields: &Fields) -> Result<SubmitNotice, Vec<(String, String)>> {
    let f = |name: &str| field(fields, name);
    let mut problems = Vec::new();
    let mut need = |ok: bool, path: &str, why: &str| {
        if !ok {
            problems.push((path.to_owned(), why.to_owned()));
        }
    };
    let to: Vec<String> = fields
        .iter()
        .filter(|(k, v)| k == "to" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let groups: Vec<String> = f("groups")
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(Into::into)
        .collect();
    need(
        !to.is_empty() || !groups.is_empty(),
        "to_orgs",
        "choose at least one recipient or group",
    );
    need(
        !(f("domain").is_empty() && f("url").is_empty() && f("ip").is_empty()),
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
    if !problems.is_empty() {
        return Err(problems);
    }
    let some = |name: &str| Some(f(name).to_owned()).filter(|s| !s.is_empty());
    let mut target = serde_json::Map::new();
    for (name, key) in [
        ("domain", "domain"),
        ("url", "url"),
        ("ip", "ip"),
        ("hosting_provider", "hosting_provider"),
        ("hosting_country", "hosting_country"),
    ] {
        if let Some(v) = some(name) {
            target.insert(key.into(), Value::String(v));
        }
    }
    let mut evidence = json!({
        "sha256": f("sha256"),
        "method": f("method"),
        "description": f("evidence_description"),
        "captured_at": some("captured_at").map_or(Value::Null, |t| {
            // A datetime-local input gives minutes, read as UTC.
            let t = if t.len() == 16 { format!("{t}:00Z") } else { t };
            Value::String(t)
        }),
    });
    if let Some(size) = some("size_bytes").and_then(|s| s.parse::<u64>().ok()) {
        evidence["size_bytes"] = json!(size);
    }
    if let Some(media) = some("media_type") {
        evidence["media_type"] = json!(media);
    }
    let mut works = vec![json!({ "title": f("work_title"), "rights_owner": f("work_owner") })];
    if let Some(second) = some("work2_title") {
        works.push(json!({ "title": second, "rights_owner": f("work2_owner") }));
    }
    let labelled = LABELLED
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
        in_reply_to: None,
        labelled,
        body: json!({ "referral": {
            "target": target,
            "category": f("category"),
            "works": works,
            "evidence": [evidence],
            "requested_action": f("requested_action"),
            "jurisdiction": f("jurisdiction"),
            "summary": f("summary"),
            "good_faith_statement": true,
            "accuracy_statement": true,
        } }),
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
        let status: Status = self.get(s, "/v1/status").await?;
        let chosen = |org: &str| fields.iter().any(|(k, v)| k == "to" && v == org);
        let members = status
            .peers
            .iter()
            .map(|p| Member {
                org: p.org.clone(),
                about: format!(
                    "{}, {}",
                    words("isop.v1.Role", p.role.as_str_name()),
                    p.country
                ),
                chosen: chosen(&p.org),
            })
            .collect();
        let f = |name: &str| field(&fields, name).to_owned();
        let or = |name: &str, default: &str| {
            let v = f(name);
            if v.is_empty() { default.to_owned() } else { v }
        };
        let enum_choices = |type_name: &'static str, names: Vec<&'static str>, chosen: String| {
            names
                .into_iter()
                .map(|n| Choice {
                    value: n.to_owned(),
                    words: words(type_name, n),
                    chosen: n == chosen,
                })
                .collect::<Vec<_>>()
        };
        let labelled = LABELLED
            .iter()
            .map(|o| LabelledRow {
                stem: o.stem,
                path: o.path,
                words: o.words,
                value: f(&format!("{}_value", o.stem)),
                label: if fields.is_empty() {
                    o.label.to_owned()
                } else {
                    f(&format!("{}_label", o.stem))
                },
            })
            .collect();
        Ok(ComposePage {
            tlps: choices(
                &values::<pb::Tlp>(),
                |t| t.as_str_name(),
                super::view::tlp,
                &or("tlp", "TLP_AMBER"),
            ),
            categories: enum_choices(
                "isop.v1.ContentCategory",
                values::<pb::ContentCategory>()
                    .into_iter()
                    .map(|c| c.as_str_name())
                    .collect(),
                f("category"),
            ),
            actions: enum_choices(
                "isop.v1.RequestedAction",
                values::<pb::RequestedAction>()
                    .into_iter()
                    .map(|c| c.as_str_name())
                    .collect(),
                or("requested_action", "REQUESTED_ACTION_TAKEDOWN"),
            ),
            methods: enum_choices(
                "isop.v1.CaptureMethod",
                values::<pb::CaptureMethod>()
                    .into_iter()
                    .map(|c| c.as_str_name())
                    .collect(),
                f("method"),
            ),
            chrome,
            members,
            labelled,
            problems,
            preview_html,
            fields,
        })
    }

    /// The preview of what `fields` would send: each recipient's view, or
    /// the problems that stop it.
    async fn preview_of(
        &self,
        s: &super::session::Session,
        fields: &Fields,
    ) -> Result<PreviewFragment, Refusal> {
        let problems = match notice(fields) {
            Ok(n) => match self.post::<Preview>(s, "/v1/notices/preview", &n).await {
                Ok(p) => {
                    return Ok(PreviewFragment {
                        preview: Some(p),
                        problems: Vec::new(),
                    });
                }
                Err(r) if r.status.is_client_error() => {
                    vec![(path_named(&r.message).to_owned(), r.message)]
                }
                Err(r) => return Err(r),
            },
            Err(problems) => problems,
        };
        Ok(PreviewFragment {
            preview: None,
            problems,
        })
    }
}

/// What each recipient would see, or why it cannot be sent.
#[derive(Template)]
#[template(path = "preview.html")]
pub(super) struct PreviewFragment {
    preview: Option<Preview>,
    problems: Vec<(String, String)>,
}

/// `GET /ui/compose`: an empty referral form.
pub(super) async fn form(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
) -> Result<Response, Refusal> {
    Ok(page(
        &c.compose_page(&s, Vec::new(), Vec::new(), String::new())
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
    let fragment = c.preview_of(s, &posted.fields).await?;
    if headers.contains_key("hx-request") {
        return Ok(page(&fragment));
    }
    let html = fragment.render().map_err(Refusal::internal)?;
    Ok(page(
        &c.compose_page(s, posted.fields, Vec::new(), html).await?,
    ))
}

/// `POST /ui/compose`: sends the referral through the API, then shows
/// what was sent; a refusal is shown beside its field and nothing sent.
pub(super) async fn send(State(c): State<Console>, posted: Posted) -> Result<Response, Refusal> {
    let s = &posted.signed_in.session;
    let problems = match notice(&posted.fields) {
        Ok(n) => match c.post::<Sent>(s, "/v1/notices", &n).await {
            Ok(_) => return Ok(Redirect::to("/ui/sent").into_response()),
            Err(r) if r.status.is_client_error() => {
                vec![(path_named(&r.message).to_owned(), r.message)]
            }
            Err(r) => return Err(r),
        },
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
            path_named("referral.target.domain: \"Bad\" is not a domain"),
            "referral.target.domain"
        );
        assert_eq!(path_named("something else"), "");
    }
}
