//! The one error type of `ferry-runtime`.

use std::path::PathBuf;

use ferry_core::Problems;

/// Errors raised by the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input (manifests, a query) was wrong; every problem is located.
    #[error("{0}")]
    Invalid(Problems),
    /// An object that was asked for does not exist.
    #[error("{kind} `{name}` not found in namespace `{namespace}`")]
    NotFound {
        kind: String,
        namespace: String,
        name: String,
    },
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] rusqlite::Error),
    /// The disk under the state store is full (SQLite's `SQLITE_FULL`):
    /// the transaction was rolled back, the store keeps its last state.
    #[error(
        "state store {path}: no space left on device: the disk is full; nothing of this apply \
         was stored and the previous objects stay in effect; free space on that filesystem, \
         then apply again"
    )]
    StoreFull {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A file or directory operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A kernel call (namespaces, mounts) failed.
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    /// The OCI runtime (runc) failed.
    #[error("{runtime} {action} failed: {message}")]
    Oci {
        runtime: String,
        action: String,
        message: String,
    },
    /// An image could not be made available.
    #[error("image `{image}`: {message}")]
    Image { image: String, message: String },
    /// Pulling or unpacking an image failed (the image toolkit's message
    /// is the reason shown in ImagePullBackOff).
    #[error(transparent)]
    Pull(#[from] ferry_image::Error),
    /// The image is not in the store and `imagePullPolicy: Never`.
    #[error("image `{image}` is not present and imagePullPolicy is Never")]
    NotPresent { image: String },
    /// No unpacked image of that name (images without a registry).
    #[error(
        "image `{image}` not found: no registry holds it (build it or push it to the region's registry)"
    )]
    NoImage { image: String },
    /// A `pod-security.kubernetes.io/enforce` value that is not a level.
    #[error("`{0}` is not a Pod Security Standards level: use privileged, baseline or restricted")]
    PssLevel(String),
    /// The caller's token does not reach what the request touches.
    #[error("{0}")]
    Forbidden(String),
    /// An eviction a PodDisruptionBudget refuses (429; the cause names the budget).
    #[error("Cannot evict pod as it would violate the pod's disruption budget.")]
    DisruptionBudget(String),

    /// The region's token store failed (creating or revoking a pod's token).
    #[error("service-account token: {0}")]
    Token(#[from] ferry_auth::Error),
    /// A container's configuration cannot be honoured (runAsNonRoot with a
    /// root image, a subPath leaving its volume…): CreateContainerConfigError.
    #[error("{0}")]
    ContainerConfig(String),
    /// The EncryptionConfiguration file cannot be used.
    #[error("{file}: {message}")]
    EncryptionConfig { file: String, message: String },
    /// A stored Secret is encrypted and cannot be opened with the keys given.
    #[error("{0}")]
    Sealed(String),
    /// A liveness, readiness or startup probe failed; the text is the
    /// kubelet's (shown in the container's status and events).
    #[error("{0}")]
    Probe(String),
    /// Anything else, with a message saying what to do.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An IO error on `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// A kernel call error.
    pub fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            what: what.into(),
            source,
        }
    }
}

impl From<ferry_core::Error> for Error {
    fn from(e: ferry_core::Error) -> Self {
        match e {
            ferry_core::Error::Invalid(p) => Error::Invalid(p),
            other => Error::Other(other.to_string()),
        }
    }
}

impl From<Error> for ferry_api::ApiError {
    fn from(e: Error) -> Self {
        use ferry_api::{ApiError, ErrorCode};
        match e {
            Error::Invalid(p) => ApiError::from(ferry_core::Error::Invalid(p)),
            Error::NotFound { .. } => ApiError::new(ErrorCode::NotFound, e.to_string()),
            Error::Forbidden(m) => ApiError::new(ErrorCode::Forbidden, m),
            // The eviction route answers these itself, with 429.
            Error::DisruptionBudget(cause) => {
                ApiError::new(ErrorCode::Conflict, crate::disruption::VIOLATES)
                    .with_details(vec![cause])
            }
            other => ApiError::new(ErrorCode::Internal, other.to_string()),
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
