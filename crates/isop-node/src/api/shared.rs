//! What every route shares: the API's state, its error (a status and a
//! message naming the problem; a node error's status follows from its
//! kind, `Error::fault`), and finding the notice a request names.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use isop_core::{LogIndex, Notice, NoticeId};
use serde_json::json;

use crate::state::Inner;
use crate::{Error, Fault};

#[derive(Clone)]
pub(super) struct Api {
    pub(super) inner: Arc<Inner>,
    pub(super) token: Arc<String>,
}

/// An API error: a status and a message naming the problem.
pub(super) struct ApiError(pub(super) StatusCode, pub(super) String);

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
        // The status says it is an invalid request; the message need not.
        let message = match e {
            Error::Invalid(why) => why,
            e => e.to_string(),
        };
        Self(status, message)
    }
}

impl From<isop_store::Error> for ApiError {
    fn from(e: isop_store::Error) -> Self {
        Error::Store(e).into()
    }
}

pub(super) type ApiResult<T> = Result<Json<T>, ApiError>;

pub(super) fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

pub(super) fn parse_id(id: &str) -> Result<NoticeId, ApiError> {
    id.parse()
        .map_err(|e: isop_core::Error| ApiError(StatusCode::BAD_REQUEST, e.to_string()))
}

/// The notice `id` names, and where this node's log holds it.
pub(super) fn locate(inner: &Inner, id: &str) -> Result<(NoticeId, LogIndex), ApiError> {
    let id = parse_id(id)?;
    let at = inner
        .store
        .find_notice(&id)?
        .ok_or_else(|| not_found(format!("notice {id} is not in this log")))?;
    Ok((id, at))
}

pub(super) fn notice_of(inner: &Inner, at: LogIndex) -> Result<Notice, ApiError> {
    Ok(inner
        .notice_at(at)?
        .ok_or_else(|| not_found(format!("entry {at} is not a notice")))?
        .notice)
}
