//! The console's pages: each calls the local API as the signed-in user
//! and renders what it answers.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use isop_api::{InLog, ListQuery, Me, NoticeView, Page, Respond, Sent, Time, Track};
use isop_core::pb;

use super::compose;
use super::session::{self, Session};
use super::view::{self, Line, Row};
use super::{Console, Posted, Refusal, SignedIn, field, form, page};

pub(super) fn routes() -> Router<Console> {
    Router::new()
        .route("/ui", get(home))
        .route("/ui/", get(home))
        .route("/ui/signin", get(signin_form).post(signin))
        .route("/ui/signout", post(signout))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/inbox", get(inbox))
        .route("/ui/notices/{id}", get(notice))
        .route("/ui/notices/{id}/respond", post(respond))
        .route("/ui/compose", get(compose::form).post(compose::send))
        .route("/ui/compose/preview", post(compose::preview))
        .route("/ui/correlations", get(correlations))
        .route("/ui/match", get(match_form).post(match_run))
        .route("/ui/federation", get(federation))
        .route("/ui/audit", get(audit_form).post(audit))
        .route("/ui/audit/export", get(export))
        .route("/ui/sent", get(sent))
        .route("/ui/sent/rows", get(sent_rows))
}

/// What every page's header shows: the node, the user, the CSRF token
/// its forms carry, and the menu the user's role allows.
pub(super) struct Chrome {
    pub(super) org: String,
    pub(super) user: String,
    pub(super) role: String,
    pub(super) csrf: String,
    /// The page the menu marks current.
    pub(super) here: &'static str,
    pub(super) may_read: bool,
    pub(super) may_send: bool,
    pub(super) may_export: bool,
    pub(super) may_match: bool,
}

impl Chrome {
    fn of(org: &str, s: &Session, me: &Me, here: &'static str) -> Self {
        let may = |p: &str| me.may.iter().any(|m| m == p);
        Self {
            org: org.to_owned(),
            user: s.user.clone(),
            role: me.role.clone(),
            csrf: s.csrf.clone(),
            here,
            may_read: may("read_received"),
            may_send: may("send"),
            may_export: may("export"),
            may_match: may("match"),
        }
    }
}

impl Console {
    /// The chrome of a page for `s`: who the user is now (a role changed
    /// since sign-in shows at once).
    pub(super) async fn chrome(&self, s: &Session, here: &'static str) -> Result<Chrome, Refusal> {
        let me: Me = self.get(s, "/v1/me").await?;
        Ok(Chrome::of(&self.org, s, &me, here))
    }
}

/// A page that could not be shown: the API's refusal, in its words.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Option<Chrome>,
    status: u16,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        if self.status == StatusCode::UNAUTHORIZED {
            // The token was renewed or the user removed: sign in again.
            return Redirect::to("/ui/signin").into_response();
        }
        let body = page(&ErrorPage {
            chrome: None,
            status: self.status.as_u16(),
            message: self.message,
        });
        (self.status, body).into_response()
    }
}

async fn home() -> Redirect {
    Redirect::to("/ui/inbox")
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    org: String,
    csrf: String,
    problem: Option<String>,
}

/// The sign-in form, its CSRF token also in a cookie (there is no session
/// yet to hold it).
fn signin_page(c: &Console, problem: Option<String>) -> Response {
    let csrf = session::random_hex();
    let cookie = session::set_cookie(&c.cookies.1, Some(&csrf), c.secure);
    let status = if problem.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let body = page(&SignInPage {
        org: c.org.to_string(),
        csrf,
        problem,
    });
    (status, [(header::SET_COOKIE, cookie)], body).into_response()
}

async fn signin_form(State(c): State<Console>) -> Response {
    signin_page(&c, None)
}

/// `POST /ui/signin`: the token is checked by the API itself (`GET
/// /v1/me`); a session starts only for a token it takes.
async fn signin(State(c): State<Console>, headers: HeaderMap, body: String) -> Response {
    let fields = form(body.as_bytes());
    let expected = session::cookie(&headers, &c.cookies.1).unwrap_or("");
    if expected.is_empty() || !crate::users::same(field(&fields, "csrf"), expected) {
        return signin_page(
            &c,
            Some("the sign-in form expired or came from elsewhere: sign in again".into()),
        );
    }
    let token = field(&fields, "token");
    if token.is_empty() {
        return signin_page(&c, Some("give your API token".into()));
    }
    let probe = Session::probe(token);
    let me: Me = match c.get(&probe, "/v1/me").await {
        Ok(me) => me,
        Err(r) if r.status == StatusCode::UNAUTHORIZED => {
            return signin_page(&c, Some("that token is not a user's of this node".into()));
        }
        Err(r) => return r.into_response(),
    };
    let id = c.sessions.start(token, &me.name);
    let cookie = session::set_cookie(&c.cookies.0, Some(&id), c.secure);
    let clear = session::set_cookie(&c.cookies.1, None, c.secure);
    (
        AppendHeaders([(header::SET_COOKIE, cookie), (header::SET_COOKIE, clear)]),
        Redirect::to("/ui/inbox"),
    )
        .into_response()
}

/// `POST /ui/signout`: ends the session.
async fn signout(State(c): State<Console>, posted: Posted) -> Response {
    c.sessions.end(&posted.signed_in.id);
    let clear = session::set_cookie(&c.cookies.0, None, c.secure);
    ([(header::SET_COOKIE, clear)], Redirect::to("/ui/signin")).into_response()
}

/// The console's own files, embedded in the binary.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "console.css" => (
            include_bytes!("../../console/assets/console.css"),
            "text/css; charset=utf-8",
        ),
        "console.js" => (
            include_bytes!("../../console/assets/console.js"),
            "text/javascript; charset=utf-8",
        ),
        "htmx.min.js" => (
            include_bytes!("../../console/assets/htmx.min.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The inbox's filters, as the page's form sends them.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
struct InboxFilters {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    status: String,
    /// A day, `2026-12-01`: made on or after it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    from: String,
    /// A day: made on or before it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    until: String,
    /// Text in the subject, case reference or an indicator.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    q: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unread: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<u64>,
}

/// The start of a day given as `2026-12-01`, in Unix milliseconds.
fn day(d: &str, what: &str) -> Result<Option<Time>, Refusal> {
    let d = d.trim();
    if d.is_empty() {
        return Ok(None);
    }
    isop_core::json::parse_rfc3339(&format!("{d}T00:00:00Z"))
        .map(|t| Some(Time(t)))
        .ok_or_else(|| Refusal {
            status: StatusCode::BAD_REQUEST,
            message: format!("{what}: {d:?} is not a day like 2026-12-01"),
        })
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

impl InboxFilters {
    fn query(&self) -> Result<ListQuery, Refusal> {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(ListQuery {
            unread: self.unread.is_some(),
            kind: some(&self.kind),
            before: self.before,
            since: None,
            limit: Some(25),
            author: some(&self.author),
            status: some(&self.status),
            contains: some(&self.q),
            made_from: day(&self.from, "from")?,
            made_until: day(&self.until, "until")?.map(|t| Time(t.0 + DAY_MS)),
        })
    }

    /// The query string of these filters, `before` set to `before`.
    fn link(&self, before: Option<u64>) -> Result<String, Refusal> {
        serde_urlencoded::to_string(Self {
            before,
            ..self.clone()
        })
        .map_err(Refusal::internal)
    }
}

/// A choice in a `<select>`.
pub(super) struct Choice {
    pub(super) value: String,
    pub(super) words: String,
    pub(super) chosen: bool,
}

pub(super) fn choices<E: Copy>(
    all: &[E],
    name: fn(E) -> &'static str,
    words: fn(E) -> String,
    chosen: &str,
) -> Vec<Choice> {
    all.iter()
        .map(|e| Choice {
            value: name(*e).to_owned(),
            words: words(*e),
            chosen: name(*e) == chosen,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    filters: InboxFilters,
    kinds: Vec<Choice>,
    statuses: Vec<Choice>,
    lines: Vec<Line>,
    unanswered: u64,
    more: u64,
    older: Option<String>,
    problem: Option<String>,
}

async fn inbox(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
    Query(filters): Query<InboxFilters>,
) -> Result<Response, Refusal> {
    let chrome = c.chrome(&s, "inbox").await?;
    let kinds = choices(
        &view::values::<pb::NoticeKind>(),
        |k| k.as_str_name(),
        view::kind,
        &filters.kind,
    );
    let statuses = choices(
        &view::values::<pb::ReferralStatus>(),
        |k| k.as_str_name(),
        view::status,
        &filters.status,
    );
    let mut shown = InboxPage {
        chrome,
        kinds,
        statuses,
        lines: Vec::new(),
        unanswered: 0,
        more: 0,
        older: None,
        problem: None,
        filters,
    };
    // A filter the API refuses (an author that is no org id, a day that is
    // no day) is shown beside the filters, the list left empty.
    let answer: Result<Page, Refusal> = match shown.filters.query() {
        Ok(q) => {
            let uri = format!(
                "/v1/inbox?{}",
                serde_urlencoded::to_string(&q).map_err(Refusal::internal)?
            );
            c.get(&s, &uri).await
        }
        Err(r) => Err(r),
    };
    match answer {
        Ok(p) => {
            shown.lines = p.items.iter().map(Line::of).collect();
            shown.unanswered = p.unanswered.unwrap_or(0);
            shown.more = p.more;
            shown.older = p
                .next_before
                .map(|b| {
                    shown
                        .filters
                        .link(Some(b))
                        .map(|q| format!("/ui/inbox?{q}"))
                })
                .transpose()?;
        }
        Err(r) if r.status == StatusCode::BAD_REQUEST => shown.problem = Some(r.message),
        Err(r) => return Err(r),
    }
    Ok(page(&shown))
}

/// A field withheld from this node, or revealed to it.
struct Labelled {
    path: String,
    label: String,
    /// The value (revealed), or why it is withheld.
    text: String,
}

/// A notice of the thread, or the one answered.
struct Linked {
    href: String,
    words: String,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage {
    chrome: Chrome,
    n: NoticeView,
    kind: String,
    tlp: String,
    author: String,
    created: String,
    logged: String,
    rows: Vec<Row>,
    revealed: Vec<Labelled>,
    withheld: Vec<Labelled>,
    erased: Vec<Labelled>,
    in_log: InLog,
    answers: Option<Linked>,
    thread: Vec<Line>,
    /// The status answer form, for a referral that came in.
    may_answer: bool,
    statuses: Vec<Choice>,
    actions: Vec<Choice>,
    /// What the last answer did, or why it was refused.
    outcome: Option<String>,
    problem: Option<String>,
}

impl Console {
    /// The page of notice `id`: reading it is recorded by the API, and an
    /// unread one is marked read.
    async fn notice_page(
        &self,
        s: &Session,
        id: &str,
        outcome: Option<String>,
        problem: Option<String>,
    ) -> Result<NoticePage, Refusal> {
        let chrome = self.chrome(s, "inbox").await?;
        let id = urlencode(id);
        let n: NoticeView = self.get(s, &format!("/v1/notices/{id}")).await?;
        if n.read == Some(false) && chrome.may_read {
            let _: isop_api::MarkedRead =
                self.post(s, &format!("/v1/notices/{id}/read"), &()).await?;
        }
        let in_log: InLog = self.get(s, &format!("/v1/notices/{id}/proof")).await?;
        let labelled = |path: &str, label: &str, text: String| Labelled {
            path: path.to_owned(),
            label: label.to_owned(),
            text,
        };
        let may_answer = chrome.may_send
            && n.kind == pb::NoticeKind::Referral
            && n.direction == pb::Direction::Inbound;
        Ok(NoticePage {
            kind: view::kind(n.kind),
            tlp: view::tlp(n.tlp),
            author: n.author.clone(),
            created: view::time(n.created_at),
            logged: view::time(n.logged_at),
            rows: view::outline(&n.body, "isop.v1.Notice"),
            revealed: n
                .revealed
                .iter()
                .map(|f| labelled(&f.path, &f.label, view::field_value(&f.value)))
                .collect(),
            withheld: n
                .withheld
                .iter()
                .map(|f| labelled(&f.path, &f.label, f.reason.clone()))
                .collect(),
            erased: n
                .erased
                .iter()
                .map(|e| {
                    labelled(
                        &e.path,
                        "",
                        format!(
                            "erased by {} on {}: {}",
                            e.erased_by,
                            view::time(e.erased_at),
                            e.reason
                        ),
                    )
                })
                .collect(),
            answers: n.in_reply_to.as_ref().map(|r| Linked {
                href: format!("/ui/notices/{}", r.id),
                words: match (&r.kind, &r.subject) {
                    (Some(k), Some(s)) => format!("{}: {s}", view::kind(*k)),
                    _ => format!("{} (not held here)", r.id),
                },
            }),
            thread: n.thread.iter().map(Line::of).collect(),
            in_log,
            may_answer,
            statuses: choices(
                &view::values::<pb::ReferralStatus>(),
                |k| k.as_str_name(),
                view::status,
                "",
            ),
            actions: choices(
                &view::values::<pb::ActionType>(),
                |k| k.as_str_name(),
                |a| isop_core::json::enum_words("isop.v1.ActionType", a.as_str_name()),
                "",
            ),
            outcome,
            problem,
            chrome,
            n,
        })
    }
}

/// A notice id as a path segment: ids are base32 and hex, so anything
/// else is refused by the API; this only keeps the path a path.
fn urlencode(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

async fn notice(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    Ok(page(&c.notice_page(&s, &id, None, None).await?))
}

/// `POST /ui/notices/{id}/respond`: a status answer, through the API.
/// A refusal (a reason missing, a role that may not send) is shown by the
/// form, nothing sent.
async fn respond(
    State(c): State<Console>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, Refusal> {
    let s = &posted.signed_in.session;
    let answer = Respond {
        status: posted.field("status").to_owned(),
        reason: posted.field("reason").to_owned(),
        action: Some(posted.field("action").to_owned()).filter(|a| !a.is_empty()),
        details: posted.field("details").to_owned(),
    };
    let sent: Result<Sent, Refusal> = c
        .post(
            s,
            &format!("/v1/notices/{}/respond", urlencode(&id)),
            &answer,
        )
        .await;
    let (outcome, problem, status) = match sent {
        Ok(sent) => (
            Some(format!(
                "answered {} to {}",
                view::status(pb::ReferralStatus::from_str_name(&answer.status).unwrap_or_default()),
                sent.recipients.join(", ")
            )),
            None,
            StatusCode::OK,
        ),
        Err(r) if r.status.is_client_error() => (None, Some(r.message), r.status),
        Err(r) => return Err(r),
    };
    let shown = c.notice_page(s, &id, outcome, problem).await?;
    Ok((status, page(&shown)).into_response())
}

/// A sent notice, with where each copy stands and the answers that came
/// back.
struct SentLine {
    line: Line,
    deliveries: Vec<(String, String)>,
    answers: Vec<Line>,
}

#[derive(Template)]
#[template(path = "sent.html")]
struct SentPage {
    chrome: Chrome,
    /// The rows, rendered (`sent_rows.html`).
    rows_html: String,
}

#[derive(Template)]
#[template(path = "sent_rows.html")]
struct SentRows {
    lines: Vec<SentLine>,
    more: u64,
    older: Option<String>,
    /// The query that refreshes these rows.
    refresh: String,
}

#[derive(Debug, Default, serde::Deserialize)]
struct SentQuery {
    #[serde(default)]
    before: Option<u64>,
}

impl Console {
    async fn sent_rows(&self, s: &Session, q: &SentQuery) -> Result<SentRows, Refusal> {
        let before = q.before.map(|b| format!("&before={b}")).unwrap_or_default();
        let p: Page = self.get(s, &format!("/v1/sent?limit=20{before}")).await?;
        let mut lines = Vec::new();
        for item in &p.items {
            let t: Track = self
                .get(s, &format!("/v1/notices/{}/track", urlencode(&item.id)))
                .await?;
            lines.push(SentLine {
                line: Line::of(item),
                deliveries: t
                    .recipients
                    .iter()
                    .map(|d| {
                        let state = serde_json::to_value(d.state)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_lowercase))
                            .unwrap_or_default();
                        (d.recipient.clone(), state)
                    })
                    .collect(),
                answers: t.thread.iter().map(Line::of).collect(),
            });
        }
        Ok(SentRows {
            lines,
            more: p.more,
            older: p.next_before.map(|b| format!("/ui/sent?before={b}")),
            refresh: q.before.map_or_else(
                || "/ui/sent/rows".into(),
                |b| format!("/ui/sent/rows?before={b}"),
            ),
        })
    }
}

async fn sent(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
    Query(q): Query<SentQuery>,
) -> Result<Response, Refusal> {
    let chrome = c.chrome(&s, "sent").await?;
    let rows_html = c
        .sent_rows(&s, &q)
        .await?
        .render()
        .map_err(Refusal::internal)?;
    Ok(page(&SentPage { chrome, rows_html }))
}

/// The rows of the sent page alone: what the page polls for, so that
/// deliveries and answers show as they come.
async fn sent_rows(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
    Query(q): Query<SentQuery>,
) -> Result<Response, Refusal> {
    Ok(page(&c.sent_rows(&s, &q).await?))
}

/// A target several members name, as the correlations page shows it.
struct Overlap {
    target: String,
    kind: String,
    referred_by: String,
    reported_by: String,
    since: String,
    notices: Vec<Line>,
}

#[derive(Template)]
#[template(path = "correlations.html")]
struct CorrelationsPage {
    chrome: Chrome,
    overlaps: Vec<Overlap>,
    more: u64,
}

/// `GET /ui/correlations`: the targets referred by several partners or
/// reported by several agencies, with each notice's status.
async fn correlations(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
) -> Result<Response, Refusal> {
    let chrome = c.chrome(&s, "correlations").await?;
    let found: isop_api::Correlations = c.get(&s, "/v1/correlations?limit=100").await?;
    let overlaps = found
        .overlaps
        .iter()
        .map(|o| Overlap {
            target: o.target.clone(),
            kind: isop_core::json::enum_words("isop.v1.IndicatorKind", o.kind.as_str_name()),
            referred_by: o.referred_by.join(", "),
            reported_by: o.reported_by.join(", "),
            since: view::time(o.since),
            notices: o.notices.iter().map(Line::of).collect(),
        })
        .collect();
    Ok(page(&CorrelationsPage {
        chrome,
        overlaps,
        more: found.more,
    }))
}

#[derive(Template)]
#[template(path = "match.html")]
struct MatchPage {
    chrome: Chrome,
    /// The members this node may ask, by the roster's matching policy.
    members: Vec<String>,
    /// What was asked: the member and the lines, to show again.
    with: String,
    lines: String,
    result: Option<isop_api::MatchResult>,
    /// Why the run was refused or failed.
    refused: Option<String>,
}

impl MatchPage {
    async fn new(c: &Console, s: &Session) -> Result<Self, Refusal> {
        let chrome = c.chrome(s, "match").await?;
        let f: isop_api::Federation = c.get(s, "/v1/federation").await?;
        let members = f
            .members
            .iter()
            .filter(|m| *m.org != *c.org && m.revoked_at.is_none())
            .map(|m| m.org.clone())
            .collect();
        Ok(Self {
            chrome,
            members,
            with: String::new(),
            lines: String::new(),
            result: None,
            refused: None,
        })
    }
}

/// `GET /ui/match`: the form for a private matching.
async fn match_form(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
) -> Result<Response, Refusal> {
    Ok(page(&MatchPage::new(&c, &s).await?))
}

/// `POST /ui/match`: runs the matching (`POST /v1/match`) and shows what
/// the other member holds, or why it was refused.
async fn match_run(State(c): State<Console>, posted: Posted) -> Result<Response, Refusal> {
    let s = &posted.signed_in.session;
    let mut p = MatchPage::new(&c, s).await?;
    p.with = posted.field("with").to_owned();
    p.lines = posted.field("indicators").to_owned();
    let request = isop_api::MatchRequest {
        with: p.with.clone(),
        indicators: p
            .lines
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect(),
        from_inbox: posted.field("from_inbox") == "on",
        from_case: Some(posted.field("case").to_owned()).filter(|c| !c.is_empty()),
    };
    match c
        .post::<isop_api::MatchResult>(s, "/v1/match", &request)
        .await
    {
        Ok(r) => p.result = Some(r),
        Err(refusal) => p.refused = Some(refusal.message),
    }
    Ok(page(&p))
}

#[derive(Template)]
#[template(path = "federation.html")]
struct FederationPage {
    chrome: Chrome,
    f: isop_api::Federation,
    issued: String,
    /// What the policy lets this node send, in words, a line a rule.
    sends: Vec<String>,
    members: Vec<MemberRow>,
}

/// A member as the federation page shows it.
struct MemberRow {
    m: isop_api::MemberView,
    role: String,
    /// Each key: its id, state and end of validity.
    keys: Vec<(String, String, String)>,
    /// How this node sees it, in words: reachable, last seen, queued.
    health: String,
    /// Whether the last exchange with it failed.
    down: bool,
}

/// `GET /ui/federation`: members, keys, clearance, each peer's health, the
/// log's checkpoints and witnessing; a split view as an alarm.
async fn federation(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
) -> Result<Response, Refusal> {
    let chrome = c.chrome(&s, "federation").await?;
    let f: isop_api::Federation = c.get(&s, "/v1/federation").await?;
    let role =
        |r: isop_core::pb::Role| isop_core::json::enum_words("isop.v1.Role", r.as_str_name());
    let members = f
        .members
        .iter()
        .map(|m| {
            let (health, down) = match &m.health {
                None => ("this node".to_owned(), false),
                Some(p) => {
                    let mut words = match p.reachable {
                        Some(true) => "reachable".to_owned(),
                        Some(false) => "unreachable".to_owned(),
                        None => "not contacted yet".to_owned(),
                    };
                    if let Some(t) = p.last_seen {
                        words.push_str(&format!(", last seen {}", view::time(t)));
                    }
                    if let Some(v) = p.roster_version {
                        words.push_str(&format!(", holds roster v{v}"));
                    }
                    if p.outbox_depth > 0 {
                        words.push_str(&format!(", {} waiting for it", p.outbox_depth));
                    }
                    if let Some(e) = &p.last_error {
                        words.push_str(&format!(": {e}"));
                    }
                    (words, p.reachable == Some(false))
                }
            };
            MemberRow {
                role: role(m.role),
                keys: m
                    .keys
                    .iter()
                    .map(|k| (k.id.clone(), k.state.clone(), view::time(k.not_after)))
                    .collect(),
                health,
                down,
                m: m.clone(),
            }
        })
        .collect();
    let sends = f
        .sends
        .iter()
        .map(|r| {
            let kinds: Vec<String> = r.kinds.iter().map(|k| view::kind(*k)).collect();
            let only = if r.reply_to_own_referral {
                ", in reply to its own referral"
            } else {
                ""
            };
            format!("{} to a {}{only}", kinds.join(", "), role(r.to))
        })
        .collect();
    Ok(page(&FederationPage {
        chrome,
        sends,
        issued: view::time(f.roster_issued_at),
        members,
        f,
    }))
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    report: Option<isop_api::AuditReport>,
}

/// `GET /ui/audit`: verify this node's log, or download an export.
async fn audit_form(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
) -> Result<Response, Refusal> {
    let chrome = c.chrome(&s, "audit").await?;
    Ok(page(&AuditPage {
        chrome,
        report: None,
    }))
}

/// `POST /ui/audit`: the node verifies its own log as an auditor would
/// (`POST /v1/audit`), and the page shows the report.
async fn audit(State(c): State<Console>, posted: Posted) -> Result<Response, Refusal> {
    let s = &posted.signed_in.session;
    let chrome = c.chrome(s, "audit").await?;
    let report: isop_api::AuditReport = c.post(s, "/v1/audit", &()).await?;
    Ok(page(&AuditPage {
        chrome,
        report: Some(report),
    }))
}

#[derive(Debug, serde::Deserialize)]
struct ExportForm {
    #[serde(default)]
    clearance: String,
}

/// `GET /ui/audit/export`: the log as one export file, with the
/// disclosures the clearance given allows, streamed from the API.
async fn export(
    State(c): State<Console>,
    SignedIn { session: s, .. }: SignedIn,
    Query(f): Query<ExportForm>,
) -> Result<Response, Refusal> {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("clearance", f.clearance.trim())
        .finish();
    let mut answer = c
        .answer(
            &s,
            axum::http::Method::GET,
            &format!("/v1/export?{query}"),
            None::<&()>,
        )
        .await?;
    let file = format!("attachment; filename=\"{}.isop\"", c.org);
    answer.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_str(&file).map_err(Refusal::internal)?,
    );
    Ok(answer)
}
