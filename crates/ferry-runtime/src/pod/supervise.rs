//! Supervision of an app container's life: start (or adopt), probes (see
//! `probe_loops`), exit, restart per `restartPolicy` with CrashLoopBackOff,
//! and graceful termination (SIGTERM, grace, SIGKILL). Init containers run
//! before, in `inits`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::images::Unpacked;
use crate::pod::container::{self, Ctr, Rt, running, set_status, terminated, waiting};
use crate::pod::probe_loops::{liveness_failure, probes};
use crate::runtime::Inner;

pub(super) fn pod_name(pod: &Pod) -> (String, String) {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// One app container's supervisor.
#[derive(Debug)]
pub struct App {
    pub inner: Arc<Inner>,
    pub pod: Pod,
    pub c: Container,
    pub image: Unpacked,
    pub ctr: Ctr,
    pub netns: PathBuf,
    pub dir: PathBuf,
    pub rt: Rt,
    pub stop: CancellationToken,
    pub adopted: Option<i32>,
}

impl App {
    /// Supervises until stopped; then terminates the container gracefully.
    pub async fn run(mut self) {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        let grace =
            Duration::from_secs(spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64);
        let mut crashes = 0u32;
        loop {
            let pid = match self.adopted.take() {
                Some(pid) => pid,
                None => match self.start().await {
                    Some(pid) => pid,
                    None => {
                        crashes += 1;
                        let delay = container::backoff(
                            self.inner.cfg.backoff_base,
                            self.inner.cfg.backoff_max,
                            crashes + 1,
                        );
                        tokio::select! {
                            _ = self.stop.cancelled() => { container::cleanup(&self.inner, &self.ctr).await; return; }
                            _ = tokio::time::sleep(delay) => continue,
                        }
                    }
                },
            };
            let started = Instant::now();
            let Some(code) = self.supervise_run(pid, grace).await else {
                return;
            };
            if !restarts(&policy, code) {
                self.stop.cancelled().await;
                container::cleanup(&self.inner, &self.ctr).await;
                return;
            }
            // Its log becomes the previous one; a container that is not
            // restarted keeps it as its log (a Job's pod's output).
            let _ = std::fs::rename(&self.ctr.log, self.ctr.previous_log());
            crashes = if started.elapsed() > Duration::from_secs(600) {
                1
            } else {
                crashes + 1
            };
            let delay = self.back_off(crashes);
            tokio::select! {
                _ = self.stop.cancelled() => { container::cleanup(&self.inner, &self.ctr).await; return; }
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Starts the container: its pid, or `None` (with an event and a
    /// waiting reason in its status) when it cannot be started.
    async fn start(&self) -> Option<i32> {
        let (ns, name) = pod_name(&self.pod);
        let cname = &self.c.name;
        let started = container::start(
            &self.inner,
            &self.pod,
            &self.c,
            &self.image,
            &self.ctr,
            &self.netns,
            &self.dir,
        )
        .await;
        match started {
            Ok(pid) => {
                let message = format!("started container {cname}");
                self.inner
                    .event("Pod", &ns, &name, false, "Started", message);
                Some(pid)
            }
            Err(e) => {
                let reason = if matches!(e, crate::Error::ContainerConfig(_))
                    || e.to_string().contains("not allowed")
                    || e.to_string().contains("not found")
                {
                    "CreateContainerConfigError"
                } else {
                    "CreateContainerError"
                };
                let message = format!("container {cname}: {e}");
                self.inner.event("Pod", &ns, &name, true, "Failed", message);
                set_status(&self.rt, false, cname, |s| {
                    s.state = Some(waiting(reason, e.to_string()))
                });
                None
            }
        }
    }

    /// Watches the running container `pid` with its probes until it exits
    /// (or is killed for failing liveness): its exit code, the container
    /// deleted and its status terminated. `None` when stopped meanwhile
    /// (the container then terminated and cleaned up).
    async fn supervise_run(&self, pid: i32, grace: Duration) -> Option<i32> {
        let (ns, name) = pod_name(&self.pod);
        let cname = &self.c.name;
        let state = running();
        let started_at = state.running.as_ref().and_then(|r| r.started_at.clone());
        set_status(&self.rt, false, cname, |s| {
            s.state = Some(state);
            s.started = Some(self.c.startup_probe.is_none());
            s.ready = false;
        });
        self.inner.kick();
        let run_token = self.stop.child_token();
        let (unhealthy_tx, mut unhealthy) = watch::channel(None::<String>);
        tokio::spawn(probes(
            self.inner.clone(),
            self.c.clone(),
            self.netns.clone(),
            self.ctr.id.clone(),
            self.rt.clone(),
            run_token.clone(),
            unhealthy_tx,
        ));
        let exit = container::wait_exit(pid, &self.ctr.log, self.inner.cfg.log_max_bytes);
        tokio::pin!(exit);
        let code = tokio::select! {
            code = &mut exit => code,
            why = liveness_failure(&mut unhealthy) => {
                self.inner.event("Pod", &ns, &name, true, "Killing", format!("container {cname} failed liveness probe, will be restarted: {why}"));
                terminate(&self.inner, &self.ctr, grace, &mut exit).await
            }
            _ = self.stop.cancelled() => {
                run_token.cancel();
                set_status(&self.rt, false, cname, |s| s.ready = false);
                terminate(&self.inner, &self.ctr, grace, &mut exit).await;
                container::cleanup(&self.inner, &self.ctr).await;
                return None;
            }
        };
        run_token.cancel();
        let _ = self.inner.runc.delete(&self.ctr.id).await;
        set_status(&self.rt, false, cname, |s| {
            s.last_state = Some(terminated(code, started_at.clone()));
            s.state = Some(terminated(code, started_at.clone()));
            s.ready = false;
        });
        self.inner.kick();
        Some(code)
    }

    /// Counts a restart and returns the back-off before it, reported as
    /// CrashLoopBackOff when not zero.
    fn back_off(&self, crashes: u32) -> Duration {
        let (ns, name) = pod_name(&self.pod);
        let cname = &self.c.name;
        set_status(&self.rt, false, cname, |s| s.restart_count += 1);
        let delay = container::backoff(
            self.inner.cfg.backoff_base,
            self.inner.cfg.backoff_max,
            crashes,
        );
        if !delay.is_zero() {
            let message = format!("back-off {delay:?} restarting failed container {cname}");
            self.inner
                .event("Pod", &ns, &name, true, "BackOff", message);
            set_status(&self.rt, false, cname, |s| {
                s.state = Some(waiting(
                    "CrashLoopBackOff",
                    format!("back-off {delay:?} restarting failed container={cname} pod={name}"),
                ))
            });
        }
        delay
    }
}

/// Whether a container that exited with `code` is restarted under
/// `restartPolicy` `policy` (Always when unset or unknown).
fn restarts(policy: &str, code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

/// SIGTERM, up to `grace` for the exit, then SIGKILL.
async fn terminate(
    inner: &Inner,
    ctr: &Ctr,
    grace: Duration,
    exit: &mut std::pin::Pin<&mut impl std::future::Future<Output = i32>>,
) -> i32 {
    inner.runc.kill(&ctr.id, "TERM").await;
    if let Ok(code) = tokio::time::timeout(grace, exit.as_mut()).await {
        return code;
    }
    inner.runc.kill(&ctr.id, "KILL").await;
    tokio::time::timeout(Duration::from_secs(10), exit.as_mut())
        .await
        .unwrap_or(137)
}

#[cfg(test)]
mod tests {
    use super::restarts;

    #[test]
    fn restart_policy_decides_by_exit_code() {
        assert!(restarts("Always", 0) && restarts("Always", 1));
        assert!(!restarts("OnFailure", 0) && restarts("OnFailure", 2));
        assert!(!restarts("Never", 0) && !restarts("Never", 1));
        assert!(restarts("", 0), "unknown means Always");
    }
}
