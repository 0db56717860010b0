//! Pipeline builds. After each fetch, every commit a pipeline rule resolves
//! to (a branch head, the highest matching tag, each ephemeral branch) is
//! built once: checked out under `<data dir>/work`, each image of the
//! pipeline built by the [`ImageBuilder`] and pushed to the build region's
//! registry under the rule's tag. The push event then wakes the engine, so
//! the build region's environments deploy at once and replication carries
//! the image to the others. Builds run one at a time, off the reconcile
//! loop; their steps appear in the pipeline run (`ferry pipeline logs`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use ferry_core::app_spec::{Pipeline, PipelineRule};

use crate::builder::{BuildKey, BuildRequest, BuildState, ImageBuilder, template_pins_commit};
use crate::engine::Engine;
use crate::pipeline::{Resolved, StepState, ephemeral_branches, resolve};
use crate::reconcile_records::RunRef;
use crate::source::normalise_url;

/// A build the engine decided to run.
struct Job {
    pipeline: Pipeline,
    url: String,
    registry: String,
    resolved: Resolved,
}

impl Engine {
    /// Starts a build for every resolved commit not built yet.
    pub(crate) async fn start_builds(&self) {
        let Some(builder) = self.inner.builder.get().cloned() else {
            return;
        };
        let mut wanted: BTreeSet<BuildKey> = BTreeSet::new();
        for p in &self.inner.topology.pipelines {
            if p.spec.images.is_empty() {
                continue;
            }
            let Some(app) = self
                .inner
                .topology
                .applications
                .iter()
                .find(|a| a.metadata.name == p.spec.application)
            else {
                continue;
            };
            let url = normalise_url(&app.spec.source.repo_url);
            let (refs, registry) = {
                let st = self.lock();
                (
                    st.repos.get(&url).and_then(|r| r.refs.clone()),
                    st.regions
                        .get(&p.spec.build_region)
                        .map(|r| r.registry.clone()),
                )
            };
            let (Some(refs), Some(registry)) = (refs, registry) else {
                continue;
            };
            for (rule, resolved) in commits(&p.spec.rules, &refs) {
                let key = (
                    p.metadata.name.clone(),
                    resolved.image_tag.clone(),
                    resolved.commit.clone(),
                );
                wanted.insert(key.clone());
                if self.lock().builds.contains_key(&key) {
                    continue;
                }
                // Built by an earlier process (the tag names the commit)?
                if template_pins_commit(&rule.image_tag)
                    && self.all_present(p, &registry, &resolved.image_tag).await
                {
                    self.lock().builds.insert(key, BuildState::Done);
                    continue;
                }
                self.lock().builds.insert(key, BuildState::Running);
                let job = Job {
                    pipeline: p.clone(),
                    url: url.clone(),
                    registry: registry.clone(),
                    resolved,
                };
                let engine = self.clone();
                let builder = builder.clone();
                tokio::spawn(async move { engine.run_build(job, builder).await });
            }
        }
        self.lock()
            .builds
            .retain(|k, v| wanted.contains(k) || *v == BuildState::Running);
    }

    async fn all_present(&self, p: &Pipeline, registry: &str, tag: &str) -> bool {
        for image in &p.spec.images {
            if !matches!(
                self.inner.images.present(registry, &image.name, tag).await,
                Ok(true)
            ) {
                return false;
            }
        }
        true
    }

    async fn run_build(self, job: Job, builder: Arc<dyn ImageBuilder>) {
        let _slot = self.inner.build_slots.acquire().await;
        let started = Instant::now();
        let r = &job.resolved;
        let name = job.pipeline.metadata.name.clone();
        let run = RunRef {
            pipeline: &name,
            git_ref: &r.git_ref,
            commit: &r.commit,
            image_tag: &r.image_tag,
        };
        let key = (name.clone(), r.image_tag.clone(), r.commit.clone());
        let work = self.inner.cfg.data_dir.join("work").join(format!(
            "{name}-{}-{}",
            &r.commit[..12.min(r.commit.len())],
            std::process::id()
        ));
        let outcome = self.build_steps(&job, &run, &work, builder.as_ref()).await;
        if let Err(e) = std::fs::remove_dir_all(&work)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %work.display(), error = %e, "cannot remove build checkout");
        }
        let label = if outcome.is_ok() {
            "Succeeded"
        } else {
            "Failed"
        };
        self.inner
            .metrics
            .builds
            .get_or_create(&crate::metrics::OutcomeLabels {
                outcome: label.into(),
            })
            .inc();
        self.inner
            .metrics
            .build_seconds
            .observe(started.elapsed().as_secs_f64());
        let state = match outcome {
            Ok(()) => BuildState::Done,
            Err(m) => {
                tracing::warn!(pipeline = %name, commit = %r.commit, error = %m, "build failed");
                BuildState::Failed(m)
            }
        };
        self.lock().builds.insert(key, state);
        self.inner.wake.notify_one();
    }

    /// Checkout, then build and push each image; the first failure stops.
    async fn build_steps(
        &self,
        job: &Job,
        run: &RunRef<'_>,
        work: &std::path::Path,
        builder: &dyn ImageBuilder,
    ) -> Result<(), String> {
        let _ = std::fs::remove_dir_all(work);
        self.run_step_for(run, "checkout", StepState::Running, None);
        let (cache, url, commit, dir) = (
            self.inner.cache.clone(),
            job.url.clone(),
            run.commit.to_string(),
            work.to_path_buf(),
        );
        let checked = tokio::task::spawn_blocking(move || cache.checkout(&url, &commit, &dir))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(m) = checked {
            self.run_step_for(run, "checkout", StepState::Failed, Some(m.clone()));
            return Err(format!("checkout: {m}"));
        }
        self.run_step_for(run, "checkout", StepState::Succeeded, None);
        for image in &job.pipeline.spec.images {
            let step = format!("build {}", image.name);
            let reference = format!("{}/{}:{}", job.registry, image.name, run.image_tag);
            self.run_step_for(run, &step, StepState::Running, Some(reference.clone()));
            let context = work.join(image.context.trim_matches('/'));
            let req = BuildRequest {
                dockerfile: image.dockerfile.as_ref().map(|d| context.join(d)),
                context,
                build_args: image.build_args.clone(),
                reference: reference.clone(),
            };
            match builder.build_push(&req).await {
                Ok(digest) => self.run_step_for(
                    run,
                    &step,
                    StepState::Succeeded,
                    Some(format!("pushed {reference}@{digest}")),
                ),
                Err(m) => {
                    self.run_step_for(run, &step, StepState::Failed, Some(m.clone()));
                    return Err(format!("{}: {m}", image.name));
                }
            }
        }
        Ok(())
    }

    /// What a gate waiting for `image:tag` of `commit` should say about its
    /// build, if this process builds it.
    pub(crate) fn build_note(&self, pipeline: &str, tag: &str, commit: &str) -> Option<String> {
        let key = (pipeline.to_string(), tag.to_string(), commit.to_string());
        match self.lock().builds.get(&key)? {
            BuildState::Running => Some("building".into()),
            BuildState::Failed(m) => Some(format!(
                "build failed: {m}; push a fix or run `ferry app sync` to retry"
            )),
            BuildState::Done => None,
        }
    }
}

/// Every (rule, commit) the rules resolve to right now.
fn commits<'a>(
    rules: &'a [PipelineRule],
    refs: &crate::source::Refs,
) -> Vec<(&'a PipelineRule, Resolved)> {
    let mut out = Vec::new();
    for rule in rules {
        if rule.ephemeral_region.is_some() {
            out.extend(
                ephemeral_branches(rule, refs)
                    .into_iter()
                    .map(|r| (rule, r)),
            );
        } else if let Some(r) = resolve(rule, refs) {
            out.push((rule, r));
        }
    }
    out
}
