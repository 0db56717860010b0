//! The one error type of `ferry-delivery`.

use std::path::PathBuf;

use ferry_core::Problems;

/// Errors of the delivery engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A git operation failed (unreachable remote, unknown revision…).
    #[error("git {repo}: {message}")]
    Git { repo: String, message: String },
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
    /// A webhook request that failed verification or parsing.
    #[error("webhook: {0}")]
    Webhook(String),
    /// An image build or registry check failed.
    #[error("image {image}: {message}")]
    Image { image: String, message: String },
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
