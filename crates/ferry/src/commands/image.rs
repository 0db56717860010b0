//! `ferry image build|push|pull|ls|inspect`: the image toolkit from the
//! command line, against a local OCI-layout store (`--store`,
//! `$FERRY_IMAGE_STORE`, default `<data root>/images`), with progress bars
//! on transfers and `-o json|yaml` for machines.

use ferry_core::sync::MutexExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use ferry_image::build::{Compression, ImageBuilder, busybox};
use ferry_image::{
    Credentials, ImageRef, ProgressEvent, PullOptions, PushOptions, RegistryClient, Store,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use super::BadInput;
use crate::output::{self, Format};

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from directories, a Linux binary (with its shared libraries) or busybox
    Build(BuildArgs),
    /// Push a stored image to a registry
    Push(PushArgs),
    /// Pull an image from a registry into the local store
    Pull(PullArgs),
    /// List the images in the local store
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show an image's manifest and config
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The local image store (an OCI image layout directory)
    #[arg(long, env = "FERRY_IMAGE_STORE", value_name = "DIR", global = true)]
    pub store: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Registry user name
    #[arg(long, env = "FERRY_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Registry password or robot secret (prefer the environment variable)
    #[arg(long, env = "FERRY_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayerCompression {
    Gzip,
    Zstd,
    None,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name of the image in the store; a full reference (127.0.0.1:5000/app:v1) can be pushed with --push
    #[arg(short = 't', long = "tag", value_name = "NAME", required = true)]
    pub tag: String,
    /// Add a host directory as a layer: SRC or SRC:DEST (default DEST /)
    #[arg(long = "dir", value_name = "SRC[:DEST]")]
    pub dirs: Vec<String>,
    /// Add a Linux binary with its shared libraries and loader: PATH or PATH:DEST (default /app/<name>)
    #[arg(long, value_name = "PATH[:DEST]")]
    pub binary: Option<String>,
    /// Start from busybox-static (/bin/busybox) with its applets
    #[arg(long)]
    pub busybox: bool,
    /// A busybox httpd image whose / and /version answer VERSION
    #[arg(long, value_name = "VERSION", conflicts_with = "busybox")]
    pub httpd: Option<String>,
    /// Port for --httpd
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Entrypoint, as a JSON array or space-separated words
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Default arguments, as a JSON array or space-separated words
    #[arg(long)]
    pub cmd: Option<String>,
    /// Environment variable KEY=VALUE (repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Exposed port, e.g. 8080 or 53/udp (repeatable)
    #[arg(long)]
    pub expose: Vec<String>,
    /// Label KEY=VALUE (repeatable)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Working directory
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// User (name or uid[:gid])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Layer compression
    #[arg(long, value_enum, default_value = "gzip")]
    pub compression: LayerCompression,
    /// Push to the registry named by --tag after building
    #[arg(long)]
    pub push: bool,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The stored image (name or digest)
    pub image: String,
    /// Where to push (default: the image's own name)
    pub target: Option<String>,
    /// Try cross-repository mounts from this repository of the target registry
    #[arg(long, value_name = "REPO")]
    pub mount_from: Option<String>,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image reference, e.g. 127.0.0.1:5000/app:v1 or ...@sha256:...
    pub image: String,
    /// Platform to pick from a multi-platform image (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Output format
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The stored image (name or digest)
    pub image: String,
    /// Output format (default json)
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs an `image` subcommand.
pub fn run(cmd: ImageCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ImageCommand::Build(a) => build(a),
        ImageCommand::Push(a) => push(a),
        ImageCommand::Pull(a) => pull(a),
        ImageCommand::Ls(a) => ls(a),
        ImageCommand::Inspect(a) => inspect(a),
    }
}

fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    let dir = args.store.clone().unwrap_or_else(default_store);
    Store::open(&dir).with_context(|| format!("cannot open image store {}", dir.display()))
}

fn default_store() -> PathBuf {
    if let Some(d) = std::env::var_os("FERRY_DATA_DIR") {
        return PathBuf::from(d).join("images");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".local/share")
        });
    data.join("ferry/images")
}

fn credentials(a: &AuthArgs) -> Option<Credentials> {
    a.username.clone().map(|username| Credentials {
        username,
        password: a.password.clone().unwrap_or_default(),
    })
}

fn parse_ref(s: &str) -> anyhow::Result<ImageRef> {
    ImageRef::parse(s)
        .map_err(|e| BadInput(format!("{e} (expected e.g. 127.0.0.1:5000/team/app:v1)")).into())
}

fn words(s: &str) -> anyhow::Result<Vec<String>> {
    if s.trim_start().starts_with('[') {
        return serde_json::from_str(s)
            .map_err(|e| BadInput(format!("`{s}` is not a JSON array of strings: {e}")).into());
    }
    Ok(s.split_whitespace().map(str::to_string).collect())
}

fn key_value<'a>(flag: &str, s: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| BadInput(format!("{flag} `{s}`: expected KEY=VALUE")).into())
}

fn build(a: BuildArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let mut b = match (&a.httpd, a.busybox) {
        (Some(v), _) => busybox::httpd_image(v, a.port)?,
        (None, true) => busybox::busybox_image()?,
        (None, false) => ImageBuilder::new(),
    };
    for d in &a.dirs {
        let (src, dest) = d.split_once(':').unwrap_or((d, "/"));
        if !Path::new(src).is_dir() {
            return Err(BadInput(format!("--dir {src}: not a directory")).into());
        }
        b = b.dir(Path::new(src), dest)?;
    }
    if let Some(bin) = &a.binary {
        let (src, dest) = match bin.split_once(':') {
            Some((s, d)) => (s.to_string(), d.to_string()),
            None => (
                bin.clone(),
                format!(
                    "/app/{}",
                    Path::new(bin)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            ),
        };
        if !Path::new(&src).is_file() {
            return Err(BadInput(format!("--binary {src}: no such file")).into());
        }
        b = b.binary(Path::new(&src), &dest)?;
    }
    if let Some(e) = &a.entrypoint {
        b = b.entrypoint(words(e)?);
    }
    if let Some(c) = &a.cmd {
        b = b.cmd(words(c)?);
    }
    for e in &a.env {
        let (k, v) = key_value("--env", e)?;
        b = b.env(k, v);
    }
    for l in &a.labels {
        let (k, v) = key_value("--label", l)?;
        b = b.label(k, v);
    }
    for p in &a.expose {
        b = b.expose(p);
    }
    if let Some(w) = &a.workdir {
        b = b.working_dir(w);
    }
    if let Some(u) = &a.user {
        b = b.user(u);
    }
    b = b.compression(match a.compression {
        LayerCompression::Gzip => Compression::Gzip,
        LayerCompression::Zstd => Compression::Zstd,
        LayerCompression::None => Compression::None,
    });
    let spinner = ProgressBar::new_spinner().with_message(format!("building {}", a.tag));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let built = b.build(&store, Some(&a.tag));
    spinner.finish_and_clear();
    let built = built.map_err(|e| match e {
        ferry_image::Error::Build(m) => anyhow::Error::new(BadInput(m)),
        other => other.into(),
    })?;
    println!("{} {}", a.tag, built.digest());
    if a.push {
        let target = parse_ref(&a.tag)?;
        push_image(&store, &a.tag, &target, None, &a.auth)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn push(a: PushArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let target = parse_ref(a.target.as_deref().unwrap_or(&a.image))?;
    push_image(&store, &a.image, &target, a.mount_from.clone(), &a.auth)?;
    Ok(ExitCode::SUCCESS)
}

fn push_image(
    store: &Store,
    name: &str,
    target: &ImageRef,
    mount_from: Option<String>,
    auth: &AuthArgs,
) -> anyhow::Result<()> {
    let client = RegistryClient::new(&target.registry, credentials(auth))?;
    let (bars, progress) = progress_bars();
    let opts = PushOptions {
        mount_from,
        progress: Some(ferry_image::push::ProgressHandle(progress)),
        ..PushOptions::default()
    };
    let digest = super::runtime()?.block_on(ferry_image::push(&client, store, name, target, &opts));
    bars.clear().ok();
    let digest = digest.with_context(|| format!("push {name} to {target}"))?;
    println!("pushed {target}@{digest}");
    Ok(())
}

fn pull(a: PullArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let image = parse_ref(&a.image)?;
    let mut opts = PullOptions::default();
    if let Some(p) = &a.platform {
        opts.platform = ferry_image::pull::Platform::parse(p)
            .ok_or_else(|| BadInput(format!("--platform `{p}`: expected os/arch[/variant]")))?;
    }
    let client = RegistryClient::new(&image.registry, credentials(&a.auth))?;
    let (bars, progress) = progress_bars();
    opts.progress = Some(progress);
    let pulled = super::runtime()?.block_on(ferry_image::pull(&client, &image, &store, &opts));
    bars.clear().ok();
    let pulled = pulled.with_context(|| format!("pull {image}"))?;
    println!("pulled {} {}", pulled.name, pulled.digest());
    Ok(ExitCode::SUCCESS)
}

/// One row of `ferry image ls`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageRow {
    name: String,
    digest: String,
    size: u64,
    layers: usize,
    media_type: String,
}

fn ls(a: LsArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let mut rows = Vec::new();
    for (name, _) in store.list()? {
        let img = store.image(&name)?;
        rows.push(ImageRow {
            digest: img.digest(),
            size: img.size(),
            layers: img.manifest.layers().len(),
            media_type: img.descriptor.media_type().to_string(),
            name,
        });
    }
    match a.output {
        Some(f @ (Format::Json | Format::Yaml)) => output::structured(f, &rows)?,
        wide => {
            let wide = wide == Some(Format::Wide);
            let mut headers = vec!["NAME", "DIGEST", "SIZE"];
            if wide {
                headers.extend(["LAYERS", "MEDIA TYPE"]);
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let digest = if wide {
                        r.digest.clone()
                    } else {
                        r.digest.chars().take(19).collect()
                    };
                    let mut row = vec![
                        r.name.clone(),
                        digest,
                        indicatif::HumanBytes(r.size).to_string(),
                    ];
                    if wide {
                        row.extend([r.layers.to_string(), r.media_type.clone()]);
                    }
                    row
                })
                .collect();
            print!("{}", output::table(&headers, &table));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let img = store.image(&a.image).map_err(|e| match e {
        ferry_image::Error::NotInStore(_) => anyhow::Error::new(BadInput(e.to_string())),
        other => other.into(),
    })?;
    let value = serde_json::json!({
        "name": img.name,
        "digest": img.digest(),
        "size": img.size(),
        "manifest": img.manifest,
        "config": img.config,
    });
    output::structured(a.output.unwrap_or(Format::Json), &value)?;
    Ok(ExitCode::SUCCESS)
}

/// indicatif bars, one per blob, fed by transfer progress events.
fn progress_bars() -> (MultiProgress, ferry_image::Progress) {
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bars: Arc<Mutex<HashMap<String, ProgressBar>>> = Arc::default();
    let m = multi.clone();
    let progress: ferry_image::Progress = Arc::new(move |e: ProgressEvent| {
        let mut bars = bars.lock_or_recover();
        match e {
            ProgressEvent::Start { id, total } => {
                let bar = m.add(ProgressBar::new(total).with_style(style.clone()));
                bar.set_prefix(
                    id.split(':')
                        .nth(1)
                        .unwrap_or(&id)
                        .chars()
                        .take(12)
                        .collect::<String>(),
                );
                bars.insert(id, bar);
            }
            ProgressEvent::Advance { id, bytes } => {
                if let Some(b) = bars.get(&id) {
                    b.inc(bytes);
                }
            }
            ProgressEvent::Done { id, skipped } => {
                if let Some(b) = bars.get(&id) {
                    b.finish_with_message(if skipped { "exists" } else { "done" });
                }
            }
        }
    });
    (multi, progress)
}
