//! Shared set-up for the replication tests: ferry's own registry served
//! in-process on a loopback port (publishing real `ImagePushed` events),
//! tiny images, rules and engines.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_core::events::EventBus;
use ferry_core::replication_spec::{
    ReplicationEndpoint, ReplicationRule, ReplicationRuleSpec, TagFilter,
};
use ferry_image::build::{Entry, ImageBuilder, Layer};
use ferry_image::{ImageRef, PushOptions, RegistryClient, Store};
use ferry_replication::{Engine, EngineConfig, RuleStatus};
use tokio_util::sync::CancellationToken;

/// A region's registry served on `addr` until stopped.
pub struct Reg {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Reg {
    pub async fn start(region: &str, dir: &Path, events: &EventBus, addr: SocketAddr) -> Reg {
        let config = ferry_registry::Config {
            region: region.into(),
            data_dir: dir.join(region),
            spec: Default::default(),
        };
        let mut metrics = prometheus_client::registry::Registry::default();
        let reg =
            ferry_registry::Registry::open(config.clone(), events.clone(), &mut metrics).unwrap();
        let listener = bind_retry(addr).await;
        let shutdown = CancellationToken::new();
        let server = reg.serve_on(&config, listener, shutdown.clone()).unwrap();
        Reg {
            addr,
            shutdown,
            task: tokio::spawn(server),
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

async fn bind_retry(addr: SocketAddr) -> tokio::net::TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("bind {addr}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Builds a one-file image whose content is `content` and pushes it as
/// `host/repo:tag`; returns the manifest digest.
pub async fn push_small(store: &Store, host: &str, repo: &str, tag: &str, content: &str) -> String {
    let mut l = Layer::new();
    l.insert(
        "/content",
        Entry::Data {
            data: content.as_bytes().to_vec(),
            mode: 0o644,
        },
    )
    .unwrap();
    let name = format!("{host}/{repo}:{tag}");
    ImageBuilder::new()
        .layer(l)
        .label("content", content)
        .build(store, Some(&name))
        .unwrap();
    let client = RegistryClient::new(host, None).unwrap();
    ferry_image::push(
        &client,
        store,
        &name,
        &ImageRef::parse(&name).unwrap(),
        &PushOptions::default(),
    )
    .await
    .unwrap()
}

/// The digest `host` has for `repo:tag`, if any.
pub async fn digest_in(host: &str, repo: &str, tag: &str) -> Option<String> {
    let client = RegistryClient::new(host, None).unwrap();
    client
        .head_manifest(repo, tag)
        .await
        .ok()
        .flatten()
        .map(|m| m.0)
}

/// A rule `name` copying region `a` to region `b`.
pub fn rule(name: &str, repos: &[&str]) -> ReplicationRule {
    ReplicationRule {
        api_version: ferry_core::API_VERSION.into(),
        kind: "ReplicationRule".into(),
        metadata: ferry_core::ObjectMeta {
            name: name.into(),
            ..Default::default()
        },
        spec: ReplicationRuleSpec {
            source: ReplicationEndpoint {
                region: Some("a".into()),
                ..Default::default()
            },
            target: ReplicationEndpoint {
                region: Some("b".into()),
                ..Default::default()
            },
            repositories: repos.iter().map(|s| s.to_string()).collect(),
            tags: TagFilter::default(),
            deletes: false,
            reconcile_interval_seconds: None,
            mode: Default::default(),
            bandwidth: None,
        },
    }
}

/// An engine for region `a` with fast retries.
pub fn engine(
    state: PathBuf,
    rules: Vec<ReplicationRule>,
    a: SocketAddr,
    b: SocketAddr,
    events: &EventBus,
    shutdown: CancellationToken,
) -> Engine {
    let registries = BTreeMap::from([
        ("a".to_string(), a.to_string()),
        ("b".to_string(), b.to_string()),
    ]);
    let mut cfg = EngineConfig::new("a", state, rules, registries, events.clone(), shutdown);
    cfg.max_backoff = Duration::from_millis(400);
    cfg.reconcile_interval = Some(Duration::from_secs(3600));
    let mut metrics = prometheus_client::registry::Registry::default();
    Engine::start(cfg, &mut metrics).unwrap()
}

/// Polls `check` every 50 ms until it is true or `secs` pass.
pub async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn status(engine: &Engine, rule: &str) -> RuleStatus {
    engine
        .status()
        .into_iter()
        .find(|s| s.name == rule)
        .expect("rule status")
}
