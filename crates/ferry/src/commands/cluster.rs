//! `ferry cluster list|get`: the Kubernetes clusters the running ferry
//! delivers to (`/api/v1/clusters`) — declared Clusters by name with their
//! labels, then clusters named directly — each with its server, version,
//! nodes, environments and the applications there with their sync and
//! health.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::{Client, ServerArg};
use crate::output::{Format, structured, table};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// List the Kubernetes clusters with version, Ready nodes, environments and apps
    List(ListArgs),
    /// Show one cluster with its environments and the apps there
    Get(GetArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// json, yaml, or wide (adds the context and each app's sync and health)
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The cluster's name (`ferry cluster list` shows them)
    pub name: String,
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(s).collect()
}

/// `READY/TOTAL` nodes, `-` when the cluster did not answer.
fn nodes(c: &Value) -> String {
    match (c["readyNodes"].as_u64(), c["nodes"].as_u64()) {
        (Some(r), Some(n)) => format!("{r}/{n}"),
        _ => "-".into(),
    }
}

fn version(c: &Value) -> String {
    c["version"].as_str().unwrap_or("<unknown>").to_string()
}

/// `k=v,k=v` of a cluster's labels, `-` without.
fn labels(c: &Value) -> String {
    let pairs = c["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    or_dash(pairs)
}

fn or_dash(list: Vec<String>) -> String {
    if list.is_empty() {
        "-".into()
    } else {
        list.join(",")
    }
}

/// One `list` row; `wide` adds the context, the apps' states and the error.
fn row(c: &Value, wide: bool) -> Vec<String> {
    let apps = c["apps"].as_array().cloned().unwrap_or_default();
    let mut row = vec![
        s(&c["name"]),
        labels(c),
        c["server"].as_str().unwrap_or("-").to_string(),
        version(c),
        nodes(c),
        or_dash(strings(&c["environments"])),
        apps.len().to_string(),
    ];
    if wide {
        let states = apps
            .iter()
            .map(|a| {
                format!(
                    "{}@{}:{}/{}",
                    s(&a["name"]),
                    s(&a["environment"]),
                    s(&a["sync"]),
                    s(&a["health"])
                )
            })
            .collect();
        row.push(c["context"].as_str().unwrap_or("-").to_string());
        row.push(or_dash(states));
        row.push(c["error"].as_str().unwrap_or("").to_string());
    }
    row
}

fn print_list(v: &Value, wide: bool) {
    let mut headers = vec![
        "NAME",
        "LABELS",
        "SERVER",
        "VERSION",
        "NODES",
        "ENVIRONMENTS",
        "APPS",
    ];
    if wide {
        headers.extend(["CONTEXT", "APP STATUS", "ERROR"]);
    }
    let rows: Vec<Vec<String>> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| row(c, wide))
        .collect();
    if rows.is_empty() {
        eprintln!(
            "No Kubernetes clusters: no Cluster is declared and no Region or Environment has spec.target.kubernetes."
        );
        return;
    }
    for line in table(&headers, &rows).lines() {
        println!("{}", line.trim_end());
    }
}

fn print_one(c: &Value) {
    println!("Name:          {}", s(&c["name"]));
    println!("Labels:        {}", labels(c));
    if let Some(ctx) = c["context"].as_str() {
        println!("Context:       {ctx}");
    }
    println!("Server:        {}", c["server"].as_str().unwrap_or("-"));
    println!("Version:       {}", version(c));
    match (c["nodes"].as_u64(), c["readyNodes"].as_u64()) {
        (Some(n), Some(r)) => println!("Nodes:         {n} ({r} ready)"),
        _ => println!("Nodes:         -"),
    }
    if let Some(e) = c["error"].as_str() {
        println!("Error:         {e}");
    }
    println!("Regions:       {}", or_dash(strings(&c["regions"])));
    println!("Environments:  {}", or_dash(strings(&c["environments"])));
    let rows: Vec<Vec<String>> = c["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            ["name", "environment", "namespace", "sync", "health"]
                .iter()
                .map(|f| s(&a[*f]))
                .collect()
        })
        .collect();
    if rows.is_empty() {
        println!("Apps:          -");
        return;
    }
    println!("Apps:");
    let header = ["NAME", "ENVIRONMENT", "NAMESPACE", "SYNC", "HEALTH"];
    for line in table(&header, &rows).lines() {
        println!("  {}", line.trim_end());
    }
}

/// Runs the subcommand.
pub fn run(cmd: ClusterCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClusterCommand::List(a) => {
            let v: Value = Client::new(&a.server)?.get("/clusters")?;
            match a.output {
                Some(f @ (Format::Json | Format::Yaml)) => structured(f, &v)?,
                other => print_list(&v, other == Some(Format::Wide)),
            }
        }
        ClusterCommand::Get(a) => {
            let v: Value = Client::new(&a.server)?.get(&format!("/clusters/{}", a.name))?;
            match a.output {
                Some(f @ (Format::Json | Format::Yaml)) => structured(f, &v)?,
                _ => print_one(&v),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_row_shows_ready_over_total_and_unknown_when_unreachable() {
        let up = json!({"name": "prod", "labels": {"region": "cn", "tier": "prod"}, "server": "https://k:6443", "version": "v1.34.4",
            "nodes": 3, "readyNodes": 2, "environments": ["prod"], "context": "prod",
            "apps": [{"name": "web", "environment": "prod", "sync": "Synced", "health": "Healthy"}]});
        assert_eq!(
            row(&up, true),
            [
                "prod",
                "region=cn,tier=prod",
                "https://k:6443",
                "v1.34.4",
                "2/3",
                "prod",
                "1",
                "prod",
                "web@prod:Synced/Healthy",
                ""
            ]
        );
        let down = json!({"name": "eu", "environments": [], "apps": [], "error": "refused"});
        assert_eq!(
            row(&down, false),
            ["eu", "-", "-", "<unknown>", "-", "-", "0"]
        );
    }
}
