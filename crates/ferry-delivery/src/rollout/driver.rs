//! The IO side of canaries: every [`TICK`] each running rollout is
//! observed (its canary Deployment's ready pods, the user's Deployment
//! once promoting, the gateway's canary counters), advanced by
//! [`super::plan::advance`] under the lock, and its commands carried out:
//! the canary Deployment applied at a replica count, the gateway's split
//! swapped, a sync asked for, the canary removed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_core::mesh::ServiceKey;
use ferry_core::objects::{GroupKind, StoredObject};
use ferry_core::sync::MutexExt;
use ferry_core::traffic::{CANARY_LABEL, SharedTrafficSplits, SideStats, Split};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::plan::{Command, Observed, advance};
use super::{Phase, Rollout, RolloutKey, canary_name};
use crate::engine::Engine;
use crate::health::{Health, object_health};
use crate::object::{LABEL_APP, ObjKey};
use crate::target::Target;

/// How often running rollouts are looked at.
pub const TICK: Duration = Duration::from_millis(100);

/// Milliseconds since the epoch (the plan's clock).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Drives every rollout until `shutdown`.
pub fn spawn(engine: Engine, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            engine.tick_rollouts().await;
        }
    })
}

impl Engine {
    /// The environment's target and its region's gateway, if it has both.
    pub(crate) fn rollout_io(
        &self,
        region: &str,
        env: &str,
    ) -> Option<(Arc<dyn Target>, SharedTrafficSplits)> {
        // This slice runs canaries on the embedded runtime only.
        let topo = &self.inner.topology;
        let e = topo.environments.iter().find(|e| e.metadata.name == env)?;
        if !matches!(
            topo.environment_target(e),
            ferry_core::target_spec::TargetKind::Embedded
        ) {
            return None;
        }
        let traffic = self
            .inner
            .rollouts
            .traffic
            .lock_or_recover()
            .get(region)
            .cloned()?;
        let st = self.lock();
        let target = match st.env_targets.get(env) {
            Some(t) => t.clone(),
            None => st.regions.get(region)?.target.clone(),
        };
        Some((target, traffic))
    }

    /// One look at every running rollout.
    pub(crate) async fn tick_rollouts(&self) {
        let running: Vec<(RolloutKey, Rollout)> = {
            let active = self.inner.rollouts.active.lock_or_recover();
            active
                .iter()
                .filter(|(_, r)| !matches!(r.phase, Phase::Completed | Phase::Aborted))
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect()
        };
        for (key, seen) in running {
            let topo = &self.inner.topology;
            let env = topo.environments.iter().find(|e| e.metadata.name == key.1);
            let env_strategy = env.and_then(|e| e.spec.strategy.as_ref());
            let strategy = seen
                .strategy
                .clone()
                .or_else(|| env_strategy.map(|s| s.canary.clone()));
            let Some(strategy) = strategy else {
                continue;
            };
            let Some((target, traffic)) = self.rollout_io(&seen.region, &seen.environment) else {
                continue;
            };
            let obs = observe(&seen, target.as_ref(), traffic.as_ref()).await;
            let (cmds, r) = {
                let mut active = self.inner.rollouts.active.lock_or_recover();
                let Some(r) = active.get_mut(&key) else {
                    continue;
                };
                let cmds = advance(r, &strategy, &obs, now_ms());
                (cmds, r.clone())
            };
            for c in cmds {
                self.carry_out(&r, &c, target.as_ref(), traffic.as_ref())
                    .await;
            }
            self.inner.metrics.rollouts.observe(&r);
        }
    }

    async fn carry_out(
        &self,
        r: &Rollout,
        c: &Command,
        target: &dyn Target,
        traffic: &dyn ferry_core::traffic::TrafficSplits,
    ) {
        tracing::info!(app = %r.app, env = %r.environment, deployment = %r.deployment, step = r.step, command = ?c, message = ?r.message, "rollout");
        match c {
            Command::ScaleCanary(n) => {
                if let Err(e) = target.apply(vec![canary_object(r, *n)]).await {
                    tracing::warn!(deployment = %r.deployment, error = %e, "cannot apply the canary");
                }
            }
            Command::SetWeight(w) => set_weight(r, traffic, Some(*w)),
            Command::SetRoutes => set_weight(r, traffic, Some(r.weight)),
            Command::SyncStable => {
                if let Err(e) = self.sync_now(&r.app, Some(&r.environment)) {
                    tracing::warn!(app = %r.app, error = %e, "cannot ask for the promoting sync");
                }
            }
            Command::Finish => {
                set_weight(r, traffic, Some(0));
                remove_canary(r, target).await;
                set_weight(r, traffic, None);
            }
        }
        let outcome = match (c, r.phase) {
            (Command::Finish, _) => "completed",
            (Command::SetWeight(0), Phase::Aborted) => "aborted",
            _ => return,
        };
        let labels = super::metrics::OutcomeLabels {
            outcome: outcome.into(),
        };
        self.inner
            .metrics
            .rollouts
            .outcomes
            .get_or_create(&labels)
            .inc();
    }
}

/// Sets (or with `None` removes) the split of every Service of `r`, with
/// the routes `r` has in force.
pub(crate) fn set_weight(
    r: &Rollout,
    traffic: &dyn ferry_core::traffic::TrafficSplits,
    w: Option<u32>,
) {
    for svc in &r.services {
        let key = ServiceKey {
            namespace: r.namespace.clone(),
            name: svc.clone(),
        };
        let split = w.map(|canary_weight| Split {
            deployment: r.deployment.clone(),
            canary_weight,
            header_routes: r.header_routes.clone(),
            mirror_routes: r.mirror_routes.clone(),
            canary_delay: r.fault.as_ref().and_then(|f| {
                let d = f.delay?;
                Some((d.0, f.percentage.min(100)))
            }),
        });
        traffic.set_split(&key, split);
    }
}

/// Deletes `r`'s canary Deployment.
pub(crate) async fn remove_canary(r: &Rollout, target: &dyn Target) {
    let key = ObjKey {
        group_kind: GroupKind::of("apps/v1", "Deployment"),
        namespace: Some(r.namespace.clone()),
        name: canary_name(&r.deployment),
    };
    if let Err(e) = target.delete(vec![key]).await {
        tracing::warn!(deployment = %r.deployment, error = %e, "cannot remove the canary");
    }
}

async fn observe(
    r: &Rollout,
    target: &dyn Target,
    traffic: &dyn ferry_core::traffic::TrafficSplits,
) -> Observed {
    let mut obs = Observed::default();
    let canary = canary_name(&r.deployment);
    if let Ok(objs) = target.list(CANARY_LABEL, &r.deployment).await
        && let Some(c) = objs
            .iter()
            .find(|o| o.name == canary && o.namespace.as_deref() == Some(&r.namespace))
    {
        obs.canary_ready = ready_pods(&c.value);
    }
    if r.phase == Phase::Promoting
        && let Ok(objs) = target.list(LABEL_APP, &r.app).await
        && let Some(d) = objs.iter().find(|o| {
            o.name == r.deployment
                && o.namespace.as_deref() == Some(&r.namespace)
                && o.group_kind.kind == "Deployment"
        })
    {
        let same = d
            .value
            .pointer("/spec/template")
            .is_some_and(|t| crate::diff::diff(&r.canary_template, t).is_empty());
        // Every pod updated and ready, as the controller has observed it.
        let all = ready_pods(&d.value) >= r.replicas;
        obs.stable_rolled = same && all && object_health(Some(&d.value)) == Health::Healthy;
    }
    for svc in &r.services {
        let key = ServiceKey {
            namespace: r.namespace.clone(),
            name: svc.clone(),
        };
        if let Some(s) = traffic.stats(&key) {
            add(
                obs.canary_stats.get_or_insert_with(Default::default),
                &s.canary,
            );
            add(
                obs.mirror_stats.get_or_insert_with(Default::default),
                &s.mirror,
            );
        }
    }
    obs
}

fn add(acc: &mut SideStats, s: &SideStats) {
    acc.requests += s.requests;
    acc.errors += s.errors;
    acc.latency
        .resize(s.latency.len().max(acc.latency.len()), 0);
    for (a, b) in acc.latency.iter_mut().zip(&s.latency) {
        *a += b;
    }
}

/// Ready pods of the current generation (none while an update is unobserved).
fn ready_pods(v: &Value) -> u32 {
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64);
    let generation = n("/metadata/generation").unwrap_or(0);
    if n("/status/observedGeneration").unwrap_or(0) < generation {
        return 0;
    }
    let ready = n("/status/readyReplicas").unwrap_or(0);
    n("/status/updatedReplicas").map_or(ready, |u| u.min(ready)) as u32
}

/// ferry's canary Deployment for `r` at `replicas`: the canary template,
/// its pods and selector marked with the canary label.
pub fn canary_object(r: &Rollout, replicas: u32) -> StoredObject {
    let mut template = r.canary_template.clone();
    template["metadata"]["labels"][CANARY_LABEL] = json!(r.deployment);
    let mut selector = r.selector.clone();
    selector["matchLabels"][CANARY_LABEL] = json!(r.deployment);
    let name = canary_name(&r.deployment);
    let value = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": r.namespace, "labels": {CANARY_LABEL: r.deployment}},
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    });
    StoredObject {
        group_kind: GroupKind::of("apps/v1", "Deployment"),
        namespace: Some(r.namespace.clone()),
        name,
        source: format!("canary of Deployment {}/{}", r.namespace, r.deployment),
        value,
    }
}
