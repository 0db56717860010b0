//! The engine end to end against real git repositories (created here with
//! the `git` CLI) and the in-memory target: sync, new commits by webhook
//! trigger, bad commit, drift and self-heal, prune, rollback, dependsOn,
//! unreachable remote, pipeline image gate. The delivery scenarios that
//! run against both targets (promotion, rollback, prune of only what
//! ferry applied, bad commit, feature branches) are in ferry-kube's
//! `tests/scenarios`.

use std::sync::Arc;

use ferry_core::objects::GroupKind;
use ferry_core::topology::Topology;
use ferry_delivery::health::Health;
use ferry_delivery::images::AnyImage;
use ferry_delivery::object::ObjKey;
use ferry_delivery::status::SyncState;
use ferry_delivery::target::{MemoryTarget, Target};
use ferry_delivery::{Engine, EngineConfig, RegionTarget};
use ferry_test_support::git;

use ferry_test_support::git_commit as commit;

fn deployment(name: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - {{name: {name}, image: '{image}'}}\n"
    )
}

const SVC: &str =
    "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n";

fn topology(repo: &str, extra: &str) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{repo}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n{extra}"
    );
    Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    repo: std::path::PathBuf,
    target: MemoryTarget,
    engine: Engine,
}

fn fixture(extra: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    commit(
        &repo,
        &[
            ("k8s/web.yaml", &deployment("web", 1, "web:1")),
            ("k8s/svc.yaml", SVC),
        ],
        "first",
    );
    let topo = topology(repo.to_str().unwrap(), extra);
    let cfg = EngineConfig::new(dir.path().join("state"));
    let engine = Engine::new(cfg, Arc::new(topo), Default::default(), Arc::new(AnyImage)).unwrap();
    let target = MemoryTarget::new();
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(target.clone()),
            registry: "127.0.0.1:5000".into(),
        },
    );
    Fixture {
        _dir: dir,
        repo,
        target,
        engine,
    }
}

fn key(kind: &str, name: &str) -> ObjKey {
    let api = if kind == "Deployment" {
        "apps/v1"
    } else {
        "v1"
    };
    ObjKey {
        group_kind: GroupKind::of(api, kind),
        namespace: Some("dev".into()),
        name: name.into(),
    }
}

fn replicas(t: &MemoryTarget) -> u64 {
    t.get(&key("Deployment", "web")).unwrap().value["spec"]["replicas"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn sync_update_bad_commit_drift_prune_and_rollback() {
    let f = fixture("");
    f.engine.pass().await;
    let st = f.engine.get("web").unwrap();
    assert_eq!(st.environments.len(), 1);
    assert_eq!(st.environments[0].sync, SyncState::Synced, "{st:?}");
    assert_eq!(f.target.all().len(), 2);
    f.engine.pass().await;
    assert_eq!(f.engine.get("web").unwrap().health(), Health::Healthy);

    // A new commit, picked up at once through the webhook trigger.
    let c2 = commit(
        &f.repo,
        &[("k8s/web.yaml", &deployment("web", 3, "web:2"))],
        "scale",
    );
    assert_eq!(
        f.engine.trigger_repo(&[f.repo.display().to_string()]),
        ["web"]
    );
    f.engine.pass().await;
    assert_eq!(replicas(&f.target), 3);
    assert_eq!(
        f.engine.get("web").unwrap().environments[0]
            .synced_revision
            .as_deref(),
        Some(c2.as_str())
    );

    // A bad commit fails with file, document and field; the previous revision keeps running.
    let bad = commit(
        &f.repo,
        &[(
            "k8s/web.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: many\n",
        )],
        "bad",
    );
    f.engine.trigger_repo(&[f.repo.display().to_string()]);
    f.engine.pass().await;
    let env = &f.engine.get("web").unwrap().environments[0];
    let error = env.error.clone().unwrap();
    assert!(
        error.contains("k8s/web.yaml@")
            && error.contains("document 0")
            && error.contains("spec.replicas"),
        "{error}"
    );
    assert_eq!(env.synced_revision.as_deref(), Some(c2.as_str()));
    assert_eq!(env.desired_revision.as_deref(), Some(bad.as_str()));
    assert_eq!(replicas(&f.target), 3);

    // Fix it, and drop the Service: it is pruned.
    commit(
        &f.repo,
        &[
            ("k8s/web.yaml", &deployment("web", 2, "web:3")),
            ("k8s/svc.yaml", ""),
        ],
        "fix",
    );
    f.engine.trigger_repo(&[f.repo.display().to_string()]);
    f.engine.pass().await;
    assert_eq!(replicas(&f.target), 2);
    assert!(
        f.target.get(&key("Service", "web")).is_none(),
        "service pruned"
    );

    // Drift: changed by hand, reported, and reverted by self-heal.
    let mut live = f.target.get(&key("Deployment", "web")).unwrap();
    live.value["spec"]["replicas"] = 7.into();
    f.target.put(live);
    f.engine.pass().await;
    assert_eq!(replicas(&f.target), 2, "self-heal reverted the drift");
    let hist = f.engine.history("web").unwrap();
    assert!(hist.iter().any(|h| h.trigger == "self-heal"), "{hist:?}");
    assert!(
        hist.iter()
            .any(|h| h.revision == bad && h.outcome == ferry_delivery::history::Outcome::Failed)
    );

    // Rollback to c2: back to 3 replicas, and the service returns.
    let entry = f.engine.rollback("web", None, Some(&c2[..8])).unwrap();
    assert_eq!(entry.revision, c2);
    f.engine.pass().await;
    assert_eq!(replicas(&f.target), 3);
    assert!(f.target.get(&key("Service", "web")).is_some());
    assert_eq!(
        f.engine.history("web").unwrap().last().unwrap().trigger,
        "rollback"
    );
    // Still pinned after another pass; `app sync` lifts the pin.
    f.engine.pass().await;
    assert_eq!(replicas(&f.target), 3);
    f.engine.sync_now("web", None).unwrap();
    f.engine.pass().await;
    assert_eq!(replicas(&f.target), 2);
}

#[tokio::test]
async fn depends_on_waits_for_the_dependency() {
    let extra = "---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {name: front}\nspec:\n  source: {repoUrl: REPO, path: front}\n  dependsOn: [web]\n";
    let f = fixture("");
    commit(
        &f.repo,
        &[(
            "front/f.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: front}\n",
        )],
        "front",
    );
    let topo = topology(
        f.repo.to_str().unwrap(),
        &extra.replace("REPO", &format!("'{}'", f.repo.display())),
    );
    let engine = Engine::new(
        EngineConfig::new(f._dir.path().join("s2")),
        Arc::new(topo),
        Default::default(),
        Arc::new(AnyImage),
    )
    .unwrap();
    let t = MemoryTarget::new();
    t.fail_applies(Some("target down"));
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(t.clone()),
            registry: "r".into(),
        },
    );
    engine.pass().await;
    let front = engine.get("front").unwrap();
    assert!(
        front.environments[0]
            .waiting
            .as_deref()
            .unwrap()
            .contains("dependency `web`"),
        "{front:?}"
    );
    assert!(
        engine.get("web").unwrap().environments[0]
            .error
            .as_deref()
            .unwrap()
            .contains("target down")
    );
    t.fail_applies(None);
    engine.pass().await;
    engine.pass().await;
    assert_eq!(
        engine.get("front").unwrap().environments[0].sync,
        SyncState::Synced
    );
    assert!(t.list("app.ferry.dev/name", "front").await.unwrap().len() == 1);
}

#[tokio::test]
async fn unreachable_remote_is_reported_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&dir.path().join("missing").display().to_string(), "");
    let engine = Engine::new(
        EngineConfig::new(dir.path().join("s")),
        Arc::new(topo),
        Default::default(),
        Arc::new(AnyImage),
    )
    .unwrap();
    let t = MemoryTarget::new();
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(t.clone()),
            registry: "r".into(),
        },
    );
    engine.pass().await;
    let st = engine.get("web").unwrap();
    let err = st.source_error.unwrap();
    assert!(err.contains("retrying in"), "{err}");
    assert!(st.environments[0].waiting.is_some());
    assert!(t.all().is_empty());
}

#[tokio::test]
async fn an_environment_with_its_own_target_syncs_there_not_to_its_region() {
    let f = fixture("");
    let cluster = MemoryTarget::new();
    f.engine
        .set_environment_target("dev", Arc::new(cluster.clone()));
    f.engine.pass().await;
    assert_eq!(
        cluster.all().len(),
        2,
        "the environment's target got the app"
    );
    assert!(f.target.all().is_empty(), "the region's target got nothing");
    f.engine.pass().await;
    let st = f.engine.get("web").unwrap();
    assert_eq!(st.environments[0].sync, SyncState::Synced, "{st:?}");
    assert_eq!(
        st.health(),
        Health::Healthy,
        "health read from the environment's target"
    );
    // Drift on the environment's target is seen and healed there.
    let mut d = cluster.get(&key("Deployment", "web")).unwrap();
    d.value["spec"]["replicas"] = serde_json::json!(7);
    cluster.put(d);
    f.engine.pass().await;
    assert_eq!(replicas(&cluster), 1);
}

#[tokio::test]
async fn a_sync_goes_wave_by_wave_across_passes_and_records_once() {
    let f = fixture("");
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations: {argocd.argoproj.io/sync-wave: '-1'}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - {name: m, image: 'migrate:1'}\n";
    commit(&f.repo, &[("k8s/job.yaml", job)], "migrate first");
    f.engine.pass().await;
    let env = f.engine.get("web").unwrap().environments[0].clone();
    let waiting = env.waiting.clone().unwrap_or_default();
    assert!(
        waiting.contains("wave -1") && waiting.contains("Job/migrate"),
        "{env:?}"
    );
    assert_eq!(env.sync, SyncState::OutOfSync);
    assert!(env.synced_revision.is_none());
    assert!(
        f.target.get(&key("Deployment", "web")).is_none(),
        "wave 0 waits"
    );
    assert!(
        f.engine.history("web").unwrap().is_empty(),
        "no entry for half a sync"
    );
    // The Job completes: the next pass applies wave 0 and records the sync.
    let job_key = ObjKey {
        group_kind: GroupKind::of("batch/v1", "Job"),
        namespace: Some("dev".into()),
        name: "migrate".into(),
    };
    let mut done = f.target.get(&job_key).expect("wave -1 applied");
    done.value["status"] =
        serde_json::json!({"conditions": [{"type": "Complete", "status": "True"}]});
    f.target.put(done);
    f.engine.pass().await;
    let env = f.engine.get("web").unwrap().environments[0].clone();
    assert_eq!(env.waiting, None, "{env:?}");
    assert_eq!(env.sync, SyncState::Synced);
    assert_eq!(replicas(&f.target), 1);
    assert_eq!(f.engine.history("web").unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreachable_target_is_reported_never_recorded_and_the_sync_resumes() {
    let f = fixture("");
    f.target.set_unreachable(true);
    f.engine.pass().await;
    let env = f.engine.get("web").unwrap().environments[0].clone();
    let error = env.error.clone().unwrap_or_default();
    assert!(error.contains("unreachable"), "{env:?}");
    assert_eq!(env.synced_revision, None);
    assert!(
        f.engine.history("web").unwrap().is_empty(),
        "an unreachable target is no failed revision"
    );
    f.engine.pass().await;
    assert!(f.engine.history("web").unwrap().is_empty());

    f.target.set_unreachable(false);
    f.engine.pass().await;
    let env = f.engine.get("web").unwrap().environments[0].clone();
    assert_eq!(env.error, None, "{env:?}");
    assert_eq!(env.sync, SyncState::Synced);
    assert_eq!(replicas(&f.target), 1);
    let history = f.engine.history("web").unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(f.target.applies(), 1, "applied once, when it answered");
}

#[tokio::test]
async fn a_diff_is_computed_on_request_not_taken_from_the_last_pass() {
    let f = fixture("");
    f.engine.pass().await;
    let d = f.engine.live_diff("web", None).await.unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].environment, "dev");
    assert!(d[0].objects.is_empty() && d[0].error.is_none(), "{d:?}");
    assert_eq!(d[0].dry_run, "none", "the memory target has no dry run");

    // An edit by hand, seen at once: no pass ran since.
    let mut edited = f.target.get(&key("Deployment", "web")).unwrap();
    edited.value["spec"]["replicas"] = 5.into();
    f.target.put(edited);
    let d = f.engine.live_diff("web", Some("dev")).await.unwrap();
    assert_eq!(d[0].objects.len(), 1, "{d:?}");
    assert_eq!(d[0].objects[0].object, "Deployment.apps/dev/web");
    assert_eq!(d[0].objects[0].sync, "OutOfSync");
    assert_eq!(d[0].objects[0].lines(), ["spec.replicas: 5 → 1"]);
    let stored = f.engine.get("web").unwrap();
    assert!(
        stored.environments[0]
            .objects
            .iter()
            .all(|o| o.diff.is_empty()),
        "the stored status is still the last pass's"
    );
    assert!(f.engine.live_diff("web", Some("prod")).await.is_err());
    assert_eq!(f.target.applies(), 1, "a diff applies nothing");
}
