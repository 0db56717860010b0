//! Argo Rollouts' `Rollout` kind (`argoproj.io/v1alpha1`), pure: on the
//! embedded target an app's `Rollout` is applied as the Deployment of the
//! same name (its `replicas`, `selector`, `template`, `minReadySeconds`,
//! `revisionHistoryLimit`) and its `spec.strategy.canary.steps` become
//! that Deployment's canary strategy, in place of the Environment's. The
//! steps ferry knows run as written (`setWeight`, `pause`,
//! `setHeaderRoute`, `setMirrorRoute`); an Argo `analysis` step (its
//! AnalysisTemplates are not run) waits for one passing measurement of the
//! gateway's analysis (the Environment's `canary.analysis`, else the
//! defaults); any other step is skipped, and each such adaptation is noted
//! on the rollout. `progressDeadlineSeconds` comes from the Rollout's spec.

use std::collections::BTreeMap;

use ferry_core::objects::{GroupKind, StoredObject};
use ferry_core::rollout_spec::{AnalysisSpec, CanaryStep, CanaryStrategy};
use serde_json::{Value, json};

/// A Rollout's strategy and what ferry did not run as written.
#[derive(Debug, Clone)]
pub struct ArgoStrategy {
    pub strategy: CanaryStrategy,
    pub notes: Vec<String>,
}

/// True for an Argo Rollouts `Rollout`.
pub fn is_rollout(o: &StoredObject) -> bool {
    o.group_kind.group == "argoproj.io" && o.group_kind.kind == "Rollout"
}

/// `desired` with every `Rollout` replaced by its Deployment, and each
/// one's strategy by Deployment name (`None` when there is no Rollout).
pub fn convert(
    desired: &[StoredObject],
    analysis: Option<&AnalysisSpec>,
) -> Option<(Vec<StoredObject>, BTreeMap<String, ArgoStrategy>)> {
    if !desired.iter().any(is_rollout) {
        return None;
    }
    let mut strategies = BTreeMap::new();
    let objects = desired
        .iter()
        .map(|o| {
            if !is_rollout(o) {
                return o.clone();
            }
            strategies.insert(o.name.clone(), strategy(&o.value, analysis));
            deployment(o)
        })
        .collect();
    Some((objects, strategies))
}

fn deployment(o: &StoredObject) -> StoredObject {
    let meta = &o.value["metadata"];
    let mut metadata = json!({"name": o.name});
    for k in ["namespace", "labels", "annotations"] {
        if let Some(v) = meta.get(k) {
            metadata[k] = v.clone();
        }
    }
    let mut spec = json!({});
    for k in [
        "replicas",
        "selector",
        "template",
        "minReadySeconds",
        "revisionHistoryLimit",
    ] {
        if let Some(v) = o.value["spec"].get(k) {
            spec[k] = v.clone();
        }
    }
    StoredObject {
        group_kind: GroupKind::of("apps/v1", "Deployment"),
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        source: o.source.clone(),
        value: json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}),
    }
}

fn strategy(rollout: &Value, analysis: Option<&AnalysisSpec>) -> ArgoStrategy {
    let mut notes = Vec::new();
    let canary = &rollout["spec"]["strategy"]["canary"];
    if rollout["spec"]["strategy"].get("blueGreen").is_some() {
        notes.push("spec.strategy.blueGreen is not supported: changes roll out at once".into());
    }
    let mut steps = Vec::new();
    let raw = canary["steps"].as_array().cloned().unwrap_or_default();
    for (i, s) in raw.iter().enumerate() {
        let at = format!("spec.strategy.canary.steps[{i}]");
        if s.get("analysis").is_some() {
            notes.push(format!(
                "{at}.analysis: its AnalysisTemplates are not run; one passing measurement of the gateway's analysis instead"
            ));
            steps.push(CanaryStep::Analysis(
                ferry_core::rollout_spec::AnalysisStep { count: 1 },
            ));
            continue;
        }
        match serde_json::from_value::<CanaryStep>(s.clone()) {
            Ok(step) => steps.push(step),
            Err(e) => notes.push(format!("{at} skipped: {e}")),
        }
    }
    if canary.get("analysis").is_some() {
        notes.push(
            "spec.strategy.canary.analysis: its AnalysisTemplates are not run; the gateway's analysis runs throughout".into(),
        );
    }
    let deadline = rollout["spec"]["progressDeadlineSeconds"]
        .as_u64()
        .unwrap_or(600);
    ArgoStrategy {
        strategy: CanaryStrategy {
            steps,
            analysis: analysis.cloned().unwrap_or_default(),
            progress_deadline_seconds: deadline,
        },
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::rollout_spec::PauseStep;

    fn rollout() -> StoredObject {
        let y = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web, labels: {team: a}}\nspec:\n  replicas: 3\n  progressDeadlineSeconds: 120\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: 'web:2'}]}\n  strategy:\n    canary:\n      canaryService: web-canary\n      steps:\n      - setWeight: 20\n      - pause: {}\n      - analysis: {templates: [{templateName: success-rate}]}\n      - setCanaryScale: {replicas: 2}\n      - setHeaderRoute: {name: t, match: [{headerName: x-t, headerValue: {exact: '1'}}]}\n";
        let v = ferry_core::yaml::parse_documents("r.yaml", y).unwrap()[0]
            .value
            .clone();
        StoredObject {
            group_kind: GroupKind::of("argoproj.io/v1alpha1", "Rollout"),
            namespace: None,
            name: "web".into(),
            source: "r.yaml".into(),
            value: v,
        }
    }

    #[test]
    fn a_rollout_becomes_a_deployment_of_its_name_with_its_steps() {
        let other = StoredObject {
            group_kind: GroupKind::of("v1", "Service"),
            name: "web".into(),
            ..rollout()
        };
        assert!(convert(std::slice::from_ref(&other), None).is_none());
        let (objects, strategies) = convert(&[rollout(), other], None).unwrap();
        let d = &objects[0];
        assert_eq!(
            (d.group_kind.kind.as_str(), d.name.as_str()),
            ("Deployment", "web")
        );
        assert_eq!(d.value["spec"]["replicas"], 3);
        assert_eq!(
            d.value["spec"]["template"]["spec"]["containers"][0]["image"],
            "web:2"
        );
        assert_eq!(d.value["metadata"]["labels"]["team"], "a");
        assert!(d.value["spec"].get("strategy").is_none());
        assert_eq!(objects[1].group_kind.kind, "Service");

        let a = &strategies["web"];
        let s = &a.strategy.steps;
        assert_eq!(s.len(), 4, "{s:?}");
        assert_eq!(s[0], CanaryStep::SetWeight(20));
        assert_eq!(s[1], CanaryStep::Pause(PauseStep::default()));
        assert!(matches!(&s[2], CanaryStep::Analysis(a) if a.count == 1));
        assert!(matches!(&s[3], CanaryStep::SetHeaderRoute(h) if h.name == "t"));
        assert_eq!(a.strategy.progress_deadline_seconds, 120);
        assert!(a.notes[0].starts_with("spec.strategy.canary.steps[2].analysis"));
        assert!(
            a.notes[1].starts_with("spec.strategy.canary.steps[3] skipped"),
            "{:?}",
            a.notes
        );
    }
}
