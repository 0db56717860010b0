//! One instruction at a time: config-only instructions update the image
//! state and the cache key; RUN (see `run_step`) runs in runc or comes from
//! the cache; COPY and ADD (see `copy_step`) build a layer from their
//! sources or come from the cache. Also the helpers those steps share.

use ferry_image::build::{Compression, Layer};
use ferry_image::oci::{Descriptor, MediaType};

use super::cache::{LayerDesc, StepRecord, key};
use super::copy;
use super::state::{History, ImageLayer};
use super::{Builder, StageRun};
use crate::error::{Error, Pos, Result};
use crate::expand::expand;
use crate::parse::{CmdForm, Instr, Step};
use crate::progress::Event;

impl Builder<'_> {
    /// Expands `s` with the stage's ENV (first) and ARGs.
    pub(super) fn sub(&self, run: &StageRun, s: &str, pos: &Pos) -> Result<String> {
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

    pub(super) fn push_layer(
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
    pub(super) fn lookup(&mut self, k: &str) -> Option<StepRecord> {
        if self.opts.no_cache {
            return None;
        }
        let rec = self.cache.get(k, &self.store)?;
        self.cached += 1;
        (self.progress)(Event::Cached);
        Some(rec)
    }

    pub(super) fn record(
        &mut self,
        k: &str,
        layer: Option<LayerDesc>,
    ) -> Result<Option<LayerDesc>> {
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
            .map_err(|e| Error::Image {
                context: "write step cache".into(),
                message: e.to_string(),
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

    /// Writes `layer` into the store (gzip at its fastest level).
    pub(super) fn write(&self, layer: &Layer) -> Result<LayerDesc> {
        let written = layer
            .write(&self.store, Compression::GzipFast)
            .map_err(|e| Error::Image {
                context: "store layer".into(),
                message: e.to_string(),
            })?;
        Ok(LayerDesc {
            digest: written.descriptor.digest().to_string(),
            diff_id: written.diff_id,
            size: written.descriptor.size(),
        })
    }
}
