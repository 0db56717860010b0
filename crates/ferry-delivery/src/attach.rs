//! How a process's regions join its one delivery engine. The server
//! creates the engine once ([`EngineConfig::from_env`], [`Engine::new`],
//! [`Engine::start`]) and hands it to every region, which [`attach`]es its
//! target and registry and serves the engine's routes under `/api/v1`. All
//! regions share it: promotion gates and `dependsOn` look across regions.
//! Runtime flags come from the environment: `FERRY_GIT_POLL_SECONDS`,
//! `FERRY_GIT_WEBHOOK_SECRET`, `FERRY_DELIVERY_NOTIFY` (comma-separated
//! CloudEvents sinks).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::builder::ImageBuilder;
use crate::engine::{Engine, EngineConfig, RegionTarget};
use crate::target::Target;

/// What a region brings.
#[derive(Debug)]
pub struct Attach<'a> {
    pub region: &'a str,
    pub target: Arc<dyn Target>,
    /// `host:port` of the region's registry.
    pub registry: String,
    /// Builds pipeline images (the first region's builder serves all).
    pub builder: Option<Arc<dyn ImageBuilder>>,
    /// The region's API listens on a loopback address only; otherwise its
    /// git webhook needs `FERRY_GIT_WEBHOOK_SECRET`.
    pub api_loopback: bool,
}

impl EngineConfig {
    /// The engine's configuration with data under `data_dir` and runtime
    /// flags read through `var` (the process environment in production).
    pub fn from_env(data_dir: PathBuf, var: impl Fn(&str) -> Option<String>) -> Self {
        let mut cfg = EngineConfig::new(data_dir);
        if let Some(s) = var("FERRY_GIT_POLL_SECONDS").and_then(|s| s.parse().ok()) {
            cfg.poll_interval = Duration::from_secs(s);
        }
        cfg.webhook_secret = var("FERRY_GIT_WEBHOOK_SECRET").filter(|s| !s.is_empty());
        cfg.notify = var("FERRY_DELIVERY_NOTIFY")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        cfg
    }
}

/// Attaches a region to `engine`; returns the routes for its `/api/v1`.
pub fn attach(engine: &Engine, a: Attach<'_>) -> Router {
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
    crate::api::router_with(engine.clone(), policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_come_from_the_injected_environment() {
        let env = |k: &str| match k {
            "FERRY_GIT_POLL_SECONDS" => Some("5".to_string()),
            "FERRY_GIT_WEBHOOK_SECRET" => Some(String::new()),
            "FERRY_DELIVERY_NOTIFY" => Some(" http://a/ ,, http://b/".to_string()),
            _ => None,
        };
        let cfg = EngineConfig::from_env("/d".into(), env);
        assert_eq!(cfg.poll_interval, Duration::from_secs(5));
        assert_eq!(cfg.webhook_secret, None, "empty means unset");
        assert_eq!(cfg.notify, ["http://a/", "http://b/"]);
        assert_eq!(cfg.data_dir, PathBuf::from("/d"));
    }
}
