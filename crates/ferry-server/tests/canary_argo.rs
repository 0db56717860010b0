//! Argo Rollouts' `Rollout` kind end to end on the embedded target (setup
//! in `common`), in an Environment with no canary strategy of its own: the
//! app's `Rollout` is synced as the Deployment of its name (Synced and
//! Healthy), and a new template runs as a canary through the Rollout's own
//! steps — its Argo `analysis` step noted and judged by the gateway's
//! analysis — until promoted, with no client request failed. Needs root.

mod common;

use common::*;
use ferry_test_support::git_commit;
use serde_json::json;

/// The app's manifests with the Deployment written as an Argo `Rollout`.
fn rollout_manifests(image: &str) -> String {
    let strategy = "  strategy:\n    canary:\n      canaryService: web-canary\n      steps:\n      - setWeight: 50\n      - analysis: {templates: [{templateName: success-rate}]}\n      - pause: {}\n";
    manifests(image, None)
        .replacen(
            "apiVersion: apps/v1\nkind: Deployment",
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout",
            1,
        )
        .replacen(
            "spec:\n  replicas: 3\n",
            &format!("spec:\n  replicas: 3\n{strategy}"),
            1,
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_argo_rollout_runs_as_its_deployment_through_its_own_steps() {
    let _serial = SERIAL.lock().await;
    let r = region_with("", &rollout_manifests("web:v1")).await;
    let api = r.api.clone();
    let env = wait("Synced and Healthy", 60, move || {
        let env = api_get(&api, "/apps/web")["environments"][0].clone();
        (env["health"] == "Healthy" && env["sync"] == "Synced").then_some(env)
    })
    .await;
    let objects = env["objects"].to_string();
    assert!(
        objects.contains("\"Deployment\"") && !objects.contains("\"Rollout\""),
        "{env}"
    );

    let load = Load::start(r.gateway, 40, "v2");
    git_commit(
        &r.repo,
        &[("k8s/web.yaml", &rollout_manifests("web:v2"))],
        "v2",
    );
    let body = json!({"environment": "dev"});
    assert_eq!(api_post(&r.api, "/apps/web/sync", body.clone()).await, 202);
    let api = r.api.clone();
    let ro = wait("paused at the Rollout's last step", 90, move || {
        let ro = rollout(&api);
        std::thread::sleep(std::time::Duration::from_millis(50));
        (ro["phase"] == "Paused").then_some(ro)
    })
    .await;
    assert_eq!(
        (ro["weight"].as_u64(), ro["steps"].as_u64()),
        (Some(50), Some(3)),
        "{ro}"
    );
    assert!(
        ro["analysis"]["measurements"].as_u64().unwrap() >= 1,
        "{ro}"
    );
    let notes = ro["notes"].to_string();
    assert!(notes.contains("steps[1].analysis"), "{ro}");
    assert_eq!(
        api_post(&r.api, "/apps/web/rollout/promote", body).await,
        202
    );
    let api = r.api.clone();
    wait("promoted", 90, move || {
        (rollout(&api)["phase"] == "Completed").then_some(())
    })
    .await;
    let (sent, failed, v2) = load.stop();
    println!("argo Rollout: {sent} requests, {failed} failed, {v2} answered by v2; notes {notes}");
    assert_eq!(failed, 0, "of {sent}");
    assert!(v2 > 0);
    for _ in 0..10 {
        assert_eq!(get(r.gateway), Some((200, "v2".into())), "v2 is stable");
    }
}
