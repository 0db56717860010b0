//! PersistentVolumeClaims with real pods (runc, root): data written to a
//! claim survives the pod's deletion and re-creation and a runtime restart;
//! a claim in use is Terminating until its pod goes, then reclaim Delete
//! removes the volume and its directory while Retain keeps both
//! (Released); a pod waits for a missing or unbound claim and for a
//! ReadWriteOncePod claim an older pod holds; fsGroup owns the volume; a
//! user's PersistentVolume naming a host path is refused.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use ferry_runtime::kinds::Kind;
use ferry_runtime::{Runtime, RuntimeConfig};
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

fn claim_yaml(name: &str, class: Option<&str>, mode: &str) -> String {
    let class = class.map_or(String::new(), |c| format!("  storageClassName: {c}\n"));
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\nspec:\n{class}  accessModes: [{mode}]\n  resources: {{requests: {{storage: 64Mi}}}}\n"
    )
}

fn pod_yaml(name: &str, claim: &str, cmd: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: tools:1\n    command: [sh, -c, '{cmd}']\n    volumeMounts: [{{name: data, mountPath: /data}}]\n  volumes:\n  - name: data\n    persistentVolumeClaim: {{claimName: {claim}}}\n"
    )
}

fn get(rt: &Runtime, kind: Kind, name: &str) -> Option<Value> {
    rt.get(kind, "default", name).ok()
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// The claim's volume name once Bound.
async fn bound(rt: &Runtime, claim: &str) -> String {
    wait(&format!("claim {claim} bound"), T, || {
        let c = get(rt, Kind::PersistentVolumeClaim, claim)?;
        (str_at(&c, "/status/phase") == "Bound").then(|| str_at(&c, "/spec/volumeName").to_string())
    })
    .await
}

fn volume_dir(env: &Env, pv: &str) -> PathBuf {
    env.dir.path().join("runtime/volumes").join(pv)
}

/// The file's content once a pod has written it: `cp` and `echo` create the
/// file before they write, so an empty file is not yet written.
async fn wait_file(path: PathBuf) -> String {
    wait(&format!("{}", path.display()), T, || {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|s| !s.is_empty())
    })
    .await
}

async fn gone(rt: &Runtime, kind: Kind, name: &str) {
    wait(&format!("{kind:?} {name} gone"), T, || {
        get(rt, kind, name).is_none().then_some(())
    })
    .await
}

/// The waiting message of the pod's first container.
fn waiting(rt: &Runtime, pod: &str) -> String {
    get(rt, Kind::Pod, pod)
        .map(|p| str_at(&p, "/status/containerStatuses/0/state/waiting/message").to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_pod_recreation_and_a_runtime_restart() {
    let mut env = env().await;
    apply(&env.rt, &claim_yaml("data", None, "ReadWriteOnce"));
    let c = get(&env.rt, Kind::PersistentVolumeClaim, "data");
    let pending = wait("claim waits for a consumer", T, || {
        let c = get(&env.rt, Kind::PersistentVolumeClaim, "data")?;
        (str_at(&c, "/status/conditions/0/reason") == "WaitForFirstConsumer").then_some(c)
    })
    .await;
    assert_eq!(str_at(&pending, "/status/phase"), "Pending", "{c:?}");
    apply(
        &env.rt,
        &pod_yaml("writer", "data", "echo kept > /data/f; sleep 3600"),
    );
    let pv = bound(&env.rt, "data").await;
    let dir = volume_dir(&env, &pv);
    assert_eq!(wait_file(dir.join("f")).await, "kept\n");
    let volume = env.rt.get(Kind::PersistentVolume, "", &pv).unwrap();
    assert_eq!(str_at(&volume, "/spec/capacity/storage"), "64Mi");
    assert_eq!(str_at(&volume, "/spec/claimRef/name"), "data");
    assert_eq!(
        str_at(&volume, "/spec/persistentVolumeReclaimPolicy"),
        "Delete"
    );
    let claim = get(&env.rt, Kind::PersistentVolumeClaim, "data").unwrap();
    assert_eq!(str_at(&claim, "/status/capacity/storage"), "64Mi");
    use std::os::unix::fs::PermissionsExt;
    let parent = std::fs::metadata(dir.parent().unwrap()).unwrap();
    assert_eq!(parent.permissions().mode() & 0o777, 0o700);

    env.rt.delete(Kind::Pod, "default", "writer").unwrap();
    gone(&env.rt, Kind::Pod, "writer").await;
    assert_eq!(
        bound(&env.rt, "data").await,
        pv,
        "the claim keeps its volume"
    );
    apply(
        &env.rt,
        &pod_yaml("reader", "data", "cp /data/f /data/g; sleep 3600"),
    );
    assert_eq!(wait_file(dir.join("g")).await, "kept\n");

    env.rt.shutdown().await;
    let mut cfg = RuntimeConfig::new(env.dir.path().join("runtime"));
    cfg.backoff_base = Duration::from_millis(500);
    env.rt = Runtime::start(cfg).await.unwrap();
    assert_eq!(bound(&env.rt, "data").await, pv);
    apply(
        &env.rt,
        &pod_yaml("third", "data", "cp /data/g /data/h; sleep 3600"),
    );
    assert_eq!(wait_file(dir.join("h")).await, "kept\n");
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_in_use_waits_for_its_pod_then_delete_removes_the_directory() {
    let env = env().await;
    apply(&env.rt, &claim_yaml("scratch", None, "ReadWriteOnce"));
    apply(
        &env.rt,
        &pod_yaml("user", "scratch", "echo x > /data/x; sleep 3600"),
    );
    let pv = bound(&env.rt, "scratch").await;
    let dir = volume_dir(&env, &pv);
    wait_file(dir.join("x")).await;

    env.rt
        .delete(Kind::PersistentVolumeClaim, "default", "scratch")
        .unwrap();
    // Several reconcile passes (every 500 ms): still there, Terminating.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = get(&env.rt, Kind::PersistentVolumeClaim, "scratch").expect("kept while in use");
    assert!(c.pointer("/metadata/deletionTimestamp").is_some());
    assert!(
        c.pointer("/metadata/finalizers")
            .is_some_and(|f| f.to_string().contains("kubernetes.io/pvc-protection")),
        "{c}"
    );
    assert!(dir.join("x").exists());

    env.rt.delete(Kind::Pod, "default", "user").unwrap();
    gone(&env.rt, Kind::PersistentVolumeClaim, "scratch").await;
    wait("volume and directory removed", T, || {
        let gone = env.rt.get(Kind::PersistentVolume, "", &pv).is_err() && !dir.exists();
        gone.then_some(())
    })
    .await;
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_keeps_the_directory_and_releases_the_volume() {
    let env = env().await;
    apply(
        &env.rt,
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: keep}\nprovisioner: rancher.io/local-path\nreclaimPolicy: Retain\nvolumeBindingMode: Immediate\n",
    );
    apply(&env.rt, &claim_yaml("kept", Some("keep"), "ReadWriteOnce"));
    let pv = bound(&env.rt, "kept").await;
    let dir = volume_dir(&env, &pv);
    assert!(dir.is_dir(), "Immediate binds without a pod");
    std::fs::write(dir.join("precious"), "1").unwrap();

    env.rt
        .delete(Kind::PersistentVolumeClaim, "default", "kept")
        .unwrap();
    gone(&env.rt, Kind::PersistentVolumeClaim, "kept").await;
    wait("volume Released", T, || {
        let v = env.rt.get(Kind::PersistentVolume, "", &pv).ok()?;
        (str_at(&v, "/status/phase") == "Released").then_some(())
    })
    .await;
    assert!(dir.join("precious").exists(), "Retain keeps the data");

    env.rt.delete(Kind::PersistentVolume, "", &pv).unwrap();
    wait("released volume deleted", T, || {
        (env.rt.get(Kind::PersistentVolume, "", &pv).is_err() && !dir.exists()).then_some(())
    })
    .await;
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_wait_for_missing_unbound_and_single_pod_claims() {
    let env = env().await;
    apply(
        &env.rt,
        &pod_yaml("early", "later", "echo ok > /data/early; sleep 3600"),
    );
    wait("missing claim reported", T, || {
        waiting(&env.rt, "early")
            .contains("persistentvolumeclaim \"later\" not found")
            .then_some(())
    })
    .await;
    apply(
        &env.rt,
        &claim_yaml("later", Some("gold"), "ReadWriteOncePod"),
    );
    wait("unknown class reported", T, || {
        let c = get(&env.rt, Kind::PersistentVolumeClaim, "later")?;
        let why = str_at(&c, "/status/conditions/0/message");
        why.contains("storageclass.storage.k8s.io \"gold\" not found")
            .then_some(())
    })
    .await;
    wait("unbound claim reported", T, || {
        waiting(&env.rt, "early")
            .contains("persistentvolumeclaim \"later\" is not bound")
            .then_some(())
    })
    .await;
    apply(
        &env.rt,
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: gold}\nprovisioner: rancher.io/local-path\n",
    );
    let pv = bound(&env.rt, "later").await;
    let dir = volume_dir(&env, &pv);
    assert_eq!(wait_file(dir.join("early")).await, "ok\n");

    apply(
        &env.rt,
        &pod_yaml("second", "later", "echo ok > /data/second; sleep 3600"),
    );
    wait("second pod waits for the single-pod claim", T, || {
        waiting(&env.rt, "second")
            .contains("is ReadWriteOncePod and in use by pod \"early\"")
            .then_some(())
    })
    .await;
    assert!(!dir.join("second").exists());
    env.rt.delete(Kind::Pod, "default", "early").unwrap();
    assert_eq!(wait_file(dir.join("second")).await, "ok\n");
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_group_owns_the_volume_and_read_only_is_honoured() {
    let env = env().await;
    apply(&env.rt, &claim_yaml("shared", None, "ReadWriteOnce"));
    let pod = pod_yaml("nonroot", "shared", "echo me > /data/mine; sleep 3600").replace(
        "  terminationGracePeriodSeconds: 1\n",
        "  terminationGracePeriodSeconds: 1\n  securityContext: {runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000}\n",
    );
    apply(&env.rt, &pod);
    let pv = bound(&env.rt, "shared").await;
    let dir = volume_dir(&env, &pv);
    wait_file(dir.join("mine")).await;
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(meta.gid(), 2000);
    assert_eq!(meta.mode() & 0o2000, 0o2000, "setgid");
    assert_eq!(std::fs::metadata(dir.join("mine")).unwrap().gid(), 2000);

    let ro = pod_yaml("ro", "shared", "sleep 3600")
        .replace("mountPath: /data}", "mountPath: /data, readOnly: true}");
    apply(&env.rt, &ro);
    let sh = |script: &str| vec!["sh".to_string(), "-c".into(), script.into()];
    let deadline = std::time::Instant::now() + T;
    loop {
        let out = env
            .rt
            .exec("default", "ro", None, &sh("cat /data/mine"))
            .await;
        if out.is_ok_and(|o| o.stdout == "me\n") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "read-only pod never read the volume"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let write = env
        .rt
        .exec("default", "ro", None, &sh("echo x > /data/ro"))
        .await;
    assert_ne!(write.unwrap().exit_code, 0);
    assert!(!dir.join("ro").exists(), "readOnly mount refused the write");
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_volume_naming_a_host_path_is_refused() {
    let env = env().await;
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: alongside}\n---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: mine}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /etc}\n";
    let err = env
        .rt
        .apply(&[("pv.yaml".into(), text.into())])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pv.yaml: document 1 (PersistentVolume/mine)")
            && err.contains("field `spec.hostPath`"),
        "{err}"
    );
    assert!(
        env.rt.get(Kind::ConfigMap, "default", "alongside").is_err(),
        "nothing applied"
    );
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_deletes_its_claims_and_their_volumes() {
    let env = env().await;
    apply(
        &env.rt,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: now}\nprovisioner: rancher.io/local-path\nvolumeBindingMode: Immediate\n",
    );
    let claim = claim_yaml("db", Some("now"), "ReadWriteOnce")
        .replace("{name: db}", "{name: db, namespace: team}");
    apply(&env.rt, &claim);
    let pv = wait("claim in team bound", T, || {
        let c = env.rt.get(Kind::PersistentVolumeClaim, "team", "db").ok()?;
        (str_at(&c, "/status/phase") == "Bound").then(|| str_at(&c, "/spec/volumeName").to_string())
    })
    .await;
    let dir = volume_dir(&env, &pv);
    assert!(dir.is_dir());
    env.rt.delete(Kind::Namespace, "", "team").unwrap();
    wait("claim, volume and directory gone", T, || {
        let claim = env
            .rt
            .get(Kind::PersistentVolumeClaim, "team", "db")
            .is_err();
        let volume = env.rt.get(Kind::PersistentVolume, "", &pv).is_err();
        (claim && volume && !dir.exists()).then_some(())
    })
    .await;
    env.rt.shutdown().await;
}
