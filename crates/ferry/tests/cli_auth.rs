//! Authentication and roles through the real binary, as a user meets them:
//! `ferry up` writes an admin token to the client config (0600) and every
//! verb uses it; `ferry token create|list|revoke`; a viewer cannot apply and
//! sees Secrets redacted; a namespace-scoped deployer stays in its namespace;
//! a revoked token stops at once; no token at all is refused with advice.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use common::{cli, client_config, ok, text, up};
use ferry_test_support::{temp_dir, topology_yaml};

fn with_token(api: &str, token: &str, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--token", token]);
    cli(api, &all)
}

#[test]
fn tokens_roles_and_scopes_through_the_cli() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["uk"], dir.path())).unwrap();
    let (_up, api) = up(&topo, dir.path());

    let config = client_config(dir.path());
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the client config holds a token");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("token: ferry_")
    );

    let manifests = dir.path().join("m.yaml");
    std::fs::write(
        &manifests,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2}\n",
    )
    .unwrap();
    let m = manifests.to_str().unwrap();
    ok(cli(&api, &["apply", "-f", m]));
    let admin_view = ok(cli(&api, &["get", "secrets", "db", "-o", "json"]));
    assert!(
        !admin_view.contains("++++++++"),
        "admins see values: {admin_view}"
    );

    let viewer = ok(cli(
        &api,
        &["token", "create", "ci", "--role", "viewer", "--ttl", "1h"],
    ));
    let viewer = viewer.trim();
    assert!(viewer.starts_with("ferry_"), "{viewer}");
    let listed = ok(cli(&api, &["token", "list"]));
    assert!(
        listed.contains("ci") && listed.contains("viewer") && !listed.contains(viewer),
        "{listed}"
    );

    let refused = with_token(&api, viewer, &["apply", "-f", m]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("needs deployer"),
        "{}",
        text(&refused)
    );
    let seen = ok(with_token(
        &api,
        viewer,
        &["get", "secrets", "db", "-o", "json"],
    ));
    assert!(
        seen.contains("++++++++") && !seen.contains("aHVudGVyMg") && !seen.contains("hunter2"),
        "{seen}"
    );

    let team = ok(cli(
        &api,
        &[
            "token", "create", "team", "--role", "deployer", "-n", "team-a",
        ],
    ));
    let team = team.trim();
    let listed = ok(cli(&api, &["token", "list"]));
    let row = listed
        .lines()
        .find(|l| l.starts_with("team "))
        .unwrap_or_default();
    assert!(row.contains("team-a") && row.contains("<none>"), "{listed}");
    let elsewhere = with_token(&api, team, &["apply", "-f", m]);
    assert!(
        text(&elsewhere).contains("namespace `default`"),
        "{}",
        text(&elsewhere)
    );
    let own = dir.path().join("own.yaml");
    std::fs::write(
        &own,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: team-a}\ndata: {a: b}\n",
    )
    .unwrap();
    ok(with_token(
        &api,
        team,
        &["apply", "-f", own.to_str().unwrap()],
    ));

    ok(cli(&api, &["token", "revoke", "ci"]));
    let revoked = with_token(&api, viewer, &["get", "pods"]);
    assert!(text(&revoked).contains("401"), "{}", text(&revoked));

    let nobody = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["get", "pods", "--server", &api])
        .env("FERRY_CONFIG", dir.path().join("empty.yaml"))
        .env_remove("FERRY_TOKEN")
        .output()
        .unwrap();
    assert!(!nobody.status.success());
    assert!(
        text(&nobody).contains("needs a bearer token"),
        "{}",
        text(&nobody)
    );
}

#[test]
fn a_region_with_generated_tls_is_reached_over_https_with_its_ca() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    let yaml = topology_yaml(&["eu"], dir.path()) + "  tls: {generate: true}\n";
    std::fs::write(&topo, yaml).unwrap();
    let (_up, api) = up(&topo, dir.path());
    assert!(api.starts_with("https://"), "{api}");
    let config = std::fs::read_to_string(client_config(dir.path())).unwrap();
    assert!(
        config.contains("certificate-authority:") && config.contains("ca.crt"),
        "{config}"
    );
    let pods = ok(cli(&api, &["get", "pods", "-o", "json"]));
    assert!(pods.contains("items"), "{pods}");
    // Plain HTTP to the TLS listener gets no API answer.
    let plain = api.replacen("https://", "http://", 1);
    assert!(!ferry_test_support::http_ok(&format!("{plain}/healthz")));
}
