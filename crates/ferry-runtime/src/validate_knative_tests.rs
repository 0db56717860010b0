//! Knative Services refused at apply, each problem at its field path with
//! the webhook's wording; a valid one (unnamed container, tags) accepted.

fn problems(text: &str) -> Vec<(String, String)> {
    match crate::plan_manifests(&[("k.yaml".to_string(), text.to_string())], &[]) {
        Ok(_) => vec![],
        Err(p) => {
            p.0.into_iter()
                .map(|p| (p.path.unwrap_or_default(), p.message))
                .collect()
        }
    }
}

fn ksvc(annotations: &str, spec_extra: &str, traffic: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: hello}}\nspec:\n  template:\n    metadata:\n      annotations: {{{annotations}}}\n    spec:\n{spec_extra}      containers: [{{image: web:v1}}]\n{traffic}"
    )
}

#[test]
fn a_valid_service_with_tags_and_an_unnamed_container_is_accepted() {
    let t = "  traffic:\n  - {revisionName: hello-00001, percent: 90}\n  - {latestRevision: true, percent: 10, tag: canary}\n";
    let a = "autoscaling.knative.dev/window: 6s, autoscaling.knative.dev/min-scale: '1'";
    assert_eq!(problems(&ksvc(a, "", t)), vec![]);
}

#[test]
fn traffic_must_sum_to_100_and_name_one_target_each() {
    let t = "  traffic:\n  - {revisionName: hello-00001, percent: 80}\n  - {percent: 10, tag: a}\n  - {latestRevision: true, percent: 0, tag: a}\n";
    let p = problems(&ksvc("", "", t));
    assert!(
        p.contains(&(
            "spec.traffic".into(),
            "Traffic targets sum to 90, want 100".into()
        )),
        "{p:?}"
    );
    assert!(p.contains(&(
        "spec.traffic[1]".into(),
        "expected exactly one, got neither: revisionName, latestRevision".into()
    )));
    assert!(p.contains(&(
        "spec.traffic[2].tag".into(),
        "multiple definitions for \"a\"".into()
    )));
}

#[test]
fn autoscaling_annotations_are_checked() {
    let a = "autoscaling.knative.dev/window: 2s, autoscaling.knative.dev/min-scale: '3', autoscaling.knative.dev/max-scale: '2', autoscaling.knative.dev/target: none";
    let p = problems(&ksvc(a, "", ""));
    let at = |k: &str| format!("spec.template.metadata.annotations.autoscaling.knative.dev/{k}");
    let paths: Vec<&str> = p.iter().map(|(path, _)| path.as_str()).collect();
    assert!(paths.contains(&at("window").as_str()), "{p:?}");
    assert!(p.contains(&(
        at("max-scale"),
        "max-scale=2 is less than min-scale=3".into()
    )));
    assert!(paths.contains(&at("target").as_str()));
}

#[test]
fn knative_fields_and_unknown_fields_are_named() {
    let p = problems(&ksvc("", "      containerConcurrency: 2000\n", ""));
    assert_eq!(
        p,
        vec![(
            "spec.template.spec.containerConcurrency".into(),
            "expected 0 <= 2000 <= 1000".into()
        )]
    );
    let p = problems(&ksvc("", "      containerConcurency: 2\n", ""));
    assert_eq!(p[0].0, "spec.template.spec.containerConcurency");
}

#[test]
fn revisions_are_not_applied_by_hand() {
    let p = problems(
        "apiVersion: serving.knative.dev/v1\nkind: Revision\nmetadata: {name: hello-00001}\nspec: {}\n",
    );
    assert_eq!(p[0].0, "kind");
}
