//! The pod worker: one task per pod that sets up its network namespace,
//! files and images, runs init containers in order, supervises the app
//! containers, keeps volumes and the hosts file current, and on stop drains
//! forwarded connections before terminating gracefully and cleaning up
//! (processes, mounts, cgroups, namespace, files). After a ferry restart it
//! re-adopts containers that are still running.

mod beneath;
pub mod claims;
mod cold_marks;
pub mod container;
mod inits;
mod mounts;
pub mod probe;
mod probe_loops;
mod pull;
pub mod runc;
mod seccomp;
pub mod spec;
mod supervise;
pub mod token;
mod user;
mod volume_sync;
pub mod volumes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ferry_core::sync::MutexExt;
use k8s_openapi::api::core::v1::{Container, Pod};
use tokio_util::sync::CancellationToken;

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
    let spec = pod.spec.clone().unwrap_or_default();
    let w = Worker {
        rt: inner.pod_rt(&uid),
        dir: inner.pod_dir(&uid),
        netns: inner.pod_dir(&uid).join("netns"),
        inits: spec.init_containers.clone().unwrap_or_default(),
        apps: spec.containers.clone(),
        grace: Duration::from_secs(
            spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64
        ),
        inner,
        namespace,
        name,
        uid,
        pod,
    };
    w.rt.lock_or_recover().status.phase = Some("Pending".into());
    if stop.is_cancelled() {
        // Deleted before it ran (or while ferry was down): clean up only.
        w.teardown().await;
        return;
    }
    let adopted = w.adopt().await;
    if let Err(e) = w.sandbox(&adopted).await {
        w.sandbox_failed(&e);
        stop.cancelled().await;
        w.teardown().await;
        return;
    }
    // After the sandbox: making it tears down what an earlier run left.
    if adopted.is_empty() && cold_marks::knative(&w.pod) {
        w.inner.serving.cold.track(&w.uid);
    }
    let hosts = w.dir.join("hosts");
    let _ = volumes::write_in_place(
        &hosts,
        &volumes::hosts_for(&w.inner.services.borrow(), &w.namespace, &w.name),
    );
    w.rt.lock_or_recover().netns = Some(w.netns.clone());
    w.inner.kick();

    let containers_stop = CancellationToken::new();
    let mut tasks = Vec::new();
    tokio::select! {
        biased;
        _ = stop.cancelled() => {}
        _ = w.start(&adopted, &containers_stop, &mut tasks) => {}
    }
    w.keep_current(&hosts, &stop).await;
    w.drain().await;
    containers_stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    w.teardown().await;
}

/// What a pod worker works on; its steps are the methods.
struct Worker {
    inner: Arc<Inner>,
    namespace: String,
    name: String,
    uid: String,
    pod: Pod,
    rt: container::Rt,
    dir: PathBuf,
    netns: PathBuf,
    inits: Vec<Container>,
    apps: Vec<Container>,
    grace: Duration,
}

// === impl Worker ===

impl Worker {
    /// Running containers left by a previous ferry process: all of the
    /// pod's app containers by name, or none.
    async fn adopt(&self) -> BTreeMap<String, i32> {
        let mut adopted = BTreeMap::new();
        if !sys::netns_alive(&self.netns) {
            return adopted;
        }
        for c in &self.apps {
            let ctr = Ctr::new(&self.dir, &self.uid, &c.name);
            if let Some((state, pid)) = self.inner.runc.state(&ctr.id).await
                && state == "running"
            {
                adopted.insert(c.name.clone(), pid);
            }
        }
        if adopted.len() != self.apps.len() {
            adopted.clear();
        }
        adopted
    }

    /// A fresh sandbox (directory, pids limit, network namespace) unless
    /// containers were adopted, which keep theirs.
    async fn sandbox(&self, adopted: &BTreeMap<String, i32>) -> Result<(), String> {
        if !adopted.is_empty() {
            self.inner.event(
                "Pod",
                &self.namespace,
                &self.name,
                false,
                "Adopted",
                "containers still running after a ferry restart were re-adopted",
            );
            return Ok(());
        }
        self.teardown().await;
        std::fs::create_dir_all(self.dir.join("logs"))
            .and_then(|_| private(&self.dir))
            .and_then(|_| pod_pids_limit(&self.uid, self.inner.cfg.pids_limit))
            .map_err(|e| e.to_string())
            .and_then(|_| sys::create_netns(&self.netns).map_err(|e| e.to_string()))
    }

    /// Reports a sandbox that could not be created, on the pod and on
    /// every app container.
    fn sandbox_failed(&self, e: &str) {
        self.inner.event(
            "Pod",
            &self.namespace,
            &self.name,
            true,
            "FailedCreatePodSandBox",
            e.to_string(),
        );
        for c in &self.apps {
            set_status(&self.rt, false, &c.name, |s| {
                s.state = Some(waiting("ContainerCreating", e.to_string()))
            });
        }
    }

    /// Files, token, images and init containers, then one supervisor task
    /// per app container (pushed to `tasks`); false when a step failed.
    async fn start(
        &self,
        adopted: &BTreeMap<String, i32>,
        containers_stop: &CancellationToken,
        tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> bool {
        let (inner, rt, dir) = (&self.inner, &self.rt, &self.dir);
        if !sync_volumes(inner, &self.namespace, &self.pod, dir, rt, &self.apps).await {
            return false;
        }
        token::mount(inner, &self.pod, dir, rt, &self.apps, !adopted.is_empty()).await;
        cold_marks::mark(inner, &self.pod, |m| m.image_start = Some(Instant::now()));
        let pulled = pull::pull_all(
            inner,
            &self.namespace,
            &self.name,
            rt,
            &self.inits,
            &self.apps,
        );
        let Some(images) = pulled.await else {
            return false;
        };
        cold_marks::mark(inner, &self.pod, |m| {
            m.image_done = Some(Instant::now());
            m.unpack = images.values().map(|u| u.unpack).sum();
        });
        if adopted.is_empty()
            && !inits::run_inits(inner, &self.pod, &self.inits, &images, dir, &self.netns, rt).await
        {
            return false;
        }
        for c in &self.apps {
            let task = supervise::App {
                inner: inner.clone(),
                pod: self.pod.clone(),
                c: c.clone(),
                image: images[&c.name].clone(),
                ctr: Ctr::new(dir, &self.uid, &c.name),
                netns: self.netns.clone(),
                dir: dir.clone(),
                rt: rt.clone(),
                stop: containers_stop.clone(),
                adopted: adopted.get(&c.name).copied(),
            };
            tasks.push(tokio::spawn(task.run()));
        }
        let (uid, netns) = (self.uid.clone(), self.netns.clone());
        let stop = containers_stop.clone();
        cold_marks::watch_ready(inner.clone(), uid, netns, &self.apps, rt.clone(), stop);
        true
    }

    /// Keeps the hosts file, the volumes and the token current until `stop`.
    async fn keep_current(&self, hosts: &Path, stop: &CancellationToken) {
        let (inner, ns, name) = (&self.inner, &self.namespace, &self.name);
        let mut services = inner.services.subscribe();
        while !stop.is_cancelled() {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = services.changed() => {
                    let text = volumes::hosts_for(&services.borrow_and_update(), ns, name);
                    let _ = volumes::write_in_place(hosts, &text);
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if let Some(p) = inner.typed::<Pod>(Kind::Pod, ns, name) {
                        sync_volumes(inner, ns, &p, &self.dir, &self.rt, &[]).await;
                        token::refresh(inner, &p, &self.dir);
                    }
                }
            }
        }
    }

    /// Terminating: no new connections, then up to the grace period (at
    /// most 10 s) for forwarded ones to finish.
    async fn drain(&self) {
        let active = {
            let mut r = self.rt.lock_or_recover();
            r.terminating = true;
            r.active.clone()
        };
        self.inner.kick();
        crate::services::publish(&self.inner);
        let deadline = Instant::now() + self.grace.min(Duration::from_secs(10));
        while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn teardown(&self) {
        teardown(&self.inner, &self.dir, &self.uid, &self.inits, &self.apps).await;
    }
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
    inner.serving.cold.forget(uid);
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
