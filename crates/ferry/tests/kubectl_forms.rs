//! kubectl's command forms through the real binary against a real `ferry
//! up`, as tutorials type them: `apply -f FILE -n NS` and `-n NS apply`,
//! `get TYPE/NAME`, `get -l SELECTOR`, `get -w`, `scale --replicas` (deploy and sts),
//! `logs deploy/NAME`, `logs job/NAME`, `port-forward`. The last three
//! run real pods (runc, root) with busybox images built by ferry itself.

mod common;

use std::time::Duration;

use common::{cli, client_config, ferry, ok, text, up};
use ferry_test_support::{Proc, poll, temp_dir, topology_yaml};

fn write(dir: &std::path::Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn apply_namespace_flag_before_or_after_the_verb() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["uk"], dir.path())).unwrap();
    let (_up, api) = up(&topo, dir.path());
    let ns = write(
        dir.path(),
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n",
    );
    ok(cli(&api, &["apply", "-f", &ns]));
    let plain = write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {a: b}\n",
    );
    let out = ok(cli(&api, &["apply", "-f", &plain, "-n", "team"]));
    assert_eq!(out.trim(), "configmap/one created");
    let second = write(
        dir.path(),
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n",
    );
    ok(cli(&api, &["-n", "team", "apply", "-f", &second]));
    let listed = ok(cli(&api, &["get", "cm", "-n", "team"]));
    assert!(listed.contains("one") && listed.contains("two"), "{listed}");
    let default = cli(&api, &["get", "cm", "one"]);
    assert!(!default.status.success(), "`one` went to team, not default");

    let other = write(
        dir.path(),
        "other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: three, namespace: default}\n",
    );
    let refused = cli(&api, &["apply", "-f", &other, "-n", "team"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains(
            "the namespace from the provided object \"default\" does not match the namespace \"team\""
        ),
        "{}",
        text(&refused)
    );
    assert!(!cli(&api, &["get", "cm", "three"]).status.success());
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {app: web}}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: 127.0.0.1:1/none:v1}]\n";

const LABELLED: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: front, labels: {app: x, tier: web, env: a}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: db, labels: {app: x, tier: db, env: b}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, labels: {app: y, env: c}}\n";

/// The NAME column of a table.
fn names(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn get_type_slash_name_selectors_and_scale() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["uk"], dir.path())).unwrap();
    let (_up, api) = up(&topo, dir.path());
    let m = write(dir.path(), "m.yaml", &format!("{DEPLOY}---\n{LABELLED}"));
    ok(cli(&api, &["apply", "-f", &m]));

    let one = ok(cli(&api, &["get", "deploy/web"]));
    assert!(one.starts_with("NAME "), "{one}");
    assert_eq!(names(&one), ["web"], "{one}");
    let both = ok(cli(&api, &["get", "deploy/web", "cm/db", "-o", "json"]));
    assert!(
        both.contains("\"Deployment\"") && both.contains("\"db\""),
        "{both}"
    );
    let missing = cli(&api, &["get", "deploy/nope"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    let bad_type = cli(&api, &["get", "widgets/a"]);
    assert!(
        text(&bad_type).contains("doesn't have a resource type \"widgets\""),
        "{}",
        text(&bad_type)
    );

    let cases: [(&str, &[&str]); 5] = [
        ("app=x", &["db", "front"]),
        ("app=x,tier!=db", &["front"]),
        ("env in (a,c)", &["front", "other"]),
        ("env notin (a,c),app", &["db"]),
        ("!tier", &["other"]),
    ];
    for (sel, want) in cases {
        let got = names(&ok(cli(&api, &["get", "cm", "-l", sel])));
        let got: Vec<&str> = got
            .iter()
            .map(String::as_str)
            .filter(|n| *n != "kube-root-ca.crt")
            .collect();
        assert_eq!(got, want, "-l {sel}");
    }
    // The filtering happens on the server, on the list route Kubernetes' way.
    let config = std::fs::read_to_string(client_config(dir.path())).unwrap();
    let token = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap();
    let listed: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!(
            "{api}/api/v1/objects/configmaps?namespace=default&labelSelector=tier%21%3Ddb%2Capp%3Dx"
        ))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["metadata"]["name"], "front");
    let none = cli(&api, &["get", "cm", "-l", "app=zzz"]);
    assert!(
        text(&none).contains("No resources found"),
        "{}",
        text(&none)
    );
    let bad = cli(&api, &["get", "cm", "-l", "env in a"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));

    let scaled = ok(cli(&api, &["scale", "deploy/web", "--replicas", "3"]));
    assert_eq!(scaled.trim(), "deployment.apps/web scaled");
    let d: serde_json::Value =
        serde_json::from_str(&ok(cli(&api, &["get", "deploy/web", "-o", "json"]))).unwrap();
    assert_eq!(d["spec"]["replicas"], 3, "{d}");
    ok(cli(&api, &["scale", "deployment", "web", "--replicas=0"]));
    let d: serde_json::Value =
        serde_json::from_str(&ok(cli(&api, &["get", "deploy", "web", "-o", "json"]))).unwrap();
    assert_eq!(d["spec"]["replicas"], 0, "{d}");
    let wrong = cli(&api, &["scale", "svc/web", "--replicas", "2"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));

    let sts = write(dir.path(), "sts.yaml", STS);
    ok(cli(&api, &["apply", "-f", &sts]));
    let scaled = ok(cli(&api, &["scale", "sts/db", "--replicas", "2"]));
    assert_eq!(scaled.trim(), "statefulset.apps/db scaled");
    let table = ok(cli(&api, &["get", "statefulsets"]));
    assert!(
        table.starts_with("NAME ") && table.contains(" READY "),
        "{table}"
    );
    assert_eq!(names(&table), ["db"], "{table}");
    let s: serde_json::Value =
        serde_json::from_str(&ok(cli(&api, &["get", "sts/db", "-o", "json"]))).unwrap();
    assert_eq!(s["spec"]["replicas"], 2, "{s}");
}

const STS: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      containers: [{name: db, image: 127.0.0.1:1/none:v1}]\n";

#[test]
fn get_watch_prints_the_table_then_each_change() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["uk"], dir.path())).unwrap();
    let (_up, api) = up(&topo, dir.path());
    let cm = |name: &str, data: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, labels: {{w: x}}}}\ndata: {{{data}}}\n"
        )
    };
    let first = write(dir.path(), "a.yaml", &cm("first", ""));
    ok(cli(&api, &["apply", "-f", &first]));

    let mut cmd = ferry();
    cmd.args(["get", "cm", "-w", "-l", "w=x"])
        .env("FERRY_SERVER", &api)
        .env("FERRY_CONFIG", client_config(dir.path()));
    let watch = Proc::spawn("get-watch", cmd, dir.path());
    let table = poll("the first table", Duration::from_secs(10), || {
        let out = watch.stdout();
        out.contains("first").then_some(out)
    });
    assert!(table.starts_with("NAME "), "{table}");
    assert_eq!(names(&table), ["first"], "{table}");

    let second = write(dir.path(), "b.yaml", &cm("second", "k: v"));
    ok(cli(&api, &["apply", "-f", &second]));
    let out = poll("the new object's row", Duration::from_secs(10), || {
        let out = watch.stdout();
        out.contains("second").then_some(out)
    });
    let changed = write(dir.path(), "c.yaml", &cm("first", "k: v, l: w"));
    ok(cli(&api, &["apply", "-f", &changed]));
    let out2 = poll("the changed object's row", Duration::from_secs(10), || {
        let out = watch.stdout();
        (names(&out).len() >= 3).then_some(out)
    });
    assert_eq!(names(&out2), ["first", "second", "first"], "{out2}");
    let last = out2.lines().last().unwrap();
    assert_eq!(
        last.split_whitespace().nth(1),
        Some("2"),
        "DATA is 2 now: {out2}"
    );
    assert_eq!(out2.matches("NAME").count(), 1, "one header: {out}");
    assert!(watch.stderr().is_empty(), "{}", watch.stderr());
}

/// Runs real pods (runc, root): a Deployment of two busybox pods that say
/// hello with their hostname.
#[test]
fn logs_of_a_deployment_picks_one_of_its_pods() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["local"], dir.path())).unwrap();
    let store = ferry_image::Store::open(dir.path().join("local/runtime/images/store")).unwrap();
    ferry_image::build::busybox::busybox_image()
        .unwrap()
        .build(&store, Some("hello:v1"))
        .unwrap();
    let m = write(
        dir.path(),
        "hello.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: hello}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: hello}}\n  template:\n    metadata: {labels: {app: hello}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: hello\n        image: hello:v1\n        imagePullPolicy: Never\n        command: [sh, -c, 'echo hello from $(hostname); exec sleep 3600']\n---\napiVersion: v1\nkind: Service\nmetadata: {name: hello}\nspec:\n  selector: {app: hello}\n  ports: [{port: 80}]\n",
    );
    let (_up, api) = up(&topo, dir.path());
    ok(cli(&api, &["apply", "-f", &m]));
    poll("two ready pods", Duration::from_secs(60), || {
        let out = cli(&api, &["get", "deploy/hello"]);
        String::from_utf8_lossy(&out.stdout)
            .contains(" 2/2 ")
            .then_some(())
    });
    let pods = names(&ok(cli(&api, &["get", "pods", "-l", "app=hello"])));
    assert_eq!(pods.len(), 2, "{pods:?}");

    for target in ["deploy/hello", "deployment.apps/hello", "svc/hello"] {
        let out = cli(&api, &["logs", target]);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        assert!(out.status.success(), "{stdout}{stderr}");
        let chosen = stderr
            .trim()
            .strip_prefix("Found 2 pods, using pod/")
            .unwrap_or_else(|| panic!("logs {target}: {stderr}"));
        assert!(pods.iter().any(|p| p == chosen), "{chosen} in {pods:?}");
        assert!(stdout.starts_with("hello from "), "{stdout}");
        let by_pod = ok(cli(&api, &["logs", &format!("pod/{chosen}")]));
        assert_eq!(by_pod, stdout, "the same pod's log");
    }
    let none = cli(&api, &["logs", "cm/hello"]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
}

/// Runs a real pod (runc, root): `logs job/NAME` reads the Job's pod, also
/// after it finished; `get jobs` shows it Complete.
#[test]
fn logs_of_a_job_read_its_pod() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["local"], dir.path())).unwrap();
    let store = ferry_image::Store::open(dir.path().join("local/runtime/images/store")).unwrap();
    ferry_image::build::busybox::busybox_image()
        .unwrap()
        .build(&store, Some("hello:v1"))
        .unwrap();
    let m = write(
        dir.path(),
        "job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: hello:v1\n        imagePullPolicy: Never\n        command: [sh, -c, 'echo migrated 3 tables']\n",
    );
    let (_up, api) = up(&topo, dir.path());
    ok(cli(&api, &["apply", "-f", &m]));
    let row = poll("the Job complete", Duration::from_secs(60), || {
        let out = ok(cli(&api, &["get", "jobs"]));
        out.lines()
            .find(|l| l.starts_with("migrate ") && l.contains("Complete"))
            .map(str::to_string)
    });
    assert_eq!(row.split_whitespace().nth(2), Some("1/1"), "{row}");
    for target in ["job/migrate", "jobs.batch/migrate"] {
        assert_eq!(ok(cli(&api, &["logs", target])), "migrated 3 tables\n");
    }
}

/// The local port a `port-forward` printed it listens on.
fn forwarded_port(out: &str) -> Option<u16> {
    let line = out.lines().find(|l| l.starts_with("Forwarding from "))?;
    let addr = line.split_whitespace().nth(2)?;
    addr.rsplit_once(':')?.1.parse().ok()
}

/// Runs real pods (runc, root): busybox httpd behind a Deployment and a
/// Service, reached through `port-forward` to the pod, the Deployment and
/// the Service (whose port 80 maps to the pod's 8080).
#[test]
fn port_forward_reaches_a_pods_port() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["local"], dir.path())).unwrap();
    let store = ferry_image::Store::open(dir.path().join("local/runtime/images/store")).unwrap();
    ferry_image::build::busybox::httpd_image("v7", 8080)
        .unwrap()
        .build(&store, Some("web:v7"))
        .unwrap();
    let m = write(
        dir.path(),
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: web:v7\n        imagePullPolicy: Never\n        ports: [{containerPort: 8080, name: http}]\n        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n",
    );
    let (_up, api) = up(&topo, dir.path());
    ok(cli(&api, &["apply", "-f", &m]));
    poll("a ready pod", Duration::from_secs(60), || {
        let out = cli(&api, &["get", "deploy/web"]);
        String::from_utf8_lossy(&out.stdout)
            .contains(" 1/1 ")
            .then_some(())
    });
    let pod = names(&ok(cli(&api, &["get", "pods", "-l", "app=web"])))
        .pop()
        .unwrap();

    let fixed = ferry_test_support::free_port();
    let pod_target = format!("pod/{pod}");
    let forwards: [(&str, String); 3] = [
        (pod_target.as_str(), format!("{fixed}:8080")),
        ("deploy/web", ":8080".into()),
        ("svc/web", ":80".into()),
    ];
    for (i, (target, ports)) in forwards.iter().enumerate() {
        let mut cmd = ferry();
        cmd.args(["port-forward", target, ports])
            .env("FERRY_SERVER", &api)
            .env("FERRY_CONFIG", client_config(dir.path()));
        let pf = Proc::spawn(&format!("port-forward-{i}"), cmd, dir.path());
        let local = poll("port-forward listens", Duration::from_secs(10), || {
            forwarded_port(&pf.stdout())
        });
        if i == 0 {
            assert_eq!(local, fixed);
        }
        assert!(pf.stdout().contains(" -> 8080"), "{}", pf.stdout());
        for _ in 0..3 {
            let body = reqwest::blocking::get(format!("http://127.0.0.1:{local}/version"))
                .and_then(|r| r.text())
                .unwrap_or_else(|e| panic!("{target}: {e}; {}", pf.stderr()));
            assert_eq!(body, "v7\n", "{target}");
        }
        assert!(
            pf.stdout()
                .contains(&format!("Handling connection for {local}"))
        );
    }

    // A port nothing listens on: the refusal shows per connection.
    let mut cmd = ferry();
    cmd.args(["port-forward", &pod_target, ":9"])
        .env("FERRY_SERVER", &api)
        .env("FERRY_CONFIG", client_config(dir.path()));
    let pf = Proc::spawn("port-forward-closed", cmd, dir.path());
    let local = poll("port-forward listens", Duration::from_secs(10), || {
        forwarded_port(&pf.stdout())
    });
    let _ = reqwest::blocking::get(format!("http://127.0.0.1:{local}/"));
    let err = poll("the refusal", Duration::from_secs(10), || {
        let e = pf.stderr();
        e.contains("error forwarding port").then_some(e)
    });
    assert!(err.contains("cannot connect to port 9"), "{err}");
}
