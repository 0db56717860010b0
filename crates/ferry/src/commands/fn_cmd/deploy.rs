//! `ferry fn deploy [DIR]`: a Rust function's static binary first (`cargo
//! build --release` with `crt-static`, copied to `fn-bin`), then the image
//! from the project's Dockerfile with ferry's daemonless builder, pushed to
//! the region's registry as `fn/NAME:<digest prefix>` (a new tag per
//! content, so the runtime pulls it once), then `service.yaml` applied
//! through the API with that image, and a wait for the Service to be
//! Ready (its image pre-warmed).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferry_build::BuildOptions;
use serde_json::{Value, json};

use super::DeployArgs;
use crate::client::Client;
use crate::commands::BadInput;

pub fn run(a: DeployArgs) -> anyhow::Result<ExitCode> {
    let dir = a.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let manifest = dir.join("service.yaml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| BadInput(format!("cannot read {}: {e}", manifest.display())))?;
    let mut svc: Value = serde_saphyr::from_str(&text)
        .map_err(|e| BadInput(format!("{}: {e}", manifest.display())))?;
    let name = svc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| BadInput(format!("{}: no metadata.name", manifest.display())))?
        .to_string();
    if dir.join("Cargo.toml").is_file() {
        cargo_build(&dir, &name)?;
    }
    let client = Client::new(&a.server)?;
    let ep = super::endpoints(&client)?;
    let (registry, local) = (s(&ep, "registry"), s(&ep, "localRegistry"));
    let built = build(&dir)?;
    let digest = built.digest();
    let tag = digest.trim_start_matches("sha256:")[..12].to_string();
    let push = format!("{registry}/fn/{name}:{tag}");
    crate::commands::runtime()?.block_on(ferry_build::output::push(
        &built,
        std::slice::from_ref(&push),
        &Default::default(),
    ))?;
    eprintln!("pushed {push}");
    let image = format!("{local}/fn/{name}:{tag}");
    let Some(c) = svc.pointer_mut("/spec/template/spec/containers/0") else {
        bail!("{}: no spec.template.spec.containers", manifest.display());
    };
    c["image"] = json!(image);
    let body = json!({
        "sources": [{"file": manifest.display().to_string(), "text": serde_json::to_string_pretty(&svc)?}],
        "namespace": a.namespace,
    });
    let _: Value = client.post("/apply", &body)?;
    let ns = svc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(&a.namespace)
        .to_string();
    let url = wait_ready(&client, &ns, &name)?;
    println!("function {name} deployed: {image}, {url} (ferry fn invoke {name})");
    Ok(ExitCode::SUCCESS)
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// Builds the image from `dir`'s Dockerfile, printing steps.
fn build(dir: &Path) -> anyhow::Result<ferry_build::Built> {
    let data_root = std::env::var_os("FERRY_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(crate::commands::up::default_data_root);
    let opts = BuildOptions {
        context: dir.to_path_buf(),
        dockerfile: None,
        build_args: Default::default(),
        target: None,
        cache_dir: ferry_build::exec::cache_dir(&data_root),
        no_cache: false,
        allow: Default::default(),
    };
    let print = |e: ferry_build::Event| eprintln!("{}", ferry_build::progress::render(&e));
    match ferry_build::build(&opts, &print) {
        Ok(b) => Ok(b),
        Err(e) if e.is_bad_input() => Err(BadInput(e.to_string()).into()),
        Err(e) => Err(anyhow::Error::new(e).context("build failed; nothing was pushed")),
    }
}

/// `cargo build --release` of a Rust function as a static binary, copied
/// to `<dir>/fn-bin` for its Dockerfile.
fn cargo_build(dir: &Path, name: &str) -> anyhow::Result<()> {
    let dir = &std::path::absolute(dir)?;
    let target = dir.join("target");
    eprintln!("cargo build --release (static) in {}", dir.display());
    let status = Command::new("cargo")
        .args(["build", "--release", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .status()
        .context("running cargo (the http-rust template builds on this host)")?;
    if !status.success() {
        bail!("cargo build failed ({status}); nothing was pushed");
    }
    let bin = target.join("release").join(name);
    std::fs::copy(&bin, dir.join("fn-bin"))
        .with_context(|| format!("copying {} to fn-bin", bin.display()))?;
    Ok(())
}

/// Waits up to a minute for the Service to be Ready; its URL.
fn wait_ready(client: &Client, ns: &str, name: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value = client.get(&format!("/objects/ksvc/{ns}/{name}"))?;
        let ready = v
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        let current = v.pointer("/status/observedGeneration") == v.pointer("/metadata/generation");
        if ready && current {
            return Ok(s(&v["status"], "url"));
        }
        if Instant::now() >= deadline {
            bail!("ksvc/{name} is not Ready after 60 s: {}", v["status"]);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
