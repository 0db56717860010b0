//! The canary's step machine, pure and clock-injected: [`advance`] looks
//! at a [`Rollout`], the strategy and what the driver observed at `now`,
//! updates the rollout and says what to do ([`Command`]s, in order).
//!
//! As Argo Rollouts: `setWeight` scales the canary for the weight and,
//! once its pods are ready, moves the weight; `pause {duration}` waits;
//! `pause {}` waits for `promote` (which skips any current step);
//! `analysis {count}` waits for that many passing measurements (of the
//! mirrored requests while a mirror route is set); `setHeaderRoute`,
//! `setMirrorRoute` and `ferryFault` start the canary (one pod at weight
//! 0) and, once it is ready, set or (named alone) remove their route. The
//! background analysis measures every `interval` once live traffic reaches
//! the canary (a weight or a header route) and, apart, once a mirror route
//! is set; more failed measurements than `failureLimit` abort, and an
//! abort or promotion removes every route. No step
//! outlasts `progressDeadlineSeconds` (a timed pause: beyond its duration).
//! After the last step the user's Deployment takes the canary's template;
//! once it is rolled out the weight returns to it and the canary goes.

use ferry_core::rollout_routes::{FerryFault, SetHeaderRoute, SetMirrorRoute};
use ferry_core::rollout_spec::{CanaryStep, CanaryStrategy};
use ferry_core::traffic::SideStats;

use super::analysis::{Verdict, measure};
use super::{AnalysisRun, Phase, Rollout, StepEntry};

/// What the driver saw at one tick.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Ready pods of the canary Deployment.
    pub canary_ready: u32,
    /// The user's Deployment runs the canary's template on all its pods.
    pub stable_rolled: bool,
    /// The canary side's counters, summed over the split Services.
    pub canary_stats: Option<SideStats>,
    /// The canary's answers to mirrored requests, likewise.
    pub mirror_stats: Option<SideStats>,
}

/// One thing for the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Apply the canary Deployment with this many replicas.
    ScaleCanary(u32),
    /// Swap the route table: this percent to the canary.
    SetWeight(u32),
    /// Swap the route table for the rollout's routes (and its weight).
    SetRoutes,
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

/// The background analysis: a measurement each interval of the live
/// canary traffic once some reaches it, and of the mirrored traffic while
/// a mirror route is set; `Some(why)` when one failed.
fn analyse(r: &mut Rollout, s: &CanaryStrategy, obs: &Observed, now_ms: u64) -> Option<String> {
    let live = r.weight > 0 || !r.header_routes.is_empty();
    let stats = obs.canary_stats.as_ref().filter(|_| live);
    if let Some(why) = measure_run(&mut r.analysis, stats, s, now_ms, "canary analysis") {
        return Some(why);
    }
    let stats = obs
        .mirror_stats
        .as_ref()
        .filter(|_| !r.mirror_routes.is_empty());
    let what = "analysis of the mirrored requests";
    measure_run(&mut r.mirror_analysis, stats, s, now_ms, what)
}

/// One run's window: started at the first counters seen, measured and
/// restarted every interval; without counters (the traffic it judges
/// stopped) it starts again when they come back.
fn measure_run(
    a: &mut AnalysisRun,
    stats: Option<&SideStats>,
    s: &CanaryStrategy,
    now_ms: u64,
    what: &str,
) -> Option<String> {
    let Some(stats) = stats else {
        a.window_start_ms = None;
        a.baseline = None;
        return None;
    };
    let (Some(start), Some(base)) = (a.window_start_ms, a.baseline.as_ref()) else {
        a.window_start_ms = Some(now_ms);
        a.baseline = Some(stats.clone());
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
            "{what} failed at measurement {} ({} failed, failureLimit {}): {reason}",
            a.measurements, a.failures, s.analysis.failure_limit
        )
    });
    a.last = Some(m);
    why.filter(|_| failed)
}

fn abort(r: &mut Rollout, why: String) -> Vec<Command> {
    r.phase = Phase::Aborted;
    r.message = Some(why);
    clear_routes(r);
    r.weight = 0;
    r.canary_replicas = 0;
    vec![Command::SetWeight(0), Command::ScaleCanary(0)]
}

fn next_step(r: &mut Rollout, now_ms: u64) {
    r.step += 1;
    r.step_started_ms = now_ms;
    r.analysis.passes_in_step = 0;
    r.mirror_analysis.passes_in_step = 0;
    r.phase = Phase::Progressing;
    r.message = None;
    r.history.push(StepEntry {
        step: r.step,
        weight: r.weight,
        started_ms: now_ms,
    });
}

fn step(r: &mut Rollout, s: &CanaryStrategy, obs: &Observed, now_ms: u64) -> Vec<Command> {
    let Some(step) = s.steps.get(r.step) else {
        r.phase = Phase::Promoting;
        r.message = Some("steps done: promoting the canary to stable".into());
        r.stable_synced = true;
        let routed = clear_routes(r);
        return [Command::SetRoutes]
            .into_iter()
            .filter(|_| routed)
            .chain([Command::SyncStable])
            .collect();
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
            let run = if r.mirror_routes.is_empty() {
                &r.analysis
            } else {
                &r.mirror_analysis
            };
            if run.passes_in_step >= a.count {
                next_step(r, now_ms);
                return step_again(r, s, obs, now_ms);
            }
            r.message = Some(format!(
                "analysis: {} of {} passing measurements",
                run.passes_in_step, a.count
            ));
        }
        CanaryStep::SetHeaderRoute(h) => {
            let removes = h.matches.is_empty();
            if let Some(wait) = route_step(r, obs, now_ms, removes, |r| set_header_route(r, h)) {
                return wait;
            }
        }
        CanaryStep::SetMirrorRoute(m) => {
            let removes = m.removes();
            if let Some(wait) = route_step(r, obs, now_ms, removes, |r| set_mirror_route(r, m)) {
                return wait;
            }
        }
        CanaryStep::FerryFault(f) => {
            let removes = f.delay.is_none();
            if let Some(wait) = route_step(r, obs, now_ms, removes, |r| set_fault(r, f)) {
                return wait;
            }
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

/// A routing step: the canary started and ready first (unless the step
/// removes a route), then `set` and the table swapped. `None`: waiting.
fn route_step(
    r: &mut Rollout,
    obs: &Observed,
    now_ms: u64,
    removes: bool,
    set: impl FnOnce(&mut Rollout),
) -> Option<Vec<Command>> {
    if !removes {
        let want = canary_replicas(r.replicas, r.weight);
        if r.canary_replicas < want {
            r.canary_replicas = want;
            return Some(vec![Command::ScaleCanary(want)]);
        }
        if obs.canary_ready < r.canary_replicas {
            r.message = Some(format!(
                "waiting for {} canary pods to be ready ({} are)",
                r.canary_replicas, obs.canary_ready
            ));
            return None;
        }
    }
    set(r);
    next_step(r, now_ms);
    Some(vec![Command::SetRoutes])
}

fn set_header_route(r: &mut Rollout, h: &SetHeaderRoute) {
    r.header_routes.retain(|x| x.name != h.name);
    if !h.matches.is_empty() {
        r.header_routes.push(h.clone());
    }
}

fn set_mirror_route(r: &mut Rollout, m: &SetMirrorRoute) {
    r.mirror_routes.retain(|x| x.name != m.name);
    if !m.removes() {
        r.mirror_routes.push(m.clone());
    }
}

fn set_fault(r: &mut Rollout, f: &FerryFault) {
    r.fault = f.delay.is_some().then(|| f.clone());
}

/// Removes every route; true when there was one.
fn clear_routes(r: &mut Rollout) -> bool {
    let had = !r.header_routes.is_empty() || !r.mirror_routes.is_empty() || r.fault.is_some();
    r.header_routes.clear();
    r.mirror_routes.clear();
    r.fault = None;
    had
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

#[cfg(test)]
#[path = "plan_routes_tests.rs"]
mod routes_tests;
