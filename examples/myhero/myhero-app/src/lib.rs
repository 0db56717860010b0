//! myhero-app: the tutorial's middle tier. Checks the app key, fetches and
//! caches options from myhero-data, submits votes either directly to
//! myhero-data or through the MQTT broker (queue mode, consumed by
//! myhero-ernst), and proxies results. See `examples/myhero/README.md`.
#![forbid(unsafe_code)]

mod config;
mod data;
mod error;
mod queue;
mod routes;

pub use config::{Config, Mode, data_url};
pub use data::{DataClient, OPTIONS_TTL};
pub use error::Error;
pub use queue::{Publisher, TOPIC_PREFIX};
pub use routes::{AppState, FAILED, SUBMITTED, VoteSink, router};

use std::future::Future;
use std::sync::Arc;

/// Serves the app on `config.listen` until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let votes = match &config.mode {
        Mode::Direct => VoteSink::Direct,
        Mode::Queue { host, port } => VoteSink::Queue(Publisher::start(host.clone(), *port)),
    };
    tracing::info!(data = %config.data_url, mode = ?config.mode, "myhero-app starting");
    let state = Arc::new(AppState {
        key: config.app_key.clone(),
        data: DataClient::new(config.data_url.clone(), config.data_key.clone()),
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
    tracing::info!(%addr, "myhero-app listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)?;
    tracing::info!("myhero-app stopped");
    Ok(())
}
