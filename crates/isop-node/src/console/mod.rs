//! The web console, under `/ui/` on the API's listener: server-rendered
//! pages (askama templates in `console/templates`), a little htmx, one
//! stylesheet, all embedded in the binary.
//!
//! A user signs in with their API token (`session.rs`). The console does
//! nothing by itself: every page and every form calls the local API in
//! process, with the session's token, through the same router, role checks
//! and access record as the CLI ([`Console::call`]). `pages.rs` holds the
//! pages, `compose.rs` the form of each kind a node sends and its preview,
//! and `view.rs` turns the API's answers into what templates show.

mod compose;
mod pages;
mod session;
mod view;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use session::{Session, Sessions};

/// What the console's handlers share.
#[derive(Clone)]
pub(crate) struct Console {
    /// The local API, with its authorisation: what every page calls.
    api: Router,
    /// This node's org, for every page's header.
    org: Arc<str>,
    sessions: Arc<Sessions>,
    /// The names of this node's session cookie and sign-in cookie.
    cookies: Arc<(String, String)>,
    /// Whether cookies are marked Secure: the console is reached through
    /// a TLS-terminating proxy (the API listens beyond loopback).
    secure: bool,
}

impl Console {
    /// The console over `api` (the local API's router, state applied).
    pub(crate) fn new(api: Router, org: &str, secure: bool) -> Self {
        Self {
            api,
            org: org.into(),
            sessions: Arc::default(),
            cookies: Arc::new(session::cookie_names(org)),
            secure,
        }
    }

    /// Calls the local API as the session's user: `method uri`, with
    /// `body` as JSON. Its answer as it streams (an export), or the API's
    /// refusal (its status and message).
    async fn answer(
        &self,
        s: &Session,
        method: Method,
        uri: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Response, Refusal> {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", &*s.token));
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(b).map_err(Refusal::internal)?)
            }
            None => Body::empty(),
        };
        let req = req.body(body).map_err(Refusal::internal)?;
        let answer = self
            .api
            .clone()
            .oneshot(req)
            .await
            .map_err(Refusal::internal)?;
        let status = answer.status();
        if status.is_success() {
            return Ok(answer.into_response());
        }
        let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
            .await
            .map_err(Refusal::internal)?;
        let message = serde_json::from_slice::<isop_api::ErrorBody>(&bytes).map_or_else(
            |_| String::from_utf8_lossy(&bytes).into_owned(),
            |e| e.message,
        );
        Err(Refusal { status, message })
    }

    /// [`Console::answer`], read as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        s: &Session,
        method: Method,
        uri: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, Refusal> {
        let answer = self.answer(s, method, uri, body).await?;
        let bytes = axum::body::to_bytes(answer.into_body(), 64 << 20)
            .await
            .map_err(Refusal::internal)?;
        serde_json::from_slice(&bytes).map_err(Refusal::internal)
    }

    /// `GET uri` as the session's user.
    async fn get<T: DeserializeOwned>(&self, s: &Session, uri: &str) -> Result<T, Refusal> {
        self.call(s, Method::GET, uri, None::<&()>).await
    }

    /// `POST uri` with `body` as the session's user.
    async fn post<T: DeserializeOwned>(
        &self,
        s: &Session,
        uri: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, Refusal> {
        self.call(s, Method::POST, uri, Some(body)).await
    }
}

/// The API's refusal of a call, shown on the page.
#[derive(Debug)]
pub(super) struct Refusal {
    status: StatusCode,
    pub(super) message: String,
}

impl Refusal {
    fn internal(e: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        }
    }
}

/// The console's routes, on the API's listener.
pub(crate) fn router(console: Console) -> Router {
    Router::new()
        .merge(pages::routes())
        .layer(middleware::from_fn(headers))
        .with_state(console)
}

/// Every answer of the console: a Content-Security-Policy that allows
/// scripts and styles from the console's own files only (no inline
/// script, no other origin), no framing, no sniffing, no referrer, and no
/// caching of pages.
async fn headers(request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/ui/assets/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    if !asset {
        set(h, "cache-control", "no-store");
    }
    response
}

/// A signed-in request: its session, or a redirect to sign in.
pub(super) struct SignedIn {
    id: String,
    session: Session,
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Response> {
        let found = session::cookie(&parts.headers, &c.cookies.0)
            .and_then(|id| c.sessions.get(id).map(|s| (id.to_owned(), s)));
        match found {
            Some((id, session)) => Ok(Self { id, session }),
            None if parts.headers.contains_key("hx-request") => {
                // htmx follows this header, not a redirect, to a new page.
                Err(([("hx-redirect", "/ui/signin")], StatusCode::UNAUTHORIZED).into_response())
            }
            None => Err(Redirect::to("/ui/signin").into_response()),
        }
    }
}

/// A form posted in a session: its fields, in order, once its CSRF token
/// (the `csrf` field, or htmx's `X-CSRF-Token` header) is the session's.
pub(super) struct Posted {
    signed_in: SignedIn,
    fields: Fields,
}

impl Posted {
    /// The first value of field `name`, trimmed; empty if it is missing.
    fn field(&self, name: &str) -> &str {
        field(&self.fields, name)
    }
}

/// A form's fields, in order (a name may repeat: `to`).
type Fields = Vec<(String, String)>;

/// The fields of a form posted as `application/x-www-form-urlencoded`.
fn form(body: &[u8]) -> Fields {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The first value of field `name` in `fields`, trimmed; empty if it is
/// missing.
fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.trim())
}

/// The largest form the console takes.
const MAX_FORM: usize = 1 << 20;

impl FromRequest<Console> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, c: &Console) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, c).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|e| {
            (StatusCode::PAYLOAD_TOO_LARGE, format!("the form: {e}")).into_response()
        })?;
        let fields = form(&bytes);
        let given = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| field(&fields, "csrf"));
        if !crate::users::same(given, &signed_in.session.csrf) {
            return Err((
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or not this session's: reload the page",
            )
                .into_response());
        }
        Ok(Self { signed_in, fields })
    }
}

/// A rendered page.
fn page(t: &impl askama::Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
