//! Client for myhero-data: every call carries `myhero_data_key`; GET
//! /options is cached for up to 300 s (and served stale while data is down);
//! other answers are passed through with their status.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use tokio::sync::Mutex;

use crate::Error;

/// How long a cached options list is fresh.
pub const OPTIONS_TTL: Duration = Duration::from_secs(300);

/// An answer from myhero-data, passed through to the app's client.
#[derive(Debug, Clone)]
pub struct Passed {
    /// Upstream status.
    pub status: StatusCode,
    /// Upstream body (JSON).
    pub body: Bytes,
    /// Upstream `Total-Votes` header, when present.
    pub total_votes: Option<String>,
}

/// Talks to one myhero-data.
#[derive(Debug)]
pub struct DataClient {
    http: reqwest::Client,
    base: String,
    key: String,
    options: Mutex<Option<(Instant, Passed)>>,
}

impl DataClient {
    /// A client for `base` (e.g. `http://myhero-data`) using `key`.
    pub fn new(base: String, key: String) -> DataClient {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(256)
            .build()
            .expect("reqwest client with default TLS settings");
        DataClient {
            http,
            base,
            key,
            options: Mutex::new(None),
        }
    }

    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, Error> {
        let mut url = reqwest::Url::parse(&self.base).map_err(|e| self.err(e))?;
        url.path_segments_mut()
            .map_err(|_| self.err("base URL cannot have a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Data {
            url: self.base.clone(),
            detail: e.to_string(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Passed, Error> {
        let resp = req
            .header("key", &self.key)
            .send()
            .await
            .map_err(|e| self.err(e))?;
        let status = resp.status();
        let total_votes = resp
            .headers()
            .get("Total-Votes")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = resp.bytes().await.map_err(|e| self.err(e))?;
        Ok(Passed {
            status,
            body,
            total_votes,
        })
    }

    /// GET /options, from the cache when fresh; a stale cache is served if
    /// myhero-data cannot be reached.
    pub async fn options(&self) -> Result<Passed, Error> {
        let mut cache = self.options.lock().await;
        if let Some((at, p)) = cache.as_ref()
            && at.elapsed() < OPTIONS_TTL
        {
            return Ok(p.clone());
        }
        match self.send(self.http.get(self.url(&["options"])?)).await {
            Ok(p) if p.status.is_success() => {
                *cache = Some((Instant::now(), p.clone()));
                Ok(p)
            }
            Ok(p) => Ok(p),
            Err(e) => match cache.as_ref() {
                Some((_, stale)) => {
                    tracing::warn!(error = %e, "myhero-data unreachable; serving cached options");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }

    /// PUT or POST /options with `body`; drops the options cache.
    pub async fn change_options(
        &self,
        method: reqwest::Method,
        body: Bytes,
    ) -> Result<Passed, Error> {
        let req = self
            .http
            .request(method, self.url(&["options"])?)
            .header("content-type", "application/json")
            .body(body);
        let p = self.send(req).await?;
        *self.options.lock().await = None;
        Ok(p)
    }

    /// POST /vote/<hero>, with an idempotency key when given.
    pub async fn vote(&self, hero: &str, id: Option<&str>) -> Result<(), Error> {
        let mut req = self.http.post(self.url(&["vote", hero])?);
        if let Some(id) = id {
            req = req.header("vote-id", id);
        }
        let p = self.send(req).await?;
        if p.status.is_success() {
            Ok(())
        } else if p.status == StatusCode::BAD_REQUEST {
            Err(Error::VoteRefused {
                url: self.base.clone(),
                body: String::from_utf8_lossy(&p.body).into_owned(),
            })
        } else {
            Err(self.err(format!(
                "vote answered {}: {}",
                p.status,
                String::from_utf8_lossy(&p.body)
            )))
        }
    }

    /// GET /v2/results.
    pub async fn results_v2(&self) -> Result<Passed, Error> {
        self.send(self.http.get(self.url(&["v2", "results"])?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hero_names_are_escaped_into_one_path_segment() {
        let c = DataClient::new("http://myhero-data:5000".into(), "k".into());
        assert_eq!(
            c.url(&["vote", "Star-Lord"]).unwrap().as_str(),
            "http://myhero-data:5000/vote/Star-Lord"
        );
        assert_eq!(
            c.url(&["vote", "Captain Cloud/x?y"]).unwrap().as_str(),
            "http://myhero-data:5000/vote/Captain%20Cloud%2Fx%3Fy"
        );
    }
}
