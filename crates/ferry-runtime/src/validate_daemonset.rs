//! Apply-time checks of DaemonSets and PodDisruptionBudgets, with
//! Kubernetes' rules and texts: a DaemonSet's selector must select its
//! template, its pods restart Always, its updateStrategy is RollingUpdate
//! (maxUnavailable or maxSurge, exactly one non-zero) or OnDelete; a budget
//! sets at most one of minAvailable and maxUnavailable (a count or a
//! percentage) and a known unhealthyPodEvictionPolicy.

use ferry_core::Problem;
use ferry_core::labels::LabelSelector;
use ferry_core::yaml::Document;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::validate;

type Found = Vec<Problem>;

/// A DaemonSet.
pub fn daemonset(doc: &Document, d: &DaemonSet, out: &mut Found) {
    let Some(spec) = &d.spec else {
        out.push(doc.problem("spec", "a DaemonSet needs a spec"));
        return;
    };
    let selector: LabelSelector = serde_json::to_value(&spec.selector)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if selector.is_empty() {
        out.push(doc.problem("spec.selector", "empty selector is invalid for daemonset"));
    } else if !selector.matches(&labels) {
        out.push(doc.problem(
            "spec.template.metadata.labels",
            "`selector` does not match template `labels`",
        ));
    }
    match &spec.template.spec {
        Some(pod) => {
            validate::pod_spec(doc, "spec.template.spec", pod, out);
            if let Some(p) = pod.restart_policy.as_deref().filter(|p| *p != "Always") {
                out.push(doc.problem(
                    "spec.template.spec.restartPolicy",
                    format!("Unsupported value: \"{p}\": supported values: \"Always\""),
                ));
            }
        }
        None => out.push(doc.problem("spec.template.spec", "a pod template needs a spec")),
    }
    let Some(strategy) = &spec.update_strategy else {
        return;
    };
    match strategy.type_.as_deref() {
        None | Some("RollingUpdate") | Some("OnDelete") => {}
        Some(other) => out.push(doc.problem(
            "spec.updateStrategy.type",
            format!(
                "Unsupported value: \"{other}\": supported values: \"OnDelete\", \"RollingUpdate\""
            ),
        )),
    }
    if let Some(ru) = &strategy.rolling_update {
        let at = "spec.updateStrategy.rollingUpdate";
        let unavailable = count(
            doc,
            &format!("{at}.maxUnavailable"),
            ru.max_unavailable.as_ref(),
            out,
        );
        let surge = count(doc, &format!("{at}.maxSurge"), ru.max_surge.as_ref(), out);
        // Kubernetes defaults maxUnavailable to 1.
        let unavailable = unavailable.unwrap_or(Some(1));
        let surge = surge.unwrap_or(Some(0));
        match (unavailable, surge) {
            (Some(0), Some(0)) => out.push(doc.problem(
                &format!("{at}.maxUnavailable"),
                "may not be 0 when `maxSurge` is 0",
            )),
            (Some(u), Some(s)) if u > 0 && s > 0 => out.push(doc.problem(
                &format!("{at}.maxSurge"),
                "may not be set when maxUnavailable is non-zero",
            )),
            _ => {}
        }
    }
}

/// A PodDisruptionBudget.
pub fn pdb(doc: &Document, p: &PodDisruptionBudget, out: &mut Found) {
    let Some(spec) = &p.spec else {
        return;
    };
    if spec.min_available.is_some() && spec.max_unavailable.is_some() {
        out.push(doc.problem("spec", "minAvailable and maxUnavailable cannot be both set"));
    }
    count(doc, "spec.minAvailable", spec.min_available.as_ref(), out);
    count(
        doc,
        "spec.maxUnavailable",
        spec.max_unavailable.as_ref(),
        out,
    );
    if let Some(policy) = spec.unhealthy_pod_eviction_policy.as_deref()
        && !matches!(policy, "IfHealthyBudget" | "AlwaysAllow")
    {
        out.push(doc.problem(
            "spec.unhealthyPodEvictionPolicy",
            format!("Unsupported value: \"{policy}\": supported values: \"AlwaysAllow\", \"IfHealthyBudget\""),
        ));
    }
    if let Some(sel) = &spec.selector {
        let v = serde_json::to_value(sel).unwrap_or_default();
        if let Err(e) = serde_json::from_value::<LabelSelector>(v) {
            out.push(doc.problem("spec.selector", e.to_string()));
        }
    }
}

/// A count or a percentage: `None` when absent, `Some(None)` when invalid,
/// else `Some(Some(n))` (`n` the count or the percent value).
fn count(
    doc: &Document,
    path: &str,
    v: Option<&IntOrString>,
    out: &mut Found,
) -> Option<Option<i32>> {
    let v = v?;
    let n = match v {
        IntOrString::Int(n) if *n >= 0 => Some(*n),
        IntOrString::Int(_) => {
            out.push(doc.problem(path, "must be greater than or equal to 0"));
            None
        }
        IntOrString::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i32>().ok()) {
            Some(p) if (0..=100).contains(&p) => Some(p),
            Some(_) => {
                out.push(doc.problem(path, "must not be greater than 100%"));
                None
            }
            None => {
                out.push(doc.problem(path, format!("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%'); got `{s}`")));
                None
            }
        },
    };
    Some(n)
}
