//! StatefulSet validation through the apply plan: field paths and
//! Kubernetes' texts.

use super::*;
use crate::pss::Level;

const WEB: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx
        volumeMounts: [{name: www, mountPath: /usr/share/nginx/html}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
";

fn problems(text: &str) -> Vec<(String, String)> {
    let levels = [("default".to_string(), Level::Baseline)]
        .into_iter()
        .collect();
    match crate::apply::plan(&[("m.yaml".into(), text.into())], &[], &levels) {
        Ok(_) => vec![],
        Err(p) => {
            p.0.into_iter()
                .map(|p| (p.path.unwrap_or_default(), p.message))
                .collect()
        }
    }
}

#[test]
fn the_tutorial_statefulset_is_valid_and_mounts_its_claim_template() {
    assert_eq!(problems(WEB), vec![]);
}

#[test]
fn bad_values_are_named_with_kubernetes_texts() {
    let bad = WEB.replace(
        "  replicas: 2\n",
        "  replicas: 2\n  podManagementPolicy: Sometimes\n",
    );
    assert_eq!(
        problems(&bad),
        [(
            "spec.podManagementPolicy".to_string(),
            "Unsupported value: \"Sometimes\": supported values: \"OrderedReady\", \"Parallel\""
                .to_string()
        )]
    );
    let bad = WEB.replace(
        "labels: {app: nginx}}\n    spec",
        "labels: {app: web}}\n    spec",
    );
    assert_eq!(problems(&bad)[0].0, "spec.template.metadata.labels");
    let bad = WEB.replace(
        "  replicas: 2\n",
        "  replicas: 2\n  updateStrategy: {type: OnDelete, rollingUpdate: {partition: 1}}\n",
    );
    assert_eq!(problems(&bad)[0].0, "spec.updateStrategy.rollingUpdate");
    let bad = WEB.replace("{name: www, mountPath", "{name: wwx, mountPath");
    assert!(
        problems(&bad)[0]
            .0
            .starts_with("spec.template.spec.containers[0].volumeMounts")
    );
}

#[test]
fn only_the_mutable_fields_may_change() {
    let old: Value = serde_json::json!({"spec": {"replicas": 2, "serviceName": "nginx",
        "template": {"a": 1}, "podManagementPolicy": "OrderedReady"}});
    let mut new = old.clone();
    new["spec"]["replicas"] = 5.into();
    new["spec"]["template"] = serde_json::json!({"a": 2});
    new["spec"]["updateStrategy"] = serde_json::json!({"type": "OnDelete"});
    assert_eq!(forbidden_update(&old, &new), None);
    new["spec"]["podManagementPolicy"] = "Parallel".into();
    let m = forbidden_update(&old, &new).unwrap();
    assert!(m.starts_with("Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
}
