//! The crate's one error type. Parse errors carry file, line and column;
//! build errors name the step that failed.

use std::path::PathBuf;

/// A position in a Dockerfile (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Everything that can go wrong parsing or building.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Dockerfile (or .dockerignore) is malformed.
    #[error("{pos}: {message}")]
    Syntax { pos: Pos, message: String },
    /// The Dockerfile is well-formed but asks for something invalid
    /// (unknown stage, unknown build argument, source outside the context...).
    #[error("{pos}: {message}")]
    Invalid { pos: Pos, message: String },
    /// A RUN step exited non-zero.
    #[error("step {step} `{instruction}` failed with exit code {code}; last output:\n{tail}")]
    RunFailed {
        step: String,
        instruction: String,
        code: i32,
        tail: String,
    },
    /// A build-level option is wrong (target stage missing, bad --build-arg).
    #[error("{0}")]
    Options(String),
    /// The image toolkit failed (pull, push, store).
    #[error("{context}: {message}")]
    Image { context: String, message: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The filesystem holding `path` is full (`ENOSPC`) or its quota used
    /// up (`EDQUOT`); what the step had written there was removed.
    #[error(
        "{path}: no space left on device: the disk is full; free space on the filesystem \
         holding it (the build cache, or the output directory) or use a cache directory on a \
         larger disk, then build again"
    )]
    DiskFull {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// True when `e` (or the IO error it wraps, as `tar` and `flate2` do) is
/// `ENOSPC` or `EDQUOT`.
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{QuotaExceeded, StorageFull};
    let full = |e: &std::io::Error| matches!(e.kind(), StorageFull | QuotaExceeded);
    full(e)
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<std::io::Error>())
            .is_some_and(full)
}

impl Error {
    pub(crate) fn syntax(
        file: &str,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Error::Syntax {
            pos: Pos {
                file: file.to_string(),
                line,
                column,
            },
            message: message.into(),
        }
    }

    pub(crate) fn invalid(pos: &Pos, message: impl std::fmt::Display) -> Self {
        Error::Invalid {
            pos: pos.clone(),
            message: message.to_string(),
        }
    }

    /// An IO error on `path`; a full disk becomes [`Error::DiskFull`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if is_disk_full(&source) {
            Error::DiskFull { path, source }
        } else {
            Error::Io { path, source }
        }
    }

    /// Copies `src` to the new file `dest` (a store's ingest file): a
    /// failure removes `dest` and names it when the disk is full, `src`
    /// otherwise.
    pub(crate) fn copy(src: &std::path::Path, dest: &std::path::Path) -> Result<()> {
        std::fs::copy(src, dest).map(drop).map_err(|e| {
            let _ = std::fs::remove_file(dest);
            let named = if is_disk_full(&e) { dest } else { src };
            Error::io(named, e)
        })
    }

    /// True when the error is the user's input being wrong (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::Syntax { .. } | Error::Invalid { .. } | Error::Options(_)
        )
    }
}

/// What is wrong with one input of a step (a source path, a variable
/// reference, a user, a platform, an entitlement) before the step's
/// position is known; the executor turns it into [`Error::Invalid`] with
/// `Dockerfile:line:column` and the instruction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    #[error("source `{src}` is outside the build context")]
    OutsideContext { src: String },
    #[error("source `{src}` is outside the build context (it resolves to {})", resolved.display())]
    Escapes { src: String, resolved: PathBuf },
    #[error("`{src}` not found in the build context")]
    NotFound { src: String },
    #[error("`{src}` is excluded by .dockerignore")]
    Ignored { src: String },
    #[error("no source files were specified: `{src}` matches nothing")]
    NoMatch { src: String },
    #[error("invalid pattern `{src}`: {source}")]
    Pattern {
        src: String,
        #[source]
        source: globset::Error,
    },
    /// A source in another stage's or image's tree cannot be resolved.
    #[error("`{src}`: {source}")]
    Rootfs {
        src: String,
        #[source]
        source: ferry_image::Error,
    },
    #[error("`{src}`: {source}")]
    Source {
        src: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The layer refused an entry (a path with `..`).
    #[error(transparent)]
    Layer(ferry_image::Error),
    #[error("user `{0}` is not in the image's /etc/passwd")]
    UnknownUser(String),
    #[error("group `{0}` is not in the image's /etc/group")]
    UnknownGroup(String),
    #[error("invalid platform `{0}` (use os/arch, e.g. linux/amd64)")]
    InvalidPlatform(String),
    #[error(
        "platform `{wanted}` cannot be built here: this host runs {host} and ferry does not emulate other platforms"
    )]
    ForeignPlatform { wanted: String, host: String },
    #[error(
        "entitlement `security.insecure` is not supported by ferry build (RUN --security=insecure is refused)"
    )]
    InsecureEntitlement,
    #[error("unknown entitlement `{0}`; ferry build knows `network.host`")]
    UnknownEntitlement(String),
    /// A variable reference or quote in an instruction is malformed.
    #[error("{0}")]
    Substitution(&'static str),
    #[error("unsupported modifier '{op}' in ${{{name}...}}")]
    Modifier { op: char, name: String },
    #[error("bad substitution: unexpected '{found}' in ${{{name}...}}")]
    Unexpected { found: char, name: String },
    /// `${NAME?message}` with NAME unset.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
}

impl InputError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        InputError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
