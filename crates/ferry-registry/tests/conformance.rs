//! The OCI distribution-spec conformance suite (Go module
//! `github.com/opencontainers/distribution-spec/conformance`, built into the
//! peers directory by `scripts/setup.sh --test-peers`) against the registry:
//! all four workflows (pull, push, content discovery, content management)
//! with every optional API the suite knows turned on — upload cancel, digest
//! headers required, tag parameters on a digest push — once over plain HTTP
//! and once over HTTPS with token authentication and no anonymous access.
//!
//! The suite's `results.yaml` is read back and every API and data row must
//! be `Pass`, except two that are ferry's documented choices:
//! - *Blob anonymous mount* is `Skip`: a mount without `from` is answered by
//!   starting an upload, as the spec allows, because searching every
//!   repository for the blob would let a caller reach blobs of repositories
//!   it cannot read;
//! - *Sparse Manifests* stay `Disabled`: a manifest naming a blob that is not
//!   in the repository is refused (`MANIFEST_BLOB_UNKNOWN`), by design.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use ferry_core::registry_spec::{
    RegistryAccount, RegistryAction, RegistryPermission, RegistrySpec,
};
use ferry_test_support::Proc;

/// Rows of the suite's results (`apis` and `data` sections): name → status.
fn rows(results_yaml: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut section = "";
    for line in results_yaml.lines() {
        if !line.starts_with(' ') {
            section = line.trim_end_matches(':');
            continue;
        }
        if (section == "apis" || section == "data")
            && let Some((name, status)) = line.trim().split_once(": ")
        {
            out.insert(format!("{section}/{name}"), status.to_string());
        }
    }
    out
}

/// Runs the suite against `registry` with `env` added and returns its rows;
/// panics, with the suite's output, if it fails or does not finish in time.
fn run_suite(registry: &str, env: &[(&str, &str)], dir: &Path) -> BTreeMap<String, String> {
    let bin = ferry_test_support::peers_dir().join("conformance");
    assert!(
        bin.exists(),
        "{} missing: run scripts/setup.sh --test-peers",
        bin.display()
    );
    let results = dir.join("results");
    let mut cmd = Command::new(&bin);
    cmd.current_dir(dir)
        .env("OCI_REGISTRY", registry)
        .env("OCI_RESULTS_DIR", &results)
        .env("OCI_VERSION", "1.1")
        .env("OCI_REPO1", "conformance/repo1")
        .env("OCI_REPO2", "conformance/repo2")
        .env("OCI_API_BLOBS_UPLOAD_CANCEL", "true")
        .env("OCI_API_BLOBS_DIGEST_HEADER", "true")
        .env("OCI_API_MANIFESTS_DIGEST_HEADER", "true")
        .env("OCI_API_MANIFESTS_TAG_PARAM", "true")
        .env("OCI_DATA_SPARSE", "false");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut proc = Proc::spawn("conformance", cmd, dir);
    let status = proc
        .wait_timeout(Duration::from_secs(300))
        .expect("the conformance suite finishes within 5 minutes");
    let yaml = std::fs::read_to_string(results.join("results.yaml")).unwrap_or_default();
    let rows = rows(&yaml);
    if !status.success() {
        // The first failures with their reasons, then the summary rows.
        let stdout = proc.stdout();
        let failures: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("FAIL") || l.trim_start().starts_with("- "))
            .take(40)
            .collect();
        panic!(
            "the conformance suite failed ({status}):\n{}\n\n{rows:#?}",
            failures.join("\n")
        );
    }
    assert!(rows.len() > 40, "results.yaml has its rows:\n{yaml}");
    rows
}

fn assert_all_pass(rows: &BTreeMap<String, String>) {
    let expected = |name: &str| match name {
        "apis/Blob anonymous mount" => "Skip",
        "data/Sparse Manifests" => "Disabled",
        _ => "Pass",
    };
    let wrong: Vec<String> = rows
        .iter()
        .filter(|(name, status)| status.as_str() != expected(name))
        .map(|(name, status)| format!("{name}: {status} (expected {})", expected(name)))
        .collect();
    assert!(wrong.is_empty(), "conformance rows:\n{}", wrong.join("\n"));
    for required in [
        "apis/Blob upload cancel",
        "apis/Manifest put with tag params",
        "apis/Referrers",
        "data/Digest Algorithm sha512",
        "data/Tag Param sha512",
    ] {
        assert_eq!(
            rows.get(required).map(String::as_str),
            Some("Pass"),
            "{required}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_suite_passes_over_http() {
    let reg = start().await;
    let tmp = ferry_test_support::temp_dir();
    let (host, dir) = (reg.host.clone(), tmp.path().to_path_buf());
    let rows =
        tokio::task::spawn_blocking(move || run_suite(&host, &[("OCI_TLS", "disabled")], &dir))
            .await
            .unwrap();
    assert_all_pass(&rows);
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_suite_passes_over_https_with_token_auth() {
    let tmp = ferry_test_support::temp_dir();
    let tls = make_certs(tmp.path());
    let spec = RegistrySpec {
        tls: Some(tls),
        anonymous_pull: false,
        robots: vec![RegistryAccount {
            name: "conformance".into(),
            secret_hash: ferry_registry::auth::hash_secret("robot-secret"),
            permissions: vec![RegistryPermission {
                repositories: "conformance/**".into(),
                actions: vec![
                    RegistryAction::Pull,
                    RegistryAction::Push,
                    RegistryAction::Delete,
                ],
            }],
        }],
        ..RegistrySpec::default()
    };
    let reg = start_with(spec).await;
    let (host, dir) = (reg.host.clone(), tmp.path().to_path_buf());
    let ca = tmp.path().join("ca/ca.crt");
    let rows = tokio::task::spawn_blocking(move || {
        run_suite(
            &host,
            &[
                // Go's TLS verifies the chain against the test CA alone.
                ("OCI_TLS", "enabled"),
                ("SSL_CERT_FILE", ca.to_str().unwrap()),
                ("OCI_USERNAME", "robot$conformance"),
                ("OCI_PASSWORD", "robot-secret"),
            ],
            &dir,
        )
    })
    .await
    .unwrap();
    assert_all_pass(&rows);
    // The suite really went through the token flow: an unauthenticated pull
    // of what it pushed is refused.
    let c = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let r = c
        .get(format!(
            "https://{}/v2/conformance/repo1/tags/list",
            reg.host
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn rows_reads_the_api_and_data_sections() {
    let yaml = "config:\n  registry: x\n  apis:\n    pull: true\napis:\n  Blob get: Pass\n  Ping: FAIL\ndata:\n  Image: Skip\nother:\n  X: Pass\n";
    let r = rows(yaml);
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r["apis/Ping"], "FAIL");
    assert_eq!(r["data/Image"], "Skip");
}
