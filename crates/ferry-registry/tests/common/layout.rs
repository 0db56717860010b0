//! Builds a real OCI image layout on disk from busybox-static (one gzip
//! layer with `/bin/busybox` and `/bin/sh`), for skopeo and podman to copy.

use std::path::Path;
use std::process::Command;

use super::sha256;

/// What [`busybox_layout`] wrote.
pub struct Layout {
    pub manifest_digest: String,
    pub layer_digest: String,
}

fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let p = dir
        .join("blobs/sha256")
        .join(d.trim_start_matches("sha256:"));
    std::fs::write(p, bytes).unwrap();
    d
}

/// Writes an OCI layout at `dir` with the image tagged `latest`.
pub fn busybox_layout(dir: &Path, scratch: &Path) -> Layout {
    let rootfs = scratch.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .expect("busybox-static is installed (/bin/busybox)");
    let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh"));
    let tar = scratch.join("layer.tar");
    let ok = Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-C",
        ])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg("bin")
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar failed");
    let raw = std::fs::read(&tar).unwrap();
    let gz = Command::new("gzip")
        .args(["-n", "-c"])
        .arg(&tar)
        .output()
        .unwrap();
    assert!(gz.status.success());
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let layer_digest = put_blob(dir, &gz.stdout);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&raw)]}
    }))
    .unwrap();
    let config_digest = put_blob(dir, &config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": gz.stdout.len()}]
    }))
    .unwrap();
    let manifest_digest = put_blob(dir, &manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                       "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    Layout {
        manifest_digest,
        layer_digest,
    }
}
