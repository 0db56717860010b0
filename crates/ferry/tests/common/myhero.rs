//! The tutorial's myhero app for the tests that run it: its images built
//! with ferry by `examples/myhero/build-images.sh` and pushed to a
//! registry, and its manifests (`examples/myhero/k8s`) with only the
//! registry host changed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The manifests' file stems, in the tutorial's order.
pub const MANIFESTS: [&str; 6] = ["mosca", "data", "app", "ernst", "ui", "ingress"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds every myhero image with the `ferry` under test (the myhero
/// binaries of the same build) and pushes them to `registry`; scratch
/// stores live under `dir`.
pub fn build_and_push_images(dir: &Path, registry: SocketAddr) {
    let ferry_bin = Path::new(env!("CARGO_BIN_EXE_ferry"));
    let build = Command::new("bash")
        .arg(root().join("examples/myhero/build-images.sh"))
        .arg("--push")
        .env("MYHERO_REGISTRY", registry.to_string())
        .env("MYHERO_BIN_DIR", ferry_bin.parent().unwrap())
        .env("FERRY", ferry_bin)
        .env("FERRY_IMAGE_STORE", dir.join("images"))
        .env("XDG_DATA_HOME", dir.join("xdg"))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "build-images.sh:\n{}\n{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
}

/// `myhero-NAME.yml` with `127.0.0.1:5000` replaced by `registry`.
pub fn manifest(name: &str, registry: SocketAddr) -> String {
    let src = root().join(format!("examples/myhero/k8s/myhero-{name}.yml"));
    std::fs::read_to_string(src)
        .unwrap()
        .replace("127.0.0.1:5000", &registry.to_string())
}
