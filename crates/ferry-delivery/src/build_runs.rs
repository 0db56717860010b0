//! Pipeline builds. After each fetch, every commit a pipeline rule resolves
//! to (a branch head, the highest matching tag, each ephemeral branch) is
//! looked at image by image: each image's tag is the rule's template applied
//! to the commit its inputs last changed in (`image_tags.rs`), and only
//! images whose tag is not built yet are built — checked out under
//! `<data dir>/work`, built by the [`ImageBuilder`] and pushed to the build
//! region's registry. An image a commit did not touch keeps its tag, so it
//! is neither rebuilt nor redeployed. The push event then wakes the engine,
//! so the build region's environments deploy at once and replication
//! carries the image to the others. Builds run one at a time, off the
//! reconcile loop; their steps appear in the pipeline run (`ferry pipeline
//! logs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use ferry_core::app_spec::{BuildImage, Pipeline, PipelineRule};

use crate::builder::{BuildKey, BuildRequest, BuildState, ImageBuilder, template_pins_commit};
use crate::engine::Engine;
use crate::error::{Error, report};
use crate::image_tags::ImageTag;
use crate::pipeline::{Resolved, StepState, ephemeral_branches, resolve};
use crate::reconcile_records::RunRef;
use crate::source::normalise_url;

/// A build the engine decided to run: one commit, the images it lacks.
struct Job {
    pipeline: String,
    url: String,
    registry: String,
    resolved: Resolved,
    /// Every image's tag at this commit (for the run's record).
    tags: BTreeMap<String, String>,
    images: Vec<(BuildImage, ImageTag)>,
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
                let tags = match self
                    .image_tags(p, &url, rule, &resolved.git_ref, &resolved.commit)
                    .await
                {
                    Ok(t) => t,
                    Err(e) => {
                        let error = crate::error::report(&e);
                        tracing::warn!(pipeline = %p.metadata.name, commit = %resolved.commit, %error, "cannot tell which images changed");
                        continue;
                    }
                };
                let mut images = Vec::new();
                for image in &p.spec.images {
                    let Some(t) = tags.get(&image.name) else {
                        continue;
                    };
                    let key = (
                        p.metadata.name.clone(),
                        image.name.clone(),
                        t.tag.clone(),
                        t.source.clone(),
                    );
                    wanted.insert(key.clone());
                    if self.wanted_build(&key, rule, &registry).await {
                        images.push((image.clone(), t.clone()));
                    }
                }
                let tags: BTreeMap<String, String> =
                    tags.into_iter().map(|(n, t)| (n, t.tag)).collect();
                self.note_unchanged(p, &registry, &resolved, &tags, &images);
                if images.is_empty() {
                    continue;
                }
                let job = Job {
                    pipeline: p.metadata.name.clone(),
                    url: url.clone(),
                    registry: registry.clone(),
                    resolved,
                    tags,
                    images,
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

    /// Whether the image under `key` must be built now (marked running if
    /// so): not started or finished by this process, and — when the tag
    /// names its commit — not built by an earlier process either.
    async fn wanted_build(&self, key: &BuildKey, rule: &PipelineRule, registry: &str) -> bool {
        if self.lock().builds.contains_key(key) {
            return false;
        }
        if template_pins_commit(&rule.image_tag)
            && matches!(
                self.inner.images.present(registry, &key.1, &key.2).await,
                Ok(true)
            )
        {
            self.lock().builds.insert(key.clone(), BuildState::Done);
            return false;
        }
        self.lock().builds.insert(key.clone(), BuildState::Running);
        true
    }

    /// Records, in the run of `resolved`, the images its commit did not
    /// change and that are built already: `build <image>` succeeds at once.
    fn note_unchanged(
        &self,
        p: &Pipeline,
        registry: &str,
        resolved: &Resolved,
        tags: &BTreeMap<String, String>,
        building: &[(BuildImage, ImageTag)],
    ) {
        let run = RunRef {
            pipeline: &p.metadata.name,
            git_ref: &resolved.git_ref,
            commit: &resolved.commit,
            image_tag: &resolved.image_tag,
            images: tags,
        };
        for (name, tag) in tags {
            if building.iter().any(|(i, _)| i.name == *name) || *tag == resolved.image_tag {
                continue;
            }
            let done = self.lock().builds.iter().any(|(k, v)| {
                k.0 == p.metadata.name && k.1 == *name && k.2 == *tag && *v == BuildState::Done
            });
            if done {
                let message = format!("unchanged: {registry}/{name}:{tag} is built");
                self.run_step_for(
                    &run,
                    &format!("build {name}"),
                    StepState::Succeeded,
                    Some(message),
                );
            }
        }
    }

    async fn run_build(self, job: Job, builder: Arc<dyn ImageBuilder>) {
        let _slot = self.inner.build_slots.acquire().await;
        let started = Instant::now();
        let r = &job.resolved;
        let name = &job.pipeline;
        let run = RunRef {
            pipeline: name,
            git_ref: &r.git_ref,
            commit: &r.commit,
            image_tag: &r.image_tag,
            images: &job.tags,
        };
        let work = self.inner.cfg.data_dir.join("work").join(format!(
            "{name}-{}-{}",
            &r.commit[..12.min(r.commit.len())],
            std::process::id()
        ));
        let outcomes = self.build_steps(&job, &run, &work, builder.as_ref()).await;
        if let Err(e) = std::fs::remove_dir_all(&work)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %work.display(), error = %e, "cannot remove build checkout");
        }
        let label = if outcomes.iter().all(Result::is_ok) {
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
        let mut st = self.lock();
        for ((image, tag), outcome) in job.images.iter().zip(outcomes) {
            let key = (
                name.clone(),
                image.name.clone(),
                tag.tag.clone(),
                tag.source.clone(),
            );
            let state = match outcome {
                Ok(()) => BuildState::Done,
                Err(e) => {
                    let m = report(&*e);
                    tracing::warn!(pipeline = %name, image = %image.name, commit = %r.commit, error = %m, "build failed");
                    BuildState::Failed(m)
                }
            };
            st.builds.insert(key, state);
        }
        drop(st);
        self.inner.wake.notify_one();
    }

    /// Checkout, then build and push each image of the job; one outcome
    /// per image (a failed checkout fails them all, hence the `Arc`).
    async fn build_steps(
        &self,
        job: &Job,
        run: &RunRef<'_>,
        work: &std::path::Path,
        builder: &dyn ImageBuilder,
    ) -> Vec<Result<(), Arc<Error>>> {
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
            .map_err(|e| Error::task("checkout", e))
            .and_then(|r| r);
        if let Err(e) = checked {
            self.run_step_for(run, "checkout", StepState::Failed, Some(e.to_string()));
            let e = Arc::new(Error::Checkout(Box::new(e)));
            return vec![Err(e); job.images.len()];
        }
        self.run_step_for(run, "checkout", StepState::Succeeded, None);
        let mut outcomes = Vec::with_capacity(job.images.len());
        for (image, tag) in &job.images {
            let step = format!("build {}", image.name);
            let reference = format!("{}/{}:{}", job.registry, image.name, tag.tag);
            self.run_step_for(run, &step, StepState::Running, Some(reference.clone()));
            let context = work.join(image.context.trim_matches('/'));
            let req = BuildRequest {
                dockerfile: image.dockerfile.as_ref().map(|d| context.join(d)),
                context,
                build_args: image.build_args.clone(),
                reference: reference.clone(),
                log: self.step_log(run, &step),
            };
            match builder.build_push(&req).await {
                Ok(digest) => {
                    self.run_step_for(
                        run,
                        &step,
                        StepState::Succeeded,
                        Some(format!("pushed {reference}@{digest}")),
                    );
                    outcomes.push(Ok(()));
                }
                Err(e) => {
                    self.run_step_for(run, &step, StepState::Failed, Some(report(&e)));
                    outcomes.push(Err(Arc::new(e)));
                }
            }
        }
        outcomes
    }

    /// What a gate waiting for `image:tag` should say about its build, if
    /// this process builds it.
    pub(crate) fn build_note(&self, pipeline: &str, image: &str, tag: &str) -> Option<String> {
        let st = self.lock();
        let mut states = st
            .builds
            .iter()
            .filter(|(k, _)| k.0 == pipeline && k.1 == image && k.2 == tag)
            .map(|(_, v)| v);
        match states.next_back()? {
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
