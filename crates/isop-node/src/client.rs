//! A client of a node's local API, for the CLI and scripts.

use serde_json::Value;

use crate::{Error, NodeConfig};

/// Talks to one node's local API with its bearer token.
#[derive(Clone, Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl ApiClient {
    /// A client for the node `config` describes (its API address and token file).
    pub fn from_config(config: &NodeConfig) -> Result<Self, Error> {
        let api = config.api.as_ref().ok_or_else(|| Error::Config {
            path: "api".into(),
            why: "the node's local API is off (no [api] section)".into(),
        })?;
        crate::config::check_private(&api.token_file)?;
        let token = std::fs::read_to_string(&api.token_file).map_err(|e| Error::KeyFile {
            path: api.token_file.display().to_string(),
            why: format!("{e} (start the node once to make it)"),
        })?;
        // Never through a proxy: HTTP_PROXY and ALL_PROXY, set on many
        // workstations, would otherwise receive the token and every notice
        // in clear, even for this loopback address.
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| Error::LocalApi(format!("cannot build the API client: {e}")))?;
        Ok(Self {
            http,
            base: format!("http://{}", api.listen),
            token: token.trim().to_owned(),
        })
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let r = req.bearer_auth(&self.token).send().await.map_err(|e| {
            Error::LocalApi(format!(
                "cannot reach the node's API at {}: {e} (is the node running?)",
                self.base
            ))
        })?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let why = body["error"]
            .as_str()
            .map_or_else(|| status.to_string(), str::to_owned);
        Err(Error::LocalApi(format!(
            "the node answered {status}: {why}"
        )))
    }

    /// GET a JSON resource.
    pub async fn get(&self, path: &str) -> Result<Value, Error> {
        let r = self
            .call(self.http.get(format!("{}{path}", self.base)))
            .await?;
        r.json()
            .await
            .map_err(|e| Error::LocalApi(format!("the node's answer is not JSON: {e}")))
    }

    /// GET a text resource.
    pub async fn get_text(&self, path: &str) -> Result<String, Error> {
        let r = self
            .call(self.http.get(format!("{}{path}", self.base)))
            .await?;
        r.text()
            .await
            .map_err(|e| Error::LocalApi(format!("reading the answer: {e}")))
    }

    /// POST JSON, answered with JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let r = self
            .call(self.http.post(format!("{}{path}", self.base)).json(body))
            .await?;
        r.json()
            .await
            .map_err(|e| Error::LocalApi(format!("the node's answer is not JSON: {e}")))
    }

    /// POST raw bytes, answered with JSON.
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<Value, Error> {
        let r = self
            .call(
                self.http
                    .post(format!("{}{path}", self.base))
                    .header("content-type", "application/octet-stream")
                    .body(body),
            )
            .await?;
        r.json()
            .await
            .map_err(|e| Error::LocalApi(format!("the node's answer is not JSON: {e}")))
    }

    /// Streams a GET into `out`, returning the bytes written; `progress`
    /// hears the running total after each chunk.
    pub async fn download(
        &self,
        path: &str,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
        mut progress: impl FnMut(u64),
    ) -> Result<u64, Error> {
        use tokio::io::AsyncWriteExt;
        let mut r = self
            .call(self.http.get(format!("{}{path}", self.base)))
            .await?;
        let mut n = 0;
        while let Some(chunk) = r
            .chunk()
            .await
            .map_err(|e| Error::LocalApi(format!("download: {e}")))?
        {
            out.write_all(&chunk)
                .await
                .map_err(|e| Error::LocalApi(format!("writing: {e}")))?;
            n += chunk.len() as u64;
            progress(n);
        }
        out.flush()
            .await
            .map_err(|e| Error::LocalApi(format!("writing: {e}")))?;
        Ok(n)
    }
}
