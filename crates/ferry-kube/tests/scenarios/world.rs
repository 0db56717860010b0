//! The world the delivery scenarios run in, whatever the target: a git
//! repository with the myhero pipeline (branch `dev` → environment `dev`
//! in region uk, `master` → `prod` in shanghai, `feature/*` → an ephemeral
//! environment in uk), the regions' registries ([`Registries`]), the
//! engine, and each region's [`Cluster`] — the `Target` the engine syncs
//! to, and a way to read back what is deployed there that does not go
//! through the target's own listing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::objects::GroupKind;
use ferry_core::topology::Topology;
use ferry_delivery::object::ObjKey;
use ferry_delivery::render::images_of;
use ferry_delivery::status::EnvStatus;
use ferry_delivery::target::{BoxFuture, Target};
use ferry_delivery::{Engine, EngineConfig, RegionTarget};
use ferry_test_support::{git, git_commit};
use serde_json::Value;

use crate::registries::Registries;

pub const APP: &str = "myhero";
pub const IMAGE: &str = "myhero/data";
pub const UK_REGISTRY: &str = "uk.reg:5000";
pub const SH_REGISTRY: &str = "sh.reg:5000";
/// How long a scenario waits for the engine to get somewhere (a
/// Deployment on a kwok node takes a few seconds on a busy machine).
const PATIENCE: Duration = Duration::from_secs(90);

/// One region's cluster as the scenarios see it.
pub trait Cluster: Send + Sync {
    /// The target the engine syncs this region to.
    fn target(&self) -> Arc<dyn Target>;
    /// The live object under `key` (also while it is being deleted).
    fn get<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Option<Value>>;
    /// Creates an object as another tool would (never applied by ferry).
    fn create_foreign(&self, value: Value) -> BoxFuture<'_, ()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Uk,
    Shanghai,
}

impl Region {
    pub fn registry(self) -> &'static str {
        match self {
            Region::Uk => UK_REGISTRY,
            Region::Shanghai => SH_REGISTRY,
        }
    }
}

/// What the `master` → `prod` rule waits for besides its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    None,
    ManualApproval,
    HealthyInDev,
}

pub fn deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: data}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: data}}}}\n  template:\n    metadata: {{labels: {{app: data}}}}\n    spec:\n      containers:\n      - {{name: data, image: '{IMAGE}:latest'}}\n"
    )
}

pub const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: data}\nspec:\n  selector: {app: data}\n  ports: [{port: 80}]\n";

fn topology(repo: &std::path::Path, gate: Gate) -> Topology {
    let gate = match gate {
        Gate::None => "",
        Gate::ManualApproval => ", manualApproval: true",
        Gate::HealthyInDev => ", requiresHealthyIn: dev",
    };
    let listeners = "{listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}";
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {listeners}
---
apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: shanghai}}\nspec: {listeners}
---
apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: prod, labels: {{stage: prod}}}}\nspec: {{region: shanghai}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: {APP}}}
spec:
  source: {{repoUrl: '{}', path: k8s}}
  syncPolicy: {{automated: true, prune: true}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: {APP}}}
spec:
  application: {APP}
  buildRegion: uk
  images: [{{name: {IMAGE}, context: data}}]
  rules:
  - {{branch: dev, imageTag: 'dev-{{sha7}}', environments: {{matchLabels: {{stage: dev}}}}}}
  - {{branch: master, imageTag: 'prod-{{sha7}}', environments: {{matchLabels: {{stage: prod}}}}{gate}}}
  - {{branch: 'feature/*', imageTag: 'feat-{{sha7}}', ephemeralRegion: uk}}
",
        repo.display()
    );
    Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap()
}

/// The key of `kind/name` (Deployment in apps/v1, the rest in v1).
pub fn key(kind: &str, namespace: Option<&str>, name: &str) -> ObjKey {
    let api = if kind == "Deployment" {
        "apps/v1"
    } else {
        "v1"
    };
    ObjKey {
        group_kind: GroupKind::of(api, kind),
        namespace: namespace.map(str::to_string),
        name: name.into(),
    }
}

pub struct World {
    pub repo: PathBuf,
    /// The first commit: `master` and `dev` both point at it.
    pub first: String,
    pub registries: Arc<Registries>,
    pub engine: Engine,
    uk: Arc<dyn Cluster>,
    shanghai: Arc<dyn Cluster>,
    _dir: tempfile::TempDir,
}

impl World {
    /// The repository (a Dockerfile under `data/`, the Deployment and the
    /// Service under `k8s/`), `dev` branched from `master`, and an engine
    /// syncing uk to `uk` and shanghai to `shanghai`.
    pub fn new(gate: Gate, uk: Arc<dyn Cluster>, shanghai: Arc<dyn Cluster>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q"]);
        let files = [
            ("data/Dockerfile", "FROM scratch\nCOPY VERSION /\n"),
            ("data/VERSION", "1\n"),
            ("k8s/data.yaml", &deployment(1)),
            ("k8s/svc.yaml", SERVICE),
        ];
        let first = git_commit(&repo, &files, "one");
        git(&repo, &["branch", "dev"]);
        let registries = Arc::new(Registries::default());
        let engine = Engine::new(
            EngineConfig::new(dir.path().join("state")),
            Arc::new(topology(&repo, gate)),
            Default::default(),
            registries.clone(),
        )
        .unwrap();
        for (name, region, cluster) in [
            ("uk", Region::Uk, &uk),
            ("shanghai", Region::Shanghai, &shanghai),
        ] {
            let target = cluster.target();
            let registry = region.registry().to_string();
            engine.add_region(name, RegionTarget { target, registry });
        }
        World {
            repo,
            first,
            registries,
            engine,
            uk,
            shanghai,
            _dir: dir,
        }
    }

    fn cluster(&self, region: Region) -> &dyn Cluster {
        match region {
            Region::Uk => self.uk.as_ref(),
            Region::Shanghai => self.shanghai.as_ref(),
        }
    }

    /// Commits `files` on `branch` (an empty text deletes the file).
    pub fn commit_on(&self, branch: &str, files: &[(&str, &str)], msg: &str) -> String {
        git(&self.repo, &["checkout", "-q", branch]);
        let sha = git_commit(&self.repo, files, msg);
        self.engine.trigger_repo(&[self.repo.display().to_string()]);
        sha
    }

    /// Runs git in the repository (branch made or deleted) and tells the
    /// engine, as a push webhook would.
    pub fn git(&self, args: &[&str]) -> String {
        let out = git(&self.repo, args);
        self.engine.trigger_repo(&[self.repo.display().to_string()]);
        out
    }

    /// Pushes the image `<prefix>-<sha7 of commit>` into `region`'s registry
    /// (a build there, or replication into it).
    pub fn push(&self, region: Region, prefix: &str, commit: &str) {
        let tag = format!("{prefix}-{}", &commit[..7]);
        self.registries.push(region.registry(), IMAGE, &tag);
    }

    /// The reference the engine deploys for that image in `region`.
    pub fn reference(region: Region, prefix: &str, commit: &str) -> String {
        format!("{}/{IMAGE}:{prefix}-{}", region.registry(), &commit[..7])
    }

    /// The live object `kind/name` in `region`.
    pub async fn get(
        &self,
        region: Region,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.cluster(region).get(&key(kind, ns, name)).await
    }

    pub async fn exists(&self, region: Region, kind: &str, ns: Option<&str>, name: &str) -> bool {
        self.get(region, kind, ns, name).await.is_some()
    }

    /// The image of Deployment `data` in namespace `ns` of `region`.
    pub async fn image(&self, region: Region, ns: &str) -> Option<String> {
        let d = self.get(region, "Deployment", Some(ns), "data").await?;
        images_of(&d).into_iter().next()
    }

    /// The replicas of Deployment `data` in namespace `ns` of `region`.
    pub async fn replicas(&self, region: Region, ns: &str) -> Option<u64> {
        let d = self.get(region, "Deployment", Some(ns), "data").await?;
        d.pointer("/spec/replicas").and_then(Value::as_u64)
    }

    /// Creates `value` in `region` as another tool would.
    pub async fn create_foreign(&self, region: Region, value: Value) {
        self.cluster(region).create_foreign(value).await
    }

    /// The engine's status of environment `env` (None: not an environment
    /// of the app, or not reconciled yet).
    pub fn env(&self, env: &str) -> Option<EnvStatus> {
        let st = self.engine.get(APP).unwrap();
        st.environments.into_iter().find(|e| e.environment == env)
    }

    /// Why `env` waits (panics, showing its status, when it does not).
    pub fn waiting(&self, env: &str) -> String {
        let st = self.env(env);
        let why = st.as_ref().and_then(|e| e.waiting.clone());
        why.unwrap_or_else(|| panic!("`{env}` is not waiting: {st:#?}"))
    }

    /// One reconcile pass.
    pub async fn pass(&self) {
        self.engine.pass().await;
    }

    /// Runs passes until `check` holds; panics naming `what`, with the
    /// engine's status, after the deadline.
    pub async fn settle(&self, what: &str, check: impl AsyncFn() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.pass().await;
            if check().await {
                return;
            }
            if Instant::now() > deadline {
                let st = self.engine.get(APP).unwrap();
                panic!("timed out after {PATIENCE:?} waiting for {what}; status: {st:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
