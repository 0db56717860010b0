//! The one error type of `ferry-delivery`.

use std::path::PathBuf;

use ferry_core::Problems;

/// Errors of the delivery engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A git operation failed (unreachable remote, unknown revision…).
    #[error("git {repo}: {message}")]
    Git { repo: String, message: String },
    /// An object of a git mirror cannot be read (a commit, a tree entry);
    /// callers wrap it in [`Error::Git`] naming the repository.
    #[error("{what}: {message}")]
    GitObject { what: String, message: String },
    /// `spec.source.caFile` cannot be used (the file's content is never shown).
    #[error("spec.source.caFile {}: {message}", path.display())]
    CaFile { path: PathBuf, message: String },
    /// Manifests in the repository are invalid; each problem names file,
    /// document and field.
    #[error("invalid manifests:\n{0}")]
    Manifests(Problems),
    /// An external renderer (kustomize, helm) failed or is missing.
    #[error("render with {tool}: {message}")]
    Render { tool: &'static str, message: String },
    /// The deployment target refused or failed an operation.
    #[error("target: {0}")]
    Target(String),
    /// The deployment target could not be reached (connection refused or
    /// cut, the API server not ready). Nothing is recorded in history: the
    /// engine retries every second until it answers again.
    #[error("target unreachable: {0}; ferry retries every second until it answers")]
    Unreachable(String),
    /// Stored state could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Stored state is not valid JSON.
    #[error("corrupt state file {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// A name that does not exist.
    #[error("{kind} `{name}` not found")]
    NotFound { kind: &'static str, name: String },
    /// A request that cannot be honoured in the current state.
    #[error("{0}")]
    Conflict(String),
    /// Live diffs on request are all busy (`crate::diff_limit`); the
    /// request waited its turn and gave up.
    #[error(
        "{running} live diffs (dry runs against the target) are running already; try again in {} s",
        retry_after.as_secs()
    )]
    DiffBusy {
        running: usize,
        retry_after: std::time::Duration,
    },
    /// A webhook request that failed verification or parsing.
    #[error("webhook: {0}")]
    Webhook(String),
    /// The image pull Secret of an app on a Kubernetes target cannot be
    /// made (the registry could not mint its robot, or an object of the
    /// app's own has its name).
    #[error("image pull Secret for registry {registry}: {message}")]
    PullSecret { registry: String, message: String },
    /// A region served by another process could not answer (unreachable,
    /// refused the token, or said something unexpected).
    #[error("region `{region}` (another process): {message}")]
    Remote { region: String, message: String },
    /// An image build or registry check failed.
    #[error("image {image}: {message}")]
    Image { image: String, message: String },
    /// A pipeline image could not be built or pushed; the builder's error
    /// is the source (a Dockerfile's file:line:column, a RUN step's exit
    /// code and output, the registry's answer).
    #[error("{step} {reference}")]
    Build {
        /// `build` or `push`.
        step: &'static str,
        reference: String,
        #[source]
        source: BoxError,
    },
    /// Checking out a commit for a build failed; every image of the job
    /// fails with it. The cause is in the message, not `source()`: `Io`
    /// already prints its own source, so [`report`] would repeat it.
    #[error("checkout: {0}")]
    Checkout(Box<Error>),
    /// A blocking task of the engine panicked or was cancelled.
    #[error("{what} task failed")]
    Task {
        what: &'static str,
        #[source]
        source: BoxError,
    },
    /// A registry could not be reached or its answer not be read.
    #[error("registry {registry} {what}")]
    RegistryTransport {
        registry: String,
        /// `unreachable`, `tag list of NAME`...
        what: String,
        #[source]
        source: reqwest::Error,
    },
    /// A registry answered with an unexpected status.
    #[error("registry {registry} answered {status} {what}")]
    RegistryStatus {
        registry: String,
        status: u16,
        /// `for NAME:TAG`, `listing tags of NAME`.
        what: String,
    },
}

impl Error {
    /// A blocking task that panicked or was cancelled.
    pub(crate) fn task(what: &'static str, e: tokio::task::JoinError) -> Self {
        Error::Task {
            what,
            source: Box::new(e),
        }
    }
}

/// Any error, as the builder seam carries it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `error: cause: cause...` — an error and its sources on one line, for
/// run steps, gate notes and logs.
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn git(repo: &str, message: impl std::fmt::Display) -> Self {
        Error::Git {
            repo: repo.to_string(),
            message: message.to_string(),
        }
    }
}

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_the_step_the_image_and_every_cause() {
        let cause = std::io::Error::other("Dockerfile:3:1: unknown instruction `RUNN`");
        let e = Error::Build {
            step: "build",
            reference: "127.0.0.1:5000/web:abc".into(),
            source: Box::new(cause),
        };
        assert_eq!(
            report(&e),
            "build 127.0.0.1:5000/web:abc: Dockerfile:3:1: unknown instruction `RUNN`"
        );
    }
}
