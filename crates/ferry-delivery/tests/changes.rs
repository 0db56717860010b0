//! Per-image change detection through the engine, with real git, the
//! in-memory target and a builder that "pushes" into a set of (registry,
//! image, tag): a commit rebuilds and redeploys only the images whose build
//! context it changed, a merge to master builds only the `prod-` tags it
//! lacks, and a restarted engine finds everything built and applied.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::objects::GroupKind;
use ferry_core::topology::Topology;
use ferry_delivery::builder::{BuildRequest, ImageBuilder};
use ferry_delivery::images::ImageCheck;
use ferry_delivery::object::ObjKey;
use ferry_delivery::render::images_of;
use ferry_delivery::target::{BoxFuture, MemoryTarget};
use ferry_delivery::{Engine, EngineConfig, RegionTarget};
use ferry_test_support::git;

const REGISTRY: &str = "uk.reg:5000";

/// The registry and the builder in one: a build "pushes" its reference.
#[derive(Debug, Default)]
struct Registry {
    tags: Mutex<BTreeSet<(String, String)>>,
    built: Mutex<Vec<String>>,
}

impl Registry {
    fn built(&self) -> Vec<String> {
        self.built.lock().unwrap().clone()
    }
}

impl ImageCheck for Registry {
    fn present<'a>(
        &'a self,
        registry: &'a str,
        name: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, ferry_delivery::Result<bool>> {
        let found = registry == REGISTRY
            && self
                .tags
                .lock()
                .unwrap()
                .contains(&(name.to_string(), tag.to_string()));
        Box::pin(async move { Ok(found) })
    }
}

impl ImageBuilder for Registry {
    fn build_push<'a>(
        &'a self,
        req: &'a BuildRequest,
    ) -> BoxFuture<'a, ferry_delivery::Result<String>> {
        let reference = req.reference.clone();
        let rest = reference.strip_prefix(&format!("{REGISTRY}/")).unwrap();
        let (name, tag) = rest.rsplit_once(':').unwrap();
        assert!(req.context.join("Dockerfile").is_file(), "{req:?}");
        self.tags.lock().unwrap().insert((name.into(), tag.into()));
        self.built.lock().unwrap().push(reference.clone());
        req.log.line("STEP 1/1: COPY main /");
        Box::pin(async { Ok("sha256:0".to_string()) })
    }
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - {{name: {name}, image: 'web/{name}:latest'}}\n"
    )
}

fn topology(repo: &Path) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: prod, labels: {{stage: prod}}}}\nspec: {{region: uk}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec: {{source: {{repoUrl: '{}', path: k8s}}}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: web}}
spec:
  application: web
  buildRegion: uk
  images: [{{name: web/a, context: a}}, {{name: web/b, context: b}}]
  rules:
  - {{branch: dev, imageTag: 'dev-{{sha7}}', environments: {{matchLabels: {{stage: dev}}}}}}
  - {{branch: master, imageTag: 'prod-{{sha7}}', environments: {{matchLabels: {{stage: prod}}}}, requiresHealthyIn: dev}}
",
        repo.display()
    );
    Topology::from_sources(&[("t.yaml".into(), text)]).unwrap()
}

struct World {
    dir: tempfile::TempDir,
    repo: std::path::PathBuf,
    target: MemoryTarget,
    registry: Arc<Registry>,
    engine: Engine,
}

/// A repository (master and dev at one commit) and an engine with a builder.
fn world() -> (World, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let c1 = commit(
        &repo,
        &[
            ("k8s/a.yaml", &deployment("a")),
            ("k8s/b.yaml", &deployment("b")),
            ("a/Dockerfile", "FROM scratch\nCOPY main /\n"),
            ("a/main", "a1\n"),
            ("b/Dockerfile", "FROM scratch\nCOPY main /\n"),
            ("b/main", "b1\n"),
        ],
    );
    git(&repo, &["checkout", "-q", "-b", "dev"]);
    let (target, registry) = (MemoryTarget::new(), Arc::new(Registry::default()));
    let engine = engine(dir.path(), &repo, &target, &registry);
    let w = World {
        dir,
        repo,
        target,
        registry,
        engine,
    };
    (w, c1)
}

fn engine(dir: &Path, repo: &Path, target: &MemoryTarget, registry: &Arc<Registry>) -> Engine {
    let engine = Engine::new(
        EngineConfig::new(dir.join("state")),
        Arc::new(topology(repo)),
        Default::default(),
        registry.clone(),
    )
    .unwrap();
    engine.set_builder(registry.clone());
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(target.clone()),
            registry: REGISTRY.into(),
        },
    );
    engine
}

fn commit(dir: &Path, files: &[(&str, &str)]) -> String {
    ferry_test_support::git_commit(dir, files, "c")
}

fn key(env: &str, name: &str) -> ObjKey {
    ObjKey {
        group_kind: GroupKind::of("apps/v1", "Deployment"),
        namespace: Some(env.into()),
        name: name.into(),
    }
}

fn image(w: &World, env: &str, name: &str) -> Option<String> {
    Some(images_of(&w.target.get(&key(env, name))?.value)[0].clone())
}

fn reference(name: &str, tag: &str, commit: &str) -> String {
    format!("{REGISTRY}/web/{name}:{tag}-{}", &commit[..7])
}

/// Runs passes (builds run in the background between them) until `done`.
async fn until(w: &World, what: &str, done: impl Fn(&World) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    w.engine.trigger_repo(&[w.repo.display().to_string()]);
    loop {
        w.engine.pass().await;
        if done(w) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {:?}\nbuilt {:?}",
            w.engine.get("web").unwrap(),
            w.registry.built()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_commit_changing_one_context_rebuilds_and_redeploys_only_that_image() {
    let (w, c1) = world();
    until(&w, "dev and prod to run c1", |w| {
        ["dev", "prod"].iter().all(|env| {
            ["a", "b"]
                .iter()
                .all(|i| image(w, env, i) == Some(reference(i, env, &c1)))
        })
    })
    .await;
    let (built, applied) = (w.registry.built().len(), w.target.applied().len());

    let c2 = commit(&w.repo, &[("a/main", "a2\n")]);
    until(&w, "dev to run a of c2", |w| {
        image(w, "dev", "a") == Some(reference("a", "dev", &c2))
    })
    .await;
    // Only a was built; b keeps its reference and its object is left alone.
    assert_eq!(w.registry.built()[built..], [reference("a", "dev", &c2)]);
    assert_eq!(image(&w, "dev", "b"), Some(reference("b", "dev", &c1)));
    assert_eq!(w.target.applied()[applied..], [key("dev", "a")]);
    // The run of c2 says so, image by image.
    let runs = w.engine.runs();
    let run = runs
        .iter()
        .find(|r| r.commit == c2 && r.git_ref == "dev")
        .unwrap();
    assert_eq!(run.images["web/a"], format!("dev-{}", &c2[..7]));
    assert_eq!(run.images["web/b"], format!("dev-{}", &c1[..7]));
    let step = |name: &str| run.steps.iter().find(|s| s.name == name).unwrap();
    assert!(
        step("build web/a")
            .message
            .as_deref()
            .unwrap()
            .starts_with("pushed"),
        "{run:?}"
    );
    assert!(
        step("build web/b")
            .message
            .as_deref()
            .unwrap()
            .starts_with("unchanged"),
        "{run:?}"
    );
    // The build's own lines are in its step's log, between start and push.
    let log: Vec<&str> = step("build web/a")
        .log
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log[0].starts_with("Running: uk.reg:5000/web/a:dev-"),
        "{log:?}"
    );
    assert_eq!(log[1], "STEP 1/1: COPY main /");
    assert!(log[2].starts_with("Succeeded: pushed "), "{log:?}");

    // A restarted engine computes the same tags from git: it finds every
    // image built and every object applied.
    let (built, applied) = (w.registry.built().len(), w.target.applied().len());
    let again = engine(w.dir.path(), &w.repo, &w.target, &w.registry);
    again.pass().await;
    again.pass().await;
    let dev = again.get("web").unwrap().environments[0].clone();
    assert_eq!(dev.synced_revision.as_deref(), Some(c2.as_str()), "{dev:?}");
    assert_eq!(w.registry.built().len(), built);
    assert_eq!(w.target.applied().len(), applied);
}

#[tokio::test]
async fn merge_to_master_builds_only_the_prod_tags_it_lacks() {
    let (w, c1) = world();
    until(&w, "prod to run c1", |w| {
        ["a", "b"]
            .iter()
            .all(|i| image(w, "prod", i) == Some(reference(i, "prod", &c1)))
    })
    .await;
    // On dev: a changes, then a commit touching neither image.
    let c2 = commit(&w.repo, &[("a/main", "a2\n")]);
    let c3 = commit(&w.repo, &[("README", "docs\n")]);
    until(&w, "dev to sync c3", |w| {
        let st = w.engine.get("web").unwrap();
        st.environments
            .iter()
            .any(|e| e.environment == "dev" && e.synced_revision.as_deref() == Some(c3.as_str()))
    })
    .await;
    assert_eq!(image(&w, "dev", "a"), Some(reference("a", "dev", &c2)));
    let built = w.registry.built().len();
    // The merge: a's prod tag names c2, which master never pointed at, so
    // it is built (from master's head); b's names c1 and exists.
    git(&w.repo, &["branch", "-f", "master", "dev"]);
    until(&w, "prod to run a of c2", |w| {
        image(w, "prod", "a") == Some(reference("a", "prod", &c2))
    })
    .await;
    assert_eq!(w.registry.built()[built..], [reference("a", "prod", &c2)]);
    assert_eq!(image(&w, "prod", "b"), Some(reference("b", "prod", &c1)));
}
