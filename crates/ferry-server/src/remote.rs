//! Regions this process does not run (`ferry up --region`): where their
//! registries and APIs are (`spec.endpoints` of their `Region`), the CA
//! that signed them, and the token their API wants.
//!
//! Replication gets each remote region's registry URL and CA at start (the
//! CA file must exist then: the error names the field). Promotion gates ask
//! a remote region's API for an application's status through
//! [`HttpRemoteRegions`], which reads the CA and token files at each call,
//! so a region started later, or a rotated token, needs no restart. The
//! token is sent only to that region's `spec.endpoints.api` and is never
//! logged or put in an error. A private region (`spec.private`) cannot be
//! dialed: its status comes from what it last pushed here
//! ([`crate::pushed_status`]), and it pushes its own with [`HttpRemoteRegions::put_json`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_core::topology::{Region, Topology};
use ferry_delivery::remote::{RemoteApp, RemoteEnv, RemoteRegions};
use ferry_delivery::target::BoxFuture;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::Error;
use crate::pushed_status::PushedStore;
use crate::region::RegionContext;

/// How long one question to another region may take (a WAN round trip is
/// a fraction of a second; a cut link must not stall a pass for long).
const REMOTE_TIMEOUT: Duration = Duration::from_secs(10);

/// Region → registry address, and region → PEM CA of its registry.
pub(crate) type Registries = (BTreeMap<String, String>, BTreeMap<String, Vec<u8>>);

/// Registry address of every region replication may name (the local ones'
/// loopback addresses, the remote ones' `spec.endpoints.registry`) and the
/// CA of each remote region that names one.
pub(crate) fn registries(ctx: &RegionContext) -> Result<Registries, Error> {
    let mut addrs: BTreeMap<String, String> = ctx
        .endpoints
        .iter()
        .map(|(name, e)| (name.clone(), e.local_registry.to_string()))
        .collect();
    let mut cas = BTreeMap::new();
    let first = ctx
        .topology
        .regions
        .first()
        .map(|r| r.metadata.name.as_str());
    // Only the CAs of regions a rule run here copies from or to are read.
    let named: std::collections::BTreeSet<&str> = ctx
        .topology
        .replication_rules
        .iter()
        .filter(|r| ferry_replication::rule::owned_by(r, &ctx.name, first == Some(&ctx.name)))
        .flat_map(|r| [&r.spec.source.region, &r.spec.target.region])
        .filter_map(|r| r.as_deref())
        .collect();
    for region in remote_regions(&ctx.topology, &ctx.endpoints) {
        let Some(e) = &region.spec.endpoints else {
            continue;
        };
        let name = &region.metadata.name;
        if let Some(url) = &e.registry {
            addrs.insert(name.clone(), url.trim_end_matches('/').to_string());
        }
        if let Some(ca) = e.ca_file.as_ref().filter(|_| named.contains(name.as_str())) {
            let path = ctx.config_dir.join(ca);
            let pem = std::fs::read(&path).map_err(|e| Error::Component {
                region: ctx.name.clone(),
                component: "replication",
                message: format!(
                    "cannot read spec.endpoints.caFile of Region `{name}` ({}): {e}; \
                     copy that region's CA (its <data dir>/tls/ca.crt) there",
                    path.display()
                ),
            })?;
            cas.insert(name.clone(), pem);
        }
    }
    Ok((addrs, cas))
}

/// Regions of the topology that no region of this process is.
fn remote_regions<'a, V>(
    topology: &'a Topology,
    local: &'a BTreeMap<String, V>,
) -> impl Iterator<Item = &'a Region> {
    topology
        .regions
        .iter()
        .filter(move |r| !local.contains_key(&r.metadata.name))
}

/// Serves the registry's loopback twin (plain HTTP, the same accounts).
pub(crate) fn serve_local_twin(
    ctx: &RegionContext,
    registry: &ferry_registry::Registry,
    listener: TcpListener,
    tasks: &mut JoinSet<()>,
) {
    tasks.spawn(ferry_registry::serve(
        listener,
        registry.router(),
        None,
        ferry_registry::ListenerLimits::default(),
        ctx.shutdown.clone(),
    ));
}

/// One remote region's API as the gates need it.
#[derive(Debug, Clone)]
struct RemoteApi {
    url: Option<String>,
    ca_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
}

/// The server's [`RemoteRegions`]: HTTPS to each remote region's API,
/// or the status a private region pushed.
#[derive(Debug)]
pub(crate) struct HttpRemoteRegions {
    apis: BTreeMap<String, RemoteApi>,
    /// Remote regions marked `spec.private`: never dialed.
    private: std::collections::BTreeSet<String>,
    pushed: Option<Arc<PushedStore>>,
}

impl HttpRemoteRegions {
    /// The remote regions of `topology` (those not in `local`), their
    /// relative paths resolved against `config_dir`.
    pub(crate) fn new<V>(
        topology: &Topology,
        local: &BTreeMap<String, V>,
        config_dir: &Path,
    ) -> Self {
        let apis = remote_regions(topology, local)
            .map(|r| {
                let e = r.spec.endpoints.clone().unwrap_or_default();
                let api = RemoteApi {
                    url: e.api.map(|u| u.trim_end_matches('/').to_string()),
                    ca_file: e.ca_file.map(|p| config_dir.join(p)),
                    token_file: e.token_file.map(|p| config_dir.join(p)),
                };
                (r.metadata.name.clone(), api)
            })
            .collect();
        let private = remote_regions(topology, local)
            .filter(|r| r.spec.private)
            .map(|r| r.metadata.name.clone())
            .collect();
        Self {
            apis,
            private,
            pushed: None,
        }
    }

    /// Answers for private regions from what they pushed into `store`.
    pub(crate) fn with_pushed(mut self, store: Arc<PushedStore>) -> Self {
        self.pushed = Some(store);
        self
    }

    /// The regions this client asks, by name.
    pub(crate) fn regions(&self) -> impl Iterator<Item = &str> {
        self.apis.keys().map(String::as_str)
    }

    /// A request of `path` on `region`'s API (its CA trusted, its token
    /// sent); also the URL, for messages.
    fn request(
        &self,
        method: reqwest::Method,
        region: &str,
        path: &str,
    ) -> Result<(reqwest::RequestBuilder, String), String> {
        let api = self
            .apis
            .get(region)
            .ok_or_else(|| "not a region of the topology run elsewhere".to_string())?;
        let url = api
            .url
            .as_ref()
            .ok_or_else(|| format!("Region `{region}` has no spec.endpoints.api to ask"))?;
        let mut http = reqwest::Client::builder().timeout(REMOTE_TIMEOUT);
        if let Some(ca) = &api.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("spec.endpoints.caFile {}: {e}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("spec.endpoints.caFile {}: {e}", ca.display()))?;
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(|e| e.to_string())?;
        let mut req = http.request(method, format!("{url}{path}"));
        if let Some(file) = &api.token_file {
            let token = std::fs::read_to_string(file)
                .map_err(|e| format!("spec.endpoints.tokenFile {}: {e}", file.display()))?;
            req = req.bearer_auth(token.trim());
        }
        Ok((req, url.clone()))
    }

    /// GETs `path` on `region`'s API and decodes its JSON answer; `what`
    /// ends the message of a non-2xx answer (" for application `x`").
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        region: &str,
        path: &str,
        what: &str,
    ) -> Result<T, String> {
        if self.private.contains(region) {
            return Err(format!(
                "region `{region}` is private (spec.private): it cannot be dialed"
            ));
        }
        let (req, url) = self.request(reqwest::Method::GET, region, path)?;
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{url} unreachable: {}", without_url(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("{url} answered {status}{what}"));
        }
        resp.json()
            .await
            .map_err(|e| format!("{url}: unexpected answer: {}", without_url(&e)))
    }

    /// PUTs `body` as JSON to `path` on `region`'s API (a private region
    /// pushing its status out); a non-2xx answer is an error with its text.
    pub(crate) async fn put_json<T: serde::Serialize>(
        &self,
        region: &str,
        path: &str,
        body: &T,
    ) -> Result<(), String> {
        let (req, url) = self.request(reqwest::Method::PUT, region, path)?;
        let resp = req
            .json(body)
            .send()
            .await
            .map_err(|e| format!("{url} unreachable: {}", without_url(&e)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(format!("{url} answered {status}: {}", text.trim()))
    }

    async fn get_app(&self, region: &str, app: &str) -> Result<Vec<RemoteEnv>, String> {
        if self.private.contains(region) {
            return match &self.pushed {
                Some(store) => store.app_status(region, app),
                None => Err(format!(
                    "region `{region}` is private and pushes no status to this process"
                )),
            };
        }
        let path = format!("/api/v1/apps/{app}");
        let what = format!(" for application `{app}`");
        let body: RemoteApp = self.get_json(region, &path, &what).await?;
        Ok(body.environments)
    }

    /// `region`'s ferry version (`GET /api/v1`): whether it answers, for
    /// the UI's overview.
    pub(crate) async fn version(&self, region: &str) -> Result<String, String> {
        let body: serde_json::Value = self.get_json(region, "/api/v1", "").await?;
        Ok(body["ferryVersion"].as_str().unwrap_or("?").to_string())
    }
}

/// A reqwest error's text without the URL it repeats, with its causes.
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    let mut msg = match text.split_once(" for url (") {
        Some((head, _)) => head.to_string(),
        None => text,
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

impl RemoteRegions for HttpRemoteRegions {
    fn app_status<'a>(
        &'a self,
        region: &'a str,
        app: &'a str,
    ) -> BoxFuture<'a, ferry_delivery::Result<Vec<RemoteEnv>>> {
        Box::pin(async move {
            self.get_app(region, app)
                .await
                .map_err(|message| ferry_delivery::Error::Remote {
                    region: region.to_string(),
                    message,
                })
        })
    }
}

/// The gates' client, when some region of the topology runs elsewhere.
pub(crate) fn remote_regions_client<V>(
    topology: &Topology,
    local: &BTreeMap<String, V>,
    config_dir: &Path,
    pushed: Arc<PushedStore>,
) -> Option<Arc<dyn RemoteRegions>> {
    let client = HttpRemoteRegions::new(topology, local, config_dir).with_pushed(pushed);
    (!client.apis.is_empty()).then(|| Arc::new(client) as Arc<dyn RemoteRegions>)
}

#[cfg(test)]
#[path = "remote_tests.rs"]
mod tests;
