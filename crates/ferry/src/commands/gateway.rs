//! `ferry gateway serve`: the region's gateway on its own, routing from
//! manifest files — Ingress, Gateway API and Istio routing objects, and the
//! Istio `ServiceEntry`s that list the Services' endpoints by address. The
//! same proxy code as under `ferry up`, with host networking and a fixed set
//! of Services; `--workers 1` runs it on a single thread (one event loop, as
//! one nginx worker or one HAProxy thread does), which `bench/gateway.sh`
//! measures.

use std::io::Write as _;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use ferry_gateway::{Gateway, GatewayConfig, HostDialer};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::commands::{BadInput, read_sources};

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Serve routes from manifest files (routing objects, and ServiceEntries listing the backends)
    Serve(GatewayServeArgs),
}

#[derive(Debug, Args)]
pub struct GatewayServeArgs {
    /// Manifests: Ingress, Gateway, HTTPRoute, VirtualService, DestinationRule, and a ServiceEntry (resolution STATIC, endpoints by IP) per Service routed to
    #[arg(short = 'f', long = "config", value_name = "FILE", required = true)]
    pub config: Vec<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the first line printed says which)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Worker threads (default: one per CPU); 1 runs everything on one thread
    #[arg(long, value_name = "N")]
    pub workers: Option<NonZeroUsize>,
}

pub fn run(cmd: GatewayCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GatewayCommand::Serve(args) => serve(args),
    }
}

fn serve(args: GatewayServeArgs) -> anyhow::Result<ExitCode> {
    // Everything is checked before a port opens.
    let sources = read_sources(&args.config)?;
    let manifests = ferry_gateway::files::load(&sources).map_err(|p| BadInput(p.to_string()))?;
    let single = args.workers.map(NonZeroUsize::get) == Some(1);
    let mut rt = if single {
        // One thread in all: jemalloc's purging thread (on in
        // `.cargo/config.toml`) is stopped too. A process of one thread
        // takes no file reference per socket call (the kernel's fast path
        // for an unshared descriptor table); the cost is that freed pages
        // go back to the system only while the allocator is in use.
        tikv_jemalloc_ctl::background_thread::write(false)
            .map_err(|e| anyhow::anyhow!("stopping jemalloc's background thread: {e}"))?;
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if let Some(n) = args.workers.filter(|_| !single) {
        rt.worker_threads(n.get());
    }
    rt.enable_all().build()?.block_on(async move {
        let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let (_services, rx) = tokio::sync::watch::channel(manifests.services);
        let gateway = Gateway::new(Arc::new(HostDialer), rx, GatewayConfig::default());
        gateway
            .apply(manifests.objects)
            .map_err(|p| BadInput(p.to_string()))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| {
                BadInput(format!(
                    "cannot listen on {}: {e}; pick another --listen or stop the process using it",
                    args.listen
                ))
            })?;
        println!("gateway listening on http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        let shutdown = CancellationToken::new();
        let server = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { gateway.serve(listener, shutdown).await }
        });
        tokio::select! {
            _ = sigint.recv() => {},
            _ = sigterm.recv() => {},
        }
        tracing::info!("shutting down");
        shutdown.cancel();
        let _ = server.await;
        Ok(ExitCode::SUCCESS)
    })
}
