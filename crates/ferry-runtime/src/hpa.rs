//! The HorizontalPodAutoscaler controller's reads and writes: every
//! `hpa_sync_period` (and when its spec changes) each HPA's target is looked
//! up by `scaleTargetRef` (Deployment, ReplicaSet, StatefulSet: any stored
//! `apps/v1` object with `spec.replicas` and a selector), the pods it
//! selects are measured (`hpa_metrics`), `hpa_plan` decides, and the
//! target's `spec.replicas` and the HPA's status are written. Recent
//! recommendations and scale events live in memory, as in Kubernetes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_core::LabelSelector;
use ferry_core::objects::{GroupKind, StoredObject};
use ferry_core::sync::{MutexExt, RwLockExt};
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, MetricSpec};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::deploy::Changes;
use crate::hpa_behavior::{Behavior, History};
use crate::hpa_metrics::{Sampler, metric, to_sample};
use crate::hpa_plan::{self, Decision, Input, MetricInput};
use crate::kinds::Kind;
use crate::runtime::Inner;
use crate::store::Key;

/// What the controller keeps between rounds.
#[derive(Debug, Default)]
pub struct State {
    sampler: Sampler,
    hpas: HashMap<Key, PerHpa>,
}

#[derive(Debug, Default)]
struct PerHpa {
    synced: Option<DateTime<Utc>>,
    generation: Option<i64>,
    history: History,
}

/// The object an HPA scales, with what it selects.
struct ScaleTarget {
    obj: Arc<StoredObject>,
    replicas: i32,
    selector: Option<LabelSelector>,
}

/// Samples the pods HPAs target and syncs the HPAs that are due.
pub fn reconcile(inner: &Inner, st: &mut State, ch: &mut Changes) {
    let hpas = inner.list(Kind::HorizontalPodAutoscaler);
    st.hpas.retain(|k, _| hpas.iter().any(|o| &Key::of(o) == k));
    if hpas.is_empty() {
        return;
    }
    let pods: Vec<Pod> = inner
        .list(Kind::Pod)
        .iter()
        .filter_map(|o| serde_json::from_value(o.value.clone()).ok())
        .collect();
    let mut work = Vec::new();
    let mut sampled = Vec::new();
    for o in &hpas {
        let Ok(h) = serde_json::from_value::<HorizontalPodAutoscaler>(o.value.clone()) else {
            continue;
        };
        let ns = o.namespace.clone().unwrap_or_default();
        let target = target(inner, &ns, &h);
        let mine: Vec<&Pod> = match target.as_ref().and_then(|t| t.selector.as_ref()) {
            Some(sel) => pods.iter().filter(|p| selects(sel, &ns, p)).collect(),
            None => vec![],
        };
        sampled.extend(mine.iter().filter_map(|p| to_sample(p)));
        work.push((o, h, target, mine));
    }
    // Two HPAs may select the same pods.
    sampled.sort_by(|a, b| a.uid.cmp(&b.uid));
    sampled.dedup_by(|a, b| a.uid == b.uid);
    let counts = inner.requests.read_or_recover().clone();
    st.sampler.sample(&sampled, counts.as_deref());
    let now = inner.cfg.clock.utc();
    let period = chrono::Duration::from_std(inner.cfg.hpa_sync_period).unwrap_or_default();
    for (o, h, target, mine) in work {
        let per = st.hpas.entry(Key::of(o)).or_default();
        let generation = h.metadata.generation;
        let due = per.synced.is_none_or(|t| now - t >= period) || per.generation != generation;
        if !due {
            continue;
        }
        per.synced = Some(now);
        per.generation = generation;
        sync(
            inner,
            &st.sampler,
            &mut per.history,
            o,
            &h,
            target,
            &mine,
            now,
            ch,
        );
    }
}

/// One HPA's sync.
#[allow(clippy::too_many_arguments)]
fn sync(
    inner: &Inner,
    sampler: &Sampler,
    history: &mut History,
    o: &StoredObject,
    h: &HorizontalPodAutoscaler,
    target: Option<ScaleTarget>,
    pods: &[&Pod],
    now: DateTime<Utc>,
    ch: &mut Changes,
) {
    let ns = o.namespace.clone().unwrap_or_default();
    let spec = h.spec.clone().unwrap_or_default();
    let r = &spec.scale_target_ref;
    let reference = format!("{}/{}", r.kind, r.name);
    let old = o.value.get("status").cloned().unwrap_or(json!({}));
    let Some(t) = target else {
        let why = format!("{} \"{}\" not found", r.kind.to_lowercase(), r.name);
        failed(
            inner,
            o,
            ch,
            &old,
            now,
            "FailedGetScale",
            &why,
            "AbleToScale",
        );
        return;
    };
    if t.selector.is_none() {
        let why = "the HPA target's scale is missing a selector";
        failed(
            inner,
            o,
            ch,
            &old,
            now,
            "InvalidSelector",
            why,
            "ScalingActive",
        );
        return;
    }
    let metrics: Vec<MetricInput> = spec
        .metrics
        .iter()
        .flatten()
        .filter_map(|m| metric(inner, sampler, m, pods))
        .collect();
    let metrics = if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
        // The API's default: 80 % CPU.
        let m: MetricSpec = serde_json::from_value(json!({"type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}))
        .expect("a valid metric");
        metric(inner, sampler, &m, pods).into_iter().collect()
    } else {
        metrics
    };
    let behavior = Behavior::of(spec.behavior.as_ref());
    let input = Input {
        current: t.replicas,
        min: spec.min_replicas.unwrap_or(1),
        max: spec.max_replicas,
        status_replicas: old["currentReplicas"].as_i64().unwrap_or(0) as i32,
        metrics: &metrics,
        behavior: &behavior,
        now,
    };
    let d = hpa_plan::decide(&input, history);
    for (reason, message, warning) in &d.events {
        inner.event(
            "HorizontalPodAutoscaler",
            &ns,
            &o.name,
            *warning,
            reason,
            message.clone(),
        );
    }
    if d.rescale {
        tracing::info!(hpa = %format!("{ns}/{}", o.name), target = %reference,
            from = t.replicas, to = d.desired, "rescaled");
        scale(ch, &t.obj, d.desired);
    }
    write_status(ch, o, &old, status(&old, t.replicas, &d, now));
}

/// The status after decision `d`.
fn status(old: &Value, current: i32, d: &Decision, now: DateTime<Utc>) -> Value {
    let stamp = crate::clock::rfc3339(now);
    let mut s = json!({
        "currentReplicas": current,
        "desiredReplicas": if d.failed { old["desiredReplicas"].clone() } else { json!(d.desired) },
        "conditions": hpa_plan::conditions(old.get("conditions"), &d.conditions, &stamp),
    });
    if !d.metrics.is_empty() {
        s["currentMetrics"] = json!(d.metrics);
    }
    match (d.rescale, old.get("lastScaleTime")) {
        (true, _) => s["lastScaleTime"] = json!(stamp),
        (false, Some(t)) => s["lastScaleTime"] = t.clone(),
        _ => {}
    }
    if s["desiredReplicas"].is_null() {
        s["desiredReplicas"] = json!(0);
    }
    s
}

/// A sync that stopped before deciding: one False condition and a warning.
#[allow(clippy::too_many_arguments)]
fn failed(
    inner: &Inner,
    o: &StoredObject,
    ch: &mut Changes,
    old: &Value,
    now: DateTime<Utc>,
    reason: &str,
    why: &str,
    type_: &'static str,
) {
    let ns = o.namespace.clone().unwrap_or_default();
    let message = match type_ {
        "AbleToScale" => {
            format!("the HPA controller was unable to get the target's current scale: {why}")
        }
        _ => why.to_string(),
    };
    inner.event(
        "HorizontalPodAutoscaler",
        &ns,
        &o.name,
        true,
        reason,
        message.clone(),
    );
    let c = hpa_plan::Condition::new(type_, false, reason, message);
    let mut s = old.clone();
    s["conditions"] =
        hpa_plan::conditions(old.get("conditions"), &[c], &crate::clock::rfc3339(now));
    write_status(ch, o, old, s);
}

fn write_status(ch: &mut Changes, o: &StoredObject, old: &Value, new: Value) {
    if *old != new {
        let mut value = o.value.clone();
        value["status"] = new;
        ch.puts.push(StoredObject { value, ..o.clone() });
    }
}

/// Sets the target's `spec.replicas` (in this round's write of it, if any).
fn scale(ch: &mut Changes, obj: &StoredObject, replicas: i32) {
    let key = Key::of(obj);
    match ch.puts.iter_mut().rev().find(|p| Key::of(p) == key) {
        Some(p) => p.value["spec"]["replicas"] = json!(replicas),
        None => {
            let mut value = obj.value.clone();
            value["spec"]["replicas"] = json!(replicas);
            ch.puts.push(StoredObject {
                value,
                ..obj.clone()
            });
        }
    }
}

/// The scale target of `h`: an `apps/v1` object with `spec.replicas`.
fn target(inner: &Inner, ns: &str, h: &HorizontalPodAutoscaler) -> Option<ScaleTarget> {
    let r = &h.spec.as_ref()?.scale_target_ref;
    let gk = GroupKind::of(r.api_version.as_deref().unwrap_or("apps/v1"), &r.kind);
    let obj = inner
        .objects
        .lock_or_recover()
        .map
        .get(&Key::new(gk, ns, &r.name))
        .cloned()?;
    let replicas = obj
        .value
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let selector = obj
        .value
        .pointer("/spec/selector")
        .and_then(|s| serde_json::from_value::<LabelSelector>(s.clone()).ok())
        .filter(|s| !s.is_empty());
    Some(ScaleTarget {
        obj,
        replicas: replicas as i32,
        selector,
    })
}

fn selects(sel: &LabelSelector, ns: &str, p: &Pod) -> bool {
    p.metadata.namespace.as_deref() == Some(ns)
        && sel.matches(p.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
}
