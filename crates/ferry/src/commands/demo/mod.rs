//! `ferry demo`: ferry's main job end to end on one machine. Two regions
//! (`uk` builds and runs dev, `shanghai` runs prod) start in this process; a
//! git repository holding myhero is created; a commit to `dev` is built,
//! pushed to uk's registry and deployed to dev; the merge to `master` is
//! built as `prod-…`, replicated to shanghai's registry and deployed there
//! from shanghai's own registry; then a one-line change to the UI travels
//! the same path (only the UI's image is rebuilt and its pods restarted)
//! while the demo measures commit-to-serving in each region. It keeps
//! running (the repository stays live: commit to it and watch) until Ctrl-C,
//! then removes everything it created.

mod repo;
mod topology;
mod watch;

use crate::output::say;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use ferry_core::topology::Topology;
use ferry_server::ServerConfig;

use crate::credentials::Credentials;
use crate::leftovers;
use tokio::signal::unix::{SignalKind, signal};

use watch::{Answer, Watcher};

/// Marks a directory `ferry demo` created (and may therefore remove).
const MARKER: &str = ".ferry-demo";
const UI_HOST: &str = "myhero-ui.myhero.local";
const APP_HOST: &str = "myhero-app.myhero.local";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo's repository and region data (default: <data root>/demo; removed on exit)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Directory holding the myhero-data and myhero-app binaries (default: next to ferry)
    #[arg(long, value_name = "DIR")]
    pub bin: Option<PathBuf>,
    /// First of six consecutive ports for the regions (default: uk 7071/5001/8081, shanghai 7072/5002/8082)
    #[arg(long, value_name = "PORT")]
    pub ports: Option<u16>,
    /// Keep the demo directory on exit
    #[arg(long)]
    pub keep: bool,
    /// Exit once the change has reached both regions instead of running until Ctrl-C
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds each stage may take before the demo gives up
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    preflight()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| super::up::default_data_root().join("demo"));
    prepare_dir(&dir)?;
    let result = super::runtime()?.block_on(demo(&args, &dir));
    if !args.keep && dir.exists() {
        // Whatever shutdown could not stop is stopped here, before any
        // file is removed (never delete through a mounted root filesystem).
        if let Err(e) = remove_demo_dir(&dir, &leftovers::find(&dir)) {
            tracing::warn!(error = %format!("{e:#}"), "cleaning up the demo directory");
        }
    }
    result
}

/// Stops `found`'s containers, unmounts its mounts, then removes `dir`.
fn remove_demo_dir(dir: &Path, found: &leftovers::Leftovers) -> anyhow::Result<()> {
    let failed = leftovers::clean(found);
    if !failed.is_empty() {
        bail!(
            "could not remove {} under {}; remove them by hand (runc delete --force, umount -l): {}",
            failed.len(),
            dir.display(),
            failed.join("; ")
        );
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// Root and runc are needed to run containers.
fn preflight() -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|u| u.split_whitespace().nth(1))
        == Some("0");
    if !root {
        bail!("ferry demo runs containers with runc and needs root: run it with sudo (or as root)");
    }
    let runc = std::process::Command::new("runc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !runc {
        bail!("runc is not installed: run scripts/setup.sh (or apt-get install runc)");
    }
    Ok(())
}

/// Empties `dir` if an earlier demo left it, first stopping the containers
/// and removing the mounts of a demo that died without cleaning up (and
/// saying so); refuses a directory it did not create.
fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            bail!(
                "{} exists and was not created by `ferry demo`; pass --dir with a new directory",
                dir.display()
            );
        }
        let found = leftovers::find(dir);
        if !found.is_empty() {
            say!(
                "a previous ferry demo in {} did not clean up: stopping and removing its {}",
                dir.display(),
                found.summary()
            );
        }
        remove_demo_dir(dir, &found)?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "created by ferry demo; removed on exit\n")?;
    Ok(())
}

fn step(title: &str) {
    say!("\n== {title}");
}

async fn demo(args: &DemoArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let bin_dir = match &args.bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let repo = dir.join("myhero");
    let (uk, sh) = topology::ports(args.ports);
    step("creating the myhero repository");
    repo::write(&repo, &bin_dir)?;
    repo::git(&repo, &["init", "-q", "-b", "dev"])?;
    repo::install_hook(&repo, &format!("127.0.0.1:{}", uk.api))?;
    say!(
        "  {} (branch dev; a hook tells ferry about every commit)",
        repo.display()
    );

    let text = topology::yaml(&repo, uk, sh);
    let topo_file = dir.join("topology.yaml");
    std::fs::write(&topo_file, &text)?;
    let topology = Topology::from_sources(&[(topo_file.display().to_string(), text)])?;
    step("starting regions uk (builds, runs dev) and shanghai (runs prod)");
    let mut credentials = Credentials::load()?;
    let mut running = ferry_server::start(ServerConfig {
        known_tokens: credentials.known_tokens(&topology),
        kube_targets: None,
        topology,
        data_root: dir.to_path_buf(),
        config_dir: dir.to_path_buf(),
        auth_enabled: true,
    })
    .await?;
    credentials.record(&running)?;
    for e in running.endpoints() {
        say!("  {:<9} {:<9} {}", e.region, e.listener, e.url);
    }
    say!(
        "  admin tokens for both regions are in {} (every ferry verb uses them)",
        credentials.path().display()
    );
    let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let limit = Duration::from_secs(args.timeout);
    let mut w = Watcher::new(addr(uk.api), credentials.token("uk").unwrap_or_default());

    let steps = async {
        step("1. commit myhero to `dev` → build in uk, push to uk's registry, deploy to dev");
        repo::git(&repo, &["add", "-A"])?;
        repo::git(&repo, &["commit", "-q", "-m", "myhero v1"])?;
        let dev = |heading| Answer::ui("dev", addr(uk.gateway), heading);
        let dev_app = Answer::app("dev", addr(uk.gateway));
        w.until(&[dev("Make ONE voice heard"), dev_app], limit, async |_| {})
            .await?;
        say!(
            "  dev answers through uk's gateway:\n    curl -H 'Host: {UI_HOST}' http://127.0.0.1:{}/",
            uk.gateway
        );

        step("2. merge `dev` into `master` → build prod-…, replicate to shanghai, deploy to prod");
        repo::git(&repo, &["branch", "master"])?;
        let sha7 = repo::git(&repo, &["rev-parse", "--short=7", "HEAD"])?;
        let tag = format!("prod-{sha7}");
        let prod = |heading| Answer::ui("prod", addr(sh.gateway), heading);
        let prod_app = Answer::app("prod", addr(sh.gateway));
        w.until(
            &[prod("Make ONE voice heard"), prod_app],
            limit,
            async |w| {
                w.print_arrival(addr(uk.registry), "uk", "myhero/ui", &tag)
                    .await;
                w.print_arrival(addr(sh.registry), "shanghai", "myhero/ui", &tag)
                    .await;
            },
        )
        .await?;
        let images = w.env_images("prod").await;
        let own = format!("127.0.0.1:{}/", sh.registry);
        if images.is_empty() || !images.iter().all(|i| i.starts_with(&own)) {
            bail!("prod should run images from shanghai's registry ({own}), runs {images:?}");
        }
        say!(
            "  prod runs from shanghai's own registry: {}",
            images.join(", ")
        );
        say!(
            "  prod answers through shanghai's gateway:\n    curl -H 'Host: {UI_HOST}' http://127.0.0.1:{}/",
            sh.gateway
        );

        step(
            "3. a one-line change (the UI's heading, v1 → v2) through both regions: only myhero-ui is rebuilt and restarted",
        );
        repo::bump_ui_version(&repo)?;
        repo::git(&repo, &["commit", "-q", "-am", "ui: v2 heading"])?;
        let t_uk = w
            .until(&[dev("Make TWO voices heard")], limit, async |_| {})
            .await?;
        say!("  commit-to-serving in uk: {:.2}s", t_uk.as_secs_f64());
        repo::git(&repo, &["checkout", "-q", "master"])?;
        repo::git(&repo, &["merge", "-q", "--ff-only", "dev"])?;
        repo::git(&repo, &["checkout", "-q", "dev"])?;
        let t_sh = w
            .until(&[prod("Make TWO voices heard")], limit, async |_| {})
            .await?;
        say!(
            "  merge-to-serving in shanghai (build, replication, deploy): {:.2}s",
            t_sh.as_secs_f64()
        );
        anyhow::Ok(())
    };
    // Ctrl-C stops the demo at any step, not only once it is serving.
    let outcome = tokio::select! {
        r = steps => r.map(|()| true),
        _ = sigint.recv() => Ok(false),
        _ = sigterm.recv() => Ok(false),
    };
    match outcome {
        Err(e) => {
            running.shutdown().await;
            return Err(e);
        }
        Ok(false) => {
            say!("stopping…");
            running.shutdown().await;
            return Ok(ExitCode::SUCCESS);
        }
        Ok(true) => {}
    }
    step("ferry is delivering myhero");
    say!(
        "  repository: {} — commit to `dev` (uk) or merge to `master` (shanghai)",
        repo.display()
    );
    say!(
        "  ferry app get myhero --server http://127.0.0.1:{}",
        uk.api
    );
    say!("  ferry pipeline runs --server http://127.0.0.1:{}", uk.api);
    say!(
        "  curl -H 'Host: {UI_HOST}' http://127.0.0.1:{}/   (dev, uk)",
        uk.gateway
    );
    say!(
        "  curl -H 'Host: {UI_HOST}' http://127.0.0.1:{}/   (prod, shanghai)",
        sh.gateway
    );
    if !args.no_wait {
        say!("\nPress Ctrl-C to stop and clean up.");
        tokio::select! {
            _ = sigint.recv() => {},
            _ = sigterm.recv() => {},
            _ = running.wait_for_failure() => {
                running.shutdown().await;
                bail!("a component stopped unexpectedly; see the log above");
            },
        }
    }
    say!("stopping…");
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
