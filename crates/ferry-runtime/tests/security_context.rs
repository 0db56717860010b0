//! `securityContext` and the image's USER decide who a container runs as
//! (uid, gid, supplementary groups, fsGroup-owned volumes, read-only root,
//! no-new-privileges); runAsNonRoot refuses a root image with a clear
//! reason; every pod has a pids limit; Secret volumes live on a tmpfs that
//! is gone with the pod, and the files holding Secrets are private.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use ferry_image::build::{Entry, Layer, busybox};
use ferry_runtime::kinds::Kind;
use serde_json::Value;

/// Builds `app:1`: busybox whose USER is `app` (uid 1000, also in group 50).
fn build_app_image(env: &Env) {
    let oci = ferry_runtime::OciImages::open(env.dir.path().join("runtime/images")).unwrap();
    let mut l = Layer::new();
    let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n";
    let group = "root:x:0:\napp:x:1000:\nstaff:x:50:app\n";
    for (path, text) in [("/etc/passwd", passwd), ("/etc/group", group)] {
        let data = text.as_bytes().to_vec();
        l.insert(path, Entry::Data { data, mode: 0o644 }).unwrap();
    }
    busybox::busybox_image()
        .unwrap()
        .layer(l)
        .user("app")
        .cmd(["sleep", "3600"])
        .build(&oci.store, Some("app:1"))
        .unwrap();
}

async fn running(env: &Env, pod: &str) -> Value {
    wait(&format!("{pod} running"), Duration::from_secs(60), || {
        let p = env.rt.get(Kind::Pod, "default", pod).ok()?;
        p.pointer("/status/containerStatuses/0/state/running")?;
        Some(p)
    })
    .await
}

async fn sh(env: &Env, pod: &str, cmd: &str) -> (i32, String) {
    let cmd: Vec<String> = vec!["sh".into(), "-c".into(), cmd.into()];
    let out = env.rt.exec("default", pod, None, &cmd).await.unwrap();
    (out.exit_code, format!("{}{}", out.stdout, out.stderr))
}

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: as-image, labels: {app: as-image}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: 'app:1'}]
---
apiVersion: v1
kind: Pod
metadata: {name: as-set, labels: {app: as-set}}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 2000, runAsGroup: 3000, fsGroup: 4000, supplementalGroups: [5000]}
  containers:
  - name: app
    image: tools:1
    securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: rooty, labels: {app: rooty}}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true}
  containers: [{name: app, image: 'tools:1'}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_user_and_security_context_are_honoured() {
    let env = env().await;
    build_app_image(&env);
    apply(&env.rt, PODS);
    running(&env, "as-image").await;
    assert_eq!(sh(&env, "as-image", "id -u").await, (0, "1000\n".into()));
    assert_eq!(sh(&env, "as-image", "id -G").await, (0, "1000 50\n".into()));

    running(&env, "as-set").await;
    assert_eq!(
        sh(&env, "as-set", "id -u; id -g").await,
        (0, "2000\n3000\n".into())
    );
    let (_, groups) = sh(&env, "as-set", "id -G").await;
    assert_eq!(groups, "3000 4000 5000\n");
    let (code, _) = sh(&env, "as-set", "touch /rootfs-write").await;
    assert_ne!(code, 0, "readOnlyRootFilesystem");
    let (code, owner) = sh(&env, "as-set", "touch /data/f && stat -c %g /data/f").await;
    assert_eq!(
        (code, owner.as_str()),
        (0, "4000\n"),
        "fsGroup owns the volume"
    );
    let (_, nnp) = sh(&env, "as-set", "grep NoNewPrivs /proc/self/status").await;
    assert!(nnp.contains('1'), "allowPrivilegeEscalation false: {nnp}");

    let msg = wait("rooty refused", Duration::from_secs(60), || {
        let p = env.rt.get(Kind::Pod, "default", "rooty").ok()?;
        let w = p.pointer("/status/containerStatuses/0/state/waiting")?;
        (w["reason"] == "CreateContainerConfigError").then(|| w["message"].to_string())
    })
    .await;
    assert!(
        msg.contains("runAsNonRoot and image will run as root"),
        "{msg}"
    );
    env.rt.shutdown().await;
}

const SECRET_POD: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cr3t}
---
apiVersion: v1
kind: Pod
metadata: {name: holder, labels: {app: holder}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: tools:1
    volumeMounts: [{name: sec, mountPath: /etc/creds}]
  volumes: [{name: sec, secret: {secretName: creds}}]
"#;

/// Mount points under `dir` with their filesystem type.
fn mounts_under(dir: &std::path::Path) -> Vec<(PathBuf, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|l| {
            let point = PathBuf::from(l.split(' ').nth(4)?);
            let fstype = l.split(" - ").nth(1)?.split(' ').next()?.to_string();
            point.starts_with(dir).then_some((point, fstype))
        })
        .collect()
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pids_limit_secret_tmpfs_and_private_files() {
    let env = env().await;
    apply(&env.rt, SECRET_POD);
    let pod = running(&env, "holder").await;
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    assert_eq!(
        sh(&env, "holder", "cat /etc/creds/password").await.1,
        "s3cr3t"
    );

    let pids = PathBuf::from("/sys/fs/cgroup/pids/ferry").join(&uid);
    if std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap().trim().to_string();
        assert_eq!(read(pids.join("pids.max")), "1024", "the pod's limit");
        assert_eq!(read(pids.join("app/pids.max")), "1024", "the container's");
    }

    let data = env.dir.path().join("runtime");
    let pod_dir = data.join("pods").join(&uid);
    let secret_dir = pod_dir.join("volumes/sec");
    assert!(
        mounts_under(&pod_dir).contains(&(secret_dir.clone(), "tmpfs".into())),
        "the secret volume is a tmpfs: {:?}",
        mounts_under(&pod_dir)
    );
    assert_eq!(mode(&pod_dir), 0o700, "the pod directory holds Secrets");
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    let config = pod_dir.join("containers/app/config.json");
    assert_eq!(mode(&config), 0o600, "config.json holds the environment");

    env.rt.delete(Kind::Pod, "default", "holder").unwrap();
    wait("pod directory removed", Duration::from_secs(30), || {
        (!pod_dir.exists()).then_some(())
    })
    .await;
    assert_eq!(mounts_under(&pod_dir), vec![], "nothing leaked");

    // Shutdown unmounts a running pod's secret tmpfs too.
    apply(&env.rt, SECRET_POD);
    running(&env, "holder").await;
    env.rt.shutdown().await;
    assert_eq!(mounts_under(&data), vec![], "nothing leaked at shutdown");
}
