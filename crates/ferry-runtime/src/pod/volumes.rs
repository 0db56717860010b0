//! A pod's files on the host: volumes (emptyDir, configMap and secret
//! rendered as files and refreshed when the object changes, hostPath when
//! allowed), the hosts file naming every Service, and the environment
//! built from `env`/`envFrom`.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use ferry_core::mesh::ServiceSnapshot;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};

use crate::error::Error;
use crate::kinds::Kind;
use crate::local_paths;
use crate::pod::beneath;
use crate::runtime::Inner;

/// The files of a configMap or secret volume, `None` when the object is missing.
pub fn volume_files(
    inner: &Inner,
    ns: &str,
    pod: &Pod,
    volume: &str,
) -> Option<Result<BTreeMap<String, Vec<u8>>, Error>> {
    let v = pod
        .spec
        .as_ref()?
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == volume)?;
    let (data, items, optional, what) = if let Some(cm) = &v.config_map {
        let obj: Option<ConfigMap> = inner.typed(Kind::ConfigMap, ns, &cm.name);
        let data = obj.map(|c| {
            let mut d: BTreeMap<String, Vec<u8>> = c
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            d.extend(
                c.binary_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0)),
            );
            d
        });
        (
            data,
            cm.items.clone(),
            cm.optional.unwrap_or(false),
            format!("configmap `{}`", cm.name),
        )
    } else if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let obj: Option<Secret> = inner.typed(Kind::Secret, ns, &name);
        let data = obj.map(secret_data);
        (
            data,
            s.items.clone(),
            s.optional.unwrap_or(false),
            format!("secret `{name}`"),
        )
    } else {
        return None;
    };
    Some(match data {
        None if optional => Ok(BTreeMap::new()),
        None => Err(Error::ContainerConfig(format!(
            "{what} not found (create it, or mark the volume optional)"
        ))),
        Some(data) => match items {
            None => Ok(data),
            Some(items) => items
                .iter()
                .map(|i| {
                    data.get(&i.key)
                        .map(|d| (i.path.clone(), d.clone()))
                        .ok_or_else(|| {
                            Error::ContainerConfig(format!("{what} has no key `{}`", i.key))
                        })
                })
                .collect(),
        },
    })
}

fn secret_data(s: Secret) -> BTreeMap<String, Vec<u8>> {
    let mut d: BTreeMap<String, Vec<u8>> = s
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    d.extend(
        s.string_data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes())),
    );
    d
}

/// Writes `files` into the volume directory `dir` (each atomically, each
/// path resolved beneath `dir`), removing stale entries; returns true when
/// anything changed.
pub fn sync_dir(
    dir: &OwnedFd,
    files: &BTreeMap<String, Vec<u8>>,
    mode: u32,
    gid: Option<u32>,
) -> std::io::Result<bool> {
    let mut changed = false;
    for (name, data) in files {
        if let Some(why) = local_paths::item_path_problem(name) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
        }
        if beneath::read(dir, Path::new(name)).as_deref() == Some(&data[..]) {
            continue;
        }
        beneath::write(dir, Path::new(name), data, mode, gid)?;
        changed = true;
    }
    for name in beneath::entries(dir)? {
        if !files
            .keys()
            .any(|k| k == &name || k.starts_with(&format!("{name}/")))
        {
            let _ = beneath::remove(dir, &name);
            changed = true;
        }
    }
    Ok(changed)
}

/// Opens (creating, with `mode`) the directory of volume `name` beneath
/// the pod's, group-owned by `gid` (setgid) when the pod sets `fsGroup`.
pub fn open_volume(
    pod_dir: &Path,
    name: &str,
    mode: u32,
    gid: Option<u32>,
) -> std::io::Result<OwnedFd> {
    let rel = volume_rel(name)
        .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
    let pod = beneath::open_dir(pod_dir)?;
    let volumes = beneath::mkdir_all(&pod, Path::new("volumes"), 0o755, None)?;
    beneath::mkdir_all(
        &volumes,
        Path::new(&rel.file_name().unwrap_or_default()),
        mode,
        gid,
    )
}

/// The hosts file of a pod in namespace `ns` named `hostname`.
pub fn hosts_file(snapshot: &ServiceSnapshot, hostname: &str) -> String {
    let mut out = format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost\n");
    for s in snapshot.services.values() {
        let (n, ns) = (&s.key.name, &s.key.namespace);
        out.push_str(&format!(
            "{}\t{n}.{ns}.svc.cluster.local {n}.{ns}.svc {n}.{ns}\n",
            s.vip
        ));
    }
    out
}

/// Adds bare `svc` names for Services in the pod's own namespace.
pub fn hosts_for(snapshot: &ServiceSnapshot, ns: &str, hostname: &str) -> String {
    let mut out = hosts_file(snapshot, hostname);
    for s in snapshot.services.values().filter(|s| s.key.namespace == ns) {
        out.push_str(&format!("{}\t{}\n", s.vip, s.key.name));
    }
    out
}

/// Rewrites the hosts file in place (it is bind-mounted, so the inode stays).
pub fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text)
}

/// The container's environment (`NAME=value`), or why it cannot be built
/// (the container then waits in CreateContainerConfigError).
pub fn environment(
    inner: &Inner,
    pod: &Pod,
    c: &Container,
    image_env: &[String],
) -> Result<Vec<String>, Error> {
    let bad = |m: String| Error::ContainerConfig(m);
    let meta = &pod.metadata;
    let ns = meta.namespace.clone().unwrap_or_default();
    let mut env: Vec<(String, String)> = image_env
        .iter()
        .filter_map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    fn set(env: &mut Vec<(String, String)>, k: String, v: String) {
        env.retain(|(ek, _)| *ek != k);
        env.push((k, v));
    }
    set(
        &mut env,
        "HOSTNAME".into(),
        meta.name.clone().unwrap_or_default(),
    );
    if inner.cfg.api.is_some() {
        for (k, val) in crate::api_service::environment(inner.cfg.vip_base) {
            set(&mut env, k, val);
        }
    }
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let data = if let Some(r) = &from.config_map_ref {
            match inner.typed::<ConfigMap>(Kind::ConfigMap, &ns, &r.name) {
                Some(cm) => cm.data.unwrap_or_default(),
                None if r.optional == Some(true) => BTreeMap::new(),
                None => return Err(bad(format!("configmap `{}` not found", r.name))),
            }
        } else if let Some(r) = &from.secret_ref {
            match inner.typed::<Secret>(Kind::Secret, &ns, &r.name) {
                Some(s) => secret_data(s)
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                    .collect(),
                None if r.optional == Some(true) => BTreeMap::new(),
                None => return Err(bad(format!("secret `{}` not found", r.name))),
            }
        } else {
            BTreeMap::new()
        };
        for (k, v) in data {
            set(&mut env, format!("{prefix}{k}"), v);
        }
    }
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (_, Some(from)) => {
                if let Some(r) = &from.config_map_key_ref {
                    let cm: Option<ConfigMap> = inner.typed(Kind::ConfigMap, &ns, &r.name);
                    match cm.and_then(|c| c.data.unwrap_or_default().get(&r.key).cloned()) {
                        Some(v) => v,
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(bad(format!(
                                "configmap `{}` key `{}` not found (env {})",
                                r.name, r.key, e.name
                            )));
                        }
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let s: Option<Secret> = inner.typed(Kind::Secret, &ns, &r.name);
                    match s.and_then(|s| secret_data(s).get(&r.key).cloned()) {
                        Some(v) => String::from_utf8_lossy(&v).into_owned(),
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(bad(format!(
                                "secret `{}` key `{}` not found (env {})",
                                r.name, r.key, e.name
                            )));
                        }
                    }
                } else if let Some(f) = &from.field_ref {
                    match f.field_path.as_str() {
                        "metadata.name" => meta.name.clone().unwrap_or_default(),
                        "metadata.namespace" => ns.clone(),
                        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
                        "status.podIP" | "status.hostIP" => "127.0.0.1".into(),
                        "spec.nodeName" => inner.cfg.node_name.clone(),
                        p if p.starts_with("metadata.labels['") => {
                            let k = p
                                .trim_start_matches("metadata.labels['")
                                .trim_end_matches("']");
                            meta.labels
                                .as_ref()
                                .and_then(|l| l.get(k).cloned())
                                .unwrap_or_default()
                        }
                        other => {
                            return Err(bad(format!(
                                "fieldRef `{other}` is not supported (env {})",
                                e.name
                            )));
                        }
                    }
                } else {
                    return Err(bad(format!(
                        "env {}: resourceFieldRef is not supported",
                        e.name
                    )));
                }
            }
            (Some(v), None) => expand(v, &env),
            (None, None) => String::new(),
        };
        set(&mut env, e.name.clone(), value);
    }
    Ok(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// Expands `$(VAR)` references to earlier variables, as Kubernetes does.
fn expand(v: &str, env: &[(String, String)]) -> String {
    let mut out = v.to_string();
    for (k, val) in env {
        out = out.replace(&format!("$({k})"), val);
    }
    out
}

/// Host directory of volume `name` of a pod; the name must be a DNS-1123
/// label (apply checks it; this keeps a stored object from older versions
/// from naming `/` or `..`).
pub fn volume_dir(pod_dir: &Path, name: &str) -> Result<PathBuf, Error> {
    Ok(pod_dir.join(volume_rel(name)?))
}

fn volume_rel(name: &str) -> Result<PathBuf, Error> {
    match local_paths::volume_name_problem(name) {
        Some(why) => Err(Error::ContainerConfig(why)),
        None => Ok(Path::new("volumes").join(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_dir_writes_and_prunes() {
        let d = tempfile::tempdir().unwrap();
        let fd = beneath::open_dir(d.path()).unwrap();
        let mut files = BTreeMap::from([
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), b"2".to_vec()),
        ]);
        assert!(sync_dir(&fd, &files, 0o644, None).unwrap());
        assert!(!sync_dir(&fd, &files, 0o644, None).unwrap());
        files.remove("b");
        files.insert("a".into(), b"3".to_vec());
        assert!(sync_dir(&fd, &files, 0o644, None).unwrap());
        assert_eq!(std::fs::read(d.path().join("a")).unwrap(), b"3");
        assert!(!d.path().join("b").exists());
    }

    /// Issue 17: an emptyDir named `/` made the volume's host directory `/`
    /// (`Path::join` with an absolute name replaces the base).
    #[test]
    fn volume_named_slash_or_dotdot_has_no_host_dir() {
        let pod = Path::new("/data/pods/u1");
        assert_eq!(volume_dir(pod, "web").unwrap(), pod.join("volumes/web"));
        for bad in ["/", "..", "../../etc", "a/b", ""] {
            assert!(volume_dir(pod, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expand_refers_to_earlier_vars() {
        assert_eq!(
            expand("http://$(HOST):80", &[("HOST".into(), "x".into())]),
            "http://x:80"
        );
    }
}
