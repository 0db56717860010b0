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
    pub(super) fn copy_step(
        &mut self,
        run: &mut StageRun,
        step: &Step,
        c: &Copy,
        is_add: bool,
    ) -> Result<()> {
        let kw = if is_add { "ADD" } else { "COPY" };
        let pos = &step.pos;
        let bad = |m: String| Error::invalid(pos, format!("{kw}: {m}"));
        // With --from, the source stage's cache key (or the image digest)
        // stands for its content: a hit needs no unpacking at all.
        let from_key = self.copy_from_key(run, step, c, kw, &bad)?;
        if let Some(k) = &from_key
            && let Some(rec) = self.lookup(k)
        {
            run.key = k.clone();
            return self.push_layer(run, step, rec.layer);
        }
        let from_run = self.copy_source_tree(run, step, c, &bad)?;
        let attrs = self.copy_attrs(run, step, c, &bad)?;
        let mut dest = self.copy_dest(run, step, c, &bad)?;
        let srcs = self.copy_sources(run, step, c)?;
        let multi = srcs.len() > 1 || srcs.iter().any(|s| s.contains(['*', '?', '[']));
        if multi && !dest.dir {
            return Err(bad(format!(
                "with several sources the destination must be a directory ending in `/` (got `{}`)",
                dest.raw
            )));
        }
        let root = match &from_run {
            Some(r) => r.rootfs.clone(),
            None => self.opts.context.clone(),
        };
        // `COPY file /existing-dir` copies into the directory, as docker does.
        let single_file = !multi
            && !dest.dir
            && srcs.len() == 1
            && !srcs[0].starts_with("<<")
            && copy::clean_rel(&srcs[0]).is_some_and(|r| root.join(r).is_file());
        dest.dir = dest.dir || (single_file && self.is_dir_in_image(run, &dest.path)?);
        let gather = Gather {
            c,
            srcs: &srcs,
            dest: &dest,
            multi,
            attrs,
            is_add,
            from_rootfs: from_run.is_some(),
        };
        let entries = self.copy_entries(run, step, &gather, &root, &bad)?;
        let digest = copy::entries_digest(&entries).map_err(|e| bad(e.to_string()))?;
        let k = from_key.unwrap_or_else(|| key(&run.key, &[kw, &dest.path, &digest]));
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

    /// For `--from`, the step's cache key: the source stage's key or the
    /// image's digest stands for the content. `None` without `--from`, or
    /// when the source stage has no key yet.
    fn copy_from_key(
        &self,
        run: &StageRun,
        step: &Step,
        c: &Copy,
        kw: &str,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Option<String>> {
        let pos = &step.pos;
        let Some(from) = &c.from else {
            return Ok(None);
        };
        let from = self.sub(run, from, pos)?;
        let id = match self.df.stage_index(&from) {
            Some(j) => self.done[j].as_ref().map(|o| o.key.clone()),
            None => Some(self.resolve_image(&from, bad)?.digest()),
        };
        let Some(id) = id else {
            return Ok(None);
        };
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
        Ok(Some(key(&run.key, &refs)))
    }

    fn resolve_image(
        &self,
        reference: &str,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<ferry_image::LocalImage> {
        let progress = self.progress;
        super::base::resolve(&self.store, reference, &|r| {
            progress(Event::Pulling(r.to_string()))
        })
        .map_err(|e| bad(e.to_string()))
    }

    /// The unpacked tree `--from` names (a stage or an image), if any.
    fn copy_source_tree(
        &mut self,
        run: &StageRun,
        step: &Step,
        c: &Copy,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Option<StageRun>> {
        let Some(from) = &c.from else {
            return Ok(None);
        };
        let from = self.sub(run, from, &step.pos)?;
        if let Some(j) = self.df.stage_index(&from) {
            let mut other = self.done[j]
                .clone()
                .ok_or_else(|| bad(format!("stage `{from}` was not built")))?;
            self.materialize(&mut other)?;
            // keep the unpacked tree for later COPY --from of the same stage
            self.done[j] = Some(other.clone());
            return Ok(Some(other));
        }
        let img = self.resolve_image(&from, bad)?;
        let mut other = StageRun {
            state: super::state::ImageState::from_image(&img.config, img.manifest.layers()),
            key: String::new(),
            args: BTreeMap::new(),
            rootfs: self.new_rootfs()?,
            applied: 0,
            cmd_set: false,
        };
        self.materialize(&mut other)?;
        Ok(Some(other))
    }

    /// `--chown` (names resolved in the stage's /etc/passwd and
    /// /etc/group) and `--chmod`.
    fn copy_attrs(
        &self,
        run: &mut StageRun,
        step: &Step,
        c: &Copy,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Attrs> {
        let pos = &step.pos;
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
        Ok(attrs)
    }

    /// The destination, relative to the image root, and whether it names
    /// a directory (ends in `/` or `.`, or is the root).
    fn copy_dest(
        &self,
        run: &StageRun,
        step: &Step,
        c: &Copy,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Dest> {
        let raw = self.sub(run, &c.dest, &step.pos)?;
        let abs = if raw.starts_with('/') {
            raw.clone()
        } else {
            format!("{}/{raw}", run.state.workdir.clone().unwrap_or_default())
        };
        let path = copy::clean_rel(&abs)
            .ok_or_else(|| bad(format!("destination `{raw}` climbs above /")))?;
        let dir = raw.ends_with('/') || raw == "." || raw.ends_with("/.") || path.is_empty();
        Ok(Dest { path, raw, dir })
    }

    /// The sources with variables expanded; here-document names as written.
    fn copy_sources(&self, run: &StageRun, step: &Step, c: &Copy) -> Result<Vec<String>> {
        c.srcs
            .iter()
            .map(|s| {
                if heredoc_named(c, s).is_some() {
                    Ok(s.clone())
                } else {
                    self.sub(run, s, &step.pos)
                }
            })
            .collect()
    }

    /// The layer entries of every source: here-documents, local archives
    /// (ADD extracts them), files and trees from the context or `--from`.
    fn copy_entries(
        &mut self,
        run: &StageRun,
        step: &Step,
        g: &Gather<'_>,
        root: &std::path::Path,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Layer> {
        let pos = &step.pos;
        let mut excludes = Vec::new();
        for e in &g.c.exclude {
            excludes.push(self.sub(run, e, pos)?);
        }
        let ignore = self.ignore.with(&pos.file, &excludes)?;
        let exclude = Ignore::default().with(&pos.file, &excludes)?;
        let source = if g.from_rootfs {
            Source {
                root,
                ignore: (!excludes.is_empty()).then_some(&exclude),
                is_rootfs: true,
            }
        } else {
            Source {
                root,
                ignore: Some(&ignore),
                is_rootfs: false,
            }
        };
        let mut entries = Layer::new();
        let mut extracted = Vec::new();
        for src in g.srcs {
            if let Some(h) = heredoc_named(g.c, src) {
                let content = if h.expand {
                    self.sub(run, &h.content, pos)
                        .unwrap_or_else(|_| h.content.clone())
                } else {
                    h.content.clone()
                };
                let target = if g.dest.dir {
                    copy::join(&g.dest.path, &h.name)
                } else {
                    g.dest.path.clone()
                };
                let mode = g.attrs.chmod.unwrap_or(0o644);
                let data = content.into_bytes();
                copy::put(&mut entries, &target, Entry::Data { data, mode }, g.attrs)
                    .map_err(|e| bad(e.to_string()))?;
                continue;
            }
            if g.is_add
                && (src.starts_with("http://")
                    || src.starts_with("https://")
                    || src.starts_with("git@"))
            {
                return Err(bad(format!(
                    "remote source `{src}` is not supported: ferry builds only read the local context; download it with RUN or put it in the context"
                )));
            }
            for rel in copy::expand_source(&source, src).map_err(|e| bad(e.to_string()))? {
                let host = source.root.join(&rel);
                if g.is_add && !g.from_rootfs && host.is_file() && copy::is_archive(&host) {
                    let dir = self.extract_archive(&host, src, bad)?;
                    extracted.push((dir, rel));
                    continue;
                }
                let dest = &g.dest.path;
                let into_dir = g.dest.dir || g.multi;
                copy::add_source(&source, &rel, src, dest, into_dir, g.attrs, &mut entries)
                    .map_err(|e| bad(e.to_string()))?;
            }
        }
        for (dir, rel) in &extracted {
            let s = Source {
                root: dir,
                ignore: None,
                is_rootfs: true,
            };
            copy::add_source(&s, "", rel, &g.dest.path, true, g.attrs, &mut entries)
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(entries)
    }

    /// ADD of a local tarball: extracts it (it must stay inside the
    /// context) into a fresh directory whose tree is then copied.
    fn extract_archive(
        &mut self,
        host: &std::path::Path,
        src: &str,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<std::path::PathBuf> {
        let ctx_root = &self.opts.context;
        let canon = host
            .canonicalize()
            .map_err(|e| bad(format!("`{src}`: {e}")))?;
        let ctx = ctx_root
            .canonicalize()
            .map_err(|e| Error::io(ctx_root, e))?;
        if !canon.starts_with(ctx) {
            return Err(bad(format!("source `{src}` is outside the build context")));
        }
        let dir = self.new_rootfs()?;
        let f = std::fs::File::open(&canon).map_err(|e| Error::io(&canon, e))?;
        ferry_image::unpack::unpack_layer(f, &dir, src, None, &Default::default())
            .map_err(|e| bad(format!("extract `{src}`: {e}")))?;
        Ok(dir)
    }
}

/// Where a COPY/ADD writes.
struct Dest {
    /// Relative to the image root, cleaned.
    path: String,
    /// As written (after substitution), for messages.
    raw: String,
    /// Sources go inside it.
    dir: bool,
}

/// What [`Builder::copy_entries`] gathers.
struct Gather<'a> {
    c: &'a Copy,
    srcs: &'a [String],
    dest: &'a Dest,
    multi: bool,
    attrs: Attrs,
    is_add: bool,
    /// Sources come from `--from` (a root filesystem), not the context.
    from_rootfs: bool,
}

/// The here-document `src` (`<<NAME` or `<<-NAME`) refers to, if any.
fn heredoc_named<'a>(c: &'a Copy, src: &str) -> Option<&'a crate::parse::Heredoc> {
    c.heredocs
        .iter()
        .find(|h| src == format!("<<{}", h.name) || src == format!("<<-{}", h.name))
}
