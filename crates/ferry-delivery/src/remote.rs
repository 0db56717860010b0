//! Environments of regions run by other processes (`ferry up --region`).
//!
//! Each process's engine delivers only to the regions attached to it; an
//! environment of another region is that region's process's business.
//! What crosses processes is evidence for promotion gates: before
//! `requiresHealthyIn: dev` lets a commit into `prod`, the engine asks
//! `dev`'s region (through [`RemoteRegions`], the server's HTTPS client)
//! for the application's status there. Missing evidence never promotes:
//! an unreachable region, a refused token or an answer without the
//! environment keeps the gate closed, with the reason in the status, and
//! the next pass asks again. A private region (`spec.private`) cannot be
//! asked: it pushes the same [`RemoteEnv`] records to the regions that
//! gate on it, and the server's client answers from the last push.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::Result;
use crate::health::Health;
use crate::target::BoxFuture;

/// Asks another process's region about an application.
pub trait RemoteRegions: Send + Sync + std::fmt::Debug {
    /// `app`'s environments as region `region`'s own engine reports them
    /// (`GET /api/v1/apps/{app}` on its API); `Err` when it cannot answer.
    fn app_status<'a>(
        &'a self,
        region: &'a str,
        app: &'a str,
    ) -> BoxFuture<'a, Result<Vec<RemoteEnv>>>;
}

/// What a gate needs of one environment's status in another region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteEnv {
    pub environment: String,
    #[serde(default)]
    pub synced_revision: Option<String>,
    pub health: Health,
}

/// The body of `GET /api/v1/apps/{app}`, as far as gates read it.
#[derive(Debug, Deserialize)]
pub struct RemoteApp {
    pub environments: Vec<RemoteEnv>,
}

/// Whether `envs` show `commit` synced and Healthy in `env` (pure).
pub fn healthy_in(envs: &[RemoteEnv], env: &str, commit: &str) -> bool {
    envs.iter().any(|e| {
        e.environment == env
            && e.synced_revision.as_deref() == Some(commit)
            && e.health == Health::Healthy
    })
}

impl Engine {
    /// Lets promotion gates ask regions run by other processes. Set once.
    pub fn set_remote_regions(&self, remote: std::sync::Arc<dyn RemoteRegions>) {
        let _ = self.inner.remote.set(remote);
    }

    /// The region of environment `env` when another process runs it
    /// (a region of the topology not attached here, with a remote client
    /// set); `None` for a local environment.
    pub(crate) fn remote_region_of(&self, env: &str) -> Option<String> {
        self.inner.remote.get()?;
        let region = &self.inner.topology.environment(env)?.spec.region;
        (!self.lock().regions.contains_key(region)).then(|| region.clone())
    }

    /// The `requiresHealthyIn` gate for an environment of another process's
    /// region: `None` lets `commit` through, `Some(why)` keeps it waiting.
    pub(crate) async fn remote_healthy_gate(
        &self,
        app: &str,
        env: &str,
        region: &str,
        commit: &str,
    ) -> Option<String> {
        let sha7 = &commit[..7.min(commit.len())];
        let remote = self.inner.remote.get()?.clone();
        match remote.app_status(region, app).await {
            Ok(envs) if healthy_in(&envs, env, commit) => None,
            Ok(_) => Some(format!(
                "waiting for {sha7} to be healthy in `{env}` (region `{region}`) before promotion"
            )),
            Err(e) => Some(format!(
                "cannot tell whether {sha7} is healthy in `{env}`: {}; not promoting until it answers",
                crate::error::report(&e)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str, rev: Option<&str>, health: Health) -> RemoteEnv {
        RemoteEnv {
            environment: name.into(),
            synced_revision: rev.map(String::from),
            health,
        }
    }

    #[test]
    fn only_the_same_commit_healthy_in_the_named_environment_promotes() {
        let envs = [
            env("dev", Some("abc"), Health::Healthy),
            env("qa", Some("def"), Health::Degraded),
        ];
        assert!(healthy_in(&envs, "dev", "abc"));
        assert!(!healthy_in(&envs, "dev", "def"), "another commit");
        assert!(!healthy_in(&envs, "qa", "def"), "not healthy");
        assert!(!healthy_in(&envs, "prod", "abc"), "no such environment");
        assert!(!healthy_in(&[], "dev", "abc"), "no evidence");
    }

    #[test]
    fn the_api_body_is_read_leniently() {
        let body = r#"{"name":"web","repoUrl":"/r","environments":[{"environment":"dev","region":"uk",
            "syncedRevision":"abc","health":"Healthy","sync":"Synced","objects":[]},
            {"environment":"prod","region":"sh","health":"Unknown"}]}"#;
        let app: RemoteApp = serde_json::from_str(body).unwrap();
        assert!(healthy_in(&app.environments, "dev", "abc"));
        assert_eq!(app.environments[1].synced_revision, None);
    }
}
