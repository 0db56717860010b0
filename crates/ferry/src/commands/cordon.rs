//! `ferry cordon NODE` and `ferry uncordon NODE`, as kubectl's: mark the
//! region's node unschedulable (new pods of controllers stay Pending,
//! DaemonSet pods excepted) or schedulable again. The node is the region
//! (`ferry get nodes`).

use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, ServerArg};

#[derive(Debug, Args)]
pub struct CordonArgs {
    /// The node: the region's name, as `ferry get nodes` lists it
    pub node: String,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Cordons (`on`) or uncordons the node and prints kubectl's message.
pub fn run(args: CordonArgs, on: bool) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    println!("{}", set(&client, &args.node, on)?);
    Ok(ExitCode::SUCCESS)
}

/// `node/NAME cordoned` (or `uncordoned`, `already cordoned`...).
pub fn set(client: &Client, node: &str, on: bool) -> anyhow::Result<String> {
    let verb = if on { "cordon" } else { "uncordon" };
    let v: Value = client.post(&format!("/{verb}/{node}"), &json!({}))?;
    Ok(v["message"].as_str().unwrap_or_default().to_string())
}
