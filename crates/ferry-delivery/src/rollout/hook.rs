//! Where canaries meet the sync: before an environment is compared,
//! [`Engine::rollout_desired`] runs [`super::intercept::intercept`], ends
//! the rollouts it ends and returns those it starts, which
//! [`Engine::rollout_start`] records once the sync is past its gate (a
//! revision waiting for `requiresHealthyIn` or an approval starts no
//! canary; the split is set to 0 % before any canary pod exists, so the
//! Service never balances onto them);
//! after, [`Engine::rollout_health`] marks the environment Degraded with
//! the reason of a rolled-back canary, Progressing while one runs.

use std::collections::BTreeMap;

use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;

use super::argo;
use super::driver::{now_ms, remove_canary, set_weight};
use super::intercept::{Ctx, intercept};
use super::{Phase, Rollout};
use crate::engine::Engine;
use crate::health::Health;
use crate::object::ObjKey;
use crate::plan::Instance;
use crate::status::EnvStatus;

impl Engine {
    /// The objects to sync for `inst` while canaries run (`None`: `desired`),
    /// and the rollouts this sync starts once past its gate
    /// ([`Engine::rollout_start`]).
    pub(crate) async fn rollout_desired(
        &self,
        inst: &Instance,
        desired: &[StoredObject],
        live: &BTreeMap<ObjKey, &StoredObject>,
    ) -> (Option<Vec<StoredObject>>, Vec<Rollout>) {
        match self.rollout_intercept(inst, desired, live).await {
            Some((held, start)) => (held, start),
            None => (None, Vec::new()),
        }
    }

    /// Records the rollouts a sync past its gate starts (their split at
    /// 0 % before any canary pod exists).
    pub(crate) fn rollout_start(&self, inst: &Instance, start: Vec<Rollout>) {
        if start.is_empty() {
            return;
        }
        let Some((_, traffic)) = self.rollout_io(&inst.region, &inst.env) else {
            return;
        };
        let mut active = self.inner.rollouts.active.lock_or_recover();
        for r in start {
            let key = (r.app.clone(), r.environment.clone(), r.deployment.clone());
            if active
                .get(&key)
                .is_some_and(|a| a.canary_template == r.canary_template)
            {
                continue;
            }
            tracing::info!(app = %r.app, env = %r.environment, deployment = %r.deployment, "canary rollout starts");
            set_weight(&r, traffic.as_ref(), Some(0));
            active.insert(key, r);
        }
    }

    async fn rollout_intercept(
        &self,
        inst: &Instance,
        desired: &[StoredObject],
        live: &BTreeMap<ObjKey, &StoredObject>,
    ) -> Option<(Option<Vec<StoredObject>>, Vec<Rollout>)> {
        let env = self
            .inner
            .topology
            .environments
            .iter()
            .find(|e| e.metadata.name == inst.env)?;
        let strategy = env.spec.strategy.as_ref().map(|s| &s.canary);
        let (target, traffic) = self.rollout_io(&inst.region, &inst.env)?;
        // Argo Rollouts: each runs as the Deployment of its name, its own steps.
        let converted = argo::convert(desired, strategy.map(|s| &s.analysis));
        let (desired, argo) = match &converted {
            Some((objects, strategies)) => (objects.as_slice(), Some(strategies)),
            None if strategy.is_none() => return None,
            None => (desired, None),
        };
        // Without the Environment's strategy only Rollouts run canaries.
        let canaried =
            |name: &str| strategy.is_some() || argo.is_some_and(|a| a.contains_key(name));
        let live: BTreeMap<String, &StoredObject> = live
            .values()
            .filter(|o| o.group_kind.group == "apps" && o.group_kind.kind == "Deployment")
            .filter(|o| canaried(&o.name))
            .map(|o| (o.name.clone(), *o))
            .collect();
        let ctx = Ctx {
            app: &inst.app,
            env: &inst.env,
            region: &inst.region,
            steps: strategy.map_or(0, |s| s.steps.len()),
            now_ms: now_ms(),
        };
        let (out, ended) = {
            let mut active = self.inner.rollouts.active.lock_or_recover();
            let mine: BTreeMap<String, Rollout> = active
                .iter()
                .filter(|((a, e, _), _)| *a == inst.app && *e == inst.env)
                .map(|((_, _, d), r)| (d.clone(), r.clone()))
                .collect();
            let mut out = intercept(&ctx, desired, &live, &mine);
            for r in &mut out.start {
                if let Some(a) = argo.and_then(|a| a.get(&r.deployment)) {
                    r.steps = a.strategy.steps.len();
                    r.strategy = Some(a.strategy.clone());
                    r.notes = a.notes.clone();
                }
            }
            let ended: Vec<Rollout> = out.end.iter().filter_map(|k| active.remove(k)).collect();
            (out, ended)
        };
        for mut r in ended {
            // Its routes go first: nothing may reach the leaving canary.
            r.header_routes.clear();
            r.mirror_routes.clear();
            r.fault = None;
            set_weight(&r, traffic.as_ref(), Some(0));
            remove_canary(&r, target.as_ref()).await;
            set_weight(&r, traffic.as_ref(), None);
        }
        // Converted Rollouts are what syncs, even with no canary running.
        let held = out.desired.or_else(|| argo.map(|_| desired.to_vec()));
        Some((held, out.start))
    }

    /// A rolled-back canary makes its environment Degraded, saying why.
    /// A running one keeps it Progressing: the revision is not healthy
    /// there until its canary is promoted, so a `requiresHealthyIn` gate
    /// (the next region's wave) waits for the canary to succeed.
    pub(crate) fn rollout_health(&self, inst: &Instance, status: &mut EnvStatus) {
        let active = self.inner.rollouts.active.lock_or_recover();
        let mut mine = active
            .values()
            .filter(|r| r.app == inst.app && r.environment == inst.env);
        let aborted = mine.clone().find(|r| r.phase == Phase::Aborted);
        if let Some(r) = aborted {
            status.health = Health::Degraded;
            status.error = Some(format!(
                "canary of Deployment {} rolled back: {}",
                r.deployment,
                r.message.as_deref().unwrap_or("aborted")
            ));
        } else if status.health == Health::Healthy && mine.any(|r| r.phase != Phase::Completed) {
            status.health = Health::Progressing;
        }
    }
}
