//! The image configuration a stage accumulates (env, user, workdir, cmd,
//! entrypoint, ports, labels, volumes, stop signal, healthcheck, shell,
//! layers and history), seeded from the base image's config, and its
//! rendering into an OCI image config (plus Docker's `Healthcheck` and
//! `Shell` extensions) with a fixed creation time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use ferry_image::build::DEFAULT_PATH;
use ferry_image::build::{ConfigSpec, HistoryEntry};
use ferry_image::oci::{Descriptor, ImageConfiguration};
use serde_json::json;

use crate::error::{Error, InputError, Result};
use crate::parse::Healthcheck;

/// One layer of the image: its blob descriptor and uncompressed digest.
#[derive(Debug, Clone)]
pub struct ImageLayer {
    pub descriptor: Descriptor,
    pub diff_id: String,
}

/// A history entry.
#[derive(Debug, Clone)]
pub struct History {
    pub created_by: String,
    pub empty_layer: bool,
}

/// What a stage has built so far.
#[derive(Debug, Clone, Default)]
pub struct ImageState {
    pub env: Vec<(String, String)>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub ports: BTreeSet<String>,
    pub volumes: BTreeSet<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<Option<Healthcheck>>,
    pub shell: Option<Vec<String>>,
    pub layers: Vec<ImageLayer>,
    pub history: Vec<History>,
}

impl ImageState {
    /// The state of a base image.
    pub fn from_image(config: &ImageConfiguration, layers: &[Descriptor]) -> Self {
        let mut s = ImageState::default();
        if let Some(c) = config.config() {
            for kv in c.env().clone().unwrap_or_default() {
                let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                s.set_env(k, v);
            }
            s.cmd = c.cmd().clone();
            s.entrypoint = c.entrypoint().clone();
            s.workdir = c.working_dir().clone().filter(|w| !w.is_empty());
            s.user = c.user().clone().filter(|u| !u.is_empty());
            s.labels = c.labels().clone().unwrap_or_default().into_iter().collect();
            s.ports = c
                .exposed_ports()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            s.volumes = c
                .volumes()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            s.stop_signal = c.stop_signal().clone();
        }
        let diff_ids = config.rootfs().diff_ids();
        s.layers = layers
            .iter()
            .zip(diff_ids)
            .map(|(d, id)| ImageLayer {
                descriptor: d.clone(),
                diff_id: id.clone(),
            })
            .collect();
        s.history = config
            .history()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|h| History {
                created_by: h.created_by().clone().unwrap_or_default(),
                empty_layer: h.empty_layer().unwrap_or(false),
            })
            .collect();
        s
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        match self.env.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1 = v.to_string(),
            None => self.env.push((k.to_string(), v.to_string())),
        }
    }

    pub fn get_env(&self, k: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(ek, _)| ek == k)
            .map(|(_, v)| v.as_str())
    }

    /// `KEY=value` strings with PATH defaulted.
    pub fn env_list(&self) -> Vec<String> {
        let mut out: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if self.get_env("PATH").is_none() {
            out.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        out
    }

    /// The shell for shell-form commands.
    pub fn shell(&self) -> Vec<String> {
        self.shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// The image config in the image toolkit's terms.
    fn config_spec(&self) -> ConfigSpec {
        ConfigSpec {
            env: self.env_list(),
            entrypoint: self.entrypoint.clone(),
            cmd: self.cmd.clone(),
            working_dir: self.workdir.clone(),
            user: self.user.clone(),
            labels: self.labels.clone(),
            exposed_ports: self.ports.iter().cloned().collect(),
            volumes: self.volumes.iter().cloned().collect(),
            stop_signal: self.stop_signal.clone(),
            history: self
                .history
                .iter()
                .map(|h| HistoryEntry {
                    created_by: h.created_by.clone(),
                    empty_layer: h.empty_layer,
                })
                .collect(),
            diff_ids: self.layers.iter().map(|l| l.diff_id.clone()).collect(),
        }
    }

    /// The OCI config as JSON, Docker extensions included.
    pub fn config_json(&self) -> Result<serde_json::Value> {
        let err = |e: ferry_image::Error| Error::Options(e.to_string());
        let cfg = self.config_spec().to_oci().map_err(err)?;
        let mut v =
            serde_json::to_value(&cfg).map_err(|e| Error::Options(format!("image config: {e}")))?;
        if let Some(conf) = v.get_mut("config").and_then(|c| c.as_object_mut()) {
            if let Some(Some(h)) = &self.healthcheck {
                let ns = |d: Option<std::time::Duration>| d.map(|d| d.as_nanos() as u64);
                conf.insert(
                    "Healthcheck".into(),
                    json!({"Test": h.test, "Interval": ns(h.interval), "Timeout": ns(h.timeout),
                           "StartPeriod": ns(h.start_period), "StartInterval": ns(h.start_interval), "Retries": h.retries}),
                );
            } else if let Some(None) = &self.healthcheck {
                conf.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
            }
            if let Some(sh) = &self.shell {
                conf.insert("Shell".into(), json!(sh));
            }
        }
        Ok(v)
    }
}

/// Resolves `user[:group]` (names or numbers) against the stage's
/// `/etc/passwd` and `/etc/group`: `(uid, gid, supplementary gids)`.
pub fn resolve_user(
    rootfs: &Path,
    spec: &str,
) -> std::result::Result<(u32, u32, Vec<u32>), InputError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let groups = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let (uid, mut gid) = match user.parse::<u32>() {
        Ok(uid) => {
            let gid = passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 3 && f[2] == user)
                .and_then(|f| f[3].parse().ok())
                .unwrap_or(uid);
            (uid, gid)
        }
        Err(_) => passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[0] == user)
            .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .ok_or_else(|| InputError::UnknownUser(user.to_string()))?,
    };
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| InputError::UnknownGroup(g.to_string()))?,
        };
    }
    let name = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid.to_string())
        .map(|f| f[0].to_string());
    let extra = match (group, name) {
        (None, Some(name)) => groups
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() > 3 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect(),
        _ => Vec::new(),
    };
    Ok((uid, gid, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_by_name_and_number() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\napp:x:1001:\nweb:x:33:app\n",
        )
        .unwrap();
        assert_eq!(
            resolve_user(d.path(), "app").unwrap(),
            (1000, 1001, vec![33])
        );
        assert_eq!(
            resolve_user(d.path(), "app:web").unwrap(),
            (1000, 33, vec![])
        );
        assert_eq!(resolve_user(d.path(), "42").unwrap(), (42, 42, vec![]));
        assert_eq!(resolve_user(d.path(), "1000:7").unwrap(), (1000, 7, vec![]));
        let ghost = resolve_user(d.path(), "ghost").unwrap_err();
        assert!(matches!(&ghost, InputError::UnknownUser(u) if u == "ghost"));
        assert!(ghost.to_string().contains("/etc/passwd"), "{ghost}");
    }
}
