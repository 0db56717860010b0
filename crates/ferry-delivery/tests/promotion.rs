//! Branching and promotion through the engine with real git and two
//! regions' in-memory targets; the registries are stood in for by a set of
//! (registry, image, tag) the test "pushes" and "replicates" into.

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

fn topology(repo: &Path, manual: bool) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: shanghai}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: prod, labels: {{stage: prod}}}}\nspec: {{region: shanghai}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: myhero}}\nspec: {{source: {{repoUrl: '{}', path: k8s}}}}
---
apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: myhero}}
spec:
  application: myhero
  buildRegion: uk
  images: [{{name: myhero/data, context: data}}]
  rules:
  - {{branch: dev, imageTag: 'dev-{{sha7}}', environments: {{matchLabels: {{stage: dev}}}}}}
  - {{branch: master, imageTag: 'prod-{{sha7}}', environments: {{matchLabels: {{stage: prod}}}}, manualApproval: {manual}}}
  - {{branch: 'feature/*', imageTag: 'feat-{{sha7}}', ephemeralRegion: uk}}
",
        repo.display()
    );
    Topology::from_sources(&[("t.yaml".into(), text)]).unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    repo: std::path::PathBuf,
    uk: MemoryTarget,
    sh: MemoryTarget,
    regs: Arc<Registries>,
    engine: Engine,
}

fn world(manual: bool) -> World {
    world_with(|repo| topology(repo, manual))
}

fn world_with(topology: impl Fn(&Path) -> Topology) -> World {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("k8s")).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("k8s/data.yaml"), DEPLOY).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    git(&repo, &["branch", "dev"]);
    let regs = Arc::new(Registries::default());
    let engine = Engine::new(
        EngineConfig::new(dir.path().join("s")),
        Arc::new(topology(&repo)),
        Default::default(),
        regs.clone(),
    )
    .unwrap();
    let (uk, sh) = (MemoryTarget::new(), MemoryTarget::new());
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(uk.clone()),
            registry: "uk.reg:5000".into(),
        },
    );
    engine.add_region(
        "shanghai",
        RegionTarget {
            target: Arc::new(sh.clone()),
            registry: "sh.reg:5000".into(),
        },
    );
    World {
        _dir: dir,
        repo,
        uk,
        sh,
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

fn env<'a>(
    s: &'a ferry_delivery::status::AppStatus,
    name: &str,
) -> &'a ferry_delivery::status::EnvStatus {
    s.environments
        .iter()
        .find(|e| e.environment == name)
        .unwrap()
}

#[tokio::test]
async fn dev_and_master_deploy_only_images_present_in_their_region() {
    let w = world(false);
    let master = git(&w.repo, &["rev-parse", "master"]);
    let sha7 = &master[..7];
    w.engine.pass().await;
    // Nothing built yet: neither region deploys.
    let st = w.engine.get("myhero").unwrap();
    assert!(
        env(&st, "dev")
            .waiting
            .as_deref()
            .unwrap()
            .contains(&format!("myhero/data:dev-{sha7}"))
    );
    assert!(w.uk.all().is_empty() && w.sh.all().is_empty());
    // Built and pushed in uk: dev deploys from uk's registry.
    w.regs
        .push("uk.reg:5000", "myhero/data", &format!("dev-{sha7}"));
    w.regs
        .push("uk.reg:5000", "myhero/data", &format!("prod-{sha7}"));
    w.engine.pass().await;
    assert_eq!(
        image(&w.uk),
        Some(format!("uk.reg:5000/myhero/data:dev-{sha7}"))
    );
    // prod-* is not in shanghai until replication: never deployed there.
    assert!(w.sh.all().is_empty());
    let st = w.engine.get("myhero").unwrap();
    assert!(
        env(&st, "prod")
            .waiting
            .as_deref()
            .unwrap()
            .contains("not in region `shanghai`")
    );
    // Replicated: shanghai deploys from its own registry.
    w.regs
        .push("sh.reg:5000", "myhero/data", &format!("prod-{sha7}"));
    w.engine.pass().await;
    assert_eq!(
        image(&w.sh),
        Some(format!("sh.reg:5000/myhero/data:prod-{sha7}"))
    );
    let runs = w.engine.runs();
    let prod = runs
        .iter()
        .find(|r| r.git_ref == "master" && r.image_tag == format!("prod-{sha7}"))
        .unwrap_or_else(|| panic!("{runs:?}"));
    // The run shows replication to shanghai, done once the image arrived.
    let step = prod
        .steps
        .iter()
        .find(|s| s.name == "replicate to shanghai")
        .unwrap_or_else(|| panic!("{prod:?}"));
    assert_eq!(step.state, ferry_delivery::pipeline::StepState::Succeeded);
    let dev = runs.iter().find(|r| r.git_ref == "dev").unwrap();
    assert!(
        dev.steps.iter().all(|s| !s.name.starts_with("replicate")),
        "{dev:?}"
    );
}

#[tokio::test]
async fn manual_approval_gates_prod() {
    let w = world(true);
    let master = git(&w.repo, &["rev-parse", "master"]);
    w.regs.push(
        "sh.reg:5000",
        "myhero/data",
        &format!("prod-{}", &master[..7]),
    );
    w.engine.pass().await;
    let st = w.engine.get("myhero").unwrap();
    assert!(
        env(&st, "prod")
            .waiting
            .as_deref()
            .unwrap()
            .contains("ferry app promote")
    );
    assert!(w.sh.all().is_empty());
    let approved = w.engine.promote("myhero", Some("prod")).unwrap();
    assert_eq!(approved, [("prod".to_string(), master.clone())]);
    w.engine.pass().await;
    assert!(image(&w.sh).is_some());
}

#[tokio::test]
async fn feature_branch_gets_and_loses_its_environment() {
    let w = world(false);
    git(&w.repo, &["branch", "feature/login"]);
    let sha = git(&w.repo, &["rev-parse", "feature/login"]);
    w.regs
        .push("uk.reg:5000", "myhero/data", &format!("feat-{}", &sha[..7]));
    w.engine.pass().await;
    let ns: Vec<_> =
        w.uk.all()
            .into_iter()
            .filter(|o| o.group_kind.kind == "Namespace")
            .map(|o| o.name)
            .collect();
    assert_eq!(ns, ["myhero-feature-login"]);
    assert!(
        w.uk.all()
            .iter()
            .any(|o| o.namespace.as_deref() == Some("myhero-feature-login"))
    );
    git(&w.repo, &["branch", "-D", "feature/login"]);
    w.engine.trigger_repo(&[w.repo.display().to_string()]);
    w.engine.pass().await;
    assert!(
        w.uk.all()
            .iter()
            .all(|o| o.namespace.as_deref() != Some("myhero-feature-login")
                && o.name != "myhero-feature-login")
    );
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
