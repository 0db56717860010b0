//! Apply-time checks of LimitRange and ResourceQuota documents, as the API
//! server's validation makes them: quantities, the item types LimitRanger
//! knows, min ≤ default request ≤ default ≤ max, ratios of at least 1,
//! quota resource names and scopes. Each problem names the field.

use std::collections::BTreeMap;

use ferry_core::yaml::Document;
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

use crate::quantity::Quantity;
use crate::quota::SCOPES;
use crate::validate::Found;

type List = Option<BTreeMap<String, K8sQuantity>>;

/// Parses every quantity of `list` at `path`, naming the bad ones.
fn parsed(doc: &Document, path: &str, list: &List, out: &mut Found) -> BTreeMap<String, Quantity> {
    let mut ok = BTreeMap::new();
    for (k, v) in list.iter().flatten() {
        match Quantity::parse(&v.0) {
            Some(q) if q.nanos() >= 0 => {
                ok.insert(k.clone(), q);
            }
            _ => out.push(doc.problem(
                &format!("{path}.{k}"),
                format!(
                    "`{}` is not a valid non-negative quantity (like 500m, 1, 128Mi)",
                    v.0
                ),
            )),
        }
    }
    ok
}

/// A LimitRange.
pub fn limit_range(doc: &Document, lr: &LimitRange, out: &mut Found) {
    let items = lr
        .spec
        .as_ref()
        .map(|s| s.limits.as_slice())
        .unwrap_or_default();
    for (i, it) in items.iter().enumerate() {
        let at = format!("spec.limits[{i}]");
        let ty = it.type_.as_str();
        if !matches!(ty, "Container" | "Pod" | "PersistentVolumeClaim") {
            out.push(doc.problem(
                &format!("{at}.type"),
                format!("unsupported type `{ty}`: use Container, Pod or PersistentVolumeClaim"),
            ));
        }
        let max = parsed(doc, &format!("{at}.max"), &it.max, out);
        let min = parsed(doc, &format!("{at}.min"), &it.min, out);
        let default = parsed(doc, &format!("{at}.default"), &it.default, out);
        let request = parsed(
            doc,
            &format!("{at}.defaultRequest"),
            &it.default_request,
            out,
        );
        let ratio = parsed(
            doc,
            &format!("{at}.maxLimitRequestRatio"),
            &it.max_limit_request_ratio,
            out,
        );
        if ty != "Container" {
            for (field, set) in [("default", &default), ("defaultRequest", &request)] {
                if !set.is_empty() {
                    out.push(doc.problem(
                        &format!("{at}.{field}"),
                        format!("may not be specified when `type` is '{ty}'"),
                    ));
                }
            }
        }
        let mut bad = |field: &str, k: &str, why: String| {
            out.push(doc.problem(&format!("{at}.{field}.{k}"), why));
        };
        for (k, lo) in &min {
            if let Some(hi) = max.get(k).filter(|hi| lo > *hi) {
                bad(
                    "min",
                    k,
                    format!("min value {lo} is greater than max value {hi}"),
                );
            }
            if let Some(d) = default.get(k).filter(|d| lo > *d) {
                bad(
                    "default",
                    k,
                    format!("min value {lo} is greater than default value {d}"),
                );
            }
            if let Some(r) = request.get(k).filter(|r| lo > *r) {
                bad(
                    "defaultRequest",
                    k,
                    format!("min value {lo} is greater than default request value {r}"),
                );
            }
        }
        for (k, hi) in &max {
            if let Some(d) = default.get(k).filter(|d| *d > hi) {
                bad(
                    "default",
                    k,
                    format!("default value {d} is greater than max value {hi}"),
                );
            }
            if let Some(r) = request.get(k).filter(|r| *r > hi) {
                bad(
                    "defaultRequest",
                    k,
                    format!("default request value {r} is greater than max value {hi}"),
                );
            }
        }
        for (k, r) in &request {
            if let Some(d) = default.get(k).filter(|d| r > *d) {
                bad(
                    "defaultRequest",
                    k,
                    format!("default request value {r} is greater than default limit value {d}"),
                );
            }
        }
        for (k, r) in &ratio {
            if *r < Quantity::count(1) {
                bad(
                    "maxLimitRequestRatio",
                    k,
                    format!("ratio {r} is less than 1"),
                );
            }
        }
    }
}

/// Quota resource names Kubernetes accepts in `spec.hard`.
fn quota_resource(name: &str) -> bool {
    const STANDARD: [&str; 14] = [
        "pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "services",
        "services.nodeports",
        "services.loadbalancers",
        "configmaps",
        "secrets",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "resourcequotas",
        "requests.storage",
        "storage",
    ];
    STANDARD.contains(&name)
        || ["count/", "requests.", "limits.", "hugepages-"]
            .iter()
            .any(|p| name.starts_with(p))
        || name.contains(".storageclass.storage.k8s.io/")
        || name.contains('/')
}

/// A ResourceQuota.
pub fn resource_quota(doc: &Document, rq: &ResourceQuota, out: &mut Found) {
    let Some(spec) = &rq.spec else { return };
    let hard = parsed(doc, "spec.hard", &spec.hard, out);
    for k in hard.keys().filter(|k| !quota_resource(k)) {
        out.push(doc.problem(
            &format!("spec.hard.{k}"),
            "must be a standard resource for quota",
        ));
    }
    let mut named = Vec::new();
    for (i, s) in spec.scopes.iter().flatten().enumerate() {
        named.push((format!("spec.scopes[{i}]"), s.clone()));
    }
    let exprs = spec
        .scope_selector
        .as_ref()
        .and_then(|s| s.match_expressions.as_ref());
    for (i, e) in exprs.into_iter().flatten().enumerate() {
        let at = format!("spec.scopeSelector.matchExpressions[{i}]");
        named.push((format!("{at}.scopeName"), e.scope_name.clone()));
        let values = e.values.as_ref().map_or(0, Vec::len);
        let ok = match e.operator.as_str() {
            "In" | "NotIn" => values > 0,
            "Exists" | "DoesNotExist" => values == 0,
            _ => false,
        };
        if !ok {
            out.push(doc.problem(
                &format!("{at}.operator"),
                format!("`{}` with {values} values: In and NotIn need values, Exists and DoesNotExist none", e.operator),
            ));
        }
    }
    for (path, s) in &named {
        if !SCOPES.contains(&s.as_str()) {
            out.push(doc.problem(
                path,
                format!("unsupported scope `{s}`: use one of {}", SCOPES.join(", ")),
            ));
        } else if s == "BestEffort"
            && let Some(k) = hard.keys().find(|k| *k != "pods" && *k != "count/pods")
        {
            out.push(doc.problem(
                &format!("spec.hard.{k}"),
                format!("unsupported scope applied to resource: {s} tracks pods only"),
            ));
        }
    }
    let has = |s: &str| named.iter().any(|(_, n)| n == s);
    for (a, b) in [
        ("Terminating", "NotTerminating"),
        ("BestEffort", "NotBestEffort"),
    ] {
        if has(a) && has(b) {
            out.push(doc.problem("spec.scopes", format!("conflicting scopes: {a} and {b}")));
        }
    }
}
