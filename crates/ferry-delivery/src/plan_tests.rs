use super::*;

const TOPO: &str = "\
apiVersion: ferry.dev/v1alpha1
kind: Region
metadata: {name: uk}
spec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}
---
apiVersion: ferry.dev/v1alpha1
kind: Region
metadata: {name: shanghai}
spec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}
---
apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: {name: dev, labels: {stage: dev}}
spec: {region: uk}
---
apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: {name: prod, labels: {stage: prod}}
spec: {region: shanghai}
---
apiVersion: ferry.dev/v1alpha1
kind: Application
metadata: {name: myhero}
spec:
  source: {repoUrl: /srv/myhero, path: k8s}
---
apiVersion: ferry.dev/v1alpha1
kind: Pipeline
metadata: {name: myhero}
spec:
  application: myhero
  buildRegion: uk
  images: [{name: myhero/data, context: data}]
  rules:
  - {branch: dev, imageTag: 'dev-{sha7}', environments: {matchLabels: {stage: dev}}}
  - {branch: master, imageTag: 'prod-{sha7}', environments: {matchLabels: {stage: prod}}, requiresHealthyIn: dev}
  - {branch: 'feature/*', imageTag: 'feat-{sha7}', ephemeralRegion: uk}
";

fn topo() -> Topology {
    Topology::from_sources(&[("t.yaml".into(), TOPO.into())]).unwrap()
}

#[test]
fn branches_map_to_environments_and_registries() {
    let t = topo();
    let mut refs = Refs::default();
    refs.branches.insert("dev".into(), "1111111aaaa".into());
    refs.branches.insert("master".into(), "2222222bbbb".into());
    refs.branches
        .insert("feature/login".into(), "3333333cccc".into());
    let inst = instances(&t, &t.applications[0], Some(&refs));
    assert_eq!(inst.len(), 3);
    assert_eq!(
        (inst[0].env.as_str(), inst[0].region.as_str()),
        ("dev", "uk")
    );
    assert_eq!(inst[0].image_tag.as_deref(), Some("dev-1111111"));
    assert_eq!(
        (inst[1].env.as_str(), inst[1].region.as_str()),
        ("prod", "shanghai")
    );
    assert_eq!(inst[1].image_tag.as_deref(), Some("prod-2222222"));
    assert_eq!(inst[2].env, "myhero-feature-login");
    assert!(inst[2].ephemeral);
    // Each image gets its own tag (filled in by the engine from git).
    let mut prod = inst[1].clone();
    assert!(prod.overrides(pipeline_of(&t, "myhero"), "r").is_empty());
    prod.image_tags
        .insert("myhero/data".into(), "prod-2222222".into());
    let o = prod.overrides(pipeline_of(&t, "myhero"), "127.0.0.1:5001");
    assert_eq!(o[0].new_name.as_deref(), Some("127.0.0.1:5001/myhero/data"));
    assert_eq!(o[0].new_tag.as_deref(), Some("prod-2222222"));
}

#[test]
fn unfetched_or_missing_branches_have_no_commit() {
    let t = topo();
    let inst = instances(&t, &t.applications[0], None);
    assert_eq!(inst.len(), 2);
    assert!(inst.iter().all(|i| i.commit.is_none()));
}

#[test]
fn bad_pipeline_is_rejected_with_field() {
    let bad = TOPO.replace("imageTag: 'dev-{sha7}'", "imageTag: 'dev-{sha8}'");
    let err = Topology::from_sources(&[("t.yaml".into(), bad)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.rules.0.imageTag"), "{err}");
    let bad = TOPO.replace("buildRegion: uk", "buildRegion: ukk");
    let err = Topology::from_sources(&[("t.yaml".into(), bad)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean `uk`"), "{err}");
}
