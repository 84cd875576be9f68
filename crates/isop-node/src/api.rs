//! The local API: HTTP and JSON on loopback for the CLI and partners'
//! systems, with a bearer token; Prometheus metrics at `/metrics`.
//! `docs/api.openapi.yaml` documents it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use isop_core::pb::field_value::Value;
use isop_core::{Clearance, LogIndex, Notice, NoticeId, RevealedField, indicator, pb};
use isop_store::DeliveryStatus;
use prometheus_client::encoding::text::encode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{check_private, write_private};
use crate::metrics::Metrics;
use crate::state::{Held, Inner};
use crate::submit::SubmitNotice;
use crate::{Error, Fault};

/// The largest request body accepted.
const MAX_BODY: usize = 1 << 20;
/// The most inbox items one page holds.
const MAX_PAGE: usize = 500;

/// Reads the API token, or makes one (32 random bytes, hex, written 0600).
pub(crate) fn token(path: &Path) -> Result<String, Error> {
    if path.exists() {
        check_private(path)?;
        let t = std::fs::read_to_string(path).map_err(|e| Error::KeyFile {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let t = t.trim().to_owned();
        if t.len() < 32 {
            return Err(Error::KeyFile {
                path: path.display().to_string(),
                why: "the API token is shorter than 32 characters".into(),
            });
        }
        return Ok(t);
    }
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let t = hex::encode(raw);
    write_private(path, format!("{t}\n").as_bytes())?;
    Ok(t)
}

#[derive(Clone)]
struct Api {
    inner: Arc<Inner>,
    token: Arc<String>,
}

/// An API error: a status and a message naming the problem.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e.fault() {
            Fault::Invalid => StatusCode::BAD_REQUEST,
            Fault::Forbidden => StatusCode::FORBIDDEN,
            Fault::NotFound => StatusCode::NOT_FOUND,
            Fault::Peer => StatusCode::BAD_GATEWAY,
            Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, e.to_string())
    }
}

impl From<isop_store::Error> for ApiError {
    fn from(e: isop_store::Error) -> Self {
        Error::Store(e).into()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

/// Serves the API on `listener` until the node stops.
pub(crate) async fn serve(inner: Arc<Inner>, listener: tokio::net::TcpListener, token: String) {
    let api = Api {
        inner: inner.clone(),
        token: Arc::new(token),
    };
    let v1 = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/notices", post(submit))
        .route("/v1/notices/{id}", get(show))
        .route("/v1/notices/{id}/read", post(mark_read))
        .route("/v1/notices/{id}/delivery", get(delivery))
        .route("/v1/notices/{id}/respond", post(respond))
        .route("/v1/inbox", get(inbox))
        .route("/v1/query", get(query))
        .route("/v1/checkpoint", get(checkpoint))
        .route("/v1/export", get(export))
        .route("/v1/roster", post(push_roster))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(api.clone(), authorize));
    let app = Router::new()
        .merge(v1)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api);
    let mut stop = inner.shutdown.subscribe();
    let served = axum::serve(listener, app).with_graceful_shutdown(async move {
        // wait_for sees a shutdown sent before this task subscribed.
        let _ = stop.wait_for(|stopping| *stopping).await;
    });
    if let Err(e) = served.await {
        tracing::error!(error = %e, "the local API stopped");
    }
}

/// Requires `Authorization: Bearer <token>`, compared in constant time.
async fn authorize(State(api): State<Api>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = given.is_some_and(|g| {
        g.len() == api.token.len()
            && g.bytes()
                .zip(api.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !ok {
        let why = if given.is_none() {
            "missing bearer token"
        } else {
            "wrong bearer token"
        };
        return ApiError(StatusCode::UNAUTHORIZED, why.into()).into_response();
    }
    next.run(request).await
}

async fn metrics(State(api): State<Api>) -> Response {
    let m = &api.inner.metrics;
    let mut depth: BTreeMap<String, i64> = BTreeMap::new();
    for item in api.inner.store.outbox().unwrap_or_default() {
        *depth.entry(item.recipient.to_string()).or_default() += 1;
    }
    m.outbox_depth.clear();
    for (peer, n) in depth {
        m.outbox_depth
            .get_or_create(&Metrics::label("peer", peer))
            .set(n);
    }
    let mut out = String::new();
    match encode(&mut out, m.registry()) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            out,
        )
            .into_response(),
        Err(e) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Serialize)]
struct Peer {
    org: String,
    role: String,
    country: String,
    endpoint: Option<String>,
    outbox_depth: usize,
}

async fn status(State(api): State<Api>) -> ApiResult<serde_json::Value> {
    let inner = &api.inner;
    let roster = inner.roster();
    let outbox = inner.store.outbox()?;
    let peers: Vec<Peer> = roster
        .members()
        .filter(|m| m.org_id != inner.org)
        .map(|m| Peer {
            org: m.org_id.to_string(),
            role: m.role.to_string(),
            country: m.country.clone(),
            endpoint: m.endpoints.first().cloned(),
            outbox_depth: outbox.iter().filter(|i| i.recipient == m.org_id).count(),
        })
        .collect();
    let checkpoint = inner
        .store
        .latest_checkpoint()?
        .and_then(|n| isop_core::Checkpoint::parse(n.text()).ok())
        .map(|c| c.size);
    Ok(Json(json!({
        "org": inner.org.to_string(),
        "roster_version": roster.version(),
        "log_size": inner.store.size(),
        "last_checkpoint_size": checkpoint,
        "outbox_depth": outbox.len(),
        "split_views": inner.inconsistencies.load(std::sync::atomic::Ordering::Relaxed),
        "peers": peers,
    })))
}

async fn submit(
    State(api): State<Api>,
    Json(req): Json<SubmitNotice>,
) -> ApiResult<serde_json::Value> {
    let draft = req.into_draft(api.inner.now())?;
    let sent = crate::send::send(&api.inner, draft).await?;
    Ok(Json(sent_json(&sent)))
}

/// The answer to a notice sent: its id, its OUTBOUND entry, its recipients.
fn sent_json(sent: &crate::Sent) -> serde_json::Value {
    json!({ "id": sent.id.to_string(), "index": sent.index.0, "recipients": sent.recipients.iter().map(ToString::to_string).collect::<Vec<_>>() })
}

fn parse_id(id: &str) -> Result<NoticeId, ApiError> {
    id.parse()
        .map_err(|e: isop_core::Error| ApiError(StatusCode::BAD_REQUEST, e.to_string()))
}

/// The notice `id` names, and where this node's log holds it.
fn locate(inner: &Inner, id: &str) -> Result<(NoticeId, LogIndex), ApiError> {
    let id = parse_id(id)?;
    let at = inner
        .store
        .find_notice(&id)?
        .ok_or_else(|| not_found(format!("notice {id} is not in this log")))?;
    Ok((id, at))
}

fn render(v: &Value) -> serde_json::Value {
    match v {
        Value::Text(t) => json!(t),
        Value::Binary(b) => json!({ "binary_bytes": b.len() }),
        Value::Indicator(i) => {
            json!({ "indicator": { "kind": pb::IndicatorKind::try_from(i.kind).map(|k| k.as_str_name()).unwrap_or("?"), "value": i.value, "context": i.context } })
        }
        Value::Contact(c) => {
            json!({ "contact": { "name": c.name, "email": c.email, "phone": c.phone, "organisation": c.organisation } })
        }
        Value::Person(p) => {
            json!({ "person": { "name": p.name, "date_of_birth": p.date_of_birth, "nationality": p.nationality, "aliases": p.aliases } })
        }
    }
}

/// Each name in the notice (its target, its indicators, in the clear or
/// revealed, a contact's e-mail address) that holds an IDNA A-label, with
/// its Unicode form, so that a look-alike shows for what it is.
fn idna_forms(n: &Notice, revealed: &[RevealedField]) -> Vec<serde_json::Value> {
    let mut names: Vec<&str> = indicator::in_body(n.body())
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    for f in revealed {
        match &f.value {
            Value::Indicator(i) => names.push(&i.value),
            Value::Contact(c) => names.push(&c.email),
            _ => {}
        }
    }
    names
        .into_iter()
        .filter_map(|ascii| {
            indicator::unicode_form(ascii)
                .map(|unicode| json!({ "ascii": ascii, "unicode": unicode }))
        })
        .collect()
}

/// A notice as this node holds it, with what its log says about it.
fn notice_json(inner: &Inner, at: LogIndex) -> Result<serde_json::Value, ApiError> {
    let Held {
        entry,
        notice: n,
        verified,
        erased,
    } = inner
        .held(at)?
        .ok_or_else(|| not_found(format!("entry {at} is not a notice")))?;
    let erased: Vec<_> = erased
        .into_iter()
        .map(|(digest, e)| json!({ "digest": hex::encode(digest), "reason": e.reason, "erased_at": e.erased_at }))
        .collect();
    let (revealed, withheld, idna) = match verified {
        Ok(v) => (
            v.revealed().iter().map(|f| json!({ "path": f.path, "label": f.label.to_string(), "value": render(&f.value) })).collect::<Vec<_>>(),
            v.withheld().iter().map(|w| json!({ "path": w.path, "label": w.label.to_string() })).collect::<Vec<_>>(),
            idna_forms(&n, v.revealed()),
        ),
        Err(e) => return Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("entry {at} no longer verifies: {e}"))),
    };
    let read = inner
        .store
        .inbox(false)?
        .iter()
        .find(|(i, _)| *i == at)
        .map(|(_, r)| *r);
    Ok(json!({
        "index": at.0,
        "direction": pb::Direction::try_from(entry.direction).map(|d| d.as_str_name()).unwrap_or("?"),
        "peer": entry.peer,
        "id": n.id().to_string(),
        "kind": n.kind().to_string(),
        "author": n.author().to_string(),
        "created_at": n.created_at().0,
        "tlp": n.tlp().to_string(),
        "to_orgs": n.to_orgs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "to_groups": n.to_groups(),
        "case_ref": n.case_ref(),
        "in_reply_to": n.in_reply_to().map(|i| i.to_string()),
        "body": format!("{:#?}", n.body()),
        "revealed": revealed,
        "withheld": withheld,
        "idna": idna,
        "erased": erased,
        "read": read,
    }))
}

async fn show(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<serde_json::Value> {
    let (_, at) = locate(&api.inner, &id)?;
    Ok(Json(notice_json(&api.inner, at)?))
}

async fn mark_read(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<serde_json::Value> {
    let (_, at) = locate(&api.inner, &id)?;
    api.inner
        .store
        .mark_read(at)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok(Json(json!({ "index": at.0, "read": true })))
}

async fn delivery(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<serde_json::Value> {
    let (id, at) = locate(&api.inner, &id)?;
    let rows: Vec<_> = api
        .inner
        .store
        .delivery_status(at)?
        .into_iter()
        .map(|(org, s)| match s {
            DeliveryStatus::Pending { attempts, next_attempt, last_error } => {
                json!({ "recipient": org.to_string(), "state": "pending", "attempts": attempts, "next_attempt": next_attempt.0, "last_error": last_error })
            }
            DeliveryStatus::Delivered { receipt } => json!({ "recipient": org.to_string(), "state": "delivered", "receipt_index": receipt.0 }),
            DeliveryStatus::Rejected { receipt } => json!({ "recipient": org.to_string(), "state": "rejected", "receipt_index": receipt.0 }),
            DeliveryStatus::Unknown => json!({ "recipient": org.to_string(), "state": "unknown" }),
        })
        .collect();
    Ok(Json(
        json!({ "id": id.to_string(), "index": at.0, "recipients": rows }),
    ))
}

/// An answer to a referral.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Respond {
    status: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    details: String,
}

async fn respond(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    Json(r): Json<Respond>,
) -> ApiResult<serde_json::Value> {
    let inner = &api.inner;
    let (id, at) = locate(inner, &id)?;
    let referral = notice_of(inner, at)?;
    if referral.kind() != isop_core::NoticeKind::Referral {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("notice {id} is a {}, not a referral", referral.kind()),
        ));
    }
    let body = crate::submit::Body::Status {
        referral: id.to_string(),
        status: r.status,
        reason: r.reason,
        action: r.action,
        taken_at: None,
        details: r.details,
    };
    let req = SubmitNotice {
        tlp: crate::submit::TlpName::Amber,
        to_orgs: vec![referral.author().to_string()],
        to_groups: vec![],
        case_ref: referral.case_ref().map(Into::into),
        in_reply_to: Some(id.to_string()),
        labelled: vec![],
        body,
    };
    let sent = crate::send::send(inner, req.into_draft(inner.now())?).await?;
    Ok(Json(sent_json(&sent)))
}

fn notice_of(inner: &Inner, at: LogIndex) -> Result<Notice, ApiError> {
    Ok(inner
        .notice_at(at)?
        .ok_or_else(|| not_found(format!("entry {at} is not a notice")))?
        .notice)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxQuery {
    #[serde(default)]
    unread: bool,
    kind: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

fn summary(inner: &Inner, at: LogIndex) -> Option<serde_json::Value> {
    let n = notice_of(inner, at).ok()?;
    Some(
        json!({ "index": at.0, "id": n.id().to_string(), "kind": n.kind().to_string(), "author": n.author().to_string(), "created_at": n.created_at().0, "tlp": n.tlp().to_string(), "case_ref": n.case_ref() }),
    )
}

async fn inbox(
    State(api): State<Api>,
    Query(q): Query<InboxQuery>,
) -> ApiResult<serde_json::Value> {
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let items: Vec<_> = api
        .inner
        .store
        .inbox(q.unread)?
        .into_iter()
        .filter_map(|(at, read)| {
            let mut s = summary(&api.inner, at)?;
            s["read"] = json!(read);
            Some(s)
        })
        .filter(|s| q.kind.as_deref().is_none_or(|k| s["kind"] == k))
        .skip(q.offset)
        .take(limit)
        .collect();
    Ok(Json(json!({ "offset": q.offset, "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryParams {
    indicator: Option<String>,
    case: Option<String>,
}

/// Who referred this, and who acted: the notices naming an indicator or a
/// case, with the answers to them.
async fn query(
    State(api): State<Api>,
    Query(q): Query<QueryParams>,
) -> ApiResult<serde_json::Value> {
    let store = &api.inner.store;
    let hits = match (&q.indicator, &q.case) {
        (Some(i), None) => store.by_indicator(i)?,
        (None, Some(c)) => store.by_case(c)?,
        _ => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "give exactly one of indicator= and case=".into(),
            ));
        }
    };
    let mut notices = Vec::new();
    let mut referrers = Vec::new();
    for at in hits {
        let Some(s) = summary(&api.inner, at) else {
            continue;
        };
        if s["kind"] == "referral" {
            referrers.push(s["author"].clone());
        }
        notices.push(s);
    }
    referrers.sort_by_key(ToString::to_string);
    referrers.dedup();
    Ok(Json(
        json!({ "notices": notices, "referred_by": referrers }),
    ))
}

async fn checkpoint(State(api): State<Api>) -> Result<String, ApiError> {
    Ok(api.inner.checkpoint()?.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// Comma-separated clearance tokens the disclosures are chosen for.
    #[serde(default)]
    clearance: String,
}

/// Streams the log as one export file, with the disclosures `clearance` allows.
async fn export(State(api): State<Api>, Query(q): Query<ExportQuery>) -> Response {
    let clearance = Clearance::from_tokens(
        q.clearance
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty()),
    );
    let (reader, writer) = tokio::io::duplex(1 << 16);
    let inner = api.inner.clone();
    tokio::task::spawn_blocking(move || {
        let writer = tokio_util::io::SyncIoBridge::new(writer);
        if let Err(e) = inner.export(writer, &clearance) {
            tracing::error!(error = %e, "export failed");
        }
    });
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(reader));
    (
        [(header::CONTENT_TYPE, "application/vnd.isop.export.v1")],
        body,
    )
        .into_response()
}

/// Takes a newer signed roster (its envelope's bytes) and passes it on.
async fn push_roster(
    State(api): State<Api>,
    body: axum::body::Bytes,
) -> ApiResult<serde_json::Value> {
    use prost::Message;
    let env = pb::Envelope::decode(body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("not a roster envelope: {e}"),
        )
    })?;
    let version = api.inner.accept_roster(&env, None)?;
    Ok(Json(json!({ "version": version })))
}

#[cfg(test)]
mod tests {
    /// docs/api.openapi.yaml documents exactly the routes the router serves.
    #[test]
    fn the_openapi_file_matches_the_router() {
        let source = include_str!("api.rs");
        let doc = include_str!("../../../docs/api.openapi.yaml");
        let served: Vec<&str> = source
            .match_indices(".route(\"")
            .map(|(i, m)| &source[i + m.len()..])
            .filter_map(|s| s.split('"').next())
            .collect();
        assert!(served.len() >= 11, "{served:?}");
        for path in &served {
            assert!(
                doc.contains(&format!("\n  {path}:\n")),
                "{path} is served but not documented"
            );
        }
        let documented: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("  /") && l.ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':'))
            .collect();
        for path in documented {
            assert!(
                served.contains(&path),
                "{path} is documented but not served"
            );
        }
    }
}
