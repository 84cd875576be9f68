//! What every route shares: the API's state, its error (a status and a
//! message naming the problem, answered as `isop_api::ErrorBody`; a node
//! error's status follows from its kind, `Error::fault`), and finding the
//! notice a request names.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use isop_api::{ErrorBody, ErrorCode};
use isop_core::{LogIndex, Notice, NoticeId};

use crate::state::Inner;
use crate::users::User;
use crate::{Error, Fault};

#[derive(Clone)]
pub(super) struct Api {
    pub(super) inner: Arc<Inner>,
    pub(super) users: Arc<crate::users::Users>,
    /// The referrals this node received and has not answered (no notice
    /// of its own in reply to them).
    pub(super) unanswered: Arc<Tally<std::collections::HashSet<NoticeId>>>,
    /// The case references this node holds (TAXII's case collections).
    pub(super) cases: Arc<Tally<std::collections::BTreeSet<String>>>,
}

/// What the log's notices tell, kept as the log grows: each look reads
/// only the entries logged since the last.
#[derive(Default)]
pub(super) struct Tally<T>(std::sync::Mutex<(u64, T)>);

impl<T> Tally<T> {
    /// Adds each notice logged since the last look with `add`, then
    /// answers with `read`.
    pub(super) fn look<R>(
        &self,
        inner: &Inner,
        mut add: impl FnMut(&mut T, &crate::state::LoggedNotice),
        read: impl FnOnce(&T) -> R,
    ) -> Result<R, Error> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (seen, tally) = &mut *held;
        let size = inner.store.size();
        for at in *seen..size {
            if let Some(logged) = inner.notice_at(LogIndex(at))? {
                add(tally, &logged);
            }
        }
        *seen = size;
        Ok(read(tally))
    }
}

impl Tally<std::collections::HashSet<NoticeId>> {
    /// How many referrals this node received and has not answered.
    pub(super) fn count(&self, inner: &Inner) -> Result<u64, Error> {
        self.look(
            inner,
            |open, logged| {
                let n = &logged.notice;
                if logged.entry.direction == isop_core::pb::Direction::Inbound as i32
                    && n.kind() == isop_core::NoticeKind::Referral
                {
                    open.insert(n.id());
                } else if n.author() == &inner.org
                    && let Some(answered) = n.in_reply_to()
                {
                    open.remove(&answered);
                }
            },
            |open| open.len() as u64,
        )
    }
}

impl Api {
    /// Records an access by `user` in the log, a LOCAL `Access` entry:
    /// what they did (or were refused), to which notice, and what came of
    /// it. A read is answered only once it is recorded.
    pub(super) fn record(
        &self,
        user: &User,
        action: &str,
        notice: Option<NoticeId>,
        refused: bool,
        detail: &str,
    ) -> Result<(), Error> {
        self.inner
            .store
            .append(self.access(user, action, notice, refused, detail))?;
        Ok(())
    }

    /// Records `user`'s reads by `action` of each notice `read` names
    /// (with what came of it), in one group commit.
    pub(super) fn record_reads(
        &self,
        user: &User,
        action: &str,
        read: impl IntoIterator<Item = (NoticeId, String)>,
    ) -> Result<(), Error> {
        let entries = read
            .into_iter()
            .map(|(id, detail)| self.access(user, action, Some(id), false, &detail));
        for appended in self.inner.store.append_many(entries) {
            appended?;
        }
        Ok(())
    }

    fn access(
        &self,
        user: &User,
        action: &str,
        notice: Option<NoticeId>,
        refused: bool,
        detail: &str,
    ) -> isop_store::NewEntry {
        let access = isop_core::pb::Access {
            user: user.name.clone(),
            role: user.role.as_str().into(),
            action: action.into(),
            notice_id: notice.map_or_else(Default::default, |id| {
                bytes::Bytes::copy_from_slice(id.as_bytes())
            }),
            refused,
            detail: detail.into(),
        };
        isop_store::NewEntry::new(
            self.inner.now(),
            isop_store::Direction::Local,
            isop_store::Record::Access(access),
        )
    }
}

/// An API error: a status and a message naming the problem.
pub(super) struct ApiError(pub(super) StatusCode, pub(super) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: ErrorCode::of_status(self.0.as_u16()),
            message: self.1,
        };
        (self.0, Json(body)).into_response()
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
            Fault::Exhausted => StatusCode::INSUFFICIENT_STORAGE,
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

impl From<isop_core::Error> for ApiError {
    fn from(e: isop_core::Error) -> Self {
        Error::Core(e).into()
    }
}

impl From<isop_store::Error> for ApiError {
    fn from(e: isop_store::Error) -> Self {
        Error::Store(e).into()
    }
}

pub(super) type ApiResult<T> = Result<Json<T>, ApiError>;

pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

pub(super) fn bad_request(why: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, why.to_string())
}

/// The notice kind a `kind=` filter names, if one is given.
pub(super) fn kind_filter(
    kind: Option<&str>,
) -> Result<Option<isop_core::pb::NoticeKind>, ApiError> {
    Ok(kind
        .map(|k| {
            isop_core::json::enum_value(
                "kind",
                "isop.v1.NoticeKind",
                k,
                isop_core::pb::NoticeKind::from_str_name,
            )
        })
        .transpose()?)
}

pub(super) fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

pub(super) fn parse_id(id: &str) -> Result<NoticeId, ApiError> {
    id.parse().map_err(|e: isop_core::Error| bad_request(e))
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
