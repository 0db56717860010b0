//! Canary waves end to end on the embedded target (setup in `common`): two
//! environments, `first` and `second`, each with a canary strategy, and a
//! Pipeline whose rule for `second` says `requiresHealthyIn: first`. A
//! running canary keeps its environment Progressing, so a good version's
//! canary in `second` starts only after `first`'s was promoted; a version
//! whose canary `first` rolls back never reaches `second`. Needs root.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use ferry_test_support::git_commit;
use serde_json::{Value, json};

const STRATEGY: &str = "  strategy:\n    canary:\n      steps: [{setWeight: 50}, {pause: {duration: 3s}}]\n      analysis: {interval: 1s, minRequests: 1000}\n      progressDeadlineSeconds: 8\n";

/// The app's Deployment and Service (no Ingress: two environments).
fn web(image: &str, command: Option<&str>) -> String {
    let m = manifests(image, command);
    let end = m.find("---\napiVersion: networking.k8s.io/v1").unwrap();
    m[..end].to_string()
}

fn topology() -> String {
    let env = |name: &str, wave: u32| {
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: {name}, labels: {{app: web, wave: '{wave}'}}}}\nspec:\n  region: uk\n{STRATEGY}---\n"
        )
    };
    format!(
        "{}{}apiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{{repo}}', path: k8s}}\n  environments: {{matchLabels: {{app: web}}}}\n  syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: web}}\nspec:\n  application: web\n  buildRegion: uk\n  rules:\n  - {{branch: main, imageTag: 't-{{sha7}}', environments: {{matchLabels: {{wave: '1'}}}}}}\n  - {{branch: main, imageTag: 't-{{sha7}}', environments: {{matchLabels: {{wave: '2'}}}}, requiresHealthyIn: first}}\n",
        env("first", 1),
        env("second", 2)
    )
}

/// Each environment's status, by name.
fn envs(api: &str) -> BTreeMap<String, Value> {
    let app = api_get(api, "/apps/web");
    let list = app["environments"].as_array().cloned().unwrap_or_default();
    list.into_iter()
        .map(|e| (e["environment"].as_str().unwrap_or("").to_string(), e))
        .collect()
}

/// Both environments Healthy and Synced on `image`.
async fn both_on(api: &str, image: &'static str) {
    let api = api.to_string();
    wait("both environments healthy", 120, move || {
        let e = envs(&api);
        let on = |n: &str| {
            e.get(n).is_some_and(|e| {
                e["health"] == "Healthy" && e["images"] == json!([format!("web:{image}")])
            })
        };
        (on("first") && on("second")).then_some(())
    })
    .await;
}

async fn push(r: &Region, image: &str, command: Option<&str>) {
    git_commit(&r.repo, &[("k8s/web.yaml", &web(image, command))], image);
    for env in ["first", "second"] {
        let body = json!({"environment": env});
        assert_eq!(api_post(&r.api, "/apps/web/sync", body).await, 202);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_second_wave_starts_after_the_first_waves_canary_and_not_after_a_rollback() {
    let _serial = SERIAL.lock().await;
    let r = boot(&topology(), &web("web:v1", None)).await;
    ferry_test_support::git(&r.repo, &["branch", "-M", "main"]);
    for env in ["first", "second"] {
        let body = json!({"environment": env});
        assert_eq!(api_post(&r.api, "/apps/web/sync", body).await, 202);
    }
    both_on(&r.api, "v1").await;

    // A good version: every (environment, phase) in the order first seen.
    push(&r, "web:v2", None).await;
    let api = r.api.clone();
    let t = Instant::now();
    let seen = wait("the second wave promoted", 120, {
        let mut seen: Vec<(String, String, u128)> = Vec::new();
        move || {
            for ro in rollout_items(&api) {
                let key = (ro["environment"].to_string(), ro["phase"].to_string());
                if !seen.iter().any(|(e, p, _)| (e, p) == (&key.0, &key.1)) {
                    seen.push((key.0, key.1, t.elapsed().as_millis()));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
            let done = seen
                .iter()
                .any(|(e, p, _)| e == "\"second\"" && p == "\"Completed\"");
            done.then(|| seen.clone())
        }
    })
    .await;
    println!("waves: {seen:?}");
    let at = |env: &str, phase: &str| {
        let (env, phase) = (format!("\"{env}\""), format!("\"{phase}\""));
        seen.iter()
            .find(|(e, p, _)| *e == env && *p == phase)
            .map(|s| s.2)
    };
    let first_done = at("first", "Completed").expect("first promoted");
    let second_start = seen
        .iter()
        .filter(|(e, _, _)| e == "\"second\"")
        .map(|s| s.2)
        .min()
        .unwrap();
    assert!(second_start >= first_done, "{seen:?}");
    both_on(&r.api, "v2").await;

    // A version whose pods crash: rolled back in first, never in second.
    push(&r, "web:v1", Some("['sh', '-c', 'exit 1']")).await;
    let api = r.api.clone();
    wait("first rolled back", 60, move || {
        let e = envs(&api);
        (e.get("first")?["health"] == "Degraded").then_some(())
    })
    .await;
    // Long enough for second to have started a canary, were it let.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let e = envs(&r.api);
    let second = &e["second"];
    println!("second after first's rollback: {second}");
    assert_eq!(second["images"], json!(["web:v2"]), "{second}");
    assert_eq!(second["health"], "Healthy", "{second}");
    assert!(
        second["waiting"]
            .as_str()
            .unwrap_or("")
            .contains("healthy in `first`"),
        "{second}"
    );
    let in_second = rollout_items(&r.api)
        .into_iter()
        .filter(|ro| ro["environment"] == "second" && ro["phase"] != "Completed")
        .count();
    assert_eq!(in_second, 0, "no canary in second");
}

/// Every rollout of the app, in every environment.
fn rollout_items(api: &str) -> Vec<Value> {
    let v = api_get(api, "/apps/web/rollout");
    v["items"].as_array().cloned().unwrap_or_default()
}
