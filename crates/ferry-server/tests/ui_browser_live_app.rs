//! An application's page follows the runtime live, end to end in headless
//! Debian chromium over the DevTools protocol: region `uk` syncs
//! application `web` (a Deployment of one replica whose image cannot be
//! pulled, so its pod never turns ready and the application's status
//! stays as it is) from a git repository. The page is opened, its object
//! tree shown down to the Deployment's Pod, a marker set on `window`, the
//! pod deleted through the API; the ReplicaSet controller makes another
//! one, and the page is polled (with a deadline) until the tree names the
//! new pod instead of the old while the marker is still there (no reload).

use std::collections::BTreeMap;
use std::path::Path;

use ferry_core::topology::Topology;
use ferry_test_support::cdp::Browser;
use ferry_test_support::{git, git_commit};
use serde_json::json;

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: app, image: 'nowhere.invalid/none:1'}\n";

fn topology(repo: &Path) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{}', path: web}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true}}\n",
        repo.display()
    );
    Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_pages_object_tree_follows_the_runtimes_pods_live() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git_commit(&repo, &[("web/deployment.yaml", DEPLOYMENT)], "web");
    let running = ferry_server::start_region(
        ferry_server::ServerConfig {
            topology: topology(&repo),
            data_root: dir.path().join("data"),
            config_dir: dir.path().to_path_buf(),
            known_tokens: BTreeMap::new(),
            auth_enabled: false,
            kube_targets: None,
        },
        "uk",
    )
    .await
    .unwrap();
    let url = running.api("uk").unwrap().url.clone();
    let admin = running.new_admin_tokens()["uk"].clone();
    let work = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut b = Browser::start(&work, 1280, 900);
        log_in(&mut b, &url, &admin);
        app_tree(&mut b, &url, &admin);
    })
    .await
    .unwrap();
    running.shutdown().await;
}

fn log_in(b: &mut Browser, url: &str, admin: &str) {
    b.navigate(&format!("{url}/ui"));
    b.wait_for("the login page", "document.activeElement.id", |v| {
        v == "token"
    });
    b.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form[action=\"/ui/login\"]').submit(); true",
        json!(admin)
    ));
    b.wait_for(
        "the overview",
        "document.readyState === 'complete' && location.pathname",
        |v| v == "/ui",
    );
}

/// The names of the tree's nodes of `kind`, comma-separated.
fn names(kind: &str) -> String {
    format!(
        "[...document.querySelectorAll('#env .tree li')].filter(l => l.querySelector('.kind')?.textContent === '{kind}').map(l => l.querySelector('.name').textContent).join(',')"
    )
}

fn app_tree(b: &mut Browser, url: &str, admin: &str) {
    b.navigate(&format!("{url}/ui/apps/web?env=dev"));
    // The page may open before the sync or the pod: both arrive live.
    let first = b.wait_for("the Deployment's pod in the tree", &names("Pod"), |v| {
        v.as_str().is_some_and(|s| s.starts_with("web-"))
    });
    let first = first.as_str().unwrap().to_string();
    assert!(!first.contains(','), "one replica: {first}");
    let rs = b.eval(&names("ReplicaSet"));
    assert!(
        first.starts_with(&format!("{}-", rs.as_str().unwrap())),
        "the pod below its ReplicaSet: {first} / {rs}"
    );
    b.eval("window.marker = 'same page'; true");
    let t0 = std::time::Instant::now();
    let resp = reqwest::blocking::Client::new()
        .delete(format!("{url}/api/v1/objects/pods/dev/{first}"))
        .bearer_auth(admin)
        .json(&json!({}))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    let next = b.wait_for("the replacement pod in the tree", &names("Pod"), |v| {
        v.as_str()
            .is_some_and(|s| s.starts_with("web-") && !s.contains(first.as_str()))
    });
    eprintln!(
        "app page: the old pod {first} replaced by {next} in the tree {:?} after the delete",
        t0.elapsed()
    );
    assert_eq!(
        b.eval("window.marker ?? 'reloaded'"),
        "same page",
        "the app page reloaded"
    );
}
