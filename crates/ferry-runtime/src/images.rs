//! Where container root filesystems come from. The runtime asks an
//! [`ImageSource`] for an unpacked rootfs per image reference, honouring
//! `imagePullPolicy`. [`LocalImages`] serves images unpacked under a
//! directory (`<dir>/<escaped reference>/{rootfs,config.json}`);
//! [`busybox_image`] writes one from the host's busybox-static, the base of
//! test images and benchmarks.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// Kubernetes' default: Always for `:latest` or no tag, else IfNotPresent.
    pub fn resolve(policy: Option<&str>, image: &str) -> Self {
        match policy {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            Some(_) => PullPolicy::IfNotPresent,
            None => {
                let last = image.rsplit('/').next().unwrap_or(image);
                if image.contains('@') || (last.contains(':') && !last.ends_with(":latest")) {
                    PullPolicy::IfNotPresent
                } else {
                    PullPolicy::Always
                }
            }
        }
    }
}

/// The parts of an image config a container needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

/// An unpacked image.
#[derive(Debug, Clone, PartialEq)]
pub struct Unpacked {
    /// The read-only root filesystem (the overlay's lower layer).
    pub rootfs: PathBuf,
    pub config: ImageConfig,
    /// The digest or other identity, shown as `imageID`.
    pub id: String,
    /// Time spent unpacking layers into the rootfs cache for this request
    /// (about zero when the cache already held them): the cold-start
    /// `rootfs` phase rather than `image`.
    pub unpack: std::time::Duration,
}

/// Boxed future of [`ImageSource::get`].
pub type ImageFuture<'a> = Pin<Box<dyn Future<Output = crate::Result<Unpacked>> + Send + 'a>>;

/// Makes images available; errors are the reason shown in ImagePullBackOff.
pub trait ImageSource: Send + Sync + std::fmt::Debug {
    fn get<'a>(&'a self, image: &'a str, policy: PullPolicy) -> ImageFuture<'a>;
}

/// Images already unpacked under a directory.
#[derive(Debug, Clone)]
pub struct LocalImages {
    pub dir: PathBuf,
}

impl LocalImages {
    /// The directory of `reference`.
    pub fn path_of(dir: &Path, reference: &str) -> PathBuf {
        dir.join(escape(&normalize(reference)))
    }
}

impl ImageSource for LocalImages {
    fn get<'a>(&'a self, image: &'a str, _policy: PullPolicy) -> ImageFuture<'a> {
        Box::pin(async move {
            let dir = Self::path_of(&self.dir, image);
            let rootfs = dir.join("rootfs");
            if !rootfs.is_dir() {
                return Err(crate::Error::NoImage {
                    image: image.to_string(),
                });
            }
            let config = std::fs::read(dir.join("config.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            Ok(Unpacked {
                rootfs,
                config,
                id: format!("local:{}", normalize(image)),
                unpack: std::time::Duration::ZERO,
            })
        })
    }
}

/// `busybox` → `busybox:latest`.
fn normalize(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if reference.contains('@') || last.contains(':') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

fn escape(reference: &str) -> String {
    reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes an image `reference` under `dir` made of the host's busybox-static
/// (every applet linked), plus `files` (path → contents), with `config`.
pub fn busybox_image(
    dir: &Path,
    reference: &str,
    files: &BTreeMap<String, String>,
    config: &ImageConfig,
) -> std::io::Result<PathBuf> {
    let root = LocalImages::path_of(dir, reference);
    let tmp = root.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let rootfs = tmp.join("rootfs");
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "root", "www",
        "var",
    ] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))?;
    let applets = std::process::Command::new("/bin/busybox")
        .arg("--list-full")
        .output()?;
    for line in String::from_utf8_lossy(&applets.stdout).lines() {
        let path = rootfs.join(line);
        if line == "bin/busybox" || path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::os::unix::fs::symlink("/bin/busybox", &path)?;
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    for (path, text) in files {
        let p = rootfs.join(path.trim_start_matches('/'));
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, text)?;
    }
    std::fs::write(tmp.join("config.json"), serde_json::to_vec(config)?)?;
    let _ = std::fs::remove_dir_all(&root);
    std::fs::rename(&tmp, &root)?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults_like_kubernetes() {
        assert_eq!(PullPolicy::resolve(None, "busybox"), PullPolicy::Always);
        assert_eq!(PullPolicy::resolve(None, "a/b:latest"), PullPolicy::Always);
        assert_eq!(
            PullPolicy::resolve(None, "localhost:5000/b:v1"),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::resolve(None, "localhost:5000/b"),
            PullPolicy::Always
        );
        assert_eq!(
            PullPolicy::resolve(Some("Never"), "b:v1"),
            PullPolicy::Never
        );
    }

    #[test]
    fn references_normalize() {
        assert_eq!(normalize("busybox"), "busybox:latest");
        assert_eq!(normalize("localhost:5000/web"), "localhost:5000/web:latest");
        assert_eq!(normalize("web:v1"), "web:v1");
    }
}
