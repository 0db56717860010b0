//! Flux's MTTP shape against a real API server started here: N apps, each
//! a Deployment scaled to zero, a ServiceAccount, a Service and an Ingress,
//! applied through [`KubeTarget`] with C apps in flight; then a no-change
//! pass (list everything, apply nothing) as the engine's resync does.
//!
//! `cargo run -p ferry-kube --example apply_many -- 1000 16`

use std::sync::Arc;
use std::time::Instant;

use ferry_core::objects::StoredObject;
use ferry_delivery::object::{LABEL_APP, LABEL_ENV, ObjKey, set_label};
use ferry_delivery::target::{ApplyContext, Target};
use ferry_kube::{ClusterSource, KubeTarget};
use ferry_test_support::kube::KubeCluster;
use serde_json::{Value, json};

fn app_objects(ctx: &ApplyContext) -> Vec<StoredObject> {
    let (n, ns) = (ctx.app.as_str(), ctx.namespace.as_str());
    let docs = [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": n, "namespace": ns}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": n, "namespace": ns},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": n}},
                "template": {"metadata": {"labels": {"app": n}},
                    "spec": {"serviceAccountName": n, "containers": [{"name": "app", "image": "127.0.0.1:5000/app:1"}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": n, "namespace": ns},
            "spec": {"selector": {"app": n}, "ports": [{"port": 80}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": n, "namespace": ns},
            "spec": {"rules": [{"host": format!("{n}.example.test"), "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": n, "port": {"number": 80}}}}]}}]}}),
    ];
    docs.into_iter()
        .map(|mut v: Value| {
            set_label(&mut v, LABEL_APP, &ctx.app);
            set_label(&mut v, LABEL_ENV, &ctx.environment);
            let k = ObjKey::of_value(&v).expect("key");
            StoredObject {
                group_kind: k.group_kind,
                namespace: k.namespace,
                name: k.name,
                source: "bench".into(),
                value: v,
            }
        })
        .collect()
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let apps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let in_flight: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let cluster = tokio::task::spawn_blocking(KubeCluster::start_api)
        .await
        .expect("cluster");
    let source = ClusterSource::kubeconfig(cluster.kubeconfig(), Some("ferry-test"));
    let t = Arc::new(KubeTarget::connect(&source).await.expect("connect"));
    let started = Instant::now();
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = Vec::new();
    for i in 0..apps {
        let (t, slots) = (t.clone(), slots.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire().await.expect("semaphore");
            let ctx = ApplyContext {
                app: format!("app-{i}"),
                environment: "prod".into(),
                namespace: "bench".into(),
                force: false,
            };
            t.apply_in(ctx.clone(), app_objects(&ctx))
                .await
                .expect("apply");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let applied = started.elapsed();
    let started = Instant::now();
    let live = t.list(LABEL_APP, "").await.expect("list");
    let listed = started.elapsed();
    assert_eq!(live.len(), apps * 4, "every object listed");
    println!(
        "{apps} apps ({} objects), {in_flight} in flight: applied in {:.2} s ({:.0} objects/s); \
         no-change list of everything {:.2} s; ferry-kube RSS {:.0} MB \
         (Flux's published MTTP: 1,000 apps in 4 m 15 s on 16 cores)",
        apps * 4,
        applied.as_secs_f64(),
        (apps * 4) as f64 / applied.as_secs_f64(),
        listed.as_secs_f64(),
        rss_mb()
    );
}
