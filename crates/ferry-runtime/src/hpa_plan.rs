//! The HorizontalPodAutoscaler's decisions, pure (Kubernetes' replica
//! calculator and `reconcileAutoscaler`): per metric, desired =
//! ceil(ready pods × current / target) unless within the 0.1 tolerance;
//! pods without a metric count as 0 % on a scale-up and as 100 % (or the
//! target) on a scale-down, unready pods as 0 % for a CPU scale-up; the
//! highest proposal of all metrics wins, then `hpa_behavior` stabilizes and
//! limits it within min/maxReplicas. `hpa.rs` reads the inputs and writes
//! the result; values are in milli-units as Kubernetes computes them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::hpa_behavior::{self, Args, Behavior, History};
pub use crate::hpa_replicas::{plain_replicas, utilization_replicas};

/// One pod the target selects, as one metric sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodMetric {
    pub name: String,
    /// Deleted, failed or pending: left out.
    pub ignored: bool,
    /// Not Ready (matters for CPU only).
    pub unready: bool,
    /// The measured value (milli-units), if any.
    pub value: Option<i64>,
    /// The request the value is compared with (milli-units);
    /// `Err(container)` names a container without one.
    pub request: Result<i64, String>,
}

/// What a metric is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Percent of the pods' requests.
    Utilization(i32),
    /// Average per pod, milli-units.
    AverageValue(i64),
}

/// Which metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Resource(String),
    ContainerResource(String, String),
    Pods(String),
}

/// One metric of the spec with what was measured for it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricInput {
    pub source: Source,
    pub target: Target,
    /// The pods, or why they could not be measured.
    pub pods: Result<Vec<PodMetric>, String>,
}

/// One status condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Condition {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Everything one sync decides from.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The target's `spec.replicas`.
    pub current: i32,
    pub min: i32,
    pub max: i32,
    pub status_replicas: i32,
    pub metrics: &'a [MetricInput],
    pub behavior: &'a Behavior,
    pub now: DateTime<Utc>,
}

/// What one sync decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub desired: i32,
    pub rescale: bool,
    /// No metric gave a usable count: `status.desiredReplicas` stays.
    pub failed: bool,
    pub conditions: Vec<Condition>,
    /// `status.currentMetrics`, one per spec metric.
    pub metrics: Vec<Value>,
    /// `(reason, message, warning)`.
    pub events: Vec<(String, String, bool)>,
}

/// One sync of an HPA (`reconcileAutoscaler`).
pub fn decide(i: &Input<'_>, h: &mut History) -> Decision {
    let mut d = Decision::default();
    let mut reason = String::new();
    let mut rescale = true;
    let mut desired;
    if i.current == 0 && i.min != 0 {
        desired = 0;
        rescale = false;
        d.conditions.push(Condition::new(
            "ScalingActive",
            false,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        ));
    } else if i.current > i.max {
        reason = "Current number of replicas above Spec.MaxReplicas".into();
        desired = i.max;
    } else if i.current < i.min {
        reason = "Current number of replicas below Spec.MinReplicas".into();
        desired = i.min;
    } else {
        let Some((proposal, metric)) = for_metrics(i, &mut d) else {
            d.failed = true;
            d.desired = i.current;
            return d;
        };
        desired = proposal;
        if desired > i.current {
            reason = format!("{metric} above target");
        } else if desired < i.current {
            reason = "All metrics below target".into();
        }
        let args = Args {
            current: i.current,
            desired,
            min: i.min,
            max: i.max,
            status_replicas: i.status_replicas,
            now: i.now,
        };
        desired = hpa_behavior::normalize(i.behavior, h, args, &mut d.conditions);
        rescale = desired != i.current;
    }
    if rescale {
        d.conditions.push(Condition::new(
            "AbleToScale",
            true,
            "SucceededRescale",
            format!("the HPA controller was able to update the target scale to {desired}"),
        ));
        d.events.push((
            "SuccessfulRescale".into(),
            format!("New size: {desired}; reason: {reason}"),
            false,
        ));
        h.scaled(i.behavior, i.current, desired, i.now);
    } else {
        desired = i.current;
    }
    d.desired = desired;
    d.rescale = rescale;
    d
}

/// The highest proposal of the metrics and the metric making it; `None`
/// when every metric failed, or some did and the rest would scale down.
fn for_metrics(i: &Input<'_>, d: &mut Decision) -> Option<(i32, String)> {
    let (mut replicas, mut metric) = (0, String::new());
    let mut invalid = 0;
    let mut first: Option<(String, String)> = None;
    for m in i.metrics {
        match propose(i.current, m) {
            Ok((n, name, status)) => {
                d.metrics.push(status);
                if replicas == 0 || n > replicas {
                    (replicas, metric) = (n, name);
                }
            }
            Err((reason, message)) => {
                d.metrics.push(json!({"type": ""}));
                d.events.push((reason.clone(), message.clone(), true));
                invalid += 1;
                first.get_or_insert((reason, message));
            }
        }
    }
    if let Some((reason, message)) = first
        && (invalid >= i.metrics.len() || replicas < i.current)
    {
        d.conditions.push(Condition::new(
            "ScalingActive",
            false,
            reason,
            format!("the HPA was unable to compute the replica count: {message}"),
        ));
        d.events.push((
            "FailedComputeMetricsReplicas".into(),
            format!(
                "invalid metrics ({invalid} invalid out of {}), first error is: {message}",
                i.metrics.len()
            ),
            true,
        ));
        return None;
    }
    d.conditions.push(Condition::new(
        "ScalingActive",
        true,
        "ValidMetricFound",
        format!("the HPA was able to successfully calculate a replica count from {metric}"),
    ));
    Some((replicas, metric))
}

/// One metric's proposal: `(replicas, metric name, status)`, or the
/// condition reason and message of its failure.
fn propose(current: i32, m: &MetricInput) -> Result<(i32, String, Value), (String, String)> {
    let (fail, what, cpu) = match &m.source {
        Source::Resource(r) => (
            "FailedGetResourceMetric",
            format!("{r} resource"),
            r == "cpu",
        ),
        Source::ContainerResource(r, _) => (
            "FailedGetContainerResourceMetric",
            format!("{r} container resource"),
            r == "cpu",
        ),
        Source::Pods(n) => ("FailedGetPodsMetric", format!("pods metric {n}"), false),
    };
    let err = |e: String| {
        (
            fail.to_string(),
            format!("failed to get {what} metric value: {e}"),
        )
    };
    let pods = m.pods.as_ref().map_err(|e| err(e.clone()))?;
    if pods.iter().all(|p| p.value.is_none()) {
        return Err(err(format!("unable to get {what}: no metrics returned")));
    }
    let (replicas, current) = match m.target {
        Target::Utilization(t) => {
            let (n, util, raw) = utilization_replicas(current, t, pods, cpu).map_err(err)?;
            let current = json!({"averageUtilization": util, "averageValue": quantity(raw)});
            (n, current)
        }
        Target::AverageValue(t) => {
            let (n, usage) = plain_replicas(current, t, pods, cpu).map_err(err)?;
            (n, json!({"averageValue": quantity(usage)}))
        }
    };
    let (name, status) = match (&m.source, m.target) {
        (Source::Resource(r), t) => (
            metric_name(&what, t),
            json!({"type": "Resource", "resource": {"name": r, "current": current}}),
        ),
        (Source::ContainerResource(r, c), t) => (
            metric_name(&what, t),
            json!({"type": "ContainerResource",
                   "containerResource": {"name": r, "container": c, "current": current}}),
        ),
        (Source::Pods(n), _) => (
            what.clone(),
            json!({"type": "Pods", "pods": {"metric": {"name": n}, "current": current}}),
        ),
    };
    Ok((replicas, name, status))
}

fn metric_name(what: &str, t: Target) -> String {
    match t {
        Target::Utilization(_) => format!("{what} utilization (percentage of request)"),
        Target::AverageValue(_) => what.to_string(),
    }
}

/// A milli-unit amount as Kubernetes prints a DecimalSI quantity.
pub fn quantity(milli: i64) -> String {
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let mut n = milli / 1000;
    let mut suffix = "";
    for s in ["k", "M", "G", "T", "P", "E"] {
        if n == 0 || n % 1000 != 0 {
            break;
        }
        n /= 1000;
        suffix = s;
    }
    format!("{n}{suffix}")
}

/// `status.conditions`: this sync's conditions over the previous ones,
/// keeping `lastTransitionTime` where the status did not change.
pub fn conditions(old: Option<&Value>, new: &[Condition], now: &str) -> Value {
    let old: Vec<Value> = old.and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for ty in ["AbleToScale", "ScalingActive", "ScalingLimited"] {
        let prev = old.iter().find(|c| c["type"] == ty);
        // The last condition of a type set this sync wins.
        let Some(c) = new.iter().rev().find(|c| c.type_ == ty) else {
            out.extend(prev.cloned());
            continue;
        };
        let status = if c.status { "True" } else { "False" };
        let since = match prev {
            Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
            _ => json!(now),
        };
        out.push(
            json!({"type": ty, "status": status, "lastTransitionTime": since,
            "reason": c.reason, "message": c.message}),
        );
    }
    Value::Array(out)
}

#[cfg(test)]
#[path = "hpa_plan_tests.rs"]
mod tests;
