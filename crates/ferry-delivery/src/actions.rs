//! What users ask of an application through the API — sync now, roll
//! back, promote past a manual gate — and the one way every part of the
//! engine changes an application's stored record: [`Engine::update_record`]
//! changes the live record under the engine's lock and writes it while
//! holding that application's writer lock, so concurrent changes (a
//! rollback while a sync finishes) are neither lost nor written out of
//! order.

use crate::builder::BuildState;
use crate::engine::{Engine, State};
use crate::error::{Error, Result};
use crate::history::{HistoryEntry, Outcome};
use crate::source::normalise_url;

impl Engine {
    /// Runs `change` on the engine's state (for `app`'s record: the live
    /// one, not a copy), then stores `app`'s record as `change` left it.
    /// Writes of one application are serialised in the order of their
    /// changes. The change stays in memory when the write fails.
    pub(crate) fn update_record<T>(
        &self,
        app: &str,
        change: impl FnOnce(&mut State) -> T,
    ) -> (T, Result<()>) {
        let writer = self.inner.store.writer(app);
        let _writing = writer.lock().unwrap_or_else(|p| p.into_inner());
        let (out, rec) = {
            let mut st = self.lock();
            let out = change(&mut st);
            (out, st.records.entry(app.to_string()).or_default().clone())
        };
        let saved = self.inner.store.save(app, &rec);
        self.changed(app);
        (out, saved)
    }

    /// [`Self::update_record`] for the sync path: the change is made at
    /// once, and the write (a file, two fsyncs) runs on a blocking thread,
    /// so the other applications of a pass — polled by the same task — go
    /// on meanwhile. The write, under the app's writer lock, stores the
    /// record as it is then, so writes of one application still land in
    /// order and the last one holds every change.
    pub(crate) async fn update_record_async<T>(
        &self,
        app: &str,
        change: impl FnOnce(&mut State) -> T,
    ) -> (T, Result<()>) {
        let out = change(&mut self.lock());
        let engine = self.clone();
        let name = app.to_string();
        let saved = tokio::task::spawn_blocking(move || {
            let writer = engine.inner.store.writer(&name);
            let _writing = writer.lock().unwrap_or_else(|p| p.into_inner());
            let rec = engine
                .lock()
                .records
                .get(&name)
                .cloned()
                .unwrap_or_default();
            engine.inner.store.save(&name, &rec)
        })
        .await
        .unwrap_or_else(|e| {
            Err(Error::Task {
                what: "record write",
                source: Box::new(e),
            })
        });
        self.changed(app);
        (out, saved)
    }

    /// `ferry app sync`: fetch now and sync even without automation, lifting
    /// a rollback pin.
    pub fn sync_now(&self, app: &str, env: Option<&str>) -> Result<()> {
        let spec = self.app(app)?;
        let pipeline = crate::plan::pipeline_of(&self.inner.topology, app);
        let ((), saved) = self.update_record(app, |st| {
            st.manual
                .insert((app.to_string(), env.unwrap_or("").to_string()));
            let rec = st.records.entry(app.to_string()).or_default();
            match env {
                Some(e) => {
                    rec.pinned.remove(e);
                }
                None => rec.pinned.clear(),
            }
            if let Some(p) = pipeline {
                st.builds
                    .retain(|k, v| k.0 != p.metadata.name || !matches!(v, BuildState::Failed(_)));
            }
            st.repos
                .entry(normalise_url(&spec.spec.source.repo_url))
                .or_default()
                .want_fetch = true;
        });
        saved?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// `ferry app rollback APP [REV]`: pins an environment to an earlier
    /// successful sync (by history id or revision prefix; default: the one
    /// before the current).
    pub fn rollback(&self, app: &str, env: Option<&str>, to: Option<&str>) -> Result<HistoryEntry> {
        self.app(app)?;
        let (entry, saved) = self.update_record(app, |st| {
            let rec = st.records.entry(app.to_string()).or_default();
            let entry = rollback_entry(app, &rec.history, env, to)?;
            rec.pinned
                .insert(entry.environment.clone(), entry.id.to_string());
            st.manual
                .insert((app.to_string(), entry.environment.clone()));
            Ok::<_, Error>(entry)
        });
        let entry = entry?;
        saved?;
        self.inner.wake.notify_one();
        Ok(entry)
    }

    /// `ferry app promote APP [ENV]`: approves the revision waiting at a
    /// manual gate.
    pub fn promote(&self, app: &str, env: Option<&str>) -> Result<Vec<(String, String)>> {
        self.app(app)?;
        let (waiting, saved) = self.update_record(app, |st| {
            let waiting: Vec<(String, String)> = st
                .status
                .get(app)
                .map(|s| {
                    s.environments
                        .iter()
                        .filter(|e| env.is_none_or(|x| x == e.environment))
                        .filter(|e| e.waiting.as_deref().is_some_and(|w| w.contains("approval")))
                        .filter_map(|e| Some((e.environment.clone(), e.desired_revision.clone()?)))
                        .collect()
                })
                .unwrap_or_default();
            let rec = st.records.entry(app.to_string()).or_default();
            for (e, rev) in &waiting {
                rec.approved.insert(e.clone(), rev.clone());
            }
            waiting
        });
        if waiting.is_empty() {
            return Err(Error::Conflict(format!(
                "`{app}` has no revision waiting for approval"
            )));
        }
        saved?;
        self.inner.wake.notify_one();
        Ok(waiting)
    }
}

/// The successful sync a rollback of `app` goes to: `to` (a history id or
/// a revision prefix of at least four characters), else the one before the
/// current in the current's environment.
fn rollback_entry(
    app: &str,
    history: &[HistoryEntry],
    env: Option<&str>,
    to: Option<&str>,
) -> Result<HistoryEntry> {
    let good: Vec<&HistoryEntry> = history
        .iter()
        .filter(|e| e.outcome == Outcome::Succeeded && env.is_none_or(|x| x == e.environment))
        .collect();
    let found = match to {
        Some(t) => good
            .iter()
            .rev()
            .find(|e| e.id.to_string() == t || (t.len() >= 4 && e.revision.starts_with(t)))
            .ok_or_else(|| Error::NotFound {
                kind: "successful sync",
                name: t.to_string(),
            })?,
        None => {
            let current = good.last().ok_or_else(|| {
                Error::Conflict(format!("`{app}` has no successful sync to roll back from"))
            })?;
            good.iter()
                .rev()
                .find(|e| e.environment == current.environment && e.revision != current.revision)
                .ok_or_else(|| {
                    Error::Conflict(format!(
                        "`{app}` has no earlier revision in `{}`",
                        current.environment
                    ))
                })?
        }
    };
    Ok((*found).clone())
}
