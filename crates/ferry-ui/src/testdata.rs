//! Synthetic statuses for the unit tests (and the render measurement):
//! applications with a Deployment, a Service and an Ingress per
//! environment, healths spread over the states.

use ferry_core::objects::GroupKind;
use ferry_delivery::health::Health;
use ferry_delivery::object::ObjKey;
use ferry_delivery::status::{AppStatus, EnvStatus, SyncState};
use ferry_delivery::sync::ObjectStatus;

fn object(group: &str, kind: &str, ns: &str, name: &str, health: Health) -> ObjectStatus {
    ObjectStatus {
        key: ObjKey {
            group_kind: GroupKind {
                group: group.into(),
                kind: kind.into(),
            },
            namespace: Some(ns.into()),
            name: name.into(),
        },
        sync: "Synced",
        health,
        reason: None,
        message: None,
        diff: vec![],
    }
}

/// Application `name` in `envs` (environment, region), all with `health`.
pub fn app(name: &str, envs: &[(&str, &str)], health: Health) -> AppStatus {
    AppStatus {
        name: name.into(),
        repo_url: format!("https://git.example/o/{name}.git"),
        path: ".".into(),
        source_error: None,
        environments: envs
            .iter()
            .map(|(env, region)| EnvStatus {
                environment: env.to_string(),
                region: region.to_string(),
                namespace: env.to_string(),
                git_ref: "master".into(),
                desired_revision: Some("0123456789abcdef".into()),
                synced_revision: Some("0123456789abcdef".into()),
                sync: SyncState::Synced,
                health,
                images: vec![],
                waiting: None,
                error: None,
                ephemeral: false,
                objects: vec![
                    object("apps", "Deployment", env, name, health),
                    object("", "Service", env, name, Health::Healthy),
                    object("networking.k8s.io", "Ingress", env, name, Health::Healthy),
                ],
            })
            .collect(),
    }
}

/// `n` applications `app-00000`… in `dev` (uk) and `prod` (us), every
/// seventh Degraded and every fifth Progressing.
pub fn many(n: usize) -> Vec<AppStatus> {
    (0..n)
        .map(|i| {
            let health = if i % 7 == 0 {
                Health::Degraded
            } else if i % 5 == 0 {
                Health::Progressing
            } else {
                Health::Healthy
            };
            app(
                &format!("app-{i:05}"),
                &[("dev", "uk"), ("prod", "us")],
                health,
            )
        })
        .collect()
}

/// A real delivery engine (not started) for a topology with region `uk`,
/// environment `dev` and applications `apps`, state under `dir`.
pub fn engine(dir: &std::path::Path, apps: &[&str]) -> ferry_delivery::Engine {
    let mut yaml = String::from(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec: {region: uk}\n",
    );
    for a in apps {
        yaml.push_str(&format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: {a}}}\nspec: {{source: {{repoUrl: 'https://git.example/o/{a}.git'}}}}\n"
        ));
    }
    let topo = ferry_core::topology::Topology::from_sources(&[("t.yaml".into(), yaml)]).unwrap();
    ferry_delivery::Engine::new(
        ferry_delivery::EngineConfig::new(dir.to_path_buf()),
        std::sync::Arc::new(topo),
        Default::default(),
        std::sync::Arc::new(ferry_delivery::images::AnyImage),
    )
    .unwrap()
}
