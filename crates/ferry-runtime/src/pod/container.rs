//! One container of a pod: its bundle (overlay rootfs + OCI config), start
//! through runc, and the supervision loop — exit detection, probes,
//! restarts with CrashLoopBackOff, log rotation, termination.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::sync::MutexExt;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::error::{Error, Result};
use crate::images::Unpacked;
use crate::pod::spec::{Plan, generate};
use crate::pod::{mounts, user, volumes};
use crate::runtime::{Inner, PodRt};
use crate::sys;
use crate::validate::parse_quantity;

/// Paths and identity of one container.
#[derive(Debug, Clone)]
pub struct Ctr {
    pub id: String,
    pub bundle: PathBuf,
    pub log: PathBuf,
}

impl Ctr {
    /// The container `name` of the pod with `uid` under `pod_dir`.
    pub fn new(pod_dir: &Path, uid: &str, name: &str) -> Self {
        let short: String = uid.chars().filter(|c| *c != '-').take(12).collect();
        Self {
            id: format!("ferry-{short}-{name}"),
            bundle: pod_dir.join("containers").join(name),
            log: pod_dir.join("logs").join(format!("{name}.log")),
        }
    }

    /// The log of the previous instance.
    pub fn previous_log(&self) -> PathBuf {
        self.log.with_extension("previous.log")
    }
}

/// Writes the bundle and starts the container; returns its pid.
pub async fn start(
    inner: &Inner,
    pod: &Pod,
    c: &Container,
    image: &Unpacked,
    ctr: &Ctr,
    netns: &Path,
    pod_dir: &Path,
) -> Result<i32> {
    cleanup(inner, ctr).await;
    let plan = plan(inner, pod, c, image, netns, pod_dir, ctr)?;
    let rootfs = ctr.bundle.join("rootfs");
    let (upper, work) = (ctr.bundle.join("upper"), ctr.bundle.join("work"));
    for d in [
        &rootfs,
        &upper,
        &work,
        &ctr.log.parent().unwrap_or(pod_dir).to_path_buf(),
    ] {
        std::fs::create_dir_all(d).map_err(|e| Error::io("cannot create", d, e))?;
    }
    if sys::mount_overlay(&image.rootfs, &upper, &work, &rootfs).is_err() {
        // No overlayfs here: a private copy of the image.
        let st = tokio::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", image.rootfs.display()))
            .arg(&rootfs)
            .status()
            .await;
        if !st.is_ok_and(|s| s.success()) {
            return Err(Error::Other(format!(
                "cannot copy image rootfs into {}",
                rootfs.display()
            )));
        }
    }
    let spec = generate(&Plan {
        rootfs: rootfs.clone(),
        ..plan
    })?;
    let cfg = ctr.bundle.join("config.json");
    spec.save(&cfg)
        .map_err(|e| Error::Other(format!("cannot write {}: {e}", cfg.display())))?;
    // The config holds the environment, Secrets' values included.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io("cannot restrict", &cfg, e))?;
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let cold = &inner.serving.cold;
    cold.mark(uid, |m| _ = m.rootfs_done.get_or_insert_with(Instant::now));
    let pid = inner.runc.run(&ctr.id, &ctr.bundle, &ctr.log).await?;
    cold.mark(uid, |m| _ = m.process.get_or_insert_with(Instant::now));
    Ok(pid)
}

/// Removes whatever is left of a previous instance.
pub async fn cleanup(inner: &Inner, ctr: &Ctr) {
    let _ = inner.runc.delete(&ctr.id).await;
    let subpaths = ctr.bundle.join("subpaths");
    sys::unmount_under(&subpaths);
    let _ = std::fs::remove_dir_all(&subpaths);
    sys::unmount(&ctr.bundle.join("rootfs"));
    let _ = std::fs::remove_dir_all(ctr.bundle.join("upper"));
    let _ = std::fs::remove_dir_all(ctr.bundle.join("work"));
    let _ = std::fs::remove_dir_all(ctr.bundle.join("rootfs"));
}

fn plan(
    inner: &Inner,
    pod: &Pod,
    c: &Container,
    image: &Unpacked,
    netns: &Path,
    pod_dir: &Path,
    ctr: &Ctr,
) -> Result<Plan> {
    let bad = |m: String| Error::Other(m);
    let spec = pod.spec.clone().unwrap_or_default();
    let args = match (&c.command, &c.args) {
        (Some(cmd), args) => cmd.iter().chain(args.iter().flatten()).cloned().collect(),
        (None, Some(args)) => image
            .config
            .entrypoint
            .iter()
            .chain(args)
            .cloned()
            .collect(),
        (None, None) => image
            .config
            .entrypoint
            .iter()
            .chain(&image.config.cmd)
            .cloned()
            .collect::<Vec<_>>(),
    };
    if args.is_empty() {
        return Err(bad(
            "no command: the image has no entrypoint or cmd and the container sets no command"
                .into(),
        ));
    }
    let mut env = volumes::environment(inner, pod, c, &image.config.env)?;
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    let psc = spec.security_context.clone().unwrap_or_default();
    let csc = c.security_context.clone().unwrap_or_default();
    let privileged = csc.privileged.unwrap_or(false);
    if privileged && !inner.cfg.allow_privileged {
        return Err(bad(
            "privileged containers are not allowed by this runtime's configuration".into(),
        ));
    }
    let accounts = user::Accounts::read(&image.rootfs);
    let id = user::resolve(image.config.user.as_deref(), &accounts, &psc, &csc)?;
    if csc.run_as_non_root.or(psc.run_as_non_root) == Some(true) && id.uid == 0 {
        return Err(Error::ContainerConfig(format!(
            "container has runAsNonRoot and image will run as root (container {}): set runAsUser or a non-root USER in the image",
            c.name
        )));
    }
    let seccomp = csc
        .seccomp_profile
        .as_ref()
        .or(psc.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str());
    if seccomp == Some("Localhost") {
        return Err(Error::ContainerConfig(
            "seccompProfile Localhost is not supported; use RuntimeDefault".into(),
        ));
    }
    let fs_group = psc.fs_group.map(|g| g as u32);
    let binds = mounts::binds(
        inner,
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        &spec,
        c,
        pod_dir,
        &ctr.bundle.join("subpaths"),
        fs_group,
    )?;
    let limits = c
        .resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .unwrap_or_default();
    let caps = csc.capabilities.clone().unwrap_or_default();
    Ok(Plan {
        args,
        env,
        cwd: c
            .working_dir
            .clone()
            .or(image.config.working_dir.clone())
            .unwrap_or_else(|| "/".into()),
        uid: id.uid,
        gid: id.gid,
        additional_gids: id.additional_gids,
        no_new_privileges: csc.allow_privilege_escalation.map_or(!privileged, |a| !a),
        seccomp_unconfined: seccomp == Some("Unconfined"),
        pids_limit: Some(inner.cfg.pids_limit),
        read_only_rootfs: csc.read_only_root_filesystem.unwrap_or(false),
        hostname: pod.metadata.name.clone().unwrap_or_default(),
        netns: netns.to_path_buf(),
        binds,
        memory_limit: limits
            .get("memory")
            .and_then(|q| parse_quantity(&q.0))
            .map(|v| v as i64),
        cpu_millis: limits
            .get("cpu")
            .and_then(|q| parse_quantity(&q.0))
            .map(|v| (v * 1000.0) as i64),
        privileged,
        add_caps: caps.add.unwrap_or_default(),
        drop_caps: caps.drop.unwrap_or_default(),
        cgroups_path: Some(format!(
            "/ferry/{}/{}",
            pod.metadata.uid.clone().unwrap_or_default(),
            c.name
        )),
        rootfs: PathBuf::new(),
    })
}

/// Sets the status of container `name` in the pod's runtime state.
pub fn set_status(rt: &Mutex<PodRt>, init: bool, name: &str, f: impl FnOnce(&mut ContainerStatus)) {
    let mut rt = rt.lock_or_recover();
    let list = if init {
        rt.status.init_container_statuses.get_or_insert_default()
    } else {
        rt.status.container_statuses.get_or_insert_default()
    };
    if !list.iter().any(|s| s.name == name) {
        list.push(ContainerStatus {
            name: name.to_string(),
            ..Default::default()
        });
    }
    if let Some(s) = list.iter_mut().find(|s| s.name == name) {
        f(s);
    }
}

/// A waiting state.
pub fn waiting(reason: &str, message: impl Into<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.into()),
            message: Some(message.into()),
        }),
        ..Default::default()
    }
}

/// A running state since now.
pub fn running() -> ContainerState {
    ContainerState {
        running: Some(ContainerStateRunning {
            started_at: Some(Time(chrono_now())),
        }),
        ..Default::default()
    }
}

/// A terminated state.
pub fn terminated(code: i32, started: Option<Time>) -> ContainerState {
    let reason = if code == 0 { "Completed" } else { "Error" };
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: code,
            reason: Some(reason.into()),
            started_at: started,
            finished_at: Some(Time(chrono_now())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn chrono_now() -> k8s_openapi::chrono::DateTime<k8s_openapi::chrono::Utc> {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    k8s_openapi::chrono::DateTime::from_timestamp(d.as_secs() as i64, 0).unwrap_or_default()
}

/// CrashLoopBackOff delay after `crashes` consecutive failures.
pub fn backoff(base: Duration, max: Duration, crashes: u32) -> Duration {
    if crashes <= 1 {
        return Duration::ZERO;
    }
    base.saturating_mul(1u32 << (crashes - 2).min(16)).min(max)
}

/// Waits for the process to end, checking every 100 ms; rotates the log.
pub async fn wait_exit(pid: i32, log: &Path, max_log: u64) -> i32 {
    let mut last_rotate = Instant::now();
    loop {
        match sys::try_wait(pid) {
            sys::Exit::Running => {}
            sys::Exit::Exited(code) => return code,
            sys::Exit::Vanished => return 255,
        }
        if last_rotate.elapsed() > Duration::from_secs(5) {
            last_rotate = Instant::now();
            rotate(log, max_log);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Copy-truncate rotation: the container keeps its append-mode descriptor.
fn rotate(log: &Path, max: u64) {
    if std::fs::metadata(log).is_ok_and(|m| m.len() > max) {
        let _ = std::fs::copy(log, log.with_extension("log.1"));
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(log);
    }
}

/// Container ports by name.
pub fn named_ports(c: &Container) -> BTreeMap<&str, i32> {
    c.ports
        .iter()
        .flatten()
        .filter_map(|p| Some((p.name.as_deref()?, p.container_port)))
        .collect()
}

/// Shared pointer helper.
pub type Rt = Arc<Mutex<PodRt>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let (b, m) = (Duration::from_secs(10), Duration::from_secs(300));
        assert_eq!(backoff(b, m, 1), Duration::ZERO);
        assert_eq!(backoff(b, m, 2), Duration::from_secs(10));
        assert_eq!(backoff(b, m, 3), Duration::from_secs(20));
        assert_eq!(backoff(b, m, 10), Duration::from_secs(300));
    }
}
