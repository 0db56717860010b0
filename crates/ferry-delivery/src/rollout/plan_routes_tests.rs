//! The routing steps on a manual clock: a header route set once the
//! canary is ready and judged on the tagged traffic; a mirror route
//! analysed apart from live traffic and rolled back before any weight
//! moves; routes removed by name, on promotion and on abort.

use ferry_core::rollout_spec::CanaryStrategy;
use ferry_core::traffic::{LATENCY_BUCKETS, SideStats};

use super::*;

fn strategy(steps: &str) -> CanaryStrategy {
    let y = format!(
        "steps: {steps}\nanalysis: {{interval: 1s, failureLimit: 1, minRequests: 10, successRate: 0.95}}\nprogressDeadlineSeconds: 30\n"
    );
    let doc = ferry_core::yaml::parse_documents("t.yaml", &y).unwrap();
    serde_json::from_value(doc[0].value.clone()).unwrap()
}

fn rollout() -> Rollout {
    let mut r = super::tests::rollout();
    r.replicas = 4;
    r
}

fn side(requests: u64, errors: u64) -> SideStats {
    let mut latency = vec![0; LATENCY_BUCKETS.len() + 1];
    latency[0] = requests;
    SideStats {
        requests,
        errors,
        latency,
    }
}

/// Ready canary pods, the live canary counters and the mirrored ones.
fn obs(ready: u32, live: (u64, u64), mirror: (u64, u64)) -> Observed {
    Observed {
        canary_ready: ready,
        stable_rolled: false,
        canary_stats: Some(side(live.0, live.1)),
        mirror_stats: Some(side(mirror.0, mirror.1)),
    }
}

const HEADER: &str = "{setHeaderRoute: {name: testers, match: [{headerName: x-tester, headerValue: {exact: 'yes'}}]}}";

#[test]
fn a_header_route_waits_for_a_ready_canary_and_its_traffic_is_analysed() {
    let s = strategy(&format!(
        "[{HEADER}, {{analysis: {{count: 1}}}}, {{setWeight: 50}}]"
    ));
    let mut r = rollout();
    let z = (0, 0);
    assert_eq!(
        advance(&mut r, &s, &obs(0, z, z), 0),
        [Command::ScaleCanary(1)]
    );
    assert_eq!(advance(&mut r, &s, &obs(0, z, z), 100), []);
    assert!(
        r.header_routes.is_empty(),
        "not before a canary pod is ready"
    );
    assert_eq!(
        advance(&mut r, &s, &obs(1, z, z), 200),
        [Command::SetRoutes]
    );
    assert_eq!((r.step, r.weight, r.header_routes.len()), (1, 0, 1));
    // Tagged requests are live canary traffic: measured at weight 0.
    assert_eq!(advance(&mut r, &s, &obs(1, z, z), 300), []);
    let cmds = advance(&mut r, &s, &obs(1, (20, 0), z), 1300);
    assert_eq!(r.analysis.measurements, 1);
    assert_eq!(cmds, [Command::ScaleCanary(2)], "on to setWeight 50");
    r.abort = true;
    let cmds = advance(&mut r, &s, &obs(2, (20, 0), z), 1400);
    assert_eq!(cmds, [Command::SetWeight(0), Command::ScaleCanary(0)]);
    assert!(r.header_routes.is_empty(), "the abort's swap removes it");
}

#[test]
fn a_failing_mirror_is_rolled_back_before_any_weight_moves() {
    let s = strategy(
        "[{setMirrorRoute: {name: shadow, percentage: 100}}, {analysis: {count: 2}}, {setWeight: 50}]",
    );
    let mut r = rollout();
    let z = (0, 0);
    advance(&mut r, &s, &obs(0, z, z), 0);
    assert_eq!(advance(&mut r, &s, &obs(1, z, z), 10), [Command::SetRoutes]);
    assert_eq!(r.mirror_routes[0].name, "shadow");
    assert_eq!(advance(&mut r, &s, &obs(1, z, z), 20), []);
    // Live canary counters (none here) are not the mirror's.
    advance(&mut r, &s, &obs(1, z, (50, 10)), 1020);
    assert_eq!(
        (r.mirror_analysis.failures, r.analysis.measurements),
        (1, 0)
    );
    let cmds = advance(&mut r, &s, &obs(1, z, (100, 20)), 2020);
    assert_eq!(cmds, [Command::SetWeight(0), Command::ScaleCanary(0)]);
    assert_eq!((r.phase, r.weight, r.step), (Phase::Aborted, 0, 1));
    assert!(r.mirror_routes.is_empty());
    let m = r.message.unwrap();
    assert!(
        m.starts_with("analysis of the mirrored requests failed at measurement 2"),
        "{m}"
    );
    assert!(m.contains("success rate 0.800 < 0.95"), "{m}");
}

#[test]
fn an_analysis_step_after_a_mirror_judges_the_mirrored_requests_and_a_name_removes_it() {
    let s = strategy(
        "[{setMirrorRoute: {name: shadow, percentage: 50}}, {analysis: {count: 1}}, {setMirrorRoute: {name: shadow}}, {pause: {}}]",
    );
    let mut r = rollout();
    let z = (0, 0);
    advance(&mut r, &s, &obs(0, z, z), 0);
    advance(&mut r, &s, &obs(1, z, z), 10);
    advance(&mut r, &s, &obs(1, z, z), 20);
    // Live canary traffic alone does not pass the step.
    assert_eq!(advance(&mut r, &s, &obs(1, (40, 0), (5, 0)), 1020), []);
    assert_eq!(r.step, 1, "5 mirrored requests are inconclusive");
    let cmds = advance(&mut r, &s, &obs(1, (40, 0), (25, 0)), 2020);
    assert_eq!(cmds, [Command::SetRoutes], "passed, then removed by name");
    assert!(r.mirror_routes.is_empty());
    advance(&mut r, &s, &obs(1, (40, 0), (25, 0)), 2100);
    assert_eq!(r.phase, Phase::Paused);
}

#[test]
fn promotion_removes_the_routes_before_the_stable_takes_the_template() {
    let s = strategy(&format!("[{HEADER}]"));
    let mut r = rollout();
    let z = (0, 0);
    advance(&mut r, &s, &obs(0, z, z), 0);
    advance(&mut r, &s, &obs(1, z, z), 10);
    assert_eq!(r.header_routes.len(), 1);
    let cmds = advance(&mut r, &s, &obs(1, z, z), 20);
    assert_eq!(cmds, [Command::SetRoutes, Command::SyncStable]);
    assert!(r.header_routes.is_empty());
    assert_eq!(r.phase, Phase::Promoting);
}
