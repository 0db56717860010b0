//! A small blocking client for a region's JSON API (the runtime's routes
//! under `/api/v1`), shared by the kubectl-like verbs. API errors come back
//! as `{code, message, details}`; validation errors become bad input (exit 2)
//! with one line per problem.

use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::commands::BadInput;

/// `--server`, `--context` and `--token`, shared by every verb that talks
/// to a region. Without them, the client config's current context decides
/// (`ferry up` writes it); `--server` alone picks the context with that URL.
#[derive(Debug, Clone, Args, Default)]
pub struct ServerArg {
    /// The region's API URL (default: the client config's current context, else http://127.0.0.1:7070)
    #[arg(long, env = "FERRY_SERVER", value_name = "URL", global = true)]
    pub server: Option<String>,
    /// A context of the client config ($FERRY_CONFIG, default ~/.config/ferry/config.yaml)
    #[arg(long, env = "FERRY_CONTEXT", value_name = "NAME", global = true)]
    pub context: Option<String>,
    /// Bearer token to use instead of the context's
    #[arg(
        long,
        env = "FERRY_TOKEN",
        value_name = "TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// Where a verb's requests go and with which credentials.
#[derive(Debug, Clone)]
pub struct Target {
    pub server: String,
    pub token: Option<String>,
    pub ca: Option<std::path::PathBuf>,
}

impl ServerArg {
    /// Resolves the server, token and CA from the flags and the client config.
    pub fn target(&self) -> anyhow::Result<Target> {
        let path = ferry_auth::ClientConfig::default_path();
        let config = ferry_auth::ClientConfig::load(&path)?;
        let ctx = match (&self.context, &self.server) {
            (Some(name), _) => Some(config.context(name).ok_or_else(|| {
                BadInput(format!(
                    "no context `{name}` in {}; its contexts: {}",
                    path.display(),
                    config
                        .contexts
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?),
            (None, Some(server)) => config.for_server(server),
            (None, None) => config.current(),
        };
        Ok(Target {
            server: self
                .server
                .clone()
                .or_else(|| ctx.map(|c| c.server.clone()))
                .unwrap_or_else(|| DEFAULT_SERVER.to_string()),
            token: self.token.clone().or_else(|| ctx.map(|c| c.token.clone())),
            ca: ctx.and_then(|c| c.certificate_authority.clone()),
        })
    }
}

/// Where the built-in region listens.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

impl Target {
    /// An async HTTP/1.1 client (upgrades need HTTP/1.1) sending this
    /// target's token, and the API base URL (`…/api/v1`).
    pub fn async_client(&self) -> anyhow::Result<(reqwest::Client, String)> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = &self.token {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| BadInput("the token holds characters a header cannot carry".into()))?;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .http1_only()
            .default_headers(headers);
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca)
                .with_context(|| format!("reading the context's CA {}", ca.display()))?;
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        let base = format!("{}/api/v1", self.server.trim_end_matches('/'));
        Ok((http.build()?, base))
    }
}

/// The API client.
#[derive(Debug)]
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client for the region `server` resolves to (no overall timeout:
    /// logs may follow), sending its bearer token on every request.
    pub fn new(server: &ServerArg) -> anyhow::Result<Self> {
        let target = server.target()?;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = &target.token {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| BadInput("the token holds characters a header cannot carry".into()))?;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let mut http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(None)
            .default_headers(headers);
        if let Some(ca) = &target.ca {
            let pem = std::fs::read(ca)
                .with_context(|| format!("reading the context's CA {}", ca.display()))?;
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        Ok(Self {
            base: format!("{}/api/v1", target.server.trim_end_matches('/')),
            http: http.build()?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
        url: &str,
    ) -> anyhow::Result<reqwest::blocking::Response> {
        let resp = req.send().map_err(|e| anyhow!("cannot reach the region API at {url}: {e}; is `ferry up` running? (set --server, FERRY_SERVER or --context)"))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        let message = body["message"]
            .as_str()
            .unwrap_or("request failed")
            .to_string();
        let details: Vec<String> = body["details"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(String::from))
            .collect();
        match body["code"].as_str() {
            Some("Invalid") | Some("BadRequest") | Some("NotFound") => {
                let text = if details.is_empty() {
                    message
                } else {
                    details.join("\n")
                };
                Err(BadInput(text).into())
            }
            Some("Unauthorized") => Err(anyhow!(
                "{url} answered {status}: {message}\n(the CLI reads its token from {}; pass --token or --context to choose another)",
                ferry_auth::ClientConfig::default_path().display()
            )),
            _ => Err(anyhow!("{url} answered {status}: {message}")),
        }
    }

    /// GET a JSON document.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = self.url(path);
        self.send(self.http.get(&url), &url)?
            .json()
            .with_context(|| format!("bad answer from {url}"))
    }

    /// GET a streaming body.
    pub fn get_stream(&self, path: &str) -> anyhow::Result<reqwest::blocking::Response> {
        let url = self.url(path);
        self.send(self.http.get(&url), &url)
    }

    /// POST JSON, answer JSON.
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let url = self.url(path);
        self.send(self.http.post(&url).json(body), &url)?
            .json()
            .with_context(|| format!("bad answer from {url}"))
    }

    /// POST JSON; the status and the JSON answer, whatever the status
    /// (for callers that retry some refusals, as drain does on 429).
    pub fn post_status<B: Serialize>(&self, path: &str, body: &B) -> anyhow::Result<(u16, Value)> {
        let url = self.url(path);
        let resp = self.http.post(&url).json(body).send().map_err(|e| {
            anyhow!("cannot reach the region API at {url}: {e}; is `ferry up` running?")
        })?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().unwrap_or(Value::Null)))
    }

    /// DELETE, answer JSON. The body is `{}`: the API takes mutations only
    /// as JSON (no HTML form can send that).
    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let url = self.url(path);
        let req = self.http.delete(&url).json(&serde_json::json!({}));
        Ok(self.send(req, &url)?.json()?)
    }
}

/// Splits `kind/name` or (`kind`, `name`).
pub fn kind_and_name(first: &str, second: Option<&str>) -> anyhow::Result<(String, String)> {
    match (first.split_once('/'), second) {
        (Some((k, n)), None) => Ok((k.to_string(), n.to_string())),
        (None, Some(n)) => Ok((first.to_string(), n.to_string())),
        _ => Err(BadInput(format!("give TYPE NAME or TYPE/NAME (got `{first}`)")).into()),
    }
}

/// Percent-encodes a query parameter's value (everything but RFC 3986's
/// unreserved characters).
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
