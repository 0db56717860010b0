//! One instruction at a time: config-only instructions update the image
//! state and the cache key; RUN runs in runc (or comes from the cache);
//! COPY and ADD build a layer from their sources (or come from the cache).

use std::collections::BTreeMap;

use ferry_image::oci::{Descriptor, MediaType};
use serde_json::json;

use super::cache::{StepRecord, key};
use super::copy::{self, Attrs, Source};
use super::diff::{diff, snapshot};
use super::runc::{self, RunSpec};
use super::state::{History, ImageLayer, resolve_user};
use super::tarball::{self, Entries, Entry, LayerDesc, Node};
use super::{Builder, StageRun};
use crate::error::{Error, Pos, Result};
use crate::expand::expand;
use crate::ignore::Ignore;
use crate::parse::{CmdForm, Copy, Instr, Run, Step};
use crate::progress::Event;

impl Builder<'_> {
    /// Expands `s` with the stage's ENV (first) and ARGs.
    fn sub(&self, run: &StageRun, s: &str, pos: &Pos) -> Result<String> {
        expand(s, self.df.escape, &|n| {
            run.state
                .get_env(n)
                .map(str::to_string)
                .or_else(|| run.args.get(n).cloned())
        })
        .map_err(|m| Error::invalid(pos, m))
    }

    fn config_step(&self, run: &mut StageRun, step: &Step, summary: &str) {
        run.key = key(&run.key, &["CONFIG", summary]);
        run.state.history.push(History {
            created_by: step.text.clone(),
            empty_layer: true,
        });
    }

    fn push_layer(
        &mut self,
        run: &mut StageRun,
        step: &Step,
        layer: Option<LayerDesc>,
    ) -> Result<()> {
        match layer {
            Some(l) => {
                let digest = ferry_image::digest::parse(&l.digest).map_err(|e| Error::Image {
                    context: "layer digest".into(),
                    message: e.to_string(),
                })?;
                run.state.layers.push(ImageLayer {
                    descriptor: Descriptor::new(MediaType::ImageLayerGzip, l.size, digest),
                    diff_id: l.diff_id,
                });
                run.state.history.push(History {
                    created_by: step.text.clone(),
                    empty_layer: false,
                });
            }
            None => run.state.history.push(History {
                created_by: step.text.clone(),
                empty_layer: true,
            }),
        }
        Ok(())
    }

    /// A cached record for `k`, unless `--no-cache`.
    fn lookup(&mut self, k: &str) -> Option<StepRecord> {
        if self.opts.no_cache {
            return None;
        }
        let rec = self.cache.get(k, &self.store)?;
        self.cached += 1;
        (self.progress)(Event::Cached);
        Some(rec)
    }

    fn record(&mut self, k: &str, layer: Option<LayerDesc>) -> Result<Option<LayerDesc>> {
        self.ran += 1;
        if let Some(l) = &layer {
            (self.progress)(Event::Layer {
                digest: l.digest.clone(),
                size: l.size,
            });
        }
        self.cache
            .put(
                k,
                &StepRecord {
                    layer: layer.clone(),
                },
            )
            .map_err(|m| Error::Image {
                context: "write step cache".into(),
                message: m,
            })?;
        Ok(layer)
    }

    pub(super) fn step(&mut self, _stage: usize, run: &mut StageRun, step: &Step) -> Result<()> {
        let pos = &step.pos;
        match &step.instr {
            Instr::Arg(decls) => {
                for a in decls {
                    let value = match (self.opts.build_args.get(&a.name), &a.default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(d)) => Some(self.sub(run, d, pos)?),
                        (None, None) => self.meta.get(&a.name).cloned(),
                    };
                    if let Some(v) = value {
                        run.args.insert(a.name.clone(), v.clone());
                        run.key = key(&run.key, &["ARG", &a.name, &v]);
                    }
                }
            }
            Instr::Env(pairs) => {
                for (k, v) in pairs {
                    let (k, v) = (self.sub(run, k, pos)?, self.sub(run, v, pos)?);
                    run.state.set_env(&k, &v);
                }
                self.config_step(run, step, &format!("ENV {:?}", run.state.env));
            }
            Instr::Label(pairs) => {
                for (k, v) in pairs {
                    let (k, v) = (self.sub(run, k, pos)?, self.sub(run, v, pos)?);
                    run.state.labels.insert(k, v);
                }
                self.config_step(run, step, &format!("LABEL {:?}", run.state.labels));
            }
            Instr::Workdir(w) => {
                let w = self.sub(run, w, pos)?;
                let joined = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{w}", run.state.workdir.clone().unwrap_or_default())
                };
                let clean = format!("/{}", copy::clean_rel(&joined).unwrap_or_default());
                self.config_step(run, step, &format!("WORKDIR {clean}"));
                run.state.workdir = Some(clean);
            }
            Instr::User(u) => {
                let u = self.sub(run, u, pos)?;
                self.config_step(run, step, &format!("USER {u}"));
                run.state.user = Some(u);
            }
            Instr::Expose(ports) => {
                for p in ports {
                    let p = self.sub(run, p, pos)?;
                    let (num, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
                    let proto = proto.to_ascii_lowercase();
                    let ok = |n: &str| n.parse::<u16>().is_ok_and(|n| n > 0);
                    let range_ok = match num.split_once('-') {
                        Some((a, b)) => ok(a) && ok(b),
                        None => ok(num),
                    };
                    if !range_ok || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
                        return Err(Error::invalid(
                            pos,
                            format!("EXPOSE: invalid port `{p}` (use e.g. 80, 80/tcp, 53/udp)"),
                        ));
                    }
                    run.state.ports.insert(format!("{num}/{proto}"));
                }
                self.config_step(run, step, &format!("EXPOSE {:?}", run.state.ports));
            }
            Instr::Volume(vs) => {
                for v in vs {
                    let v = self.sub(run, v, pos)?;
                    run.state.volumes.insert(v);
                }
                self.config_step(run, step, &format!("VOLUME {:?}", run.state.volumes));
            }
            Instr::StopSignal(s) => {
                let s = self.sub(run, s, pos)?;
                self.config_step(run, step, &format!("STOPSIGNAL {s}"));
                run.state.stop_signal = Some(s);
            }
            Instr::Cmd(form) | Instr::Entrypoint(form) => {
                let argv = match form {
                    CmdForm::Exec(v) => v.clone(),
                    CmdForm::Shell(s) => {
                        let mut v = run.state.shell();
                        v.push(s.clone());
                        v
                    }
                };
                if matches!(step.instr, Instr::Cmd(_)) {
                    run.state.cmd = Some(argv.clone());
                    run.cmd_set = true;
                } else {
                    run.state.entrypoint = Some(argv.clone());
                    if !run.cmd_set {
                        run.state.cmd = None;
                    }
                }
                self.config_step(run, step, &format!("{} {argv:?}", step.instr.keyword()));
            }
            Instr::Healthcheck(h) => {
                run.state.healthcheck = Some(h.clone());
                self.config_step(run, step, &format!("HEALTHCHECK {h:?}"));
            }
            Instr::Shell(sh) => {
                run.state.shell = Some(sh.clone());
                self.config_step(run, step, &format!("SHELL {sh:?}"));
            }
            Instr::Run(r) => self.run_step(run, step, r)?,
            Instr::Copy(c) => self.copy_step(run, step, c, false)?,
            Instr::Add(c) => self.copy_step(run, step, c, true)?,
        }
        Ok(())
    }

    fn run_step(&mut self, run: &mut StageRun, step: &Step, r: &Run) -> Result<()> {
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

    fn write(&self, entries: &Entries) -> Result<LayerDesc> {
        tarball::write_layer(&self.store, entries)
    }

    /// True when `path` (relative) is a directory in the stage's image so
    /// far: from the unpacked tree when it is current, else from the layers'
    /// tar headers, newest first.
    fn is_dir_in_image(&self, run: &StageRun, path: &str) -> Result<bool> {
        if path.is_empty() {
            return Ok(true);
        }
        if run.applied == run.state.layers.len() && !run.state.layers.is_empty() {
            return Ok(run.rootfs.join(path).is_dir());
        }
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let whiteout = if parent.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{parent}/.wh.{name}")
        };
        for l in run.state.layers.iter().rev() {
            let digest = l.descriptor.digest().to_string();
            let blob = self.store.blob_path(&digest);
            let f = std::fs::File::open(&blob).map_err(|e| Error::io(&blob, e))?;
            let mut buf = std::io::BufReader::new(f);
            let head = std::io::BufRead::fill_buf(&mut buf)
                .map_err(|e| Error::io(&blob, e))?
                .to_vec();
            let reader: Box<dyn std::io::Read> = if head.starts_with(&[0x1f, 0x8b]) {
                Box::new(flate2::read::GzDecoder::new(buf))
            } else {
                Box::new(buf)
            };
            let mut ar = tar::Archive::new(reader);
            let entries = ar.entries().map_err(|e| Error::io(&blob, e))?;
            for e in entries {
                let e = e.map_err(|e| Error::io(&blob, e))?;
                let p = e
                    .path()
                    .map_err(|e| Error::io(&blob, e))?
                    .to_string_lossy()
                    .into_owned();
                let p = p.trim_start_matches("./").trim_end_matches('/');
                if p == path {
                    return Ok(e.header().entry_type().is_dir());
                }
                if p == whiteout {
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    fn copy_step(&mut self, run: &mut StageRun, step: &Step, c: &Copy, is_add: bool) -> Result<()> {
        let pos = &step.pos;
        let kw = if is_add { "ADD" } else { "COPY" };
        let bad = |m: String| Error::invalid(pos, format!("{kw}: {m}"));
        // With --from, the source stage's cache key (or the image digest)
        // stands for its content: a hit needs no unpacking at all.
        let mut from_key: Option<String> = None;
        if let Some(from) = &c.from {
            let from = self.sub(run, from, pos)?;
            let id = match self.df.stage_index(&from) {
                Some(j) => self.done[j].as_ref().map(|o| o.key.clone()),
                None => {
                    let progress = self.progress;
                    let img = super::base::resolve(&self.store, &from, &|r| {
                        progress(Event::Pulling(r.to_string()))
                    })
                    .map_err(|e| bad(e.to_string()))?;
                    Some(img.digest())
                }
            };
            if let Some(id) = id {
                let mut parts = vec![
                    kw.to_string(),
                    "from".into(),
                    id,
                    self.sub(run, &c.dest, pos)?,
                ];
                for src in &c.srcs {
                    parts.push(self.sub(run, src, pos)?);
                }
                for o in [&c.chown, &c.chmod] {
                    parts.push(match o {
                        Some(v) => self.sub(run, v, pos)?,
                        None => String::new(),
                    });
                }
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                let k = key(&run.key, &refs);
                if let Some(rec) = self.lookup(&k) {
                    run.key = k;
                    return self.push_layer(run, step, rec.layer);
                }
                from_key = Some(k);
            }
        }
        // Where sources come from.
        let mut from_run: Option<StageRun> = None;
        if let Some(from) = &c.from {
            let from = self.sub(run, from, pos)?;
            match self.df.stage_index(&from) {
                Some(j) => {
                    let mut other = self.done[j]
                        .clone()
                        .ok_or_else(|| bad(format!("stage `{from}` was not built")))?;
                    self.materialize(&mut other)?;
                    // keep the unpacked tree for later COPY --from of the same stage
                    self.done[j] = Some(other.clone());
                    from_run = Some(other);
                }
                None => {
                    let progress = self.progress;
                    let img = super::base::resolve(&self.store, &from, &|r| {
                        progress(Event::Pulling(r.to_string()))
                    })
                    .map_err(|e| bad(e.to_string()))?;
                    let rootfs = self.new_rootfs()?;
                    let mut other = StageRun {
                        state: super::state::ImageState::from_image(
                            &img.config,
                            img.manifest.layers(),
                        ),
                        key: String::new(),
                        args: BTreeMap::new(),
                        rootfs,
                        applied: 0,
                        cmd_set: false,
                    };
                    self.materialize(&mut other)?;
                    from_run = Some(other);
                }
            }
        }
        // Ownership and mode.
        let mut attrs = Attrs::default();
        if let Some(ch) = &c.chown {
            let ch = self.sub(run, ch, pos)?;
            let numeric = ch.split(':').all(|p| p.parse::<u32>().is_ok());
            if !numeric {
                self.materialize(run)?;
            }
            let (uid, gid, _) =
                resolve_user(&run.rootfs, &ch).map_err(|m| bad(format!("--chown={ch}: {m}")))?;
            attrs.uid = uid;
            attrs.gid = gid;
        }
        if let Some(m) = &c.chmod {
            let m = self.sub(run, m, pos)?;
            attrs.chmod = Some(
                u32::from_str_radix(&m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| bad(format!("--chmod={m}: expected an octal mode like 0644")))?,
            );
        }
        // Destination.
        let dest_raw = self.sub(run, &c.dest, pos)?;
        let dest_abs = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!(
                "{}/{dest_raw}",
                run.state.workdir.clone().unwrap_or_default()
            )
        };
        let dest = copy::clean_rel(&dest_abs)
            .ok_or_else(|| bad(format!("destination `{dest_raw}` climbs above /")))?;
        let dir_hint = dest_raw.ends_with('/')
            || dest_raw == "."
            || dest_raw.ends_with("/.")
            || dest.is_empty();
        let mut entries = Entries::new();
        let mut srcs: Vec<String> = Vec::new();
        for s in &c.srcs {
            if c.heredocs
                .iter()
                .any(|h| s == &format!("<<{}", h.name) || s == &format!("<<-{}", h.name))
            {
                srcs.push(s.clone());
            } else {
                srcs.push(self.sub(run, s, pos)?);
            }
        }
        let multi = srcs.len() > 1 || srcs.iter().any(|s| s.contains(['*', '?', '[']));
        if multi && !dir_hint {
            return Err(bad(format!(
                "with several sources the destination must be a directory ending in `/` (got `{dest_raw}`)"
            )));
        }
        let ctx_root = self.opts.context.clone();
        let rootfs_root = from_run.as_ref().map(|r| r.rootfs.clone());
        // `COPY file /existing-dir` copies into the directory, as docker does.
        let single_file = !multi
            && !dir_hint
            && srcs.len() == 1
            && !srcs[0].starts_with("<<")
            && copy::clean_rel(&srcs[0])
                .is_some_and(|r| rootfs_root.as_ref().unwrap_or(&ctx_root).join(r).is_file());
        let dir_hint = dir_hint || (single_file && self.is_dir_in_image(run, &dest)?);
        let mut excludes = Vec::new();
        for e in &c.exclude {
            excludes.push(self.sub(run, e, pos)?);
        }
        let ignore = self.ignore.with(&pos.file, &excludes)?;
        let exclude = Ignore::default().with(&pos.file, &excludes)?;
        let source = match &rootfs_root {
            Some(r) => Source {
                root: r,
                ignore: (!excludes.is_empty()).then_some(&exclude),
                is_rootfs: true,
            },
            None => Source {
                root: &ctx_root,
                ignore: Some(&ignore),
                is_rootfs: false,
            },
        };
        let mut extracted = Vec::new();
        for src in &srcs {
            if let Some(h) = c
                .heredocs
                .iter()
                .find(|h| src == &format!("<<{}", h.name) || src == &format!("<<-{}", h.name))
            {
                let content = if h.expand {
                    self.sub(run, &h.content, pos)
                        .unwrap_or_else(|_| h.content.clone())
                } else {
                    h.content.clone()
                };
                let target = if dir_hint {
                    copy::join(&dest, &h.name)
                } else {
                    dest.clone()
                };
                let mode = attrs.chmod.unwrap_or(0o644);
                entries.insert(
                    target,
                    Entry {
                        node: Node::Data(content.into_bytes()),
                        mode,
                        uid: attrs.uid,
                        gid: attrs.gid,
                    },
                );
                continue;
            }
            if is_add
                && (src.starts_with("http://")
                    || src.starts_with("https://")
                    || src.starts_with("git@"))
            {
                return Err(bad(format!(
                    "remote source `{src}` is not supported: ferry builds only read the local context; download it with RUN or put it in the context"
                )));
            }
            for rel in copy::expand_source(&source, src).map_err(bad)? {
                let host = source.root.join(&rel);
                if is_add && from_run.is_none() && host.is_file() && copy::is_archive(&host) {
                    // ADD of a local tarball: extract it, then copy the tree.
                    let canon = host
                        .canonicalize()
                        .map_err(|e| bad(format!("`{src}`: {e}")))?;
                    if !canon.starts_with(
                        ctx_root
                            .canonicalize()
                            .map_err(|e| Error::io(&ctx_root, e))?,
                    ) {
                        return Err(bad(format!("source `{src}` is outside the build context")));
                    }
                    let dir = self.new_rootfs()?;
                    let f = std::fs::File::open(&canon).map_err(|e| Error::io(&canon, e))?;
                    ferry_image::unpack::unpack_layer(f, &dir, src, None, &Default::default())
                        .map_err(|e| bad(format!("extract `{src}`: {e}")))?;
                    extracted.push((dir, rel));
                    continue;
                }
                copy::add_source(
                    &source,
                    &rel,
                    src,
                    &dest,
                    dir_hint || multi,
                    attrs,
                    &mut entries,
                )
                .map_err(bad)?;
            }
        }
        for (dir, rel) in &extracted {
            let s = Source {
                root: dir,
                ignore: None,
                is_rootfs: true,
            };
            copy::add_source(&s, "", rel, &dest, true, attrs, &mut entries).map_err(bad)?;
        }
        let digest = copy::entries_digest(&entries).map_err(bad)?;
        let k = from_key.unwrap_or_else(|| key(&run.key, &[kw, &dest, &digest]));
        run.key = k.clone();
        if let Some(rec) = self.lookup(&k) {
            return self.push_layer(run, step, rec.layer);
        }
        let layer = if entries.is_empty() {
            None
        } else {
            Some(self.write(&entries)?)
        };
        let layer = self.record(&k, layer)?;
        self.push_layer(run, step, layer)
    }
}
