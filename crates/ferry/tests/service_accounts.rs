//! A pod's service-account token end to end, through the real binary:
//! `ferry up`, a pod running as ServiceAccount `reader` of namespace
//! `team`. From inside the pod (busybox `nc`, run with `ferry exec`) the
//! mounted token reaches the region's API as the `kubernetes` Service: it
//! may list pods in `team` (every account holds `view` in its own
//! namespace), is refused Secrets, another namespace and writes; after a
//! RoleBinding granting `edit` it creates a ConfigMap; with `admin` it may
//! bind `view` but not `cluster-admin` (escalation); once the pod is
//! deleted the token is refused (401). The token is never in ferry's log
//! nor, in clear, in the token store, and its host directory is beneath
//! the pod's 0700 directory.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use ferry_test_support::{poll, temp_dir, topology_yaml};
use nix::sys::signal::Signal;
use serde_json::Value;

mod common;
use common::{cli, ok, text, up};

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

const SETUP: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: reader, namespace: team}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team}\nstringData: {password: hunter2}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: team}\nspec:\n  serviceAccountName: reader\n  terminationGracePeriodSeconds: 1\n  containers: [{name: client, image: 'tools:1', imagePullPolicy: Never}]\n";

const EDIT: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: reader-edits, namespace: team}\nsubjects:\n- {kind: ServiceAccount, name: reader}\nroleRef: {kind: ClusterRole, name: edit, apiGroup: rbac.authorization.k8s.io}\n";

fn apply(api: &str, dir: &Path, name: &str, yaml: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, yaml).unwrap();
    ok(cli(api, &["apply", "-f", file.to_str().unwrap()]))
}

/// Runs `script` in the client pod; its stdout.
fn in_pod(api: &str, script: &str) -> String {
    let out = cli(
        api,
        &["-n", "team", "exec", "client", "--", "sh", "-c", script],
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One HTTP/1.1 request to the API from inside the pod with its own token,
/// through `kubernetes.default.svc:443`; (status, body). busybox nc
/// half-closes at the request's end; the API still answers.
fn call(api: &str, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    let body = body.unwrap_or_default().replace('\'', "'\\''");
    let script = format!(
        "t=$(cat {SA_DIR}/token); b='{body}'; \
         (printf '%s %s HTTP/1.1\\r\\nHost: kubernetes.default.svc\\r\\nAuthorization: Bearer %s\\r\\n\
Content-Type: application/json\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s' \
         {method} '{path}' \"$t\" ${{#b}} \"$b\") | nc -w 5 kubernetes.default.svc 443"
    );
    let out = cli(
        api,
        &["-n", "team", "exec", "client", "--", "sh", "-c", &script],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !text.contains("\r\n\r\n") {
        eprintln!("{method} {path}: no answer: {}", common::text(&out));
    }
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((code, body.to_string()))
}

fn client_running(api: &str) -> bool {
    let out = cli(api, &["-n", "team", "get", "pod/client", "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v.pointer("/status/phase") == Some(&Value::from("Running"))
}

#[test]
fn a_pods_token_reads_the_api_by_its_rbac_rules_and_dies_with_the_pod() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["local"], dir.path())).unwrap();
    let store = ferry_image::Store::open(dir.path().join("local/runtime/images/store")).unwrap();
    ferry_image::build::busybox::busybox_image()
        .unwrap()
        .cmd(["sleep", "3600"])
        .build(&store, Some("tools:1"))
        .unwrap();
    let (mut up, api) = up(&topo, dir.path());
    apply(&api, dir.path(), "setup.yaml", SETUP);
    poll("the client pod runs", Duration::from_secs(40), || {
        client_running(&api).then_some(())
    });

    // The mount: namespace, token, an (empty: plain-HTTP API) ca.crt.
    assert_eq!(in_pod(&api, &format!("cat {SA_DIR}/namespace")), "team");
    let token = in_pod(&api, &format!("cat {SA_DIR}/token"));
    assert!(token.starts_with("ferry_") && token.len() > 40, "{token:?}");
    assert!(in_pod(&api, &format!("ls {SA_DIR}")).contains("ca.crt"));
    let host = in_pod(
        &api,
        "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT",
    );
    assert_eq!(host.trim(), "127.77.0.1:443");
    // Read-only in the container.
    assert_eq!(
        in_pod(&api, &format!("echo x > {SA_DIR}/token && echo wrote")),
        ""
    );

    // On the host: beneath the 0700 pod directory, hashed in the store.
    let pods = dir.path().join("local/runtime/pods");
    let pod_dir = std::fs::read_dir(&pods)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mode = std::fs::metadata(&pod_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert!(pod_dir.join("serviceaccount/token").exists());
    let tokens = std::fs::read_to_string(dir.path().join("local/auth/tokens.json")).unwrap();
    assert!(
        !tokens.contains(&token) && tokens.contains("\"reader\""),
        "{tokens}"
    );

    // view in its own namespace: pods yes; Secrets, other namespaces, writes no.
    let pods = poll(
        "the API through kubernetes.default.svc",
        Duration::from_secs(20),
        || call(&api, "GET", "/api/v1/objects/pods?namespace=team", None),
    );
    assert_eq!(pods.0, 200, "{}", pods.1);
    assert!(pods.1.contains("\"client\""), "{}", pods.1);
    let secrets = call(&api, "GET", "/api/v1/objects/secrets?namespace=team", None).unwrap();
    assert_eq!(secrets.0, 403, "{}", secrets.1);
    assert!(
        secrets.1.contains("cannot list resource \\\"secrets\\\""),
        "{}",
        secrets.1
    );
    let other = call(&api, "GET", "/api/v1/objects/pods?namespace=other", None).unwrap();
    assert_eq!(other.0, 403, "{}", other.1);
    let everywhere = call(&api, "GET", "/api/v1/objects/pods", None).unwrap();
    assert_eq!(everywhere.0, 403, "{}", everywhere.1);
    let discovery = call(&api, "GET", "/api/v1/api-resources", None).unwrap();
    assert_eq!(discovery.0, 200, "{}", discovery.1);
    let tokens_route = call(&api, "GET", "/api/v1/tokens", None).unwrap();
    assert_eq!(tokens_route.0, 403, "{}", tokens_route.1);
    let cm = r#"{"sources":[{"file":"cm.yaml","text":"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: made-by-pod, namespace: team}\ndata: {a: b}\n"}]}"#;
    let refused = call(&api, "POST", "/api/v1/apply", Some(cm)).unwrap();
    assert_eq!(refused.0, 403, "{}", refused.1);

    // A RoleBinding to `edit`: the pod may now write ConfigMaps (and read Secrets).
    apply(&api, dir.path(), "edit.yaml", EDIT);
    let created = call(&api, "POST", "/api/v1/apply", Some(cm)).unwrap();
    assert_eq!(created.0, 200, "{}", created.1);
    assert!(created.1.contains("configmap/made-by-pod"), "{}", created.1);
    let got = ok(cli(
        &api,
        &["-n", "team", "get", "configmap/made-by-pod", "-o", "json"],
    ));
    assert!(got.contains("made-by-pod"), "{got}");
    let secrets = call(&api, "GET", "/api/v1/objects/secrets?namespace=team", None).unwrap();
    assert_eq!(secrets.0, 200, "{}", secrets.1);
    let other = call(&api, "GET", "/api/v1/objects/pods?namespace=other", None).unwrap();
    assert_eq!(
        other.0, 403,
        "a RoleBinding grants its own namespace only: {}",
        other.1
    );

    // `admin` in team lets it write RoleBindings, but not bind a role
    // granting more than it holds (cluster-admin); `view` it may bind.
    apply(
        &api,
        dir.path(),
        "admin.yaml",
        &EDIT
            .replace("reader-edits", "reader-admins")
            .replace("name: edit", "name: admin"),
    );
    let bind = |role: &str| {
        format!(
            r#"{{"sources":[{{"file":"rb.yaml","text":"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: to-{role}, namespace: team}}\nsubjects: [{{kind: ServiceAccount, name: reader}}]\nroleRef: {{kind: ClusterRole, name: {role}, apiGroup: rbac.authorization.k8s.io}}\n"}}]}}"#
        )
    };
    let escalation = call(&api, "POST", "/api/v1/apply", Some(&bind("cluster-admin"))).unwrap();
    assert_eq!(escalation.0, 403, "{}", escalation.1);
    assert!(
        escalation.1.contains("privilege escalation"),
        "{}",
        escalation.1
    );
    let within = call(&api, "POST", "/api/v1/apply", Some(&bind("view"))).unwrap();
    assert_eq!(within.0, 200, "{}", within.1);

    // `ferry api-resources` prints the runtime's table, the gateway's kinds after it.
    let table = ok(cli(&api, &["api-resources"]));
    let head = table.lines().next().unwrap_or_default();
    assert!(
        head.starts_with("NAME") && head.ends_with("KIND"),
        "{table}"
    );
    for row in ["serviceaccounts", "sa", "v1", "true", "ServiceAccount"] {
        assert!(
            table
                .lines()
                .any(|l| l.split_whitespace().any(|c| c == row)),
            "{row}: {table}"
        );
    }
    let rb = table
        .lines()
        .find(|l| l.starts_with("clusterrolebindings "))
        .unwrap();
    let cells: Vec<&str> = rb.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "clusterrolebindings",
            "rbac.authorization.k8s.io/v1",
            "false",
            "ClusterRoleBinding"
        ]
    );
    assert!(table.contains("Ingress"), "{table}");
    let json: Value =
        serde_json::from_str(&ok(cli(&api, &["api-resources", "-o", "json"]))).unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "Role" && r["namespaced"] == true)
    );
    assert!(ok(cli(&api, &["api-resources", "-o", "wide"])).contains("[create delete"));

    // The pod goes, and its token with it.
    let http = reqwest::blocking::Client::new();
    let list = format!("{api}/api/v1/objects/pods?namespace=team");
    let status = |t: &str| {
        http.get(&list)
            .bearer_auth(t)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status(&token), 200);
    let out = cli(&api, &["-n", "team", "delete", "pod", "client"]);
    assert!(out.status.success(), "{}", text(&out));
    poll("the token is revoked", Duration::from_secs(30), || {
        (status(&token) == 401).then_some(())
    });
    let tokens = std::fs::read_to_string(dir.path().join("local/auth/tokens.json")).unwrap();
    assert!(!tokens.contains("\"reader\""), "{tokens}");

    up.signal(Signal::SIGINT);
    up.wait_timeout(Duration::from_secs(30))
        .expect("ferry stops on SIGINT");
    assert!(!up.stderr().contains(&token), "the token is in ferry's log");
    assert!(
        !up.stdout().contains(&token),
        "the token is in ferry's output"
    );
}
