//! The Job decisions against the Kubernetes documentation's behaviour.

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    crate::clock::parse(s).unwrap()
}

fn pod(name: &str, phase: Phase, code: Option<i32>, finished: &str) -> PodView {
    PodView {
        name: name.into(),
        phase,
        deleting: false,
        ready: phase == Phase::Active,
        restarts: 0,
        exit_codes: code
            .map(|c| vec![("main".to_string(), c)])
            .unwrap_or_default(),
        finished: (!finished.is_empty()).then(|| at(finished)),
        created: finished.into(),
    }
}

fn job<'a>(
    status: &'a Value,
    rules: &'a [PodFailurePolicyRule],
    pods: Vec<PodView>,
) -> JobInput<'a> {
    JobInput {
        namespace: "default",
        completions: Some(3),
        parallelism: 2,
        backoff_limit: 6,
        active_deadline_seconds: None,
        suspend: false,
        on_failure: false,
        rules,
        status,
        pods,
        now: at("2026-01-01T00:01:00Z"),
        backoff: (Duration::from_secs(10), Duration::from_secs(360)),
    }
}

#[test]
fn completions_three_parallelism_two() {
    let none = Value::Null;
    let p = plan(&job(&none, &[], vec![]));
    assert_eq!(p.create, 2, "parallelism caps the first wave");
    assert_eq!(p.status["active"], 2);
    assert_eq!(p.status["startTime"], "2026-01-01T00:01:00Z");
    let st = p.status.clone();
    let two_done = vec![
        pod("a", Phase::Succeeded, Some(0), "2026-01-01T00:00:30Z"),
        pod("b", Phase::Succeeded, Some(0), "2026-01-01T00:00:40Z"),
    ];
    let p = plan(&job(&st, &[], two_done.clone()));
    assert_eq!(p.create, 1, "only one more completion is needed");
    let mut all = two_done;
    all.push(pod("c", Phase::Succeeded, Some(0), "2026-01-01T00:00:50Z"));
    let p = plan(&job(&st, &[], all.clone()));
    assert_eq!(p.create, 0);
    assert_eq!(p.status["succeeded"], 3);
    assert!(condition(&p.status, "Complete").is_some(), "{}", p.status);
    assert_eq!(p.status["completionTime"], "2026-01-01T00:01:00Z");
    // Finished: nothing more, ever.
    let again = plan(&job(&p.status, &[], all));
    assert_eq!((again.create, again.delete.len()), (0, 0));
}

#[test]
fn backoff_limit_counts_failed_pods_and_waits_between_retries() {
    let none = Value::Null;
    let mut j = job(
        &none,
        &[],
        vec![pod("a", Phase::Failed, Some(1), "2026-01-01T00:00:55Z")],
    );
    j.completions = Some(1);
    j.parallelism = 1;
    j.backoff_limit = 2;
    assert_eq!(plan(&j).create, 0, "10 s back-off after the first failure");
    j.now = at("2026-01-01T00:01:05Z");
    assert_eq!(plan(&j).create, 1);
    j.pods
        .push(pod("b", Phase::Failed, Some(1), "2026-01-01T00:01:10Z"));
    j.now = at("2026-01-01T00:01:25Z");
    assert_eq!(plan(&j).create, 0, "20 s after the second");
    j.now = at("2026-01-01T00:01:30Z");
    assert_eq!(plan(&j).create, 1);
    j.pods
        .push(pod("c", Phase::Failed, Some(1), "2026-01-01T00:01:40Z"));
    let p = plan(&j);
    assert_eq!(p.create, 0);
    let c = condition(&p.status, "Failed").unwrap();
    assert_eq!(c["reason"], "BackoffLimitExceeded");
    assert_eq!(p.status["failed"], 3);
}

#[test]
fn on_failure_counts_container_restarts() {
    let none = Value::Null;
    let mut running = pod("a", Phase::Active, None, "");
    running.restarts = 2;
    let mut j = job(&none, &[], vec![running]);
    j.on_failure = true;
    j.backoff_limit = 3;
    assert!(condition(&plan(&j).status, "Failed").is_none());
    j.pods[0].restarts = 3;
    let p = plan(&j);
    assert_eq!(
        condition(&p.status, "Failed").unwrap()["reason"],
        "BackoffLimitExceeded"
    );
    assert_eq!(p.delete, vec!["a"]);
}

#[test]
fn active_deadline_fails_and_kills() {
    let st = json!({"startTime": "2026-01-01T00:00:00Z"});
    let mut j = job(&st, &[], vec![pod("a", Phase::Active, None, "")]);
    j.active_deadline_seconds = Some(61);
    assert!(condition(&plan(&j).status, "Failed").is_none());
    j.active_deadline_seconds = Some(60);
    let p = plan(&j);
    let c = condition(&p.status, "Failed").unwrap();
    assert_eq!(c["reason"], "DeadlineExceeded");
    assert_eq!(
        c["message"],
        "Job was active longer than specified deadline"
    );
    assert_eq!(p.delete, vec!["a"]);
    assert_eq!(p.create, 0);
}

fn rule(action: &str, op: &str, values: Vec<i32>) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: Some("main".into()),
            operator: op.into(),
            values,
        }),
        on_pod_conditions: None,
    }
}

#[test]
fn pod_failure_policy_on_exit_codes() {
    // The docs' example: exit code 42 fails the Job at once; others count.
    let rules = [
        rule("FailJob", "In", vec![42]),
        rule("Ignore", "In", vec![7]),
    ];
    let none = Value::Null;
    let p = plan(&job(
        &none,
        &rules,
        vec![pod("a", Phase::Failed, Some(42), "2026-01-01T00:00:00Z")],
    ));
    let c = condition(&p.status, "Failed").unwrap();
    assert_eq!(c["reason"], "PodFailurePolicy");
    assert_eq!(
        c["message"],
        "Container main for pod default/a failed with exit code 42 matching FailJob rule at index 0"
    );
    let mut j = job(
        &none,
        &rules,
        vec![pod("a", Phase::Failed, Some(7), "2026-01-01T00:00:59Z")],
    );
    j.backoff_limit = 0;
    let p = plan(&j);
    assert!(
        condition(&p.status, "Failed").is_none(),
        "ignored: not counted"
    );
    assert_eq!(
        (p.create, p.status["failed"].clone()),
        (2, json!(0)),
        "replaced at once"
    );
    let counted = [rule("Count", "NotIn", vec![0])];
    let mut j = job(
        &none,
        &counted,
        vec![pod("a", Phase::Failed, Some(3), "2026-01-01T00:00:00Z")],
    );
    j.backoff_limit = 0;
    assert_eq!(
        condition(&plan(&j).status, "Failed").unwrap()["reason"],
        "BackoffLimitExceeded"
    );
}

#[test]
fn suspend_and_work_queue() {
    let none = Value::Null;
    let mut j = job(&none, &[], vec![pod("a", Phase::Active, None, "")]);
    j.suspend = true;
    let p = plan(&j);
    assert_eq!(p.delete, vec!["a"]);
    assert!(condition(&p.status, "Suspended").is_some());
    assert!(p.status.get("startTime").is_none());
    // completions unset: done when one succeeded and none runs.
    let mut j = job(
        &none,
        &[],
        vec![
            pod("a", Phase::Succeeded, Some(0), "2026-01-01T00:00:00Z"),
            pod("b", Phase::Active, None, ""),
        ],
    );
    j.completions = None;
    let p = plan(&j);
    assert_eq!(p.create, 0);
    assert!(condition(&p.status, "Complete").is_none());
    j.pods.pop();
    assert!(condition(&plan(&j).status, "Complete").is_some());
}
