//! `ferry rollout status|undo|restart deploy/NAME`: follow a Deployment's
//! rolling update to completion, roll back, or restart its pods.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, ServerArg};
use crate::commands::BadInput;

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Wait until the rollout finishes, printing progress
    Status(RolloutArgs),
    /// Roll back to the previous revision (or --to-revision)
    Undo(RolloutArgs),
    /// Replace every pod with a rolling update
    Restart(RolloutArgs),
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// deploy/NAME or NAME
    pub deployment: String,
    /// Set from the global `-n/--namespace` (default `default`)
    #[arg(skip)]
    pub namespace: String,
    /// For undo: the revision to go back to
    #[arg(long)]
    pub to_revision: Option<i64>,
    /// For status: give up after this many seconds
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    #[command(flatten)]
    pub server: ServerArg,
}

impl RolloutCommand {
    /// Sets the namespace the global `-n` chose.
    pub fn in_namespace(mut self, ns: &str) -> Self {
        match &mut self {
            Self::Status(a) | Self::Undo(a) | Self::Restart(a) => a.namespace = ns.to_string(),
        }
        self
    }
}

fn name(d: &str) -> anyhow::Result<&str> {
    match d.split_once('/') {
        None => Ok(d),
        Some(("deploy" | "deployment" | "deployments" | "deployment.apps", n)) => Ok(n),
        Some((k, _)) => Err(BadInput(format!("rollout works on deployments, not `{k}`")).into()),
    }
}

/// Runs the subcommand.
pub fn run(cmd: RolloutCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RolloutCommand::Status(a) => status(&a),
        RolloutCommand::Undo(a) => {
            let client = Client::new(&a.server)?;
            let v: Value = client.post(
                &format!("/rollout/{}/{}/undo", a.namespace, name(&a.deployment)?),
                &json!({"toRevision": a.to_revision}),
            )?;
            println!("{}", v["message"].as_str().unwrap_or("rolled back"));
            Ok(ExitCode::SUCCESS)
        }
        RolloutCommand::Restart(a) => {
            let client = Client::new(&a.server)?;
            let v: Value = client.post(
                &format!("/rollout/{}/{}/restart", a.namespace, name(&a.deployment)?),
                &json!({}),
            )?;
            println!("{}", v["message"].as_str().unwrap_or("restarted"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn status(a: &RolloutArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&a.server)?;
    let n = name(&a.deployment)?;
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    let mut last = String::new();
    loop {
        let d: Value = client.get(&format!("/objects/deployments/{}/{n}", a.namespace))?;
        let want = d
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let st = |f: &str| {
            d.pointer(&format!("/status/{f}"))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        let (updated, total, available) = (
            st("updatedReplicas"),
            st("replicas"),
            st("availableReplicas"),
        );
        let observed = st("observedGeneration")
            >= d.pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
        let msg = if !observed {
            "Waiting for deployment spec update to be observed...".to_string()
        } else if updated < want {
            format!(
                "Waiting for deployment \"{n}\" rollout to finish: {updated} out of {want} new replicas have been updated..."
            )
        } else if total > updated {
            format!(
                "Waiting for deployment \"{n}\" rollout to finish: {} old replicas are pending termination...",
                total - updated
            )
        } else if available < updated {
            format!(
                "Waiting for deployment \"{n}\" rollout to finish: {available} of {updated} updated replicas are available..."
            )
        } else {
            println!("deployment \"{n}\" successfully rolled out");
            return Ok(ExitCode::SUCCESS);
        };
        if msg != last {
            println!("{msg}");
            last = msg;
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "timed out waiting for deployment \"{n}\" to roll out; see `ferry describe deploy {n}`"
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
