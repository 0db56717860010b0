//! Per-rule status (queue length, lag, bytes in flight, last success and
//! failure) as the API and CLI show it, and the same figures as Prometheus
//! metrics labelled by rule: `ferry_replication_lag_seconds` (age of the
//! oldest pending task), `..._queue_depth`, `..._bytes_in_flight`,
//! `..._last_success_timestamp_seconds`, `..._last_failure_timestamp_seconds`,
//! `..._images_total`, `..._deletions_total`, `..._failures_total`,
//! `..._bytes_total`.

use ferry_core::sync::MutexExt;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use ferry_core::replication_spec::ReplicationMode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::queue::{Op, now_ms};

/// What the API returns for one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleStatus {
    pub name: String,
    pub source: String,
    pub target: String,
    /// `spec.mode`: `pull` when this (target) region polls the source.
    #[serde(default, skip_serializing_if = "ReplicationMode::is_push")]
    pub mode: ReplicationMode,
    /// Tasks waiting or in flight.
    pub pending: usize,
    /// Age of the oldest pending task (0 when nothing is pending).
    pub lag_seconds: f64,
    /// When the last copy or delete completed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    /// `repository:reference` of that copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_image: Option<String>,
    /// Images copied since start.
    pub replicated: u64,
    /// Deletions replicated since start (`spec.deletes`).
    #[serde(default)]
    pub deleted: u64,
    /// Blob bytes sent since start.
    pub bytes: u64,
    /// Bytes of the blobs being copied now that are not sent yet.
    #[serde(default)]
    pub bytes_in_flight: u64,
    /// Failed attempts since start.
    pub failures: u64,
    /// When the last attempt failed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last reconcile pass finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile: Option<String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

/// The engine's metrics, registered under `replication_`.
#[derive(Debug, Default)]
pub struct Metrics {
    lag: Family<RuleLabel, Gauge<f64, AtomicU64>>,
    depth: Family<RuleLabel, Gauge>,
    in_flight: Family<RuleLabel, Gauge>,
    last_success: Family<RuleLabel, Gauge<f64, AtomicU64>>,
    last_failure: Family<RuleLabel, Gauge<f64, AtomicU64>>,
    images: Family<RuleLabel, Counter>,
    deletions: Family<RuleLabel, Counter>,
    failures: Family<RuleLabel, Counter>,
    bytes: Family<RuleLabel, Counter>,
}

impl Metrics {
    /// Registers the metrics into `registry` under the `replication` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let sub = registry.sub_registry_with_prefix("replication");
        sub.register(
            "lag_seconds",
            "Age of the oldest pending replication task",
            m.lag.clone(),
        );
        sub.register("queue_depth", "Replication tasks pending", m.depth.clone());
        sub.register(
            "bytes_in_flight",
            "Bytes of blobs being copied not yet sent",
            m.in_flight.clone(),
        );
        sub.register(
            "last_success_timestamp_seconds",
            "When a copy or deletion last completed (Unix time)",
            m.last_success.clone(),
        );
        sub.register(
            "last_failure_timestamp_seconds",
            "When an attempt last failed (Unix time)",
            m.last_failure.clone(),
        );
        sub.register("images", "Images replicated", m.images.clone());
        sub.register(
            "deletions",
            "Deletions replicated (spec.deletes)",
            m.deletions.clone(),
        );
        sub.register(
            "failures",
            "Failed replication attempts",
            m.failures.clone(),
        );
        sub.register("bytes", "Blob bytes sent by replication", m.bytes.clone());
        m
    }
}

/// Running totals per rule, shared by the engine's tasks.
#[derive(Debug, Default)]
pub struct Stats {
    rules: Mutex<BTreeMap<String, RuleStatus>>,
    pub metrics: Metrics,
}

impl Stats {
    pub fn new(
        metrics: Metrics,
        rules: impl IntoIterator<Item = (String, String, String, ReplicationMode)>,
    ) -> Self {
        let rules = rules
            .into_iter()
            .map(|(name, source, target, mode)| {
                (
                    name.clone(),
                    RuleStatus {
                        name,
                        source,
                        target,
                        mode,
                        ..Default::default()
                    },
                )
            })
            .collect();
        Self {
            rules: Mutex::new(rules),
            metrics,
        }
    }

    fn with(&self, rule: &str, f: impl FnOnce(&mut RuleStatus)) {
        if let Some(s) = self.rules.lock_or_recover().get_mut(rule) {
            f(s);
        }
    }

    pub fn success(&self, rule: &str, image: &str, bytes: u64, op: Op) {
        let l = RuleLabel { rule: rule.into() };
        match op {
            Op::Copy => self.metrics.images.get_or_create(&l).inc(),
            Op::Delete => self.metrics.deletions.get_or_create(&l).inc(),
        };
        self.metrics.bytes.get_or_create(&l).inc_by(bytes);
        self.metrics.last_success.get_or_create(&l).set(unix_now());
        self.with(rule, |s| {
            s.last_success = Some(now_rfc3339());
            s.last_success_image = Some(image.into());
            s.replicated += u64::from(op == Op::Copy);
            s.deleted += u64::from(op == Op::Delete);
            s.bytes += bytes;
        });
    }

    pub fn failure(&self, rule: &str, error: &str) {
        let l = RuleLabel { rule: rule.into() };
        self.metrics.failures.get_or_create(&l).inc();
        self.metrics.last_failure.get_or_create(&l).set(unix_now());
        self.with(rule, |s| {
            s.failures += 1;
            s.last_failure = Some(now_rfc3339());
            s.last_error = Some(error.into());
        });
    }

    pub fn reconciled(&self, rule: &str, error: Option<&str>) {
        self.with(rule, |s| {
            s.last_reconcile = Some(now_rfc3339());
            if let Some(e) = error {
                s.last_error = Some(e.into());
            }
        });
    }

    /// Refreshes pending and lag from the queue and the bytes in flight
    /// from the rules; returns every rule's status.
    pub fn snapshot(
        &self,
        pending: impl Fn(&str) -> (usize, Option<u64>),
        in_flight: impl Fn(&str) -> u64,
    ) -> Vec<RuleStatus> {
        let mut rules = self.rules.lock_or_recover();
        let now = now_ms();
        for s in rules.values_mut() {
            let (n, oldest) = pending(&s.name);
            s.pending = n;
            s.lag_seconds = oldest.map_or(0.0, |o| now.saturating_sub(o) as f64 / 1000.0);
            s.bytes_in_flight = in_flight(&s.name);
            let l = RuleLabel {
                rule: s.name.clone(),
            };
            self.metrics.depth.get_or_create(&l).set(n as i64);
            self.metrics
                .in_flight
                .get_or_create(&l)
                .set(i64::try_from(s.bytes_in_flight).unwrap_or(i64::MAX));
            self.metrics.lag.get_or_create(&l).set(s.lag_seconds);
        }
        rules.values().cloned().collect()
    }
}

fn unix_now() -> f64 {
    now_ms() as f64 / 1000.0
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
