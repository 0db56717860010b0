//! kubectl's command forms through the real binary against a real `ferry
//! up`, as tutorials type them: `apply -f FILE -n NS` and `-n NS apply`,
//! `get TYPE/NAME`, `get -l SELECTOR`, `get -w`, `scale --replicas`.

mod common;

use std::process::Output;

use common::{cli, up};
use ferry_test_support::{temp_dir, topology_yaml};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn write(dir: &std::path::Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn apply_namespace_flag_before_or_after_the_verb() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["uk"], dir.path())).unwrap();
    let (_up, api) = up(&topo, dir.path());
    let ns = write(
        dir.path(),
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n",
    );
    ok(cli(&api, &["apply", "-f", &ns]));
    let plain = write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {a: b}\n",
    );
    let out = ok(cli(&api, &["apply", "-f", &plain, "-n", "team"]));
    assert_eq!(out.trim(), "configmap/one created");
    let second = write(
        dir.path(),
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n",
    );
    ok(cli(&api, &["-n", "team", "apply", "-f", &second]));
    let listed = ok(cli(&api, &["get", "cm", "-n", "team"]));
    assert!(listed.contains("one") && listed.contains("two"), "{listed}");
    let default = cli(&api, &["get", "cm", "one"]);
    assert!(!default.status.success(), "`one` went to team, not default");

    let other = write(
        dir.path(),
        "other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: three, namespace: default}\n",
    );
    let refused = cli(&api, &["apply", "-f", &other, "-n", "team"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains(
            "the namespace from the provided object \"default\" does not match the namespace \"team\""
        ),
        "{}",
        text(&refused)
    );
    assert!(!cli(&api, &["get", "cm", "three"]).status.success());
}
