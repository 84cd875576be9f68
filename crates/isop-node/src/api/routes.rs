//! The API's routes: each reads or acts through the node's state and
//! answers with one of the types of `isop_api`.

use std::collections::BTreeMap;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use isop_api::{
    Acted, Delivery, DeliveryState, ExportQuery, Health, ListQuery, MarkedRead, NoticeView, Page,
    Peer, QueryAnswer, QueryParams, Ready, Respond, RosterAccepted, Sent, Status, SubmitNotice,
    Summary, Time, Track,
};
use isop_core::{
    Clearance, LogIndex, NoticeDraft, NoticeId, NoticeKind, ReceiptOutcome, SignedReceipts,
    StatusUpdateBuilder, Tlp, pb,
};
use isop_store::DeliveryStatus;
use prometheus_client::encoding::text::encode;
use prost::Message;

use super::shared::{Api, ApiError, ApiResult, bad_request, internal, locate, notice_of};
use super::views::{notice_view, summary, thread};
use crate::metrics::Metrics;
use crate::state::Inner;
use crate::submit::enum_value;

/// The routes, each behind the token (see `docs/api.openapi.yaml`).
pub(super) fn router() -> Router<Api> {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/notices", post(submit))
        .route("/v1/notices/{id}", get(show))
        .route("/v1/notices/{id}/read", post(mark_read))
        .route("/v1/notices/{id}/track", get(track))
        .route("/v1/notices/{id}/respond", post(respond))
        .route("/v1/inbox", get(inbox))
        .route("/v1/sent", get(sent))
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

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

async fn readyz(State(api): State<Api>) -> Response {
    let inner = &api.inner;
    let not_ready = |why: String| {
        let r = Ready {
            ready: false,
            error: Some(why),
            org: None,
            roster_version: None,
            log_size: None,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(r)).into_response()
    };
    if *inner.shutdown.borrow() {
        return not_ready("the node is shutting down".into());
    }
    if let Err(e) = inner.store.outbox() {
        return not_ready(format!("the log cannot be read: {e}"));
    }
    Json(Ready {
        ready: true,
        error: None,
        org: Some(inner.org.to_string()),
        roster_version: Some(inner.roster().version()),
        log_size: Some(inner.store.size()),
    })
    .into_response()
}

/// The most items one page holds.
const MAX_PAGE: usize = 500;

async fn metrics(State(api): State<Api>) -> Response {
    let m = &api.inner.metrics;
    let mut depth: BTreeMap<String, i64> = BTreeMap::new();
    for item in api.inner.store.outbox().unwrap_or_default() {
        *depth.entry(item.recipient.to_string()).or_default() += 1;
    }
    m.roster_version
        .set(i64::try_from(api.inner.roster().version()).unwrap_or(i64::MAX));
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
        Err(e) => internal(e).into_response(),
    }
}

async fn status(State(api): State<Api>) -> ApiResult<Status> {
    let inner = &api.inner;
    let roster = inner.roster();
    let outbox = inner.store.outbox()?;
    let peers = roster
        .members()
        .filter(|m| m.org_id != inner.org)
        .map(|m| {
            let seen = inner.peer_seen(&m.org_id);
            Peer {
                org: m.org_id.to_string(),
                role: m.role.to_pb(),
                country: m.country.clone(),
                endpoint: m.endpoints.first().cloned(),
                outbox_depth: outbox.iter().filter(|i| i.recipient == m.org_id).count() as u64,
                reachable: match (&seen.last_error, seen.last_seen) {
                    (Some(_), _) => Some(false),
                    (None, Some(_)) => Some(true),
                    (None, None) => None,
                },
                last_seen: seen.last_seen.map(|t| Time(t.0)),
                last_error: seen.last_error,
            }
        })
        .collect();
    let last_checkpoint_size = inner
        .store
        .latest_checkpoint()?
        .and_then(|n| isop_core::Checkpoint::parse(n.text()).ok())
        .map(|c| c.size);
    Ok(Json(Status {
        org: inner.org.to_string(),
        roster_version: roster.version(),
        log_size: inner.store.size(),
        last_checkpoint_size,
        outbox_depth: outbox.len() as u64,
        split_views: inner
            .inconsistencies
            .load(std::sync::atomic::Ordering::Relaxed),
        peers,
    }))
}

fn sent_answer(sent: &crate::Sent) -> Sent {
    Sent {
        id: sent.id.to_string(),
        index: sent.index.0,
        recipients: sent.recipients.iter().map(ToString::to_string).collect(),
    }
}

async fn submit(State(api): State<Api>, Json(req): Json<SubmitNotice>) -> ApiResult<Sent> {
    let draft = crate::submit::draft(req)?;
    let sent = crate::send::send(&api.inner, draft).await?;
    Ok(Json(sent_answer(&sent)))
}

async fn show(State(api): State<Api>, UrlPath(id): UrlPath<String>) -> ApiResult<NoticeView> {
    let (_, at) = locate(&api.inner, &id)?;
    Ok(Json(notice_view(&api.inner, at)?))
}

async fn mark_read(State(api): State<Api>, UrlPath(id): UrlPath<String>) -> ApiResult<MarkedRead> {
    let (_, at) = locate(&api.inner, &id)?;
    api.inner.store.mark_read(at).map_err(bad_request)?;
    Ok(Json(MarkedRead {
        index: at.0,
        read: true,
    }))
}

/// What the receipt logged at `at` says of notice `id`.
fn receipt_outcome(inner: &Inner, at: LogIndex, id: &NoticeId) -> Option<(ReceiptOutcome, u64)> {
    let entry = inner.store.log_entry(at).ok()??;
    let Some(pb::log_entry::Record::Envelope(bytes)) = entry.record else {
        return None;
    };
    let env = pb::Envelope::decode(bytes).ok()?;
    SignedReceipts::open(&env)
        .ok()?
        .into_receipts()
        .into_iter()
        .find(|r| r.notice_id() == Some(*id))
        .map(|r| (r.outcome().clone(), r.received_at().0))
}

fn delivery(inner: &Inner, id: &NoticeId, recipient: String, s: DeliveryStatus) -> Delivery {
    let mut d = Delivery {
        recipient,
        state: DeliveryState::Unknown,
        attempts: 0,
        last_error: None,
        next_attempt: None,
        receipt_index: None,
        receipt_at: None,
    };
    match s {
        DeliveryStatus::Pending {
            attempts,
            next_attempt,
            last_error,
        } => {
            d.state = DeliveryState::Queued;
            d.attempts = attempts;
            d.next_attempt = Some(Time(next_attempt.0));
            d.last_error = Some(last_error).filter(|e| !e.is_empty());
        }
        DeliveryStatus::Delivered { receipt } | DeliveryStatus::Rejected { receipt } => {
            d.receipt_index = Some(receipt.0);
            d.state = DeliveryState::Delivered;
            if let Some((outcome, at)) = receipt_outcome(inner, receipt, id) {
                d.receipt_at = Some(Time(at));
                match outcome {
                    ReceiptOutcome::Accepted(_) => {}
                    ReceiptOutcome::Duplicate(_) => d.state = DeliveryState::Duplicate,
                    ReceiptOutcome::Rejected { code, reason, .. } => {
                        d.state = DeliveryState::Rejected;
                        d.last_error = Some(format!("{}: {reason}", code.as_str_name()));
                    }
                }
            }
        }
        DeliveryStatus::Unknown => {}
    }
    d
}

async fn track(State(api): State<Api>, UrlPath(id): UrlPath<String>) -> ApiResult<Track> {
    let inner = &api.inner;
    let (id, at) = locate(inner, &id)?;
    let recipients = inner
        .store
        .delivery_status(at)?
        .into_iter()
        .map(|(org, s)| delivery(inner, &id, org.to_string(), s))
        .collect();
    let mut replies = Vec::new();
    for r in thread(inner, &id)? {
        if let Some(s) = inner
            .store
            .find_notice(&r.notice.id())?
            .map(|at| summary(inner, at))
            .transpose()?
            .flatten()
        {
            replies.push(s);
        }
    }
    Ok(Json(Track {
        id: id.to_string(),
        index: at.0,
        recipients,
        thread: replies,
    }))
}

async fn respond(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    Json(r): Json<Respond>,
) -> ApiResult<Sent> {
    let inner = &api.inner;
    let (id, at) = locate(inner, &id)?;
    let referral = notice_of(inner, at)?;
    if referral.kind() != NoticeKind::Referral {
        return Err(bad_request(format!(
            "notice {id} is a {}, not a referral",
            referral.kind()
        )));
    }
    let status = enum_value(
        "status",
        "isop.v1.ReferralStatus",
        &r.status,
        pb::ReferralStatus::from_str_name,
    )?;
    let mut answer = StatusUpdateBuilder::new(id, status).reason(&r.reason);
    if let Some(a) = &r.action {
        let action = enum_value(
            "action",
            "isop.v1.ActionType",
            a,
            pb::ActionType::from_str_name,
        )?;
        answer = answer.action_taken(action, inner.now(), &r.details);
    }
    let mut draft = NoticeDraft::new(Tlp::Amber, answer.build())
        .to_org(referral.author())
        .in_reply_to(id);
    if let Some(c) = referral.case_ref() {
        draft = draft.case_ref(c);
    }
    let sent = crate::send::send(inner, draft).await?;
    Ok(Json(sent_answer(&sent)))
}

/// A page of `candidates` (entries, oldest first, with their read flag
/// for an inbox), newest first, as `q` filters and pages it.
fn page(
    inner: &Inner,
    candidates: Vec<(LogIndex, Option<bool>)>,
    q: &ListQuery,
) -> Result<Page, ApiError> {
    let kind = q
        .kind
        .as_deref()
        .map(|k| {
            enum_value(
                "kind",
                "isop.v1.NoticeKind",
                k,
                pb::NoticeKind::from_str_name,
            )
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let mut items: Vec<Summary> = Vec::new();
    let mut more = 0;
    let in_range =
        |at: &LogIndex| q.before.is_none_or(|b| at.0 < b) && q.since.is_none_or(|s| at.0 > s);
    for (at, read) in candidates.into_iter().rev().filter(|(at, _)| in_range(at)) {
        // Past a full page, only a kind filter needs the notice to count it.
        if items.len() >= limit && kind.is_none() {
            more += 1;
            continue;
        }
        let Some(mut s) = summary(inner, at)? else {
            continue;
        };
        if kind.is_some_and(|k| s.kind != k) {
            continue;
        }
        if items.len() >= limit {
            more += 1;
            continue;
        }
        s.read = read;
        items.push(s);
    }
    let next_before = if more > 0 {
        items.last().map(|s| s.index)
    } else {
        None
    };
    Ok(Page {
        items,
        more,
        next_before,
    })
}

async fn inbox(State(api): State<Api>, Query(q): Query<ListQuery>) -> ApiResult<Page> {
    let candidates = api
        .inner
        .store
        .inbox(q.unread)?
        .into_iter()
        .map(|(at, read)| (at, Some(read)))
        .collect();
    Ok(Json(page(&api.inner, candidates, &q)?))
}

/// What this node wrote and sent, newest first.
async fn sent(State(api): State<Api>, Query(q): Query<ListQuery>) -> ApiResult<Page> {
    if q.unread {
        return Err(bad_request(
            "unread= is for the inbox, not for what was sent",
        ));
    }
    let candidates = api
        .inner
        .store
        .by_author(&api.inner.org)?
        .into_iter()
        .map(|at| (at, None))
        .collect();
    Ok(Json(page(&api.inner, candidates, &q)?))
}

/// Who referred this, and who acted: the notices naming an indicator or a
/// case, and the answers to the referrals among them.
async fn query(State(api): State<Api>, Query(q): Query<QueryParams>) -> ApiResult<QueryAnswer> {
    let inner = &api.inner;
    let store = &inner.store;
    let hits = match (&q.indicator, &q.case) {
        (Some(i), None) => store.by_indicator(i)?,
        (None, Some(c)) => store.by_case(c)?,
        _ => return Err(bad_request("give exactly one of indicator= and case=")),
    };
    let mut notices = Vec::new();
    let mut referred_by = Vec::new();
    let mut acted = Vec::new();
    for at in hits {
        let Some(s) = summary(inner, at)? else {
            continue;
        };
        if s.kind == pb::NoticeKind::Referral {
            referred_by.push(s.author.clone());
            let id: NoticeId = s.id.parse().map_err(internal)?;
            for r in thread(inner, &id)? {
                if let isop_core::pb::notice::Body::StatusUpdate(u) = r.notice.body() {
                    acted.push(Acted {
                        org: r.notice.author().to_string(),
                        referral: s.id.clone(),
                        status: pb::ReferralStatus::try_from(u.status).unwrap_or_default(),
                        at: Time(r.notice.created_at().0),
                    });
                }
            }
        }
        notices.push(s);
    }
    referred_by.sort();
    referred_by.dedup();
    Ok(Json(QueryAnswer {
        notices,
        referred_by,
        acted,
    }))
}

async fn checkpoint(State(api): State<Api>) -> Result<String, ApiError> {
    Ok(api.inner.checkpoint()?.to_string())
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
async fn push_roster(State(api): State<Api>, body: axum::body::Bytes) -> ApiResult<RosterAccepted> {
    let env = pb::Envelope::decode(body)
        .map_err(|e| bad_request(format!("not a roster envelope: {e}")))?;
    let version = api.inner.accept_roster(&env, None)?;
    Ok(Json(RosterAccepted { version }))
}
