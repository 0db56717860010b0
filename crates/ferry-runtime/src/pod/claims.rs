//! `persistentVolumeClaim` volumes on the host: a provisioned volume is the
//! directory `<data>/volumes/<pv>` (made and removed here for the volume
//! controller, `volume.rs`, through descriptors beneath the data
//! directory). A pod's claim resolves to it only once bound; until then the
//! pod waits with Kubernetes' message (`persistentvolumeclaim "x" not
//! found`, `... is being deleted`, `... is not bound`), as does every pod
//! but the oldest naming a ReadWriteOncePod claim. The pod's fsGroup owns
//! the volume's root (setgid), as with emptyDir.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use nix::sys::stat::{Mode, fchmod, fstat};
use nix::unistd::{Gid, fchown};

use crate::error::Error;
use crate::kinds::Kind;
use crate::local_paths;
use crate::pod::beneath;
use crate::runtime::Inner;
use crate::volume_plan::single_pod_holder;

/// Mode of a volume's directory: anyone in the pod may write, as k3s's
/// local-path provisioner and emptyDir make it (the 0700 `volumes`
/// directory above keeps other host users out).
const VOLUME_MODE: u32 = 0o777;

/// The claims a pod's volumes name.
pub fn claim_names(pod: &Pod) -> Vec<String> {
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    volumes
        .into_iter()
        .flatten()
        .filter_map(|v| Some(v.persistent_volume_claim.as_ref()?.claim_name.clone()))
        .collect()
}

/// The directory of volume `pv` (a DNS-1123 label: ferry names them `pvc-<uid>`).
pub fn volume_dir(inner: &Inner, pv: &str) -> Result<PathBuf, Error> {
    match local_paths::volume_name_problem(pv) {
        Some(why) => Err(Error::ContainerConfig(format!(
            "persistentvolume `{pv}`: {why}"
        ))),
        None => Ok(inner.cfg.data_dir.join("volumes").join(pv)),
    }
}

/// Makes (or opens, after a crash between making and storing) the
/// directory of volume `pv`.
pub fn make_dir(inner: &Inner, pv: &str) -> std::io::Result<PathBuf> {
    let path = volume_dir(inner, pv).map_err(std::io::Error::other)?;
    let data = beneath::open_dir(&inner.cfg.data_dir)?;
    let volumes = beneath::mkdir_all(&data, Path::new("volumes"), 0o700, None)?;
    beneath::mkdir_all(&volumes, Path::new(pv), VOLUME_MODE, None)?;
    Ok(path)
}

/// Removes the directory of volume `pv` and everything in it (symlinks
/// are removed, never followed); a missing directory is fine.
pub fn remove_dir(inner: &Inner, pv: &str) -> std::io::Result<()> {
    let path = volume_dir(inner, pv).map_err(std::io::Error::other)?;
    match std::fs::remove_dir_all(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The host directory claim `name` of namespace `ns` is bound to, or why
/// a pod naming it waits.
pub fn resolve(inner: &Inner, ns: &str, name: &str) -> Result<PathBuf, Error> {
    let wait = |m: String| Error::ContainerConfig(m);
    let claim: PersistentVolumeClaim = inner
        .typed(Kind::PersistentVolumeClaim, ns, name)
        .ok_or_else(|| wait(format!("persistentvolumeclaim \"{name}\" not found")))?;
    let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
    let pv = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref());
    let (Some("Bound"), Some(pv)) = (phase, pv) else {
        return Err(wait(format!(
            "persistentvolumeclaim \"{name}\" is not bound"
        )));
    };
    if inner.get(Kind::PersistentVolume, "", pv).is_none() {
        return Err(wait(format!("persistentvolume \"{pv}\" not found")));
    }
    volume_dir(inner, pv)
}

/// Readies claim `name` for `pod` before its containers start: bound, the
/// directory present, not held by an older pod when ReadWriteOncePod, the
/// root group-owned by `gid` (setgid) when the pod sets fsGroup.
pub fn prepare(
    inner: &Inner,
    ns: &str,
    pod: &Pod,
    name: &str,
    gid: Option<u32>,
) -> Result<(), Error> {
    let dir = resolve(inner, ns, name)?;
    let claim: Option<PersistentVolumeClaim> = inner.typed(Kind::PersistentVolumeClaim, ns, name);
    // A running pod keeps its volume; a new one does not start on a claim going away.
    if claim
        .as_ref()
        .is_some_and(|c| c.metadata.deletion_timestamp.is_some())
    {
        return Err(Error::ContainerConfig(format!(
            "persistentvolumeclaim \"{name}\" is being deleted"
        )));
    }
    let modes = claim.and_then(|c| c.spec?.access_modes).unwrap_or_default();
    if modes.iter().any(|m| m == "ReadWriteOncePod") {
        let holders: Vec<(String, String, String)> = inner
            .list(Kind::Pod)
            .iter()
            .filter(|o| o.namespace.as_deref() == Some(ns))
            .filter_map(|o| serde_json::from_value::<Pod>(o.value.clone()).ok())
            .filter(|p| claim_names(p).iter().any(|c| c == name))
            .map(|p| {
                let m = p.metadata;
                let created = m.creation_timestamp.map(|t| t.0.to_rfc3339());
                (
                    created.unwrap_or_default(),
                    m.name.unwrap_or_default(),
                    m.uid.unwrap_or_default(),
                )
            })
            .collect();
        let me = pod.metadata.uid.as_deref().unwrap_or_default();
        if let Some(holder) = single_pod_holder(&holders)
            && holder != me
        {
            let other = holders.iter().find(|h| h.2 == holder).map(|h| h.1.as_str());
            return Err(Error::ContainerConfig(format!(
                "persistentvolumeclaim \"{name}\" is ReadWriteOncePod and in use by pod \"{}\"",
                other.unwrap_or_default()
            )));
        }
    }
    let fd = beneath::open_dir(&dir).map_err(|e| Error::io("cannot open the volume", &dir, e))?;
    if let Some(g) = gid {
        own(&fd, g).map_err(|e| Error::io("cannot apply fsGroup to", &dir, e.into()))?;
    }
    Ok(())
}

/// Group `gid`, setgid and group-writable on the volume's root (no-op when so).
fn own(fd: &impl AsFd, gid: u32) -> nix::Result<()> {
    let st = fstat(fd.as_fd())?;
    let mode = (st.st_mode & 0o7777) | 0o2070;
    if st.st_gid != gid {
        fchown(fd.as_fd(), None, Some(Gid::from_raw(gid)))?;
    }
    if st.st_mode & 0o7777 != mode || st.st_gid != gid {
        fchmod(fd.as_fd(), Mode::from_bits_truncate(mode))?;
    }
    Ok(())
}
