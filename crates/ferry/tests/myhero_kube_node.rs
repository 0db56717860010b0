//! Issue 19, the tutorial on a real node: the myhero manifests
//! (`examples/myhero/k8s`, only the registry host changed) delivered by
//! `ferry up` through an Application to an Environment whose target is a
//! real Kubernetes node (kubelet + containerd + runc, kube-proxy and
//! CoreDNS, all inside the test's network namespace). Images are built
//! with ferry and pushed to the region's loopback registry; the
//! Application's sync waits for them there. myhero's services find each
//! other by Service name, so a vote in queue mode (app → mosca → ernst →
//! data) counted in the results shows cluster DNS and ClusterIP Services
//! working from pods; a probe pod in another namespace resolves
//! `<svc>.<ns>` and `<svc>.<ns>.svc.cluster.local` but not the bare name.
//! The Ingress is applied but the node runs no ingress controller, so the
//! tutorial's calls go from inside the namespace to the app's ClusterIP
//! (same `key` header) and to the UI's NodePort. kube-proxy's rules exist
//! only in the namespace: the host's iptables and ip_forward stay as they
//! were, and nothing of the node is left after it is dropped. Needs root,
//! the Kubernetes test peers and Debian's mosquitto.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::myhero::{MANIFESTS, build_and_push_images, manifest};
use common::up;
use ferry_test_support::kube_node::{DNS_IP, KubeNode, NODE_IP, host_netfilter, nslookup_answers};
use ferry_test_support::{free_addr, git, git_commit, poll, temp_dir};
use serde_json::Value;

/// A region `uk` with a plain registry, Environment `dev` on the node's
/// cluster and Application `myhero` from a git repository of the six
/// manifests.
fn topology(dir: &Path, node: &KubeNode, registry: SocketAddr) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let files: Vec<(String, String)> = MANIFESTS
        .iter()
        .map(|m| (format!("k8s/myhero-{m}.yml"), manifest(m, registry)))
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (&**p, &**t)).collect();
    git_commit(&repo, &files, "myhero");
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  dataDir: {data}\n  \
         listeners: {{api: {api}, registry: {registry}, gateway: {gw}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\n\
         spec: {{region: uk, target: {{kubernetes: {{kubeconfig: '{kubeconfig}', context: ferry-test}}}}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: myhero}}\nspec:\n  \
         source: {{repoUrl: '{repo}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  \
         syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n",
        data = dir.join("uk").display(),
        api = free_addr(),
        gw = free_addr(),
        kubeconfig = node.cluster().kubeconfig().display(),
        repo = repo.display(),
    );
    let topo = dir.join("topology.yaml");
    std::fs::write(&topo, text).unwrap();
    topo
}

/// `kubectl -n NS get WHAT -o jsonpath=PATH`, when it succeeds.
fn get(node: &KubeNode, ns: &str, what: &str, path: &str) -> Option<String> {
    let jsonpath = format!("jsonpath={path}");
    let out = node
        .cluster()
        .kubectl(&["-n", ns, "get", what, "-o", &jsonpath]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `curl -X METHOD http://ADDR/PATH` with myhero's app key, from inside the
/// node's namespace: the body of a 2xx answer.
fn call(node: &KubeNode, method: &str, addr: &str, path: &str) -> Option<String> {
    let url = format!("http://{addr}{path}");
    let out = node.exec(&[
        "curl",
        "-sf",
        "-m",
        "5",
        "-X",
        method,
        "-H",
        "key: SecureApp",
        &url,
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A pod in `default` (the UI image's busybox) that fetches the app's
/// options by three names and writes how each went to its termination
/// message, which the kubelet reports in the pod's status.
fn dns_probe(registry: SocketAddr) -> String {
    let script = "for n in myhero-app.dev myhero-app.dev.svc.cluster.local myhero-app; do \
        if /bin/busybox wget -qO /dev/null --header 'key: SecureApp' http://$n/options; \
        then echo $n ok; else echo $n failed; fi; done >/dev/termination-log";
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "dns-probe", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "probe",
                "image": format!("{registry}/myhero/ui:v1"),
                "command": ["/bin/busybox", "sh", "-c", script],
            }],
        },
    })
    .to_string()
}

#[test]
fn tutorial_runs_from_ferry_on_a_real_node_with_services_and_dns() {
    let started = Instant::now();
    let host_before = host_netfilter();
    let dir = temp_dir();
    let registry = free_addr();
    let node = KubeNode::builder()
        .mirrors(&[registry])
        .cluster_dns(true)
        .start();
    eprintln!(
        "node, kube-proxy and CoreDNS ready in {:?}",
        started.elapsed()
    );
    let topo = topology(dir.path(), &node, registry);
    let (ferry_up, _api) = up(&topo, dir.path());
    let built = Instant::now();
    build_and_push_images(dir.path(), registry);
    eprintln!("images built and pushed in {:?}", built.elapsed());

    // The tutorial's calls to the app's ClusterIP, as through the Ingress.
    let app_ip = poll("myhero-app's ClusterIP", Duration::from_secs(120), || {
        get(&node, "dev", "svc/myhero-app", "{.spec.clusterIP}").filter(|ip| !ip.is_empty())
    });
    let app = format!("{app_ip}:80");
    let options = poll("the app's options", Duration::from_secs(240), || {
        call(&node, "GET", &app, "/options").filter(|b| b.contains("Deadpool"))
    });
    eprintln!("app answering {:?} after the push", built.elapsed());
    let options: Value = serde_json::from_str(&options).unwrap();
    assert!(
        options["options"].as_array().unwrap().len() >= 10,
        "{options}"
    );

    // Queue mode: the app publishes to myhero-mosca, ernst records each
    // vote in myhero-data — every hop by Service name through CoreDNS and
    // kube-proxy. Until the broker answers, submissions fail and nothing
    // is counted; three submitted votes must be counted.
    let mut submitted = 0;
    poll("three votes submitted", Duration::from_secs(120), || {
        let r = call(&node, "POST", &app, "/vote/Deadpool").unwrap_or_default();
        if r.contains("vote submitted") {
            submitted += 1;
        }
        (submitted == 3).then_some(())
    });
    poll(
        "three votes in the results",
        Duration::from_secs(60),
        || {
            let r: Value = serde_json::from_str(&call(&node, "GET", &app, "/v2/results")?).ok()?;
            r.as_array()?
                .iter()
                .any(|row| row[0] == "Deadpool" && row[1].as_u64() >= Some(3))
                .then_some(())
        },
    );

    // The UI's three versions behind its NodePort on the node IP.
    let port = get(&node, "dev", "svc/myhero-ui", "{.spec.ports[0].nodePort}").unwrap();
    let ui = format!("{NODE_IP}:{port}");
    let mut seen = std::collections::BTreeSet::new();
    poll("all three UI versions", Duration::from_secs(120), || {
        let page = call(&node, "GET", &ui, "/").unwrap_or_default();
        for (v, heading) in [
            ("v1", "ONE voice"),
            ("v2", "TWO voices"),
            ("v3", "THREE voices"),
        ] {
            if page.contains(heading) {
                seen.insert(v);
            }
        }
        (seen.len() == 3).then_some(())
    });

    // Cluster DNS: kube-dns answers with the Service's ClusterIP, and a pod
    // elsewhere reaches the app by namespace-qualified names only.
    let fqdn = "myhero-app.dev.svc.cluster.local";
    let answer = node.exec(&["busybox", "nslookup", fqdn, DNS_IP]);
    assert_eq!(
        nslookup_answers(&String::from_utf8_lossy(&answer.stdout)),
        [app_ip.as_str()]
    );
    node.cluster().apply_text(&dns_probe(registry));
    let report = poll("the DNS probe to finish", Duration::from_secs(90), || {
        let path = "{.status.containerStatuses[0].state.terminated.message}";
        get(&node, "default", "pod/dns-probe", path).filter(|m| !m.is_empty())
    });
    assert_eq!(
        report,
        "myhero-app.dev ok\nmyhero-app.dev.svc.cluster.local ok\nmyhero-app failed\n"
    );

    // kube-proxy's rules live in the namespace only.
    assert_eq!(host_netfilter(), host_before, "kube-proxy touched the host");
    let ns = node.netns().name().to_string();
    let state = node.cluster().dir().display().to_string();
    drop(ferry_up);
    drop(node);
    assert_eq!(
        host_netfilter(),
        host_before,
        "the host changed after the node"
    );
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(&ns),
        "{ns} left behind"
    );
    assert!(
        processes_naming(&state).is_empty(),
        "processes of the node left"
    );
    eprintln!("whole test {:?}", started.elapsed());
}

/// Processes whose command line names `path` (the node's state directory:
/// kubelet, containerd and its shims, kube-proxy, CoreDNS).
fn processes_naming(path: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(path) {
            found.push(cmdline);
        }
    }
    found
}
