//! The pod worker: one task per pod that sets up its network namespace,
//! files and images, runs init containers in order, supervises the app
//! containers, keeps volumes and the hosts file current, and on stop drains
//! forwarded connections before terminating gracefully and cleaning up
//! (processes, mounts, cgroups, namespace, files). After a ferry restart it
//! re-adopts containers that are still running.

mod beneath;
pub mod claims;
pub mod container;
mod mounts;
pub mod probe;
pub mod runc;
mod seccomp;
pub mod spec;
mod supervise;
pub mod token;
mod user;
mod volume_sync;
pub mod volumes;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ferry_core::sync::MutexExt;
use k8s_openapi::api::core::v1::{Container, Pod};
use tokio_util::sync::CancellationToken;

use crate::images::{PullPolicy, Unpacked};
use crate::kinds::Kind;
use crate::runtime::Inner;
use crate::sys;
use container::{Ctr, set_status, waiting};
use volume_sync::sync_volumes;

/// Runs pod `namespace/name` (uid `uid`) until `stop` is cancelled.
pub async fn run(
    inner: Arc<Inner>,
    namespace: String,
    name: String,
    uid: String,
    stop: CancellationToken,
) {
    let Some(pod) = inner.typed::<Pod>(Kind::Pod, &namespace, &name) else {
        return;
    };
    let rt = inner.pod_rt(&uid);
    let dir = inner.pod_dir(&uid);
    let netns = dir.join("netns");
    let spec = pod.spec.clone().unwrap_or_default();
    let inits: Vec<Container> = spec.init_containers.clone().unwrap_or_default();
    let apps: Vec<Container> = spec.containers.clone();
    rt.lock_or_recover().status.phase = Some("Pending".into());
    if stop.is_cancelled() {
        // Deleted before it ran (or while ferry was down): clean up only.
        teardown(&inner, &dir, &uid, &inits, &apps).await;
        return;
    }

    // Re-adopt running containers left by a previous ferry process.
    let mut adopted: BTreeMap<String, i32> = BTreeMap::new();
    if sys::netns_alive(&netns) {
        for c in &apps {
            let ctr = Ctr::new(&dir, &uid, &c.name);
            if let Some((state, pid)) = inner.runc.state(&ctr.id).await
                && state == "running"
            {
                adopted.insert(c.name.clone(), pid);
            }
        }
        if adopted.len() != apps.len() {
            adopted.clear();
        }
    }
    if adopted.is_empty() {
        teardown(&inner, &dir, &uid, &inits, &apps).await;
        if let Err(e) = std::fs::create_dir_all(dir.join("logs"))
            .and_then(|_| private(&dir))
            .and_then(|_| pod_pids_limit(&uid, inner.cfg.pids_limit))
            .map_err(|e| e.to_string())
            .and_then(|_| sys::create_netns(&netns).map_err(|e| e.to_string()))
        {
            inner.event(
                "Pod",
                &namespace,
                &name,
                true,
                "FailedCreatePodSandBox",
                e.clone(),
            );
            for c in &apps {
                set_status(&rt, false, &c.name, |s| {
                    s.state = Some(waiting("ContainerCreating", e.clone()))
                });
            }
            stop.cancelled().await;
            teardown(&inner, &dir, &uid, &inits, &apps).await;
            return;
        }
    } else {
        inner.event(
            "Pod",
            &namespace,
            &name,
            false,
            "Adopted",
            "containers still running after a ferry restart were re-adopted",
        );
    }
    let hosts = dir.join("hosts");
    let _ = volumes::write_in_place(
        &hosts,
        &volumes::hosts_for(&inner.services.borrow(), &namespace, &name),
    );
    rt.lock_or_recover().netns = Some(netns.clone());
    inner.kick();

    let containers_stop = CancellationToken::new();
    let mut tasks = Vec::new();
    let setup = async {
        let files_ok = sync_volumes(&inner, &namespace, &pod, &dir, &rt, &apps).await;
        if !files_ok {
            return false;
        }
        token::mount(&inner, &pod, &dir, &rt, &apps, !adopted.is_empty()).await;
        let Some(images) = pull_all(&inner, &namespace, &name, &rt, &inits, &apps).await else {
            return false;
        };
        if adopted.is_empty()
            && !supervise::run_inits(&inner, &pod, &inits, &images, &dir, &netns, &rt).await
        {
            return false;
        }
        for c in &apps {
            let task = supervise::App {
                inner: inner.clone(),
                pod: pod.clone(),
                c: c.clone(),
                image: images[&c.name].clone(),
                ctr: Ctr::new(&dir, &uid, &c.name),
                netns: netns.clone(),
                dir: dir.clone(),
                rt: rt.clone(),
                stop: containers_stop.clone(),
                adopted: adopted.get(&c.name).copied(),
            };
            tasks.push(tokio::spawn(task.run()));
        }
        true
    };
    tokio::select! {
        biased;
        _ = stop.cancelled() => {}
        _ = setup => {}
    }
    let mut services = inner.services.subscribe();
    while !stop.is_cancelled() {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = services.changed() => {
                let text = volumes::hosts_for(&services.borrow_and_update(), &namespace, &name);
                let _ = volumes::write_in_place(&hosts, &text);
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Some(p) = inner.typed::<Pod>(Kind::Pod, &namespace, &name) {
                    sync_volumes(&inner, &namespace, &p, &dir, &rt, &[]).await;
                }
            }
        }
    }

    // Terminate: no new connections, drain forwarded ones, then stop containers.
    let grace =
        Duration::from_secs(spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64);
    let active = {
        let mut r = rt.lock_or_recover();
        r.terminating = true;
        r.active.clone()
    };
    inner.kick();
    crate::services::publish(&inner);
    let deadline = Instant::now() + grace.min(Duration::from_secs(10));
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    containers_stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    teardown(&inner, &dir, &uid, &inits, &apps).await;
}

/// A pod's directory holds its Secrets' files: mode 0700, root only.
fn private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Caps the processes of the whole pod: `pids.max` of its cgroup in the
/// v1 pids hierarchy (containers' cgroups are created beneath it by runc,
/// each with the same limit). A v2-only host gets the per-container limit.
fn pod_pids_limit(uid: &str, limit: i64) -> std::io::Result<()> {
    let pids = Path::new("/sys/fs/cgroup/pids");
    if !pids.join("cgroup.procs").exists() {
        return Ok(());
    }
    let pod = pids.join("ferry").join(uid);
    std::fs::create_dir_all(&pod)?;
    std::fs::write(pod.join("pids.max"), limit.to_string())
}

/// Removes every trace of a pod: containers, mounts, cgroups, netns, files.
pub async fn teardown(
    inner: &Inner,
    dir: &Path,
    uid: &str,
    inits: &[Container],
    apps: &[Container],
) {
    for c in inits.iter().chain(apps) {
        container::cleanup(inner, &Ctr::new(dir, uid, &c.name)).await;
    }
    token::revoke(inner, uid);
    let _ = sys::remove_netns(&dir.join("netns"));
    // Secret tmpfs and subPath binds: gone before anything is removed.
    sys::unmount_under(dir);
    let _ = std::fs::remove_dir_all(dir);
    remove_cgroups(uid);
}

/// Removes the pod's (now empty) cgroups under every hierarchy.
fn remove_cgroups(uid: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for h in hierarchies.flatten() {
        let pod = h.path().join("ferry").join(uid);
        if let Ok(children) = std::fs::read_dir(&pod) {
            for c in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(c.path());
            }
        }
        let _ = std::fs::remove_dir(&pod);
    }
}

/// Gets every container's image, retrying with back-off (ImagePullBackOff).
async fn pull_all(
    inner: &Inner,
    ns: &str,
    name: &str,
    rt: &container::Rt,
    inits: &[Container],
    apps: &[Container],
) -> Option<BTreeMap<String, Unpacked>> {
    let mut out = BTreeMap::new();
    for (init, c) in inits
        .iter()
        .map(|c| (true, c))
        .chain(apps.iter().map(|c| (false, c)))
    {
        let image = c.image.clone().unwrap_or_default();
        let policy = PullPolicy::resolve(c.image_pull_policy.as_deref(), &image);
        let mut attempt = 0u32;
        loop {
            set_status(rt, init, &c.name, |s| {
                s.image = image.clone();
                if s.state.is_none() {
                    s.state = Some(waiting("ContainerCreating", ""));
                }
            });
            match inner.images.get(&image, policy).await {
                Ok(u) => {
                    set_status(rt, init, &c.name, |s| s.image_id = u.id.clone());
                    out.insert(c.name.clone(), u);
                    break;
                }
                Err(why) => {
                    attempt += 1;
                    let reason = if attempt == 1 {
                        "ErrImagePull"
                    } else {
                        "ImagePullBackOff"
                    };
                    inner.event(
                        "Pod",
                        ns,
                        name,
                        true,
                        "Failed",
                        format!("failed to pull image \"{image}\": {why}"),
                    );
                    set_status(rt, init, &c.name, |s| {
                        s.state = Some(waiting(reason, why.to_string()))
                    });
                    let delay = container::backoff(
                        inner.cfg.backoff_base,
                        inner.cfg.backoff_max,
                        attempt + 1,
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
    Some(out)
}
