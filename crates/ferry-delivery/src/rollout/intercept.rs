//! What a sync applies while canaries run, pure. For an environment with a
//! canary strategy, a desired Deployment whose pod template differs from
//! the live one (and whose pods a desired Service selects) starts a
//! rollout instead of a rolling update: the user's Deployment keeps the
//! live (stable) template until the rollout promotes, and the driver runs
//! the new template as ferry's canary Deployment beside it. A rolled-back
//! template is not tried again until git changes it; reverting git to the
//! stable template ends the rollout.

use std::collections::BTreeMap;

use ferry_core::objects::StoredObject;
use serde_json::Value;

use super::{AnalysisRun, Phase, Rollout, RolloutKey};
use crate::diff::diff;

/// Which app and environment, and where.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    pub app: &'a str,
    pub env: &'a str,
    pub region: &'a str,
    pub steps: usize,
    pub now_ms: u64,
}

/// The objects to sync and the rollouts that start or end.
#[derive(Debug, Default)]
pub struct Intercepted {
    /// `None`: the desired objects unchanged.
    pub desired: Option<Vec<StoredObject>>,
    pub start: Vec<Rollout>,
    pub end: Vec<RolloutKey>,
}

fn is_deployment(o: &StoredObject) -> bool {
    o.group_kind.group == "apps" && o.group_kind.kind == "Deployment"
}

fn template(o: &StoredObject) -> Option<&Value> {
    o.value.pointer("/spec/template")
}

/// The desired Services whose selector picks pods with `labels`.
fn services_selecting(desired: &[StoredObject], ns: Option<&str>, labels: &Value) -> Vec<String> {
    desired
        .iter()
        .filter(|o| o.group_kind.group.is_empty() && o.group_kind.kind == "Service")
        .filter(|o| o.namespace.as_deref() == ns)
        .filter(|o| {
            let sel = o.value.pointer("/spec/selector").and_then(Value::as_object);
            sel.is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
        })
        .map(|o| o.name.clone())
        .collect()
}

/// Rewrites `desired` for the rollouts of `ctx`'s app and environment
/// (`active`, by Deployment name), given the live Deployments (by name).
pub fn intercept(
    ctx: &Ctx<'_>,
    desired: &[StoredObject],
    live: &BTreeMap<String, &StoredObject>,
    active: &BTreeMap<String, Rollout>,
) -> Intercepted {
    let mut out = Intercepted::default();
    let mut objects = desired.to_vec();
    let mut changed = false;
    for o in objects.iter_mut().filter(|o| is_deployment(o)) {
        let (Some(new), Some(l)) = (template(o).cloned(), live.get(&o.name)) else {
            continue;
        };
        let Some(live_tpl) = template(l) else {
            continue;
        };
        let key = (ctx.app.to_string(), ctx.env.to_string(), o.name.clone());
        let r = active.get(&o.name);
        let hold = match r {
            Some(r) if r.canary_template == new => {
                (!matches!(r.phase, Phase::Promoting | Phase::Completed))
                    .then(|| r.stable_template.clone())
            }
            Some(r) if r.stable_template == new => {
                out.end.push(key);
                None
            }
            _ if diff(&new, live_tpl).is_empty() => None,
            _ => {
                let labels = new.pointer("/metadata/labels").cloned().unwrap_or_default();
                let services = services_selecting(desired, o.namespace.as_deref(), &labels);
                if services.is_empty() {
                    continue;
                }
                // A rollout replaced mid-way keeps the stable it started from.
                let stable = match r {
                    Some(r) if r.phase != Phase::Completed => r.stable_template.clone(),
                    _ => live_tpl.clone(),
                };
                out.start.push(start(ctx, o, services, stable.clone(), new));
                Some(stable)
            }
        };
        if let Some(t) = hold {
            o.value["spec"]["template"] = t;
            changed = true;
        }
    }
    out.desired = changed.then_some(objects);
    out
}

fn start(
    ctx: &Ctx<'_>,
    o: &StoredObject,
    services: Vec<String>,
    stable: Value,
    canary: Value,
) -> Rollout {
    let replicas = o
        .value
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1) as u32;
    Rollout {
        app: ctx.app.into(),
        environment: ctx.env.into(),
        region: ctx.region.into(),
        namespace: o.namespace.clone().unwrap_or_default(),
        deployment: o.name.clone(),
        services,
        stable_template: stable,
        canary_template: canary,
        selector: o
            .value
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_default(),
        replicas,
        phase: Phase::Progressing,
        step: 0,
        steps: ctx.steps,
        step_started_ms: ctx.now_ms,
        started_ms: ctx.now_ms,
        weight: 0,
        canary_replicas: 0,
        analysis: AnalysisRun::default(),
        mirror_analysis: AnalysisRun::default(),
        header_routes: Vec::new(),
        mirror_routes: Vec::new(),
        fault: None,
        strategy: None,
        notes: Vec::new(),
        promote: false,
        abort: false,
        stable_synced: false,
        message: None,
        history: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::objects::GroupKind;
    use serde_json::json;

    fn deploy(image: &str) -> StoredObject {
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "dev"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": image}]}}}});
        StoredObject {
            group_kind: GroupKind::of("apps/v1", "Deployment"),
            namespace: Some("dev".into()),
            name: "web".into(),
            source: "k8s/web.yaml".into(),
            value: v,
        }
    }

    fn service() -> StoredObject {
        StoredObject {
            group_kind: GroupKind::of("v1", "Service"),
            namespace: Some("dev".into()),
            name: "web".into(),
            source: "k8s/svc.yaml".into(),
            value: json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "dev"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        }
    }

    const CTX: Ctx<'static> = Ctx {
        app: "web",
        env: "dev",
        region: "uk",
        steps: 2,
        now_ms: 5,
    };

    fn image(objs: &[StoredObject]) -> &str {
        objs[0]
            .value
            .pointer("/spec/template/spec/containers/0/image")
            .unwrap()
            .as_str()
            .unwrap()
    }

    #[test]
    fn a_changed_template_starts_a_rollout_and_holds_the_stable_one() {
        let live = deploy("web:1");
        let live_map = BTreeMap::from([("web".to_string(), &live)]);
        let desired = vec![deploy("web:2"), service()];
        let out = intercept(&CTX, &desired, &live_map, &BTreeMap::new());
        assert_eq!(image(out.desired.as_ref().unwrap()), "web:1");
        let r = &out.start[0];
        assert_eq!((r.deployment.as_str(), r.replicas), ("web", 2));
        assert_eq!(r.services, ["web"]);
        assert_eq!(r.canary_template["spec"]["containers"][0]["image"], "web:2");

        // While it runs the stable template stays; once promoting, git's goes.
        let mut active = BTreeMap::from([("web".to_string(), r.clone())]);
        let out = intercept(&CTX, &desired, &live_map, &active);
        assert!(out.start.is_empty());
        assert_eq!(image(out.desired.as_ref().unwrap()), "web:1");
        active.get_mut("web").unwrap().phase = Phase::Promoting;
        assert!(
            intercept(&CTX, &desired, &live_map, &active)
                .desired
                .is_none()
        );

        // An aborted template is held back, a revert to stable ends it.
        active.get_mut("web").unwrap().phase = Phase::Aborted;
        let out = intercept(&CTX, &desired, &live_map, &active);
        assert_eq!(image(out.desired.as_ref().unwrap()), "web:1");
        let out = intercept(&CTX, &[deploy("web:1"), service()], &live_map, &active);
        assert_eq!(out.end.len(), 1);
        assert!(out.desired.is_none());
    }

    #[test]
    fn no_rollout_without_a_live_deployment_or_a_selecting_service() {
        let live = deploy("web:1");
        let live_map = BTreeMap::from([("web".to_string(), &live)]);
        let out = intercept(&CTX, &[deploy("web:2")], &live_map, &BTreeMap::new());
        assert!(out.start.is_empty() && out.desired.is_none());
        let out = intercept(
            &CTX,
            &[deploy("web:2"), service()],
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert!(out.start.is_empty() && out.desired.is_none());
    }
}
