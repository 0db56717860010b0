//! The pushing side of a private region (`spec.private: true`): nothing can
//! dial it, so every push interval (2 s, `FERRY_STATUS_PUSH_SECONDS`) it
//! sends its applications' status in it — per environment the synced
//! commit and health, what a `requiresHealthyIn` gate reads — to each
//! region that gates on one of its environments, at that region's
//! `spec.endpoints.api` with that region's CA and token
//! (`PUT /api/v1/regions/{region}/status`, [`crate::pushed_status`]).
//!
//! A failed push is retried at the next interval (the receiver treats a
//! record older than three intervals as missing evidence, so a cut link
//! closes its gates rather than leaving an old "healthy" standing); the
//! first failure after a success and the first success after failures are
//! logged, not every attempt.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferry_core::topology::Topology;
use ferry_delivery::remote::RemoteEnv;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::pushed_status::PushedStatus;
use crate::region::RegionContext;
use crate::remote::HttpRemoteRegions;

/// Seconds between pushes unless `FERRY_STATUS_PUSH_SECONDS` says.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// The push interval (`FERRY_STATUS_PUSH_SECONDS`, at least 1).
fn interval() -> Duration {
    std::env::var("FERRY_STATUS_PUSH_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(DEFAULT_INTERVAL, |s| Duration::from_secs(s.max(1)))
}

/// Regions that gate on an environment of `private`: those with an
/// environment a pipeline rule deploys to with `requiresHealthyIn` naming
/// an environment of `private` (never `private` itself).
pub(crate) fn receivers(topology: &Topology, private: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let rules = topology.pipelines.iter().flat_map(|p| &p.spec.rules);
    for rule in rules {
        let gated_here = rule
            .requires_healthy_in
            .as_deref()
            .and_then(|e| topology.environment(e))
            .is_some_and(|e| e.spec.region == private);
        if !gated_here {
            continue;
        }
        let targets = topology
            .environments
            .iter()
            .filter(|e| rule.environments.matches(&e.metadata.labels));
        out.extend(
            targets
                .map(|e| e.spec.region.clone())
                .filter(|r| r != private),
        );
    }
    out
}

/// Starts the pusher of `ctx`'s region when it is private and another
/// process's region gates on it.
pub(crate) fn spawn(ctx: &RegionContext, engine: &ferry_delivery::Engine, tasks: &mut JoinSet<()>) {
    let (topology, local, name) = (&ctx.topology, &ctx.endpoints, &ctx.name);
    if !topology.region(name).is_some_and(|r| r.spec.private) {
        return;
    }
    let to: Vec<String> = receivers(topology, name)
        .into_iter()
        .filter(|r| !local.contains_key(r))
        .collect();
    if to.is_empty() {
        return;
    }
    let every = interval();
    tracing::info!(region = %name, to = ?to, every = ?every, "pushing status out (private region)");
    let pusher = Pusher {
        region: name.clone(),
        to,
        client: HttpRemoteRegions::new(topology, local, &ctx.config_dir),
        engine: engine.clone(),
        every,
    };
    tasks.spawn(pusher.run(ctx.shutdown.clone()));
}

/// One private region's pushes.
#[derive(Debug)]
struct Pusher {
    region: String,
    to: Vec<String>,
    client: HttpRemoteRegions,
    engine: ferry_delivery::Engine,
    every: Duration,
}

impl Pusher {
    async fn run(self, shutdown: CancellationToken) {
        let mut failing: BTreeMap<String, bool> = BTreeMap::new();
        loop {
            let status = self.status();
            for region in &self.to {
                let path = format!("/api/v1/regions/{}/status", self.region);
                let result = self.client.put_json(region, &path, &status).await;
                let was_failing = failing.insert(region.clone(), result.is_err());
                match (&result, was_failing) {
                    (Err(e), Some(false) | None) => {
                        tracing::warn!(from = %self.region, to = %region, error = %e, "cannot push status; retrying every interval");
                    }
                    (Ok(()), Some(true)) | (Ok(()), None) => {
                        tracing::info!(from = %self.region, to = %region, "status pushed");
                    }
                    _ => {}
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }

    /// This region's environments of every application, as gates read them.
    fn status(&self) -> PushedStatus {
        let mut apps = BTreeMap::new();
        for app in self.engine.list() {
            let envs: Vec<RemoteEnv> = app
                .environments
                .iter()
                .filter(|e| e.region == self.region)
                .map(|e| RemoteEnv {
                    environment: e.environment.clone(),
                    synced_revision: e.synced_revision.clone(),
                    health: e.health,
                })
                .collect();
            apps.insert(app.name.clone(), envs);
        }
        PushedStatus {
            region: self.region.clone(),
            interval_seconds: self.every.as_secs(),
            apps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_are_the_regions_gating_on_the_private_one() {
        let doc = |kind: &str, name: &str, rest: &str| {
            format!(
                "apiVersion: ferry.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\n{rest}\n---\n"
            )
        };
        let region = |name: &str, port: u16, private: bool| {
            doc(
                "Region",
                name,
                &format!(
                    "spec:\n  private: {private}\n  listeners: {{api: '127.0.0.1:{port}', registry: '127.0.0.1:{}', gateway: '127.0.0.1:{}'}}",
                    port + 1,
                    port + 2
                ),
            )
        };
        let env = |name: &str, region: &str, stage: &str| {
            format!(
                "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: {name}, labels: {{app: web, stage: {stage}}}}}\nspec: {{region: {region}}}\n---\n"
            )
        };
        let text = [
            region("uk", 17000, false),
            region("sh", 17010, true),
            region("us", 17020, false),
            env("edge", "sh", "edge"),
            env("prod", "uk", "prod"),
            env("qa", "us", "qa"),
            doc("Application", "web", "spec:\n  source: {repoUrl: /r, path: k8s}\n  environments: {matchLabels: {app: web}}"),
            doc("Pipeline", "web", "spec:\n  application: web\n  buildRegion: uk\n  rules:\n  - {branch: main, imageTag: 'x-{sha7}', environments: {matchLabels: {stage: edge}}}\n  - {branch: main, imageTag: 'x-{sha7}', environments: {matchLabels: {stage: prod}}, requiresHealthyIn: edge}"),
        ]
        .concat();
        let topo = Topology::from_sources(&[("t.yaml".into(), text)]).unwrap();
        assert_eq!(receivers(&topo, "sh"), BTreeSet::from(["uk".to_string()]));
        assert!(receivers(&topo, "uk").is_empty());
    }
}
