//! Bounds on the live diffs readers ask for (`GET /api/v1/apps/{name}/diff`,
//! the web UI's diff page). Each [`Engine::live_diff`] renders and sends a
//! server-side dry run to the target, so a reload storm must not become a
//! dry-run storm: through [`Engine::live_diff_limited`],
//!
//! - a comparison of the same (application, environment) younger than
//!   [`Limits::fresh`] is reused, with its age;
//! - at most [`Limits::running`] comparisons run at once; a request for a
//!   comparison already running waits for its result;
//! - a request that finds no slot waits up to [`Limits::wait`], then is
//!   refused with [`Error::DiffBusy`] (the API answers 429 with
//!   `Retry-After`).
//!
//! The decisions are [`Gate`]'s, pure over the times it is given; the
//! waiting is the engine's (a [`Notify`] woken whenever a comparison ends).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::sync::MutexExt;
use tokio::sync::Notify;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::reconcile::EnvDiff;

/// How live diffs on request are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A comparison younger than this is reused.
    pub fresh: Duration,
    /// Comparisons running at once.
    pub running: usize,
    /// How long a request waits for a slot before it is refused.
    pub wait: Duration,
}

impl Default for Limits {
    /// 5 s fresh, 2 at once, 5 s wait.
    fn default() -> Self {
        Limits {
            fresh: Duration::from_secs(5),
            running: 2,
            wait: Duration::from_secs(5),
        }
    }
}

/// Which comparison: an application, and one environment or all.
pub type Key = (String, Option<String>);

/// What a request for a comparison should do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Admit<T> {
    /// A result from `at` is fresh: use it.
    Reuse { result: T, at: Instant },
    /// A slot is the caller's: compare, then [`Gate::finish`].
    Run,
    /// The same comparison is running, or every slot is taken: wait for
    /// one to end and ask again.
    Wait,
}

/// The limiter's state (pure: every decision takes the time).
#[derive(Debug)]
pub struct Gate<T> {
    limits: Limits,
    done: BTreeMap<Key, (Instant, T)>,
    running: BTreeSet<Key>,
}

impl<T: Clone> Gate<T> {
    pub fn new(limits: Limits) -> Self {
        Gate {
            limits,
            done: BTreeMap::new(),
            running: BTreeSet::new(),
        }
    }

    /// Decides for a request for `key` at `now` (results no longer fresh
    /// are forgotten first, so the gate holds only recent ones).
    pub fn admit(&mut self, key: &Key, now: Instant) -> Admit<T> {
        let fresh = self.limits.fresh;
        self.done
            .retain(|_, (at, _)| now.saturating_duration_since(*at) < fresh);
        if let Some((at, result)) = self.done.get(key) {
            return Admit::Reuse {
                result: result.clone(),
                at: *at,
            };
        }
        if self.running.contains(key) || self.running.len() >= self.limits.running {
            return Admit::Wait;
        }
        self.running.insert(key.clone());
        Admit::Run
    }

    /// The comparison of `key` ended at `now`: its slot is free, and its
    /// result (`None`: it failed) is kept for reuse.
    pub fn finish(&mut self, key: &Key, now: Instant, result: Option<T>) {
        self.running.remove(key);
        if let Some(r) = result {
            self.done.insert(key.clone(), (now, r));
        }
    }
}

/// A comparison on request, maybe reused.
#[derive(Debug, Clone)]
pub struct LimitedDiff {
    pub environments: Arc<Vec<EnvDiff>>,
    /// How old the comparison is (zero: run for this request).
    pub age: Duration,
}

/// The engine's limiter: the gate and a wake-up for waiting requests.
#[derive(Debug)]
pub(crate) struct DiffLimiter {
    gate: Mutex<Gate<Arc<Vec<EnvDiff>>>>,
    ended: Notify,
    limits: Limits,
}

impl DiffLimiter {
    pub(crate) fn new(limits: Limits) -> Self {
        DiffLimiter {
            gate: Mutex::new(Gate::new(limits)),
            ended: Notify::new(),
            limits,
        }
    }

    /// How many comparisons hold a slot.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.gate.lock_or_recover().running.len()
    }
}

/// A slot taken: released when dropped (the request may be cancelled
/// mid-comparison), keeping the result if one was set.
struct Slot<'a> {
    limiter: &'a DiffLimiter,
    key: Key,
    result: Option<Arc<Vec<EnvDiff>>>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let result = self.result.take();
        let mut gate = self.limiter.gate.lock_or_recover();
        gate.finish(&self.key, Instant::now(), result);
        drop(gate);
        self.limiter.ended.notify_waiters();
    }
}

impl DiffLimiter {
    /// `compare` (a comparison of `key`, not started yet) within the
    /// limits: run now, reused, waited for, or refused.
    pub(crate) async fn run(
        &self,
        key: Key,
        compare: impl Future<Output = Result<Vec<EnvDiff>>>,
    ) -> Result<LimitedDiff> {
        let deadline = tokio::time::Instant::now() + self.limits.wait;
        loop {
            // Registered before the gate is asked, so an end between the
            // two still wakes this request.
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            let now = Instant::now();
            match self.gate.lock_or_recover().admit(&key, now) {
                Admit::Reuse { result, at } => {
                    return Ok(LimitedDiff {
                        environments: result,
                        age: now.saturating_duration_since(at),
                    });
                }
                Admit::Run => break,
                Admit::Wait => {}
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return Err(Error::DiffBusy {
                    running: self.limits.running,
                    retry_after: self.limits.fresh,
                });
            }
        }
        let mut slot = Slot {
            limiter: self,
            key,
            result: None,
        };
        let envs = Arc::new(compare.await?);
        slot.result = Some(envs.clone());
        Ok(LimitedDiff {
            environments: envs,
            age: Duration::ZERO,
        })
    }
}

impl Engine {
    /// [`Engine::live_diff`] within the engine's [`Limits`] (see the
    /// module's documentation).
    pub async fn live_diff_limited(&self, app: &str, env: Option<&str>) -> Result<LimitedDiff> {
        let key: Key = (app.to_string(), env.map(str::to_string));
        self.inner.diffs.run(key, self.live_diff(app, env)).await
    }
}

#[cfg(test)]
#[path = "diff_limit_tests.rs"]
mod tests;
