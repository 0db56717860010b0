//! Where each instance syncs: a region's [`RegionTarget`] (its target and
//! registry), unless its environment has a target of its own (a
//! Kubernetes cluster named by the environment's `spec.target`, set by the
//! server). Each distinct target is listed once per pass.

use std::sync::Arc;

use crate::engine::{Engine, RegionTarget, State};
use crate::target::Target;

impl Engine {
    /// Attaches a region's target.
    pub fn add_region(&self, name: &str, region: RegionTarget) {
        self.wake_on_changes(region.target.as_ref());
        self.lock().regions.insert(name.to_string(), region);
        self.inner.wake.notify_one();
    }

    /// Sends environment `env`'s applications to `target` instead of its
    /// region's (images still come from the region's registry).
    pub fn set_environment_target(&self, env: &str, target: Arc<dyn Target>) {
        self.wake_on_changes(target.as_ref());
        self.lock().env_targets.insert(env.to_string(), target);
        self.inner.wake.notify_one();
    }

    /// A watching target (Kubernetes) wakes the loop when objects drift.
    fn wake_on_changes(&self, target: &dyn Target) {
        let inner = Arc::downgrade(&self.inner);
        crate::target::forward_changes(target, move || {
            inner.upgrade().map(|i| i.wake.notify_one()).is_some()
        });
    }
}

impl State {
    /// Where an instance of region `region`, environment `env` syncs: the
    /// region's target unless the environment has its own. `None` while
    /// the region is not attached (its registry is needed either way).
    pub(crate) fn target_for(&self, region: &str, env: &str) -> Option<RegionTarget> {
        let mut r = self.regions.get(region)?.clone();
        if let Some(t) = self.env_targets.get(env) {
            r.target = t.clone();
        }
        Some(r)
    }

    /// Every distinct target (regions' and environments'), each once,
    /// named for logs.
    pub(crate) fn targets(&self) -> Vec<(String, Arc<dyn Target>)> {
        let regions = self
            .regions
            .iter()
            .map(|(n, r)| (format!("region `{n}`"), &r.target));
        let envs = self
            .env_targets
            .iter()
            .map(|(n, t)| (format!("environment `{n}`"), t));
        let mut out: Vec<(String, Arc<dyn Target>)> = Vec::new();
        for (name, t) in regions.chain(envs) {
            if !out.iter().any(|(_, o)| target_id(o) == target_id(t)) {
                out.push((name, t.clone()));
            }
        }
        out
    }
}

/// A target's identity: environments that share one cluster share one
/// listing.
pub(crate) fn target_id(t: &Arc<dyn Target>) -> usize {
    Arc::as_ptr(t) as *const () as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::MemoryTarget;

    fn region(t: &Arc<dyn Target>) -> RegionTarget {
        RegionTarget {
            target: t.clone(),
            registry: "127.0.0.1:5000".into(),
        }
    }

    #[test]
    fn an_environments_target_overrides_its_regions_and_each_is_listed_once() {
        let embedded: Arc<dyn Target> = Arc::new(MemoryTarget::new());
        let cluster: Arc<dyn Target> = Arc::new(MemoryTarget::new());
        let mut st = State::default();
        st.regions.insert("uk".into(), region(&embedded));
        st.regions.insert("eu".into(), region(&cluster));
        st.env_targets.insert("prod".into(), cluster.clone());
        let prod = st.target_for("uk", "prod").unwrap();
        assert_eq!(target_id(&prod.target), target_id(&cluster));
        assert_eq!(prod.registry, "127.0.0.1:5000");
        let dev = st.target_for("uk", "dev").unwrap();
        assert_eq!(target_id(&dev.target), target_id(&embedded));
        assert!(st.target_for("us", "prod").is_none(), "region not attached");
        let names: Vec<String> = st.targets().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["region `eu`", "region `uk`"],
            "prod shares eu's cluster"
        );
    }
}
