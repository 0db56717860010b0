//! myhero-ernst binary: reads the tutorial's environment variables, logs to
//! stdout and consumes votes until SIGTERM or Ctrl-C.
#![forbid(unsafe_code)]

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stdout)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let config = myhero_ernst::Config::from_env().context("myhero-ernst configuration")?;
    myhero_ernst::run(config, shutdown())
        .await
        .context("myhero-ernst")
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
    }
}
