//! A `ReplicationRule` whose target is any OCI registry by URL with
//! credentials: ferry's registry replicates into a running CNCF Distribution
//! that demands basic auth; an image pushed before the engine started (the
//! reconcile pass) and one pushed after (the event) both arrive, and skopeo
//! pulls them back from Distribution with the same digests.
//!
//! Distribution comes from `scripts/setup.sh --test-peers`; without it the
//! test is skipped with a message, except under CI where it must run.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use ferry_core::events::EventBus;
use ferry_core::replication_spec::{CredentialsRef, ReplicationEndpoint};
use ferry_image::client::Credentials;
use ferry_image::testutil::Distribution;
use ferry_image::{RegistryClient, Store};
use ferry_replication::{Engine, EngineConfig};
use tokio_util::sync::CancellationToken;

const USER: &str = "ferry";
const PASSWORD: &str = "replicate-me";
/// bcrypt of [`PASSWORD`] (Distribution's htpasswd takes bcrypt only); a
/// test fixture, not a secret.
const HTPASSWD: &str = "ferry:$2b$12$7jiTAYON7LqiYaIs50zJn.1tJSfACeATA.B9pWXHbhZBVTPFHorUu";

fn skopeo(scratch: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .env("HOME", scratch)
        .env("XDG_RUNTIME_DIR", scratch)
        .env("REGISTRY_AUTH_FILE", scratch.join("auth.json"))
        .args(args)
        .output()
        .expect("skopeo runs (scripts/setup.sh --test-peers installs it)");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicates_into_cncf_distribution_with_credentials() {
    if !Distribution::available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but CNCF Distribution is missing: run scripts/setup.sh --test-peers"
        );
        eprintln!("SKIPPED: CNCF Distribution is not installed (scripts/setup.sh --test-peers)");
        return;
    }
    let dir = ferry_test_support::temp_dir();
    let dist = Distribution::start_with_htpasswd(&dir.path().join("dist"), HTPASSWD);
    let bus = EventBus::default();
    let a = Reg::start("a", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let store = Store::open(dir.path().join("store")).unwrap();
    let before = push_small(&store, &a.host(), "team/app", "v1", "before the rule").await;

    let password_file = dir.path().join("password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let mut r = rule("a-to-distribution", &["team/*"]);
    r.spec.target = ReplicationEndpoint {
        region: None,
        url: Some(format!("http://{}", dist.host())),
        credentials: Some(CredentialsRef {
            username: USER.into(),
            password_env: None,
            password_file: Some(password_file),
        }),
    };
    let shutdown = CancellationToken::new();
    let registries = BTreeMap::from([("a".to_string(), a.host())]);
    let mut cfg = EngineConfig::new(
        "a",
        dir.path().join("state"),
        vec![r],
        registries,
        bus.clone(),
        shutdown.clone(),
    );
    cfg.max_backoff = Duration::from_millis(400);
    let mut metrics = prometheus_client::registry::Registry::default();
    let engine = Engine::start(cfg, &mut metrics).unwrap();
    let after = push_small(&store, &a.host(), "team/app", "v2", "after the rule").await;

    let anonymous = RegistryClient::new(&dist.host(), None).unwrap();
    assert!(
        anonymous.ping().await.is_err(),
        "Distribution demands credentials, so the rule's are what get through"
    );
    let target = RegistryClient::new(
        &dist.host(),
        Some(Credentials {
            username: USER.into(),
            password: PASSWORD.into(),
        }),
    )
    .unwrap();
    for (tag, digest) in [("v1", &before), ("v2", &after)] {
        let t = target.clone();
        eventually(&format!("team/app:{tag} in Distribution"), 30, || {
            let t = t.clone();
            async move {
                t.head_manifest("team/app", tag)
                    .await
                    .ok()
                    .flatten()
                    .map(|m| m.0)
                    == Some(digest.clone())
            }
        })
        .await;
    }
    let s = status(&engine, "a-to-distribution");
    assert_eq!(s.pending, 0, "{s:?}");

    // Pull back with another client: same manifest, layers intact.
    let host = dist.host();
    let scratch = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::write(scratch.join("auth.json"), "{}").unwrap();
        let creds = format!("{USER}:{PASSWORD}");
        for (tag, digest) in [("v1", before), ("v2", after)] {
            let remote = format!("docker://{host}/team/app:{tag}");
            let raw = skopeo(
                &scratch,
                &[
                    "inspect",
                    "--raw",
                    "--tls-verify=false",
                    "--creds",
                    &creds,
                    &remote,
                ],
            );
            assert_eq!(sha256(raw.as_bytes()), digest);
            let back = scratch.join(format!("back-{tag}"));
            skopeo(
                &scratch,
                &[
                    "copy",
                    "--src-tls-verify=false",
                    "--src-creds",
                    &creds,
                    &remote,
                    &format!("oci:{}:{tag}", back.display()),
                ],
            );
            let index: serde_json::Value =
                serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
            assert_eq!(index["manifests"][0]["digest"], digest.as_str());
        }
    })
    .await
    .unwrap();
    shutdown.cancel();
    a.stop().await;
}
