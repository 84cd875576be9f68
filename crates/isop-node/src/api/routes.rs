//! The API's routes: each reads or acts through the node's state and
//! answers with a view.

use std::collections::BTreeMap;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use isop_core::{Clearance, NoticeKind, pb};
use isop_store::DeliveryStatus;
use prometheus_client::encoding::text::encode;
use serde::Deserialize;
use serde_json::json;

use super::shared::{Api, ApiError, ApiResult, locate, notice_of};
use super::views::{Peer, notice_json, sent_json, summary};
use crate::metrics::Metrics;
use crate::submit::SubmitNotice;

/// The routes, each behind the token (see `docs/api.openapi.yaml`).
pub(super) fn router() -> Router<Api> {
    Router::new()
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
}

/// The health probes: `/healthz` (the process serves) and `/readyz` (the
/// node takes work: not shutting down, its log readable).
pub(super) fn probes() -> Router<Api> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(api): State<Api>) -> Response {
    let inner = &api.inner;
    let not_ready = |why: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "error": why })),
        )
            .into_response()
    };
    if *inner.shutdown.borrow() {
        return not_ready("the node is shutting down".into());
    }
    if let Err(e) = inner.store.outbox() {
        return not_ready(format!("the log cannot be read: {e}"));
    }
    Json(json!({
        "ready": true,
        "org": inner.org.to_string(),
        "roster_version": inner.roster().version(),
        "log_size": inner.store.size(),
    }))
    .into_response()
}

/// The most inbox items one page holds.
const MAX_PAGE: usize = 500;

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

async fn inbox(
    State(api): State<Api>,
    Query(q): Query<InboxQuery>,
) -> ApiResult<serde_json::Value> {
    if let Some(kind) = &q.kind
        && !NoticeKind::ALL.iter().any(|k| k.as_str() == kind)
    {
        let kinds: Vec<&str> = NoticeKind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("kind {kind:?} is not one of {}", kinds.join(", ")),
        ));
    }
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
