use super::*;

fn ctx<'a>(images: &'a [ImageOverride]) -> RenderContext<'a> {
    RenderContext {
        app: "web",
        environment: "dev",
        namespace: "dev",
        revision: "abc1234",
        kind: RenderKind::Auto,
        value_files: &[],
        images,
    }
}

fn files(list: &[(&str, &str)]) -> Files {
    list.iter()
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect()
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - {name: web, image: 'myhero/data:latest'}\n";

#[test]
fn directory_renders_in_apply_order_with_labels_and_namespace() {
    let f = files(&[
        ("k8s/a.yaml", DEPLOY),
        (
            "k8s/b.yml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
        ),
        ("k8s/README.md", "not yaml"),
    ]);
    let objs = render(&f, "k8s", &ctx(&[])).unwrap();
    let kinds: Vec<_> = objs.iter().map(|o| o.group_kind.kind.as_str()).collect();
    assert_eq!(kinds, ["Namespace", "Deployment", "Service"]);
    assert_eq!(objs[0].namespace, None);
    assert_eq!(objs[1].namespace.as_deref(), Some("dev"));
    assert_eq!(objs[1].value["metadata"]["labels"][LABEL_APP], "web");
    assert_eq!(objs[1].source, "k8s/a.yaml@abc1234: document 0");
}

#[test]
fn image_override_rewrites_name_and_tag() {
    let o = [ImageOverride {
        name: "myhero/data".into(),
        new_name: Some("127.0.0.1:5000/myhero/data".into()),
        new_tag: Some("dev-abc1234".into()),
    }];
    let objs = render(&files(&[("a.yaml", DEPLOY)]), "", &ctx(&o)).unwrap();
    assert_eq!(
        images_of(&objs[0].value),
        ["127.0.0.1:5000/myhero/data:dev-abc1234"]
    );
}

#[test]
fn split_image_handles_registry_ports() {
    assert_eq!(
        split_image("127.0.0.1:5000/a/b:v1"),
        ("127.0.0.1:5000/a/b", Some("v1"), None)
    );
    assert_eq!(
        split_image("127.0.0.1:5000/a/b"),
        ("127.0.0.1:5000/a/b", None, None)
    );
    assert_eq!(split_image("a@sha256:00"), ("a", None, Some("sha256:00")));
}

#[test]
fn bad_manifest_names_file_document_and_field() {
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: two\n";
    let Err(Error::Manifests(p)) = render(&files(&[("k8s/app.yaml", bad)]), "k8s", &ctx(&[]))
    else {
        panic!("expected manifest problems")
    };
    let text = p.to_string();
    assert!(text.contains("k8s/app.yaml@abc1234: document 1"), "{text}");
    assert!(text.contains("field `spec.replicas`"), "{text}");
}

#[test]
fn missing_image_and_syntax_errors_are_reported() {
    let no_image = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: web}\n";
    let err = render(
        &files(&[("a.yaml", no_image), ("b.yaml", "a: [\n")]),
        "",
        &ctx(&[]),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("spec.template.spec.containers.0.image"),
        "{text}"
    );
    assert!(text.contains("b.yaml"), "{text}");
}

#[test]
fn duplicates_are_rejected() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
    let err = render(&files(&[("a.yaml", cm), ("b.yaml", cm)]), "", &ctx(&[])).unwrap_err();
    assert!(err.to_string().contains("duplicate object"), "{err}");
}

#[test]
fn kustomize_is_detected() {
    let f = files(&[("k/kustomization.yaml", "resources: []\n")]);
    assert_eq!(detect(&f, "k"), RenderKind::Kustomize);
    assert_eq!(
        detect(&files(&[("c/Chart.yaml", "")]), "c"),
        RenderKind::Helm
    );
}

#[test]
fn preview_hosts_prefix_ingress_and_httproute_hosts() {
    let mut ing = serde_json::json!({"kind": "Ingress", "spec": {
        "rules": [{"host": "ui.example"}, {"http": {}}],
        "tls": [{"hosts": ["ui.example", "*.apps.example"]}]}});
    preview_hosts(&mut ing, "app-feature-x");
    assert_eq!(ing["spec"]["rules"][0]["host"], "app-feature-x.ui.example");
    assert!(ing["spec"]["rules"][1].get("host").is_none());
    assert_eq!(
        ing["spec"]["tls"][0]["hosts"][1],
        "*.app-feature-x.apps.example"
    );
    let mut route = serde_json::json!({"kind": "HTTPRoute", "spec": {"hostnames": ["a.example"]}});
    preview_hosts(&mut route, "e");
    assert_eq!(route["spec"]["hostnames"][0], "e.a.example");
    let mut svc = serde_json::json!({"kind": "Service", "spec": {"hostnames": ["x"]}});
    preview_hosts(&mut svc, "e");
    assert_eq!(svc["spec"]["hostnames"][0], "x");
}

#[test]
fn a_bad_sync_wave_names_file_document_and_annotation() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations: {argocd.argoproj.io/sync-wave: soon}\n";
    let Err(Error::Manifests(p)) = render(&files(&[("k8s/c.yaml", text)]), "k8s", &ctx(&[])) else {
        panic!("a bad wave must fail the render");
    };
    assert_eq!(p.0.len(), 1, "{p:?}");
    assert_eq!(p.0[0].file, "k8s/c.yaml@abc1234");
    assert_eq!(p.0[0].document, Some(1));
    assert_eq!(
        p.0[0].path.as_deref(),
        Some("metadata.annotations[\"argocd.argoproj.io/sync-wave\"]")
    );
}

#[test]
fn waves_order_the_rendered_objects() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n  annotations: {ferry.dev/sync-wave: '-1'}\n";
    let objs = render(&files(&[("c.yaml", text)]), "", &ctx(&[])).unwrap();
    let names: Vec<_> = objs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["first", "dev"]);
}
