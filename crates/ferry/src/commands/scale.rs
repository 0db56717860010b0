//! `ferry scale deploy/NAME --replicas N` (or `scale deployment NAME`,
//! `scale sts/NAME`): sets a Deployment's or StatefulSet's replica count
//! through the runtime's scale route.

use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, ServerArg, kind_and_name};
use crate::commands::BadInput;

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// deploy/NAME, or TYPE then NAME
    pub target: String,
    pub name: Option<String>,
    /// The new number of replicas
    #[arg(long, value_name = "N")]
    pub replicas: u32,
    /// Set from the global `-n/--namespace` (default `default`)
    #[arg(skip)]
    pub namespace: String,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Scales.
pub fn run(args: ScaleArgs) -> anyhow::Result<ExitCode> {
    let (kind, name) = kind_and_name(&args.target, args.name.as_deref())?;
    let Some(plural @ ("deployments" | "statefulsets")) = crate::commands::get::plural(&kind)
    else {
        return Err(BadInput(format!(
            "ferry scales deployments and statefulsets, not `{kind}` (ReplicaSets follow their Deployment)"
        ))
        .into());
    };
    let replicas = i32::try_from(args.replicas)
        .map_err(|_| BadInput(format!("--replicas {} is too large", args.replicas)))?;
    let client = Client::new(&args.server)?;
    let v: Value = client.post(
        &format!("/scale/{}/{name}", args.namespace),
        &json!({ "replicas": replicas, "kind": plural }),
    )?;
    println!("{}", v["message"].as_str().unwrap_or("scaled"));
    Ok(ExitCode::SUCCESS)
}
