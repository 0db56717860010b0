//! Semantic checks Kubernetes' API server makes and serde cannot: names,
//! selectors matching template labels, ports, quantities, probes. Each
//! problem names file, document and field path.

use std::collections::{BTreeMap, BTreeSet};

use ferry_core::Problem;
use ferry_core::yaml::Document;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub use crate::validate_service::service;

/// Problems found in one document.
pub type Found = Vec<Problem>;

/// `metadata.name`: a DNS-1123 subdomain (`label` restricts to one label).
pub fn name(doc: &Document, name: Option<&str>, label: bool, out: &mut Found) {
    match name {
        None | Some("") => out.push(doc.problem("metadata.name", "a name is required")),
        Some(n) if !dns_name(n, label) => out.push(doc.problem(
            "metadata.name",
            format!("`{n}` is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit{}", if label { ", at most 63 characters" } else { "" }),
        )),
        _ => {}
    }
}

pub(crate) fn dns_name(n: &str, label: bool) -> bool {
    let max = if label { 63 } else { 253 };
    let ok_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (!label && c == '.');
    !n.is_empty()
        && n.len() <= max
        && n.chars().all(ok_char)
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A Deployment: selector present and matching the template's labels, a
/// valid pod template, a valid strategy.
pub fn deployment(doc: &Document, d: &Deployment, out: &mut Found) {
    let Some(spec) = &d.spec else {
        out.push(doc.problem("spec", "a Deployment needs a spec"));
        return;
    };
    if spec.replicas.is_some_and(|r| r < 0) {
        out.push(doc.problem("spec.replicas", "must not be negative"));
    }
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    if selector.is_empty()
        && spec
            .selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
    {
        out.push(doc.problem(
            "spec.selector",
            "a selector is required (spec.selector.matchLabels)",
        ));
    }
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if !selector.is_empty() && !selects(&selector, &labels) {
        out.push(doc.problem(
            "spec.template.metadata.labels",
            format!(
                "selector {} does not match the template labels {}",
                show(&selector),
                show(&labels)
            ),
        ));
    }
    if let Some(strategy) = &spec.strategy {
        match strategy.type_.as_deref() {
            None | Some("RollingUpdate") | Some("Recreate") => {}
            Some(other) => out.push(doc.problem(
                "spec.strategy.type",
                format!("unsupported strategy `{other}`; use RollingUpdate or Recreate"),
            )),
        }
        if let Some(ru) = &strategy.rolling_update {
            let surge = ru
                .max_surge
                .as_ref()
                .map(|v| int_or_percent(doc, "spec.strategy.rollingUpdate.maxSurge", v, out));
            let unavail = ru
                .max_unavailable
                .as_ref()
                .map(|v| int_or_percent(doc, "spec.strategy.rollingUpdate.maxUnavailable", v, out));
            if surge == Some(Some(0)) && unavail == Some(Some(0)) {
                out.push(doc.problem(
                    "spec.strategy.rollingUpdate",
                    "maxSurge and maxUnavailable cannot both be 0",
                ));
            }
        }
    }
    match &spec.template.spec {
        Some(pod) => {
            pod_spec(doc, "spec.template.spec", pod, out);
            if pod.restart_policy.as_deref().is_some_and(|p| p != "Always") {
                out.push(doc.problem(
                    "spec.template.spec.restartPolicy",
                    "a Deployment's pods must use restartPolicy Always",
                ));
            }
        }
        None => out.push(doc.problem("spec.template.spec", "a pod template needs a spec")),
    }
}

/// Parses an int-or-percent; `Some(n)` is the number (percent value or count).
fn int_or_percent(doc: &Document, path: &str, v: &IntOrString, out: &mut Found) -> Option<i32> {
    match v {
        IntOrString::Int(n) if *n >= 0 => Some(*n),
        IntOrString::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i32>().ok()) {
            Some(p) if (0..=100).contains(&p) => Some(p),
            _ => {
                out.push(doc.problem(
                    path,
                    format!("`{s}` is neither a count nor a percentage like 25%"),
                ));
                None
            }
        },
        IntOrString::Int(n) => {
            out.push(doc.problem(path, format!("{n} must not be negative")));
            None
        }
    }
}

/// A pod spec at `base`.
pub fn pod_spec(doc: &Document, base: &str, spec: &PodSpec, out: &mut Found) {
    if spec.containers.is_empty() {
        out.push(doc.problem(
            &format!("{base}.containers"),
            "a pod needs at least one container",
        ));
    }
    let mut names = BTreeSet::new();
    let volumes: BTreeSet<&str> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    for (at, c) in containers_at(spec, base) {
        if !names.insert(c.name.clone()) {
            out.push(doc.problem(
                &format!("{at}.name"),
                format!("duplicate container name `{}`", c.name),
            ));
        }
        container(doc, &at, c, &volumes, out);
    }
    if let Some(p) = spec.restart_policy.as_deref()
        && !matches!(p, "Always" | "OnFailure" | "Never")
    {
        out.push(doc.problem(
            &format!("{base}.restartPolicy"),
            format!("`{p}` is not one of Always, OnFailure, Never"),
        ));
    }
    crate::local_paths::pod_spec(doc, base, spec, out);
    crate::validate_storage::pod_claims(doc, base, spec, out);
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let sources = [
            v.empty_dir.is_some(),
            v.config_map.is_some(),
            v.secret.is_some(),
            v.host_path.is_some(),
            v.persistent_volume_claim.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            out.push(doc.problem(&format!("{base}.volumes[{i}]"), "give exactly one of emptyDir, configMap, secret, hostPath, persistentVolumeClaim (the volume types ferry runs)"));
        }
    }
}

/// Every container of `spec` (init containers first) with its field path
/// under `base` (`spec.template.spec.containers[0]`).
pub(crate) fn containers_at<'a>(
    spec: &'a PodSpec,
    base: &str,
) -> impl Iterator<Item = (String, &'a Container)> {
    let init = spec.init_containers.iter().flatten().enumerate();
    let init = init.map(move |(i, c)| (format!("{base}.initContainers[{i}]"), c));
    let main = spec.containers.iter().enumerate();
    init.chain(main.map(move |(i, c)| (format!("{base}.containers[{i}]"), c)))
}

fn container(doc: &Document, at: &str, c: &Container, volumes: &BTreeSet<&str>, out: &mut Found) {
    if !dns_name(&c.name, true) {
        out.push(doc.problem(
            &format!("{at}.name"),
            format!("`{}` is not a valid container name", c.name),
        ));
    }
    if c.image.as_deref().is_none_or(str::is_empty) {
        out.push(doc.problem(&format!("{at}.image"), "an image is required"));
    }
    if let Some(p) = c.image_pull_policy.as_deref()
        && !matches!(p, "Always" | "IfNotPresent" | "Never")
    {
        out.push(doc.problem(
            &format!("{at}.imagePullPolicy"),
            format!("`{p}` is not one of Always, IfNotPresent, Never"),
        ));
    }
    for (i, p) in c.ports.iter().flatten().enumerate() {
        if !(1..=65535).contains(&p.container_port) {
            out.push(doc.problem(
                &format!("{at}.ports[{i}].containerPort"),
                format!("{} is not a port (1-65535)", p.container_port),
            ));
        }
    }
    if let Some(r) = &c.resources {
        for (field, map) in [("limits", &r.limits), ("requests", &r.requests)] {
            for (k, q) in map.iter().flatten() {
                if parse_quantity(&q.0).is_none() {
                    out.push(doc.problem(
                        &format!("{at}.resources.{field}.{k}"),
                        format!("`{}` is not a quantity (e.g. 200m, 64Mi, 1)", q.0),
                    ));
                }
            }
        }
    }
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        if !volumes.contains(m.name.as_str()) {
            out.push(doc.problem(
                &format!("{at}.volumeMounts[{i}].name"),
                format!("no volume named `{}` in the pod", m.name),
            ));
        }
    }
    let ports: BTreeMap<&str, i32> = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p| Some((p.name.as_deref()?, p.container_port)))
        .collect();
    for (field, probe) in [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
        ("startupProbe", &c.startup_probe),
    ] {
        if let Some(p) = probe {
            self::probe(doc, &format!("{at}.{field}"), p, &ports, out);
        }
    }
}

fn probe(doc: &Document, at: &str, p: &Probe, ports: &BTreeMap<&str, i32>, out: &mut Found) {
    let handlers = [
        p.http_get.is_some(),
        p.tcp_socket.is_some(),
        p.exec.is_some(),
        p.grpc.is_some(),
    ];
    if handlers.iter().filter(|h| **h).count() != 1 {
        out.push(doc.problem(at, "give exactly one of httpGet, tcpSocket, exec"));
    }
    if p.grpc.is_some() {
        out.push(doc.problem(
            &format!("{at}.grpc"),
            "grpc probes are not supported; use httpGet, tcpSocket or exec",
        ));
    }
    let port = p
        .http_get
        .as_ref()
        .map(|h| (&h.port, "httpGet"))
        .or(p.tcp_socket.as_ref().map(|t| (&t.port, "tcpSocket")));
    if let Some((port, field)) = port
        && resolve_port(port, ports).is_none()
    {
        out.push(doc.problem(
            &format!("{at}.{field}.port"),
            format!(
                "{} is neither a port (1-65535) nor a named container port",
                show_port(port)
            ),
        ));
    }
}

/// A container port from an int-or-name.
pub fn resolve_port(port: &IntOrString, named: &BTreeMap<&str, i32>) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok().filter(|n| *n > 0),
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(n) => u16::try_from(n).ok().filter(|n| *n > 0),
            Err(_) => named.get(s.as_str()).and_then(|n| u16::try_from(*n).ok()),
        },
    }
}

fn show_port(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => format!("`{s}`"),
    }
}

/// True when every selector label is among `labels`.
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn show(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", parts.join(","))
}

/// Parses a Kubernetes quantity (`200m`, `64M`, `1Gi`, `1.5`, `1e3`) into its value.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let suffixes: [(&str, f64); 14] = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    let (num, mult) = suffixes
        .iter()
        .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
        .unwrap_or((s, 1.0));
    let num = num.strip_suffix('E').map_or(num, |_| num);
    if num.is_empty()
        || !num.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '+' || c == '-')
    {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("200m"), Some(0.2));
        assert_eq!(parse_quantity("64M"), Some(64e6));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("lots"), None);
        assert_eq!(parse_quantity("12Q"), None);
        assert_eq!(parse_quantity(""), None);
    }

    #[test]
    fn names() {
        assert!(dns_name("myhero-data", true));
        assert!(!dns_name("MyHero", true));
        assert!(!dns_name("-a", true));
        assert!(dns_name("a.b", false));
        assert!(!dns_name("a.b", true));
    }
}
