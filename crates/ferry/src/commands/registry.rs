//! `ferry registry serve|gc|hash-secret`: a standalone OCI registry on one
//! address, garbage collection of a registry directory (safe while a server
//! uses it), and hashing a secret for a user or robot's `secretHash`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ferry_core::events::EventBus;
use ferry_core::registry_spec::RegistrySpec;
use ferry_registry::{Config, GcOptions, Registry};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::cli::{RegistryCommand, RegistryGcArgs, RegistryServeArgs};
use crate::commands::{BadInput, read_sources, runtime};
use crate::output::{self, Format};

pub fn run(cmd: RegistryCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RegistryCommand::Serve(args) => serve(args),
        RegistryCommand::Gc(args) => gc(args),
        RegistryCommand::Replication(cmd) => super::replication::run(cmd),
        RegistryCommand::HashSecret => {
            let mut secret = String::new();
            std::io::stdin()
                .read_line(&mut secret)
                .context("reading the secret from stdin")?;
            let secret = secret.trim_end_matches(['\r', '\n']);
            if secret.is_empty() {
                return Err(BadInput("no secret on stdin: pipe it in, e.g. `echo -n s3cret | ferry registry hash-secret`".into()).into());
            }
            println!("{}", ferry_registry::auth::hash_secret(secret));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Parses `90s`, `30m`, `1h`, `2d` or plain seconds (a clap `value_parser`).
pub fn parse_duration(s: &str) -> Result<Duration, BadInput> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| BadInput(format!("`{s}` is not a duration like 30s, 10m, 1h or 2d")))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => {
            return Err(BadInput(format!(
                "unknown unit `{unit}` in `{s}` (use s, m, h or d)"
            )));
        }
    };
    Ok(Duration::from_secs(secs))
}

fn load_spec(args: &RegistryServeArgs) -> anyhow::Result<RegistrySpec> {
    let Some(file) = &args.config else {
        return Ok(RegistrySpec::default());
    };
    let (name, text) = read_sources(std::slice::from_ref(file))?.remove(0);
    serde_saphyr::from_str::<RegistrySpec>(&text)
        .map_err(|e| BadInput(format!("{name}: {e}")).into())
}

fn serve(args: RegistryServeArgs) -> anyhow::Result<ExitCode> {
    let spec = load_spec(&args)?;
    if spec.tls.as_ref().is_some_and(|t| t.generate) {
        return Err(BadInput(
            "tls.generate needs a region's CA, so it works under `ferry up` only; give tls.certFile and tls.keyFile".into(),
        )
        .into());
    }
    let config = Config {
        region: args.region.clone(),
        data_dir: args.data_dir.clone(),
        spec,
    };
    runtime()?.block_on(async move {
        let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| {
                BadInput(format!(
                    "cannot listen on {}: {e}; pick another --addr or stop the process using it",
                    args.addr
                ))
            })?;
        let mut metrics = ferry_core::MetricsRegistry::with_prefix("ferry");
        let registry = Registry::open(config.clone(), EventBus::default(), &mut metrics)
            .with_context(|| format!("opening the registry in {}", args.data_dir.display()))?;
        let shutdown = CancellationToken::new();
        let server = registry.serve_on(&config, listener, shutdown.clone())?;
        let scheme = if config.spec.tls.is_some() {
            "https"
        } else {
            "http"
        };
        println!("registry listening on {scheme}://{}", args.addr);
        use std::io::Write;
        std::io::stdout().flush()?;
        let handle = tokio::spawn(server);
        tokio::select! {
            _ = sigint.recv() => {},
            _ = sigterm.recv() => {},
        }
        tracing::info!("shutting down");
        shutdown.cancel();
        let _ = handle.await;
        Ok(ExitCode::SUCCESS)
    })
}

fn gc(args: RegistryGcArgs) -> anyhow::Result<ExitCode> {
    if !args.data_dir.join("store").is_dir() {
        return Err(BadInput(format!(
            "{} is not a registry directory (no store/ inside); pass the --data-dir given to `registry serve`",
            args.data_dir.display()
        ))
        .into());
    }
    let options = GcOptions {
        dry_run: args.dry_run,
        untagged: args.untagged,
        grace: args.grace,
        upload_expiry: args.upload_expiry,
    };
    let report = runtime()?.block_on(ferry_registry::gc_dir(&args.data_dir, &options))?;
    match args.output {
        Some(f @ (Format::Json | Format::Yaml)) => output::structured(f, &report)?,
        _ => {
            let verb = if report.dry_run {
                "would remove"
            } else {
                "removed"
            };
            println!(
                "{verb} {} blobs ({} bytes), {} manifests, {} stale uploads; kept {} blobs",
                report.blobs_removed.len(),
                report.bytes_freed,
                report.manifests_removed.len(),
                report.uploads_removed,
                report.blobs_kept
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
