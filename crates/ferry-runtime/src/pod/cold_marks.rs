//! The pod worker's side of cold-start visibility (`crate::cold_start`):
//! a Knative pod started afresh is tracked, its steps marked as the worker
//! passes them, and its readiness marked by a watcher that, like Knative's
//! queue-proxy, dials the serving port (`user-port`) every few milliseconds
//! until it accepts a connection and the container is Ready.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::sync::MutexExt;
use k8s_openapi::api::core::v1::{Container, Pod};
use tokio_util::sync::CancellationToken;

use crate::knative_spec::LABEL_REVISION;
use crate::pod::container::Rt;
use crate::runtime::Inner;

/// How often the watcher dials.
const DIAL_EVERY: Duration = Duration::from_millis(5);
/// How long it watches at most.
const WATCH_FOR: Duration = Duration::from_secs(300);

/// Whether `pod` belongs to a Knative revision.
pub(super) fn knative(pod: &Pod) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(LABEL_REVISION))
}

/// The pod's uid, for marks made where only the pod is at hand.
pub(super) fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// Marks a step of the pod's start (ignored unless tracked).
pub(super) fn mark(inner: &Inner, pod: &Pod, f: impl FnOnce(&mut crate::cold_start::Marks)) {
    inner.serving.cold.mark(uid(pod), f);
}

/// The serving container and its port.
fn serving_port(apps: &[Container]) -> Option<(String, u16)> {
    apps.iter().find_map(|c| {
        let p = c
            .ports
            .as_ref()?
            .iter()
            .find(|p| p.name.as_deref() == Some("user-port"))?;
        Some((c.name.clone(), u16::try_from(p.container_port).ok()?))
    })
}

/// Marks the pod ready once its serving port accepts a connection and its
/// serving container is Ready; gives up when `stop` is cancelled.
pub(super) fn watch_ready(
    inner: Arc<Inner>,
    uid: String,
    netns: PathBuf,
    apps: &[Container],
    rt: Rt,
    stop: CancellationToken,
) {
    if !inner.serving.cold.waiting_ready(&uid) {
        return;
    }
    let Some((name, port)) = serving_port(apps) else {
        return;
    };
    tokio::spawn(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + WATCH_FOR;
        while Instant::now() < deadline && !stop.is_cancelled() {
            // The instant Ready was seen, before the dial: the gateway may
            // forward the waiting request as soon as the status is Ready,
            // and under load the dial's answer can come after the response
            // went out — the mark must not.
            let seen = Instant::now();
            let ready = rt
                .lock_or_recover()
                .status
                .container_statuses
                .iter()
                .flatten()
                .any(|s| s.name == name && s.ready);
            if ready
                && crate::net::dial(Some(&netns), addr, Duration::from_secs(1))
                    .await
                    .is_ok()
            {
                inner.serving.cold.mark(&uid, |m| m.ready = Some(seen));
                inner.kick();
                return;
            }
            tokio::time::sleep(DIAL_EVERY).await;
        }
    });
}
