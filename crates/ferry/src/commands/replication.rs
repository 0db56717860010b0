//! `ferry registry replication status [RULE]`: the replication rules a
//! running region executes, with pending tasks (queue length), lag (age of
//! the oldest), bytes in flight, last success, last failure and failures,
//! read from the region's API (`/api/v1/replication`); `-o wide` adds the
//! copies, deletions and bytes sent and the last error, `-o json|yaml`
//! prints the API's objects.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Deserialize;

use super::BadInput;
use crate::client::{Client, ServerArg};
use crate::output::{self, Format};

#[derive(Debug, Subcommand)]
pub enum ReplicationCommand {
    /// Show each replication rule: pending, lag, bytes in flight, last success and failure
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
            let (headers, rows) = table(&list.rules, wide);
            print!("{}", output::table(&headers, &rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The table's headers and rows (`wide` adds four columns).
fn table(rules: &[serde_json::Value], wide: bool) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let mut headers = vec![
        "RULE",
        "SOURCE",
        "TARGET",
        "PENDING",
        "LAG",
        "IN FLIGHT",
        "LAST SUCCESS",
        "LAST FAILURE",
        "FAILURES",
    ];
    if wide {
        headers.extend(["REPLICATED", "DELETED", "BYTES", "LAST ERROR"]);
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
    let rows = rules
        .iter()
        .map(|r| {
            let mut row = vec![
                s(&r["name"]),
                s(&r["source"]),
                s(&r["target"]),
                s(&r["pending"]),
                format!("{:.1}s", r["lagSeconds"].as_f64().unwrap_or(0.0)),
                human_bytes(r["bytesInFlight"].as_u64().unwrap_or(0)),
                s(&r["lastSuccess"]),
                s(&r["lastFailure"]),
                s(&r["failures"]),
            ];
            if wide {
                row.extend([
                    s(&r["replicated"]),
                    s(&r["deleted"]),
                    s(&r["bytes"]),
                    s(&r["lastError"]),
                ]);
            }
            row
        })
        .collect();
    (headers, rows)
}

/// `1.5MiB`, `512B`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_lag_bytes_in_flight_and_last_failure() {
        let rule = serde_json::json!({
            "name": "uk-to-sh", "source": "uk", "target": "sh", "pending": 3,
            "lagSeconds": 12.34, "bytesInFlight": 3_670_016, "failures": 2,
            "lastFailure": "2026-12-07T14:00:00Z", "replicated": 5, "deleted": 1,
            "bytes": 99, "lastError": "cannot reach registry sh",
        });
        let (headers, rows) = table(std::slice::from_ref(&rule), false);
        let cell = |h: &str| rows[0][headers.iter().position(|x| *x == h).unwrap()].clone();
        assert_eq!(cell("PENDING"), "3");
        assert_eq!(cell("LAG"), "12.3s");
        assert_eq!(cell("IN FLIGHT"), "3.5MiB");
        assert_eq!(cell("LAST SUCCESS"), "-");
        assert_eq!(cell("LAST FAILURE"), "2026-12-07T14:00:00Z");
        let (headers, rows) = table(&[rule], true);
        assert_eq!(headers.len(), rows[0].len());
        assert_eq!(rows[0][headers.len() - 3], "1", "DELETED");
        assert_eq!(human_bytes(512), "512B");
    }
}
