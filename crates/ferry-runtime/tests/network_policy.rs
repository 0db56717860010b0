//! NetworkPolicy enforced on real pods at ferry's per-pod Service
//! listeners: a client reaches a server through its Service; a policy
//! denying all ingress to the server refuses it; a policy allowing pods
//! labelled `role=client` on the server's named port lets the labelled
//! client through while an unlabelled pod stays refused; a namespace
//! selector lets a pod of another namespace in; an egress policy on the
//! client blocks it again. Each change holds for the next connection,
//! without restarting a pod. A bad policy is refused at apply with its
//! field path.

mod common;

use std::time::Duration;

use common::*;
use ferry_runtime::Runtime;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

const PODS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team, labels: {team: a}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, labels: {app: client, role: client}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: tools, image: 'tools:1'}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: other, labels: {app: other}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: tools, image: 'tools:1'}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: remote, namespace: team, labels: {app: remote}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: tools, image: 'tools:1'}]\n";

const DENY_INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: server-deny-all}\nspec:\n  podSelector: {matchLabels: {app: server}}\n  policyTypes: [Ingress]\n";

const ALLOW_CLIENTS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: server-allow-clients}\nspec:\n  podSelector: {matchLabels: {app: server}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {role: client}}\n    ports:\n    - port: http\n";

const ALLOW_TEAM: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: server-allow-team}\nspec:\n  podSelector: {matchLabels: {app: server}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {team: a}}\n    ports: [{port: 8080, protocol: TCP}]\n";

const CLIENT_NO_EGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: client-deny-egress}\nspec:\n  podSelector: {matchLabels: {role: client}}\n  policyTypes: [Egress]\n";

/// GETs `http://host/` from pod `ns/pod` with busybox nc; the body on a
/// 200 answer, `None` when the connection was refused or closed.
async fn get(rt: &Runtime, ns: &str, pod: &str, host: &str) -> Option<String> {
    let script =
        format!("printf 'GET / HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' | nc -w 2 {host} 80");
    let cmd: Vec<String> = vec!["sh".into(), "-c".into(), script];
    let out = rt.exec(ns, pod, None, &cmd).await.ok()?;
    let (head, body) = out.stdout.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.to_string())
}

/// Polls until `ns/pod` reaching the server gives `reached` (true: the
/// server's answer), within 20 s.
async fn expect(rt: &Runtime, ns: &str, pod: &str, reached: bool, what: &str) {
    let host = "server.default";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = get(rt, ns, pod, host).await;
        if got.as_deref().is_some_and(|b| b == "v1\n") == reached {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {ns}/{pod} got {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn running(rt: &Runtime, ns: &str, name: &str) -> bool {
    rt.list(Kind::Pod, Some(ns)).iter().any(|p| {
        p.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
            && p.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_policy_denies_then_allows() {
    let env = env().await;
    let rt = &env.rt;
    apply(rt, &format!("{}---\n{PODS}", web("server", 1, "v1")));
    wait("a ready server", Duration::from_secs(60), || {
        pods(rt, "server").iter().any(ready).then_some(())
    })
    .await;
    wait("clients running", Duration::from_secs(30), || {
        let all = [
            ("default", "client"),
            ("default", "other"),
            ("team", "remote"),
        ];
        all.iter().all(|(ns, p)| running(rt, ns, p)).then_some(())
    })
    .await;
    // No policy: everyone reaches the server.
    expect(rt, "default", "client", true, "no policy").await;
    expect(rt, "default", "other", true, "no policy").await;
    expect(rt, "team", "remote", true, "no policy").await;
    assert_eq!(rt.network_policy_refusals(), 0);

    apply(rt, DENY_INGRESS);
    expect(rt, "default", "client", false, "deny all ingress").await;
    expect(rt, "default", "other", false, "deny all ingress").await;
    assert!(rt.network_policy_refusals() > 0);

    apply(rt, ALLOW_CLIENTS);
    expect(rt, "default", "client", true, "allowed role=client").await;
    expect(rt, "default", "other", false, "unlabelled pod").await;
    expect(rt, "team", "remote", false, "other namespace").await;

    apply(rt, ALLOW_TEAM);
    expect(rt, "team", "remote", true, "namespace selector").await;
    expect(rt, "default", "other", false, "not in the namespace").await;

    apply(rt, CLIENT_NO_EGRESS);
    expect(rt, "default", "client", false, "client egress denied").await;
    expect(rt, "team", "remote", true, "others unaffected").await;

    let bad = format!("{ALLOW_CLIENTS}    - {{endPort: 9000}}\n");
    let err = rt
        .apply(&[("bad.yaml".to_string(), bad)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(err.contains("spec.ingress[0].ports[1].endPort"), "{err}");

    env.rt.shutdown().await;
}
