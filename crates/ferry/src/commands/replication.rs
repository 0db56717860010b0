//! `ferry registry replication status [RULE]`: the replication rules a
//! running region executes, with pending tasks, lag, last success and
//! failures, read from the region's API (`/api/v1/replication`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Deserialize;

use super::BadInput;
use crate::client::{Client, ServerArg};
use crate::output::{self, Format};

#[derive(Debug, Subcommand)]
pub enum ReplicationCommand {
    /// Show each replication rule: pending, lag, last success, failures
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this rule
    pub rule: Option<String>,
    /// The region's API (source region of the rules), as for every verb
    /// that talks to a region
    #[command(flatten)]
    pub server: ServerArg,
    /// Output format
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusList {
    region: String,
    rules: Vec<serde_json::Value>,
}

/// Runs a `registry replication` subcommand.
pub fn run(cmd: ReplicationCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReplicationCommand::Status(a) => status(a),
    }
}

fn status(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let mut list: StatusList = Client::new(&a.server)?.get("/replication")?;
    if let Some(rule) = &a.rule {
        list.rules.retain(|r| r["name"] == rule.as_str());
        if list.rules.is_empty() {
            return Err(BadInput(format!(
                "no replication rule `{rule}` runs in region {}",
                list.region
            ))
            .into());
        }
    }
    match a.output {
        Some(f @ (Format::Json | Format::Yaml)) => output::structured(f, &list.rules)?,
        wide => {
            let wide = wide == Some(Format::Wide);
            let mut headers = vec![
                "RULE",
                "SOURCE",
                "TARGET",
                "PENDING",
                "LAG",
                "LAST SUCCESS",
                "FAILURES",
            ];
            if wide {
                headers.extend(["REPLICATED", "BYTES", "LAST ERROR"]);
            }
            let s = |v: &serde_json::Value| {
                v.as_str().map(str::to_string).unwrap_or_else(|| {
                    if v.is_null() {
                        "-".into()
                    } else {
                        v.to_string()
                    }
                })
            };
            let rows: Vec<Vec<String>> = list
                .rules
                .iter()
                .map(|r| {
                    let mut row = vec![
                        s(&r["name"]),
                        s(&r["source"]),
                        s(&r["target"]),
                        s(&r["pending"]),
                        format!("{:.1}s", r["lagSeconds"].as_f64().unwrap_or(0.0)),
                        s(&r["lastSuccess"]),
                        s(&r["failures"]),
                    ];
                    if wide {
                        row.extend([s(&r["replicated"]), s(&r["bytes"]), s(&r["lastError"])]);
                    }
                    row
                })
                .collect();
            print!("{}", output::table(&headers, &rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}
