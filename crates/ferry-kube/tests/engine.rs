//! The delivery engine end to end on a real API server through the
//! Kubernetes target: a git commit is synced, a kubectl edit of a managed
//! object wakes the engine through the watch (the resync timer is set to a
//! minute, so only the watch can explain a quick revert) and is reverted
//! by self-heal, and a file removed from git is pruned; a field another
//! tool *applied* fails the sync naming that field manager, unless the
//! application's `syncPolicy.force` is set.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, kubectl_ok, target};
use ferry_core::topology::Topology;
use ferry_delivery::images::AnyImage;
use ferry_delivery::status::SyncState;
use ferry_delivery::{Engine, EngineConfig, RegionTarget};
use ferry_test_support::kube::KubeCluster;
use ferry_test_support::{git, git_commit};
use tokio_util::sync::CancellationToken;

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {key: from-git}\n";
const SVC: &str =
    "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n";

fn topology(repo: &str, force: bool) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{repo}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true, selfHeal: true, prune: true, force: {force}}}\n"
    );
    Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap()
}

/// A started engine for the app in `repo`, delivering to `cluster`, with
/// the resync timer at a minute (so only the watch explains quick work).
async fn start_engine(
    cluster: &KubeCluster,
    repo: &std::path::Path,
    state: &std::path::Path,
    force: bool,
) -> (Engine, CancellationToken) {
    let mut cfg = EngineConfig::new(state.to_path_buf());
    cfg.resync_interval = Duration::from_secs(60);
    let topo = Arc::new(topology(repo.to_str().unwrap(), force));
    let engine = Engine::new(cfg, topo, Default::default(), Arc::new(AnyImage)).unwrap();
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(target(cluster).await),
            registry: "127.0.0.1:5000".into(),
        },
    );
    let stop = CancellationToken::new();
    engine.start(stop.clone());
    (engine, stop)
}

fn repo_with(dir: &std::path::Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git_commit(&repo, files, "first");
    repo
}

fn data_key(cluster: &KubeCluster) -> Option<String> {
    let out = cluster.kubectl(&[
        "get",
        "cm",
        "cfg",
        "-n",
        "dev",
        "-o",
        "jsonpath={.data.key}",
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_drift_revert_by_watch_and_prune() {
    let cluster = common::start_api().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_with(dir.path(), &[("k8s/cm.yaml", CM), ("k8s/svc.yaml", SVC)]);
    let (engine, stop) = start_engine(&cluster, &repo, &dir.path().join("state"), false).await;
    let get = |kind: &str, name: &str, path: &str| {
        let out = cluster.kubectl(&[
            "get",
            kind,
            name,
            "-n",
            "dev",
            "-o",
            &format!("jsonpath={path}"),
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    eventually("the first sync", Duration::from_secs(60), || async {
        (get("cm", "cfg", "{.data.key}")? == "from-git"
            && get("svc", "web", "{.metadata.name}").is_some())
        .then_some(())
    })
    .await;

    // Drift: reverted well before the one-minute resync could do it.
    let started = Instant::now();
    let patch = r#"{"data":{"key":"drifted"}}"#;
    kubectl_ok(
        &cluster,
        &[
            "patch",
            "cm",
            "cfg",
            "-n",
            "dev",
            "--type=merge",
            "-p",
            patch,
        ],
    );
    eventually(
        "self-heal of the kubectl edit",
        Duration::from_secs(20),
        || async { (get("cm", "cfg", "{.data.key}")? == "from-git").then_some(()) },
    )
    .await;
    let took = started.elapsed();
    eprintln!("kubectl edit reverted in {took:?}");
    assert!(took < Duration::from_secs(4), "revert took {took:?}");

    // Prune: the Service leaves git.
    git(&repo, &["rm", "-q", "k8s/svc.yaml"]);
    git(&repo, &["commit", "-q", "-m", "drop the service"]);
    engine.trigger_repo(&[repo.to_str().unwrap().to_string()]);
    eventually(
        "the Service to be pruned",
        Duration::from_secs(30),
        || async {
            get("svc", "web", "{.metadata.name}")
                .is_none()
                .then_some(())
        },
    )
    .await;
    assert_eq!(get("cm", "cfg", "{.data.key}").as_deref(), Some("from-git"));
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_appliers_field_fails_the_sync_naming_it_unless_force() {
    let cluster = common::start_api().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_with(dir.path(), &[("k8s/cm.yaml", CM)]);
    let (engine, stop) = start_engine(&cluster, &repo, &dir.path().join("state"), false).await;
    eventually("the first sync", Duration::from_secs(60), || async {
        (data_key(&cluster)? == "from-git").then_some(())
    })
    .await;
    let theirs = dir.path().join("theirs.yaml");
    std::fs::write(&theirs, CM.replace("from-git", "theirs")).unwrap();
    let f = theirs.to_string_lossy();
    let args = [
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        &f,
        "-n",
        "dev",
    ];
    kubectl_ok(&cluster, &args);
    let error = eventually(
        "the sync to fail on the conflict",
        Duration::from_secs(20),
        || async { engine.get("web").ok()?.environments.first()?.error.clone() },
    )
    .await;
    assert!(error.contains("`other`"), "{error}");
    assert_eq!(data_key(&cluster).as_deref(), Some("theirs"));
    stop.cancel();

    // The same application with `force`: ferry takes the field over.
    let (_engine, stop) =
        start_engine(&cluster, &repo, &dir.path().join("state-force"), true).await;
    eventually("the forced sync", Duration::from_secs(30), || async {
        (data_key(&cluster)? == "from-git").then_some(())
    })
    .await;
    stop.cancel();
}

const FLEET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: fleets.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {plural: fleets, singular: fleet, kind: Fleet}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {size: {type: integer}}}}}}\n";
const FLEET: &str =
    "apiVersion: example.com/v1\nkind: Fleet\nmetadata: {name: main}\nspec: {size: 3}\n";

/// A cluster-scoped custom kind (render does not know its scope and gives
/// it the environment's namespace) is keyed by discovery's scope: once
/// synced it is Synced pass after pass, not re-applied as drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_scoped_custom_kind_is_synced_once_not_every_pass() {
    let cluster = common::start_api().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_with(
        dir.path(),
        &[("k8s/crd.yaml", FLEET_CRD), ("k8s/fleet.yaml", FLEET)],
    );
    let cfg = EngineConfig::new(dir.path().join("state"));
    let topo = Arc::new(topology(repo.to_str().unwrap(), false));
    let engine = Engine::new(cfg, topo, Default::default(), Arc::new(AnyImage)).unwrap();
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(target(&cluster).await),
            registry: "127.0.0.1:5000".into(),
        },
    );
    // Passes by hand: the first syncs, the next ones must find it in sync.
    for pass in 1..=5 {
        engine.pass().await;
        let env = engine.get("web").unwrap().environments[0].clone();
        if pass == 1 {
            assert_eq!(env.error, None, "{env:?}");
            continue;
        }
        assert_eq!(env.sync, SyncState::Synced, "pass {pass}: {env:?}");
        let fleet = env
            .objects
            .iter()
            .find(|o| o.key.group_kind.kind == "Fleet");
        let fleet = fleet.expect("the Fleet in the status");
        assert_eq!(fleet.key.namespace, None, "{fleet:?}");
        let history = engine.history("web").unwrap();
        assert_eq!(history.len(), 1, "pass {pass}: re-applied: {history:?}");
    }
    let size = kubectl_ok(
        &cluster,
        &["get", "fleet", "main", "-o", "jsonpath={.spec.size}"],
    );
    assert_eq!(size, "3");
}
