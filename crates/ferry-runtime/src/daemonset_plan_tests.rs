//! The DaemonSet plan against Kubernetes' documented behaviour for one node.

use super::*;

fn pod(name: &str, hash: &str, ready: bool) -> DsPod {
    DsPod {
        name: name.into(),
        hash: hash.into(),
        ready,
        deleting: false,
        created: format!("2026-01-01T00:00:0{}Z", name.len() % 10),
    }
}

fn input(strategy: Strategy, pods: Vec<DsPod>) -> DsInput {
    DsInput {
        should_run: true,
        hash: "v2".into(),
        generation: 2,
        strategy,
        pods,
    }
}

const DEFAULT: Strategy = Strategy::Rolling {
    max_unavailable: 1,
    max_surge: 0,
};
const SURGE: Strategy = Strategy::Rolling {
    max_unavailable: 0,
    max_surge: 1,
};

#[test]
fn one_pod_is_created_on_the_node() {
    let p = plan(&input(DEFAULT, vec![]));
    assert!(p.create);
    assert!(p.delete.is_empty());
    assert_eq!(p.status["desiredNumberScheduled"], 1);
    assert_eq!(p.status["currentNumberScheduled"], 0);
    let p = plan(&input(DEFAULT, vec![pod("ds-a", "v2", true)]));
    assert!(!p.create && p.delete.is_empty());
    assert_eq!(p.status["numberReady"], 1);
    assert_eq!(p.status["updatedNumberScheduled"], 1);
    assert_eq!(p.status["numberUnavailable"], 0);
    assert_eq!(p.status["observedGeneration"], 2);
}

#[test]
fn a_node_that_does_not_fit_runs_no_pod() {
    let mut i = input(DEFAULT, vec![pod("ds-a", "v2", true)]);
    i.should_run = false;
    let p = plan(&i);
    assert!(!p.create);
    assert_eq!(p.delete, ["ds-a"]);
    assert_eq!(p.status["desiredNumberScheduled"], 0);
    assert_eq!(p.status["numberMisscheduled"], 1);
    assert_eq!(p.status["numberReady"], 0);
}

#[test]
fn max_unavailable_deletes_the_old_pod_before_creating_the_new() {
    let p = plan(&input(DEFAULT, vec![pod("ds-a", "v1", true)]));
    assert_eq!(p.delete, ["ds-a"]);
    assert!(!p.create, "the new pod waits for the old one to go");
    assert_eq!(p.status["updatedNumberScheduled"], 0);
    let mut gone = pod("ds-a", "v1", true);
    gone.deleting = true;
    let p = plan(&input(DEFAULT, vec![gone]));
    assert!(p.create && p.delete.is_empty());
}

#[test]
fn max_surge_creates_the_new_pod_first_and_removes_the_old_once_ready() {
    let p = plan(&input(SURGE, vec![pod("ds-a", "v1", true)]));
    assert!(p.create && p.delete.is_empty());
    let p = plan(&input(
        SURGE,
        vec![pod("ds-a", "v1", true), pod("ds-bb", "v2", false)],
    ));
    assert!(!p.create && p.delete.is_empty(), "{p:?}");
    let p = plan(&input(
        SURGE,
        vec![pod("ds-a", "v1", true), pod("ds-bb", "v2", true)],
    ));
    assert_eq!(p.delete, ["ds-a"]);
    // An old pod that is not ready is not waited for.
    let p = plan(&input(SURGE, vec![pod("ds-a", "v1", false)]));
    assert!(p.create);
    assert_eq!(p.delete, ["ds-a"]);
}

#[test]
fn on_delete_keeps_the_old_pod_until_someone_deletes_it() {
    let p = plan(&input(Strategy::OnDelete, vec![pod("ds-a", "v1", true)]));
    assert!(!p.create && p.delete.is_empty());
    assert_eq!(p.status["updatedNumberScheduled"], 0);
    let p = plan(&input(Strategy::OnDelete, vec![]));
    assert!(p.create);
}

#[test]
fn duplicates_leave_the_oldest() {
    let p = plan(&input(
        DEFAULT,
        vec![pod("ds-bb", "v2", true), pod("ds-a", "v2", true)],
    ));
    assert_eq!(p.delete, ["ds-bb"]);
}

#[test]
fn strategy_defaults_and_percentages_as_kubernetes() {
    assert_eq!(Strategy::of(None), DEFAULT);
    let v = serde_json::json!({"type": "OnDelete"});
    assert_eq!(Strategy::of(Some(&v)), Strategy::OnDelete);
    let v = serde_json::json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "10%"}});
    assert_eq!(Strategy::of(Some(&v)), SURGE);
    let v = serde_json::json!({"rollingUpdate": {"maxUnavailable": "0%", "maxSurge": 0}});
    assert_eq!(Strategy::of(Some(&v)), DEFAULT);
}
