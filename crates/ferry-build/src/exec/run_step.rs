//! RUN: runs a command in runc over the stage's root filesystem (or takes
//! the layer from the cache) and turns the filesystem diff into a layer.

use std::collections::BTreeMap;

use serde_json::json;

use super::cache::key;
use super::copy;
use super::diff::{diff, snapshot};
use super::runc::{self, RunSpec};
use super::state::resolve_user;
use super::{Builder, StageRun};
use crate::error::{Error, Result};
use crate::parse::{CmdForm, Run, Step};
use crate::progress::Event;

impl Builder<'_> {
    pub(super) fn run_step(&mut self, run: &mut StageRun, step: &Step, r: &Run) -> Result<()> {
        let pos = &step.pos;
        let argv = match &r.cmd {
            CmdForm::Exec(v) => v.clone(),
            CmdForm::Shell(s) => {
                let mut v = run.state.shell();
                v.push(s.clone());
                v
            }
        };
        let mut env = run.state.env_list();
        for (k, v) in &run.args {
            if run.state.get_env(k).is_none() {
                env.push(format!("{k}={v}"));
            }
        }
        crate::entitlement::check_step(step, &self.opts.allow)?;
        let host_network = match r.network.as_deref() {
            None | Some("default") | Some("none") => false,
            Some("host") => true,
            Some(other) => {
                return Err(Error::invalid(
                    pos,
                    format!("RUN --network={other}: use none, default or host"),
                ));
            }
        };
        let mut binds = Vec::new();
        for m in &r.mounts {
            let opts: BTreeMap<&str, &str> = m
                .split(',')
                .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
                .collect();
            if opts.get("type").copied() != Some("cache") {
                return Err(Error::invalid(
                    pos,
                    format!("RUN --mount={m}: only type=cache mounts are supported"),
                ));
            }
            let target = opts
                .get("target")
                .or(opts.get("dst"))
                .or(opts.get("destination"))
                .copied()
                .ok_or_else(|| {
                    Error::invalid(
                        pos,
                        format!("RUN --mount={m}: a cache mount needs target=<path>"),
                    )
                })?;
            let id = opts.get("id").copied().unwrap_or(target);
            let dir = self.opts.cache_dir.join("mounts").join(hex::encode(
                <sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()),
            ));
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            binds.push((
                dir,
                format!("/{}", copy::clean_rel(target).unwrap_or_default()),
            ));
        }
        let user = run.state.user.clone().unwrap_or_else(|| "0".into());
        let cwd = run.state.workdir.clone().unwrap_or_else(|| "/".into());
        let desc = json!({"argv": argv, "env": env, "user": user, "cwd": cwd, "net": host_network, "mounts": r.mounts}).to_string();
        let k = key(&run.key, &["RUN", &desc]);
        run.key = k.clone();
        if let Some(rec) = self.lookup(&k) {
            return self.push_layer(run, step, rec.layer);
        }
        self.materialize(run)?;
        let (uid, gid, additional_gids) = resolve_user(&run.rootfs, &user)
            .map_err(|m| Error::invalid(pos, format!("USER {user}: {m}")))?;
        let mut skip: Vec<String> = vec!["proc".into(), "sys".into(), "dev".into()];
        skip.extend(
            binds
                .iter()
                .map(|(_, t)| t.trim_start_matches('/').to_string()),
        );
        let existed: Vec<bool> = skip
            .iter()
            .map(|p| run.rootfs.join(p).symlink_metadata().is_ok())
            .collect();
        let before = snapshot(&run.rootfs, &skip).map_err(|e| Error::io(&run.rootfs, e))?;
        let spec = RunSpec {
            rootfs: run.rootfs.clone(),
            args: argv,
            env,
            cwd,
            uid,
            gid,
            additional_gids,
            host_network,
            binds,
        };
        self.tmp_count += 1;
        let bundle = self.work.join(format!("bundle-{}", self.tmp_count));
        let id = format!("ferry-build-{}", uuid::Uuid::new_v4().simple());
        let progress = self.progress;
        let result = runc::run(&bundle, &id, &spec, &mut |l| {
            progress(Event::Output(l.to_string()))
        })?;
        for (p, existed) in skip.iter().zip(existed) {
            if !existed {
                let _ = std::fs::remove_dir(run.rootfs.join(p));
            }
        }
        if result.code != 0 {
            return Err(Error::RunFailed {
                step: format!("{}:{}", pos.file, pos.line),
                instruction: step.text.clone(),
                code: result.code,
                tail: result.tail,
            });
        }
        let after = snapshot(&run.rootfs, &skip).map_err(|e| Error::io(&run.rootfs, e))?;
        let entries = diff(&run.rootfs, &before, &after).map_err(|e| Error::io(&run.rootfs, e))?;
        let layer = if entries.is_empty() {
            None
        } else {
            Some(self.write(&entries)?)
        };
        let layer = self.record(&k, layer)?;
        self.push_layer(run, step, layer)?;
        run.applied = run.state.layers.len();
        Ok(())
    }
}
