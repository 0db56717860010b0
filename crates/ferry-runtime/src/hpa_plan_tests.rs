//! The replica calculator and behavior against the worked examples of
//! Kubernetes' HPA documentation and the rules of its controller.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::hpa_behavior::{Policy, Rules, Select};

fn pod(name: &str, value: Option<i64>, request: i64) -> PodMetric {
    PodMetric {
        name: name.into(),
        ignored: false,
        unready: false,
        value,
        request: Ok(request),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap()
}

fn cpu(pods: Vec<PodMetric>, target: i32) -> Vec<MetricInput> {
    vec![MetricInput {
        source: Source::Resource("cpu".into()),
        target: Target::Utilization(target),
        pods: Ok(pods),
    }]
}

fn input<'a>(current: i32, metrics: &'a [MetricInput], b: &'a Behavior) -> Input<'a> {
    Input {
        current,
        min: 1,
        max: 10,
        status_replicas: current,
        metrics,
        behavior: b,
        now: t0(),
    }
}

#[test]
fn double_the_target_doubles_the_replicas() {
    // The docs: 200m current against 100m target doubles the replicas.
    let pods = vec![pod("a", Some(200), 100), pod("b", Some(200), 100)];
    assert_eq!(utilization_replicas(2, 100, &pods, true), Ok((4, 200, 200)));
    assert_eq!(plain_replicas(2, 100, &pods, true), Ok((4, 200)));
    // 50m against 100m halves them.
    let pods = vec![pod("a", Some(50), 100), pod("b", Some(50), 100)];
    assert_eq!(plain_replicas(2, 100, &pods, true), Ok((1, 50)));
}

#[test]
fn within_the_tolerance_nothing_changes() {
    let pods = vec![pod("a", Some(108), 100), pod("b", Some(108), 100)];
    assert_eq!(utilization_replicas(2, 100, &pods, true).unwrap().0, 2);
    let pods = vec![pod("a", Some(115), 100), pod("b", Some(115), 100)];
    assert_eq!(utilization_replicas(2, 100, &pods, true).unwrap().0, 3);
}

#[test]
fn missing_metrics_count_as_zero_up_and_as_the_request_down() {
    // Scale-up: the missing pod counts as 0 %, which dampens the step.
    let pods = vec![pod("a", Some(300), 100), pod("b", None, 100)];
    // ratio 3 over 1 ready pod; with b at 0: 150 % of 2 pods → 3.
    assert_eq!(utilization_replicas(2, 100, &pods, true).unwrap().0, 3);
    // Scale-down: the missing pod counts as 100 % of its request.
    let pods = vec![
        pod("a", Some(10), 100),
        pod("b", Some(10), 100),
        pod("c", None, 100),
    ];
    // (10+10+100)/300 = 40 % against 50 % → ceil(0.8 × 3) = 3: held.
    assert_eq!(utilization_replicas(3, 50, &pods, true).unwrap().0, 3);
    // Without the missing pod it would drop to ceil(0.2 × 2) = 1.
    assert_eq!(utilization_replicas(3, 50, &pods[..2], true).unwrap().0, 1);
    // Pods metrics: missing counts as the target on the way down.
    let pods = vec![pod("a", Some(1000), 0), pod("b", None, 0)];
    assert_eq!(plain_replicas(2, 4000, &pods, false).unwrap().0, 2);
}

#[test]
fn unready_pods_are_left_out_of_cpu_and_count_zero_on_a_scale_up() {
    let mut b = pod("b", Some(900), 100);
    b.unready = true;
    let pods = vec![pod("a", Some(200), 100), b];
    // Ready a alone says 2×; with b at 0 the ratio is 1.0 → no change.
    assert_eq!(utilization_replicas(2, 100, &pods, true).unwrap().0, 2);
    // For memory the unready pod counts with its value.
    assert_eq!(utilization_replicas(2, 100, &pods, false).unwrap().0, 11);
    let mut gone = pod("c", Some(10_000), 100);
    gone.ignored = true;
    let pods = vec![pod("a", Some(200), 100), gone];
    assert_eq!(utilization_replicas(1, 100, &pods, true).unwrap().0, 2);
}

#[test]
fn a_container_without_a_request_fails_utilization() {
    let mut p = pod("a", Some(100), 0);
    p.request = Err("web".into());
    assert_eq!(
        utilization_replicas(1, 50, &[p], true),
        Err("missing request for cpu in container web of Pod a".into())
    );
}

#[test]
fn the_highest_metric_wins_and_status_names_it() {
    let b = Behavior::of(None);
    let mut ms = cpu(vec![pod("a", Some(100), 100)], 50);
    ms.push(MetricInput {
        source: Source::Pods("http_requests_per_second".into()),
        target: Target::AverageValue(10_000),
        pods: Ok(vec![pod("a", Some(40_000), 0)]),
    });
    let d = decide(&input(1, &ms, &b), &mut History::default());
    assert_eq!((d.desired, d.rescale), (4, true));
    assert_eq!(
        d.metrics[0]["resource"]["current"]["averageUtilization"],
        100
    );
    assert_eq!(d.metrics[1]["pods"]["current"]["averageValue"], "40");
    assert!(d.events.iter().any(|(r, m, _)| r == "SuccessfulRescale"
        && m == "New size: 4; reason: pods metric http_requests_per_second above target"));
}

#[test]
fn scale_down_waits_for_the_window_with_the_highest_recommendation() {
    let b = Behavior::of(None);
    let mut h = History::default();
    let high = cpu(vec![pod("a", Some(400), 100)], 100);
    let mut i = input(1, &high, &b);
    assert_eq!(decide(&i, &mut h).desired, 4);
    let low = cpu(
        (0..4).map(|n| pod(&n.to_string(), Some(10), 100)).collect(),
        100,
    );
    i.metrics = &low;
    i.current = 4;
    i.now = t0() + Duration::seconds(60);
    let d = decide(&i, &mut h);
    assert_eq!((d.desired, d.rescale), (4, false));
    let able = d
        .conditions
        .iter()
        .find(|c| c.type_ == "AbleToScale")
        .unwrap();
    assert_eq!(able.reason, "ScaleDownStabilized");
    // 300 s after the high recommendation it is out of the window.
    i.now = t0() + Duration::seconds(301);
    let d = decide(&i, &mut h);
    assert_eq!((d.desired, d.rescale), (1, true));
}

#[test]
fn policies_limit_the_rate_and_max_replicas_caps() {
    let b = Behavior::of(None);
    let mut h = History::default();
    // 1 pod at 20×: default scale-up allows max(100 %, 4 pods) → 5.
    let ms = cpu(vec![pod("a", Some(2000), 100)], 100);
    let d = decide(&input(1, &ms, &b), &mut h);
    assert_eq!(d.desired, 5);
    let limited = d.conditions.iter().find(|c| c.type_ == "ScalingLimited");
    assert_eq!(
        limited.map(|c| (c.status, c.reason.as_str())),
        Some((true, "ScaleUpLimit"))
    );
    // Within the same 15 s period no more may be added.
    let mut i = input(5, &ms, &b);
    i.now = t0() + Duration::seconds(10);
    assert_eq!(decide(&i, &mut h).desired, 5);
    // After it, 100 % of 5 is allowed but maxReplicas caps at 10.
    i.now = t0() + Duration::seconds(16);
    let d = decide(&i, &mut h);
    assert_eq!(d.desired, 10);
    let limited = d
        .conditions
        .iter()
        .find(|c| c.type_ == "ScalingLimited")
        .unwrap();
    assert_eq!(limited.reason, "TooManyReplicas");
}

#[test]
fn a_pods_policy_and_select_min_and_disabled() {
    let pods_policy = |value, select| Rules {
        window: 0,
        select,
        policies: vec![
            Policy {
                percent: false,
                value,
                period: 60,
            },
            Policy {
                percent: true,
                value: 50,
                period: 60,
            },
        ],
    };
    let low = cpu(
        (0..8).map(|n| pod(&n.to_string(), Some(1), 100)).collect(),
        100,
    );
    let desired = |select| {
        let mut b = Behavior::of(None);
        b.down = pods_policy(1, select);
        decide(&input(8, &low, &b), &mut History::default()).desired
    };
    // Max: the bigger change (50 % of 8 = 4) wins over 1 pod.
    assert_eq!(desired(Select::Max), 4);
    assert_eq!(desired(Select::Min), 7);
    assert_eq!(desired(Select::Disabled), 8);
}

#[test]
fn missing_metrics_and_bounds_set_kubernetes_conditions() {
    let b = Behavior::of(None);
    let ms = cpu(vec![pod("a", None, 100)], 50);
    let d = decide(&input(2, &ms, &b), &mut History::default());
    assert!(d.failed);
    let active = d
        .conditions
        .iter()
        .find(|c| c.type_ == "ScalingActive")
        .unwrap();
    assert_eq!(
        (active.status, active.reason.as_str()),
        (false, "FailedGetResourceMetric")
    );
    assert!(
        d.events
            .iter()
            .any(|(r, _, w)| r == "FailedComputeMetricsReplicas" && *w)
    );
    // Above maxReplicas: straight down to it, whatever the metrics.
    let mut i = input(12, &ms, &b);
    i.max = 10;
    let d = decide(&i, &mut History::default());
    assert_eq!((d.desired, d.rescale), (10, true));
    // A target at zero replicas is left alone.
    let d = decide(&input(0, &ms, &b), &mut History::default());
    assert_eq!((d.desired, d.rescale), (0, false));
    assert_eq!(d.conditions[0].reason, "ScalingDisabled");
}

#[test]
fn conditions_keep_their_transition_time_while_unchanged() {
    let old = json!([{"type": "AbleToScale", "status": "True", "lastTransitionTime": "T0",
        "reason": "ReadyForNewScale", "message": "m"}]);
    let new = [
        Condition::new("AbleToScale", true, "ScaleDownStabilized", "x"),
        Condition::new("ScalingActive", true, "ValidMetricFound", "y"),
    ];
    let c = conditions(Some(&old), &new, "T1");
    assert_eq!(c[0]["lastTransitionTime"], "T0");
    assert_eq!(c[0]["reason"], "ScaleDownStabilized");
    assert_eq!(c[1]["lastTransitionTime"], "T1");
}

#[test]
fn quantities_print_as_kubernetes_does() {
    assert_eq!(quantity(1500), "1500m");
    assert_eq!(quantity(2000), "2");
    assert_eq!(quantity(2_000_000), "2k");
    assert_eq!(quantity(1_048_576_000), "1048576");
    assert_eq!(quantity(0), "0");
}
