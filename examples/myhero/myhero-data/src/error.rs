//! The one error type of myhero-data: configuration, storage and serving
//! failures, each naming the variable, file or address involved.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong in myhero-data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required environment variable is missing or unusable.
    #[error("environment variable {name}: {problem}")]
    Config { name: &'static str, problem: String },
    /// Reading or writing a file under the data directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A complete line in the middle of the vote log cannot be parsed.
    #[error("{}: line {line} is corrupt ({detail}); move the file aside or repair that line", path.display())]
    CorruptLog {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    /// The vote log writer thread is gone (it failed earlier or shut down).
    #[error("the vote log writer has stopped")]
    WriterGone,
    /// Writing a vote to the log failed; the vote was not recorded.
    #[error("vote not recorded: {0}")]
    VoteWrite(String),
    /// The listener could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed while serving.
    #[error("http server: {0}")]
    Serve(#[source] std::io::Error),
}
