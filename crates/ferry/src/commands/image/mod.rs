//! `ferry image build|push|pull|ls|inspect`: the image toolkit from the
//! command line, against a local OCI-layout store (`--store`,
//! `$FERRY_IMAGE_STORE`, default `<data root>/images`), with progress bars
//! on transfers and `-o json|yaml` for machines.

mod build;
mod local;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use ferry_image::{Credentials, ImageRef, Store};

use super::BadInput;
use crate::output::Format;
use build::build;
use local::{inspect, ls};
use transfer::{pull, push};

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
