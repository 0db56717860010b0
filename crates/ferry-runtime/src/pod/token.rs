//! A pod's service-account token, mounted read-only at
//! `/var/run/secrets/kubernetes.io/serviceaccount` (`token`, `namespace`,
//! `ca.crt`) as the kubelet mounts it, unless the pod's
//! `automountServiceAccountToken` — or else its ServiceAccount's — is
//! false, or a container mounts something of its own there.
//!
//! The token is a ferry API token of the region's store, created when the
//! pod starts (a pod re-adopted after a restart keeps its own while it is
//! valid) and revoked when it stops for good (`pod::teardown`), so it dies
//! with the pod. Like Kubernetes' bound tokens it expires
//! (`RuntimeConfig::pod_token_ttl`, an hour) and is rotated while the pod
//! runs ([`refresh`]): the file is replaced whole, by rename. It is
//! never logged. Its directory, `<pod dir>/serviceaccount`, is a tmpfs of
//! its own (the token never reaches a disk) inside the pod directory, which
//! is 0700 and root's: no other user of the host reaches it. Modes are
//! Kubernetes': when every container runs as the same explicit
//! `runAsUser`, the files are 0600 and the directory 0700, owned by that
//! user; otherwise the files are 0644 (directory 0755), readable to
//! whichever user the image runs as.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use ferry_api::ServiceAccountRef;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ServiceAccount};
use nix::fcntl::{OFlag, renameat};
use nix::sys::stat::{Mode, fchmod};
use nix::unistd::{Uid, UnlinkatFlags, fchown, unlinkat};

use crate::error::Error;
use crate::kinds::Kind;
use crate::pod::beneath;
use crate::pod::container::{Rt, set_status, waiting};
use crate::runtime::Inner;
use crate::sys;

/// Where containers see the token.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The host directory, beneath the pod's.
pub const DIR: &str = "serviceaccount";

/// The tmpfs holding it (a token, a namespace and a CA certificate).
const TMPFS_BYTES: u64 = 1024 * 1024;

/// The account a pod runs as: `serviceAccountName`, else the deprecated
/// `serviceAccount`, else `default`.
pub fn account_of(pod: &Pod) -> ServiceAccountRef {
    let spec = pod.spec.as_ref();
    let name = spec
        .and_then(|s| s.service_account_name.clone())
        .or_else(|| spec.and_then(|s| s.service_account.clone()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    ServiceAccountRef {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name,
    }
}

/// Whether the token is mounted: the pod's setting wins over the
/// account's; both absent is yes.
pub fn automount(spec: &PodSpec, account: &ServiceAccount) -> bool {
    spec.automount_service_account_token
        .or(account.automount_service_account_token)
        .unwrap_or(true)
}

/// Whether container `c` gets the token mount (not when it mounts a
/// volume of its own at that path).
pub fn mounted_in(c: &Container) -> bool {
    !c.volume_mounts
        .iter()
        .flatten()
        .any(|m| m.mount_path.trim_end_matches('/') == MOUNT_PATH)
}

/// The user owning the files: the `runAsUser` every container shares
/// (container settings over the pod's), if they all set one.
pub fn file_owner(spec: &PodSpec) -> Option<u32> {
    let pod = spec.security_context.as_ref().and_then(|s| s.run_as_user);
    let users: Vec<Option<i64>> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| {
            c.security_context
                .as_ref()
                .and_then(|s| s.run_as_user)
                .or(pod)
        })
        .collect();
    let first = (*users.first()?)?;
    users
        .iter()
        .all(|u| *u == Some(first))
        .then(|| u32::try_from(first).ok())
        .flatten()
}

/// Prepares the token directory of `pod` (in `pod_dir`): `Ok(true)` when a
/// token is mounted, `Ok(false)` when none is, `Err` while the pod cannot
/// start (its ServiceAccount does not exist yet).
pub fn prepare(inner: &Inner, pod: &Pod, pod_dir: &Path, adopted: bool) -> Result<bool, Error> {
    let account = account_of(pod);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let Some(sa) =
        inner.typed::<ServiceAccount>(Kind::ServiceAccount, &account.namespace, &account.name)
    else {
        return Err(Error::ContainerConfig(format!(
            "serviceaccount `{}` not found in namespace `{}`: apply it (only `default` is created with each namespace)",
            account.name, account.namespace
        )));
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let Some(auth) = &inner.cfg.auth else {
        return Ok(false);
    };
    if !automount(&spec, &sa) {
        return Ok(false);
    }
    let dir = pod_dir.join(DIR);
    let now = ferry_auth::now();
    if adopted && dir.join("token").exists() && auth.store().pod_token_valid(&uid, now) {
        return Ok(true);
    }
    let io = |e: std::io::Error| Error::io("cannot write the service-account token in", &dir, e);
    let owner = file_owner(&spec);
    let (file_mode, dir_mode) = modes(owner);
    let pod_fd = beneath::open_dir(pod_dir).map_err(io)?;
    let mut fd = beneath::mkdir_all(&pod_fd, Path::new(DIR), 0o700, None).map_err(io)?;
    if sys::mount_tmpfs(&fd, TMPFS_BYTES)? {
        fd = beneath::mkdir_all(&pod_fd, Path::new(DIR), 0o700, None).map_err(io)?;
    }
    let ttl = inner.cfg.pod_token_ttl.as_secs();
    let secret = auth.store().create_pod_token(&account, &uid, now, ttl)?;
    let ca = inner
        .cfg
        .api
        .as_ref()
        .and_then(|a| a.ca_pem.clone())
        .unwrap_or_default();
    let files: [(&str, &[u8]); 3] = [
        ("token", secret.as_bytes()),
        ("namespace", account.namespace.as_bytes()),
        ("ca.crt", &ca),
    ];
    for (name, data) in files {
        put(&fd, name, data, file_mode, owner).map_err(io)?;
    }
    if let Some(u) = owner {
        fchown(&fd, Some(Uid::from_raw(u)), None).map_err(|e| io(e.into()))?;
    }
    fchmod(&fd, Mode::from_bits_truncate(dir_mode)).map_err(|e| io(e.into()))?;
    tracing::info!(pod = ?pod.metadata.name, namespace = %account.namespace, account = %account.name, "service-account token mounted");
    Ok(true)
}

/// Modes of the token's files and directory for `owner`.
fn modes(owner: Option<u32>) -> (u32, u32) {
    if owner.is_some() {
        (0o600, 0o700)
    } else {
        (0o644, 0o755)
    }
}

/// Writes `name` in `dir` whole or not at all: a temporary file, owned and
/// moded as it will be, renamed over the old one (a container reading the
/// token sees the old or the new, never a partial or unreadable one).
fn put(
    dir: &OwnedFd,
    name: &str,
    data: &[u8],
    mode: u32,
    owner: Option<u32>,
) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = format!("..{name}.tmp");
    let _ = unlinkat(dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
    let fd = beneath::open(dir, Path::new(&tmp), flags, mode)?;
    if let Some(u) = owner {
        fchown(&fd, Some(Uid::from_raw(u)), None)?;
    }
    fchmod(&fd, Mode::from_bits_truncate(mode))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(data)?;
    renameat(dir, tmp.as_str(), dir, name)?;
    Ok(())
}

/// Rotates the running pod's token once a fifth of its life is left: a new
/// one is issued and written over the `token` file (the old one stays
/// valid until it expires, so clients rereading the file carry on).
pub fn refresh(inner: &Inner, pod: &Pod, pod_dir: &Path) {
    let Some(auth) = &inner.cfg.auth else {
        return;
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let (now, ttl) = (ferry_auth::now(), inner.cfg.pod_token_ttl.as_secs());
    let dir = pod_dir.join(DIR);
    if !dir.join("token").exists() || !auth.store().pod_token_due(&uid, now, ttl) {
        return;
    }
    let account = account_of(pod);
    let owner = pod.spec.as_ref().and_then(file_owner);
    let rotated = auth
        .store()
        .rotate_pod_token(&account, &uid, now, ttl)
        .map_err(|e| e.to_string())
        .and_then(|secret| {
            let fd = beneath::open_dir(&dir).map_err(|e| e.to_string())?;
            put(&fd, "token", secret.as_bytes(), modes(owner).0, owner).map_err(|e| e.to_string())
        });
    match rotated {
        Ok(()) => {
            tracing::info!(pod = ?pod.metadata.name, namespace = %account.namespace, "service-account token rotated")
        }
        Err(e) => {
            tracing::error!(pod = ?pod.metadata.name, error = %e, "cannot rotate the service-account token")
        }
    }
}

/// Mounts the pod's service-account token; while its ServiceAccount is
/// missing the containers wait in ContainerCreating, as on Kubernetes.
pub async fn mount(
    inner: &Inner,
    pod: &Pod,
    dir: &Path,
    rt: &Rt,
    apps: &[Container],
    adopted: bool,
) {
    let mut warned = false;
    loop {
        match prepare(inner, pod, dir, adopted) {
            Ok(_) => return,
            Err(why) => {
                let (ns, name) = (
                    pod.metadata.namespace.as_deref(),
                    pod.metadata.name.as_deref(),
                );
                if !warned {
                    let (ns, name) = (ns.unwrap_or_default(), name.unwrap_or_default());
                    inner.event("Pod", ns, name, true, "FailedMount", why.to_string());
                    warned = true;
                }
                for c in apps {
                    set_status(rt, false, &c.name, |s| {
                        s.state = Some(waiting("ContainerCreating", why.to_string()))
                    });
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Revokes the tokens of pod `uid` (it stopped for good, or starts again
/// from scratch).
pub fn revoke(inner: &Inner, uid: &str) {
    if let Some(auth) = &inner.cfg.auth
        && let Err(e) = auth.store().revoke_pod_tokens(uid)
    {
        tracing::error!(pod_uid = uid, error = %e, "cannot revoke the pod's service-account token");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn the_account_defaults_to_default_and_the_pod_setting_wins() {
        let p = pod("metadata: {name: p, namespace: team}\nspec: {containers: [{name: c}]}\n");
        assert_eq!(account_of(&p).name, "default");
        assert_eq!(account_of(&p).namespace, "team");
        let named = pod(
            "metadata: {name: p, namespace: team}\nspec: {serviceAccountName: app, containers: [{name: c}]}\n",
        );
        assert_eq!(account_of(&named).name, "app");
        let sa = |v: Option<bool>| ServiceAccount {
            automount_service_account_token: v,
            ..Default::default()
        };
        let spec = |v: Option<bool>| PodSpec {
            automount_service_account_token: v,
            ..Default::default()
        };
        assert!(automount(&spec(None), &sa(None)));
        assert!(!automount(&spec(None), &sa(Some(false))));
        assert!(automount(&spec(Some(true)), &sa(Some(false))), "pod wins");
        assert!(!automount(&spec(Some(false)), &sa(Some(true))), "pod wins");
    }

    #[test]
    fn files_belong_to_the_user_every_container_shares() {
        let spec = |y: &str| pod(y).spec.unwrap();
        let shared = spec(
            "spec: {securityContext: {runAsUser: 1000}, containers: [{name: a}, {name: b}]}\n",
        );
        assert_eq!(file_owner(&shared), Some(1000));
        let mixed = spec(
            "spec: {securityContext: {runAsUser: 1000}, containers: [{name: a}, {name: b, securityContext: {runAsUser: 2000}}]}\n",
        );
        assert_eq!(file_owner(&mixed), None);
        let unset = spec("spec: {containers: [{name: a}]}\n");
        assert_eq!(file_owner(&unset), None);
        let own = spec(
            "spec: {containers: [{name: a, volumeMounts: [{name: v, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}]}]}\n",
        );
        assert!(!mounted_in(&own.containers[0]));
        assert!(mounted_in(&unset.containers[0]));
    }
}
