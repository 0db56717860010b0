//! myhero-data: the tutorial's data service, rewritten so that no vote is
//! ever lost. Options live in `myhero_options.txt` (replaced atomically),
//! votes in `votes.log`, an append-only log fsync'd with group commit before
//! any vote is acknowledged. See `examples/myhero/README.md` for the contract.
#![forbid(unsafe_code)]

mod config;
mod error;
mod options;
mod routes;
mod votelog;

pub use config::Config;
pub use error::Error;
pub use options::{DEFAULT_OPTIONS, Options};
pub use routes::{AppState, router};
pub use votelog::{Tally, VoteLog};

use std::future::Future;
use std::sync::Arc;

/// Opens the stores under `config.dir`, serves the contract on
/// `config.listen` until `shutdown` resolves, then drains in-flight requests
/// and stops the log writer.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    std::fs::create_dir_all(&config.dir).map_err(|source| Error::Io {
        path: config.dir.clone(),
        source,
    })?;
    let options = Options::open(&config.dir).await?;
    let votes = VoteLog::open(&config.dir)?;
    tracing::info!(dir = %config.dir.display(), votes = votes.tally().total, options = options.list().await.len(), "stores opened");
    let state = Arc::new(AppState {
        key: config.key.clone(),
        options,
        votes,
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    tracing::info!(%addr, "myhero-data listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)?;
    tracing::info!("myhero-data stopped");
    Ok(())
}
