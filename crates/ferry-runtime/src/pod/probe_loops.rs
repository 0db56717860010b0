//! The probe loops of a running app container: the startup probe first,
//! then liveness and readiness side by side, updating the container's
//! `started`/`ready` and reporting a liveness failure to its supervisor.
//! One probe attempt is [`probe::check`].

use std::collections::BTreeMap;
use std::path::PathBuf;
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
        let Some(p) = readiness else {
            return std::future::pending::<()>().await;
        };
        let t = probe::timing(&p);
        tokio::time::sleep(t.initial_delay).await;
        let (mut ok, mut bad, mut ready) = (0u32, 0u32, false);
        loop {
            match probe::check(&p, &netns, &ports, &inner.runc, &id).await {
                Ok(()) => {
                    ok += 1;
                    bad = 0;
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
            tokio::time::sleep(t.period).await;
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
