//! The step machine on a manual clock: every step in order to promotion,
//! a failing analysis rolled back in one swap, and the progress deadline
//! ending a canary whose pods never get ready and a pause never promoted.

use ferry_core::rollout_spec::CanaryStrategy;
use ferry_core::traffic::{LATENCY_BUCKETS, SideStats};
use serde_json::json;

use super::*;
use crate::rollout::{AnalysisRun, Rollout};

fn strategy(steps: &str) -> CanaryStrategy {
    let y = format!(
        "steps: {steps}\nanalysis: {{interval: 1s, failureLimit: 1, minRequests: 10, successRate: 0.95}}\nprogressDeadlineSeconds: 30\n"
    );
    let doc = ferry_core::yaml::parse_documents("t.yaml", &y).unwrap();
    serde_json::from_value(doc[0].value.clone()).unwrap()
}

pub(super) fn rollout() -> Rollout {
    Rollout {
        app: "web".into(),
        environment: "dev".into(),
        region: "uk".into(),
        namespace: "dev".into(),
        deployment: "web".into(),
        services: vec!["web".into()],
        stable_template: json!({}),
        canary_template: json!({}),
        selector: json!({}),
        replicas: 4,
        phase: Phase::Progressing,
        step: 0,
        steps: 0,
        step_started_ms: 0,
        started_ms: 0,
        weight: 0,
        canary_replicas: 0,
        analysis: AnalysisRun::default(),
        mirror_analysis: AnalysisRun::default(),
        header_routes: Vec::new(),
        mirror_routes: Vec::new(),
        fault: None,
        strategy: None,
        notes: Vec::new(),
        promote: false,
        abort: false,
        stable_synced: false,
        message: None,
        history: Vec::new(),
    }
}

/// Cumulative canary counters: `requests` answered, `errors` of them 5xx.
fn stats(requests: u64, errors: u64) -> Option<SideStats> {
    let mut latency = vec![0; LATENCY_BUCKETS.len() + 1];
    latency[0] = requests;
    Some(SideStats {
        requests,
        errors,
        latency,
    })
}

fn obs(ready: u32, s: Option<SideStats>) -> Observed {
    Observed {
        canary_ready: ready,
        stable_rolled: false,
        canary_stats: s,
        mirror_stats: None,
    }
}

#[test]
fn a_good_canary_goes_through_every_step_in_order_then_becomes_stable() {
    let s = strategy(
        "[{setWeight: 25}, {pause: {duration: 2s}}, {analysis: {count: 2}}, {setWeight: 50}, {pause: {}}]",
    );
    let mut r = rollout();
    assert_eq!(
        advance(&mut r, &s, &obs(0, stats(0, 0)), 0),
        [Command::ScaleCanary(1)]
    );
    assert_eq!(advance(&mut r, &s, &obs(0, stats(0, 0)), 100), []);
    assert_eq!(
        advance(&mut r, &s, &obs(1, stats(0, 0)), 200),
        [Command::SetWeight(25)]
    );
    assert_eq!((r.step, r.weight), (1, 25));
    // The analysis starts its first window with traffic.
    assert_eq!(advance(&mut r, &s, &obs(1, stats(0, 0)), 300), []);
    assert_eq!(advance(&mut r, &s, &obs(1, stats(20, 0)), 1300), []);
    assert_eq!(r.analysis.measurements, 1);
    assert_eq!(advance(&mut r, &s, &obs(1, stats(40, 0)), 2300), []);
    assert_eq!(r.step, 2, "the pause ended after 2 s");
    assert_eq!(advance(&mut r, &s, &obs(1, stats(60, 1)), 3300), []);
    assert_eq!(
        advance(&mut r, &s, &obs(1, stats(80, 1)), 4300),
        [Command::ScaleCanary(2)]
    );
    assert_eq!(r.step, 3, "two passing measurements in the analysis step");
    assert_eq!(
        advance(&mut r, &s, &obs(2, stats(80, 1)), 4400),
        [Command::SetWeight(50)]
    );
    assert_eq!(advance(&mut r, &s, &obs(2, stats(90, 1)), 4500), []);
    assert_eq!(r.phase, Phase::Paused);
    r.promote = true;
    assert_eq!(
        advance(&mut r, &s, &obs(2, stats(95, 1)), 4600),
        [Command::SyncStable]
    );
    assert_eq!(r.phase, Phase::Promoting);
    assert_eq!(advance(&mut r, &s, &obs(2, stats(99, 1)), 4700), []);
    let rolled = Observed {
        stable_rolled: true,
        ..obs(2, stats(99, 1))
    };
    assert_eq!(advance(&mut r, &s, &rolled, 4800), [Command::Finish]);
    assert_eq!(r.phase, Phase::Completed);
    assert_eq!(advance(&mut r, &s, &rolled, 4900), []);
    let steps: Vec<(usize, u32, u64)> = r
        .history
        .iter()
        .map(|e| (e.step, e.weight, e.started_ms))
        .collect();
    assert_eq!(
        steps,
        [
            (1, 25, 200),
            (2, 25, 2300),
            (3, 25, 4300),
            (4, 50, 4400),
            (5, 50, 4600)
        ],
        "every step entered, with the weight then and when"
    );
}

#[test]
fn failed_measurements_beyond_the_limit_roll_back_with_the_metric() {
    let s = strategy("[{setWeight: 10}, {pause: {}}]");
    let mut r = rollout();
    advance(&mut r, &s, &obs(0, stats(0, 0)), 0);
    advance(&mut r, &s, &obs(1, stats(0, 0)), 10);
    advance(&mut r, &s, &obs(1, stats(0, 0)), 20);
    assert_eq!(advance(&mut r, &s, &obs(1, stats(50, 10)), 1020), []);
    assert_eq!(r.analysis.failures, 1, "within failureLimit 1");
    let cmds = advance(&mut r, &s, &obs(1, stats(100, 20)), 2020);
    assert_eq!(cmds, [Command::SetWeight(0), Command::ScaleCanary(0)]);
    assert_eq!(r.phase, Phase::Aborted);
    let m = r.message.unwrap();
    assert!(
        m.contains("measurement 2 (2 failed, failureLimit 1)"),
        "{m}"
    );
    assert!(m.contains("success rate 0.800 < 0.95 (10 of 50"), "{m}");
}

#[test]
fn too_few_requests_are_inconclusive_not_failures() {
    let s = strategy("[{setWeight: 10}, {pause: {}}]");
    let mut r = rollout();
    advance(&mut r, &s, &obs(0, stats(0, 0)), 0);
    advance(&mut r, &s, &obs(1, stats(0, 0)), 10);
    advance(&mut r, &s, &obs(1, stats(0, 0)), 20);
    advance(&mut r, &s, &obs(1, stats(5, 5)), 1020);
    advance(&mut r, &s, &obs(1, stats(10, 10)), 2020);
    assert_eq!((r.analysis.failures, r.phase), (0, Phase::Paused));
}

#[test]
fn the_progress_deadline_ends_pods_never_ready_and_a_pause_never_promoted() {
    let s = strategy("[{setWeight: 10}, {pause: {}}]");
    let mut r = rollout();
    advance(&mut r, &s, &obs(0, None), 0);
    assert_eq!(advance(&mut r, &s, &obs(0, None), 30_000), []);
    let cmds = advance(&mut r, &s, &obs(0, None), 30_001);
    assert_eq!(cmds, [Command::SetWeight(0), Command::ScaleCanary(0)]);
    let m = r.message.unwrap();
    assert_eq!(
        m,
        "progress deadline: step 1 did not finish within 30 s (waiting for 1 canary pods to be ready (0 are))"
    );

    let mut r = rollout();
    advance(&mut r, &s, &obs(0, None), 0);
    advance(&mut r, &s, &obs(1, None), 1000);
    advance(&mut r, &s, &obs(1, None), 2000);
    assert_eq!(r.phase, Phase::Paused);
    advance(&mut r, &s, &obs(1, None), 31_001);
    assert_eq!(r.phase, Phase::Aborted);
    assert!(
        r.message
            .unwrap()
            .contains("step 2 did not finish within 30 s (paused")
    );
}

#[test]
fn a_timed_pause_gets_the_deadline_beyond_its_duration_and_abort_is_one_swap() {
    let s = strategy("[{setWeight: 10}, {pause: {duration: 60s}}]");
    let mut r = rollout();
    advance(&mut r, &s, &obs(0, None), 0);
    advance(&mut r, &s, &obs(1, None), 0);
    advance(&mut r, &s, &obs(1, None), 45_000);
    assert_eq!(r.phase, Phase::Progressing);
    r.abort = true;
    let cmds = advance(&mut r, &s, &obs(1, None), 46_000);
    assert_eq!(cmds, [Command::SetWeight(0), Command::ScaleCanary(0)]);
    assert_eq!(canary_replicas(4, 10), 1);
    assert_eq!(canary_replicas(4, 60), 3);
}
