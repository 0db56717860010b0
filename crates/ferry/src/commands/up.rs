//! `ferry up`: starts every region of the topology in this process, prints
//! the endpoint table, and runs until SIGINT or SIGTERM, then shuts down
//! gracefully (in-flight requests finish, components stop their children).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ferry_core::topology::Topology;
use ferry_server::ServerConfig;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::UpArgs;
use crate::commands::{read_sources, runtime};
use crate::credentials::Credentials;
use crate::output::{self, Format};

pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let topology = if args.config.is_empty() {
        let mut t = Topology::builtin();
        let l = &mut t.regions[0].spec.listeners;
        l.api = args.api.unwrap_or(l.api);
        l.registry = args.registry.unwrap_or(l.registry);
        l.gateway = args.gateway.unwrap_or(l.gateway);
        t
    } else {
        let sources = read_sources(&args.config)?;
        Topology::from_sources(&sources)?
    };
    let config_dir = args
        .config
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let data_root = args.data_dir.clone().unwrap_or_else(default_data_root);
    let mut credentials = Credentials::load()?;
    let config = ServerConfig {
        known_tokens: credentials.known_tokens(&topology),
        topology,
        data_root,
        config_dir,
    };
    runtime()?.block_on(serve(config, &mut credentials, args.output))
}

async fn serve(
    config: ServerConfig,
    credentials: &mut Credentials,
    format: Option<Format>,
) -> anyhow::Result<ExitCode> {
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut running = ferry_server::start(config).await?;
    credentials.record(&running)?;
    let endpoints = running.endpoints();
    match format {
        Some(f @ (Format::Json | Format::Yaml)) => output::structured(f, &endpoints)?,
        _ => {
            let rows: Vec<Vec<String>> = endpoints
                .iter()
                .map(|e| vec![e.region.clone(), e.listener.to_string(), e.url.clone()])
                .collect();
            print!("{}", output::table(&["REGION", "LISTENER", "URL"], &rows));
        }
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    tracing::info!("ferry is up; press Ctrl-C to stop");
    let failed = tokio::select! {
        _ = sigint.recv() => false,
        _ = sigterm.recv() => false,
        _ = running.wait_for_failure() => true,
    };
    tracing::info!("shutting down");
    running.shutdown().await;
    if failed {
        anyhow::bail!("a component stopped unexpectedly; see the log above");
    }
    Ok(ExitCode::SUCCESS)
}

/// `$XDG_DATA_HOME/ferry`, else `~/.local/share/ferry`, else `./.ferry`.
pub(crate) fn default_data_root() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(x).join("ferry");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/ferry"),
        None => PathBuf::from(".ferry"),
    }
}
