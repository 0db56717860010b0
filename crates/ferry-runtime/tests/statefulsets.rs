//! StatefulSets on real pods, after the Kubernetes docs' StatefulSet Basics
//! tutorial: `web-0` Running and Ready before `web-1` is created; every pod
//! reaches `web-0.nginx` (and the longer names) through the headless
//! Service and gets web-0's own answer; scale-down removes the highest
//! ordinal first; a partitioned rolling update replaces only the ordinals
//! at or above the partition, highest first; immutable fields are refused;
//! a claim template's data outlives the StatefulSet.

mod common;

use std::time::Duration;

use common::*;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

/// The headless Service `nginx` and StatefulSet `web`: busybox httpd on
/// 8080 answering `<pod name> <version>`.
fn web(replicas: u32, version: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: nginx}}\nspec:\n  clusterIP: None\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080, name: web}}]\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: web}}\nspec:\n  serviceName: nginx\n  replicas: {replicas}\n{extra_spec}  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: tools:1\n        command: [sh, -c, 'mkdir -p /tmp/www && echo \"$HOSTNAME {version}\" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']\n        ports: [{{containerPort: 8080, name: http}}]\n        readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}\n"
    )
}

fn pod(env: &Env, name: &str) -> Option<Value> {
    env.rt.get(Kind::Pod, "default", name).ok()
}

fn is_ready(env: &Env, name: &str) -> bool {
    pod(env, name).is_some_and(|p| ready(&p) && p["metadata"]["deletionTimestamp"].is_null())
}

fn revision(p: &Value) -> String {
    p["metadata"]["labels"]["controller-revision-hash"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// GETs `http://host:port/` from inside pod `from` with busybox nc.
async fn fetch_from(env: &Env, from: &str, host: &str, port: u16) -> Option<String> {
    let script =
        format!("printf 'GET / HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' | nc -w 2 {host} {port}");
    let cmd: Vec<String> = vec!["sh".into(), "-c".into(), script];
    let out = env.rt.exec("default", from, None, &cmd).await.ok()?;
    let (head, body) = out.stdout.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.to_string())
}

/// Fetches until an answer comes (listeners open a moment after a pod starts).
async fn answer(env: &Env, from: &str, host: &str) -> String {
    let what = format!("{host} from {from}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(b) = fetch_from(env, from, host, 80).await {
            return b;
        }
        assert!(std::time::Instant::now() < deadline, "no answer: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for web-0..web-(n-1) all ready, checking on the way that no
/// ordinal appears before the one below it is Running and Ready.
async fn ordered_start(env: &Env, n: usize) {
    let mut seen = vec![false; n];
    wait("ordered start", Duration::from_secs(90), || {
        for (i, seen) in seen.iter_mut().enumerate() {
            if !*seen && pod(env, &format!("web-{i}")).is_some() {
                *seen = true;
                if i > 0 {
                    assert!(
                        is_ready(env, &format!("web-{}", i - 1)),
                        "web-{i} was created before web-{} was ready",
                        i - 1
                    );
                }
            }
        }
        (0..n)
            .all(|i| is_ready(env, &format!("web-{i}")))
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_pods_with_stable_names_scale_down_from_the_top() {
    let env = env().await;
    apply(&env.rt, &format!("{}---\n{TOOLS}", web(3, "v1", "")));
    ordered_start(&env, 3).await;
    let p = pod(&env, "web-1").unwrap();
    assert_eq!(p["spec"]["hostname"], "web-1");
    assert_eq!(p["spec"]["subdomain"], "nginx");
    assert_eq!(
        p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
        "web-1"
    );
    assert_eq!(p["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "1");
    wait("tools running", Duration::from_secs(30), || {
        pod(&env, "tools").filter(|p| p["status"]["phase"] == "Running")
    })
    .await;
    // Each name reaches exactly its pod, from every other pod.
    for from in ["tools", "web-1", "web-2"] {
        assert_eq!(
            answer(&env, from, "web-0.nginx").await,
            "web-0 v1\n",
            "{from}"
        );
    }
    let long = "web-2.nginx.default.svc.cluster.local";
    assert_eq!(answer(&env, "tools", long).await, "web-2 v1\n");
    assert_eq!(
        answer(&env, "web-0", "web-1.nginx.default").await,
        "web-1 v1\n"
    );
    assert!(answer(&env, "tools", "nginx").await.starts_with("web-"));
    let sts = env.rt.get(Kind::StatefulSet, "default", "web").unwrap();
    assert_eq!(sts["status"]["readyReplicas"], 3);
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );

    // Scale to 1: web-2 goes (and is gone) before web-1 is touched.
    env.rt
        .scale_kind(Kind::StatefulSet, "default", "web", 1)
        .unwrap();
    wait(
        "web-2 and web-1 gone, in order",
        Duration::from_secs(60),
        || {
            let two = pod(&env, "web-2");
            if pod(&env, "web-1").is_some_and(|p| !p["metadata"]["deletionTimestamp"].is_null()) {
                assert!(two.is_none(), "web-1 deleted while web-2 still exists");
            }
            (two.is_none() && pod(&env, "web-1").is_none()).then_some(())
        },
    )
    .await;
    assert!(is_ready(&env, "web-0"));
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_rolling_update_goes_highest_first_above_the_partition() {
    let env = env().await;
    apply(&env.rt, &web(3, "v1", ""));
    ordered_start(&env, 3).await;
    let old = revision(&pod(&env, "web-0").unwrap());
    // Immutable fields are refused with Kubernetes' text, nothing applied.
    let bad = web(3, "v1", "  podManagementPolicy: Parallel\n");
    let err = env
        .rt
        .apply(&[("web.yaml".into(), bad)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"),
        "{err}"
    );
    let partition = "  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}\n";
    apply(&env.rt, &web(3, "v2", partition));
    // Record the order in which ordinals reach the new revision.
    let mut order: Vec<String> = Vec::new();
    let new = wait("web-2 and web-1 updated", Duration::from_secs(90), || {
        let sts = env.rt.get(Kind::StatefulSet, "default", "web").ok()?;
        let new = sts["status"]["updateRevision"].as_str()?.to_string();
        if new == old {
            return None;
        }
        for n in ["web-2", "web-1", "web-0"] {
            if pod(&env, n).is_some_and(|p| revision(&p) == new) && !order.iter().any(|o| o == n) {
                order.push(n.to_string());
            }
        }
        (is_ready(&env, "web-1") && is_ready(&env, "web-2") && order.len() >= 2).then_some(new)
    })
    .await;
    assert_ne!(new, old);
    assert_eq!(order, ["web-2", "web-1"]);
    assert_eq!(
        revision(&pod(&env, "web-0").unwrap()),
        old,
        "below the partition"
    );
    assert_eq!(answer_local(&env, "web-2").await, "web-2 v2\n");
    assert_eq!(answer_local(&env, "web-0").await, "web-0 v1\n");
    let sts = env.rt.get(Kind::StatefulSet, "default", "web").unwrap();
    assert_eq!(sts["status"]["currentRevision"], old.as_str());
    assert_eq!(sts["status"]["updatedReplicas"], 2);
    assert_eq!(sts["status"]["currentReplicas"], 1);
    env.rt.shutdown().await;
}

/// What pod `name` serves, asked inside it.
async fn answer_local(env: &Env, name: &str) -> String {
    let script = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 8080";
    let cmd: Vec<String> = vec!["sh".into(), "-c".into(), script.into()];
    let out = env.rt.exec("default", name, None, &cmd).await.unwrap();
    out.stdout.split_once("\r\n\r\n").unwrap().1.to_string()
}

const DB: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  replicas: 1\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: db\n        image: tools:1\n        command: [sh, -c, '[ -f /data/first ] || echo \"$HOSTNAME $RANDOM$RANDOM\" > /data/first; exec sleep 3600']\n        volumeMounts: [{name: data, mountPath: /data}]\n  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources: {requests: {storage: 64Mi}}\n";

/// `/data/first` in pod db-0 once it is ready.
async fn first_line(env: &Env) -> String {
    wait("db-0 ready", Duration::from_secs(60), || {
        is_ready(env, "db-0").then_some(())
    })
    .await;
    let cmd: Vec<String> = ["cat", "/data/first"].map(String::from).to_vec();
    let out = env.rt.exec("default", "db-0", None, &cmd).await.unwrap();
    assert!(out.stdout.starts_with("db-0 "), "{out:?}");
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claims_data_outlives_its_statefulset() {
    let env = env().await;
    apply(&env.rt, DB);
    let first = first_line(&env).await;
    let claim = env
        .rt
        .get(Kind::PersistentVolumeClaim, "default", "data-db-0")
        .unwrap();
    assert_eq!(claim["metadata"]["labels"]["app"], "db");
    let p = pod(&env, "db-0").unwrap();
    assert_eq!(
        p["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "data-db-0"
    );
    env.rt.delete(Kind::StatefulSet, "default", "db").unwrap();
    wait("db-0 gone", Duration::from_secs(60), || {
        pod(&env, "db-0").is_none().then_some(())
    })
    .await;
    let kept = env
        .rt
        .get(Kind::PersistentVolumeClaim, "default", "data-db-0");
    assert!(kept.is_ok_and(|c| c["metadata"]["deletionTimestamp"].is_null()));
    apply(&env.rt, DB);
    assert_eq!(
        first_line(&env).await,
        first,
        "the new db-0 sees the old data"
    );
    env.rt.shutdown().await;
}
