//! The one error type of myhero-app: configuration, data-service, broker and
//! serving failures.

use std::net::SocketAddr;

/// Everything that can go wrong in myhero-app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required environment variable is missing or unusable.
    #[error("environment variable {name}: {problem}")]
    Config { name: &'static str, problem: String },
    /// myhero-data could not be reached or answered badly.
    #[error("myhero-data at {url}: {detail}")]
    Data { url: String, detail: String },
    /// myhero-data refused a vote as invalid (HTTP 400); retrying cannot help.
    #[error("myhero-data at {url} refused the vote: {body}")]
    VoteRefused { url: String, body: String },
    /// The MQTT broker is not connected or did not acknowledge in time.
    #[error("mqtt broker {broker}: {detail}")]
    Broker { broker: String, detail: String },
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
