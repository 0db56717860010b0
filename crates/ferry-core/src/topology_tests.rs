//! Tests of topology loading and validation.

use super::*;

fn load(text: &str) -> Result<Topology, Error> {
    Topology::from_sources(&[("topo.yaml".to_string(), text.to_string())])
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Err(Error::Invalid(p)) => p.0,
        other => panic!("expected problems, got {other:?}"),
    }
}

const TWO_REGIONS: &str = "\
apiVersion: ferry.dev/v1alpha1
kind: Region
metadata: {name: uk}
spec:
  dataDir: /tmp/uk
  listeners: {api: 127.0.0.1:7071, registry: 127.0.0.1:5001, gateway: 127.0.0.1:8081}
---
apiVersion: ferry.dev/v1alpha1
kind: Region
metadata: {name: shanghai}
spec:
  listeners: {api: 127.0.0.1:7072, registry: 127.0.0.1:5002, gateway: 127.0.0.1:8082}
---
apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: {name: dev, labels: {tier: dev}}
spec: {region: uk}
---
apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: {name: prod, labels: {tier: prod}}
spec: {region: shanghai, namespace: production}
";

#[test]
fn builtin_is_one_local_region() {
    let t = Topology::builtin();
    assert_eq!(t.regions.len(), 1);
    assert_eq!(t.regions[0].metadata.name, "local");
    assert_eq!(t.environment("default").unwrap().spec.region, "local");
}

#[test]
fn two_regions_and_environments_load() {
    let t = load(TWO_REGIONS).unwrap();
    assert_eq!(t.regions.len(), 2);
    assert_eq!(
        t.region("uk").unwrap().spec.data_dir.as_deref(),
        Some(std::path::Path::new("/tmp/uk"))
    );
    assert_eq!(t.environment("prod").unwrap().namespace(), "production");
    assert_eq!(t.environment("dev").unwrap().namespace(), "dev");
    assert_eq!(t.environment("dev").unwrap().metadata.labels["tier"], "dev");
}

#[test]
fn misspelt_field_names_document_path_and_suggestion() {
    let text = TWO_REGIONS.replace(
        "listeners: {api: 127.0.0.1:7072",
        "listners: {api: 127.0.0.1:7072",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].document, Some(1));
    assert_eq!(p[0].path.as_deref(), Some("spec.listners"));
    assert_eq!(p[0].suggestion.as_deref(), Some("listeners"));
    assert_eq!(p[0].object.as_deref(), Some("Region/shanghai"));
}

#[test]
fn unknown_kind_is_named_with_suggestion() {
    let p =
        problems("apiVersion: ferry.dev/v1alpha1\nkind: Regoin\nmetadata: {name: a}\nspec: {}\n");
    assert_eq!(p[0].path.as_deref(), Some("kind"));
    assert!(p[0].message.contains("Regoin"));
    assert_eq!(p[0].suggestion.as_deref(), Some("Region"));
}

#[test]
fn duplicate_region_and_shared_listener_are_each_reported() {
    let text = format!(
        "{TWO_REGIONS}---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 127.0.0.1:7071, registry: 127.0.0.1:5009, gateway: 127.0.0.1:8089}}\n"
    );
    let p = problems(&text);
    assert!(
        p.iter()
            .any(|p| p.message.contains("duplicate region `uk`")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| p.path.as_deref() == Some("spec.listeners.api")
                && p.message
                    .contains("already used by region `uk` listener `api`")),
        "{p:?}"
    );
}

#[test]
fn environment_in_unknown_region_gets_suggestion() {
    let text = TWO_REGIONS.replace("spec: {region: uk}", "spec: {region: ukk}");
    let p = problems(&text);
    assert_eq!(p[0].path.as_deref(), Some("spec.region"));
    assert_eq!(p[0].suggestion.as_deref(), Some("uk"));
}

#[test]
fn wrong_api_version_and_bad_yaml_are_reported_together() {
    let sources = [
        (
            "a.yaml".to_string(),
            "apiVersion: v1\nkind: Region\n".to_string(),
        ),
        ("b.yaml".to_string(), "a: [\n".to_string()),
    ];
    let Err(Error::Invalid(p)) = Topology::from_sources(&sources) else {
        panic!()
    };
    assert_eq!(p.0.len(), 2, "{p}");
    assert!(
        p.0.iter()
            .any(|p| p.file == "b.yaml" && p.message.starts_with("invalid YAML"))
    );
    assert!(
        p.0.iter()
            .any(|p| p.file == "a.yaml" && p.path.as_deref() == Some("apiVersion"))
    );
}

#[test]
fn port_zero_never_conflicts() {
    let text = TWO_REGIONS.replace(":7071", ":0").replace(":7072", ":0");
    assert!(load(&text).is_ok());
}

#[test]
fn empty_input_needs_a_region() {
    let p = problems("# nothing here\n");
    assert!(p[0].message.contains("no Region"));
}

fn region_with(extra: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 127.0.0.1:7071, registry: 127.0.0.1:5001, gateway: 127.0.0.1:8081}}\n{extra}"
    )
}

#[test]
fn tls_is_generated_or_named_by_files() {
    let t = load(&region_with(
        "  tls: {generate: true, hostnames: [ferry.example.org, 10.0.0.5]}\n  registry: {tls: {generate: true}}\n",
    ))
    .unwrap();
    let tls = t.regions[0].spec.tls.clone().unwrap();
    assert!(tls.generate);
    assert_eq!(tls.hostnames, ["ferry.example.org", "10.0.0.5"]);
    let reg = t.regions[0].spec.registry.clone().unwrap().tls.unwrap();
    assert!(reg.generate && reg.cert_file.as_os_str().is_empty());
    let t = load(&region_with(
        "  tls: {certFile: api.crt, keyFile: api.key, caFile: ca.crt}\n",
    ))
    .unwrap();
    let tls = t.regions[0].spec.tls.clone().unwrap();
    assert_eq!(
        tls.cert_file.as_deref(),
        Some(std::path::Path::new("api.crt"))
    );
    assert!(
        load(&region_with("")).unwrap().regions[0]
            .spec
            .tls
            .is_none()
    );
}

#[test]
fn tls_mistakes_name_the_field() {
    for (extra, path, says) in [
        ("  tls: {}\n", "spec.tls", "generate: true"),
        (
            "  tls: {generate: true, certFile: a.crt}\n",
            "spec.tls.generate",
            "not both",
        ),
        ("  tls: {certFile: a.crt}\n", "spec.tls.keyFile", "missing"),
        ("  tls: {keyFile: a.key}\n", "spec.tls.certFile", "missing"),
        (
            "  tls: {generate: true, caFile: ca.crt}\n",
            "spec.tls.caFile",
            "only with `certFile`",
        ),
        (
            "  tls: {generate: true, hostnames: [ok.example, 'bad host:1']}\n",
            "spec.tls.hostnames[1]",
            "neither an IP address nor a DNS name",
        ),
        (
            "  tls: {generat: true}\n",
            "spec.tls.generat",
            "unknown field",
        ),
        (
            "  registry: {tls: {certFile: a.crt}}\n",
            "spec.registry.tls.keyFile",
            "missing",
        ),
        (
            "  registry: {tls: {}}\n",
            "spec.registry.tls",
            "generate: true",
        ),
    ] {
        let p = problems(&region_with(extra));
        assert_eq!(p.len(), 1, "{extra}: {p:?}");
        assert_eq!(p[0].path.as_deref(), Some(path), "{extra}: {p:?}");
        assert!(p[0].message.contains(says), "{extra}: {p:?}");
        assert_eq!(p[0].file, "topo.yaml");
        assert_eq!(p[0].object.as_deref(), Some("Region/uk"));
    }
}

fn with_targets(region_target: &str, env_target: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n{region_target}---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev}}\nspec:\n  region: uk\n{env_target}---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: prod}}\nspec: {{region: uk}}\n"
    )
}

#[test]
fn targets_default_to_embedded_and_environments_inherit_their_regions() {
    use crate::target_spec::TargetKind;
    let t = load(&with_targets("", "")).unwrap();
    let dev = t.environment("dev").unwrap();
    assert_eq!(t.environment_target(dev), TargetKind::Embedded);
    let text = with_targets(
        "  target: {kubernetes: {kubeconfig: kube/uk.yaml, context: uk-admin}}\n",
        "  target: {embedded: {}}\n",
    );
    let t = load(&text).unwrap();
    assert_eq!(
        t.environment_target(t.environment("dev").unwrap()),
        TargetKind::Embedded
    );
    let TargetKind::Kubernetes(k) = t.environment_target(t.environment("prod").unwrap()) else {
        panic!("prod inherits the region's cluster");
    };
    assert_eq!(k.context.as_deref(), Some("uk-admin"));
    assert_eq!(
        k.kubeconfig_in(std::path::Path::new("/etc/ferry")),
        Some(std::path::PathBuf::from("/etc/ferry/kube/uk.yaml"))
    );
    let t = load(&with_targets(
        "",
        "  target: {kubernetes: {inCluster: true}}\n",
    ))
    .unwrap();
    let TargetKind::Kubernetes(k) = t.environment_target(t.environment("dev").unwrap()) else {
        panic!("dev names its own cluster");
    };
    assert!(k.in_cluster);
}

#[test]
fn a_target_names_exactly_one_way_to_run() {
    let cases = [
        ("  target: {}\n", "spec.target", "name a target"),
        (
            "  target: {embedded: {}, kubernetes: {inCluster: true}}\n",
            "spec.target",
            "not both",
        ),
        (
            "  target: {kubernetes: {}}\n",
            "spec.target.kubernetes",
            "how to reach the cluster",
        ),
        (
            "  target: {kubernetes: {kubeconfig: k.yaml, inCluster: true}}\n",
            "spec.target.kubernetes.inCluster",
            "not both",
        ),
        (
            "  target: {kubernetes: {inCluster: true, context: x}}\n",
            "spec.target.kubernetes.context",
            "belongs to a kubeconfig",
        ),
        (
            "  target: {kubernetes: {kubeconfig: ''}}\n",
            "spec.target.kubernetes.kubeconfig",
            "must not be empty",
        ),
    ];
    for (target, path, message) in cases {
        let p = problems(&with_targets("", target));
        assert_eq!(p.len(), 1, "{target}: {p:?}");
        assert_eq!(p[0].document, Some(1), "{target}");
        assert_eq!(p[0].path.as_deref(), Some(path), "{target}");
        assert!(p[0].message.contains(message), "{target}: {}", p[0].message);
    }
    // The same checks hold for a region's default target.
    let p = problems(&with_targets("  target: {kubernetes: {}}\n", ""));
    assert_eq!(p[0].document, Some(0));
    assert_eq!(p[0].path.as_deref(), Some("spec.target.kubernetes"));
}

#[test]
fn a_misspelt_target_field_is_named_with_a_suggestion() {
    let p = problems(&with_targets(
        "",
        "  target: {kubernetes: {kubeConfig: k.yaml}}\n",
    ));
    assert_eq!(
        p[0].path.as_deref(),
        Some("spec.target.kubernetes.kubeConfig")
    );
    assert_eq!(p[0].suggestion.as_deref(), Some("kubeconfig"));
}

const CLUSTERS: &str = "---\napiVersion: ferry.dev/v1alpha1\nkind: Cluster\nmetadata: {name: shanghai, labels: {region: cn, tier: prod}}\nspec: {kubeconfig: kube/sh.yaml}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Cluster\nmetadata: {name: london, labels: {region: uk, tier: prod}}\nspec: {kubeconfig: kube/ldn.yaml, context: admin}\n";

#[test]
fn environments_pick_declared_clusters_by_label() {
    use crate::target_spec::TargetKind;
    let text = with_targets(
        "  target: {kubernetes: {clusterSelector: {matchLabels: {tier: prod}}}}\n",
        "  target: {kubernetes: {clusterSelector: {matchLabels: {region: cn}}}}\n",
    ) + CLUSTERS;
    let t = load(&text).unwrap();
    let names = |env: &str| -> Vec<String> {
        let TargetKind::Clusters(sel) = t.environment_target(t.environment(env).unwrap()) else {
            panic!("{env} picks clusters");
        };
        t.selected_clusters(sel)
            .iter()
            .map(|c| c.metadata.name.clone())
            .collect()
    };
    assert_eq!(names("dev"), ["shanghai"]);
    assert_eq!(names("prod"), ["shanghai", "london"], "the region's fleet");
    assert_eq!(
        t.clusters[1].spec.target().context.as_deref(),
        Some("admin")
    );
}

#[test]
fn a_selector_matching_no_cluster_names_the_clusters_and_their_labels() {
    let text = with_targets(
        "",
        "  target: {kubernetes: {clusterSelector: {matchLabels: {tier: prd}}}}\n",
    ) + CLUSTERS;
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].document, Some(1));
    assert_eq!(
        p[0].path.as_deref(),
        Some("spec.target.kubernetes.clusterSelector")
    );
    assert!(
        p[0].message.contains("matches no cluster")
            && p[0]
                .message
                .contains("shanghai {region=cn, tier=prod}, london {region=uk, tier=prod}"),
        "{}",
        p[0].message
    );
    assert_eq!(p[0].suggestion.as_deref(), Some("tier=prod"));
    let none = problems(&with_targets(
        "",
        "  target: {kubernetes: {clusterSelector: {matchLabels: {region: cn}}}}\n",
    ));
    assert!(
        none[0].message.contains("no Cluster is declared"),
        "{none:?}"
    );
    let both = problems(&with_targets(
        "",
        "  target: {kubernetes: {kubeconfig: k.yaml, clusterSelector: {}}}\n",
    ));
    assert_eq!(
        both[0].path.as_deref(),
        Some("spec.target.kubernetes.kubeconfig")
    );
    assert!(both[0].message.contains("not both"), "{both:?}");
    let bad = problems(&format!(
        "{}---\napiVersion: ferry.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: x}}\nspec: {{inCluster: true, context: c}}\n",
        with_targets("", "")
    ));
    assert_eq!(bad[0].path.as_deref(), Some("spec.context"), "{bad:?}");
    assert_eq!(bad[0].document, Some(3));
}
