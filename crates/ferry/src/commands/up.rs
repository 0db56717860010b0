//! `ferry up`: starts every region of the topology in this process (or
//! only `--region NAME`, the others running elsewhere), prints
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
        kube_targets: Some(std::sync::Arc::new(
            crate::kube_targets::KubeConnector::default(),
        )),
        topology,
        data_root,
        config_dir,
        // API tokens are not checked yet, so no API listener may leave loopback.
        auth_enabled: true,
    };
    // With --region, the other regions' directories belong to other processes.
    let regions = config.topology.regions.iter();
    for (region, dir) in regions.zip(config.region_data_dirs()) {
        if args
            .region
            .as_ref()
            .is_none_or(|r| *r == region.metadata.name)
        {
            report_leftovers(&dir);
        }
    }
    runtime()?.block_on(serve(config, args.region, &mut credentials, args.output))
}

async fn serve(
    config: ServerConfig,
    region: Option<String>,
    credentials: &mut Credentials,
    format: Option<Format>,
) -> anyhow::Result<ExitCode> {
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut running = match region {
        Some(name) => ferry_server::start_region(config, &name).await?,
        None => ferry_server::start(config).await?,
    };
    credentials.record(&running)?;
    let endpoints = running.endpoints();
    match format {
        Some(f @ (Format::Json | Format::Yaml)) => {
            if let Err(e) = output::structured(f, &endpoints) {
                tracing::warn!(error = %e, "cannot print the endpoints");
            }
        }
        _ => {
            let rows: Vec<Vec<String>> = endpoints
                .iter()
                .map(|e| vec![e.region.clone(), e.listener.to_string(), e.url.clone()])
                .collect();
            // Errors ignored: a closed stdout must not stop ferry (or skip
            // its shutdown later).
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = write!(
                out,
                "{}",
                output::table(&["REGION", "LISTENER", "URL"], &rows)
            );
            let _ = out.flush();
        }
    }
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

/// Says what a previous ferry process on this data directory left running
/// (it was killed, or crashed, before shutting down). The runtime
/// re-adopts the pods it still stores — their containers keep running —
/// and tears down and restarts those whose containers are gone.
fn report_leftovers(data_dir: &Path) {
    let found = crate::leftovers::find(data_dir);
    if !found.is_empty() {
        tracing::warn!(
            data_dir = %data_dir.display(),
            "a previous ferry on this data directory did not shut down: found {}; re-adopting \
             the pods it still stores (see `ferry get events`, reason Adopted), restarting the rest",
            found.summary()
        );
    }
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
