//! The API server killed in the middle of a sync and started again: the
//! engine reports the target unreachable (no crash, no history entry for a
//! half-applied revision), resumes on its own within seconds of the API
//! server's return (the resync timer is a minute, so only the engine's
//! retry explains it), and ends with every object as in git, each applied
//! by ferry alone, the ApplySet and the engine's inventory complete, and
//! one history entry for the revision.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, target};
use ferry_core::topology::Topology;
use ferry_delivery::history::Outcome;
use ferry_delivery::images::AnyImage;
use ferry_delivery::status::SyncState;
use ferry_delivery::{Engine, EngineConfig, RegionTarget};
use ferry_test_support::{git, git_commit};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams};
use tokio_util::sync::CancellationToken;

/// Sync waves, and ConfigMaps in each: enough that the sync takes a while.
const WAVES: usize = 4;
const PER_WAVE: usize = 100;

fn topology(repo: &str) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{repo}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n"
    );
    Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap()
}

/// One file per wave, each a multi-document stream of ConfigMaps.
fn wave_files() -> Vec<(String, String)> {
    (0..WAVES)
        .map(|w| {
            let docs: Vec<String> = (0..PER_WAVE)
                .map(|i| {
                    format!(
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{w}-{i}\n  annotations: {{argocd.argoproj.io/sync-wave: '{w}'}}\ndata: {{key: value-{w}-{i}}}\n"
                    )
                })
                .collect();
            (format!("k8s/wave{w}.yaml"), docs.join("---\n"))
        })
        .collect()
}

async fn config_maps(api: &Api<ConfigMap>) -> Option<Vec<ConfigMap>> {
    let lp = ListParams::default().labels("app.ferry.dev/name=web");
    api.list(&lp).await.ok().map(|l| l.items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_killed_mid_sync_the_sync_resumes_nothing_lost_nothing_recorded_twice() {
    let mut cluster = common::start_api().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let files = wave_files();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    git_commit(&repo, &refs, "many config maps in waves");
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();

    let state = dir.path().join("state");
    let mut cfg = EngineConfig::new(state.clone());
    cfg.resync_interval = Duration::from_secs(60);
    let topo = Arc::new(topology(repo.to_str().unwrap()));
    let engine = Engine::new(cfg, topo, Default::default(), Arc::new(AnyImage)).unwrap();
    let t = target(&cluster).await;
    let client = t.client().clone();
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(t),
            registry: "127.0.0.1:5000".into(),
        },
    );
    let stop = CancellationToken::new();
    engine.start(stop.clone());

    // Kill the API server once part of the objects is applied.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "dev");
    let total = WAVES * PER_WAVE;
    let applied = eventually("the sync to start", Duration::from_secs(60), || async {
        let n = config_maps(&cms).await?.len();
        (n >= PER_WAVE / 2).then_some(n)
    })
    .await;
    cluster.stop_apiserver();
    assert!(
        applied < total,
        "the sync had finished ({applied} objects) before the API server was stopped"
    );
    eprintln!("API server killed with {applied} of {total} objects applied");

    let error = eventually(
        "the engine to report the target unreachable",
        Duration::from_secs(20),
        || async {
            let env = engine.get("web").ok()?.environments.first()?.clone();
            env.error.filter(|e| e.contains("unreachable"))
        },
    )
    .await;
    eprintln!("while down: {error}");
    assert!(
        engine.history("web").unwrap().is_empty(),
        "a sync cut short is no history entry: {:?}",
        engine.history("web").unwrap()
    );

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start_apiserver();
        cluster
    })
    .await
    .unwrap();
    let back = Instant::now();
    eventually(
        "the sync to finish after the restart",
        Duration::from_secs(60),
        || async {
            let env = engine.get("web").ok()?.environments.first()?.clone();
            (env.sync == SyncState::Synced && env.synced_revision.as_deref() == Some(&head))
                .then_some(())
        },
    )
    .await;
    let took = back.elapsed();
    eprintln!("synced {took:?} after the API server was ready again");
    assert!(
        took < Duration::from_secs(15),
        "resumed only after {took:?}"
    );

    // Every object as in git, applied by ferry alone (never by an update).
    let live = config_maps(&cms).await.expect("list the ConfigMaps");
    assert_eq!(live.len(), total);
    for cm in &live {
        let name = cm.metadata.name.clone().unwrap_or_default();
        let want = name.replacen("cm-", "value-", 1);
        let got = cm.data.as_ref().and_then(|d| d.get("key")).cloned();
        assert_eq!(got.as_deref(), Some(want.as_str()), "{name}");
        let managers: Vec<(String, String)> = cm
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|m| {
                (
                    m.manager.clone().unwrap_or_default(),
                    m.operation.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            managers,
            [("ferry".to_string(), "Apply".to_string())],
            "{name}"
        );
    }

    // The ApplySet: the parent records the kind, every object is a member.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "dev");
    let parent = secrets
        .get("ferry.web.dev")
        .await
        .expect("the ApplySet parent");
    let labels = parent.metadata.labels.clone().unwrap_or_default();
    let id = labels.get("applyset.kubernetes.io/id").expect("an id");
    let kinds = parent
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .get("applyset.kubernetes.io/contains-group-kinds")
        .cloned()
        .unwrap_or_default();
    assert!(kinds.split(',').any(|k| k == "ConfigMap"), "{kinds}");
    for cm in &live {
        let part_of = cm
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("applyset.kubernetes.io/part-of"));
        assert_eq!(part_of, Some(id), "{:?}", cm.metadata.name);
    }

    // The engine's inventory holds every object; history one entry.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("apps/web.json")).unwrap()).unwrap();
    let inventory: BTreeSet<String> = record["inventory"]["dev"]
        .as_array()
        .expect("an inventory for dev")
        .iter()
        .filter_map(|k| k["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(inventory.len(), total, "{record}");
    let history = engine.history("web").unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].revision, head);
    assert_eq!(history[0].outcome, Outcome::Succeeded);
    stop.cancel();
    drop(cluster);
}
