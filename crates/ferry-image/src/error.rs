//! The one error type of `ferry-image`. Every variant says what failed and,
//! where the caller can act, what to do next.

use std::path::PathBuf;

/// Errors of the image toolkit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An image reference (`host/repo:tag@digest`) could not be parsed.
    #[error("invalid image reference `{reference}`: {message}")]
    Reference { reference: String, message: String },
    /// A digest string is malformed or uses an unsupported algorithm.
    #[error("invalid digest `{digest}`: {message}")]
    Digest { digest: String, message: String },
    /// Content did not hash to the digest it was announced with.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// Content was shorter or longer than its descriptor says.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// A local file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The connection to a registry failed (refused, reset, timed out).
    #[error("cannot reach registry {registry}: {source}")]
    Transport {
        registry: String,
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error status.
    #[error("registry {registry} answered {status} to {method} {path}{}", fmt_body(.body))]
    Registry {
        registry: String,
        method: String,
        path: String,
        status: u16,
        body: String,
    },
    /// The registry wants credentials we do not have, or rejected ours.
    #[error(
        "registry {registry} refused access to {scope} ({status}); \
         pass credentials (--username/--password or FERRY_REGISTRY_USERNAME/FERRY_REGISTRY_PASSWORD)"
    )]
    Unauthorized {
        registry: String,
        scope: String,
        status: u16,
    },
    /// The manifest, tag or blob does not exist.
    #[error("{what} not found in {registry}")]
    NotFound { registry: String, what: String },
    /// The registry's answer could not be understood.
    #[error("unexpected answer from {registry}: {message}")]
    Protocol { registry: String, message: String },
    /// JSON (manifest, index, config) could not be decoded or encoded.
    #[error("invalid {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// No manifest of an index matches the wanted platform.
    #[error("no image for platform {wanted} in {reference} (available: {available})")]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    /// An image is not in the local store.
    #[error("image {0} is not in the local store; pull or build it first")]
    NotInStore(String),
    /// A layer archive is unsafe or malformed (path escape, device node...).
    #[error("layer {layer}: entry `{entry}`: {message}")]
    UnsafeLayer {
        layer: String,
        entry: String,
        message: String,
    },
    /// A path inside an image root cannot be resolved safely (`..` in a
    /// tar entry, an absolute name, a symlink loop).
    #[error("path `{}` {reason}", path.display())]
    UnsafePath { path: PathBuf, reason: &'static str },
    /// Building an image failed (missing file, unreadable ELF...).
    #[error("build: {0}")]
    Build(String),
    /// A background task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
}

fn fmt_body(body: &str) -> String {
    if body.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", body.trim())
    }
}

impl Error {
    /// An [`Error::Io`] with the action and path it concerned.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// True for failures worth retrying: transport errors, 5xx, 429, 408.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Registry { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => true,
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::TimedOut
            ),
            _ => false,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
