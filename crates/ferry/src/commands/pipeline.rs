//! `ferry pipeline runs|logs [-f]`: pipeline runs of the delivery engine
//! and their steps, followed live with `-f`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::{Client, ServerArg};
use crate::output::{Format, structured, table};

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// List pipeline runs (newest last)
    Runs(RunsArgs),
    /// Show the steps of a run (default: the newest), -f to follow
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
    /// Run id
    pub id: Option<u64>,
    /// Keep printing step changes until the run ends
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
            let client = Client::new(&a.server)?;
            let id = match a.id {
                Some(id) => id,
                None => {
                    let v: Value = client.get("/pipelines/runs")?;
                    v["items"]
                        .as_array()
                        .and_then(|i| i.last())
                        .and_then(|r| r["id"].as_u64())
                        .ok_or_else(|| {
                            crate::commands::BadInput(
                                "no pipeline run yet: push to a branch a pipeline rule matches"
                                    .into(),
                            )
                        })?
                }
            };
            let mut printed: BTreeMap<String, String> = BTreeMap::new();
            loop {
                let r: Value = client.get(&format!("/pipelines/runs/{id}"))?;
                if printed.is_empty() {
                    println!(
                        "run {id}: {} {} {} → {}",
                        s(&r["pipeline"]),
                        s(&r["gitRef"]),
                        s(&r["commit"]).chars().take(7).collect::<String>(),
                        s(&r["imageTag"])
                    );
                }
                for step in r["steps"].as_array().into_iter().flatten() {
                    let line = format!(
                        "{:<10} {}{}",
                        s(&step["state"]),
                        s(&step["name"]),
                        step["message"]
                            .as_str()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                    if printed.get(s(&step["name"])) != Some(&line) {
                        println!("{line}");
                        printed.insert(s(&step["name"]).to_string(), line);
                    }
                }
                let state = s(&r["state"]);
                if !a.follow || state == "Succeeded" || state == "Failed" {
                    println!("state: {state}");
                    return Ok(if state == "Failed" {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    });
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
