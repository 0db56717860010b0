//! Bookkeeping of a reconcile pass: failure history, teardown of vanished
//! ephemeral environments, pipeline run steps, commit-to-serving latency
//! and syncs paused between waves.

use std::collections::{BTreeMap, BTreeSet};

use ferry_core::app_spec::Application;
use ferry_core::sync::MutexExt;

use crate::engine::Engine;
use crate::history::{HistoryEntry, Outcome};
use crate::pipeline::StepState;
use crate::plan::Instance;
use crate::reconcile::now_ms;
use crate::source::normalise_url;

/// Names one pipeline run: pipeline, ref, commit, the rule's tag for the
/// commit and each image's own tag.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunRef<'a> {
    pub pipeline: &'a str,
    pub git_ref: &'a str,
    pub commit: &'a str,
    pub image_tag: &'a str,
    pub images: &'a BTreeMap<String, String>,
}

impl Engine {
    pub(crate) fn record_failure(
        &self,
        app: &str,
        inst: &Instance,
        commit: &str,
        message: &str,
        trigger: &str,
    ) {
        let entry = HistoryEntry {
            id: 0,
            environment: inst.env.clone(),
            revision: commit.to_string(),
            images: Vec::new(),
            outcome: Outcome::Failed,
            message: Some(message.to_string()),
            trigger: trigger.to_string(),
            started_ms: now_ms(),
            duration_ms: 0,
        };
        let (recorded, saved) = self.update_record(app, |st| {
            let rec = st.records.entry(app.to_string()).or_default();
            let repeated = rec
                .history
                .iter()
                .rev()
                .find(|e| e.environment == inst.env)
                .is_some_and(|e| e.revision == commit && e.outcome == Outcome::Failed);
            (!repeated).then(|| rec.record(entry.clone()))
        });
        if recorded.is_none() {
            return;
        }
        self.inner
            .metrics
            .syncs
            .get_or_create(&crate::metrics::OutcomeLabels {
                outcome: "Failed".into(),
            })
            .inc();
        if let Err(e) = saved {
            tracing::error!(%app, error = %e, "cannot store sync record");
        }
        crate::notify::sync_outcome(self, app, &entry);
    }

    /// Deletes what ferry created for ephemeral environments whose branch is gone.
    pub(crate) async fn teardown_vanished(&self, app: &Application, insts: &[Instance]) {
        let name = &app.metadata.name;
        let (rec, regions) = {
            let st = self.lock();
            (
                st.records.get(name).cloned().unwrap_or_default(),
                st.regions.clone(),
            )
        };
        let known: BTreeSet<&str> = insts.iter().map(|i| i.env.as_str()).collect();
        let declared: BTreeSet<&str> = self
            .inner
            .topology
            .environments
            .iter()
            .map(|e| e.metadata.name.as_str())
            .collect();
        let gone: Vec<String> = rec
            .inventory
            .keys()
            .filter(|e| !known.contains(e.as_str()) && !declared.contains(e.as_str()))
            .cloned()
            .collect();
        if gone.is_empty() {
            return;
        }
        let mut torn_down = Vec::new();
        for env in gone {
            let mut keys = rec.inventory.get(&env).cloned().unwrap_or_default();
            crate::order::sort_for_delete(&mut keys);
            let mut ok = true;
            for r in regions.values() {
                if let Err(e) = r.target.delete(keys.clone()).await {
                    tracing::warn!(app = %name, %env, error = %e, "cannot tear down ephemeral environment");
                    ok = false;
                }
            }
            if ok {
                tracing::info!(app = %name, %env, "ephemeral environment torn down");
                self.forget_pull_access(name, &env).await;
                torn_down.push(env);
            }
        }
        let ((), saved) = self.update_record(name, |st| {
            let rec = st.records.entry(name.clone()).or_default();
            for env in &torn_down {
                rec.inventory.remove(env);
            }
        });
        if let Err(e) = saved {
            tracing::error!(app = %name, error = %e, "cannot store record");
        }
    }
    /// Updates step `step` of the run for this instance's commit, creating
    /// the run the first time the commit is seen.
    pub(crate) fn run_step(
        &self,
        inst: &Instance,
        commit: &str,
        step: &str,
        state: StepState,
        message: Option<String>,
    ) {
        let Some(pipeline) = &inst.pipeline else {
            return;
        };
        let run = RunRef {
            pipeline,
            git_ref: &inst.git_ref,
            commit,
            image_tag: inst.image_tag.as_deref().unwrap_or_default(),
            images: &inst.image_tags,
        };
        self.run_step_for(&run, step, state, message);
    }

    /// Updates step `step` of the run `run` names, creating it if needed.
    pub(crate) fn run_step_for(
        &self,
        run: &RunRef<'_>,
        step: &str,
        state: StepState,
        message: Option<String>,
    ) {
        let now = now_ms();
        let mut st = self.lock();
        let idx = st.runs.iter().rposition(|r| {
            r.pipeline == run.pipeline && r.commit == run.commit && r.git_ref == run.git_ref
        });
        let idx = match idx {
            Some(i) => i,
            None => {
                let id = st.runs.last().map_or(1, |r| r.id + 1);
                st.runs.push(crate::pipeline::Run {
                    id,
                    pipeline: run.pipeline.to_string(),
                    git_ref: run.git_ref.to_string(),
                    commit: run.commit.to_string(),
                    image_tag: run.image_tag.to_string(),
                    images: run.images.clone(),
                    state: StepState::Running,
                    started_ms: now,
                    steps: Vec::new(),
                });
                st.runs.len() - 1
            }
        };
        let images = run.images;
        let run = &mut st.runs[idx];
        if run.images.is_empty() && !images.is_empty() {
            run.images = images.clone();
        }
        let before = run
            .steps
            .iter()
            .find(|s| s.name == step)
            .map(|s| (s.state, s.message.clone()));
        if before == Some((state, message.clone())) {
            return;
        }
        let was = run.state;
        run.step(step, state, message, now);
        let done =
            run.state != was && matches!(run.state, StepState::Succeeded | StepState::Failed);
        let snapshot = run.clone();
        let runs = self.inner.runs_file.snapshot(&mut st.runs);
        drop(st);
        (self.inner.runs_file).write(&self.inner.cfg.data_dir, runs);
        // The web UI's pipeline pages follow the application's changes.
        let app = self
            .inner
            .topology
            .pipelines
            .iter()
            .find(|p| p.metadata.name == snapshot.pipeline);
        self.changed(app.map_or(snapshot.pipeline.as_str(), |p| p.spec.application.as_str()));
        if done {
            crate::notify::send(
                self,
                if snapshot.state == StepState::Succeeded {
                    "dev.ferry.pipeline.succeeded"
                } else {
                    "dev.ferry.pipeline.failed"
                },
                &format!("/pipelines/{}/runs/{}", snapshot.pipeline, snapshot.id),
                serde_json::to_value(&snapshot).unwrap_or_default(),
            );
        }
    }

    /// A sink appending lines to step `step` of the run `run` names (a
    /// build's progress). Lines are kept in memory and stored with the
    /// run's next step change; the UI hears of them at most every 250 ms
    /// (and at the step's end), so a chatty RUN does not flood its feed.
    pub(crate) fn step_log(&self, run: &RunRef<'_>, step: &str) -> crate::builder::BuildLog {
        let (engine, step) = (self.clone(), step.to_string());
        let key = (
            run.pipeline.to_string(),
            run.git_ref.to_string(),
            run.commit.to_string(),
        );
        let app = self
            .inner
            .topology
            .pipelines
            .iter()
            .find(|p| p.metadata.name == key.0);
        let app = app.map_or(key.0.clone(), |p| p.spec.application.clone());
        let told = std::sync::Mutex::new(None::<std::time::Instant>);
        crate::builder::BuildLog::new(move |line| {
            let now = now_ms();
            let mut st = engine.lock();
            let found = st
                .runs
                .iter_mut()
                .rev()
                .find(|r| r.pipeline == key.0 && r.git_ref == key.1 && r.commit == key.2);
            let Some(s) = found.and_then(|r| r.steps.iter_mut().find(|s| s.name == step)) else {
                return;
            };
            s.log_line(line, now);
            drop(st);
            let mut told = told.lock_or_recover();
            if told.is_none_or(|t| t.elapsed() >= std::time::Duration::from_millis(250)) {
                *told = Some(std::time::Instant::now());
                engine.changed(&app);
            }
        })
    }

    /// Records commit-to-serving latency once per (app, env, commit).
    pub(crate) fn served(&self, inst: &Instance, commit: &str) {
        let url = self
            .inner
            .topology
            .applications
            .iter()
            .find(|a| a.metadata.name == inst.app)
            .map(|a| normalise_url(&a.spec.source.repo_url))
            .unwrap_or_default();
        let mut st = self.lock();
        let key = (inst.app.clone(), inst.env.clone(), commit.to_string());
        if st.served.contains(&key) {
            return;
        }
        if let Some(seen) = st.repos.get(&url).and_then(|r| r.seen.get(commit)).copied() {
            self.inner
                .metrics
                .commit_to_serving_seconds
                .observe(seen.elapsed().as_secs_f64());
        }
        st.served.insert(key);
    }
}

impl Engine {
    /// A sync stopped between waves: keep what it applied in the inventory
    /// and leave the sync pending (a manual request stays asked for), so
    /// the next pass goes on with the next wave once this one is healthy.
    pub(crate) fn wave_pending(
        &self,
        app: &str,
        inst: &Instance,
        commit: &str,
        r: &crate::sync::SyncResult,
        waiting: &str,
    ) {
        let ((), saved) = self.update_record(app, |st| {
            let rec = st.records.entry(app.to_string()).or_default();
            rec.inventory.insert(inst.env.clone(), r.inventory.clone());
        });
        if let Err(e) = saved {
            tracing::error!(app = %app, error = %e, "cannot store sync record");
        }
        self.run_step(
            inst,
            commit,
            &format!("sync {}", inst.env),
            StepState::Running,
            Some(waiting.to_string()),
        );
        tracing::info!(app = %app, env = %inst.env, waiting, "sync continues at the next wave");
    }
}
