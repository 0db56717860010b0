//! Issue 19, item 6, on a real node (kubelet + containerd + runc in the
//! test's network namespace): `ferry up` with a region whose registry
//! requires accounts delivers an app to the node's cluster; ferry mints the
//! app's pull-only robot, applies the `ferry-pull-web` dockerconfigjson
//! Secret into the app's ApplySet and names it in the Deployment's
//! `imagePullSecrets` beside the user's own entry, and the pod runs with
//! its image pulled through that robot (served inside the namespace). The
//! same image without the Secret, and another repository with it, fail to
//! pull; the robot's credentials may pull the app's repository but push
//! nowhere; its secret shows in no log, app status, diff or history; and a
//! restart of `ferry up` keeps the same secret (no rollout).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{cli, ferry, text, up};
use ferry_test_support::kube_node::KubeNode;
use ferry_test_support::{free_addr, git, git_commit, poll, temp_dir};
use serde_json::Value;

/// The app's pod, by its label.
const WEB_POD: &[&str] = &["pod", "-l", "app=web"];

const PUSHER_SECRET: &str = "pusher-s3cret";

/// An argon2 hash of `secret`, as `ferry registry hash-secret` prints it.
fn hash_secret(secret: &str) -> String {
    let mut child = ferry()
        .args(["registry", "hash-secret"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `ferry image ARGS` with a store in `dir` and the given login.
fn image(dir: &Path, login: (&str, &str), args: &[&str]) -> Output {
    ferry()
        .arg("image")
        .args(args)
        .env("FERRY_IMAGE_STORE", dir.join("images"))
        .env("FERRY_REGISTRY_USERNAME", login.0)
        .env("FERRY_REGISTRY_PASSWORD", login.1)
        .output()
        .unwrap()
}

/// Builds a busybox httpd image answering `version` and pushes it.
fn push_httpd(dir: &Path, reference: &str, version: &str) {
    let out = image(
        dir,
        ("pusher", PUSHER_SECRET),
        &["build", "-t", reference, "--httpd", version, "--push"],
    );
    assert!(out.status.success(), "push {reference}: {}", text(&out));
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  \
    selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      \
    imagePullSecrets: [{name: users-own}]\n      containers:\n      - {name: web, image: 'REG/pulltest/web:v1', ports: [{containerPort: 8080}]}\n";

fn topology(dir: &Path, node: &KubeNode, registry: std::net::SocketAddr) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let manifest = DEPLOYMENT.replace("REG", &registry.to_string());
    git_commit(&repo, &[("k8s/web.yaml", manifest.as_str())], "web");
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  dataDir: {data}\n  \
         listeners: {{api: {api}, registry: {registry}, gateway: {gw}}}\n  registry:\n    users:\n    \
         - name: pusher\n      secretHash: '{hash}'\n      permissions: [{{repositories: 'pulltest/**', actions: [pull, push]}}]\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\n\
         spec: {{region: uk, target: {{kubernetes: {{kubeconfig: '{kubeconfig}', context: ferry-test}}}}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  \
         source: {{repoUrl: '{repo}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  \
         syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n",
        data = dir.join("uk").display(),
        api = free_addr(),
        gw = free_addr(),
        hash = hash_secret(PUSHER_SECRET),
        kubeconfig = node.cluster().kubeconfig().display(),
        repo = repo.display(),
    );
    let topo = dir.join("topology.yaml");
    std::fs::write(&topo, text).unwrap();
    topo
}

/// `kubectl -n dev get WHAT -o jsonpath=PATH`, when it succeeds.
fn get(node: &KubeNode, what: &[&str], path: &str) -> Option<String> {
    let jsonpath = format!("jsonpath={path}");
    let args: Vec<&str> = ["-n", "dev", "get"]
        .into_iter()
        .chain(what.iter().copied())
        .chain(["-o", jsonpath.as_str()])
        .collect();
    let out = node.cluster().kubectl(&args);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The login in the pull Secret on the cluster.
fn secret_login(node: &KubeNode, registry: &str) -> (String, String) {
    let template = r#"go-template={{index .data ".dockerconfigjson" | base64decode}}"#;
    let out = node.cluster().kubectl(&[
        "-n",
        "dev",
        "get",
        "secret",
        "ferry-pull-web",
        "-o",
        template,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = &config["auths"][registry];
    (
        entry["username"].as_str().unwrap().to_string(),
        entry["password"].as_str().unwrap().to_string(),
    )
}

/// Waits until pod `name`'s container waits with a pull error.
fn pull_fails(node: &KubeNode, name: &str) -> String {
    poll(
        &format!("pod {name} failing to pull"),
        Duration::from_secs(90),
        || {
            let reason = get(
                node,
                &[&format!("pod/{name}")],
                "{.status.containerStatuses[0].state.waiting.reason}",
            )?;
            matches!(reason.as_str(), "ErrImagePull" | "ImagePullBackOff").then_some(reason)
        },
    )
}

#[test]
fn pods_pull_through_the_apps_robot_and_nothing_else_does() {
    let dir = temp_dir();
    let registry = free_addr();
    let reg = registry.to_string();
    let started = Instant::now();
    let node = KubeNode::start(&[registry]);
    eprintln!("node ready in {:?}", started.elapsed());
    let topo = topology(dir.path(), &node, registry);
    let (ferry_up, api) = up(&topo, dir.path());
    push_httpd(dir.path(), &format!("{reg}/pulltest/web:v1"), "v1");
    push_httpd(dir.path(), &format!("{reg}/pulltest/other:v1"), "other");

    // The app's pod runs, its image pulled from the region's registry.
    let pushed = Instant::now();
    let ip = poll(
        "web's pod Running with an IP",
        Duration::from_secs(180),
        || {
            let phase = get(&node, WEB_POD, "{.items[0].status.phase}")?;
            let ip = get(&node, WEB_POD, "{.items[0].status.podIP}")?;
            (phase == "Running" && !ip.is_empty()).then_some(ip)
        },
    );
    eprintln!("pod Running {:?} after the push", pushed.elapsed());
    let body = poll(
        "web answering inside the namespace",
        Duration::from_secs(30),
        || {
            let out = node.exec(&["curl", "-sf", &format!("http://{ip}:8080/")]);
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        },
    );
    assert_eq!(body.trim(), "v1");

    // The Secret: dockerconfigjson, in the app's ApplySet, named by the
    // pod template after the user's own entry.
    let kind = get(&node, &["secret/ferry-pull-web"], "{.type}").unwrap();
    assert_eq!(kind, "kubernetes.io/dockerconfigjson");
    let part_of = get(
        &node,
        &["secret/ferry-pull-web"],
        "{.metadata.labels.applyset\\.kubernetes\\.io/part-of}",
    )
    .unwrap();
    let parent = get(
        &node,
        &["secret/ferry.web.dev"],
        "{.metadata.labels.applyset\\.kubernetes\\.io/id}",
    )
    .unwrap();
    assert_eq!(
        part_of, parent,
        "the pull Secret is a member of the app's ApplySet"
    );
    let names = get(
        &node,
        &["deploy/web"],
        "{.spec.template.spec.imagePullSecrets[*].name}",
    )
    .unwrap();
    assert_eq!(names, "users-own ferry-pull-web");
    let (user, secret) = secret_login(&node, &reg);
    assert_eq!(user, "robot$ferry-pull.web.dev");

    // Without the Secret the same image does not pull; with it, another
    // repository does not either (the robot's scope is the app's images).
    let pod = |name: &str, image: &str, secrets: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: dev}}\nspec:\n  {secrets}\n  \
             containers: [{{name: c, image: '{reg}/{image}', imagePullPolicy: Always}}]\n"
        )
    };
    node.cluster()
        .apply_text(&pod("no-secret", "pulltest/web:v1", "imagePullSecrets: []"));
    node.cluster().apply_text(&pod(
        "out-of-scope",
        "pulltest/other:v1",
        "imagePullSecrets: [{name: ferry-pull-web}]",
    ));
    pull_fails(&node, "no-secret");
    pull_fails(&node, "out-of-scope");

    // The robot pulls the app's repository, not another, and pushes nowhere.
    let robot = (user.as_str(), secret.as_str());
    let pulled = image(
        dir.path(),
        robot,
        &["pull", &format!("{reg}/pulltest/web:v1")],
    );
    assert!(pulled.status.success(), "{}", text(&pulled));
    let other = image(
        dir.path(),
        robot,
        &["pull", &format!("{reg}/pulltest/other:v1")],
    );
    assert!(!other.status.success(), "pulled outside its scope");
    for target in ["pulltest/web:v2", "pulltest/new:v1"] {
        let push = image(
            dir.path(),
            robot,
            &[
                "push",
                &format!("{reg}/pulltest/web:v1"),
                &format!("{reg}/{target}"),
            ],
        );
        assert!(!push.status.success(), "the pull robot pushed {target}");
    }

    // Stored 0600; never in logs, app status, diff or history.
    let robots = dir.path().join("uk/registry/robots.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&robots).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    for args in [
        &["app", "get", "web", "-o", "json"][..],
        &["app", "diff", "web"],
        &["app", "history", "web"],
    ] {
        let out = cli(&api, args);
        assert!(
            !text(&out).contains(&secret),
            "`ferry {}` shows the robot's secret",
            args.join(" ")
        );
    }
    let pod_name = get(&node, WEB_POD, "{.items[0].metadata.name}").unwrap();
    let logs = |p: &ferry_test_support::Proc| format!("{}{}", p.stdout(), p.stderr());
    assert!(
        !logs(&ferry_up).contains(&secret),
        "the robot's secret is in ferry up's log"
    );

    // A restart keeps the robot: same secret, no rollout.
    drop(ferry_up);
    let (ferry_up, api) = up(&topo, dir.path());
    let resynced = Instant::now();
    poll("a pass after the restart", Duration::from_secs(60), || {
        let out = cli(&api, &["app", "get", "web", "-o", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["environments"][0]["sync"] == "Synced").then_some(())
    });
    eprintln!("Synced again {:?} after the restart", resynced.elapsed());
    assert_eq!(
        secret_login(&node, &reg).1,
        secret,
        "the secret survived the restart"
    );
    assert_eq!(
        get(&node, WEB_POD, "{.items[0].metadata.name}").unwrap(),
        pod_name
    );
    assert!(
        !logs(&ferry_up).contains(&secret),
        "the robot's secret is in ferry up's log"
    );
}
