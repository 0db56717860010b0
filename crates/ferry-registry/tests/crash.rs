//! `kill -9` safety with the real binary: a server killed in the middle of
//! an upload, and `ferry registry gc` killed in the middle of a sweep, leave
//! no corrupt blob behind; after a restart the client's retry succeeds and
//! every image still pulls with its digest. Also `ferry up` serving the
//! registry on the region's listener.

#[path = "common/bin.rs"]
mod bin;
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::*;
use ferry_test_support::{Proc, free_addr, poll};

async fn serve(data: &Path, addr: std::net::SocketAddr, logs: &Path, name: &str) -> Proc {
    let mut cmd = Command::new(bin::ferry());
    cmd.args([
        "registry",
        "serve",
        "--addr",
        &addr.to_string(),
        "--data-dir",
    ])
    .arg(data);
    let p = Proc::spawn(name, cmd, logs);
    wait_ok(&format!("http://{addr}/v2/"), 20).await;
    p
}

/// Every stored blob hashes to its name.
fn assert_store_intact(data: &Path) {
    let root = data.join("store/blobs/sha256");
    let Ok(prefixes) = std::fs::read_dir(&root) else {
        return;
    };
    for p in prefixes {
        for f in std::fs::read_dir(p.unwrap().path()).unwrap() {
            let f = f.unwrap();
            let name = f.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(f.path()).unwrap();
            assert_eq!(
                sha256(&bytes),
                format!("sha256:{name}"),
                "corrupt blob {name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_upload_then_resume() {
    let tmp = ferry_test_support::temp_dir();
    let data = tmp.path().join("reg");
    let addr = free_addr();
    let mut server = serve(&data, addr, tmp.path(), "registry-1").await;
    let url = format!("http://{addr}");
    let blob = bytes(24 << 20, 77);
    let digest = sha256(&blob);
    let c = client();
    let r = c
        .post(format!("{url}/v2/crash/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    // Stream the blob slowly so the kill lands mid-upload.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let patch = tokio::spawn({
        let (c, u) = (c.clone(), format!("{url}{loc}"));
        async move { c.patch(u).body(body).send().await }
    });
    let chunks: Vec<Vec<u8>> = blob.chunks(1 << 20).map(|c| c.to_vec()).collect();
    for chunk in &chunks[..6] {
        tx.send(Ok(chunk.clone())).await.unwrap();
    }
    let uploads = data.join("store/uploads");
    poll("bytes on disk", Duration::from_secs(20), || {
        std::fs::read_dir(&uploads)
            .ok()?
            .flatten()
            .find(|e| e.metadata().is_ok_and(|m| m.len() > 0))
            .map(|_| ())
    });
    server.kill();
    drop(tx);
    let _ = patch.await;

    let _server = serve(&data, addr, tmp.path(), "registry-2").await;
    assert_store_intact(&data);
    let r = c
        .head(format!("{url}/v2/crash/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a partial upload is never served");
    // The client resumes from what the server reports.
    let r = c.get(format!("{url}{loc}")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let end: usize = r.headers()["range"]
        .to_str()
        .unwrap()
        .trim_start_matches("0-")
        .parse()
        .unwrap();
    let have = if end == 0 { 0 } else { end + 1 };
    assert!(have <= 6 << 20);
    let r = c
        .patch(format!("{url}{loc}"))
        .header("content-range", format!("{have}-{}", blob.len() - 1))
        .body(blob[have..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = c
        .put(format!("{url}{loc}?digest={digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = c
        .get(format!("{url}/v2/crash/blobs/{digest}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256(&got), digest);
    assert_store_intact(&data);
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn age_all_blobs(data: &Path) {
    let old = SystemTime::now() - Duration::from_secs(7200);
    for p in std::fs::read_dir(data.join("store/blobs/sha256")).unwrap() {
        for f in std::fs::read_dir(p.unwrap().path()).unwrap() {
            let f = std::fs::File::options()
                .write(true)
                .open(f.unwrap().path())
                .unwrap();
            f.set_modified(old).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_gc_then_rerun() {
    let tmp = ferry_test_support::temp_dir();
    let data = tmp.path().join("reg");
    let addr = free_addr();
    let _server = serve(&data, addr, tmp.path(), "registry").await;
    let url = format!("http://{addr}");
    let mut images = Vec::new();
    for i in 0..10 {
        images.push((
            format!("keep/r{}", i % 3),
            format!("t{i}"),
            push_image(&url, &format!("keep/r{}", i % 3), &format!("t{i}"), i)
                .await
                .0,
        ));
    }
    for i in 0..400u64 {
        push_blob(&url, "junk", &bytes(2000, 10_000 + i)).await;
    }
    age_all_blobs(&data);
    let gc = |dry: bool| {
        let mut cmd = Command::new(bin::ferry());
        cmd.args([
            "registry",
            "gc",
            "--grace",
            "30m",
            "-o",
            "json",
            "--data-dir",
        ])
        .arg(&data);
        if dry {
            cmd.arg("--dry-run");
        }
        cmd
    };
    let dry = run_ok(gc(true));
    let report: serde_json::Value = serde_json::from_str(&dry).unwrap();
    assert_eq!(report["blobsRemoved"].as_array().unwrap().len(), 400);
    // Kill GC as soon as it has removed something.
    let mut p = Proc::spawn("gc", gc(false), tmp.path());
    let junk = data.join("store/blobs/sha256");
    let count = || {
        std::fs::read_dir(&junk)
            .unwrap()
            .flatten()
            .map(|d| std::fs::read_dir(d.path()).unwrap().count())
            .sum::<usize>()
    };
    let before = 400 + 10 * 3;
    poll("gc to start removing", Duration::from_secs(30), || {
        (count() < before || p.wait_timeout(Duration::ZERO).is_some()).then_some(())
    });
    p.kill();
    assert_store_intact(&data);
    for (repo, tag, digest) in &images {
        assert_image_pulls(&url, repo, tag, digest).await;
    }
    let out = run_ok(gc(false));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["blobsKept"].as_u64().unwrap() >= 30, "{out}");
    assert_eq!(count(), 30, "only the images' blobs remain: {out}");
    for (repo, tag, digest) in &images {
        assert_image_pulls(&url, repo, tag, digest).await;
    }
    assert_store_intact(&data);
}

fn run_ok(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub async fn assert_image_pulls(url: &str, repo: &str, tag: &str, digest: &str) {
    let c = client();
    let r = c
        .get(format!("{url}/v2/{repo}/manifests/{tag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{repo}:{tag}");
    let body = r.bytes().await.unwrap();
    assert_eq!(sha256(&body), digest);
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut blobs = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    blobs.extend(
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string()),
    );
    for b in blobs {
        let got = c
            .get(format!("{url}/v2/{repo}/blobs/{b}"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "{repo} blob {b}");
        assert_eq!(sha256(&got.bytes().await.unwrap()), b);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ferry_up_serves_the_registry_on_the_region_listener() {
    let tmp = ferry_test_support::temp_dir();
    let topo = ferry_test_support::topology_yaml(&["uk"], tmp.path());
    std::fs::write(tmp.path().join("topo.yaml"), &topo).unwrap();
    let mut cmd = Command::new(bin::ferry());
    cmd.args(["up", "-o", "json", "-f"])
        .arg(tmp.path().join("topo.yaml"));
    let p = Proc::spawn("ferry-up", cmd, tmp.path());
    let endpoints: serde_json::Value = poll("endpoint table", Duration::from_secs(30), || {
        serde_json::from_str(&p.stdout()).ok()
    });
    let find = |l: &str| {
        endpoints
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["listener"] == l)
            .unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (registry, api) = (find("registry"), find("api"));
    wait_ok(&format!("{registry}/v2/"), 20).await;
    let (digest, _) = push_image(&registry, "myhero/data", "v1", 1).await;
    assert_image_pulls(&registry, "myhero/data", "v1", &digest).await;
    assert!(
        tmp.path().join("uk/registry/store/blobs/sha256").is_dir(),
        "data under <data dir>/registry"
    );
    let metrics = client()
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ferry_registry_requests_total{"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferry_registry_manifests{region=\"uk\"} 1"),
        "{metrics}"
    );
}
