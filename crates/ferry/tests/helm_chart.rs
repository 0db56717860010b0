//! Issue 20's chart test: `examples/charts/webapp` — what `helm create`
//! writes (ServiceAccount, Deployment with an autoscaling/v2 HPA, Service,
//! Ingress) plus a ConfigMap — rendered by `helm template` (the pinned Helm
//! from the peers directory) inside `ferry up` and applied unchanged, with
//! only a values file of the test's own (image, port, the ConfigMap's file
//! mounted under the web root, a CPU request, autoscaling and the Ingress
//! turned on).
//!
//! On the embedded runtime the app becomes Synced and Healthy: the HPA
//! raises the Deployment to its `minReplicas`, the pods run as the chart's
//! ServiceAccount and serve the ConfigMap's file through the region's
//! gateway at the Ingress's host. On a real Kubernetes node the same
//! render gives the same healthy app: the same objects, the same two pods
//! serving the same file, and — with metrics-server and an Ingress
//! controller (Traefik) on the node, as a real cluster has them — the HPA
//! reading the pods' CPU and the Ingress published at the node's address
//! and answering for its host there; ferry reports every object Healthy.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{cli, ferry, ok, text, up_with, via_gateway};
use ferry_test_support::kube_node::{INGRESS_HTTP, KubeNode, NODE_IP};
use ferry_test_support::{free_addr, git, git_commit, peers_dir, poll, temp_dir};
use serde_json::Value;

const GREETING: &str = "hello from the chart's ConfigMap";

/// The test's values: everything else is the chart's default.
fn values(registry: &str) -> String {
    format!(
        "image: {{repository: {registry}/charts/webapp, tag: v1}}\n\
         service: {{port: 8080}}\n\
         config: {{greeting: \"{GREETING}\"}}\n\
         volumes: [{{name: config, configMap: {{name: webapp}}}}]\n\
         volumeMounts: [{{name: config, mountPath: /www/config}}]\n\
         resources: {{requests: {{cpu: 50m, memory: 16Mi}}}}\n\
         autoscaling: {{enabled: true, minReplicas: 2, maxReplicas: 4}}\n\
         ingress: {{enabled: true}}\n"
    )
}

/// A git repository holding the chart under `chart/` and the test's values.
fn chart_repo(dir: &Path, registry: &str) -> PathBuf {
    let repo = dir.join("repo");
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/charts/webapp");
    let mut files = Vec::new();
    collect(&chart, &chart, &mut files);
    files.push(("chart/ferry-values.yaml".into(), values(registry)));
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    git_commit(&repo, &files, "the webapp chart");
    repo
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap().display();
            out.push((
                format!("chart/{rel}"),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

/// Region `uk`, environment `dev` (on `target` when given) and the
/// Application rendering the chart with Helm.
fn topology(
    dir: &Path,
    repo: &Path,
    registry: &str,
    gateway: SocketAddr,
    target: Option<&str>,
) -> PathBuf {
    let target = target.map_or(String::new(), |t| format!(", target: {t}"));
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  dataDir: {data}\n  \
         listeners: {{api: {api}, registry: {registry}, gateway: {gw}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\n\
         spec: {{region: uk{target}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: webapp}}\nspec:\n  \
         source: {{repoUrl: '{repo}', path: chart}}\n  render: {{kind: helm, valueFiles: [ferry-values.yaml]}}\n  \
         environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n",
        data = dir.join("uk").display(),
        api = free_addr(),
        gw = gateway,
        repo = repo.display(),
    );
    let topo = dir.join("topology.yaml");
    std::fs::write(&topo, text).unwrap();
    topo
}

/// `ferry up` with the pinned Helm first on `PATH`.
fn up_with_helm(topo: &Path, dir: &Path) -> (ferry_test_support::Proc, String) {
    let peers = peers_dir();
    assert!(
        peers.join("helm").is_file(),
        "helm is missing: run scripts/setup.sh --test-peers"
    );
    let mut cmd = ferry();
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", peers.display()));
    up_with(topo, dir, cmd)
}

/// Builds the busybox httpd image (serving /www) and pushes it.
fn push_image(dir: &Path, registry: &str) {
    let out = ferry()
        .args([
            "image", "build", "--httpd", "v1", "--port", "8080", "--push", "-t",
        ])
        .arg(format!("{registry}/charts/webapp:v1"))
        .env("FERRY_IMAGE_STORE", dir.join("images"))
        .output()
        .unwrap();
    assert!(out.status.success(), "push: {}", text(&out));
}

/// The app's status in `dev`: (sync, health, the objects' entries).
fn app_status(api: &str) -> Option<(String, String, Vec<Value>)> {
    let out = cli(api, &["app", "get", "webapp", "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let env = v["environments"].as_array()?.first()?.clone();
    let objects = env["objects"].as_array().cloned().unwrap_or_default();
    Some((
        env["sync"].as_str()?.to_string(),
        env["health"].as_str()?.to_string(),
        objects,
    ))
}

/// An object status's kind.
fn kind_of(o: &Value) -> &str {
    o["key"]["group_kind"]["kind"].as_str().unwrap_or_default()
}

const KINDS: [&str; 6] = [
    "ServiceAccount",
    "ConfigMap",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Ingress",
];

#[test]
fn the_chart_runs_unchanged_on_the_embedded_runtime() {
    let dir = temp_dir();
    let registry = free_addr().to_string();
    let repo = chart_repo(dir.path(), &registry);
    let gateway = free_addr();
    let topo = topology(dir.path(), &repo, &registry, gateway, None);
    let (_up, api) = up_with_helm(&topo, dir.path());
    push_image(dir.path(), &registry);

    let last = std::cell::RefCell::new(None);
    poll(
        "webapp Synced and Healthy",
        Duration::from_secs(180),
        || {
            let s = app_status(&api);
            *last.borrow_mut() = s.clone();
            let (sync, health, _) = s?;
            (sync == "Synced" && health == "Healthy").then_some(())
        },
    );
    let (_, _, objects) = last.into_inner().unwrap();
    for kind in KINDS {
        assert!(
            objects.iter().any(|o| kind_of(o) == kind),
            "{kind} missing from {objects:#?}"
        );
    }

    // The HPA raised the Deployment (no replicas in the chart) to 2.
    let deploy = |api: &str| -> Value {
        let out = ok(cli(
            api,
            &["get", "deploy/webapp", "-n", "dev", "-o", "json"],
        ));
        serde_json::from_str(&out).unwrap()
    };
    poll("two ready replicas", Duration::from_secs(90), || {
        (deploy(&api)["status"]["readyReplicas"] == 2).then_some(())
    });
    let hpa = ok(cli(&api, &["get", "hpa", "-n", "dev"]));
    assert!(
        hpa.contains("Deployment/webapp") && hpa.contains("cpu:"),
        "{hpa}"
    );

    // Pods run as the chart's ServiceAccount and serve its ConfigMap.
    let pods: Value =
        serde_json::from_str(&ok(cli(&api, &["get", "pods", "-n", "dev", "-o", "json"]))).unwrap();
    for p in pods["items"].as_array().unwrap() {
        assert_eq!(p["spec"]["serviceAccountName"], "webapp", "{p}");
    }
    let gateway = gateway.to_string();
    let body = poll(
        "the Ingress host answering",
        Duration::from_secs(60),
        || {
            via_gateway(
                &gateway,
                "chart-example.local",
                "GET",
                "/config/greeting",
                None,
            )
        },
    );
    assert_eq!(body, GREETING);
}

/// `kubectl -n dev get WHAT -o jsonpath=PATH`, when it succeeds.
fn kget(node: &KubeNode, what: &str, path: &str) -> Option<String> {
    let jsonpath = format!("jsonpath={path}");
    let out = node
        .cluster()
        .kubectl(&["-n", "dev", "get", what, "-o", &jsonpath]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_same_render_gives_the_same_app_on_a_kubernetes_node() {
    let dir = temp_dir();
    let registry_addr = free_addr();
    let registry = registry_addr.to_string();
    let node = KubeNode::builder()
        .mirrors(&[registry_addr])
        .metrics_server(true)
        .ingress_controller(true)
        .start();
    let repo = chart_repo(dir.path(), &registry);
    let target = format!(
        "{{kubernetes: {{kubeconfig: '{}', context: ferry-test}}}}",
        node.cluster().kubeconfig().display()
    );
    let topo = topology(dir.path(), &repo, &registry, free_addr(), Some(&target));
    let (_up, api) = up_with_helm(&topo, dir.path());
    push_image(dir.path(), &registry);

    // The HPA controller raises the Deployment to minReplicas there too.
    let ips = poll("two pods Running", Duration::from_secs(240), || {
        let ready = kget(&node, "deploy/webapp", "{.status.readyReplicas}")?;
        let ips = kget(&node, "pods", "{.items[*].status.podIP}")?;
        (ready == "2").then_some(ips)
    });
    let accounts = kget(&node, "pods", "{.items[*].spec.serviceAccountName}").unwrap();
    let names = kget(&node, "pods", "{.items[*].metadata.name}").unwrap();
    assert_eq!(accounts, "webapp webapp", "{names}");
    for ip in ips.split_whitespace() {
        let out = node.exec(&["curl", "-sf", &format!("http://{ip}:8080/config/greeting")]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), GREETING, "pod {ip}");
    }

    // Synced and Healthy, every object: the HPA reads the pods' CPU through
    // metrics-server, the Ingress has the controller's address.
    let objects = poll(
        "webapp Synced and Healthy on the node",
        Duration::from_secs(180),
        || {
            let (sync, health, objects) = app_status(&api)?;
            (sync == "Synced" && health == "Healthy").then_some(objects)
        },
    );
    for kind in KINDS {
        let o = objects.iter().find(|o| kind_of(o) == kind);
        let o = o.unwrap_or_else(|| panic!("{kind} missing: {objects:#?}"));
        assert_eq!(o["health"], "Healthy", "{kind}: {objects:#?}");
    }
    eprintln!(
        "HPA on the node: {:?}",
        kget(&node, "hpa/webapp", "{.status}")
    );
    poll("the HPA's CPU reading", Duration::from_secs(90), || {
        let path = "{.status.currentMetrics[0].resource.current.averageUtilization}";
        kget(&node, "hpa/webapp", path)?.parse::<u32>().ok()
    });
    let address = kget(
        &node,
        "ingress/webapp",
        "{.status.loadBalancer.ingress[0].ip}",
    );
    assert_eq!(address.as_deref(), Some(NODE_IP));
    let url = format!("http://{INGRESS_HTTP}/config/greeting");
    let body = poll(
        "the Ingress host answering on the node",
        Duration::from_secs(60),
        || {
            let out = node.exec(&["curl", "-sf", "-H", "Host: chart-example.local", &url]);
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        },
    );
    assert_eq!(body, GREETING);
}
