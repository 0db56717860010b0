//! `ferry app diff` on a real API server: the engine renders the app,
//! dry-runs it with server-side apply (`dryRun=All`) and compares with
//! live. A synced app shows nothing although the server defaulted many
//! fields (a Deployment's strategy and pod template, a Service's
//! clusterIP, type and port protocol); a kubectl edit with self-heal off
//! shows the edited fields, a Secret's values masked; and the dry run
//! changes nothing on the server (every resourceVersion, the ApplySet
//! parent's included, is the same after it).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, kubectl_ok, target};
use ferry_core::topology::Topology;
use ferry_delivery::images::AnyImage;
use ferry_delivery::status::SyncState;
use ferry_delivery::{Engine, EngineConfig, RegionTarget};
use ferry_test_support::kube::KubeCluster;
use ferry_test_support::{git, git_commit};
use tokio_util::sync::CancellationToken;

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: web, image: 'registry.example/web:1', ports: [{containerPort: 8080}]}\n";
const SVC: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n";
const SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: from-git-s3cret}\n";

fn topology(repo: &str) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{repo}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true, selfHeal: false, prune: true}}\n"
    );
    Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap()
}

/// `kind/name=resourceVersion` of everything in namespace `dev`.
fn versions(cluster: &KubeCluster) -> String {
    kubectl_ok(
        cluster,
        &[
            "get",
            "deploy,svc,secret,cm",
            "-n",
            "dev",
            "-o",
            "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion} {end}",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_app_shows_no_defaults_an_edit_shows_and_the_dry_run_changes_nothing() {
    let cluster = common::start_api().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let files = [
        ("k8s/deploy.yaml", DEPLOY),
        ("k8s/svc.yaml", SVC),
        ("k8s/secret.yaml", SECRET),
    ];
    git_commit(&repo, &files, "first");
    let mut cfg = EngineConfig::new(dir.path().join("state"));
    cfg.resync_interval = Duration::from_secs(60);
    let topo = Arc::new(topology(repo.to_str().unwrap()));
    let engine = Engine::new(cfg, topo, Default::default(), Arc::new(AnyImage)).unwrap();
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(target(&cluster).await),
            registry: "127.0.0.1:5000".into(),
        },
    );
    let stop = CancellationToken::new();
    engine.start(stop.clone());
    eventually("the first sync", Duration::from_secs(60), || async {
        let st = engine.get("web").ok()?;
        (st.environments.first()?.sync == SyncState::Synced).then_some(())
    })
    .await;
    let svc_ip = kubectl_ok(
        &cluster,
        &[
            "get",
            "svc",
            "web",
            "-n",
            "dev",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    );
    assert!(!svc_ip.is_empty(), "the server allocated a clusterIP");

    // Synced: the server's defaults make no difference.
    let before = versions(&cluster);
    let parent_rv = || {
        kubectl_ok(
            &cluster,
            &[
                "get",
                "secret",
                "ferry.web.dev",
                "-n",
                "dev",
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ],
        )
    };
    let parent_before = parent_rv();
    let d = engine.live_diff("web", None).await.unwrap();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].dry_run, "server");
    assert!(d[0].error.is_none(), "{d:?}");
    assert!(d[0].objects.is_empty(), "defaulted fields shown: {d:#?}");
    assert_eq!(versions(&cluster), before, "the dry run changed something");
    assert_eq!(parent_rv(), parent_before, "the ApplySet parent changed");

    // kubectl edits, self-heal off: the changed fields show, the Secret's
    // value masked.
    kubectl_ok(
        &cluster,
        &["scale", "deploy", "web", "-n", "dev", "--replicas=3"],
    );
    kubectl_ok(
        &cluster,
        &[
            "patch",
            "secret",
            "db",
            "-n",
            "dev",
            "--type=merge",
            "-p",
            r#"{"stringData":{"password":"edited-by-hand"}}"#,
        ],
    );
    kubectl_ok(
        &cluster,
        &[
            "patch",
            "svc",
            "web",
            "-n",
            "dev",
            "--type=merge",
            "-p",
            r#"{"spec":{"ports":[{"port":80,"targetPort":9090}]}}"#,
        ],
    );
    let before = versions(&cluster);
    let d = engine.live_diff("web", Some("dev")).await.unwrap();
    let text = format!("{d:#?}");
    eprintln!("{text}");
    let lines = |object: &str| -> Vec<String> {
        d[0].objects
            .iter()
            .find(|o| o.object == object)
            .map(|o| o.lines())
            .unwrap_or_else(|| panic!("{object} not in {text}"))
    };
    assert_eq!(lines("Deployment.apps/dev/web"), ["spec.replicas: 3 → 1"]);
    assert_eq!(
        lines("Service/dev/web"),
        ["spec.ports.0.targetPort: 9090 → 8080"]
    );
    assert_eq!(
        lines("Secret/dev/db"),
        ["data.password: ++++++++ → ++++++++"]
    );
    assert_eq!(d[0].objects.len(), 3, "{text}");
    for secret in [
        "from-git-s3cret",
        "edited-by-hand",
        "ZWRpdGVk",
        "ZnJvbS1naXQ",
    ] {
        assert!(!text.contains(secret), "a Secret value leaked: {text}");
    }
    assert_eq!(versions(&cluster), before, "the dry run changed something");
    let replicas = kubectl_ok(
        &cluster,
        &[
            "get",
            "deploy",
            "web",
            "-n",
            "dev",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    );
    assert_eq!(replicas, "3", "self-heal is off and a diff applies nothing");
    stop.cancel();
}
