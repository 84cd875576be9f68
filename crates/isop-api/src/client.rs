//! A typed client of a node's local API.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{
    AuditReport, Checked, CorrelationQuery, Correlations, EraseRequest, ErasedFields, ErrorBody,
    ErrorCode, ExportQuery, Federation, InLog, ListQuery, MarkedRead, MatchRequest, MatchResult,
    Me, NewUser, NodeIdentity, NoticeView, Page, Preview, QueryAnswer, QueryParams, Respond,
    RosterAccepted, Sent, Status, SubmitNotice, Track, UserToken, UserView,
};

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node could not be reached.
    #[error("cannot reach the node's API at {base}: {why} (is the node running?)")]
    Unreachable {
        /// Where it was looked for.
        base: String,
        /// Why not.
        why: String,
    },
    /// The node answered with an error.
    #[error("the node answered {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its code.
        code: ErrorCode,
        /// The problem, named.
        message: String,
    },
    /// The node's answer is not what this client reads.
    #[error("the node's answer is not what this client reads: {0}")]
    Answer(String),
    /// The client could not be built.
    #[error("cannot build the API client: {0}")]
    Client(String),
    /// The request is refused before it is sent.
    #[error("{0}")]
    Request(String),
    /// A download could not be written.
    #[error("writing the download: {0}")]
    Write(#[from] std::io::Error),
}

/// Talks to one node's local API with its bearer token.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a secret: never in Debug output.
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client of the API listening at `listen` (`127.0.0.1:7443`), with
    /// its bearer `token`.
    pub fn new(listen: &str, token: &str) -> Result<Self, Error> {
        let http = http_client()?;
        Ok(Self {
            http,
            base: format!("http://{listen}"),
            token: token.trim().to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `req` with the token.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        req.bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                base: self.base.clone(),
                why: e.to_string(),
            })
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let r = self.send(req).await?;
        let status = r.status();
        if status.is_success() {
            return Ok(r);
        }
        let (code, message) = match r.json::<ErrorBody>().await {
            Ok(e) => (e.code, e.message),
            Err(_) => (
                ErrorCode::of_status(status.as_u16()),
                status.canonical_reason().unwrap_or("error").to_owned(),
            ),
        };
        Err(Error::Refused {
            status: status.as_u16(),
            code,
            message,
        })
    }

    async fn json<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, Error> {
        self.call(req)
            .await?
            .json()
            .await
            .map_err(|e| Error::Answer(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.json(self.http.get(self.url(path))).await
    }

    async fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
    ) -> Result<T, Error> {
        self.json(self.http.get(self.url(path)).query(query)).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Error> {
        self.json(self.http.post(self.url(path)).json(body)).await
    }

    /// `GET` a TAXII 2.1 resource of the node (`/taxii2/…`) with `query`,
    /// as JSON. A TAXII error's description is the error's message.
    pub async fn taxii(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<serde_json::Value, Error> {
        let r = self
            .send(self.http.get(self.url(path)).query(query).header(
                reqwest::header::ACCEPT,
                "application/taxii+json;version=2.1",
            ))
            .await?;
        let status = r.status();
        let body: serde_json::Value = r.json().await.map_err(|e| Error::Answer(e.to_string()))?;
        if status.is_success() {
            return Ok(body);
        }
        let text = |k: &str| body.get(k).and_then(serde_json::Value::as_str);
        Err(Error::Refused {
            status: status.as_u16(),
            code: ErrorCode::of_status(status.as_u16()),
            message: text("description")
                .or_else(|| text("title"))
                .unwrap_or("error")
                .to_owned(),
        })
    }

    /// The node, its log and its peers.
    pub async fn status(&self) -> Result<Status, Error> {
        self.get("/v1/status").await
    }

    /// Signs and sends a notice.
    pub async fn submit(&self, notice: &SubmitNotice) -> Result<Sent, Error> {
        self.post("/v1/notices", notice).await
    }

    /// Every check `submit` makes, nothing logged or sent.
    pub async fn check(&self, notice: &SubmitNotice) -> Result<Checked, Error> {
        self.post("/v1/notices/check", notice).await
    }

    /// Every check `respond` makes, nothing logged or sent.
    pub async fn check_respond(&self, id: &str, answer: &Respond) -> Result<Checked, Error> {
        self.post(
            &format!("/v1/notices/{}/respond/check", notice_id(id)?),
            answer,
        )
        .await
    }

    /// Every check submitting makes, and what each recipient would get
    /// of the notice; nothing logged or sent.
    pub async fn preview(&self, notice: &SubmitNotice) -> Result<Preview, Error> {
        self.post("/v1/notices/preview", notice).await
    }

    /// The roster as the node holds it, each peer's health, its log's
    /// checkpoints and witnessing.
    pub async fn federation(&self) -> Result<Federation, Error> {
        self.get("/v1/federation").await
    }

    /// The node's own log exported and verified as an auditor would.
    pub async fn audit(&self) -> Result<AuditReport, Error> {
        self.post("/v1/audit", &()).await
    }

    /// A notice as the node holds it.
    pub async fn show(&self, id: &str) -> Result<NoticeView, Error> {
        self.get(&format!("/v1/notices/{}", notice_id(id)?)).await
    }

    /// A notice's entry in the node's log, proven included in its latest
    /// signed checkpoint.
    pub async fn proof(&self, id: &str) -> Result<InLog, Error> {
        self.get(&format!("/v1/notices/{}/proof", notice_id(id)?))
            .await
    }

    /// Marks an inbox item read.
    pub async fn mark_read(&self, id: &str) -> Result<MarkedRead, Error> {
        self.post(&format!("/v1/notices/{}/read", notice_id(id)?), &())
            .await
    }

    /// Who this client's token is, and what they may do.
    pub async fn me(&self) -> Result<Me, Error> {
        self.get("/v1/me").await
    }

    /// The users of the node's API (admin).
    pub async fn users(&self) -> Result<Vec<UserView>, Error> {
        self.get("/v1/users").await
    }

    /// Adds a user (admin): its token, shown this once.
    pub async fn add_user(&self, user: &NewUser) -> Result<UserToken, Error> {
        self.post("/v1/users", user).await
    }

    /// Removes a user (admin).
    pub async fn remove_user(&self, name: &str) -> Result<UserView, Error> {
        self.json(
            self.http
                .delete(self.url(&format!("/v1/users/{}", path_part(name)?))),
        )
        .await
    }

    /// Gives a user a new token (admin); the old one stops working.
    pub async fn renew_token(&self, name: &str) -> Result<UserToken, Error> {
        self.post(&format!("/v1/users/{}/token", path_part(name)?), &())
            .await
    }

    /// Erases the values of a notice's labelled fields this node holds
    /// (or of one): the digests stay, and the log still verifies.
    pub async fn erase(&self, id: &str, request: &EraseRequest) -> Result<ErasedFields, Error> {
        self.post(&format!("/v1/notices/{}/erase", notice_id(id)?), request)
            .await
    }

    /// What the retention policy would erase now.
    pub async fn retention_due(&self) -> Result<ErasedFields, Error> {
        self.get("/v1/retention").await
    }

    /// Applies the retention policy now: what it erased.
    pub async fn retention_apply(&self) -> Result<ErasedFields, Error> {
        self.post("/v1/retention", &()).await
    }

    /// Where a notice sent stands, and what came back.
    pub async fn track(&self, id: &str) -> Result<Track, Error> {
        self.get(&format!("/v1/notices/{}/track", notice_id(id)?))
            .await
    }

    /// Answers a referral.
    pub async fn respond(&self, id: &str, answer: &Respond) -> Result<Sent, Error> {
        self.post(&format!("/v1/notices/{}/respond", notice_id(id)?), answer)
            .await
    }

    /// A page of the inbox, newest first.
    pub async fn inbox(&self, query: &ListQuery) -> Result<Page, Error> {
        self.get_query("/v1/inbox", query).await
    }

    /// A page of what this node sent, newest first.
    pub async fn sent(&self, query: &ListQuery) -> Result<Page, Error> {
        self.get_query("/v1/sent", query).await
    }

    /// The notices naming an indicator or a case, and who acted.
    pub async fn query(&self, query: &QueryParams) -> Result<QueryAnswer, Error> {
        self.get_query("/v1/query", query).await
    }

    /// Targets several members name: referred by two or more partners,
    /// or reported by two or more agencies.
    pub async fn correlations(&self, query: &CorrelationQuery) -> Result<Correlations, Error> {
        self.get_query("/v1/correlations", query).await
    }

    /// Runs a private matching with another member: which of the asked
    /// indicators it also holds.
    pub async fn match_with(&self, request: &MatchRequest) -> Result<MatchResult, Error> {
        self.post("/v1/match", request).await
    }

    /// The latest checkpoint, as its signed note.
    pub async fn checkpoint(&self) -> Result<String, Error> {
        self.call(self.http.get(self.url("/v1/checkpoint")))
            .await?
            .text()
            .await
            .map_err(|e| Error::Answer(e.to_string()))
    }

    /// Has the node take up the signing key and TLS certificate its
    /// config names now, without a restart.
    pub async fn reload(&self) -> Result<NodeIdentity, Error> {
        self.post("/v1/node/reload", &serde_json::json!({})).await
    }

    /// Gives the node a newer signed roster (its envelope's bytes); one
    /// it has already changes nothing.
    pub async fn push_roster(&self, envelope: Vec<u8>) -> Result<RosterAccepted, Error> {
        self.json(
            self.http
                .post(self.url("/v1/roster"))
                .header("content-type", "application/octet-stream")
                .body(envelope),
        )
        .await
    }

    /// Streams the log's export into `out`, returning the bytes written;
    /// `progress` hears the running total after each chunk.
    pub async fn export(
        &self,
        query: &ExportQuery,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
        mut progress: impl FnMut(u64),
    ) -> Result<u64, Error> {
        use tokio::io::AsyncWriteExt;
        let mut r = self
            .call(self.http.get(self.url("/v1/export")).query(query))
            .await?;
        let mut n = 0;
        while let Some(chunk) = r
            .chunk()
            .await
            .map_err(|e| Error::Answer(format!("the export broke off: {e}")))?
        {
            out.write_all(&chunk).await?;
            n += chunk.len() as u64;
            progress(n);
        }
        out.flush().await?;
        Ok(n)
    }
}

/// An HTTP client for a node's local API (plain HTTP on loopback): never
/// through a proxy, since `HTTP_PROXY` and `ALL_PROXY`, set on many
/// workstations, would otherwise receive the token and every notice in
/// clear, even for a loopback address. Its TLS, which it never uses here,
/// is rustls on ring, set explicitly: the HTTP client takes no default.
pub fn http_client() -> Result<reqwest::Client, Error> {
    http_client_builder()?
        .build()
        .map_err(|e| Error::Client(e.to_string()))
}

/// The builder of [`http_client`], for a client that needs more set (a
/// browser-like one that does not follow redirects, say).
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, Error> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Client(e.to_string()))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tls_backend_preconfigured(tls))
}

/// `id` as a notice id (a UUID), before it goes into a path: nothing a
/// user typed can become another path.
fn notice_id(id: &str) -> Result<String, Error> {
    id.trim()
        .parse::<isop_core::NoticeId>()
        .map(|id| id.to_string())
        .map_err(|e| Error::Request(e.to_string()))
}

/// A user name as a path segment: only what a user name may hold (a-z,
/// 0-9, `.`, `_`, `-`, not `.` or `..` alone), so it cannot leave its route.
fn path_part(name: &str) -> Result<&str, Error> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(Error::Request(format!(
            "user name {name:?}: use a-z, 0-9, '.', '_', '-'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_name_stays_in_its_path_segment() {
        assert_eq!(path_part(" jane.doe ").unwrap(), "jane.doe");
        for bad in ["..", ".", "a/b", "a?b", "", "Jane"] {
            assert!(path_part(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_id_is_a_notice_id_or_refused_before_it_is_sent() {
        let id = "0190b5a2-0000-7000-8000-000000000001";
        assert_eq!(notice_id(id).unwrap(), id);
        for bad in ["..", ".", "x/../../metrics", "0190b5a2?read=1", ""] {
            assert!(matches!(notice_id(bad), Err(Error::Request(_))), "{bad:?}");
        }
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let token = "f".repeat(64);
        let c = ApiClient::new("127.0.0.1:1", &token).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains(&token), "{debug}");
        assert!(debug.contains("127.0.0.1:1"), "{debug}");
    }
}
