//! An OCI distribution client for one registry: manifests, blobs, tags and
//! catalog, with Docker token auth, plain HTTP for loopback registries and
//! streaming bodies (no blob is ever held in memory whole).
//!
//! [`RegistryClient`] is cheap to clone and safe to share between tasks;
//! bearer tokens are cached per scope.

mod auth;
mod blobs;
pub mod docker_config;
mod manifests;
pub(crate) mod upload;

pub use auth::{Challenge, Credentials, parse_challenge};
pub use blobs::{BlobSource, ByteStream, FileSource, RegistrySource, backoff};
pub use manifests::{FetchedManifest, MANIFEST_ACCEPT};
pub use upload::{MONOLITHIC_MAX, SessionHook, UploadOptions, UploadSession};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::error::{Error, Result};
use crate::reference::registry_base_url;

/// A client for one registry; see the module docs.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    /// `host[:port]`, for messages.
    registry: String,
    /// `scheme://host[:port]`.
    base: String,
    credentials: Option<Credentials>,
    /// scope → `Authorization` header value.
    auth: Mutex<HashMap<String, String>>,
}

impl RegistryClient {
    /// A client for `registry` (`host:port`, or a full `http(s)://` URL).
    /// Loopback hosts are spoken to over plain HTTP. Without `credentials`,
    /// those of Docker's `config.json` for the host are used, if any
    /// ([`docker_config`]).
    pub fn new(registry: &str, credentials: Option<Credentials>) -> Result<Self> {
        Self::with_ca(registry, credentials, None)
    }

    /// [`RegistryClient::new`] trusting `ca_pem` (PEM certificates) besides
    /// the built-in roots: a region's own CA across hosts.
    pub fn with_ca(
        registry: &str,
        credentials: Option<Credentials>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self> {
        let transport = |source| Error::Transport {
            registry: registry.to_string(),
            source,
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(transport)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(transport)?;
        let base = registry_base_url(registry);
        let host = base
            .split_once("://")
            .map_or(registry, |(_, h)| h)
            .to_string();
        let credentials = credentials.or_else(|| docker_config::lookup(&host));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                registry: host,
                base,
                credentials,
                auth: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// `host[:port]` of the registry.
    pub fn registry(&self) -> &str {
        &self.inner.registry
    }

    /// `scheme://host[:port]` of the registry.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Checks the registry speaks the distribution API (`GET /v2/`),
    /// authenticating if it asks.
    pub async fn ping(&self) -> Result<()> {
        let resp = self
            .send(Method::GET, "/v2/", "registry:catalog:*", |r| r)
            .await?;
        self.expect(resp, &[StatusCode::OK], "GET", "/v2/")
            .await
            .map(drop)
    }

    /// Absolute URL for a path (`/v2/...`) or a `Location` header value.
    pub(crate) fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.inner.base, path_or_url)
        }
    }

    /// Sends a request built by `build` (called again for the retry), adding
    /// cached auth for `scope`, and answering one 401 challenge.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        scope: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let url = self.url(path);
        let resp = self.send_once(&method, &url, scope, &build).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        let Some(challenge) = challenge else {
            return Ok(resp);
        };
        self.authenticate(&challenge, scope).await?;
        self.send_once(&method, &url, scope, &build).await
    }

    /// Sends a request whose body cannot be replayed (a stream): auth for
    /// `scope` must already be cached (any earlier request on the scope
    /// does that); a 401 is an error.
    pub(crate) async fn send_streaming(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        req: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let mut r = self.inner.http.request(method, url);
        if let Some(h) = self.cached_auth(scope) {
            r = r.header(AUTHORIZATION, h);
        }
        req(r).send().await.map_err(|source| self.transport(source))
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        scope: &str,
        build: &impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let mut r = self.inner.http.request(method.clone(), url);
        if let Some(h) = self.cached_auth(scope) {
            r = r.header(AUTHORIZATION, h);
        }
        build(r)
            .send()
            .await
            .map_err(|source| self.transport(source))
    }

    fn cached_auth(&self, scope: &str) -> Option<String> {
        let map = self
            .inner
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(scope).or_else(|| map.get("*basic*")).cloned()
    }

    async fn authenticate(&self, challenge: &Challenge, scope: &str) -> Result<()> {
        let header = match challenge {
            Challenge::Basic => {
                let Some(c) = &self.inner.credentials else {
                    return Ok(());
                };
                let mut map = self
                    .inner
                    .auth
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let value = basic_header(c);
                map.insert("*basic*".into(), value);
                return Ok(());
            }
            Challenge::Bearer { realm, service, .. } => {
                let mut query: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = service {
                    query.push(("service", s));
                }
                for s in scope.split(' ').filter(|s| !s.is_empty()) {
                    query.push(("scope", s));
                }
                let mut r = self.inner.http.get(realm).query(&query);
                if let Some(c) = &self.inner.credentials {
                    r = r.basic_auth(&c.username, Some(&c.password));
                }
                let resp = r.send().await.map_err(|source| self.transport(source))?;
                if !resp.status().is_success() {
                    return Err(Error::Unauthorized {
                        registry: self.inner.registry.clone(),
                        scope: scope.to_string(),
                        status: resp.status().as_u16(),
                    });
                }
                let body: auth::TokenResponse =
                    resp.json().await.map_err(|source| self.transport(source))?;
                let token = body.into_token().ok_or_else(|| Error::Protocol {
                    registry: self.inner.registry.clone(),
                    message: format!("token endpoint {realm} returned no token"),
                })?;
                format!("Bearer {token}")
            }
        };
        self.inner
            .auth
            .lock()
            .expect("auth cache lock")
            .insert(scope.to_string(), header);
        Ok(())
    }

    pub(crate) fn transport(&self, source: reqwest::Error) -> Error {
        Error::Transport {
            registry: self.inner.registry.clone(),
            source,
        }
    }

    /// Turns a response with an unexpected status into an error: 401/403 →
    /// [`Error::Unauthorized`], else [`Error::Registry`] with the body.
    pub(crate) async fn expect(
        &self,
        resp: Response,
        ok: &[StatusCode],
        method: &str,
        path: &str,
    ) -> Result<Response> {
        let status = resp.status();
        if ok.contains(&status) {
            return Ok(resp);
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized {
                registry: self.inner.registry.clone(),
                scope: path.to_string(),
                status: status.as_u16(),
            });
        }
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.chars().take(500).collect();
        Err(Error::Registry {
            registry: self.inner.registry.clone(),
            method: method.into(),
            path: path.into(),
            status: status.as_u16(),
            body,
        })
    }
}

fn basic_header(c: &Credentials) -> String {
    // reqwest builds the same header for `basic_auth`; build it by hand here
    // because the cache stores header values.
    let req = reqwest::Client::new()
        .get("http://x/")
        .basic_auth(&c.username, Some(&c.password))
        .build();
    req.ok()
        .and_then(|r| {
            r.headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Token scope for pulling from `repo`.
pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// Token scope for pushing to `repo`.
pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}
