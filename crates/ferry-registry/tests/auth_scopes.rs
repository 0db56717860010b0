//! Token scopes hold (issue 17, item 7): every account kind asks for
//! `repository:X:*` and its token passes exactly the actions the account
//! holds; `_catalog` needs a named account; failed logins are rate-limited
//! per client; an open registry refuses a non-loopback listener. A minted
//! pull robot (issue 19, item 6) pulls its own repositories and nothing
//! else, and pushes nowhere.

mod common;

use std::collections::BTreeSet;

use base64::Engine;
use common::*;
use ferry_core::events::EventBus;
use ferry_core::registry_spec::{
    RegistryAccount, RegistryAction, RegistryPermission, RegistrySpec,
};
use ferry_registry::{Config, Registry};
use tokio_util::sync::CancellationToken;

use RegistryAction::{Delete, Pull, Push};

fn account(name: &str, secret: &str, actions: &[RegistryAction]) -> RegistryAccount {
    RegistryAccount {
        name: name.into(),
        secret_hash: ferry_registry::auth::hash_secret(secret),
        permissions: vec![RegistryPermission {
            repositories: "team/**".into(),
            actions: actions.to_vec(),
        }],
    }
}

fn spec(anonymous_pull: bool) -> RegistrySpec {
    RegistrySpec {
        anonymous_pull,
        users: vec![
            account("reader", "reader-pw", &[Pull]),
            account("admin", "admin-pw", &[Pull, Push, Delete]),
        ],
        robots: vec![account("ci", "ci-pw", &[Pull, Push])],
        ..Default::default()
    }
}

/// A token for `scope`, with `creds` or anonymously.
async fn token(url: &str, creds: Option<(&str, &str)>, scope: &str) -> String {
    let mut req = client().get(format!("{url}/token?service=ferry-registry&scope={scope}"));
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "token for {creds:?}");
    let v: serde_json::Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// The actions a token lists for `repo` (its claims, read without the key).
fn listed(token: &str, repo: &str) -> BTreeSet<String> {
    let payload = token.split('.').next().unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["name"] == repo)
        .flat_map(|g| g["actions"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// Which of pull, push and delete on `team/app` the token passes: an
/// authorised request reaches the handler (404 or 202), a refused one is 401.
async fn passes(url: &str, token: &str) -> BTreeSet<&'static str> {
    let c = client();
    let digest = sha256(b"nothing");
    let attempts = [
        ("pull", c.get(format!("{url}/v2/team/app/manifests/v1"))),
        ("push", c.post(format!("{url}/v2/team/app/blobs/uploads/"))),
        (
            "delete",
            c.delete(format!("{url}/v2/team/app/manifests/{digest}")),
        ),
    ];
    let mut out = BTreeSet::new();
    for (action, req) in attempts {
        let status = req.bearer_auth(token).send().await.unwrap().status();
        match status.as_u16() {
            401 => {}
            202 | 404 => {
                out.insert(action);
            }
            other => panic!("{action}: unexpected status {other}"),
        }
    }
    out
}

fn set(actions: &[&'static str]) -> BTreeSet<&'static str> {
    actions.iter().copied().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn star_scope_grants_exactly_each_accounts_actions() {
    let scope = "repository:team/app:*";
    // Anonymous, with anonymousPull on: pull only.
    let open = start_with(spec(true)).await;
    let anon = token(&open.url, None, scope).await;
    assert_eq!(listed(&anon, "team/app"), ["pull".to_string()].into());
    assert_eq!(passes(&open.url, &anon).await, set(&["pull"]), "anonymous");

    // Named accounts, with anonymous pull off so pull is the token's alone.
    let reg = start_with(spec(false)).await;
    let cases: [(&str, &str, &[&'static str]); 3] = [
        ("reader", "reader-pw", &["pull"]),
        ("robot$ci", "ci-pw", &["pull", "push"]),
        ("admin", "admin-pw", &["delete", "pull", "push"]),
    ];
    for (user, pw, expected) in cases {
        let t = token(&reg.url, Some((user, pw)), scope).await;
        let names: BTreeSet<String> = expected.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            listed(&t, "team/app"),
            names,
            "{user}: the token lists explicit actions"
        );
        assert_eq!(passes(&reg.url, &t).await, set(expected), "{user}");
    }
    // Outside the account's repositories `*` grants nothing.
    let t = token(
        &reg.url,
        Some(("admin", "admin-pw")),
        "repository:other/app:*",
    )
    .await;
    assert!(listed(&t, "other/app").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_minted_pull_robot_pulls_its_repositories_only_and_never_pushes() {
    let reg = start_with(spec(false)).await;
    let repos: BTreeSet<String> = ["team/app".to_string()].into();
    let robot = reg
        .registry
        .pull_robot("web", "dev", &repos)
        .unwrap()
        .expect("a registry with accounts needs a pull robot");
    assert_eq!(robot.login, "robot$ferry-pull.web.dev");
    let creds = Some((robot.login.as_str(), robot.secret.as_str()));
    let t = token(&reg.url, creds, "repository:team/app:pull,push,delete").await;
    assert_eq!(listed(&t, "team/app"), ["pull".to_string()].into());
    assert_eq!(passes(&reg.url, &t).await, set(&["pull"]), "pull only");
    let other = token(&reg.url, creds, "repository:team/other:*").await;
    assert!(
        listed(&other, "team/other").is_empty(),
        "not its repository"
    );
    let c = client();
    let catalog = c.get(format!("{}/v2/_catalog", reg.url)).bearer_auth(&t);
    assert_eq!(catalog.send().await.unwrap().status(), 401);
    let wrong = c
        .get(format!("{}/token?service=ferry-registry", reg.url))
        .basic_auth(&robot.login, Some("guess"));
    assert_eq!(wrong.send().await.unwrap().status(), 401);

    // Removed, its secret logs in no more.
    assert!(reg.registry.remove_pull_robot("web", "dev").unwrap());
    let gone = c
        .get(format!("{}/token?service=ferry-registry", reg.url))
        .basic_auth(&robot.login, Some(&robot.secret));
    assert_eq!(gone.send().await.unwrap().status(), 401);

    // An open registry, or one with anonymous pull, needs none.
    let open = start().await;
    assert!(
        open.registry
            .pull_robot("web", "dev", &repos)
            .unwrap()
            .is_none()
    );
    let anonymous = start_with(spec(true)).await;
    let none = anonymous.registry.pull_robot("web", "dev", &repos).unwrap();
    assert!(none.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn declared_robots_may_not_take_a_minted_name() {
    let mut s = spec(false);
    s.robots.push(account("ferry-pull.web.dev", "x", &[Pull]));
    let dir = ferry_test_support::temp_dir();
    let config = Config {
        region: "uk".into(),
        data_dir: dir.path().join("registry"),
        spec: s,
    };
    let mut metrics = prometheus_client::registry::Registry::default();
    let e = Registry::open(config, EventBus::default(), &mut metrics).unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("spec.registry.robots") && e.contains("reserved"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_needs_a_named_account() {
    let reg = start_with(spec(true)).await;
    let c = client();
    let catalog = format!("{}/v2/_catalog", reg.url);
    assert_eq!(c.get(&catalog).send().await.unwrap().status(), 401);
    let anon = token(&reg.url, None, "repository:team/app:pull").await;
    let r = c.get(&catalog).bearer_auth(&anon).send().await.unwrap();
    assert_eq!(r.status(), 401, "an anonymous token lists the catalog");
    let reader = token(
        &reg.url,
        Some(("reader", "reader-pw")),
        "repository:team/app:pull",
    )
    .await;
    let r = c.get(&catalog).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_rate_limited_per_client() {
    let reg = start_with(spec(false)).await;
    let c = client();
    let login = |pw: &'static str| {
        c.get(format!("{}/token?service=ferry-registry", reg.url))
            .basic_auth("reader", Some(pw))
            .send()
    };
    // Successful logins do not count against the budget.
    for _ in 0..10 {
        assert_eq!(login("reader-pw").await.unwrap().status(), 200);
    }
    let burst = ferry_registry::auth::limits::LOGIN_BURST;
    for i in 0..burst {
        assert_eq!(login("guess").await.unwrap().status(), 401, "failure {i}");
    }
    let r = login("guess").await.unwrap();
    assert_eq!(r.status(), 429, "guessing goes on unlimited");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(error_code(r).await, "TOOMANYREQUESTS");
    // While blocked even the right password waits (or guesses would go on).
    assert_eq!(login("reader-pw").await.unwrap().status(), 429);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_registry_refuses_a_non_loopback_listener() {
    let dir = ferry_test_support::temp_dir();
    let config = Config {
        region: "uk".into(),
        data_dir: dir.path().join("registry"),
        spec: RegistrySpec::default(),
    };
    let mut metrics = prometheus_client::registry::Registry::default();
    let registry = Registry::open(config.clone(), EventBus::default(), &mut metrics).unwrap();
    // Bound but never accepted on: serve_on refuses before serving.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let e = match registry.serve_on(&config, listener, CancellationToken::new()) {
        Ok(_) => panic!("an open registry serves on 0.0.0.0"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("no users or robots") && e.contains("hash-secret"),
        "{e}"
    );
    // With accounts it serves (on loopback here, all the test talks to).
    let config = Config {
        spec: spec(false),
        data_dir: dir.path().join("registry2"),
        ..config
    };
    let registry = Registry::open(config.clone(), EventBus::default(), &mut metrics).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    assert!(
        registry
            .serve_on(&config, listener, CancellationToken::new())
            .is_ok()
    );
}
