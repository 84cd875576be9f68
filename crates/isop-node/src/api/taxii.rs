//! TAXII 2.1 (read-only) on the API listener, behind a user's token like
//! every route (`docs/STIX.md` §TAXII): discovery, one API root
//! ([`ROOT`]), and collections of what this node holds — everything, each
//! kind of notice, each case, each roster group it is in — as STIX 2.1
//! objects (`isop_stix`). A page's objects are read like `GET
//! /v1/notices/{id}` reads a notice: each notice whose objects it holds
//! is recorded in the log, with the revealed fields it carried, before
//! the page is answered.
//!
//! Objects are listed in log order: first the objects every collection
//! carries (TLP markings, isop's extension and its publisher, each
//! member's identity), then, entry by entry, what each entry adds: a
//! notice's objects, or the versions a retraction makes of the notice it
//! retracts. `next` names the place in that order (`{entry}-{skip}`).

use std::collections::BTreeMap;

use axum::extract::{Extension, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use isop_api::ErrorBody;
use isop_core::pb::notice::Body;
use isop_core::{LogIndex, Notice, NoticeId, NoticeKind, pb};
use isop_stix::common::{self, Member};
use isop_stix::notice::{Context, Covering};
use isop_stix::taxii::{
    ApiRoot, Collection, Collections, DATE_ADDED_FIRST, DATE_ADDED_LAST, Discovery, Envelope,
    MEDIA_TYPE, Manifest, ManifestRecord, STIX_MEDIA_TYPE, TaxiiError, Versions,
};
use isop_stix::{Object, Retracted, Stage, str_of};
use serde::Deserialize;
use serde_json::Value;

use super::shared::{Api, ApiError, bad_request, not_found};
use super::views::notice_view;
use crate::state::Inner;
use crate::users::User;

/// The one API root.
pub(super) const ROOT: &str = "/taxii2/isop/";

/// The most objects a page holds; 100 unless `limit` asks otherwise.
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 100;

/// The TAXII routes.
pub(super) fn router() -> Router<Api> {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route("/taxii2/isop/", get(api_root))
        .route("/taxii2/isop/collections/", get(collections))
        .route("/taxii2/isop/collections/{id}/", get(collection))
        .route("/taxii2/isop/collections/{id}/objects/", get(objects))
        .route("/taxii2/isop/collections/{id}/manifest/", get(manifest))
        .route(
            "/taxii2/isop/collections/{id}/objects/{object}/",
            get(object),
        )
        .route(
            "/taxii2/isop/collections/{id}/objects/{object}/versions/",
            get(versions),
        )
}

/// Whether `path` is a TAXII one.
pub(super) fn is_taxii(path: &str) -> bool {
    path.starts_with("/taxii2/")
}

/// TAXII's side of every request under `/taxii2/`: an `Accept` that does
/// not take TAXII 2.1 is refused (406), and every error is answered in
/// TAXII's error format and media type.
pub(super) async fn taxii_layer(request: Request, next: Next) -> Response {
    if !is_taxii(request.uri().path()) {
        return next.run(request).await;
    }
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*")
        .to_owned();
    let response = if accepts_taxii(&accept) {
        next.run(request).await
    } else {
        ApiError(
            StatusCode::NOT_ACCEPTABLE,
            format!("Accept {accept:?} does not take {MEDIA_TYPE}"),
        )
        .into_response()
    };
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_owned());
    let error = TaxiiError {
        title: status.canonical_reason().unwrap_or("error").to_owned(),
        description: Some(message),
        http_status: Some(status.as_u16().to_string()),
    };
    let mut out = taxii(status, &error, &[]);
    if let Some(auth) = parts.headers.get(header::WWW_AUTHENTICATE) {
        out.headers_mut()
            .insert(header::WWW_AUTHENTICATE, auth.clone());
    }
    out
}

/// Whether an `Accept` header takes TAXII 2.1.
fn accepts_taxii(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let ty = parts.next().unwrap_or_default().to_ascii_lowercase();
        let version = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("version"))
            .map(|(_, v)| v.trim_matches('"').to_owned());
        match ty.as_str() {
            "application/taxii+json" => version.is_none_or(|v| v == "2.1"),
            "*/*" | "application/*" => true,
            _ => false,
        }
    })
}

/// `value` in TAXII's media type, with `headers`.
fn taxii<T: serde::Serialize>(
    status: StatusCode,
    value: &T,
    headers: &[(&str, String)],
) -> Response {
    let mut r = (status, Json(value)).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    for (name, v) in headers {
        if let (Ok(name), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

fn ok<T: serde::Serialize>(value: &T) -> Response {
    taxii(StatusCode::OK, value, &[])
}

async fn discovery(State(api): State<Api>) -> Response {
    let org = api.inner.org.to_string();
    ok(&Discovery {
        title: format!("isop node {org}"),
        description: Some(format!(
            "What the isop node of {org} holds, as STIX 2.1 (docs/STIX.md)."
        )),
        contact: None,
        default: Some(ROOT.into()),
        api_roots: vec![ROOT.into()],
    })
}

async fn api_root(State(api): State<Api>) -> Response {
    ok(&ApiRoot {
        title: format!("isop {}", api.inner.org),
        description: Some("Every notice this node holds, by kind, case and group.".into()),
        versions: vec![MEDIA_TYPE.into()],
        max_content_length: super::MAX_BODY as u64,
    })
}

/// What a collection holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Scope {
    All,
    Kind(NoticeKind),
    Case(String),
    Group(String),
}

impl Scope {
    fn holds(&self, n: &Notice) -> bool {
        match self {
            Self::All => true,
            Self::Kind(k) => n.kind() == *k,
            Self::Case(c) => n.case_ref() == Some(c.as_str()),
            Self::Group(g) => n.to_groups().iter().any(|t| t == g),
        }
    }

    fn alias(&self) -> String {
        match self {
            Self::All => "all".into(),
            Self::Kind(k) => format!("kind-{}", k.as_str()),
            Self::Case(c) => format!("case-{c}"),
            Self::Group(g) => format!("group-{g}"),
        }
    }

    fn title(&self, org: &str) -> String {
        match self {
            Self::All => format!("Everything {org} holds"),
            Self::Kind(k) => {
                let words =
                    isop_core::json::enum_words("isop.v1.NoticeKind", k.to_pb().as_str_name());
                let mut title: Vec<char> = words.chars().collect();
                if let Some(c) = title.first_mut() {
                    *c = c.to_ascii_uppercase();
                }
                format!("{}s {org} holds", title.into_iter().collect::<String>())
            }
            Self::Case(c) => format!("Case {c}"),
            Self::Group(g) => format!("Notices to group {g}"),
        }
    }
}

/// Each collection.
fn scopes(api: &Api) -> Result<Vec<Scope>, ApiError> {
    let inner = &api.inner;
    let mut all = vec![Scope::All];
    all.extend(NoticeKind::ALL.into_iter().map(Scope::Kind));
    let cases = api.cases.look(
        inner,
        |cases, logged| {
            if let Some(c) = logged.notice.case_ref() {
                cases.insert(c.to_owned());
            }
        },
        Clone::clone,
    )?;
    all.extend(cases.into_iter().map(Scope::Case));
    let roster = inner.roster();
    all.extend(
        roster
            .groups()
            .iter()
            .filter(|(_, orgs)| orgs.contains(&inner.org))
            .map(|(id, _)| Scope::Group(id.clone())),
    );
    Ok(all)
}

fn collection_id(inner: &Inner, scope: &Scope) -> String {
    uuid::Uuid::new_v5(
        &isop_stix::ids::NAMESPACE,
        format!("collection:{}:{}", inner.org, scope.alias()).as_bytes(),
    )
    .to_string()
}

fn collection_view(inner: &Inner, scope: &Scope) -> Collection {
    Collection {
        id: collection_id(inner, scope),
        title: scope.title(inner.org.as_str()),
        description: Some(
            "STIX 2.1 objects made from the notices, with the fields this node holds revealed."
                .into(),
        ),
        alias: Some(scope.alias()),
        can_read: true,
        can_write: false,
        media_types: vec![STIX_MEDIA_TYPE.into()],
    }
}

fn find(api: &Api, id: &str) -> Result<Scope, ApiError> {
    scopes(api)?
        .into_iter()
        .find(|s| collection_id(&api.inner, s) == id)
        .ok_or_else(|| {
            not_found(format!(
                "no collection {id} (GET {ROOT}collections/ lists them)"
            ))
        })
}

async fn collections(State(api): State<Api>) -> Result<Response, ApiError> {
    let collections = scopes(&api)?
        .iter()
        .map(|s| collection_view(&api.inner, s))
        .collect();
    Ok(ok(&Collections { collections }))
}

async fn collection(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let scope = find(&api, &id)?;
    Ok(ok(&collection_view(&api.inner, &scope)))
}

/// The query a list of objects takes (TAXII 2.1 §3.4, §3.5).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    added_after: Option<String>,
    limit: Option<usize>,
    next: Option<String>,
    #[serde(rename = "match[id]")]
    id: Option<String>,
    #[serde(rename = "match[type]")]
    ty: Option<String>,
    #[serde(rename = "match[version]")]
    version: Option<String>,
    #[serde(rename = "match[spec_version]")]
    spec_version: Option<String>,
}

/// Which versions of an object a list holds.
#[derive(Debug)]
enum Wanted {
    Last,
    First,
    All,
    At(Vec<String>),
}

/// A filter, read.
struct Matching {
    added_after: Option<u64>,
    limit: usize,
    from: (u64, usize),
    /// The log size the first page was listed from.
    until: Option<u64>,
    ids: Option<Vec<String>>,
    types: Option<Vec<String>>,
    versions: Wanted,
    spec_ok: bool,
}

fn list(s: &Option<String>) -> Option<Vec<String>> {
    s.as_deref()
        .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect())
}

impl Matching {
    fn of(f: &Filter) -> Result<Self, ApiError> {
        let added_after = f
            .added_after
            .as_deref()
            .map(|t| {
                isop_core::json::parse_rfc3339(t).ok_or_else(|| {
                    bad_request(format!("added_after {t:?} is not an RFC 3339 time"))
                })
            })
            .transpose()?;
        // `next` is `{place}-{skip}-{log size}`: where the list goes on,
        // and the log it was listed from, so that a retraction logged
        // between two pages moves nothing in between.
        let (from, until) = match &f.next {
            None => ((0, 0), None),
            Some(n) => {
                let parts: Vec<u64> = n.split('-').filter_map(|p| p.parse().ok()).collect();
                match parts[..] {
                    [place, skip, size] if n.split('-').count() == 3 => (
                        (place, usize::try_from(skip).unwrap_or(usize::MAX)),
                        Some(size),
                    ),
                    _ => {
                        return Err(bad_request(format!(
                            "next {n:?} is not one this server gave"
                        )));
                    }
                }
            }
        };
        let versions = match f.version.as_deref() {
            None | Some("last") => Wanted::Last,
            Some("first") => Wanted::First,
            Some("all") => Wanted::All,
            Some(v) => {
                let at: Vec<String> = v.split(',').map(|s| s.trim().to_owned()).collect();
                if let Some(bad) = at.iter().find(|t| {
                    !matches!(t.as_str(), "last" | "first" | "all")
                        && isop_core::json::parse_rfc3339(t).is_none()
                }) {
                    return Err(bad_request(format!(
                        "match[version] {bad:?} is not last, first, all or an RFC 3339 time"
                    )));
                }
                Wanted::At(at)
            }
        };
        Ok(Self {
            added_after,
            limit: f.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
            from,
            until,
            ids: list(&f.id),
            types: list(&f.ty),
            versions,
            spec_ok: list(&f.spec_version)
                .is_none_or(|v| v.iter().any(|s| s == isop_stix::SPEC_VERSION)),
        })
    }
}

/// One object as a collection lists it.
struct Listed {
    date_added: u64,
    object: Object,
    /// The notice it was made from, with the revealed fields it carries.
    from: Option<(NoticeId, Vec<String>)>,
}

/// The version of an object as TAXII names it: its `modified`, or when it
/// was added if it has none (observables).
fn version_of(l: &Listed) -> String {
    match l.object.get("modified").and_then(Value::as_str) {
        Some(m) => m.to_owned(),
        None => isop_stix::timestamp(l.date_added),
    }
}

/// The objects every collection carries, first (`isop_stix::common::preamble`),
/// added when the log began: before every notice, so `date_added` ascends.
fn preamble(inner: &Inner) -> Result<Vec<Listed>, ApiError> {
    let began = inner
        .store
        .log_entry(LogIndex(0))?
        .map_or(0, |e| e.appended_at);
    let members = Member::of_roster(&inner.roster());
    Ok(common::preamble(&members)
        .into_iter()
        .map(|object| Listed {
            date_added: began,
            object,
            from: None,
        })
        .collect())
}

/// The retractions of `n` by its author this node holds, in log order.
fn retractions(inner: &Inner, n: &Notice, until: u64) -> Result<Vec<Retracted>, ApiError> {
    let mut out = Vec::new();
    for at in inner.store.replies(&n.id())? {
        if at.0 >= until {
            continue;
        }
        let Some(r) = inner.notice_at(at)? else {
            continue;
        };
        let Body::Retraction(body) = r.notice.body() else {
            continue;
        };
        if r.notice.author() != n.author() || body.notice_id.as_ref() != n.id().as_bytes() {
            continue;
        }
        out.push(Retracted {
            index: at.0,
            logged_at: r.entry.appended_at,
            created_at: r.notice.created_at().0,
            paths: (body.scope == pb::RetractionScope::Narrow as i32).then(|| body.paths.clone()),
        });
    }
    Ok(out)
}

/// The first checkpoint covering entry `at`; one is signed now if none
/// does yet, so that every notice listed names one.
fn covering(inner: &Inner, at: LogIndex) -> Result<Covering, ApiError> {
    let note = match inner.store.checkpoint_covering(at)? {
        Some((_, note)) => note,
        None => inner.checkpoint()?,
    };
    let cp = isop_core::Checkpoint::parse(note.text())
        .map_err(|e| super::shared::internal(format!("a stored checkpoint: {e}")))?;
    Ok(Covering {
        size: cp.size,
        root: hex::encode(cp.root),
    })
}

/// `n` (at `at`) as objects, stage by stage, with the revealed fields its
/// objects carry.
fn history(
    inner: &Inner,
    at: LogIndex,
    n: &Notice,
    until: u64,
) -> Result<(Vec<Stage>, Vec<String>), ApiError> {
    let view = notice_view(inner, at)?;
    let kind_of = |id: &str| -> Option<pb::NoticeKind> {
        let id: NoticeId = id.parse().ok()?;
        let at = inner.store.find_notice(&id).ok()??;
        Some(inner.notice_at(at).ok()??.notice.kind().to_pb())
    };
    let cx = Context {
        checkpoint: Some(covering(inner, at)?),
        kind_of: &kind_of,
    };
    let stages = isop_stix::history(&view, &cx, &retractions(inner, n, until)?)
        .map_err(|e| super::shared::internal(format!("mapping notice {} to STIX: {e}", n.id())))?;
    let paths = view.revealed.iter().map(|f| f.path.clone()).collect();
    Ok((stages, paths))
}

/// Keeps of `stage` the versions `wanted` asks for, by `all` (every
/// stage of the notice).
fn versions_wanted(
    stage: &Stage,
    all: &[Stage],
    wanted: &Wanted,
    from: &(NoticeId, Vec<String>),
) -> Vec<Listed> {
    let mut out = Vec::new();
    for o in &stage.objects {
        let id = str_of(o, "id");
        let l = Listed {
            date_added: stage.logged_at,
            object: o.clone(),
            from: Some(from.clone()),
        };
        let keep = match wanted {
            Wanted::All => true,
            Wanted::At(at) => {
                let v = version_of(&l);
                at.iter().any(|t| {
                    t == "all"
                        || *t == v
                        || isop_core::json::parse_rfc3339(t)
                            .is_some_and(|ms| Some(ms) == isop_core::json::parse_rfc3339(&v))
                })
            }
            Wanted::Last | Wanted::First => {
                let mut seen = all
                    .iter()
                    .filter(|s| s.objects.iter().any(|x| str_of(x, "id") == id))
                    .map(|s| s.index);
                let pick = if matches!(wanted, Wanted::Last) {
                    seen.next_back()
                } else {
                    seen.next()
                };
                pick == Some(stage.index)
            }
        };
        if keep {
            out.push(l);
        }
    }
    out
}

/// What entry `at` adds to the collection `scope`.
fn added_at(
    inner: &Inner,
    scope: &Scope,
    at: LogIndex,
    wanted: &Wanted,
    until: u64,
) -> Result<Vec<Listed>, ApiError> {
    let Some(logged) = inner.notice_at(at)? else {
        return Ok(Vec::new());
    };
    let n = &logged.notice;
    let mut out = Vec::new();
    if scope.holds(n) {
        let (stages, paths) = history(inner, at, n, until)?;
        if let Some(first) = stages.first() {
            out.extend(versions_wanted(first, &stages, wanted, &(n.id(), paths)));
        }
    }
    // A retraction makes new versions of what it retracts.
    if let Body::Retraction(r) = n.body()
        && let Ok(of) = NoticeId::from_slice(&r.notice_id)
        && let Some(of_at) = inner.store.find_notice(&of)?
        && let Some(retracted) = inner.notice_at(of_at)?
        && retracted.notice.author() == n.author()
        && scope.holds(&retracted.notice)
    {
        let (stages, paths) = history(inner, of_at, &retracted.notice, until)?;
        if let Some(stage) = stages.iter().find(|s| s.index == at.0) {
            out.extend(versions_wanted(stage, &stages, wanted, &(of, paths)));
        }
    }
    Ok(out)
}

/// A page of the collection `scope` under `m`, and the `next` that
/// continues it.
fn page(api: &Api, scope: &Scope, m: &Matching) -> Result<(Vec<Listed>, Option<String>), ApiError> {
    let inner = &api.inner;
    let size = m
        .until
        .map_or_else(|| inner.store.size(), |u| u.min(inner.store.size()));
    let (mut pos, mut skip) = m.from;
    let mut out = Vec::new();
    if !m.spec_ok {
        return Ok((out, None));
    }
    while pos <= size {
        let items = if pos == 0 {
            preamble(inner)?
        } else {
            let at = LogIndex(pos - 1);
            let logged_at = inner.store.log_entry(at)?.map_or(0, |e| e.appended_at);
            if m.added_after.is_some_and(|t| logged_at <= t) {
                Vec::new()
            } else {
                added_at(inner, scope, at, &m.versions, size)?
            }
        };
        let items = items.into_iter().filter(|l| {
            m.added_after.is_none_or(|t| l.date_added > t)
                && m.ids
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|i| i == str_of(&l.object, "id")))
                && m.types
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|t| t == str_of(&l.object, "type")))
        });
        for (k, l) in items.enumerate().skip(skip) {
            if out.len() == m.limit {
                return Ok((out, Some(format!("{pos}-{k}-{size}"))));
            }
            out.push(l);
        }
        skip = 0;
        pos += 1;
    }
    Ok((out, None))
}

/// [`page`] off the async runtime: a page maps notices, and a lookup of
/// one object may read a whole collection.
async fn page_apart(
    api: &Api,
    scope: &Scope,
    m: Matching,
) -> Result<(Vec<Listed>, Option<String>), ApiError> {
    let (api, scope) = (api.clone(), scope.clone());
    tokio::task::spawn_blocking(move || page(&api, &scope, &m))
        .await
        .map_err(|e| super::shared::internal(format!("a TAXII page: {e}")))?
}

/// Records the read of every notice whose objects `listed` holds.
fn record(api: &Api, user: &User, scope: &Scope, listed: &[Listed]) -> Result<(), ApiError> {
    let mut read: BTreeMap<NoticeId, &Vec<String>> = BTreeMap::new();
    for l in listed {
        if let Some((id, paths)) = &l.from {
            read.insert(*id, paths);
        }
    }
    let alias = scope.alias();
    api.record_reads(
        user,
        "taxii read",
        read.into_iter()
            .map(|(id, paths)| (id, format!("collection {alias}: {}", paths.join(", ")))),
    )?;
    Ok(())
}

fn added_headers(listed: &[Listed]) -> Vec<(&'static str, String)> {
    match (listed.first(), listed.last()) {
        (Some(a), Some(b)) => vec![
            (DATE_ADDED_FIRST, isop_stix::timestamp(a.date_added)),
            (DATE_ADDED_LAST, isop_stix::timestamp(b.date_added)),
        ],
        _ => Vec::new(),
    }
}

async fn objects(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    UrlPath(id): UrlPath<String>,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    let scope = find(&api, &id)?;
    let (listed, next) = page_apart(&api, &scope, Matching::of(&filter)?).await?;
    envelope(&api, &user, &scope, &listed, next)
}

/// A page of objects as TAXII's envelope, once their reads are recorded.
fn envelope(
    api: &Api,
    user: &User,
    scope: &Scope,
    listed: &[Listed],
    next: Option<String>,
) -> Result<Response, ApiError> {
    record(api, user, scope, listed)?;
    let envelope = Envelope {
        more: next.is_some(),
        next,
        objects: listed
            .iter()
            .map(|l| Value::Object(l.object.clone()))
            .collect(),
    };
    Ok(taxii(StatusCode::OK, &envelope, &added_headers(listed)))
}

async fn manifest(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    let scope = find(&api, &id)?;
    let (listed, next) = page_apart(&api, &scope, Matching::of(&filter)?).await?;
    let manifest = Manifest {
        more: next.is_some(),
        next,
        objects: listed
            .iter()
            .map(|l| ManifestRecord {
                id: str_of(&l.object, "id").to_owned(),
                date_added: isop_stix::timestamp(l.date_added),
                version: version_of(l),
                media_type: Some(STIX_MEDIA_TYPE.into()),
            })
            .collect(),
    };
    Ok(taxii(StatusCode::OK, &manifest, &added_headers(&listed)))
}

/// The filter for one object: its id, and `versions` unless the query
/// names others.
fn one_object(
    filter: Filter,
    object: String,
    versions: Option<&str>,
) -> Result<Matching, ApiError> {
    if filter.id.is_some() || filter.ty.is_some() {
        return Err(bad_request(
            "match[id] and match[type] do not apply to one object's URL",
        ));
    }
    let filter = Filter {
        id: Some(object),
        version: filter.version.or(versions.map(str::to_owned)),
        ..filter
    };
    Matching::of(&filter)
}

async fn object(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    UrlPath((id, object)): UrlPath<(String, String)>,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    let scope = find(&api, &id)?;
    let m = one_object(filter, object.clone(), None)?;
    let (listed, next) = page_apart(&api, &scope, m).await?;
    if listed.is_empty() {
        return Err(not_found(format!("no object {object} in collection {id}")));
    }
    envelope(&api, &user, &scope, &listed, next)
}

async fn versions(
    State(api): State<Api>,
    UrlPath((id, object)): UrlPath<(String, String)>,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    let scope = find(&api, &id)?;
    let m = one_object(filter, object.clone(), Some("all"))?;
    let (listed, next) = page_apart(&api, &scope, m).await?;
    if listed.is_empty() {
        return Err(not_found(format!("no object {object} in collection {id}")));
    }
    let versions = Versions {
        more: next.is_some(),
        next,
        versions: listed.iter().map(version_of).collect(),
    };
    Ok(taxii(StatusCode::OK, &versions, &added_headers(&listed)))
}

#[cfg(test)]
mod tests {
    use super::accepts_taxii;

    #[test]
    fn accept_takes_taxii_2_1_only() {
        for yes in [
            "application/taxii+json;version=2.1",
            "application/taxii+json",
            "application/json, application/taxii+json; version=2.1",
            "*/*",
        ] {
            assert!(accepts_taxii(yes), "{yes}");
        }
        for no in [
            "application/taxii+json;version=2.0",
            "application/json",
            "text/html",
        ] {
            assert!(!accepts_taxii(no), "{no}");
        }
    }
}
