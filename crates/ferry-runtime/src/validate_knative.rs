//! Apply-time checks of Knative Serving's `Service`, with the webhook's
//! rules and field paths: the revision template (a pod spec whose serving
//! container declares at most one port, `containerConcurrency` 0–1000,
//! `timeoutSeconds` 1–600, a template name prefixed `<service>-`), the
//! `autoscaling.knative.dev/*` annotations, and `traffic` (each target names
//! a revision or `latestRevision: true`, percents sum to 100, tags unique
//! DNS labels, `url` and `configurationName` not set by users). Revisions
//! are the controller's: applying one is refused.

use std::collections::BTreeSet;

use ferry_core::yaml::Document;

use crate::knative_spec::{
    INITIAL_SCALE, KService, MAX_SCALE, MIN_SCALE, RETENTION, TARGET, TrafficTarget, WINDOW,
    container_name, parse_duration,
};
use crate::validate::{self, Found};

/// Checks a decoded Knative Service.
pub fn service(doc: &Document, svc: &KService, out: &mut Found) {
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let tpl = &svc.spec.template;
    let mut pod = tpl.spec.pod.clone();
    let first_port = pod
        .containers
        .iter()
        .position(|c| c.ports.as_ref().is_some_and(|p| !p.is_empty()));
    for (i, c) in pod.containers.iter_mut().enumerate() {
        if c.name.is_empty() {
            c.name = container_name(i, first_port.unwrap_or(0));
        }
    }
    validate::pod_spec(doc, "spec.template.spec", &pod, out);
    let serving = tpl
        .spec
        .pod
        .containers
        .iter()
        .filter(|c| c.ports.as_ref().is_some_and(|p| !p.is_empty()));
    if tpl.spec.pod.containers.len() > 1 && serving.clone().count() != 1 {
        out.push(doc.problem(
            "spec.template.spec.containers",
            "exactly one container must declare ports when a revision has several",
        ));
    }
    for (i, c) in tpl.spec.pod.containers.iter().enumerate() {
        if c.ports.as_ref().is_some_and(|p| p.len() > 1) {
            out.push(doc.problem(
                &format!("spec.template.spec.containers[{i}].ports"),
                "more than one container port is set: a revision serves one port",
            ));
        }
    }
    if let Some(cc) = tpl.spec.container_concurrency
        && !(0..=1000).contains(&cc)
    {
        out.push(doc.problem(
            "spec.template.spec.containerConcurrency",
            format!("expected 0 <= {cc} <= 1000"),
        ));
    }
    if let Some(t) = tpl.spec.timeout_seconds
        && !(1..=600).contains(&t)
    {
        out.push(doc.problem(
            "spec.template.spec.timeoutSeconds",
            format!("expected 0 < {t} <= 600"),
        ));
    }
    if let Some(n) = &tpl.metadata.name
        && !n.starts_with(&format!("{name}-"))
    {
        out.push(doc.problem(
            "spec.template.metadata.name",
            format!("\"{n}\" must have prefix \"{name}-\""),
        ));
    }
    annotations(doc, svc, out);
    traffic(doc, &svc.spec.traffic, out);
}

/// `spec.template.metadata.annotations`: the autoscaling keys.
fn annotations(doc: &Document, svc: &KService, out: &mut Found) {
    let Some(a) = svc.spec.template.metadata.annotations.as_ref() else {
        return;
    };
    let path = |k: &str| format!("spec.template.metadata.annotations.{k}");
    let int = |k: &str, out: &mut Found| -> Option<u32> {
        let v = a.get(k)?;
        let n = v.parse::<u32>().ok();
        if n.is_none() {
            out.push(doc.problem(
                &path(k),
                format!("invalid value: {v}: expected a whole number >= 0"),
            ));
        }
        n
    };
    let min = int(MIN_SCALE, out);
    let max = int(MAX_SCALE, out);
    if let (Some(min), Some(max)) = (min, max)
        && max > 0
        && max < min
    {
        out.push(doc.problem(
            &path(MAX_SCALE),
            format!("max-scale={max} is less than min-scale={min}"),
        ));
    }
    // initial-scale 0 is allowed (Knative's allow-zero-initial-scale:
    // true): the revision waits at zero, pre-warmed (knative_prewarm).
    let _ = int(INITIAL_SCALE, out);
    if let Some(v) = a.get(crate::knative_prewarm::PREWARM)
        && v != "true"
        && v != "false"
    {
        out.push(doc.problem(
            &path(crate::knative_prewarm::PREWARM),
            format!("invalid value: {v}: expected \"true\" or \"false\""),
        ));
    }
    if let Some(v) = a.get(TARGET)
        && v.parse::<f64>().map_or(true, |t| t < 0.01)
    {
        out.push(doc.problem(
            &path(TARGET),
            format!("invalid value: {v}: expected a number >= 0.01"),
        ));
    }
    if let Some(v) = a.get(WINDOW) {
        let ok = parse_duration(v)
            .is_some_and(|d| (6..=3600).contains(&d.as_secs()) && d.as_secs_f64() >= 6.0);
        if !ok {
            out.push(doc.problem(
                &path(WINDOW),
                format!("invalid value: {v}: expected a duration between 6s and 1h"),
            ));
        }
    }
    if let Some(v) = a.get(RETENTION)
        && parse_duration(v).is_none()
    {
        out.push(doc.problem(
            &path(RETENTION),
            format!("invalid value: {v}: expected a non-negative duration"),
        ));
    }
}

/// `spec.traffic`.
fn traffic(doc: &Document, targets: &[TrafficTarget], out: &mut Found) {
    if targets.is_empty() {
        return;
    }
    let mut sum = 0;
    let mut tags = BTreeSet::new();
    for (i, t) in targets.iter().enumerate() {
        let at = |f: &str| format!("spec.traffic[{i}].{f}");
        match (t.revision_name.as_deref(), t.latest_revision) {
            (Some(_), Some(true)) => out.push(doc.problem(
                &at("latestRevision"),
                "may not set revisionName and latestRevision: true together",
            )),
            (None, Some(false)) => out.push(doc.problem(
                &at("latestRevision"),
                "latestRevision: false requires revisionName",
            )),
            (None, None) => out.push(doc.problem(
                &format!("spec.traffic[{i}]"),
                "expected exactly one, got neither: revisionName, latestRevision",
            )),
            _ => {}
        }
        if t.configuration_name.is_some() {
            out.push(doc.problem(&at("configurationName"), "must not set the field(s)"));
        }
        if t.url.is_some() {
            out.push(doc.problem(&at("url"), "must not set the field(s)"));
        }
        let p = t.percent.unwrap_or(0);
        if !(0..=100).contains(&p) {
            out.push(doc.problem(&at("percent"), format!("expected 0 <= {p} <= 100")));
        }
        sum += p;
        if let Some(tag) = &t.tag {
            if !validate::dns_name(tag, true) {
                out.push(doc.problem(&at("tag"), format!("\"{tag}\" is not a DNS label")));
            }
            if !tags.insert(tag.as_str()) {
                out.push(doc.problem(&at("tag"), format!("multiple definitions for \"{tag}\"")));
            }
        }
    }
    if sum != 100 {
        out.push(doc.problem(
            "spec.traffic",
            format!("Traffic targets sum to {sum}, want 100"),
        ));
    }
}

#[cfg(test)]
#[path = "validate_knative_tests.rs"]
mod tests;
