//! The seam between pipelines and image builds: [`ImageBuilder`] builds one
//! image from a checked-out build context and pushes it to a registry. The
//! server implements it with ferry's Dockerfile builder; the engine only
//! decides *what* to build and *when* (see `build_runs.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::error::Result;
use crate::target::BoxFuture;

/// Where a build writes its progress, a line at a time (the run step's
/// log: the web UI shows it live). Cheap to clone; the default drops lines.
#[derive(Clone, Default)]
pub struct BuildLog(Option<std::sync::Arc<LineSink>>);

/// What a [`BuildLog`] hands its lines to.
type LineSink = dyn Fn(&str) + Send + Sync;

impl BuildLog {
    /// A log that hands each line to `sink`.
    pub fn new(sink: impl Fn(&str) + Send + Sync + 'static) -> BuildLog {
        BuildLog(Some(std::sync::Arc::new(sink)))
    }

    /// Writes one line.
    pub fn line(&self, text: &str) {
        if let Some(sink) = &self.0 {
            sink(text);
        }
    }
}

impl fmt::Debug for BuildLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BuildLog")
    }
}

/// One image to build and push.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The build context: a directory of the checked-out commit.
    pub context: PathBuf,
    /// The Dockerfile; `<context>/Dockerfile` when `None`.
    pub dockerfile: Option<PathBuf>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// Full reference to push: `registry/name:tag`.
    pub reference: String,
    /// The build's progress lines (steps, RUN output).
    pub log: BuildLog,
}

/// Builds and pushes images for pipelines.
pub trait ImageBuilder: Send + Sync + fmt::Debug {
    /// Builds `req` and pushes it; returns the manifest digest, or an
    /// [`Error::Build`](crate::Error::Build) whose source the run's log
    /// shows (file and line for a bad Dockerfile, the exit code and last
    /// output of a failing RUN).
    fn build_push<'a>(&'a self, req: &'a BuildRequest) -> BoxFuture<'a, Result<String>>;
}

/// Where the build of one pipeline image stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildState {
    Running,
    /// The image is in the build region's registry.
    Done,
    /// The build's error; retried on `ferry app sync` or when the image's
    /// inputs change (a new key).
    Failed(String),
}

/// Identifies one image build: pipeline, image name, tag and the commit the
/// tag is named after (the oldest commit with the image's current inputs;
/// it tells builds apart when the template does not name the commit).
pub type BuildKey = (String, String, String, String);

/// Whether a tag template names its commit (so an existing tag in the
/// registry proves the commit was built, e.g. after a restart).
pub fn template_pins_commit(template: &str) -> bool {
    ["{sha7}", "{sha}", "{semver}"]
        .iter()
        .any(|t| template.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_that_name_the_commit() {
        assert!(template_pins_commit("dev-{sha7}"));
        assert!(template_pins_commit("{semver}"));
        assert!(!template_pins_commit("latest"));
        assert!(!template_pins_commit("{branch}"));
    }
}
