//! The engine adds the image pull Secret for targets that pull images
//! themselves (issue 19, item 6), against a real git repository, an
//! in-memory target that says it pulls, and scripted credentials: the
//! Secret is applied with the app and named by its pod templates, its
//! values never show in status or diff (drift of it is healed all the
//! same), a new repository set means a new login, and an embedded-like
//! target or a registry wanting no login gets no Secret.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use ferry_core::objects::{GroupKind, StoredObject};
use ferry_core::topology::Topology;
use ferry_delivery::images::AnyImage;
use ferry_delivery::object::ObjKey;
use ferry_delivery::pull_access::PullCredentials;
use ferry_delivery::pull_secret::RegistryLogin;
use ferry_delivery::status::SyncState;
use ferry_delivery::target::{BoxFuture, MemoryTarget, Target};
use ferry_delivery::{Engine, EngineConfig, RegionTarget};
use ferry_test_support::{git, git_commit as commit};
use serde_json::Value;

const REG: &str = "127.0.0.1:5000";

/// A memory target whose nodes pull for themselves, like a cluster.
#[derive(Debug, Clone)]
struct Pulling(MemoryTarget);

impl Target for Pulling {
    fn apply(&self, o: Vec<StoredObject>) -> BoxFuture<'_, ferry_delivery::Result<()>> {
        self.0.apply(o)
    }
    fn list(&self, k: &str, v: &str) -> BoxFuture<'_, ferry_delivery::Result<Vec<StoredObject>>> {
        self.0.list(k, v)
    }
    fn delete(&self, keys: Vec<ObjKey>) -> BoxFuture<'_, ferry_delivery::Result<()>> {
        self.0.delete(keys)
    }
    fn pulls_images_itself(&self) -> bool {
        true
    }
}

/// Logins whose password names the repositories (a new set, a new
/// password); `open` answers that no login is needed.
#[derive(Debug, Default)]
struct Scripted {
    open: bool,
    asked: Mutex<Vec<(String, String, BTreeSet<String>)>>,
}

impl PullCredentials for Scripted {
    fn login<'a>(
        &'a self,
        app: &'a str,
        env: &'a str,
        repositories: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, ferry_delivery::Result<Option<RegistryLogin>>> {
        let asked = (app.to_string(), env.to_string(), repositories.clone());
        self.asked.lock().unwrap().push(asked);
        let login = (!self.open).then(|| RegistryLogin {
            username: format!("robot$ferry-pull.{app}.{env}"),
            password: format!(
                "pw-{}",
                repositories.iter().cloned().collect::<Vec<_>>().join("+")
            ),
        });
        Box::pin(async move { Ok(login) })
    }
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      imagePullSecrets: [{{name: mine}}]\n      containers:\n      - {{name: web, image: '{image}'}}\n"
    )
}

struct Fixture {
    _dir: tempfile::TempDir,
    repo: std::path::PathBuf,
    target: MemoryTarget,
    engine: Engine,
    credentials: Arc<Scripted>,
}

fn fixture(pulls: bool, open: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let image = format!("{REG}/team/web:1");
    commit(&repo, &[("k8s/web.yaml", &deployment(&image))], "first");
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n",
        repo.display()
    );
    let topo = Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap();
    let cfg = EngineConfig::new(dir.path().join("state"));
    let engine = Engine::new(cfg, Arc::new(topo), Default::default(), Arc::new(AnyImage)).unwrap();
    let target = MemoryTarget::new();
    let t: Arc<dyn Target> = if pulls {
        Arc::new(Pulling(target.clone()))
    } else {
        Arc::new(target.clone())
    };
    engine.add_region(
        "uk",
        RegionTarget {
            target: t,
            registry: REG.into(),
        },
    );
    let credentials = Arc::new(Scripted {
        open,
        ..Default::default()
    });
    engine.set_pull_credentials("uk", credentials.clone());
    Fixture {
        _dir: dir,
        repo,
        target,
        engine,
        credentials,
    }
}

fn secret_key() -> ObjKey {
    ObjKey {
        group_kind: GroupKind::new("", "Secret"),
        namespace: Some("dev".into()),
        name: "ferry-pull-web".into(),
    }
}

/// The password in the live pull Secret.
fn live_password(t: &MemoryTarget) -> Option<String> {
    let s = t.get(&secret_key())?;
    let b64 = s.value["data"][".dockerconfigjson"].as_str()?;
    let config: Value =
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(b64).ok()?)
            .ok()?;
    Some(config["auths"][REG]["password"].as_str()?.to_string())
}

fn pull_secrets(t: &MemoryTarget) -> Vec<String> {
    let key = ObjKey {
        group_kind: GroupKind::new("apps", "Deployment"),
        ..secret_key()
    };
    let key = ObjKey {
        name: "web".into(),
        ..key
    };
    let d = t.get(&key).unwrap();
    d.value["spec"]["template"]["spec"]["imagePullSecrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_pulling_target_gets_the_secret_redacted_in_status_healed_and_rotated() {
    let f = fixture(true, false);
    f.engine.pass().await;
    assert_eq!(live_password(&f.target).as_deref(), Some("pw-team/web"));
    assert_eq!(pull_secrets(&f.target), ["mine", "ferry-pull-web"]);
    let asked = f.credentials.asked.lock().unwrap().clone();
    let (app, env, repos) = &asked[0];
    assert_eq!((app.as_str(), env.as_str()), ("web", "dev"));
    assert_eq!(repos.iter().collect::<Vec<_>>(), ["team/web"]);
    let st = f.engine.get("web").unwrap();
    assert_eq!(st.environments[0].sync, SyncState::Synced, "{st:?}");

    // Someone edits the Secret on the target: OutOfSync, the diff names
    // the key but never a value, and self-heal puts it back.
    let mut edited = f.target.get(&secret_key()).unwrap();
    edited.value["data"][".dockerconfigjson"] = Value::String("c3RvbGVu".into());
    f.target.put(edited);
    f.engine.pass().await;
    // The status keeps the diff the pass saw before it healed.
    let st = serde_json::to_string(&f.engine.get("web").unwrap()).unwrap();
    assert!(
        st.contains("data..dockerconfigjson") && st.contains("++++++++"),
        "{st}"
    );
    assert!(!st.contains("c3RvbGVu") && !st.contains("pw-team"), "{st}");
    assert_eq!(live_password(&f.target).as_deref(), Some("pw-team/web"));

    // The app pulls from one more repository: a new login in the Secret.
    let two = format!(
        "{}      - {{name: side, image: '{REG}/team/side:1'}}\n",
        deployment(&format!("{REG}/team/web:1"))
    );
    commit(&f.repo, &[("k8s/web.yaml", &two)], "sidecar");
    f.engine.trigger_repo(&[f.repo.display().to_string()]);
    f.engine.pass().await;
    assert_eq!(
        live_password(&f.target).as_deref(),
        Some("pw-team/side+team/web")
    );
    assert_eq!(pull_secrets(&f.target), ["mine", "ferry-pull-web"]);
}

#[tokio::test]
async fn an_embedded_target_or_an_open_registry_gets_no_secret() {
    for (pulls, open) in [(false, false), (true, true)] {
        let f = fixture(pulls, open);
        f.engine.pass().await;
        assert!(
            f.target.get(&secret_key()).is_none(),
            "pulls {pulls} open {open}"
        );
        assert_eq!(pull_secrets(&f.target), ["mine"]);
        let st = f.engine.get("web").unwrap();
        assert_eq!(st.environments[0].sync, SyncState::Synced, "{st:?}");
        let asked = f.credentials.asked.lock().unwrap().len();
        assert_eq!(
            asked > 0,
            pulls,
            "credentials asked only for a pulling target"
        );
    }
}
