//! The executor: runs the stages a target needs, step by step, each
//! filesystem-changing step producing a deterministic layer and a cache
//! record, and assembles the final stage into an OCI image in the store.
//!
//! Root filesystems are materialised lazily: a stage whose steps all come
//! from the cache never unpacks anything; the first RUN that misses (or a
//! `COPY --from` of the stage) unpacks the layers not yet applied.

mod base;
mod cache;
mod copy;
mod copy_step;
mod diff;
mod image_paths;
mod run_step;
mod runc;
mod state;
mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferry_image::Store;
use ferry_image::build::{WrittenManifest, write_manifest};
use ferry_image::oci::Descriptor;
use ferry_image::unpack::{UnpackOptions, unpack_layer};

pub use runc::{RunSpec, runtime_spec};
pub use state::ImageState;

use crate::error::{Error, Result};
use crate::expand::expand;
use crate::ignore::Ignore;
use crate::parse::{Dockerfile, Instr, parse};
use crate::progress::{Event, Progress};
use cache::StepCache;

/// What to build and where to keep state.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile (default: `<context>/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build (default: the last).
    pub target: Option<String>,
    /// Cache and store directory (`<data dir>/build`).
    pub cache_dir: PathBuf,
    /// Ignore cached steps (they are still recorded).
    pub no_cache: bool,
    /// Entitlements granted (`--allow`); none for pipeline builds.
    pub allow: BTreeSet<crate::Entitlement>,
}

/// A finished image, stored in [`Built::store`].
#[derive(Debug, Clone)]
pub struct Built {
    pub store: Store,
    /// The manifest descriptor (its digest names the image).
    pub descriptor: Descriptor,
    pub manifest_bytes: Bytes,
    pub config: serde_json::Value,
    /// Steps executed and steps taken from the cache.
    pub steps_run: usize,
    pub steps_cached: usize,
}

impl Built {
    /// The manifest digest.
    pub fn digest(&self) -> String {
        self.descriptor.digest().to_string()
    }
}

/// A stage in progress.
#[derive(Debug, Clone)]
struct StageRun {
    state: ImageState,
    /// Cache key of the state so far.
    key: String,
    /// ARGs in scope and their values.
    args: BTreeMap<String, String>,
    rootfs: PathBuf,
    /// Layers already unpacked into `rootfs`.
    applied: usize,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
}

struct Builder<'a> {
    opts: &'a BuildOptions,
    df: &'a Dockerfile,
    store: Store,
    cache: StepCache,
    work: PathBuf,
    ignore: Ignore,
    progress: Progress<'a>,
    meta: BTreeMap<String, String>,
    done: Vec<Option<StageRun>>,
    ran: usize,
    cached: usize,
    tmp_count: usize,
}

/// Reads the Dockerfile and `.dockerignore` named by `opts` and builds.
pub fn build(opts: &BuildOptions, progress: Progress<'_>) -> Result<Built> {
    let path = opts
        .dockerfile
        .clone()
        .unwrap_or_else(|| opts.context.join("Dockerfile"));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let df = parse(&path.display().to_string(), &text)?;
    build_parsed(opts, &df, progress)
}

/// Builds an already parsed Dockerfile.
pub fn build_parsed(opts: &BuildOptions, df: &Dockerfile, progress: Progress<'_>) -> Result<Built> {
    if !opts.context.is_dir() {
        return Err(Error::Options(format!(
            "build context {} is not a directory",
            opts.context.display()
        )));
    }
    let ig_path = opts.context.join(".dockerignore");
    let ignore = match std::fs::read_to_string(&ig_path) {
        Ok(t) => Ignore::parse(&ig_path.display().to_string(), &t)?,
        Err(_) => Ignore::default(),
    };
    let store = Store::open(opts.cache_dir.join("store")).map_err(|e| Error::Image {
        context: "open build store".into(),
        message: e.to_string(),
    })?;
    let cache = StepCache::new(&opts.cache_dir.join("steps"))
        .map_err(|e| Error::io(opts.cache_dir.join("steps"), e))?;
    remove_abandoned(&opts.cache_dir.join("work"));
    let work = opts
        .cache_dir
        .join("work")
        .join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let pid_file = work.join("pid");
    std::fs::write(&pid_file, std::process::id().to_string())
        .map_err(|e| Error::io(&pid_file, e))?;
    let _cleanup = RemoveOnDrop(work.clone());
    let mut b = Builder {
        opts,
        df,
        store,
        cache,
        work,
        ignore,
        progress,
        meta: BTreeMap::new(),
        done: vec![None; df.stages.len()],
        ran: 0,
        cached: 0,
        tmp_count: 0,
    };
    b.meta_args()?;
    let target = match &opts.target {
        Some(t) => df.stage_index(t).ok_or_else(|| {
            let names: Vec<String> = df
                .stages
                .iter()
                .map(|s| s.name.clone().unwrap_or_else(|| s.index.to_string()))
                .collect();
            Error::Options(format!(
                "target stage `{t}` not found; stages are: {}",
                names.join(", ")
            ))
        })?,
        None => df.stages.len() - 1,
    };
    let mut needed = BTreeSet::new();
    b.needed(target, &mut needed)?;
    crate::entitlement::check(df, needed.iter().copied(), &opts.allow)?;
    for i in needed {
        b.stage(i)?;
    }
    let declared: BTreeSet<&str> = df
        .meta_args
        .iter()
        .map(|a| a.name.as_str())
        .chain(
            df.stages
                .iter()
                .flat_map(|s| s.steps.iter())
                .flat_map(|st| match &st.instr {
                    Instr::Arg(decls) => decls.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
                    _ => Vec::new(),
                }),
        )
        .collect();
    let unused: Vec<&str> = opts
        .build_args
        .keys()
        .map(String::as_str)
        .filter(|k| !declared.contains(k))
        .collect();
    if !unused.is_empty() {
        (b.progress)(Event::Warning(format!(
            "build argument(s) {} not declared by any ARG in the Dockerfile",
            unused.join(", ")
        )));
    }
    let stage = b.done[target]
        .take()
        .ok_or_else(|| Error::Options("target stage was not built".into()))?;
    let built = b.finish(&stage.state)?;
    (b.progress)(Event::Done {
        digest: built.digest(),
    });
    Ok(built)
}

/// Removes work directories of builds whose process is gone (killed
/// before it could clean up).
fn remove_abandoned(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let pid = std::fs::read_to_string(e.path().join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            tracing::info!(dir = %e.path().display(), "removing the work directory of an interrupted build");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Builder<'_> {
    fn meta_args(&mut self) -> Result<()> {
        for a in &self.df.meta_args {
            let value = match self.opts.build_args.get(&a.name) {
                Some(v) => v.clone(),
                None => match &a.default {
                    Some(d) => {
                        let meta = &self.meta;
                        expand(d, self.df.escape, &|n| meta.get(n).cloned()).map_err(|m| {
                            Error::invalid(&self.df.stages[0].pos, format!("ARG {}: {m}", a.name))
                        })?
                    }
                    None => continue,
                },
            };
            self.meta.insert(a.name.clone(), value);
        }
        Ok(())
    }

    fn expand_meta(&self, s: &str, pos: &crate::Pos) -> Result<String> {
        expand(s, self.df.escape, &|n| self.meta.get(n).cloned())
            .map_err(|m| Error::invalid(pos, m))
    }

    /// Stages `i` depends on (FROM another stage, COPY --from), then `i`.
    fn needed(&self, i: usize, out: &mut BTreeSet<usize>) -> Result<()> {
        if !out.insert(i) {
            return Ok(());
        }
        let stage = &self.df.stages[i];
        let base = self.expand_meta(&stage.base, &stage.pos)?;
        if let Some(j) = self.df.stages[..i]
            .iter()
            .position(|s| s.name.as_deref() == Some(base.to_ascii_lowercase().as_str()))
        {
            self.needed(j, out)?;
        }
        for step in &stage.steps {
            if let Instr::Copy(c) | Instr::Add(c) = &step.instr
                && let Some(from) = &c.from
            {
                let from = self.expand_meta(from, &step.pos)?;
                if let Some(j) = self.df.stage_index(&from) {
                    if j >= i {
                        return Err(Error::invalid(
                            &step.pos,
                            format!("COPY --from={from} refers to a later stage (or this one)"),
                        ));
                    }
                    self.needed(j, out)?;
                }
            }
        }
        Ok(())
    }

    fn new_rootfs(&mut self) -> Result<PathBuf> {
        self.tmp_count += 1;
        let p = self.work.join(format!("rootfs-{}", self.tmp_count));
        std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        Ok(p)
    }

    /// The starting point of stage `i`.
    fn from(&mut self, i: usize) -> Result<StageRun> {
        let stage = &self.df.stages[i];
        let base = self.expand_meta(&stage.base, &stage.pos)?;
        if let Some(p) = &stage.platform {
            let p = self.expand_meta(p, &stage.pos)?;
            base::check_platform(&p).map_err(|m| Error::invalid(&stage.pos, m))?;
        }
        (self.progress)(Event::Stage {
            index: i,
            name: stage.name.clone(),
            base: base.clone(),
        });
        let rootfs = self.new_rootfs()?;
        let lower = base.to_ascii_lowercase();
        if let Some(j) = self.df.stages[..i]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            let parent = self.done[j].clone().ok_or_else(|| {
                Error::invalid(&stage.pos, format!("stage `{base}` was not built"))
            })?;
            return Ok(StageRun {
                rootfs,
                applied: 0,
                args: BTreeMap::new(),
                cmd_set: false,
                ..parent
            });
        }
        if lower == "scratch" {
            return Ok(StageRun {
                state: ImageState::default(),
                key: cache::key("", &["FROM scratch"]),
                args: BTreeMap::new(),
                rootfs,
                applied: 0,
                cmd_set: false,
            });
        }
        let progress = self.progress;
        let img = base::resolve(&self.store, &base, &|r| {
            progress(Event::Pulling(r.to_string()))
        })
        .map_err(|e| Error::invalid(&stage.pos, e.to_string()))?;
        let state = ImageState::from_image(&img.config, img.manifest.layers());
        Ok(StageRun {
            state,
            key: cache::key("", &["FROM", &img.digest()]),
            args: BTreeMap::new(),
            rootfs,
            applied: 0,
            cmd_set: false,
        })
    }

    /// Unpacks the layers `run.rootfs` lacks.
    fn materialize(&self, run: &mut StageRun) -> Result<()> {
        let opts = UnpackOptions {
            allow_devices: true,
            preserve_ownership: Some(true),
        };
        for l in &run.state.layers[run.applied..] {
            let digest = l.descriptor.digest().to_string();
            let path = self.store.blob_path(&digest);
            let f = File::open(&path).map_err(|e| Error::io(&path, e))?;
            unpack_layer(f, &run.rootfs, &digest, Some(&l.diff_id), &opts).map_err(|e| {
                Error::Image {
                    context: "unpack layer".into(),
                    message: e.to_string(),
                }
            })?;
        }
        run.applied = run.state.layers.len();
        Ok(())
    }

    fn stage(&mut self, i: usize) -> Result<()> {
        let mut run = self.from(i)?;
        let stage = &self.df.stages[i];
        let total = stage.steps.len();
        for (n, step) in stage.steps.iter().enumerate() {
            (self.progress)(Event::Step {
                stage: i,
                n: n + 1,
                total,
                text: step.text.clone(),
            });
            self.step(i, &mut run, step)?;
        }
        self.done[i] = Some(run);
        Ok(())
    }

    /// Writes config and manifest of `state` into the store.
    fn finish(&self, state: &ImageState) -> Result<Built> {
        let img = |e: ferry_image::Error| Error::Image {
            context: "write image".into(),
            message: e.to_string(),
        };
        let config = state.config_json()?;
        let layers = state.layers.iter().map(|l| l.descriptor.clone()).collect();
        let WrittenManifest {
            descriptor, bytes, ..
        } = write_manifest(&self.store, &config, layers).map_err(img)?;
        Ok(Built {
            store: self.store.clone(),
            descriptor,
            manifest_bytes: Bytes::from(bytes),
            config,
            steps_run: self.ran,
            steps_cached: self.cached,
        })
    }
}

/// Where builds keep their cache under a data directory.
pub fn cache_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("build")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_work_dirs_are_removed_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let dead = d.path().join("dead");
        let live = d.path().join("live");
        for (dir, pid) in [
            (&dead, u32::MAX.to_string()),
            (&live, std::process::id().to_string()),
        ] {
            std::fs::create_dir_all(dir.join("rootfs-1")).unwrap();
            std::fs::write(dir.join("pid"), pid).unwrap();
        }
        remove_abandoned(d.path());
        assert!(!dead.exists());
        assert!(live.join("rootfs-1").exists());
    }
}
