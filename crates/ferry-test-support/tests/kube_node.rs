//! A real node: a Deployment whose image comes from a host loopback
//! registry runs under containerd and runc inside the test's network
//! namespace, answers on its pod IP there, and nothing is left once the
//! node is dropped.

use ferry_test_support::kube_node::{KubeNode, push_rootfs};
use ferry_test_support::peers_dir;

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn a_pod_pulled_from_a_loopback_registry_serves_inside_the_namespace() {
    let node = KubeNode::start(&[]);
    let image = format!("{}/app:1", node.registry());
    push_rootfs(
        node.cluster().dir(),
        &peers_dir().join("k8s/images/app-root"),
        &image,
        &[
            "--entrypoint=/bin/busybox",
            "--cmd=httpd,-f,-p,8080,-h,/www",
        ],
    );
    let c = node.cluster();
    c.apply_text(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\n\
         spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: c, image: \"{image}\"}}]}}\n"
    ));
    let out = c.kubectl(&["rollout", "status", "deploy/web", "--timeout=120s"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ip = c.kubectl(&[
        "get",
        "pod",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].status.podIP}",
    ]);
    let ip = text(&ip.stdout);
    assert!(ip.starts_with("10.244.0."), "pod IP {ip:?}");
    let body = node.exec(&["curl", "-sf", &format!("http://{ip}:8080/")]);
    assert_eq!(
        text(&body.stdout).trim(),
        "hello from k8s-peers pod",
        "{}",
        text(&body.stderr)
    );
    // The pod's address exists only inside the namespace.
    let host = std::process::Command::new("ip")
        .args(["-o", "addr"])
        .output()
        .unwrap();
    assert!(
        !text(&host.stdout).contains(&ip),
        "pod IP visible on the host"
    );
    let ns = node.netns().name().to_string();
    let sock = node
        .cluster()
        .dir()
        .join("run/containerd/containerd.sock")
        .display()
        .to_string();
    drop(node);
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(
        !text(&netns.stdout).contains(&ns),
        "namespace {ns} left behind"
    );
    let shims = std::process::Command::new("pgrep")
        .args(["-f", &sock])
        .output()
        .unwrap();
    assert!(
        text(&shims.stdout).trim().is_empty(),
        "processes left: {}",
        text(&shims.stdout)
    );
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains("ferry-test-"), "mounts left behind");
}
