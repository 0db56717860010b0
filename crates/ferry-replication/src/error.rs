//! The one error type of `ferry-replication`.

use std::path::PathBuf;

/// Errors of the replication engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule could not be turned into something runnable.
    #[error("replication rule `{rule}`: {message}")]
    Rule { rule: String, message: String },
    /// Talking to a registry failed.
    #[error(transparent)]
    Image(#[from] ferry_image::Error),
    /// The persisted queue could not be read or written.
    #[error("replication queue {path}: {message}")]
    Queue { path: PathBuf, message: String },
}

impl Error {
    /// True when a retry may succeed (registry down, connection cut...).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Image(e) => {
                e.is_transient() || matches!(e, ferry_image::Error::Unauthorized { .. })
            }
            Error::Queue { .. } => true,
            Error::Rule { .. } => false,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
