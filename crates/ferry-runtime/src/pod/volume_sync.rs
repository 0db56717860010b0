//! A pod's emptyDir, configMap and secret volumes written under its
//! directory (secrets on a size-capped tmpfs), refreshed on every sync
//! while a referenced object is missing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::container::{self, set_status, waiting};
use super::{claims, volumes};
use crate::error::Error;
use crate::kinds::Kind;
use crate::runtime::Inner;
use crate::sys;

/// Writes emptyDir, configMap and secret volumes; false (with the reason on
/// the containers) while a referenced object is missing.
pub(crate) async fn sync_volumes(
    inner: &Inner,
    ns: &str,
    pod: &Pod,
    dir: &Path,
    rt: &container::Rt,
    apps: &[Container],
) -> bool {
    let vols = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    let gid = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|c| c.fs_group)
        .map(|g| g as u32);
    for v in vols.iter().filter(|v| v.host_path.is_none()) {
        // emptyDir is world-writable, as Kubernetes makes it.
        let mode = if v.empty_dir.is_some() { 0o777 } else { 0o755 };
        let written = if let Some(c) = &v.persistent_volume_claim {
            claims::prepare(inner, ns, pod, &c.claim_name, gid)
        } else {
            match volumes::open_volume(dir, &v.name, mode, gid) {
                Err(e) => Err(Error::io("cannot create the volume directory in", dir, e)),
                Ok(_) if v.empty_dir.is_some() => continue,
                Ok(fd) => match volumes::volume_files(inner, ns, pod, &v.name) {
                    None => continue,
                    Some(Ok(files)) => write_volume(dir, v, fd, &files, gid),
                    Some(Err(why)) => Err(why),
                },
            }
        };
        match written {
            Ok(()) => {}
            Err(why) => {
                for c in apps {
                    set_status(rt, false, &c.name, |s| {
                        s.state = Some(waiting(
                            "ContainerCreating",
                            format!("volume `{}`: {why}", v.name),
                        ))
                    });
                }
                if !apps.is_empty() {
                    // Wait for the object to appear, as the kubelet does.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return Box::pin(sync_volumes(
                        inner,
                        ns,
                        &inner
                            .typed::<Pod>(
                                Kind::Pod,
                                ns,
                                pod.metadata.name.as_deref().unwrap_or_default(),
                            )
                            .unwrap_or(pod.clone()),
                        dir,
                        rt,
                        apps,
                    ))
                    .await;
                }
                return false;
            }
        }
    }
    true
}

/// Writes the files of a configMap or secret volume; a secret volume is a
/// tmpfs of its own, so its data never reaches a disk.
pub(crate) fn write_volume(
    dir: &Path,
    v: &k8s_openapi::api::core::v1::Volume,
    fd: std::os::fd::OwnedFd,
    files: &BTreeMap<String, Vec<u8>>,
    gid: Option<u32>,
) -> Result<(), Error> {
    let mut fd = fd;
    let mode = v
        .config_map
        .as_ref()
        .and_then(|c| c.default_mode)
        .or(v.secret.as_ref().and_then(|s| s.default_mode))
        .unwrap_or(0o644) as u32
        & 0o777;
    if v.secret.is_some() {
        let mounted = sys::mount_tmpfs(&fd, SECRET_TMPFS_BYTES)?;
        if mounted {
            fd = volumes::open_volume(dir, &v.name, 0o755, gid)
                .map_err(|e| Error::io("cannot open the secret tmpfs in", dir, e))?;
        }
    }
    volumes::sync_dir(&fd, files, mode, gid)
        .map(|_| ())
        .map_err(|e| Error::io("cannot write its files in", dir, e))
}

/// The size of a secret volume's tmpfs (Kubernetes caps Secrets at 1 MiB).
pub(crate) const SECRET_TMPFS_BYTES: u64 = 8 * 1024 * 1024;
