//! The fleet's pure parts: which clusters the topology names, under which
//! names, with which regions and environments, and which applications'
//! environments run on each.

use std::path::Path;

use ferry_core::topology::Topology;
use ferry_delivery::health::Health;
use ferry_delivery::status::{AppStatus, EnvStatus, SyncState};

use super::{apps_on, members};

fn region(name: &str, port: u16, target: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: {name}}}\nspec:\n  \
         listeners: {{api: 127.0.0.1:{port}, registry: 127.0.0.1:{}, gateway: 127.0.0.1:{}}}\n{target}---\n",
        port + 1,
        port + 2
    )
}

fn env(name: &str, region: &str, target: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: {name}}}\nspec: {{region: {region}{target}}}\n---\n"
    )
}

fn topology() -> Topology {
    let prod = ", target: {kubernetes: {kubeconfig: kube/prod.yaml, context: prod}}";
    let text = [
        region("uk", 7000, ""),
        region(
            "eu",
            7010,
            "  target: {kubernetes: {kubeconfig: kube/eu-fleet.yaml}}\n",
        ),
        env("dev", "uk", ""),
        env("prod", "uk", prod),
        env("prod-eu", "eu", prod),
        env("staging", "eu", ""),
        env(
            "qa",
            "uk",
            ", target: {kubernetes: {kubeconfig: other/prod.yaml, context: prod}}",
        ),
    ]
    .concat();
    Topology::from_sources(&[("t.yaml".into(), text)]).unwrap()
}

fn status(app: &str, envs: &[(&str, &str)]) -> AppStatus {
    AppStatus {
        name: app.into(),
        repo_url: "file:///repo".into(),
        path: "k8s".into(),
        source_error: None,
        environments: envs
            .iter()
            .map(|(env, region)| EnvStatus {
                environment: env.to_string(),
                region: region.to_string(),
                namespace: env.to_string(),
                git_ref: "main".into(),
                desired_revision: None,
                synced_revision: Some("abc".into()),
                sync: SyncState::Synced,
                health: Health::Healthy,
                images: Vec::new(),
                waiting: None,
                error: None,
                ephemeral: false,
                objects: Vec::new(),
            })
            .collect(),
    }
}

#[test]
fn each_distinct_cluster_once_with_its_regions_and_environments() {
    let conf = Path::new("/etc/ferry");
    let m = members(&topology(), conf);
    let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["eu-fleet", "prod", "prod-2"], "{m:#?}");
    assert_eq!(m[0].regions, ["eu"]);
    assert_eq!(m[0].environments, ["staging"], "inherits its region's");
    assert_eq!(m[1].environments, ["prod", "prod-eu"]);
    assert!(m[1].regions.is_empty());
    assert_eq!(
        m[1].spec.kubeconfig.as_deref(),
        Some(Path::new("/etc/ferry/kube/prod.yaml")),
        "resolved as the server connects it"
    );
    assert_eq!(m[2].environments, ["qa"], "same context, another file");
}

#[test]
fn an_apps_environments_are_listed_on_the_cluster_they_run_on() {
    let conf = Path::new("/etc/ferry");
    let topo = topology();
    let m = members(&topo, conf);
    let apps = [
        status("web", &[("dev", "uk"), ("prod", "uk"), ("prod-eu", "eu")]),
        // An environment the topology does not declare (ephemeral) runs
        // where its region does.
        status("api", &[("pr-7", "eu"), ("dev", "uk")]),
    ];
    let on_prod = apps_on(&m[1], &topo, conf, &apps);
    let got: Vec<(String, String)> = on_prod
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["environment"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("web".into(), "prod".into()),
            ("web".into(), "prod-eu".into())
        ]
    );
    assert_eq!(on_prod[0]["sync"], "Synced");
    assert_eq!(on_prod[0]["health"], "Healthy");
    let on_eu = apps_on(&m[0], &topo, conf, &apps);
    assert_eq!(on_eu.len(), 1);
    assert_eq!(on_eu[0]["environment"], "pr-7");
    assert!(apps_on(&m[2], &topo, conf, &apps).is_empty());
}

#[test]
fn declared_clusters_come_first_by_name_with_labels_and_a_selector_lands_on_each() {
    let cluster = |name: &str, labels: &str| {
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: {name}, labels: {labels}}}\nspec: {{kubeconfig: kube/{name}.yaml}}\n---\n"
        )
    };
    let text = [
        region("uk", 7000, ""),
        cluster("london", "{region: uk}"),
        cluster("shanghai", "{region: cn}"),
        env(
            "prod",
            "uk",
            ", target: {kubernetes: {clusterSelector: {matchExpressions: [{key: region, operator: Exists}]}}}",
        ),
        env(
            "cn",
            "uk",
            ", target: {kubernetes: {clusterSelector: {matchLabels: {region: cn}}}}",
        ),
        // Named directly by the same file as a declared cluster: the same member.
        env("ops", "uk", ", target: {kubernetes: {kubeconfig: kube/london.yaml}}"),
    ]
    .concat();
    let topo = Topology::from_sources(&[("t.yaml".into(), text)]).unwrap();
    let conf = Path::new("/etc/ferry");
    let m = members(&topo, conf);
    let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["london", "shanghai"], "{m:#?}");
    assert_eq!(m[0].labels["region"], "uk");
    assert_eq!(m[0].environments, ["prod", "ops"]);
    assert_eq!(m[1].environments, ["prod", "cn"]);
    let apps = [status("web", &[("prod", "uk"), ("cn", "uk")])];
    let envs = |i: usize| -> Vec<String> {
        apps_on(&m[i], &topo, conf, &apps)
            .iter()
            .map(|v| v["environment"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(envs(0), ["prod"]);
    assert_eq!(envs(1), ["prod", "cn"]);
}
