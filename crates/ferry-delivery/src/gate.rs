//! Gates a new revision must pass before it is deployed to an environment:
//! its dependencies are healthy there, it is already healthy in the
//! environment the rule names, it was approved by hand when the rule asks,
//! and every image it needs is present in the region's own registry (for
//! a region other than the build region: replication has delivered it).
//! An environment of a region another process runs is asked over its API
//! (`remote.rs`).

use ferry_core::app_spec::Application;

use crate::engine::Engine;
use crate::health::Health;
use crate::history::AppRecord;
use crate::pipeline::StepState;
use crate::plan::{Instance, pipeline_of};

impl Engine {
    /// Why `commit` may not be deployed to `inst` yet (None: go).
    pub(crate) async fn gate(
        &self,
        app: &Application,
        inst: &Instance,
        commit: &str,
        rec: &AppRecord,
        new_revision: bool,
    ) -> Option<String> {
        if !new_revision {
            return None;
        }
        let sha7 = &commit[..7.min(commit.len())];
        let prev = inst
            .rule
            .as_ref()
            .and_then(|r| r.requires_healthy_in.as_ref());
        let remote_prev = prev.and_then(|p| Some((p, self.remote_region_of(p)?)));
        if let Some((prev, region)) = &remote_prev
            && let Some(why) = self
                .remote_healthy_gate(&app.metadata.name, prev, region, commit)
                .await
        {
            return Some(why);
        }
        {
            let st = self.lock();
            for dep in &app.spec.depends_on {
                let ok = st.status.get(dep).is_some_and(|s| {
                    s.environments
                        .iter()
                        .find(|e| e.environment == inst.env)
                        .is_none_or(|e| e.synced_revision.is_some() && e.health == Health::Healthy)
                });
                if !ok {
                    return Some(format!(
                        "waiting for dependency `{dep}` to be synced and healthy in `{}`",
                        inst.env
                    ));
                }
            }
            if let Some(rule) = &inst.rule {
                if let Some(prev) = &rule.requires_healthy_in
                    && remote_prev.is_none()
                {
                    let ok = st.status.get(&app.metadata.name).is_some_and(|s| {
                        s.environments.iter().any(|e| {
                            e.environment == *prev
                                && e.synced_revision.as_deref() == Some(commit)
                                && e.health == Health::Healthy
                        })
                    });
                    if !ok {
                        return Some(format!(
                            "waiting for {sha7} to be healthy in `{prev}` before promotion"
                        ));
                    }
                }
                if rule.manual_approval
                    && rec.approved.get(&inst.env).map(String::as_str) != Some(commit)
                {
                    return Some(format!(
                        "waiting for approval of {sha7}: run `ferry app promote {} --env {}`",
                        app.metadata.name, inst.env
                    ));
                }
            }
        }
        let p = pipeline_of(&self.inner.topology, &app.metadata.name)?;
        inst.rule.as_ref()?;
        let registry = self
            .lock()
            .regions
            .get(&inst.region)
            .map(|r| r.registry.clone())?;
        for image in &p.spec.images {
            let Some(tag) = inst.image_tags.get(&image.name) else {
                return Some(format!("no tag for image {} yet; retrying", image.name));
            };
            match self.inner.images.present(&registry, &image.name, tag).await {
                Ok(true) => {}
                Ok(false) => {
                    let why = match self.build_note(&p.metadata.name, &image.name, tag) {
                        Some(note) => note,
                        None if p.spec.build_region == inst.region => {
                            "waiting for the build".to_string()
                        }
                        None => "waiting for build and replication".to_string(),
                    };
                    return Some(format!(
                        "image {}:{tag} is not in region `{}`'s registry yet ({why})",
                        image.name, inst.region
                    ));
                }
                Err(e) => return Some(format!("{}; retrying", crate::error::report(&e))),
            }
        }
        None
    }

    /// Records the `replicate to <region>` step of a run whose images are
    /// built in another region: running while the gate waits for them to
    /// arrive in the region's registry (`waiting`), succeeded once the gate
    /// lets the revision through (`None`).
    pub(crate) fn replication_step(&self, inst: &Instance, commit: &str, waiting: Option<&str>) {
        let Some(p) = pipeline_of(&self.inner.topology, &inst.app) else {
            return;
        };
        if p.spec.images.is_empty() || p.spec.build_region == inst.region {
            return;
        }
        let step = format!("replicate to {}", inst.region);
        match waiting {
            Some(w) if w.starts_with("image ") => {
                self.run_step(inst, commit, &step, StepState::Running, Some(w.to_string()))
            }
            Some(_) => {}
            None => self.run_step(inst, commit, &step, StepState::Succeeded, None),
        }
    }
}
