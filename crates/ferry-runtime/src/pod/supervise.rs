//! Supervision of a pod's containers: init containers one by one to
//! completion, and each app container's life — start, probes (startup,
//! liveness, readiness), exit, restart per `restartPolicy` with
//! CrashLoopBackOff, and graceful termination (SIGTERM, grace, SIGKILL).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::sync::MutexExt;
use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::images::Unpacked;
use crate::pod::container::{self, Ctr, Rt, running, set_status, terminated, waiting};
use crate::pod::probe;
use crate::runtime::Inner;

fn pod_name(pod: &Pod) -> (String, String) {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// Runs init containers in order; false if the pod cannot proceed
/// (restartPolicy Never and one failed).
pub async fn run_inits(
    inner: &Inner,
    pod: &Pod,
    inits: &[Container],
    images: &BTreeMap<String, Unpacked>,
    dir: &std::path::Path,
    netns: &std::path::Path,
    rt: &Rt,
) -> bool {
    let (ns, name) = pod_name(pod);
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
            let code =
                match container::start(inner, pod, c, &images[&c.name], &ctr, netns, dir).await {
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
        let (ns, name) = pod_name(&self.pod);
        let cname = self.c.name.clone();
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
                None => match container::start(
                    &self.inner,
                    &self.pod,
                    &self.c,
                    &self.image,
                    &self.ctr,
                    &self.netns,
                    &self.dir,
                )
                .await
                {
                    Ok(pid) => {
                        self.inner.event(
                            "Pod",
                            &ns,
                            &name,
                            false,
                            "Started",
                            format!("started container {cname}"),
                        );
                        pid
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
                        self.inner.event(
                            "Pod",
                            &ns,
                            &name,
                            true,
                            "Failed",
                            format!("container {cname}: {e}"),
                        );
                        set_status(&self.rt, false, &cname, |s| {
                            s.state = Some(waiting(reason, e.to_string()))
                        });
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
            let state = running();
            let started_at = state.running.as_ref().and_then(|r| r.started_at.clone());
            set_status(&self.rt, false, &cname, |s| {
                s.state = Some(state);
                s.started = Some(self.c.startup_probe.is_none());
                s.ready = false;
            });
            self.inner.kick();
            let started = Instant::now();
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
                    set_status(&self.rt, false, &cname, |s| s.ready = false);
                    terminate(&self.inner, &self.ctr, grace, &mut exit).await;
                    container::cleanup(&self.inner, &self.ctr).await;
                    return;
                }
            };
            run_token.cancel();
            let _ = self.inner.runc.delete(&self.ctr.id).await;
            set_status(&self.rt, false, &cname, |s| {
                s.last_state = Some(terminated(code, started_at.clone()));
                s.state = Some(terminated(code, started_at.clone()));
                s.ready = false;
            });
            self.inner.kick();
            let restart = match policy.as_str() {
                "Never" => false,
                "OnFailure" => code != 0,
                _ => true,
            };
            if !restart {
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
            set_status(&self.rt, false, &cname, |s| s.restart_count += 1);
            let delay = container::backoff(
                self.inner.cfg.backoff_base,
                self.inner.cfg.backoff_max,
                crashes,
            );
            if !delay.is_zero() {
                self.inner.event(
                    "Pod",
                    &ns,
                    &name,
                    true,
                    "BackOff",
                    format!("back-off {delay:?} restarting failed container {cname}"),
                );
                set_status(&self.rt, false, &cname, |s| {
                    s.state = Some(waiting(
                        "CrashLoopBackOff",
                        format!(
                            "back-off {delay:?} restarting failed container={cname} pod={name}"
                        ),
                    ))
                });
            }
            tokio::select! {
                _ = self.stop.cancelled() => { container::cleanup(&self.inner, &self.ctr).await; return; }
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

/// Resolves with the reason once the probes report the container unhealthy.
async fn liveness_failure(rx: &mut watch::Receiver<Option<String>>) -> String {
    loop {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        if let Some(why) = rx.borrow().clone() {
            return why;
        }
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

/// Runs the startup probe, then liveness and readiness, updating the
/// container's `started`/`ready` and reporting liveness failure.
async fn probes(
    inner: Arc<Inner>,
    c: Container,
    netns: PathBuf,
    id: String,
    rt: Rt,
    stop: CancellationToken,
    unhealthy: watch::Sender<Option<String>>,
) {
    let ports = container::named_ports(&c);
    if let Some(p) = &c.startup_probe {
        match until(&inner, p, &netns, &ports, &id, &stop, true).await {
            Some(Ok(())) => set_status(&rt, false, &c.name, |s| s.started = Some(true)),
            Some(Err(why)) => {
                let _ = unhealthy.send(Some(format!("startup probe failed: {why}")));
                return;
            }
            None => return,
        }
    }
    let readiness = c.readiness_probe.clone();
    let liveness = c.liveness_probe.clone();
    if readiness.is_none() {
        set_status(&rt, false, &c.name, |s| s.ready = true);
        inner.kick();
    }
    let ready_loop = async {
        let Some(p) = readiness else {
            return std::future::pending::<()>().await;
        };
        let t = probe::timing(&p);
        tokio::time::sleep(t.initial_delay).await;
        let (mut ok, mut bad, mut ready, mut ever_ok) = (0u32, 0u32, false, false);
        loop {
            match probe::check(&p, &netns, &ports, &inner.runc, &id).await {
                Ok(()) => {
                    ok += 1;
                    bad = 0;
                    ever_ok = true;
                }
                Err(_) => {
                    bad += 1;
                    ok = 0;
                }
            }
            let now_ready = if ok >= t.success_threshold {
                true
            } else if bad >= t.failure_threshold {
                false
            } else {
                ready
            };
            if now_ready != ready {
                ready = now_ready;
                set_status(&rt, false, &c.name, |s| s.ready = ready);
                inner.kick();
                crate::services::publish(&inner);
            }
            tokio::time::sleep(probe::readiness_wait(&t, ever_ok, bad)).await;
        }
    };
    let live_loop = async {
        let Some(p) = liveness else {
            return std::future::pending::<()>().await;
        };
        if let Some(Err(why)) = until(&inner, &p, &netns, &ports, &id, &stop, false).await {
            let _ = unhealthy.send(Some(format!("liveness probe failed: {why}")));
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = ready_loop => {}
        _ = live_loop => {}
    }
}

/// Probes every period: `first_success` stops at the first success (startup);
/// otherwise runs until `failureThreshold` consecutive failures.
async fn until(
    inner: &Inner,
    p: &Probe,
    netns: &std::path::Path,
    ports: &BTreeMap<&str, i32>,
    id: &str,
    stop: &CancellationToken,
    first_success: bool,
) -> Option<Result<(), Error>> {
    let t = probe::timing(p);
    tokio::select! { _ = stop.cancelled() => return None, _ = tokio::time::sleep(t.initial_delay) => {} }
    let mut bad = 0;
    loop {
        match probe::check(p, netns, ports, &inner.runc, id).await {
            Ok(()) if first_success => return Some(Ok(())),
            Ok(()) => bad = 0,
            Err(why) => {
                bad += 1;
                if bad >= t.failure_threshold {
                    return Some(Err(why));
                }
            }
        }
        tokio::select! { _ = stop.cancelled() => return None, _ = tokio::time::sleep(t.period) => {} }
    }
}
