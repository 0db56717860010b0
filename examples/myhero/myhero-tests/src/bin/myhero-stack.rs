//! myhero-stack: one binary that runs any myhero service, chosen by its
//! first argument (`data`, `app`, `ernst`, `ui`), configured by the same
//! environment variables as the per-service binaries. The end-to-end tests
//! run it because Cargo only hands a package's tests its own binaries.
#![forbid(unsafe_code)]

use anyhow::{Context, bail};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stdout)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let which = std::env::args().nth(1).unwrap_or_default();
    match which.as_str() {
        "data" => {
            myhero_data::run(
                myhero_data::Config::from_env().context("myhero-data configuration")?,
                shutdown(),
            )
            .await?
        }
        "app" => {
            myhero_app::run(
                myhero_app::Config::from_env().context("myhero-app configuration")?,
                shutdown(),
            )
            .await?
        }
        "ernst" => {
            myhero_ernst::run(
                myhero_ernst::Config::from_env().context("myhero-ernst configuration")?,
                shutdown(),
            )
            .await?
        }
        "ui" => {
            myhero_ui::run(
                myhero_ui::Config::from_env().context("myhero-ui configuration")?,
                shutdown(),
            )
            .await?
        }
        other => bail!("unknown service {other:?}; run `myhero-stack data|app|ernst|ui`"),
    }
    Ok(())
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
