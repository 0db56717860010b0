//! Validation of a HorizontalPodAutoscaler (autoscaling/v2) as the API
//! server does it, plus what ferry measures: a scale target of `apps/v1`
//! (Deployment, ReplicaSet, StatefulSet), replica bounds, Resource and
//! ContainerResource metrics of cpu and memory, the Pods metric ferry
//! serves (`http_requests_per_second`), targets of the right type, and
//! behavior rules in range. Object and External metrics are refused: no
//! metrics adapter feeds them.

use ferry_core::Problem;
use ferry_core::pod_load::REQUESTS_PER_SECOND;
use ferry_core::yaml::Document;
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscaler, MetricTarget};

type Found = Vec<Problem>;

/// An HPA's spec.
pub fn check(doc: &Document, h: &HorizontalPodAutoscaler, out: &mut Found) {
    let Some(spec) = &h.spec else {
        out.push(doc.problem(
            "spec",
            "an HPA needs a spec with scaleTargetRef and maxReplicas",
        ));
        return;
    };
    let r = &spec.scale_target_ref;
    let api = r.api_version.as_deref().unwrap_or("");
    if api != "apps/v1" || !matches!(r.kind.as_str(), "Deployment" | "ReplicaSet" | "StatefulSet") {
        out.push(doc.problem(
            "spec.scaleTargetRef",
            format!(
                "ferry scales apps/v1 Deployment, ReplicaSet or StatefulSet (got {} `{}`)",
                if api.is_empty() {
                    "no apiVersion and"
                } else {
                    api
                },
                r.kind
            ),
        ));
    }
    if r.name.is_empty() {
        out.push(doc.problem("spec.scaleTargetRef.name", "Required value"));
    }
    let min = spec.min_replicas.unwrap_or(1);
    if min < 1 {
        out.push(doc.problem("spec.minReplicas", "must be greater than or equal to 1"));
    }
    if spec.max_replicas < 1 {
        out.push(doc.problem("spec.maxReplicas", "must be greater than 0"));
    } else if spec.max_replicas < min {
        out.push(doc.problem(
            "spec.maxReplicas",
            "must be greater than or equal to `minReplicas`",
        ));
    }
    for (i, m) in spec.metrics.iter().flatten().enumerate() {
        let at = format!("spec.metrics[{i}]");
        match m.type_.as_str() {
            "Resource" => match &m.resource {
                Some(r) => resource(doc, &format!("{at}.resource"), &r.name, &r.target, out),
                None => out.push(doc.problem(
                    &format!("{at}.resource"),
                    "must populate information for the given metric source",
                )),
            },
            "ContainerResource" => match &m.container_resource {
                Some(r) => {
                    resource(
                        doc,
                        &format!("{at}.containerResource"),
                        &r.name,
                        &r.target,
                        out,
                    );
                }
                None => out.push(doc.problem(
                    &format!("{at}.containerResource"),
                    "must populate information for the given metric source",
                )),
            },
            "Pods" => match &m.pods {
                Some(p) => pods(doc, &format!("{at}.pods"), &p.metric.name, &p.target, out),
                None => out.push(doc.problem(
                    &format!("{at}.pods"),
                    "must populate information for the given metric source",
                )),
            },
            t @ ("Object" | "External") => out.push(doc.problem(
                &format!("{at}.type"),
                format!(
                    "ferry does not support {t} metrics (no metrics adapter): use Resource \
                     (cpu, memory), ContainerResource or Pods `{REQUESTS_PER_SECOND}`"
                ),
            )),
            t => out.push(doc.problem(
                &format!("{at}.type"),
                format!("`{t}` is not one of Resource, ContainerResource, Pods, Object, External"),
            )),
        }
    }
    if let Some(b) = &spec.behavior {
        for (dir, rules) in [("scaleUp", &b.scale_up), ("scaleDown", &b.scale_down)] {
            if let Some(r) = rules {
                scaling_rules(doc, &format!("spec.behavior.{dir}"), r, out);
            }
        }
    }
}

fn resource(doc: &Document, at: &str, name: &str, t: &MetricTarget, out: &mut Found) {
    if !matches!(name, "cpu" | "memory") {
        out.push(doc.problem(
            &format!("{at}.name"),
            format!("ferry measures cpu and memory (got `{name}`)"),
        ));
    }
    match t.type_.as_str() {
        "Utilization" => match t.average_utilization {
            Some(u) if u > 0 => {}
            _ => out.push(doc.problem(
                &format!("{at}.target.averageUtilization"),
                "must be set and greater than 0 for a Utilization target",
            )),
        },
        "AverageValue" => average_value(doc, at, t, out),
        other => out.push(doc.problem(
            &format!("{at}.target.type"),
            format!("must be either Utilization or AverageValue (got `{other}`)"),
        )),
    }
}

fn pods(doc: &Document, at: &str, name: &str, t: &MetricTarget, out: &mut Found) {
    if name != REQUESTS_PER_SECOND {
        out.push(doc.problem(
            &format!("{at}.metric.name"),
            format!(
                "ferry serves one Pods metric, `{REQUESTS_PER_SECOND}` (requests each pod \
                 answered through the gateway), not `{name}`"
            ),
        ));
    }
    if t.type_ != "AverageValue" {
        out.push(doc.problem(
            &format!("{at}.target.type"),
            format!("must be AverageValue (got `{}`)", t.type_),
        ));
    } else {
        average_value(doc, at, t, out);
    }
}

fn average_value(doc: &Document, at: &str, t: &MetricTarget, out: &mut Found) {
    let v = t
        .average_value
        .as_ref()
        .and_then(|q| crate::validate::parse_quantity(&q.0));
    if !v.is_some_and(|v| v > 0.0) {
        out.push(doc.problem(
            &format!("{at}.target.averageValue"),
            "must be a quantity greater than 0 for an AverageValue target",
        ));
    }
}

fn scaling_rules(doc: &Document, at: &str, r: &HPAScalingRules, out: &mut Found) {
    if r.stabilization_window_seconds
        .is_some_and(|w| !(0..=3600).contains(&w))
    {
        out.push(doc.problem(
            &format!("{at}.stabilizationWindowSeconds"),
            "must be greater than or equal to zero and less than or equal to 3600",
        ));
    }
    if let Some(s) = r.select_policy.as_deref()
        && !matches!(s, "Max" | "Min" | "Disabled")
    {
        out.push(doc.problem(
            &format!("{at}.selectPolicy"),
            format!("`{s}` is not one of Max, Min, Disabled"),
        ));
    }
    for (i, p) in r.policies.iter().flatten().enumerate() {
        let pa = format!("{at}.policies[{i}]");
        if !matches!(p.type_.as_str(), "Pods" | "Percent") {
            out.push(doc.problem(
                &format!("{pa}.type"),
                format!("`{}` is not one of Pods, Percent", p.type_),
            ));
        }
        if p.value <= 0 {
            out.push(doc.problem(&format!("{pa}.value"), "must be greater than zero"));
        }
        if !(1..=1800).contains(&p.period_seconds) {
            out.push(doc.problem(
                &format!("{pa}.periodSeconds"),
                "must be greater than zero and less than or equal to 1800",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(spec: &str) -> Vec<(String, String)> {
        let text = format!(
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web}}\nspec:\n{spec}"
        );
        let doc = ferry_core::yaml::parse_documents("h.yaml", &text)
            .unwrap()
            .remove(0);
        let h = crate::kinds::decode_strict::<HorizontalPodAutoscaler>(&doc).unwrap();
        let mut out = vec![];
        check(&doc, &h, &mut out);
        out.into_iter()
            .map(|p| (p.path.unwrap_or_default(), p.message))
            .collect()
    }

    const REF: &str = "  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n";

    #[test]
    fn a_cpu_and_requests_hpa_passes() {
        let spec = format!(
            "{REF}  maxReplicas: 5\n  metrics:\n  - type: Resource\n    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}\n  - type: Pods\n    pods: {{metric: {{name: http_requests_per_second}}, target: {{type: AverageValue, averageValue: '10'}}}}\n  behavior: {{scaleDown: {{stabilizationWindowSeconds: 10, policies: [{{type: Pods, value: 1, periodSeconds: 5}}]}}}}\n"
        );
        assert_eq!(problems(&spec), vec![]);
    }

    #[test]
    fn object_and_external_metrics_are_refused_with_their_path() {
        let spec = format!(
            "{REF}  maxReplicas: 5\n  metrics:\n  - type: Pods\n    pods: {{metric: {{name: queue}}, target: {{type: Value, value: '1'}}}}\n  - type: External\n    external: {{metric: {{name: q}}, target: {{type: Value, value: '1'}}}}\n"
        );
        let p = problems(&spec);
        assert_eq!(p[0].0, "spec.metrics[0].pods.metric.name");
        assert_eq!(p[1].0, "spec.metrics[0].pods.target.type");
        assert_eq!(p[2].0, "spec.metrics[1].type");
        assert!(
            p[2].1
                .starts_with("ferry does not support External metrics"),
            "{}",
            p[2].1
        );
    }

    #[test]
    fn bounds_and_targets_are_checked() {
        let spec = "  scaleTargetRef: {apiVersion: v1, kind: Pod, name: web}\n  minReplicas: 3\n  maxReplicas: 2\n  behavior: {scaleUp: {selectPolicy: Fastest, policies: [{type: Pods, value: 0, periodSeconds: 0}]}}\n";
        let paths: Vec<String> = problems(spec).into_iter().map(|p| p.0).collect();
        assert_eq!(
            paths,
            [
                "spec.scaleTargetRef",
                "spec.maxReplicas",
                "spec.behavior.scaleUp.selectPolicy",
                "spec.behavior.scaleUp.policies[0].value",
                "spec.behavior.scaleUp.policies[0].periodSeconds",
            ]
        );
    }
}
