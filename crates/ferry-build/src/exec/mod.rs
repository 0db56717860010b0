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
mod stages;
mod state;
mod steps;
mod work;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferry_image::Store;
use ferry_image::build::{WrittenManifest, write_manifest};
use ferry_image::oci::Descriptor;

pub use runc::{RunSpec, runtime_spec};
pub use state::ImageState;

use crate::error::{Error, Result};
use crate::ignore::Ignore;
use crate::parse::{Dockerfile, Instr, parse};
use crate::progress::{Event, Progress};
use cache::StepCache;
use work::WorkDir;

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
    /// Removes `work` on drop; last, so it goes after everything else.
    _work_dir: WorkDir,
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
    let mut b = Builder::open(opts, df, progress)?;
    b.meta_args()?;
    let target = target_index(df, opts.target.as_deref())?;
    let mut needed = BTreeSet::new();
    b.needed(target, &mut needed)?;
    crate::entitlement::check(df, needed.iter().copied(), &opts.allow)?;
    for i in needed {
        b.stage(i)?;
    }
    let unused = unused_args(df, &opts.build_args);
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

/// The index of stage `target` (default: the last).
fn target_index(df: &Dockerfile, target: Option<&str>) -> Result<usize> {
    let Some(t) = target else {
        return Ok(df.stages.len() - 1);
    };
    df.stage_index(t).ok_or_else(|| {
        let names: Vec<String> = df
            .stages
            .iter()
            .map(|s| s.name.clone().unwrap_or_else(|| s.index.to_string()))
            .collect();
        Error::Options(format!(
            "target stage `{t}` not found; stages are: {}",
            names.join(", ")
        ))
    })
}

/// `--build-arg` names no ARG (global or in a stage) declares.
fn unused_args<'a>(df: &Dockerfile, build_args: &'a BTreeMap<String, String>) -> Vec<&'a str> {
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
    build_args
        .keys()
        .map(String::as_str)
        .filter(|k| !declared.contains(k))
        .collect()
}

impl<'a> Builder<'a> {
    /// A builder for `df` with its store, step cache and a fresh work
    /// directory (removed when the builder is dropped).
    fn open(opts: &'a BuildOptions, df: &'a Dockerfile, progress: Progress<'a>) -> Result<Self> {
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
        let work_dir = WorkDir::create(&opts.cache_dir.join("work"))?;
        Ok(Builder {
            opts,
            df,
            store,
            cache,
            work: work_dir.path().to_path_buf(),
            ignore,
            progress,
            meta: BTreeMap::new(),
            done: vec![None; df.stages.len()],
            ran: 0,
            cached: 0,
            tmp_count: 0,
            _work_dir: work_dir,
        })
    }
}

impl Builder<'_> {
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
