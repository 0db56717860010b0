//! Where canaries meet the sync: before an environment is compared,
//! [`Engine::rollout_desired`] runs [`super::intercept::intercept`] and
//! records the rollouts it starts (their split set to 0 % before any
//! canary pod exists, so the Service never balances onto them) or ends;
//! after, [`Engine::rollout_health`] marks the environment Degraded with
//! the reason of a rolled-back canary.

use std::collections::BTreeMap;

use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;

use super::driver::{now_ms, remove_canary, set_weight};
use super::intercept::{Ctx, intercept};
use super::{Phase, Rollout};
use crate::engine::Engine;
use crate::health::Health;
use crate::object::ObjKey;
use crate::plan::Instance;
use crate::status::EnvStatus;

impl Engine {
    /// The objects to sync for `inst` while canaries run (`None`: `desired`).
    pub(crate) async fn rollout_desired(
        &self,
        inst: &Instance,
        desired: &[StoredObject],
        live: &BTreeMap<ObjKey, &StoredObject>,
    ) -> Option<Vec<StoredObject>> {
        let env = self
            .inner
            .topology
            .environments
            .iter()
            .find(|e| e.metadata.name == inst.env)?;
        let strategy = env.spec.strategy.as_ref()?;
        let (target, traffic) = self.rollout_io(&inst.region, &inst.env)?;
        let live: BTreeMap<String, &StoredObject> = live
            .values()
            .filter(|o| o.group_kind.group == "apps" && o.group_kind.kind == "Deployment")
            .map(|o| (o.name.clone(), *o))
            .collect();
        let ctx = Ctx {
            app: &inst.app,
            env: &inst.env,
            region: &inst.region,
            steps: strategy.canary.steps.len(),
            now_ms: now_ms(),
        };
        let (out, ended) = {
            let mut active = self.inner.rollouts.active.lock_or_recover();
            let mine: BTreeMap<String, Rollout> = active
                .iter()
                .filter(|((a, e, _), _)| *a == inst.app && *e == inst.env)
                .map(|((_, _, d), r)| (d.clone(), r.clone()))
                .collect();
            let out = intercept(&ctx, desired, &live, &mine);
            let ended: Vec<Rollout> = out.end.iter().filter_map(|k| active.remove(k)).collect();
            for r in &out.start {
                tracing::info!(app = %r.app, env = %r.environment, deployment = %r.deployment, "canary rollout starts");
                set_weight(r, traffic.as_ref(), Some(0));
                let key = (r.app.clone(), r.environment.clone(), r.deployment.clone());
                active.insert(key, r.clone());
            }
            (out.desired, ended)
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
        out
    }

    /// A rolled-back canary makes its environment Degraded, saying why.
    pub(crate) fn rollout_health(&self, inst: &Instance, status: &mut EnvStatus) {
        let active = self.inner.rollouts.active.lock_or_recover();
        let aborted = active
            .values()
            .find(|r| r.app == inst.app && r.environment == inst.env && r.phase == Phase::Aborted);
        if let Some(r) = aborted {
            status.health = Health::Degraded;
            status.error = Some(format!(
                "canary of Deployment {} rolled back: {}",
                r.deployment,
                r.message.as_deref().unwrap_or("aborted")
            ));
        }
    }
}
