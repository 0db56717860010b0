//! Scale benchmark (run by bench/delivery.sh): N applications of 3 objects
//! each, from one real git repository, synced to an in-memory target; then
//! full reconcile passes with nothing changed are timed, and the process's
//! peak RSS is read from /proc.
//!
//! Usage: scale [APPS]   (default 1000)

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use ferry_core::topology::Topology;
use ferry_delivery::images::AnyImage;
use ferry_delivery::target::MemoryTarget;
use ferry_delivery::{Engine, EngineConfig, RegionTarget};

fn git(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("git")
        .args([
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "-c",
            "init.defaultBranch=master",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

fn rss_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let mut topo = String::from(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec: {region: uk}\n",
    );
    for i in 0..n {
        let d = repo.join(format!("apps/a{i}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("all.yaml"),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a{i}}}\ndata: {{k: v}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: a{i}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: a{i}}}}}\n  template:\n    metadata: {{labels: {{app: a{i}}}}}\n    spec:\n      containers:\n      - {{name: c, image: 'busybox:1', ports: [{{containerPort: 80}}]}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: a{i}}}\nspec: {{selector: {{app: a{i}}}, ports: [{{port: 80}}]}}\n"
            ),
        )
        .unwrap();
        topo.push_str(&format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: a{i}}}\nspec: {{source: {{repoUrl: '{}', path: apps/a{i}}}, syncPolicy: {{selfHeal: true, prune: true}}}}\n",
            repo.display()
        ));
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "apps"]);
    let topology = Topology::from_sources(&[("scale.yaml".into(), topo)]).expect("topology");
    let engine = Engine::new(
        EngineConfig::new(dir.path().join("state")),
        Arc::new(topology),
        Default::default(),
        Arc::new(AnyImage),
    )
    .expect("engine");
    let target = MemoryTarget::new();
    engine.add_region(
        "uk",
        RegionTarget {
            target: Arc::new(target.clone()),
            registry: "127.0.0.1:5000".into(),
        },
    );
    let t = Instant::now();
    engine.pass().await;
    let first = t.elapsed();
    assert_eq!(target.all().len(), 3 * n, "every object applied");
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        engine.pass().await;
        times.push(t.elapsed().as_secs_f64());
    }
    assert_eq!(target.applies(), n, "no-change passes applied nothing");
    times.sort_by(f64::total_cmp);
    println!(
        "apps={n} objects={} first_sync_pass_s={:.3} nochange_pass_median_s={:.3} nochange_pass_max_s={:.3} rss_mb={:.1} peak_rss_mb={:.1}",
        3 * n,
        first.as_secs_f64(),
        times[times.len() / 2],
        times[times.len() - 1],
        rss_kb("VmRSS:") as f64 / 1024.0,
        rss_kb("VmHWM:") as f64 / 1024.0
    );
}
