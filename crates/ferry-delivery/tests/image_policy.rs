//! Image automation through the engine with real git and the in-memory
//! target: an `imagePolicies` semver range follows new tags in the
//! region's registry (stood in for by a set of (registry, image, tag) the
//! test "pushes" into) without a commit. The branching and promotion
//! scenarios run against both targets in ferry-kube's `tests/scenarios`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ferry_core::topology::Topology;
use ferry_delivery::images::ImageCheck;
use ferry_delivery::render::images_of;
use ferry_delivery::target::{BoxFuture, MemoryTarget};
use ferry_delivery::{Engine, EngineConfig, RegionTarget};
use ferry_test_support::git;

#[derive(Debug, Default)]
struct Registries(Mutex<BTreeSet<(String, String, String)>>);

impl Registries {
    fn push(&self, registry: &str, name: &str, tag: &str) {
        self.0
            .lock()
            .unwrap()
            .insert((registry.into(), name.into(), tag.into()));
    }
}

impl ImageCheck for Registries {
    fn present<'a>(
        &'a self,
        registry: &'a str,
        name: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, ferry_delivery::Result<bool>> {
        let found = self.0.lock().unwrap().contains(&(
            registry.to_string(),
            name.to_string(),
            tag.to_string(),
        ));
        Box::pin(async move { Ok(found) })
    }

    fn tags<'a>(
        &'a self,
        registry: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, ferry_delivery::Result<Vec<String>>> {
        let tags = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, n, _)| r == registry && n == name)
            .map(|(_, _, t)| t.clone())
            .collect();
        Box::pin(async move { Ok(tags) })
    }
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: data}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: data}}\n  template:\n    metadata: {labels: {app: data}}\n    spec:\n      containers:\n      - {name: data, image: 'myhero/data:latest'}\n";

struct World {
    _dir: tempfile::TempDir,
    uk: MemoryTarget,
    regs: Arc<Registries>,
    engine: Engine,
}

fn world_with(topology: impl Fn(&Path) -> Topology) -> World {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("k8s")).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("k8s/data.yaml"), DEPLOY).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    let regs = Arc::new(Registries::default());
    let engine = Engine::new(
        EngineConfig::new(dir.path().join("s")),
        Arc::new(topology(&repo)),
        Default::default(),
        regs.clone(),
    )
    .unwrap();
    let uk = MemoryTarget::new();
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(uk.clone()),
            registry: "uk.reg:5000".into(),
        },
    );
    World {
        _dir: dir,
        uk,
        regs,
        engine,
    }
}

fn image(t: &MemoryTarget) -> Option<String> {
    t.all()
        .iter()
        .find(|o| o.group_kind.kind == "Deployment")
        .map(|o| images_of(&o.value)[0].clone())
}

#[tokio::test]
async fn image_policy_follows_new_tags_without_a_commit() {
    let w = world_with(|repo| {
        let text = format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev}}\nspec: {{region: uk}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: myhero}}
spec:
  source: {{repoUrl: '{}', path: k8s}}
  imagePolicies: [{{image: myhero/data, semver: '>=1.0, <2'}}]
",
            repo.display()
        );
        Topology::from_sources(&[("t.yaml".into(), text)]).unwrap()
    });
    for t in ["1.0.0", "1.2.0", "2.0.0", "latest"] {
        w.regs.push("uk.reg:5000", "myhero/data", t);
    }
    w.engine.pass().await;
    assert_eq!(
        image(&w.uk).as_deref(),
        Some("uk.reg:5000/myhero/data:1.2.0")
    );
    // A new tag inside the range is deployed on the next pass (a registry
    // event wakes the engine and drops the cached tag list).
    w.regs.push("uk.reg:5000", "myhero/data", "1.3.0");
    w.engine.clear_tag_cache();
    w.engine.pass().await;
    assert_eq!(
        image(&w.uk).as_deref(),
        Some("uk.reg:5000/myhero/data:1.3.0")
    );
    let history = w.engine.history("myhero").unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.trigger, "image", "{history:?}");
    assert_eq!(last.images, ["uk.reg:5000/myhero/data:1.3.0"]);
}
