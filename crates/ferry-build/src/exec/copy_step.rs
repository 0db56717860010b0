//! COPY and ADD: gathers the sources (build context, another stage, an
//! image, heredocs or local archives) into a layer, or takes it from the
//! cache.

use std::collections::BTreeMap;

use super::cache::key;
use super::copy::{self, Attrs, Source};
use super::state::resolve_user;
use super::{Builder, StageRun};
use crate::error::{Error, Result};
use crate::ignore::Ignore;
use crate::parse::{Copy, Step};
use crate::progress::Event;
use ferry_image::build::layer::{Entry, Layer};

impl Builder<'_> {
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

    pub(super) fn copy_step(
        &mut self,
        run: &mut StageRun,
        step: &Step,
        c: &Copy,
        is_add: bool,
    ) -> Result<()> {
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
        let mut entries = Layer::new();
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
                let data = content.into_bytes();
                copy::put(&mut entries, &target, Entry::Data { data, mode }, attrs).map_err(bad)?;
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
