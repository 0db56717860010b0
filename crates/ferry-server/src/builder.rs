//! The image builder pipelines use: ferry's own Dockerfile builder
//! (`ferry-build`, RUN steps in runc, a step cache under the region's data
//! directory) followed by a push through the image toolkit. Builds are
//! blocking work, so each runs on a blocking thread; the step log goes to
//! `tracing` and, line by line, to the run step's log (the web UI's run
//! page shows it live).

use std::path::PathBuf;

use ferry_build::{BuildOptions, Event, progress::render};
use ferry_delivery::Error;
use ferry_delivery::builder::{BuildRequest, ImageBuilder};
use ferry_delivery::target::BoxFuture;

/// Builds with `ferry-build`, caching steps under `cache_dir`.
#[derive(Debug, Clone)]
pub struct DockerfileBuilder {
    cache_dir: PathBuf,
}

impl DockerfileBuilder {
    /// A builder whose cache and image store live under `data_dir/build`.
    pub fn new(data_dir: &std::path::Path) -> Self {
        Self {
            cache_dir: ferry_build::exec::cache_dir(data_dir),
        }
    }
}

impl ImageBuilder for DockerfileBuilder {
    fn build_push<'a>(
        &'a self,
        req: &'a BuildRequest,
    ) -> BoxFuture<'a, ferry_delivery::Result<String>> {
        Box::pin(async move {
            let opts = BuildOptions {
                context: req.context.clone(),
                dockerfile: req.dockerfile.clone(),
                build_args: req.build_args.clone(),
                target: None,
                cache_dir: self.cache_dir.clone(),
                no_cache: false,
                // Pipelines never grant entitlements: a pushed Dockerfile
                // does not get the host's network (`RUN --network=host`).
                allow: Default::default(),
            };
            let (reference, sink) = (req.reference.clone(), req.log.clone());
            let built = tokio::task::spawn_blocking(move || {
                let log = |e: Event| {
                    let line = render(&e);
                    tracing::debug!(image = %reference, "{line}");
                    sink.line(&line);
                };
                ferry_build::build(&opts, &log)
            })
            .await
            .map_err(|e| build_error("build", req, e))?
            .map_err(|e| build_error("build", req, e))?;
            ferry_build::output::push(
                &built,
                std::slice::from_ref(&req.reference),
                &Default::default(),
            )
            .await
            .map_err(|e| build_error("push", req, e))?;
            tracing::info!(image = %req.reference, digest = %built.digest(), run = built.steps_run, cached = built.steps_cached, "pipeline image built and pushed");
            Ok(built.digest())
        })
    }
}

fn build_error(
    step: &'static str,
    req: &BuildRequest,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Build {
        step,
        reference: req.reference.clone(),
        source: Box::new(source),
    }
}
