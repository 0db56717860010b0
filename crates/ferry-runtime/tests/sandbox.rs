//! The pod sandbox holds: each attack of issue 17 aimed at a harmless path
//! under the test's temporary directory. A `..` subPath or `items[].path`
//! and `capabilities.add: [SYS_ADMIN]` are refused at apply; a symlink
//! planted in a volume cannot carry a subPath mount outside it; the default
//! seccomp profile denies `unshare`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use ferry_runtime::kinds::Kind;

/// Waits up to `secs` for `path` to appear (the attack landing).
async fn appears(path: &Path, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    path.exists()
}

fn try_apply(env: &Env, text: &str) -> Result<(), String> {
    env.rt
        .apply(&[("attack.yaml".to_string(), text.to_string())])
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotdot_subpath_and_item_path_are_refused() {
    let env = env().await;
    let escape = env.dir.path().join("escape");
    std::fs::create_dir_all(&escape).unwrap();
    // <tmp>/runtime/pods/<uid>/volumes/<vol>/ + 5 x `..` = <tmp>.
    let pod = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {x: landed}
---
apiVersion: v1
kind: Pod
metadata: {name: climber, labels: {app: climber}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: tools:1
    command: [sh, -c, "echo pwned > /mnt/pwned; sleep 3600"]
    volumeMounts: [{name: work, mountPath: /mnt, subPath: ../../../../../escape}]
  volumes:
  - {name: work, emptyDir: {}}
  - name: cfg
    configMap: {name: cm, items: [{key: x, path: ../../../../../escape/cm}]}
"#;
    match try_apply(&env, pod) {
        Ok(()) => {
            let sub = appears(&escape.join("pwned"), 30).await;
            let item = appears(&escape.join("cm"), 5).await;
            env.rt.shutdown().await;
            panic!(
                "ATTACK: apply accepted; subPath wrote outside: {sub}, items[].path wrote outside: {item}"
            );
        }
        Err(e) => {
            assert!(
                e.contains("attack.yaml: document 1 (Pod/climber): field `spec.containers[0].volumeMounts[0].subPath`"),
                "{e}"
            );
            assert!(e.contains("spec.volumes[1].configMap.items[0].path"), "{e}");
        }
    }
    assert!(std::fs::read_dir(&escape).unwrap().next().is_none());
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinked_subpath_cannot_escape_the_volume() {
    let env = env().await;
    let outside = env.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let pod = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: linker, labels: {{app: linker}}}}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: plant
    image: tools:1
    command: [sh, -c, "ln -s {outside} /work/link"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: app
    image: tools:1
    command: [sh, -c, "echo pwned > /mnt/pwned; sleep 3600"]
    volumeMounts: [{{name: work, mountPath: /mnt, subPath: link}}]
  volumes: [{{name: work, emptyDir: {{}}}}]
"#,
        outside = outside.display()
    );
    try_apply(&env, &pod).unwrap();
    let reason = wait("app refused to start", Duration::from_secs(60), || {
        let p = env.rt.get(Kind::Pod, "default", "linker").ok()?;
        let st = p.pointer("/status/containerStatuses/0/state/waiting")?;
        let msg = st["message"].as_str().unwrap_or_default().to_string();
        (st["reason"] == "CreateContainerConfigError").then_some(msg)
    });
    let pwned = outside.join("pwned");
    let escaped = appears(&pwned, 60);
    tokio::select! {
        msg = reason => assert!(msg.contains("subPath"), "{msg}"),
        true = escaped => {
            env.rt.shutdown().await;
            panic!("ATTACK: the subPath followed the planted symlink and wrote {}", outside.join("pwned").display());
        }
    }
    assert!(!outside.join("pwned").exists());
    env.rt.shutdown().await;
}

const CAPS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: admin, namespace: NS, labels: {app: admin}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: tools:1
    securityContext: {capabilities: {add: [SYS_ADMIN]}}
"#;

/// CAP_SYS_ADMIN (bit 21) in the effective set of the container.
async fn has_sys_admin(env: &Env, ns: &str) -> bool {
    wait("admin running", Duration::from_secs(60), || {
        let p = env.rt.get(Kind::Pod, ns, "admin").ok()?;
        p.pointer("/status/containerStatuses/0/state/running")
            .map(|_| ())
    })
    .await;
    let cmd = ["sh", "-c", "grep CapEff /proc/self/status"].map(String::from);
    let out = env.rt.exec(ns, "admin", None, &cmd).await.unwrap();
    let hex = out.stdout.split_whitespace().nth(1).unwrap_or("0");
    u64::from_str_radix(hex, 16).unwrap() & (1 << 21) != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_admin_needs_a_privileged_namespace() {
    let env = env().await;
    match try_apply(&env, &CAPS.replace("NS", "default")) {
        Ok(()) => {
            let granted = has_sys_admin(&env, "default").await;
            env.rt.shutdown().await;
            panic!(
                "ATTACK: capabilities.add SYS_ADMIN accepted without privileged; granted: {granted}"
            );
        }
        Err(e) => {
            assert!(
                e.contains("spec.containers[0].securityContext.capabilities.add"),
                "{e}"
            );
            assert!(
                e.contains("pod-security.kubernetes.io/enforce=privileged"),
                "{e}"
            );
        }
    }
    // A namespace labelled privileged allows it (the operator's choice).
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ops, labels: {pod-security.kubernetes.io/enforce: privileged}}\n---\n";
    try_apply(&env, &format!("{ns}{}", CAPS.replace("NS", "ops"))).unwrap();
    assert!(has_sys_admin(&env, "ops").await);
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_default_seccomp_denies_unshare() {
    let env = env().await;
    apply(&env.rt, TOOLS);
    wait("tools running", Duration::from_secs(60), || {
        pods(&env.rt, "tools")
            .first()
            .filter(|p| ready(p))
            .map(|_| ())
    })
    .await;
    let run = |cmd: &str| {
        let cmd: Vec<String> = vec!["sh".into(), "-c".into(), cmd.into()];
        let rt = env.rt.clone();
        async move { rt.exec("default", "tools", None, &cmd).await.unwrap() }
    };
    let ok = run("echo alive").await;
    assert_eq!(ok.stdout, "alive\n", "a normal workload runs: {ok:?}");
    let denied = run("unshare -U true").await;
    assert_ne!(
        denied.exit_code, 0,
        "ATTACK: unshare(CLONE_NEWUSER) allowed: no seccomp profile"
    );
    assert!(
        denied.stderr.contains("Operation not permitted"),
        "{denied:?}"
    );
    let status = run("grep Seccomp: /proc/self/status").await;
    assert!(
        status.stdout.contains('2'),
        "seccomp filter mode: {status:?}"
    );
    env.rt.shutdown().await;
}
