//! ServiceAccounts in the running runtime: the chart `helm create` makes
//! (a ServiceAccount its Deployment runs as) applies unchanged and runs; a
//! `default` account and the built-in ClusterRoles exist; a pod waits for
//! its account, then gets a token of the region's store mounted with
//! Kubernetes' modes (0600 in a 0700 directory, owned by the user its
//! containers share) that is revoked when the pod goes; an account that
//! turns automounting off gets no token. Tokens expire and are rotated
//! while the pod runs, the file replaced whole and still the pod user's.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use common::*;
use ferry_runtime::kinds::Kind;
use ferry_runtime::{Runtime, RuntimeConfig};
use serde_json::Value;

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn names(rt: &Runtime, kind: Kind, ns: Option<&str>) -> Vec<String> {
    rt.list(kind, ns)
        .iter()
        .filter_map(|o| o.pointer("/metadata/name")?.as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_created_chart_with_its_service_account_applies_and_runs() {
    let env = env().await;
    let chart = include_str!("fixtures/helm_create_web.yaml");
    let out = env.rt.apply(&[("shop.yaml".into(), chart.into())]).unwrap();
    let done: Vec<String> = out
        .iter()
        .map(|o| format!("{} {}", o.object, o.action))
        .collect();
    assert_eq!(
        done,
        [
            "serviceaccount/shop-web created",
            "service/shop-web created",
            "deployment.apps/shop-web created"
        ]
    );
    let pod = wait("the chart's pod ready", Duration::from_secs(60), || {
        env.rt
            .list(Kind::Pod, Some("default"))
            .into_iter()
            .find(ready)
    })
    .await;
    assert_eq!(
        pod.pointer("/spec/serviceAccountName"),
        Some(&Value::from("shop-web"))
    );
    assert!(names(&env.rt, Kind::ServiceAccount, Some("default")).contains(&"default".into()));
    let roles = names(&env.rt, Kind::ClusterRole, None);
    for r in ["view", "edit", "admin", "cluster-admin"] {
        assert!(roles.contains(&r.to_string()), "{r} in {roles:?}");
    }
    env.rt.shutdown().await;
}

/// A runtime whose pods get tokens from a token store in its directory.
async fn env_with_tokens() -> (Env, std::sync::Arc<ferry_auth::Auth>) {
    env_with_token_ttl(None).await
}

/// The same, with pod tokens living `ttl` (default: an hour).
async fn env_with_token_ttl(ttl: Option<Duration>) -> (Env, std::sync::Arc<ferry_auth::Auth>) {
    let dir = tempfile::Builder::new()
        .prefix("ferry-rt-")
        .tempdir()
        .unwrap();
    let auth = ferry_auth::Auth::open(dir.path()).unwrap();
    let mut cfg = RuntimeConfig::new(dir.path().join("runtime"));
    cfg.auth = Some(auth.clone());
    if let Some(ttl) = ttl {
        cfg.pod_token_ttl = ttl;
    }
    build_images(&cfg.data_dir.join("images"));
    let rt = Runtime::start(cfg).await.unwrap();
    (Env { rt, dir }, auth)
}

const LATE_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: app}\nspec:\n  serviceAccountName: late\n  securityContext: {runAsUser: 1000, runAsGroup: 1000}\n  terminationGracePeriodSeconds: 1\n  containers: [{name: app, image: 'tools:1'}]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_waits_for_its_account_then_holds_a_private_token_until_it_goes() {
    let (env, auth) = env_with_tokens().await;
    apply(&env.rt, LATE_POD);
    let waiting = wait(
        "the pod waits for its account",
        Duration::from_secs(30),
        || {
            let p = env.rt.get(Kind::Pod, "default", "app").ok()?;
            let w = p
                .pointer("/status/containerStatuses/0/state/waiting/message")?
                .as_str()?
                .to_string();
            w.contains("serviceaccount `late` not found").then_some(w)
        },
    )
    .await;
    assert!(waiting.contains("namespace `default`"), "{waiting}");
    apply(
        &env.rt,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: late}\n",
    );
    let pod = wait("the pod runs", Duration::from_secs(30), || {
        let p = env.rt.get(Kind::Pod, "default", "app").ok()?;
        p.pointer("/status/containerStatuses/0/state/running")
            .is_some()
            .then_some(p)
    })
    .await;
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();

    // Host side: 0700 directory and 0600 files owned by the pods' user.
    let host = env
        .dir
        .path()
        .join("runtime/pods")
        .join(&uid)
        .join("serviceaccount");
    let meta = std::fs::metadata(&host).unwrap();
    assert_eq!(
        (meta.permissions().mode() & 0o777, meta.uid()),
        (0o700, 1000)
    );
    let token_meta = std::fs::metadata(host.join("token")).unwrap();
    assert_eq!(
        (token_meta.permissions().mode() & 0o777, token_meta.uid()),
        (0o600, 1000)
    );
    let token = std::fs::read_to_string(host.join("token")).unwrap();

    // Inside, the same token, readable by that user; it authenticates as the account.
    let cat = vec![
        "sh".into(),
        "-c".into(),
        format!("id -u; cat {SA_DIR}/token"),
    ];
    let out = env.rt.exec("default", "app", None, &cat).await.unwrap();
    assert_eq!(out.stdout, format!("1000\n{token}"), "{out:?}");
    let who = auth.store().verify(&token, ferry_auth::now()).unwrap();
    let sa = who.service_account.unwrap();
    assert_eq!(
        (sa.namespace.as_str(), sa.name.as_str()),
        ("default", "late")
    );

    // The pod goes, its token with it.
    env.rt.delete(Kind::Pod, "default", "app").unwrap();
    wait("the token is revoked", Duration::from_secs(30), || {
        auth.store()
            .verify(&token, ferry_auth::now())
            .is_none()
            .then_some(())
    })
    .await;
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_turns_automounting_off_gets_no_token_unless_the_pod_asks() {
    let (env, auth) = env_with_tokens().await;
    apply(
        &env.rt,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: quiet}\nautomountServiceAccountToken: false\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: off}\nspec:\n  serviceAccountName: quiet\n  terminationGracePeriodSeconds: 1\n  containers: [{name: c, image: 'tools:1'}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: on}\nspec:\n  serviceAccountName: quiet\n  automountServiceAccountToken: true\n  terminationGracePeriodSeconds: 1\n  containers: [{name: c, image: 'tools:1'}]\n",
    );
    for name in ["off", "on"] {
        wait(name, Duration::from_secs(30), || {
            let p = env.rt.get(Kind::Pod, "default", name).ok()?;
            p.pointer("/status/containerStatuses/0/state/running")
                .map(|_| ())
        })
        .await;
    }
    let ls = vec!["ls".into(), SA_DIR.into()];
    let off = env.rt.exec("default", "off", None, &ls).await.unwrap();
    assert!(off.stdout.is_empty(), "{off:?}");
    let on = env.rt.exec("default", "on", None, &ls).await.unwrap();
    assert_eq!(on.stdout, "ca.crt\nnamespace\ntoken\n", "{on:?}");
    let mode = vec![
        "stat".into(),
        "-c".into(),
        "%a".into(),
        format!("{SA_DIR}/token"),
    ];
    let stat = env.rt.exec("default", "on", None, &mode).await.unwrap();
    assert_eq!(
        stat.stdout.trim(),
        "644",
        "no shared runAsUser: readable to any"
    );
    assert_eq!(auth.store().pod_token_uids().len(), 1);
    env.rt.shutdown().await;
}

/// Pod `app`'s token read inside, as the pod's user (it must stay readable
/// to that user across rotations).
async fn token_inside(rt: &Runtime) -> String {
    let cat = vec!["cat".into(), format!("{SA_DIR}/token")];
    let out = rt.exec("default", "app", None, &cat).await.unwrap();
    assert_eq!(out.exit_code, 0, "{out:?}");
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_pods_token_is_rotated_before_it_expires() {
    let (env, auth) = env_with_token_ttl(Some(Duration::from_secs(5))).await;
    apply(
        &env.rt,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: app}\nspec:\n  securityContext: {runAsUser: 1000}\n  terminationGracePeriodSeconds: 1\n  containers: [{name: app, image: 'tools:1'}]\n",
    );
    wait("the pod runs", Duration::from_secs(30), || {
        let p = env.rt.get(Kind::Pod, "default", "app").ok()?;
        p.pointer("/status/containerStatuses/0/state/running")
            .map(|_| ())
    })
    .await;
    let first = token_inside(&env.rt).await;
    let expires = auth.store().verify(&first, ferry_auth::now()).unwrap();
    assert!(expires.service_account.is_some());
    let mut second = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        second = token_inside(&env.rt).await;
        if second != first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(second, first, "the token was not rotated within 20 s");
    let now = ferry_auth::now();
    assert!(
        auth.store().verify(&second, now).is_some(),
        "the new token works"
    );
    // The old one lapses at its expiry, the new one outlives it.
    wait("the old token expires", Duration::from_secs(10), || {
        auth.store()
            .verify(&first, ferry_auth::now())
            .is_none()
            .then_some(())
    })
    .await;
    assert!(auth.store().verify(&second, ferry_auth::now()).is_some());
    let pod = env.rt.get(Kind::Pod, "default", "app").unwrap();
    assert_eq!(
        pod.pointer("/status/containerStatuses/0/restartCount"),
        Some(&Value::from(0)),
        "the pod ran on undisturbed"
    );
    env.rt.shutdown().await;
}
