//! Real clients against the registry: skopeo and podman push/pull round
//! trips that keep digests identical, token auth as skopeo meets it, and
//! oras (the Python SDK from PyPI) pushing an artifact with a subject that
//! the referrers API then lists.

mod common;
#[path = "common/layout.rs"]
mod layout;

use std::process::Command;

use common::*;
use ferry_core::registry_spec::{
    RegistryAccount, RegistryAction, RegistryPermission, RegistrySpec,
};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (scripts/setup.sh --test-peers installs it)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo(scratch: &std::path::Path) -> Command {
    let mut c = Command::new("skopeo");
    // Keep skopeo's caches and auth files inside the test's directory.
    c.env("HOME", scratch)
        .env("XDG_RUNTIME_DIR", scratch)
        .env("REGISTRY_AUTH_FILE", scratch.join("auth.json"));
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_and_podman_round_trips_keep_digests() {
    let reg = start().await;
    let tmp = ferry_test_support::temp_dir();
    let src = tmp.path().join("src");
    let img = layout::busybox_layout(&src, tmp.path());
    let host = reg.host.clone();
    let t = tmp.path().to_path_buf();
    std::fs::write(t.join("auth.json"), "{}").unwrap();
    let img_digest = img.manifest_digest.clone();
    tokio::task::spawn_blocking(move || {
        // skopeo: OCI layout -> registry.
        run(skopeo(&t)
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:latest", src.display()))
            .arg(format!("docker://{host}/tools/busybox:1")));
        let raw = run(skopeo(&t)
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{host}/tools/busybox:1")));
        assert_eq!(
            sha256(raw.as_bytes()),
            img_digest,
            "manifest unchanged by the push"
        );
        // skopeo: registry -> OCI layout.
        let back = t.join("back");
        run(skopeo(&t)
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{host}/tools/busybox:1"))
            .arg(format!("oci:{}:latest", back.display())));
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], img_digest.as_str());

        // podman, with its own storage: pull, then push under a new name.
        let podman = |args: &[&str]| {
            let mut c = Command::new("podman");
            c.arg("--root")
                .arg(t.join("podman/root"))
                .arg("--runroot")
                .arg(t.join("podman/run"))
                .args([
                    "--storage-driver",
                    "vfs",
                    "--cgroup-manager",
                    "cgroupfs",
                    "--events-backend",
                    "none",
                ])
                .env("HOME", &t)
                .env("REGISTRY_AUTH_FILE", t.join("auth.json"))
                .args(args);
            run(&mut c)
        };
        podman(&[
            "pull",
            "--tls-verify=false",
            "-q",
            &format!("{host}/tools/busybox:1"),
        ]);
        let digestfile = t.join("pushed.digest");
        podman(&[
            "push",
            "--tls-verify=false",
            "-q",
            "--digestfile",
            digestfile.to_str().unwrap(),
            &format!("{host}/tools/busybox:1"),
            &format!("{host}/podman/busybox:2"),
        ]);
        let pushed = std::fs::read_to_string(&digestfile).unwrap();
        let raw = run(skopeo(&t)
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{host}/podman/busybox:2")));
        assert_eq!(
            sha256(raw.as_bytes()),
            pushed.trim(),
            "podman's digest is what the registry serves"
        );
        let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let inspected = run(skopeo(&t)
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{host}/podman/busybox:2")));
        let v: serde_json::Value = serde_json::from_str(&inspected).unwrap();
        assert_eq!(v["Architecture"], "amd64");
        m
    })
    .await
    .unwrap();
    // The layer podman pushed is the one skopeo pushed, stored once.
    let r = client()
        .head(format!(
            "{}/v2/podman/busybox/blobs/{}",
            reg.url, img.layer_digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "podman pushed the same layer bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_auth_with_skopeo_users_robots_and_anonymous_pull() {
    let secret_hash = ferry_registry::auth::hash_secret("s3cret");
    let robot_hash = ferry_registry::auth::hash_secret("robot-token");
    let spec = RegistrySpec {
        anonymous_pull: true,
        users: vec![RegistryAccount {
            name: "alice".into(),
            secret_hash,
            permissions: vec![RegistryPermission {
                repositories: "team/**".into(),
                actions: vec![RegistryAction::Pull, RegistryAction::Push],
            }],
        }],
        robots: vec![RegistryAccount {
            name: "ci".into(),
            secret_hash: robot_hash,
            permissions: vec![RegistryPermission {
                repositories: "**".into(),
                actions: vec![
                    RegistryAction::Pull,
                    RegistryAction::Push,
                    RegistryAction::Delete,
                ],
            }],
        }],
        ..Default::default()
    };
    let reg = start_with(spec).await;
    let c = client();
    // Unauthenticated push: 401 with a Bearer challenge naming the scope.
    let r = c
        .post(format!("{}/v2/team/app/blobs/uploads/", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with(&format!(
            "Bearer realm=\"http://{}/token\",service=\"ferry-registry\"",
            reg.host
        )),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"repository:team/app:push,pull\""),
        "{challenge}"
    );
    assert_eq!(error_code(r).await, "UNAUTHORIZED");
    // Wrong password: no token.
    let r = c
        .get(format!(
            "{}/token?service=ferry-registry&scope=repository:team/app:push",
            reg.url
        ))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let tmp = ferry_test_support::temp_dir();
    let src = tmp.path().join("src");
    let img = layout::busybox_layout(&src, tmp.path());
    let (host, t) = (reg.host.clone(), tmp.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        let push = |creds: &str, repo: &str| {
            skopeo(&t)
                .args(["copy", "--dest-tls-verify=false", "--dest-creds", creds])
                .arg(format!("oci:{}:latest", src.display()))
                .arg(format!("docker://{host}/{repo}:1"))
                .output()
                .unwrap()
        };
        let out = push("alice:s3cret", "team/app");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let denied = push("alice:s3cret", "other/app");
        assert!(
            !denied.status.success(),
            "alice may not push outside team/**"
        );
        assert!(!String::from_utf8_lossy(&denied.stderr).contains("s3cret"));
        assert!(push("robot$ci:robot-token", "other/app").status.success());
        // Anonymous pull works without credentials.
        run(skopeo(&t)
            .args(["inspect", "--raw", "--tls-verify=false", "--no-creds"])
            .arg(format!("docker://{host}/team/app:1")));
    })
    .await
    .unwrap();
    // A token scoped to pull cannot delete; the robot's can.
    let token = |user: &'static str, pass: &'static str, scope: &'static str| {
        let (c, url) = (c.clone(), reg.url.clone());
        async move {
            let v: serde_json::Value = c
                .get(format!("{url}/token?service=ferry-registry&scope={scope}"))
                .basic_auth(user, Some(pass))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["token"].as_str().unwrap().to_string()
        }
    };
    let alice = token("alice", "s3cret", "repository:team/app:pull,delete").await;
    let r = c
        .delete(format!(
            "{}/v2/team/app/manifests/{}",
            reg.url, img.manifest_digest
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let robot = token("robot$ci", "robot-token", "repository:team/app:delete").await;
    let r = c
        .delete(format!(
            "{}/v2/team/app/manifests/{}",
            reg.url, img.manifest_digest
        ))
        .bearer_auth(&robot)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // A forged token is refused.
    let r = c
        .delete(format!("{}/v2/other/app/manifests/1", reg.url))
        .bearer_auth(format!("{robot}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn oras_pushes_an_artifact_with_a_subject_found_by_referrers() {
    let reg = start().await;
    let (subject, subject_body) = push_image(&reg.url, "art/app", "v1", 11).await;
    let size = subject_body.len().to_string();
    let tmp = ferry_test_support::temp_dir();
    std::fs::write(tmp.path().join("sbom.json"), br#"{"packages":[]}"#).unwrap();
    let script = r#"
import json, os, sys
import oras.provider, oras.oci
host, subject = os.environ["REG"], os.environ["SUBJECT"]
os.chdir(os.environ["WORK"])
r = oras.provider.Registry(hostname=host, insecure=True)
subj = oras.oci.Subject(mediaType="application/vnd.oci.image.manifest.v1+json", digest=subject, size=int(os.environ["SIZE"]))
resp = r.push(target=f"{host}/art/app:sbom", files=["sbom.json:application/vnd.example.sbom"],
              subject=subj, manifest_config=None, do_chunked=True, chunk_size=7)
print("pushed", resp.status_code)
"#;
    let (host, work) = (reg.host.clone(), tmp.path().to_path_buf());
    let subject2 = subject.clone();
    tokio::task::spawn_blocking(move || {
        run(Command::new("python3")
            .arg("-c")
            .arg(script)
            .env("REG", host)
            .env("SUBJECT", subject2)
            .env("WORK", work)
            .env("SIZE", size))
    })
    .await
    .unwrap();
    let r = client()
        .get(format!("{}/v2/art/app/referrers/{subject}", reg.url))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let refs = v["manifests"].as_array().unwrap();
    assert_eq!(refs.len(), 1, "{v}");
    let sbom = client()
        .get(format!("{}/v2/art/app/manifests/sbom", reg.url))
        .send()
        .await
        .unwrap();
    let digest = sbom.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(refs[0]["digest"], digest.as_str());
}
