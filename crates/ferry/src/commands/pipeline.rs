//! `ferry pipeline runs|logs`: pipeline runs of the delivery engine, and
//! a run's step logs (`pipeline_logs.rs`), followed live with `-f`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::{Client, ServerArg};
use crate::output::{Format, structured, table};

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// List pipeline runs (newest last)
    Runs(RunsArgs),
    /// Print a run's step logs (default: the newest run); -f follows them
    /// until the run succeeds or fails
    Logs(LogsArgs),
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this pipeline
    pub pipeline: Option<String>,
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Run id (default: the newest run)
    #[arg(value_name = "RUN")]
    pub id: Option<u64>,
    /// Only this step's log, without the `[step]` prefix (e.g. `build web`,
    /// `gate dev`)
    #[arg(long)]
    pub step: Option<String>,
    /// Keep printing new lines until the run succeeds or fails
    #[arg(short, long)]
    pub follow: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Runs the subcommand.
pub fn run(cmd: PipelineCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PipelineCommand::Runs(a) => {
            let path = match &a.pipeline {
                Some(p) => format!("/pipelines/runs?pipeline={p}"),
                None => "/pipelines/runs".into(),
            };
            let v: Value = Client::new(&a.server)?.get(&path)?;
            if let Some(f) = a.output.filter(|f| *f != Format::Wide) {
                structured(f, &v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    vec![
                        r["id"].to_string(),
                        s(&r["pipeline"]).into(),
                        s(&r["gitRef"]).into(),
                        s(&r["commit"]).chars().take(7).collect(),
                        s(&r["imageTag"]).into(),
                        s(&r["state"]).into(),
                        r["steps"].as_array().map_or(0, Vec::len).to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["ID", "PIPELINE", "REF", "COMMIT", "TAG", "STATE", "STEPS"],
                    &rows
                )
            );
        }
        PipelineCommand::Logs(a) => {
            let req = super::pipeline_logs::Request {
                id: a.id,
                step: a.step,
                follow: a.follow,
            };
            return super::pipeline_logs::print(&Client::new(&a.server)?, &req);
        }
    }
    Ok(ExitCode::SUCCESS)
}
