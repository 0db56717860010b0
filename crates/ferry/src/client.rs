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

/// `--server`, shared by every verb that talks to a region.
#[derive(Debug, Clone, Args)]
pub struct ServerArg {
    /// The region's API address (the built-in region listens on 127.0.0.1:7070)
    #[arg(
        long,
        env = "FERRY_SERVER",
        default_value = "http://127.0.0.1:7070",
        value_name = "URL",
        global = true
    )]
    pub server: String,
}

/// The API client.
#[derive(Debug)]
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client for `server` (no overall timeout: logs may follow).
    pub fn new(server: &ServerArg) -> anyhow::Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(None)
            .build()?;
        Ok(Self {
            base: format!("{}/api/v1", server.server.trim_end_matches('/')),
            http,
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
        let resp = req.send().map_err(|e| anyhow!("cannot reach the region API at {url}: {e}; is `ferry up` running? (set --server or FERRY_SERVER)"))?;
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
