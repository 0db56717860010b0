//! Init containers: run one by one to completion before any app
//! container starts, restarted with CrashLoopBackOff on failure unless the
//! pod's `restartPolicy` is Never.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_core::sync::MutexExt;
use k8s_openapi::api::core::v1::{Container, Pod};

use crate::images::Unpacked;
use crate::pod::container::{self, Ctr, Rt, running, set_status, terminated, waiting};
use crate::pod::supervise::pod_name;
use crate::runtime::Inner;

/// Runs init containers in order; false if the pod cannot proceed
/// (restartPolicy Never and one failed).
pub async fn run_inits(
    inner: &Inner,
    pod: &Pod,
    inits: &[Container],
    images: &BTreeMap<String, Unpacked>,
    dir: &Path,
    netns: &Path,
    rt: &Rt,
) -> bool {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone())
        .unwrap_or_else(|| "Always".into());
    for c in inits {
        let ctr = Ctr::new(dir, &uid, &c.name);
        let mut crashes = 0;
        loop {
            let started = Instant::now();
            let code = run_init_once(inner, pod, c, &images[&c.name], &ctr, dir, netns, rt).await;
            if code == 0 {
                set_status(rt, true, &c.name, |s| s.ready = true);
                break;
            }
            if policy == "Never" {
                rt.lock_or_recover().status.phase = Some("Failed".into());
                return false;
            }
            crashes = if started.elapsed() > Duration::from_secs(600) {
                1
            } else {
                crashes + 1
            };
            set_status(rt, true, &c.name, |s| s.restart_count += 1);
            let delay =
                container::backoff(inner.cfg.backoff_base, inner.cfg.backoff_max, crashes + 1);
            set_status(rt, true, &c.name, |s| {
                s.state = Some(waiting(
                    "CrashLoopBackOff",
                    format!(
                        "back-off {delay:?} restarting failed init container {}",
                        c.name
                    ),
                ))
            });
            tokio::time::sleep(delay).await;
        }
    }
    true
}

/// Starts init container `c` once and waits for its exit code (1 when it
/// cannot be started), leaving it deleted and its status terminated.
#[allow(clippy::too_many_arguments)]
async fn run_init_once(
    inner: &Inner,
    pod: &Pod,
    c: &Container,
    image: &Unpacked,
    ctr: &Ctr,
    dir: &Path,
    netns: &Path,
    rt: &Rt,
) -> i32 {
    let (ns, name) = pod_name(pod);
    let code = match container::start(inner, pod, c, image, ctr, netns, dir).await {
        Ok(pid) => {
            set_status(rt, true, &c.name, |s| s.state = Some(running()));
            container::wait_exit(pid, &ctr.log, inner.cfg.log_max_bytes).await
        }
        Err(e) => {
            inner.event(
                "Pod",
                &ns,
                &name,
                true,
                "Failed",
                format!("init container {}: {e}", c.name),
            );
            set_status(rt, true, &c.name, |s| {
                s.state = Some(waiting("CreateContainerError", e.to_string()))
            });
            1
        }
    };
    let _ = inner.runc.delete(&ctr.id).await;
    set_status(rt, true, &c.name, |s| {
        s.state = Some(terminated(code, None))
    });
    code
}
