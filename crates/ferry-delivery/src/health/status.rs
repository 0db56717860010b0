//! Health of objects whose status another controller fills in: Services of
//! type LoadBalancer and Ingresses (an address assigned), claims (Bound),
//! autoscalers (their conditions), and custom resources, which follow the
//! common `status.conditions` convention (`Ready`, else `Available`).

use serde_json::Value;

use super::{Assessment, Health, condition, text};

/// A Service of type LoadBalancer needs an address; other types are
/// Healthy once they exist.
pub(crate) fn service(v: &Value) -> Assessment {
    if text(v, "/spec/type") == Some("LoadBalancer") {
        load_balancer(v, "service")
    } else {
        Assessment::healthy()
    }
}

/// An Ingress needs an address from its controller.
pub(crate) fn ingress(v: &Value) -> Assessment {
    load_balancer(v, "ingress")
}

/// Healthy when `status.loadBalancer.ingress` holds an IP or a hostname.
/// An object with no `status` at all comes from a target where nothing
/// reports one (the embedded runtime's gateway serves routes as soon as
/// they are applied): Healthy, saying so. The Kubernetes API server always
/// returns a `status` for these kinds.
fn load_balancer(v: &Value, what: &str) -> Assessment {
    if v.get("status").is_none() {
        return Assessment::of(Health::Healthy, None, "the target reports no address");
    }
    let assigned = v
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|i| {
            ["ip", "hostname"].iter().any(|k| {
                i.get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            })
        });
    if assigned {
        Assessment::healthy()
    } else {
        Assessment::progressing(format!("waiting for the {what}'s load balancer address"))
    }
}

/// Bound → Healthy, Lost → Degraded, anything else → Progressing.
pub(crate) fn pvc(v: &Value) -> Assessment {
    match text(v, "/status/phase") {
        Some("Bound") => Assessment::healthy(),
        Some("Lost") => Assessment::degraded("Lost", "the claim lost its volume"),
        Some(p) => Assessment::progressing(format!("claim is {p}")),
        None => Assessment::progressing("claim is pending"),
    }
}

/// Cannot read or update its target's scale, or cannot compute its
/// metrics → Degraded with the condition's reason; actively scaling (or
/// able to) → Healthy; no conditions yet → Progressing.
pub(crate) fn hpa(v: &Value) -> Assessment {
    let status = |c: &Value| text(c, "/status").unwrap_or_default().to_string();
    let reason = |c: &Value| text(c, "/reason").unwrap_or_default().to_string();
    if let Some(c) = condition(v, "AbleToScale")
        && status(c) == "False"
        && reason(c).starts_with("Failed")
    {
        return Assessment::degraded(&reason(c), text(c, "/message").unwrap_or_default());
    }
    if let Some(c) = condition(v, "ScalingActive")
        && status(c) == "False"
        && (reason(c).starts_with("Failed") || reason(c).starts_with("Invalid"))
    {
        return Assessment::degraded(&reason(c), text(c, "/message").unwrap_or_default());
    }
    let active = |ty: &str| condition(v, ty).is_some_and(|c| status(c) == "True");
    if active("ScalingActive") || active("AbleToScale") {
        Assessment::healthy()
    } else {
        Assessment::progressing("waiting to autoscale")
    }
}

/// The `Ready` condition (else `Available`): True → Healthy, False →
/// Degraded with the condition's reason and message, Unknown →
/// Progressing. Without either condition the object is Healthy.
pub(crate) fn conditions(v: &Value) -> Assessment {
    let Some((ty, c)) = ["Ready", "Available"]
        .into_iter()
        .find_map(|ty| condition(v, ty).map(|c| (ty, c)))
    else {
        return Assessment::healthy();
    };
    let message = text(c, "/message").unwrap_or_default();
    match text(c, "/status") {
        Some("True") => Assessment::healthy(),
        Some("False") => {
            let fallback = format!("Not{ty}");
            Assessment::degraded(text(c, "/reason").unwrap_or(&fallback), message)
        }
        _ if message.is_empty() => Assessment::progressing(format!("waiting for {ty}")),
        _ => Assessment::progressing(message),
    }
}
