//! The probe loops of a running app container: the startup probe first,
//! then liveness and readiness side by side, updating the container's
//! `started`/`ready` and reporting a liveness failure to its supervisor.
//! One probe attempt is [`probe::check`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Probe};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::pod::container::{self, Rt, set_status};
use crate::pod::probe;
use crate::runtime::Inner;

/// Resolves with the reason once the probes report the container unhealthy.
pub(super) async fn liveness_failure(rx: &mut watch::Receiver<Option<String>>) -> String {
    loop {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        if let Some(why) = rx.borrow().clone() {
            return why;
        }
    }
}

/// Runs the startup probe, then liveness and readiness, updating the
/// container's `started`/`ready` and reporting liveness failure.
pub(super) async fn probes(
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
        match readiness {
            Some(p) => readiness_loop(&inner, &p, &netns, &ports, &id, &rt, &c.name).await,
            None => std::future::pending::<()>().await,
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

/// Runs the readiness probe forever, updating the container's `ready`
/// (and the Services' endpoints) whenever it flips.
async fn readiness_loop(
    inner: &Arc<Inner>,
    p: &Probe,
    netns: &Path,
    ports: &BTreeMap<&str, i32>,
    id: &str,
    rt: &Rt,
    cname: &str,
) {
    let t = probe::timing(p);
    tokio::time::sleep(t.initial_delay).await;
    let (mut ok, mut bad, mut ready, mut ever_ok) = (0u32, 0u32, false, false);
    loop {
        match probe::check(p, netns, ports, &inner.runc, id).await {
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
        let now_ready = ready_after(ok, bad, ready, t.success_threshold, t.failure_threshold);
        if now_ready != ready {
            ready = now_ready;
            set_status(rt, false, cname, |s| s.ready = ready);
            inner.kick();
            crate::services::publish(inner);
        }
        tokio::time::sleep(probe::readiness_wait(&t, ever_ok, bad)).await;
    }
}

/// Readiness after `ok` consecutive successes or `bad` consecutive
/// failures: flips only at a threshold, else stays `ready`.
fn ready_after(ok: u32, bad: u32, ready: bool, success: u32, failure: u32) -> bool {
    if ok >= success {
        true
    } else if bad >= failure {
        false
    } else {
        ready
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

#[cfg(test)]
mod tests {
    use super::ready_after;

    #[test]
    fn readiness_flips_only_at_a_threshold() {
        assert!(ready_after(1, 0, false, 1, 3));
        assert!(
            ready_after(0, 2, true, 1, 3),
            "two failures of three keep it"
        );
        assert!(!ready_after(0, 3, true, 1, 3));
        assert!(
            !ready_after(1, 0, false, 2, 3),
            "one success of two is not enough"
        );
    }
}
