//! Property tests of the user-facing manifest path: arbitrary text and
//! arbitrary edits of a valid manifest never panic, and every rejection
//! names the file and a document.

use std::sync::Arc;

use ferry_core::objects::KindOwner;
use proptest::prelude::*;

const VALID: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n        image: web:v1\n        ports: [{containerPort: 8080}]\n        resources: {limits: {cpu: 200m, memory: 64Mi}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n";

fn check(text: &str) {
    let owners: Vec<Arc<dyn KindOwner>> = Vec::new();
    if let Err(problems) = ferry_runtime::plan_manifests(&[("m.yaml".into(), text.into())], &owners)
    {
        assert!(!problems.is_empty());
        for p in &problems.0 {
            assert_eq!(p.file, "m.yaml");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        check(&text);
    }

    #[test]
    fn mutated_manifest_never_panics(pos in 0usize..VALID.len(), insert in "[a-z0-9:{}\\[\\], -]{0,8}", cut in 0usize..6) {
        let mut s = VALID.to_string();
        let pos = (0..=pos).rev().find(|p| s.is_char_boundary(*p)).unwrap_or(0);
        let end = (pos + cut).min(s.len());
        s.replace_range(pos..end, &insert);
        check(&s);
    }
}

#[test]
fn the_valid_manifest_is_valid() {
    let owners: Vec<Arc<dyn KindOwner>> = Vec::new();
    assert!(ferry_runtime::plan_manifests(&[("m.yaml".into(), VALID.into())], &owners).is_ok());
}
