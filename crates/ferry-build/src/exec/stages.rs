//! Stages: which ones a target needs (FROM another stage, `COPY --from`),
//! where each starts (another stage, scratch or a base image), global ARGs,
//! and materialising a stage's root filesystem when a step needs it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;

use ferry_image::unpack::{UnpackOptions, unpack_layer};

use super::{Builder, ImageState, StageRun, base, cache};
use crate::error::{Error, Result};
use crate::expand::expand;
use crate::parse::Instr;
use crate::progress::Event;

impl Builder<'_> {
    /// Global ARGs (before the first FROM), from `--build-arg` or their
    /// defaults.
    pub(super) fn meta_args(&mut self) -> Result<()> {
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
    pub(super) fn needed(&self, i: usize, out: &mut BTreeSet<usize>) -> Result<()> {
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

    /// A new, empty root filesystem directory in the work directory.
    pub(super) fn new_rootfs(&mut self) -> Result<PathBuf> {
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
    pub(super) fn materialize(&self, run: &mut StageRun) -> Result<()> {
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

    /// Runs the steps of stage `i` and keeps its result.
    pub(super) fn stage(&mut self, i: usize) -> Result<()> {
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
}
