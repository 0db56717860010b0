//! The registry over HTTPS (`spec.registry.tls`, rustls): a CA and a server
//! certificate for 127.0.0.1 are made at test time (rcgen), skopeo pushes an
//! image and pulls it back verifying the chain against that CA, digests stay
//! identical, and a client that does not trust the CA is refused. A plain
//! twin listener of the same registry challenges with `http://` realms.

mod common;
#[path = "common/layout.rs"]
mod layout;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use ferry_core::registry_spec::RegistrySpec;

fn skopeo(scratch: &Path, args: &[&str]) -> Output {
    Command::new("skopeo")
        .env("HOME", scratch)
        .env("XDG_RUNTIME_DIR", scratch)
        .env("REGISTRY_AUTH_FILE", scratch.join("auth.json"))
        .args(args)
        .output()
        .expect("skopeo runs (scripts/setup.sh --test-peers installs it)")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "skopeo failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_pushes_and_pulls_over_https_with_a_test_ca() {
    let tmp = ferry_test_support::temp_dir();
    let t = tmp.path().to_path_buf();
    let tls = make_certs(&t);
    let reg = start_with(RegistrySpec {
        tls: Some(tls),
        ..RegistrySpec::default()
    })
    .await;
    let src = t.join("src");
    let img = layout::busybox_layout(&src, &t);
    std::fs::write(t.join("auth.json"), "{}").unwrap();
    let (host, ca) = (reg.host.clone(), t.join("ca"));

    tokio::task::spawn_blocking(move || {
        let ca = ca.to_str().unwrap();
        let remote = format!("docker://{host}/secure/busybox:1");
        ok(skopeo(
            &t,
            &[
                "copy",
                "--dest-cert-dir",
                ca,
                &format!("oci:{}:latest", src.display()),
                &remote,
            ],
        ));
        let raw = ok(skopeo(&t, &["inspect", "--raw", "--cert-dir", ca, &remote]));
        assert_eq!(sha256(raw.as_bytes()), img.manifest_digest);

        let back = t.join("back");
        ok(skopeo(
            &t,
            &[
                "copy",
                "--src-cert-dir",
                ca,
                &remote,
                &format!("oci:{}:latest", back.display()),
            ],
        ));
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
        assert_eq!(
            index["manifests"][0]["digest"],
            img.manifest_digest.as_str()
        );
        let layer = img.layer_digest.trim_start_matches("sha256:");
        let pulled = std::fs::read(back.join("blobs/sha256").join(layer)).unwrap();
        assert_eq!(sha256(&pulled), img.layer_digest, "layer bytes unchanged");

        // Without the CA the chain does not verify: the TLS is real.
        let empty = t.join("no-ca");
        std::fs::create_dir_all(&empty).unwrap();
        let refused = skopeo(
            &t,
            &[
                "inspect",
                "--raw",
                "--cert-dir",
                empty.to_str().unwrap(),
                &remote,
            ],
        );
        assert!(
            !refused.status.success(),
            "an untrusted certificate is refused"
        );
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("certificate"), "{err}");
    })
    .await
    .unwrap();
}

/// A TLS registry with accounts challenges for tokens at `https://`; its
/// plain-HTTP twin (the loopback listener `ferry up` adds beside an exposed
/// one) must send clients to `http://`, or a client logging in through the
/// twin dials TLS on a plain port.
#[tokio::test(flavor = "multi_thread")]
async fn each_listener_challenges_with_its_own_scheme() {
    let tmp = ferry_test_support::temp_dir();
    let robot = ferry_core::registry_spec::RegistryAccount {
        name: "ci".into(),
        secret_hash: ferry_registry::auth::hash_secret("robot-token"),
        permissions: vec![],
    };
    let reg = start_with(RegistrySpec {
        tls: Some(make_certs(tmp.path())),
        robots: vec![robot],
        ..RegistrySpec::default()
    })
    .await;
    let twin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let twin_host = twin.local_addr().unwrap().to_string();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(ferry_registry::serve(
        twin,
        reg.registry.router(),
        None,
        ferry_registry::ListenerLimits::default(),
        stop.clone(),
    ));
    let ca = std::fs::read(tmp.path().join("ca/ca.crt")).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let realm = |r: reqwest::Response| {
        assert_eq!(r.status(), 401);
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let tls = realm(
        https
            .get(format!("https://{}/v2/", reg.host))
            .send()
            .await
            .unwrap(),
    );
    assert!(
        tls.starts_with(&format!("Bearer realm=\"https://{}/token\"", reg.host)),
        "{tls}"
    );
    let plain = realm(
        client()
            .get(format!("http://{twin_host}/v2/"))
            .send()
            .await
            .unwrap(),
    );
    assert!(
        plain.starts_with(&format!("Bearer realm=\"http://{twin_host}/token\"")),
        "{plain}"
    );
    stop.cancel();
}
