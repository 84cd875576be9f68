//! The local API: HTTP and JSON on loopback for the CLI and partners'
//! systems, each request with a user's bearer token (`users.rs`);
//! Prometheus metrics at `/metrics`. `docs/api.openapi.yaml` documents
//! it. This file serves the router, identifies the user and checks their
//! role against the route's permission, and makes every error JSON;
//! `routes.rs` holds the routes and the permission each needs, `views.rs`
//! builds the answers (the types of `isop_api`), and `shared.rs` holds the
//! state, the error and the access record they share.

mod routes;
mod search;
mod shared;
mod taxii;
pub(crate) mod views;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::Error;
use crate::config::{check_private, write_private};
use crate::console::Console;
use crate::state::Inner;
use shared::{Api, ApiError};

/// The largest request body accepted.
const MAX_BODY: usize = 1 << 20;

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

/// Serves the API on `listener` until the node stops, to `users`.
pub(crate) async fn serve(
    inner: Arc<Inner>,
    listener: tokio::net::TcpListener,
    users: crate::users::Users,
) {
    let api = Api {
        inner: inner.clone(),
        users: Arc::new(users),
        unanswered: Arc::default(),
        cases: Arc::default(),
    };
    let v1 = routes::router()
        .merge(taxii::router())
        .route_layer(middleware::from_fn_with_state(api.clone(), authorize));
    // Probes need no token: they say nothing but that the node serves.
    let v1 = v1.merge(routes::probes());
    let v1: Router = Router::new()
        .merge(v1)
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(errors_as_json))
        .layer(middleware::from_fn(taxii::taxii_layer))
        .with_state(api);
    // The console calls the API as it is served: same routes, same checks.
    let secure = inner
        .config
        .api
        .as_ref()
        .is_some_and(|a| a.allow_non_loopback);
    let console = Console::new(v1.clone(), inner.org.as_str(), secure);
    let app = crate::console::router(console).merge(v1);
    let mut stop = inner.shutdown.subscribe();
    let served = axum::serve(listener, app).with_graceful_shutdown(async move {
        // wait_for sees a shutdown sent before this task subscribed.
        let _ = stop.wait_for(|stopping| *stopping).await;
    });
    if let Err(e) = served.await {
        tracing::error!(error = %e, "the local API stopped");
    }
}

/// A path no route serves.
async fn no_route(request: Request) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!(
            "no route {} {} (docs/api.openapi.yaml lists them)",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Every error answers as `isop_api::ErrorBody`, also those the framework
/// makes before a route runs (a body that does not parse or lacks a field,
/// the wrong media type, a body too large, a method not allowed): their
/// text becomes the message.
async fn errors_as_json(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), MAX_BODY).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    ApiError(status, message).into_response()
}

/// Whether a request may sign in with HTTP Basic: only TAXII's reads,
/// for clients that speak nothing else. Nowhere else, so that credentials
/// a browser keeps for Basic can never carry a cross-site `POST`.
fn basic_allowed(request: &Request) -> bool {
    request.method() == axum::http::Method::GET && taxii::is_taxii(request.uri().path())
}

/// The token `Authorization` gives: `Bearer <token>`, or on TAXII's reads
/// (see [`basic_allowed`]) `Basic` with the user's name and the token as
/// its password. For Basic, the name the token is must be the name given.
fn credentials(request: &Request) -> Option<(Option<String>, String)> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some((None, token.to_owned()));
    }
    if !basic_allowed(request) {
        return None;
    }
    let encoded = value.strip_prefix("Basic ")?;
    let raw =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (name, token) = text.split_once(':')?;
    Some((Some(name.to_owned()), token.to_owned()))
}

/// Requires a user's token (compared in constant time; see
/// [`credentials`]) whose role permits the route; a refusal of a user is
/// answered 403 naming why, and recorded in the log.
async fn authorize(State(api): State<Api>, mut request: Request, next: Next) -> Response {
    let given = credentials(&request);
    let user = given.as_ref().and_then(|(name, token)| {
        api.users
            .identify(token)
            .filter(|u| name.as_ref().is_none_or(|n| *n == u.name))
    });
    let Some(user) = user else {
        let why = if given.is_none() {
            "missing bearer token"
        } else {
            "wrong bearer token"
        };
        let mut refused = ApiError(StatusCode::UNAUTHORIZED, why.into()).into_response();
        let challenge = if basic_allowed(&request) {
            "Bearer realm=\"isop\", Basic realm=\"isop\""
        } else {
            "Bearer realm=\"isop\""
        };
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(challenge),
        );
        return refused;
    };
    let path = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let needs = routes::permission(request.method(), &path);
    if !user.role.permits(needs) {
        let why = format!(
            "{} {} may not {} ({} {})",
            user.role.as_str(),
            user.name,
            needs.words(),
            request.method(),
            path
        );
        let notice = request
            .uri()
            .path()
            .strip_prefix("/v1/notices/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|id| id.parse().ok());
        if let Err(e) = api.record(
            &user,
            &format!("{} {path}", request.method()),
            notice,
            true,
            &why,
        ) {
            return ApiError::from(e).into_response();
        }
        return ApiError(StatusCode::FORBIDDEN, why).into_response();
    }
    request.extensions_mut().insert(user);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    /// docs/api.openapi.yaml documents exactly the routes the router
    /// serves, TAXII's included.
    #[test]
    fn the_openapi_file_matches_the_router() {
        let source = concat!(include_str!("routes.rs"), include_str!("taxii.rs"));
        let doc = include_str!("../../../../docs/api.openapi.yaml");
        let served: Vec<&str> = source
            .match_indices(".route(")
            .filter_map(|(i, m)| source[i + m.len()..].trim_start().strip_prefix('"'))
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
