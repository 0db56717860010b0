//! What every myhero binary does around its service: logs to stdout (the
//! tutorial's services log there), and resolves a shutdown future on SIGTERM
//! or Ctrl-C. Included by each binary with `#[path]`, as it is too small for
//! a crate of its own.

/// Installs a `tracing` subscriber writing to stdout; `RUST_LOG` sets the level.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stdout)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
    }
}
