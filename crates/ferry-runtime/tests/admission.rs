//! What apply refuses before anything runs: names and paths that would
//! become host paths (a volume named `/`, keys with `/`, `..` items) and
//! pod specs beyond their namespace's Pod Security Standards level, for
//! Pods and for the pod templates of Deployments and ReplicaSets.

fn plan(text: &str) -> Result<Vec<String>, String> {
    ferry_runtime::plan_manifests(&[("m.yaml".into(), text.into())], &[]).map_err(|e| e.to_string())
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: NS}\nspec:\n  containers: [{name: c, image: i, SC}]\n  VOLS\n";

fn pod(ns: &str, sc: &str, vols: &str) -> String {
    POD.replace("NS", ns)
        .replace("SC", sc)
        .replace("VOLS", vols)
}

#[test]
fn host_path_shaped_names_are_refused() {
    let err = plan(&pod("default", "", "volumes: [{name: /, emptyDir: {}}]")).unwrap_err();
    assert!(
        err.contains("field `spec.volumes[0].name`: `/` is not a valid volume name"),
        "{err}"
    );
    let secret =
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {../../etc/cron.d/x: y}\n";
    let err = plan(secret).unwrap_err();
    assert!(
        err.contains("field `stringData.../../etc/cron.d/x`"),
        "{err}"
    );
    let items = "volumes: [{name: v, secret: {secretName: s, items: [{key: k, path: /etc/x}]}}]";
    let err = plan(&pod("default", "", items)).unwrap_err();
    assert!(
        err.contains("spec.volumes[0].secret.items[0].path`: `/etc/x` must be a relative path"),
        "{err}"
    );
    assert!(plan(&pod("default", "", "volumes: [{name: data, emptyDir: {}}]")).is_ok());
}

#[test]
fn baseline_is_the_default_and_labels_choose_the_level() {
    let host_net = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: NS}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      hostNetwork: true\n      containers: [{name: c, image: i, securityContext: {privileged: true}}]\n";
    let err = plan(&host_net.replace("NS", "default")).unwrap_err();
    assert!(
        err.contains("field `spec.template.spec.hostNetwork`: hostNetwork: true is not allowed by the `baseline` Pod Security Standard of namespace `default`; label the namespace pod-security.kubernetes.io/enforce=privileged to allow it"),
        "{err}"
    );
    assert!(err.contains("spec.template.spec.containers[0].securityContext.privileged"));
    let ns = |level: &str| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: n, labels: {{pod-security.kubernetes.io/enforce: {level}}}}}\n---\n"
        )
    };
    let privileged = format!("{}{}", ns("privileged"), host_net.replace("NS", "n"));
    assert!(plan(&privileged).is_ok());

    // restricted: a plain pod is refused, a hardened one accepted.
    let plain = format!("{}{}", ns("restricted"), pod("n", "", ""));
    let err = plan(&plain).unwrap_err();
    for field in [
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "seccompProfile.type",
        "capabilities.drop",
    ] {
        assert!(
            err.contains(&format!("spec.containers[0].securityContext.{field}")),
            "{field}: {err}"
        );
    }
    assert!(err.contains("enforce=baseline"), "{err}");
    let hard = "securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false, seccompProfile: {type: RuntimeDefault}, capabilities: {drop: [ALL]}}";
    assert!(plan(&format!("{}{}", ns("restricted"), pod("n", hard, ""))).is_ok());
    let err = plan(&format!("{}{}", ns("strict"), pod("n", "", ""))).unwrap_err();
    assert!(
        err.contains("`strict` is not a Pod Security Standards level"),
        "{err}"
    );
}
