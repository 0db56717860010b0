//! `ferry fn`: functions as Knative Services, as OpenFaaS' `faas-cli
//! new|deploy|invoke`. `fn new NAME --template http-sh|http-rust` writes a
//! project (source, Dockerfile, `service.yaml`); `fn deploy [DIR]` builds it
//! with ferry's daemonless builder, pushes it to the region's registry and
//! applies the Service (`deploy.rs`); `fn invoke NAME` sends a request
//! through the region's gateway to the Service's URL host and prints the
//! answer. The registry and gateway addresses come from the region's
//! `GET /api/v1/endpoints`.

mod deploy;
mod templates;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::{Client, ServerArg};
use crate::commands::BadInput;

#[derive(Debug, Subcommand)]
pub enum FnCommand {
    /// Write a function project: source, Dockerfile and Knative Service manifest (service.yaml)
    New(NewArgs),
    /// Build the project (no daemon), push it to the region's registry and apply its Service
    Deploy(DeployArgs),
    /// Call a function through the region's gateway and print its answer
    Invoke(InvokeArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The function's name (a DNS label: its Service and image are named after it)
    pub name: String,
    /// http-sh: a shell script run by busybox httpd for each request;
    /// http-rust: a std-only Rust HTTP server, compiled on this host as a static binary by `fn deploy` (needs cargo)
    #[arg(long, default_value = "http-sh", value_parser = templates::NAMES)]
    pub template: String,
    /// Where to write it (default: ./NAME)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The function project (default: the current directory)
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArg,
    /// Set from the global `-n/--namespace`
    #[arg(skip)]
    pub namespace: String,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    pub name: String,
    /// Request body (sent as a POST; without it, a GET)
    #[arg(long, short = 'd')]
    pub data: Option<String>,
    /// Seconds to wait for the answer (a cold start included)
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    #[command(flatten)]
    pub server: ServerArg,
    /// Set from the global `-n/--namespace`
    #[arg(skip)]
    pub namespace: String,
}

/// Runs `ferry fn ...` in namespace `ns`.
pub fn run(cmd: FnCommand, ns: &str) -> anyhow::Result<ExitCode> {
    match cmd {
        FnCommand::New(a) => new(a),
        FnCommand::Deploy(mut a) => {
            a.namespace = ns.to_string();
            deploy::run(a)
        }
        FnCommand::Invoke(mut a) => {
            a.namespace = ns.to_string();
            invoke(a)
        }
    }
}

/// Whether `name` can name a Knative Service (a DNS-1123 label).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn new(a: NewArgs) -> anyhow::Result<ExitCode> {
    if !valid_name(&a.name) {
        return Err(BadInput(format!(
            "function name `{}`: expected lower-case letters, digits and '-' (a DNS label)",
            a.name
        ))
        .into());
    }
    let dir = a.dir.unwrap_or_else(|| PathBuf::from(&a.name));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        return Err(BadInput(format!("{} exists and is not empty", dir.display())).into());
    }
    let files = templates::files(&a.template, &a.name).expect("clap checked the template");
    for (path, text, exec) in files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        if exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    if a.template == "http-sh" {
        std::fs::copy("/bin/busybox", dir.join("busybox"))
            .context("copying /bin/busybox (the http-sh template needs a static busybox)")?;
    }
    println!(
        "function {} ({}) written to {}; deploy it with `ferry fn deploy {}`",
        a.name,
        a.template,
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The region's listener addresses (`GET /api/v1/endpoints`).
pub(crate) fn endpoints(client: &Client) -> anyhow::Result<Value> {
    client
        .get("/endpoints")
        .context("asking the region for its registry and gateway addresses")
}

fn invoke(a: InvokeArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&a.server)?;
    let ksvc: Value = client.get(&format!("/objects/ksvc/{}/{}", a.namespace, a.name))?;
    let url = ksvc
        .pointer("/status/url")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow::anyhow!("ksvc/{} has no URL yet", a.name))?;
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let gateway = endpoints(&client)?["gateway"]
        .as_str()
        .unwrap_or("127.0.0.1:8080")
        .to_string();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(a.timeout))
        .build()?;
    let target = format!("http://{gateway}/");
    let req = match &a.data {
        Some(d) => http.post(&target).body(d.clone()),
        None => http.get(&target),
    };
    let r = req
        .header("host", host)
        .send()
        .with_context(|| format!("calling {url} through the gateway at {gateway}"))?;
    let status = r.status();
    let body = r.text()?;
    print!("{body}");
    if !status.is_success() {
        eprintln!("{url} answered {status}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
