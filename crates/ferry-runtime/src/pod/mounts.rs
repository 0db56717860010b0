//! A container's bind mounts: the pod's hosts file and its volume mounts.
//! A `subPath` is opened beneath its volume (`RESOLVE_BENEATH`: a `..` or a
//! symlink a container planted cannot lead outside) and bind-mounted by
//! descriptor onto a staging path under the container's bundle, which runc
//! then mounts; so runc never resolves a path a container could change.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, PodSpec};

use crate::error::{Error, Result};
use crate::pod::spec::Bind;
use crate::pod::{beneath, volumes};
use crate::runtime::Inner;
use crate::sys;

/// The container's bind mounts: the hosts file and its volume mounts, a
/// `subPath` resolved beneath its volume and bind-mounted by descriptor
/// onto a staging path under `stage` (so runc never follows a path a
/// container could have changed).
pub fn binds(
    inner: &Inner,
    ns: &str,
    spec: &PodSpec,
    c: &Container,
    pod_dir: &Path,
    stage: &Path,
    fs_group: Option<u32>,
) -> Result<Vec<Bind>> {
    let bad = |m: String| Error::ContainerConfig(m);
    let mut binds = vec![Bind {
        source: pod_dir.join("hosts"),
        destination: "/etc/hosts".into(),
        read_only: true,
    }];
    let token_dir = pod_dir.join(crate::pod::token::DIR);
    if token_dir.join("token").exists() && crate::pod::token::mounted_in(c) {
        binds.push(Bind {
            source: token_dir,
            destination: crate::pod::token::MOUNT_PATH.into(),
            read_only: true,
        });
    }
    for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
        let v = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == m.name)
            .ok_or_else(|| bad(format!("no volume `{}`", m.name)))?;
        let base = match &v.host_path {
            Some(hp) if inner.cfg.allow_host_path => PathBuf::from(&hp.path),
            Some(_) => {
                return Err(Error::Other(format!(
                    "hostPath volume `{}` is not allowed by this runtime's configuration",
                    v.name
                )));
            }
            None => match &v.persistent_volume_claim {
                Some(c) => crate::pod::claims::resolve(inner, ns, &c.claim_name)?,
                None => volumes::volume_dir(pod_dir, &v.name)?,
            },
        };
        let source = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            None => base,
            Some(sub) => {
                let at = stage.join(j.to_string());
                sub_path(&base, sub, &at, fs_group)
                    .map_err(|why| bad(format!("volume `{}` subPath `{sub}`: {why}", v.name)))?;
                at
            }
        };
        let claim_read_only = v.persistent_volume_claim.as_ref().and_then(|c| c.read_only);
        let read_only = m.read_only.unwrap_or(false)
            || claim_read_only.unwrap_or(false)
            || v.config_map.is_some()
            || v.secret.is_some();
        binds.push(Bind {
            source,
            destination: m.mount_path.clone(),
            read_only,
        });
    }
    Ok(binds)
}

/// Opens `sub` beneath the volume at `base` (creating it as a directory
/// when missing, as the kubelet does) and bind-mounts it onto `at`.
fn sub_path(base: &Path, sub: &str, at: &Path, gid: Option<u32>) -> Result<()> {
    let bad = |m: String| Error::ContainerConfig(m);
    use nix::fcntl::OFlag;
    if let Some(why) = crate::local_paths::rel_path_problem(sub) {
        return Err(bad(why));
    }
    let root = beneath::open_dir(base).map_err(|e| Error::io("cannot open volume", base, e))?;
    let fd = match beneath::open(&root, Path::new(sub), OFlag::O_PATH, 0) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            beneath::mkdir_all(&root, Path::new(sub), 0o755, gid)
                .map_err(|e| Error::io("cannot create subPath in", base, e))?
        }
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            return Err(bad(
                "it leads outside its volume (a `..` or a symlink); refused".into(),
            ));
        }
        Err(e) => return Err(Error::io("cannot open subPath in", base, e)),
    };
    let is_dir = std::fs::metadata(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .map_err(|e| Error::io("cannot stat subPath in", base, e))?
    .is_dir();
    if is_dir {
        std::fs::create_dir_all(at).map_err(|e| Error::io("cannot create", at, e))?;
    } else {
        std::fs::create_dir_all(at.parent().unwrap_or(at))
            .map_err(|e| Error::io("cannot create", at, e))?;
        std::fs::File::create(at).map_err(|e| Error::io("cannot create", at, e))?;
    }
    sys::bind_fd(&fd, at)
}
