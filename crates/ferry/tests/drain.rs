//! `ferry cordon`, `drain` and `uncordon` through the real binary against a
//! real `ferry up` with real pods (runc, root), as operators meet them: a
//! PodDisruptionBudget of minAvailable 2 over a 3-replica Deployment lets
//! drain evict one pod, then blocks — the cordoned node keeps the
//! replacement Pending — until `--timeout`, with kubectl's messages;
//! DaemonSet pods stop drain unless `--ignore-daemonsets`; after uncordon
//! the Deployment recovers.

mod common;

use std::time::Duration;

use common::{cli, ok, text, up};
use ferry_test_support::{poll, temp_dir, topology_yaml};

const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{name: web, image: 'tools:v1', imagePullPolicy: Never, command: [sleep, '3600']}]\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  minAvailable: 2\n  selector: {matchLabels: {app: web}}\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{name: a, image: 'tools:v1', imagePullPolicy: Never, command: [sleep, '3600']}]\n";

fn running(api: &str, app: &str) -> usize {
    let out = cli(api, &["get", "pods", "-l", &format!("app={app}")]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" 1/1 ") && l.contains("Running"))
        .count()
}

#[test]
fn drain_honours_the_budget_until_its_timeout_and_uncordon_recovers() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["local"], dir.path())).unwrap();
    let store = ferry_image::Store::open(dir.path().join("local/runtime/images/store")).unwrap();
    ferry_image::build::busybox::busybox_image()
        .unwrap()
        .build(&store, Some("tools:v1"))
        .unwrap();
    let m = dir.path().join("app.yaml");
    std::fs::write(&m, APP).unwrap();
    let (_up, api) = up(&topo, dir.path());
    ok(cli(&api, &["apply", "-f", m.to_str().unwrap()]));
    poll(
        "3 web pods and the agent running",
        Duration::from_secs(60),
        || (running(&api, "web") == 3 && running(&api, "agent") == 1).then_some(()),
    );
    let nodes = ok(cli(&api, &["get", "nodes"]));
    assert!(nodes.starts_with("NAME"), "{nodes}");
    let row: Vec<&str> = nodes.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..3], ["local", "Ready", "control-plane"], "{nodes}");
    poll(
        "the budget allows one disruption",
        Duration::from_secs(10),
        || {
            let out = ok(cli(&api, &["get", "pdb"]));
            out.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()[..4] == ["web", "2", "N/A", "1"])
                .then_some(())
        },
    );

    let refused = cli(&api, &["drain", "local", "--timeout", "10s"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let t = text(&refused);
    assert!(t.contains("node/local cordoned"), "{t}");
    assert!(t.contains("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/agent-"), "{t}");
    assert_eq!(running(&api, "web"), 3, "nothing evicted");

    let blocked = cli(
        &api,
        &["drain", "local", "--ignore-daemonsets", "--timeout", "12s"],
    );
    let t = text(&blocked);
    assert_eq!(blocked.status.code(), Some(1), "{t}");
    assert!(t.contains("node/local already cordoned"), "{t}");
    assert!(
        t.contains("Warning: ignoring DaemonSet-managed Pods: default/agent-"),
        "{t}"
    );
    assert_eq!(t.matches("evicting pod default/web-").count(), 3, "{t}");
    assert!(t.contains("(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."), "{t}");
    assert!(t.contains("global timeout reached: 12s"), "{t}");
    assert!(t.contains("error: unable to drain node \"local\""), "{t}");
    assert_eq!(
        running(&api, "web"),
        2,
        "one evicted, never fewer than 2: {t}"
    );
    assert_eq!(running(&api, "agent"), 1, "DaemonSet pods stay");
    let pending = ok(cli(&api, &["get", "pods", "-l", "app=web"]));
    assert!(pending.contains("Pending"), "{pending}");
    let nodes = ok(cli(&api, &["get", "nodes"]));
    assert!(nodes.contains("Ready,SchedulingDisabled"), "{nodes}");

    assert_eq!(
        ok(cli(&api, &["uncordon", "local"])).trim(),
        "node/local uncordoned"
    );
    poll("3 web pods running again", Duration::from_secs(60), || {
        (running(&api, "web") == 3).then_some(())
    });
    let nodes = ok(cli(&api, &["get", "nodes"]));
    assert!(!nodes.contains("SchedulingDisabled"), "{nodes}");
}
