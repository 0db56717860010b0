//! How a region joins the process's delivery engine. All regions of one
//! `ferry up` share one engine (promotion gates and `dependsOn` look across
//! regions); the first region to attach creates and starts it with its data
//! under `<that region's data dir>/delivery`. Runtime flags come from the
//! environment: `FERRY_GIT_POLL_SECONDS`, `FERRY_GIT_WEBHOOK_SECRET`,
//! `FERRY_DELIVERY_NOTIFY` (comma-separated CloudEvents sinks).

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use ferry_core::events::EventBus;
use ferry_core::topology::Topology;
use tokio_util::sync::CancellationToken;

use crate::builder::ImageBuilder;
use crate::engine::{Engine, EngineConfig, RegionTarget};
use crate::error::Result;
use crate::images::HttpImageCheck;
use crate::target::Target;

type Engines = Mutex<Vec<(Weak<Topology>, Engine)>>;

static ENGINES: Engines = Mutex::new(Vec::new());

/// What a region brings.
#[derive(Debug)]
pub struct Attach<'a> {
    pub region: &'a str,
    pub data_dir: &'a Path,
    pub topology: &'a Arc<Topology>,
    pub events: &'a EventBus,
    pub shutdown: &'a CancellationToken,
    pub target: Arc<dyn Target>,
    /// `host:port` of the region's registry.
    pub registry: String,
    /// Builds pipeline images (the first region's builder serves all).
    pub builder: Option<Arc<dyn ImageBuilder>>,
    /// The region's API listens on a loopback address only; otherwise its
    /// git webhook needs `FERRY_GIT_WEBHOOK_SECRET`.
    pub api_loopback: bool,
}

/// Attaches a region; returns the engine and the routes for `/api/v1`.
pub fn attach(a: Attach<'_>) -> Result<(Engine, Router)> {
    let mut engines = ENGINES.lock().unwrap_or_else(|e| e.into_inner());
    engines.retain(|(t, _)| t.strong_count() > 0);
    let found = engines
        .iter()
        .find(|(t, _)| t.upgrade().is_some_and(|t| Arc::ptr_eq(&t, a.topology)));
    let engine = match found {
        Some((_, e)) => e.clone(),
        None => {
            let mut cfg = EngineConfig::new(a.data_dir.join("delivery"));
            if let Some(s) = std::env::var("FERRY_GIT_POLL_SECONDS")
                .ok()
                .and_then(|s| s.parse().ok())
            {
                cfg.poll_interval = Duration::from_secs(s);
            }
            cfg.webhook_secret = std::env::var("FERRY_GIT_WEBHOOK_SECRET")
                .ok()
                .filter(|s| !s.is_empty());
            cfg.notify = std::env::var("FERRY_DELIVERY_NOTIFY")
                .map(|s| {
                    s.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let e = Engine::new(
                cfg,
                a.topology.clone(),
                a.events.clone(),
                Arc::new(HttpImageCheck::default()),
            )?;
            e.start(a.shutdown.clone());
            engines.push((Arc::downgrade(a.topology), e.clone()));
            e
        }
    };
    if let Some(b) = a.builder {
        engine.set_builder(b);
    }
    engine.add_region(
        a.region,
        RegionTarget {
            target: a.target,
            registry: a.registry,
        },
    );
    let policy = crate::api::HookPolicy {
        require_secret: !a.api_loopback,
    };
    if policy.require_secret && engine.inner.cfg.webhook_secret.is_none() {
        tracing::warn!(
            region = a.region,
            "the API listens beyond loopback and FERRY_GIT_WEBHOOK_SECRET is unset: git webhooks are refused"
        );
    }
    let router = crate::api::router_with(engine.clone(), policy);
    Ok((engine, router))
}
