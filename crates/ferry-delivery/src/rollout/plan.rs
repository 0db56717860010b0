//! The canary's step machine, pure and clock-injected: [`advance`] looks
//! at a [`Rollout`], the strategy and what the driver observed at `now`,
//! updates the rollout and says what to do ([`Command`]s, in order).
//!
//! As Argo Rollouts: `setWeight` scales the canary for the weight and,
//! once its pods are ready, moves the weight; `pause {duration}` waits;
//! `pause {}` waits for `promote` (which skips any current step);
//! `analysis {count}` waits for that many passing measurements. The
//! background analysis measures every `interval` once traffic reaches the
//! canary; more failed measurements than `failureLimit` abort. No step
//! outlasts `progressDeadlineSeconds` (a timed pause: beyond its duration).
//! After the last step the user's Deployment takes the canary's template;
//! once it is rolled out the weight returns to it and the canary goes.

use ferry_core::rollout_spec::{CanaryStep, CanaryStrategy};
use ferry_core::traffic::SideStats;

use super::analysis::{Verdict, measure};
use super::{Phase, Rollout};

/// What the driver saw at one tick.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Ready pods of the canary Deployment.
    pub canary_ready: u32,
    /// The user's Deployment runs the canary's template on all its pods.
    pub stable_rolled: bool,
    /// The canary side's counters, summed over the split Services.
    pub canary_stats: Option<SideStats>,
}

/// One thing for the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Apply the canary Deployment with this many replicas.
    ScaleCanary(u32),
    /// Swap the route table: this percent to the canary.
    SetWeight(u32),
    /// Sync the environment so the user's Deployment takes the canary's template.
    SyncStable,
    /// Remove the split and the canary Deployment.
    Finish,
}

/// Canary pods for `weight` percent of `replicas` (at least one).
pub fn canary_replicas(replicas: u32, weight: u32) -> u32 {
    (replicas * weight).div_ceil(100).max(1)
}

/// Advances `r` at `now_ms`.
pub fn advance(r: &mut Rollout, s: &CanaryStrategy, obs: &Observed, now_ms: u64) -> Vec<Command> {
    if matches!(r.phase, Phase::Completed | Phase::Aborted) {
        return Vec::new();
    }
    if r.abort {
        r.abort = false;
        return abort(r, "aborted by `ferry app rollout abort`".into());
    }
    if r.phase != Phase::Promoting
        && let Some(why) = analyse(r, s, obs, now_ms)
    {
        return abort(r, why);
    }
    if r.phase == Phase::Promoting {
        return promoting(r, obs);
    }
    step(r, s, obs, now_ms)
}

/// The background analysis: a measurement each interval once traffic
/// reaches the canary; `Some(why)` when it failed.
fn analyse(r: &mut Rollout, s: &CanaryStrategy, obs: &Observed, now_ms: u64) -> Option<String> {
    let a = &mut r.analysis;
    let stats = obs.canary_stats.as_ref()?;
    let (Some(start), Some(base)) = (a.window_start_ms, a.baseline.as_ref()) else {
        if r.weight > 0 {
            a.window_start_ms = Some(now_ms);
            a.baseline = Some(stats.clone());
        }
        return None;
    };
    if now_ms.saturating_sub(start) < s.analysis.interval.0.as_millis() as u64 {
        return None;
    }
    let m = measure(base, stats, &s.analysis);
    a.window_start_ms = Some(now_ms);
    a.baseline = Some(stats.clone());
    a.measurements += 1;
    match m.verdict {
        Verdict::Pass => a.passes_in_step += 1,
        Verdict::Fail => a.failures += 1,
        Verdict::Inconclusive => {}
    }
    let failed = m.verdict == Verdict::Fail && a.failures > s.analysis.failure_limit;
    let why = m.reason.clone().map(|reason| {
        format!(
            "canary analysis failed at measurement {} ({} failed, failureLimit {}): {reason}",
            a.measurements, a.failures, s.analysis.failure_limit
        )
    });
    a.last = Some(m);
    why.filter(|_| failed)
}

fn abort(r: &mut Rollout, why: String) -> Vec<Command> {
    r.phase = Phase::Aborted;
    r.message = Some(why);
    r.weight = 0;
    r.canary_replicas = 0;
    vec![Command::SetWeight(0), Command::ScaleCanary(0)]
}

fn next_step(r: &mut Rollout, now_ms: u64) {
    r.step += 1;
    r.step_started_ms = now_ms;
    r.analysis.passes_in_step = 0;
    r.phase = Phase::Progressing;
    r.message = None;
}

fn step(r: &mut Rollout, s: &CanaryStrategy, obs: &Observed, now_ms: u64) -> Vec<Command> {
    let Some(step) = s.steps.get(r.step) else {
        r.phase = Phase::Promoting;
        r.message = Some("steps done: promoting the canary to stable".into());
        r.stable_synced = true;
        return vec![Command::SyncStable];
    };
    if r.promote {
        r.promote = false;
        next_step(r, now_ms);
        return step_again(r, s, obs, now_ms);
    }
    let elapsed = now_ms.saturating_sub(r.step_started_ms);
    let mut deadline = s.progress_deadline_seconds * 1000;
    match step {
        CanaryStep::SetWeight(w) => {
            let want = canary_replicas(r.replicas, *w);
            if r.canary_replicas != want {
                r.canary_replicas = want;
                return vec![Command::ScaleCanary(want)];
            }
            if obs.canary_ready >= want {
                r.weight = *w;
                next_step(r, now_ms);
                return vec![Command::SetWeight(*w)];
            }
            r.message = Some(format!(
                "waiting for {want} canary pods to be ready ({} are)",
                obs.canary_ready
            ));
        }
        CanaryStep::Pause(p) => match p.duration {
            Some(d) if elapsed >= d.0.as_millis() as u64 => {
                next_step(r, now_ms);
                return step_again(r, s, obs, now_ms);
            }
            Some(d) => deadline += d.0.as_millis() as u64,
            None => {
                r.phase = Phase::Paused;
                r.message = Some("paused until `ferry app rollout promote`".into());
            }
        },
        CanaryStep::Analysis(a) => {
            if r.analysis.passes_in_step >= a.count {
                next_step(r, now_ms);
                return step_again(r, s, obs, now_ms);
            }
            r.message = Some(format!(
                "analysis: {} of {} passing measurements",
                r.analysis.passes_in_step, a.count
            ));
        }
    }
    if elapsed > deadline {
        let what = r.message.clone().unwrap_or_default();
        return abort(
            r,
            format!(
                "progress deadline: step {} did not finish within {} s ({what})",
                r.step + 1,
                deadline / 1000
            ),
        );
    }
    Vec::new()
}

/// A step that finished at once lets the next one start in the same tick.
fn step_again(r: &mut Rollout, s: &CanaryStrategy, obs: &Observed, now_ms: u64) -> Vec<Command> {
    step(r, s, obs, now_ms)
}

/// The user's Deployment is rolling to the canary's template; once done,
/// the canary leaves.
fn promoting(r: &mut Rollout, obs: &Observed) -> Vec<Command> {
    if !obs.stable_rolled {
        return Vec::new();
    }
    r.phase = Phase::Completed;
    r.weight = 0;
    r.canary_replicas = 0;
    r.message = Some("promoted: the canary's template is stable".into());
    vec![Command::Finish]
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
