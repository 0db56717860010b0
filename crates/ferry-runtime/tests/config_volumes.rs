//! ConfigMap as a file and as environment, Secret as a file; a changed
//! ConfigMap reaches the mounted file of a running pod.

mod common;

use std::time::Duration;

use common::*;

const CONFIG: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello, mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
type: Opaque
data: {password: czNjcjN0}
stringData: {user: admin}
---
apiVersion: v1
kind: Pod
metadata: {name: reader, labels: {app: reader}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: tools:1
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: USER_NAME, valueFrom: {secretKeyRef: {name: creds, key: user}}}
    envFrom: [{configMapRef: {name: settings}, prefix: CFG_}]
    volumeMounts:
    - {name: cfg, mountPath: /etc/settings}
    - {name: sec, mountPath: /etc/creds}
  volumes:
  - {name: cfg, configMap: {name: settings}}
  - {name: sec, secret: {secretName: creds}}
"#;

async fn run(env: &Env, cmd: &str) -> String {
    let out = env
        .rt
        .exec(
            "default",
            "reader",
            None,
            &["sh".into(), "-c".into(), cmd.into()],
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{cmd}: {out:?}");
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_as_file_and_env_secret_as_file() {
    let env = env().await;
    apply(&env.rt, CONFIG);
    wait("reader running", Duration::from_secs(60), || {
        pods(&env.rt, "reader")
            .first()
            .filter(|p| ready(p))
            .map(|_| ())
    })
    .await;
    assert_eq!(run(&env, "cat /etc/settings/greeting").await, "hello");
    assert_eq!(
        run(&env, "echo $GREETING $POD $USER_NAME $CFG_mode").await,
        "hello reader admin fast\n"
    );
    assert_eq!(run(&env, "cat /etc/creds/password").await, "s3cr3t");
    assert_eq!(run(&env, "cat /etc/creds/user").await, "admin");
    let denied = env
        .rt
        .exec(
            "default",
            "reader",
            None,
            &[
                "sh".into(),
                "-c".into(),
                "echo x > /etc/settings/greeting".into(),
            ],
        )
        .await
        .unwrap();
    assert_ne!(denied.exit_code, 0, "configMap volumes are read-only");

    apply(
        &env.rt,
        &CONFIG.replace("greeting: hello", "greeting: bonjour"),
    );
    let mut seen = String::new();
    for _ in 0..100 {
        seen = run(&env, "cat /etc/settings/greeting").await;
        if seen == "bonjour" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, "bonjour", "the mounted file follows the ConfigMap");
    env.rt.shutdown().await;
}
