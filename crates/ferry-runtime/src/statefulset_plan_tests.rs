//! The StatefulSet decisions against the Kubernetes docs' StatefulSet
//! Basics tutorial (`web`, two then five replicas, `nginx` Service):
//! ordered creation, reverse-ordinal scale-down, partitioned and staged
//! rolling updates, OnDelete, Parallel management, and the status counts.

use super::*;

fn pod(ordinal: i32, revision: &str, healthy: bool) -> PodView {
    PodView {
        ordinal,
        name: format!("web-{ordinal}"),
        revision: revision.into(),
        healthy,
        deleting: false,
    }
}

fn input(replicas: i32, pods: Vec<PodView>) -> Input {
    Input {
        start: 0,
        replicas,
        parallel: false,
        strategy: Strategy::RollingUpdate { partition: 0 },
        update_revision: "web-v1".into(),
        current_revision: "web-v1".into(),
        pods,
    }
}

fn creates(p: &Plan) -> Vec<i32> {
    p.create.iter().map(|(o, _)| *o).collect()
}

#[test]
fn ordered_creation_waits_for_each_ordinal_to_be_running_and_ready() {
    // "web-1 is not launched until web-0 is Running and Ready."
    let empty = plan(&input(2, vec![]));
    assert_eq!(creates(&empty), [0]);
    assert_eq!(empty.create[0].1, "web-v1");
    let pending = plan(&input(2, vec![pod(0, "web-v1", false)]));
    assert_eq!(pending, Plan::default());
    let ready = plan(&input(2, vec![pod(0, "web-v1", true)]));
    assert_eq!(creates(&ready), [1]);
    let done = plan(&input(
        2,
        vec![pod(0, "web-v1", true), pod(1, "web-v1", true)],
    ));
    assert_eq!(done, Plan::default());
}

#[test]
fn ordinals_start_where_spec_ordinals_start_says() {
    let mut i = input(2, vec![]);
    i.start = 5;
    assert_eq!(creates(&plan(&i)), [5]);
    i.pods = vec![pod(5, "web-v1", true)];
    assert_eq!(creates(&plan(&i)), [6]);
    i.pods.push(pod(6, "web-v1", true));
    i.pods.push(pod(0, "web-v1", true));
    assert_eq!(plan(&i).delete, ["web-0"], "ordinal 0 is outside 5..7");
}

#[test]
fn a_pod_deleted_by_hand_is_recreated_before_anything_else() {
    let mut gone = input(2, vec![pod(1, "web-v1", true)]);
    assert_eq!(creates(&plan(&gone)), [0]);
    gone.pods.insert(
        0,
        PodView {
            deleting: true,
            ..pod(0, "web-v1", true)
        },
    );
    assert_eq!(plan(&gone), Plan::default(), "wait for web-0 to terminate");
}

#[test]
fn scale_down_removes_the_highest_ordinal_first_one_at_a_time() {
    // `kubectl scale sts web --replicas=3` from 5: web-4, then web-3.
    let five: Vec<PodView> = (0..5).map(|o| pod(o, "web-v1", true)).collect();
    assert_eq!(plan(&input(3, five.clone())).delete, ["web-4"]);
    let mut terminating = five.clone();
    terminating[4].deleting = true;
    assert_eq!(plan(&input(3, terminating)), Plan::default());
    assert_eq!(plan(&input(3, five[..4].to_vec())).delete, ["web-3"]);
}

#[test]
fn scale_down_waits_while_another_pod_is_unhealthy() {
    let mut pods: Vec<PodView> = (0..3).map(|o| pod(o, "web-v1", true)).collect();
    pods[0].healthy = false;
    assert_eq!(plan(&input(2, pods.clone())), Plan::default());
    // The unhealthy pod itself may go when it is the one condemned.
    pods[0].healthy = true;
    pods[2].healthy = false;
    assert_eq!(plan(&input(2, pods)).delete, ["web-2"]);
}

#[test]
fn parallel_creates_and_deletes_all_at_once() {
    let mut i = input(3, vec![pod(0, "web-v1", false)]);
    i.parallel = true;
    assert_eq!(creates(&plan(&i)), [1, 2]);
    i.replicas = 0;
    i.pods = (0..3).map(|o| pod(o, "web-v1", o != 1)).collect();
    assert_eq!(plan(&i).delete, ["web-2", "web-1", "web-0"]);
}

#[test]
fn rolling_update_goes_in_reverse_ordinal_order_waiting_for_ready() {
    let mut i = input(3, (0..3).map(|o| pod(o, "web-v1", true)).collect());
    i.update_revision = "web-v2".into();
    assert_eq!(plan(&i).delete, ["web-2"]);
    // web-2 is recreated at the new revision and must be ready first.
    i.pods[2] = pod(2, "web-v2", false);
    assert_eq!(plan(&i), Plan::default());
    i.pods[2].healthy = true;
    assert_eq!(plan(&i).delete, ["web-1"]);
    i.pods.remove(1);
    let p = plan(&i);
    assert_eq!(p.create, [(1, "web-v2".to_string())]);
}

#[test]
fn partition_keeps_lower_ordinals_at_the_current_revision() {
    // The tutorial's staged update: partition 2 of 3 replicas updates web-2 only.
    let mut i = input(3, (0..3).map(|o| pod(o, "web-v1", true)).collect());
    i.update_revision = "web-v2".into();
    i.strategy = Strategy::RollingUpdate { partition: 2 };
    assert_eq!(plan(&i).delete, ["web-2"]);
    i.pods[2] = pod(2, "web-v2", true);
    assert_eq!(plan(&i), Plan::default(), "web-0 and web-1 stay at web-v1");
    // A deleted pod below the partition comes back at the current revision.
    i.pods.remove(1);
    assert_eq!(plan(&i).create, [(1, "web-v1".to_string())]);
    // Lowering the partition (the canary succeeded) continues the rollout.
    i.pods.insert(1, pod(1, "web-v1", true));
    i.strategy = Strategy::RollingUpdate { partition: 0 };
    assert_eq!(plan(&i).delete, ["web-1"]);
}

#[test]
fn on_delete_replaces_only_pods_someone_deleted() {
    let mut i = input(2, (0..2).map(|o| pod(o, "web-v1", true)).collect());
    i.update_revision = "web-v2".into();
    i.strategy = Strategy::OnDelete;
    assert_eq!(plan(&i), Plan::default());
    i.pods.remove(0);
    assert_eq!(plan(&i).create, [(0, "web-v2".to_string())]);
}

#[test]
fn the_current_revision_follows_a_finished_rolling_update_only() {
    let mut i = input(2, vec![pod(0, "web-v1", true), pod(1, "web-v2", true)]);
    i.update_revision = "web-v2".into();
    let c = counts(&i);
    assert_eq!((c.replicas, c.ready, c.current, c.updated), (2, 2, 1, 1));
    assert_eq!(c.current_revision, "web-v1");
    i.pods[0] = pod(0, "web-v2", true);
    let c = counts(&i);
    assert_eq!(c.current_revision, "web-v2");
    assert_eq!((c.current, c.updated), (2, 2));
    // A new StatefulSet starts at its update revision.
    let mut fresh = input(1, vec![]);
    fresh.current_revision = String::new();
    assert_eq!(counts(&fresh).current_revision, "web-v1");
}
