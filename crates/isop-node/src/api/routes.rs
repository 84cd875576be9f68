//! The API's routes: each reads or acts through the node's state and
//! answers with one of the types of `isop_api`.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path as UrlPath, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use isop_api::{
    AuditReport, Checked, CheckpointView, CorrelationQuery, Correlations, Delivery, DeliveryState,
    EraseRequest, ErasedField, ErasedFields, ExportQuery, Federation, FieldLabel, GroupView,
    Health, InLog, KeyView, ListQuery, LogView, MarkedRead, Me, MemberView, NewUser, NodeIdentity,
    NoticeView, Page, Peer, Preview, QueryAnswer, QueryParams, Ready, RecipientView, Respond,
    RosterAccepted, SendRule, Sent, Status, SubmitNotice, Summary, Time, Track, UserToken,
    UserView, Withheld, Witnessed,
};
use isop_core::json::enum_value;
use isop_core::{
    Clearance, LogIndex, NoticeDraft, NoticeId, NoticeKind, ReceiptOutcome, Redaction,
    SignedReceipts, StatusUpdateBuilder, Tlp, pb,
};
use isop_store::DeliveryStatus;
use prometheus_client::encoding::text::encode;
use prost::Message;

use super::search::Filters;
use super::shared::{Api, ApiError, ApiResult, bad_request, internal, locate, notice_of};
use super::views::{
    in_log, notice_view, overlap_view, signers, summary_of, thread, withheld_reason,
};
use crate::metrics::Metrics;
use crate::state::Inner;
use crate::users::{Permission, Role, User};

/// The routes, each behind a user's token and the permission
/// [`permission`] names (see `docs/api.openapi.yaml`).
pub(super) fn router() -> Router<Api> {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/federation", get(federation))
        .route("/v1/notices", post(submit))
        .route("/v1/notices/check", post(check))
        .route("/v1/notices/preview", post(preview))
        .route("/v1/notices/{id}", get(show))
        .route("/v1/notices/{id}/read", post(mark_read))
        .route("/v1/notices/{id}/proof", get(proof))
        .route("/v1/notices/{id}/erase", post(erase))
        .route("/v1/retention", get(retention_due).post(retention_apply))
        .route("/v1/notices/{id}/track", get(track))
        .route("/v1/notices/{id}/respond", post(respond))
        .route("/v1/notices/{id}/respond/check", post(check_respond))
        .route("/v1/inbox", get(inbox))
        .route("/v1/sent", get(sent))
        .route("/v1/query", get(query))
        .route("/v1/correlations", get(correlations))
        .route("/v1/match", post(match_with))
        .route("/v1/checkpoint", get(checkpoint))
        .route("/v1/export", get(export))
        .route("/v1/audit", post(audit))
        .route("/v1/roster", post(push_roster))
        .route("/v1/node/reload", post(reload))
        .route("/v1/me", get(me))
        .route("/v1/users", get(users).post(add_user))
        .route("/v1/users/{name}", delete(remove_user))
        .route("/v1/users/{name}/token", post(renew_token))
        .route("/metrics", get(metrics))
}

/// What each route does, as roles permit it: one place, beside the routes.
/// A route not named here needs an admin.
pub(super) fn permission(method: &Method, path: &str) -> Permission {
    use Permission as P;
    if super::taxii::is_taxii(path) {
        return P::ReadReceived;
    }
    match (method.as_str(), path) {
        (_, "/v1/status" | "/v1/federation" | "/v1/checkpoint" | "/metrics" | "/v1/me")
        | ("GET", "/v1/notices/{id}/proof") => P::Status,
        ("GET", "/v1/inbox" | "/v1/notices/{id}" | "/v1/query" | "/v1/correlations")
        | ("POST", "/v1/notices/{id}/read") => P::ReadReceived,
        ("GET", "/v1/sent" | "/v1/notices/{id}/track") => P::ReadSent,
        (
            "POST",
            "/v1/notices"
            | "/v1/notices/check"
            | "/v1/notices/preview"
            | "/v1/notices/{id}/respond"
            | "/v1/notices/{id}/respond/check",
        ) => P::Send,
        ("POST", "/v1/notices/{id}/erase") | (_, "/v1/retention") => P::Erase,
        ("GET", "/v1/export") | ("POST", "/v1/audit") => P::Export,
        ("POST", "/v1/roster" | "/v1/node/reload") => P::Operate,
        ("POST", "/v1/match") => P::Match,
        _ => P::Users,
    }
}

fn user_view(u: &User) -> UserView {
    UserView {
        name: u.name.clone(),
        role: u.role.as_str().into(),
        added_at: Time(u.added_at),
    }
}

/// `GET /v1/me`: who the token is, and what they may do.
async fn me(Extension(user): Extension<User>) -> Json<Me> {
    Json(Me {
        name: user.name.clone(),
        role: user.role.as_str().into(),
        may: Permission::ALL
            .iter()
            .filter(|p| user.role.permits(**p))
            .map(|p| p.as_str().into())
            .collect(),
    })
}

async fn users(State(api): State<Api>) -> ApiResult<Vec<UserView>> {
    Ok(Json(api.users.list().iter().map(user_view).collect()))
}

/// `POST /v1/users`: a new user, and its token, shown this once.
async fn add_user(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Json(new): Json<NewUser>,
) -> ApiResult<UserToken> {
    let role = Role::parse(&new.role)?;
    let token = api.users.add(&new.name, role, api.inner.now().0)?;
    api.record(
        &user,
        "user add",
        None,
        false,
        &format!("{} as {}", new.name, role.as_str()),
    )?;
    Ok(Json(UserToken {
        name: new.name,
        role: role.as_str().into(),
        token,
    }))
}

async fn remove_user(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<UserView> {
    let gone = api.users.remove(&name)?;
    api.record(&user, "user remove", None, false, &name)?;
    Ok(Json(user_view(&gone)))
}

/// `POST /v1/users/{name}/token`: a new token for a user (the old one
/// stops working), shown this once.
async fn renew_token(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<UserToken> {
    let (renewed, token) = api.users.renew(&name)?;
    api.record(&user, "user token", None, false, &name)?;
    Ok(Json(UserToken {
        name,
        role: renewed.role.as_str().into(),
        token,
    }))
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
    if let Some(why) = inner.store.failure() {
        return not_ready(format!(
            "the log takes no more writes until the node restarts: {why}"
        ));
    }
    if let Err(e) = inner.store.room() {
        return not_ready(e.to_string());
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

/// The size the latest signed checkpoint covers; `None` before the first.
fn checkpoint_size(inner: &Inner) -> Result<Option<u64>, ApiError> {
    Ok(inner
        .store
        .latest_checkpoint()?
        .and_then(|n| isop_core::Checkpoint::parse(n.text()).ok())
        .map(|c| c.size))
}

/// How long the oldest entry no signed checkpoint covers has waited, in
/// milliseconds: 0 when the latest checkpoint covers the whole log.
fn checkpoint_lag(inner: &Inner) -> u64 {
    let covered = checkpoint_size(inner).ok().flatten().unwrap_or(0);
    if covered >= inner.store.size() {
        return 0;
    }
    inner
        .store
        .log_entry(LogIndex(covered))
        .ok()
        .flatten()
        .map_or(0, |e| inner.now().0.saturating_sub(e.appended_at))
}

async fn metrics(State(api): State<Api>) -> Response {
    let m = &api.inner.metrics;
    let mut depth: BTreeMap<String, i64> = BTreeMap::new();
    for item in api.inner.store.outbox().unwrap_or_default() {
        *depth.entry(item.recipient.to_string()).or_default() += 1;
    }
    m.roster_version
        .set(i64::try_from(api.inner.roster().version()).unwrap_or(i64::MAX));
    m.checkpoint_lag
        .set(i64::try_from(checkpoint_lag(&api.inner) / 1000).unwrap_or(i64::MAX));
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

/// Member `m` as this node sees it, with `outbox` its outbox.
fn peer_view(inner: &Inner, m: &isop_core::Member, outbox: &[isop_store::OutboxItem]) -> Peer {
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
        roster_version: seen.roster_version,
        last_error: seen.last_error,
    }
}

async fn status(State(api): State<Api>) -> ApiResult<Status> {
    let inner = &api.inner;
    let roster = inner.roster();
    let outbox = inner.store.outbox()?;
    let peers = roster
        .members()
        .filter(|m| m.org_id != inner.org)
        .map(|m| peer_view(inner, m, &outbox))
        .collect();
    let last_checkpoint_size = checkpoint_size(inner)?;
    Ok(Json(Status {
        org: inner.org.to_string(),
        roster_version: roster.version(),
        log_size: inner.store.size(),
        last_checkpoint_size,
        outbox_depth: outbox.len() as u64,
        split_views: inner
            .inconsistencies
            .load(std::sync::atomic::Ordering::Relaxed),
        identity: identity_view(&inner.identity()),
        peers,
        notify: inner.notify.all(&inner.config),
    }))
}

/// The most checkpoints `GET /v1/federation` lists.
const MAX_CHECKPOINTS: usize = 10;

/// A signed checkpoint as `GET /v1/federation` shows it.
fn checkpoint_view(
    note: &isop_core::SignedNote,
    roster: &isop_core::Roster,
) -> Option<CheckpointView> {
    let cp = isop_core::Checkpoint::parse(note.text()).ok()?;
    Some(CheckpointView {
        size: cp.size,
        root: hex::encode(cp.root),
        signed_by: signers(note, roster),
    })
}

/// `GET /v1/federation`: the roster in force, each peer's health, and
/// the log's checkpoints and witnessing.
async fn federation(State(api): State<Api>) -> ApiResult<Federation> {
    let inner = &api.inner;
    let roster = inner.roster();
    let outbox = inner.store.outbox()?;
    let now = inner.now();
    let tokens = |org: &isop_core::OrgId| -> Vec<String> {
        roster
            .clearance(org)
            .map(|c| c.tokens().map(Into::into).collect())
            .unwrap_or_default()
    };
    let mut members: Vec<MemberView> = roster
        .members()
        .map(|m| MemberView {
            org: m.org_id.to_string(),
            name: m.display_name.clone(),
            role: m.role.to_pb(),
            country: m.country.clone(),
            revoked_at: m.revoked_at.map(|t| Time(t.0)),
            clearance: tokens(&m.org_id),
            keys: m
                .keys
                .iter()
                .map(|k| KeyView {
                    id: format!("{}/{}", m.org_id, k.name),
                    public_key: hex::encode(k.public.as_bytes()),
                    not_before: Time(k.not_before.0),
                    not_after: Time(k.not_after.0),
                    revoked_at: k.revoked_at.map(|t| Time(t.0)),
                    revocation_reason: k.revocation_reason.clone(),
                    state: if k.revoked_at.is_some_and(|r| r <= now) {
                        "revoked"
                    } else if now < k.not_before {
                        "not yet valid"
                    } else if now >= k.not_after {
                        "expired"
                    } else {
                        "valid"
                    }
                    .into(),
                })
                .collect(),
            health: (m.org_id != inner.org).then(|| peer_view(inner, m, &outbox)),
        })
        .collect();
    // This node first.
    members.sort_by_key(|m| m.health.is_some());
    let mut checkpoints = Vec::new();
    for held in inner.store.checkpoints().rev().take(MAX_CHECKPOINTS) {
        let (_, note) = held?;
        checkpoints.extend(checkpoint_view(&note, &roster));
    }
    let mut witnessed = Vec::new();
    for m in roster.members().filter(|m| m.org_id != inner.org) {
        if let Some(note) = inner.store.witnessed(&m.org_id)?
            && let Some(checkpoint) = checkpoint_view(&note, &roster)
        {
            witnessed.push(Witnessed {
                org: m.org_id.to_string(),
                checkpoint,
            });
        }
    }
    Ok(Json(Federation {
        federation: roster.federation().to_owned(),
        roster_version: roster.version(),
        roster_issued_at: Time(roster.issued_at().0),
        org: inner.org.to_string(),
        clearance: tokens(&inner.org),
        sends: roster
            .member(&inner.org)
            .map(|me| {
                roster
                    .policy()
                    .rules
                    .iter()
                    .filter(|r| r.from == me.role)
                    .map(|r| SendRule {
                        to: r.to.to_pb(),
                        kinds: r.kinds.iter().map(|k| k.to_pb()).collect(),
                        reply_to_own_referral: r.reply_to_own_referral,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        members,
        groups: roster
            .groups()
            .iter()
            .map(|(id, orgs)| GroupView {
                id: id.clone(),
                members: orgs.iter().map(ToString::to_string).collect(),
            })
            .collect(),
        log: LogView {
            size: inner.store.size(),
            checkpoints,
            witnessed,
            split_views: inner
                .inconsistencies
                .load(std::sync::atomic::Ordering::Relaxed),
        },
    }))
}

fn identity_view(id: &crate::Identity) -> NodeIdentity {
    NodeIdentity {
        signing_key: id.signing_key.to_string(),
        public_key: hex::encode(id.public_key.as_bytes()),
        key_not_after: Time(id.key_not_after.0),
        tls_pin: hex::encode(id.tls_pin),
        tls_not_after: Time(id.tls_not_after.0),
    }
}

/// `POST /v1/node/reload`: takes up the signing key and TLS certificate
/// the node's config names now.
async fn reload(
    State(api): State<Api>,
    Extension(user): Extension<User>,
) -> ApiResult<NodeIdentity> {
    let id = api.inner.reload()?;
    api.record(
        &user,
        "reload",
        None,
        false,
        &format!("signs with {}", id.signing_key),
    )?;
    Ok(Json(identity_view(&id)))
}

fn sent_answer(sent: &crate::Sent) -> Sent {
    Sent {
        id: sent.id.to_string(),
        index: sent.index.0,
        recipients: sent.recipients.iter().map(ToString::to_string).collect(),
    }
}

async fn submit(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Json(req): Json<SubmitNotice>,
) -> ApiResult<Sent> {
    let draft = crate::submit::draft(req)?;
    let sent = crate::send::send(&api.inner, draft).await?;
    api.record(&user, "send", Some(sent.id), false, "")?;
    Ok(Json(sent_answer(&sent)))
}

/// Every check `submit` makes, nothing logged or sent.
async fn check(State(api): State<Api>, Json(req): Json<SubmitNotice>) -> ApiResult<Checked> {
    let recipients = crate::send::check(&api.inner, crate::submit::draft(req)?)?;
    Ok(Json(checked(&recipients)))
}

/// Every check `submit` makes, and what each recipient would get: the
/// labelled fields its clearance satisfies (by the one redaction rule,
/// `isop_core::Redaction`) and those withheld, with why.
async fn preview(State(api): State<Api>, Json(req): Json<SubmitNotice>) -> ApiResult<Preview> {
    let (sealed, recipients) = crate::send::prepare(&api.inner, crate::submit::draft(req)?)?;
    let roster = api.inner.roster();
    let fields = sealed.notice().commitments();
    let recipients = recipients
        .iter()
        .map(|org| {
            let clearance = roster.clearance(org).unwrap_or_default();
            let shown = Redaction::new(fields, &clearance);
            let (sees, withheld): (Vec<_>, Vec<_>) =
                fields.iter().partition(|c| shown.shows_digest(&c.digest));
            RecipientView {
                org: org.to_string(),
                clearance: clearance.tokens().map(Into::into).collect(),
                sees: sees
                    .iter()
                    .map(|c| FieldLabel {
                        path: c.path.clone(),
                        label: c.label.to_string(),
                    })
                    .collect(),
                withheld: withheld
                    .iter()
                    .map(|c| Withheld {
                        path: c.path.clone(),
                        label: c.label.to_string(),
                        reason: withheld_reason(&c.label, &clearance, org.as_str()),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Json(Preview { recipients }))
}

fn checked(recipients: &[isop_core::OrgId]) -> Checked {
    Checked {
        recipients: recipients.iter().map(ToString::to_string).collect(),
    }
}

async fn show(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<NoticeView> {
    let (id, at) = locate(&api.inner, &id)?;
    let view = notice_view(&api.inner, at)?;
    // Its revealed fields are answered only once the read is recorded.
    let paths: Vec<&str> = view.revealed.iter().map(|f| f.path.as_str()).collect();
    api.record(&user, "read", Some(id), false, &paths.join(", "))?;
    Ok(Json(view))
}

/// `GET /v1/notices/{id}/proof`: its entry proven in the log (hashes
/// only: no field of the notice).
async fn proof(State(api): State<Api>, UrlPath(id): UrlPath<String>) -> ApiResult<InLog> {
    let (_, at) = locate(&api.inner, &id)?;
    Ok(Json(in_log(&api.inner, at)?))
}

async fn mark_read(State(api): State<Api>, UrlPath(id): UrlPath<String>) -> ApiResult<MarkedRead> {
    let (_, at) = locate(&api.inner, &id)?;
    api.inner.store.mark_read(at).map_err(|e| match e {
        isop_store::Error::InvalidEntry(why) => bad_request(why),
        e => e.into(),
    })?;
    Ok(Json(MarkedRead {
        index: at.0,
        read: true,
    }))
}

fn erased_field(f: &crate::erase::Field, due: Option<&crate::erase::Due>) -> ErasedField {
    ErasedField {
        id: f.id.to_string(),
        index: f.entry.0,
        path: f.path.clone(),
        label: f.label.as_str().to_owned(),
        digest: hex::encode(f.digest),
        rule: due.map(|d| d.rule.clone()),
        due_at: due.map(|d| Time(d.due_at.0)),
    }
}

/// `POST /v1/notices/{id}/erase`: erases the values of a notice's
/// labelled fields this node holds, or of one.
async fn erase(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    UrlPath(id): UrlPath<String>,
    Json(r): Json<EraseRequest>,
) -> ApiResult<ErasedFields> {
    let (id, at) = locate(&api.inner, &id)?;
    let erased = api
        .inner
        .erase(at, r.field.as_deref(), &r.reason, &user.name)?;
    let paths: Vec<&str> = erased.iter().map(|f| f.path.as_str()).collect();
    api.record(
        &user,
        "erase",
        Some(id),
        false,
        &format!("{}: {}", paths.join(", "), r.reason),
    )?;
    Ok(Json(ErasedFields {
        fields: erased.iter().map(|f| erased_field(f, None)).collect(),
    }))
}

/// `GET /v1/retention`: what the retention policy would erase now.
async fn retention_due(State(api): State<Api>) -> ApiResult<ErasedFields> {
    let inner = &api.inner;
    let due = crate::erase::due(inner, &crate::erase::rules(&inner.config)?, inner.now())?;
    Ok(Json(ErasedFields {
        fields: due
            .iter()
            .map(|d| erased_field(&d.field, Some(d)))
            .collect(),
    }))
}

/// `POST /v1/retention`: applies the retention policy now.
async fn retention_apply(
    State(api): State<Api>,
    Extension(user): Extension<User>,
) -> ApiResult<ErasedFields> {
    let inner = &api.inner;
    let done = crate::erase::apply(inner, &crate::erase::rules(&inner.config)?)?;
    api.record(
        &user,
        "retention",
        None,
        false,
        &format!("{} values erased", done.len()),
    )?;
    Ok(Json(ErasedFields {
        fields: done
            .iter()
            .map(|d| erased_field(&d.field, Some(d)))
            .collect(),
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
    let receipt = match s {
        DeliveryStatus::Pending {
            attempts,
            next_attempt,
            last_error,
        } => {
            d.state = DeliveryState::Queued;
            d.attempts = attempts;
            d.next_attempt = Some(Time(next_attempt.0));
            d.last_error = Some(last_error).filter(|e| !e.is_empty());
            return d;
        }
        DeliveryStatus::Delivered { receipt } => {
            d.state = DeliveryState::Delivered;
            receipt
        }
        DeliveryStatus::Rejected { receipt } => {
            d.state = DeliveryState::Rejected;
            receipt
        }
        DeliveryStatus::Failed { entry, reason } => {
            d.state = DeliveryState::Failed;
            d.receipt_index = Some(entry.0);
            d.last_error = Some(reason);
            return d;
        }
        DeliveryStatus::Unknown => return d,
    };
    // The state is the store's; the receipt adds the detail.
    d.receipt_index = Some(receipt.0);
    if let Some((outcome, at)) = receipt_outcome(inner, receipt, id) {
        d.receipt_at = Some(Time(at));
        match outcome {
            ReceiptOutcome::Duplicate(_) => d.state = DeliveryState::Duplicate,
            ReceiptOutcome::Rejected { code, reason, .. } => {
                d.last_error = Some(format!("{}: {reason}", code.as_str_name()));
            }
            ReceiptOutcome::Accepted(_) => {}
        }
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
    let thread = thread(inner, &id)?
        .iter()
        .map(|(at, r)| summary_of(inner, *at, r))
        .collect::<Result<_, _>>()?;
    Ok(Json(Track {
        id: id.to_string(),
        index: at.0,
        recipients,
        thread,
    }))
}

/// The status answer `r` to the referral `id` names: to its author, in
/// reply, in its case.
fn answer(inner: &Inner, id: &str, r: &Respond) -> Result<NoticeDraft, ApiError> {
    let (id, at) = locate(inner, id)?;
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
    Ok(draft)
}

async fn respond(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    UrlPath(id): UrlPath<String>,
    Json(r): Json<Respond>,
) -> ApiResult<Sent> {
    let draft = answer(&api.inner, &id, &r)?;
    let sent = crate::send::send(&api.inner, draft).await?;
    api.record(
        &user,
        "send",
        Some(sent.id),
        false,
        &format!("answers {id}"),
    )?;
    Ok(Json(sent_answer(&sent)))
}

/// Every check `respond` makes, nothing logged or sent.
async fn check_respond(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    Json(r): Json<Respond>,
) -> ApiResult<Checked> {
    let draft = answer(&api.inner, &id, &r)?;
    Ok(Json(checked(&crate::send::check(&api.inner, draft)?)))
}

/// A page of `candidates` (entries of notices, oldest first, with their
/// read flag for an inbox), newest first, as `q` filters and pages it.
/// `more` counts what matches past the page.
fn page(
    inner: &Inner,
    candidates: Vec<(LogIndex, Option<bool>)>,
    q: &ListQuery,
) -> Result<Page, ApiError> {
    let filters = Filters::of(&QueryParams {
        author: q.author.clone(),
        kind: q.kind.clone(),
        status: q.status.clone(),
        contains: q.contains.clone(),
        since: q.made_from,
        until: q.made_until,
        ..QueryParams::default()
    })?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let mut items: Vec<Summary> = Vec::new();
    let mut more = 0;
    let in_range =
        |at: &LogIndex| q.before.is_none_or(|b| at.0 < b) && q.since.is_none_or(|s| at.0 > s);
    for (at, read) in candidates.into_iter().rev().filter(|(at, _)| in_range(at)) {
        if items.len() >= limit && !filters.any() {
            // Past a full page, without a filter to match, nothing need be read.
            more += 1;
            continue;
        }
        let Some(logged) = inner.notice_at(at)? else {
            continue;
        };
        if !filters.pass(&logged.notice) {
            continue;
        }
        if items.len() >= limit && !filters.by_status() {
            // Past a full page, a summary is needed only to match a status.
            more += 1;
            continue;
        }
        let mut s = summary_of(inner, at, &logged)?;
        if !filters.pass_status(&s) {
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
        unanswered: None,
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
    let mut page = page(&api.inner, candidates, &q)?;
    page.unanswered = Some(api.unanswered.count(&api.inner)?);
    Ok(Json(page))
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

/// Search: who referred this, and who acted (`search.rs`).
async fn query(State(api): State<Api>, Query(q): Query<QueryParams>) -> ApiResult<QueryAnswer> {
    Ok(Json(super::search::search(&api.inner, &q)?))
}

/// The most overlaps one answer holds.
const MAX_OVERLAPS: usize = 500;

async fn correlations(
    State(api): State<Api>,
    Query(q): Query<CorrelationQuery>,
) -> ApiResult<Correlations> {
    let inner = &api.inner;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_OVERLAPS);
    let mut found = crate::correlate::overlaps(inner)?;
    found.retain(|f| {
        q.since.is_none_or(|t| f.since.is_some_and(|s| s.0 >= t.0))
            && q.target.as_deref().is_none_or(|t| f.named_by(t))
    });
    found.sort_by_key(|f| std::cmp::Reverse(f.since));
    let more = found.len().saturating_sub(limit) as u64;
    let overlaps = found
        .iter()
        .take(limit)
        .map(|f| overlap_view(inner, f, true))
        .collect::<Result<_, _>>()?;
    Ok(Json(Correlations { overlaps, more }))
}

/// `POST /v1/match`: a private matching with another member
/// (docs/MATCHING.md), logged on both sides.
async fn match_with(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Json(req): Json<isop_api::MatchRequest>,
) -> ApiResult<isop_api::MatchResult> {
    let with: isop_core::OrgId = req
        .with
        .parse()
        .map_err(|e| bad_request(format!("with: {e}")))?;
    let mut items = req
        .indicators
        .iter()
        .enumerate()
        .map(|(n, line)| {
            isop_match::Item::parse_line(line)
                .map_err(|e| bad_request(format!("indicator {}: {e}", n + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if req.from_inbox || req.from_case.is_some() {
        let inner = api.inner.clone();
        let (inbox, case) = (req.from_inbox, req.from_case.clone());
        items.extend(
            tokio::task::spawn_blocking(move || {
                crate::matching::from_log(&inner, inbox, case.as_deref())
            })
            .await
            .map_err(internal)??,
        );
    }
    if items.is_empty() {
        return Err(bad_request(
            "nothing to ask: no indicators given, and none in the inbox or case named",
        ));
    }
    let r = crate::matching::ask(&api.inner, &with, items, &user.name).await?;
    Ok(Json(isop_api::MatchResult {
        run: hex::encode(r.run),
        with: r.with.to_string(),
        asked: r.asked,
        held: r.held,
        matched: r
            .matched
            .into_iter()
            .map(|(item, sources)| isop_api::MatchedItem {
                kind: isop_match::item::kind_name(item.kind()).into(),
                value: item.value().into(),
                sources: sources.map(|s| {
                    s.kinds()
                        .filter_map(|k| isop_core::pb::NoticeKind::try_from(k).ok())
                        .map(|k| k.as_str_name().to_owned())
                        .chain(s.listed().then(|| "LIST".to_owned()))
                        .collect()
                }),
            })
            .collect(),
        logged_at: r.logged_at.0,
        bytes_sent: r.bytes.0,
        bytes_received: r.bytes.1,
    }))
}

async fn checkpoint(State(api): State<Api>) -> Result<String, ApiError> {
    Ok(api.inner.checkpoint()?.to_string())
}

/// Streams the log as one export file, with the disclosures `clearance` allows.
async fn export(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Query(q): Query<ExportQuery>,
) -> Response {
    let clearance = Clearance::from_tokens(
        q.clearance
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty()),
    );
    if let Err(e) = api.record(
        &user,
        "export",
        None,
        false,
        &format!("clearance [{}]", q.clearance),
    ) {
        return ApiError::from(e).into_response();
    }
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

/// `POST /v1/audit`: this node's log, exported with the disclosures its
/// clearance holds, verified as an auditor verifies an export
/// (`isop_audit::verify`), the two running side by side over a pipe.
async fn audit(State(api): State<Api>, Extension(user): Extension<User>) -> ApiResult<AuditReport> {
    api.record(&user, "audit", None, false, "verify this node's log")?;
    let inner = api.inner.clone();
    let report = tokio::task::spawn_blocking(move || crate::audit::verify_own(&inner))
        .await
        .map_err(internal)??;
    Ok(Json(report))
}

/// Takes a newer signed roster (its envelope's bytes) and passes it on.
async fn push_roster(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    body: axum::body::Bytes,
) -> ApiResult<RosterAccepted> {
    let env = pb::Envelope::decode(body)
        .map_err(|e| bad_request(format!("not a roster envelope: {e}")))?;
    let (version, new) = api.inner.offer_roster(&env)?;
    api.record(
        &user,
        "roster push",
        None,
        false,
        &format!("v{version}{}", if new { " taken" } else { " held already" }),
    )?;
    Ok(Json(RosterAccepted { version, new }))
}
