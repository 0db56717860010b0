//! `ferry app list|get|diff|sync|history|rollback|promote`: the delivery
//! engine's applications through the region API (`/api/v1/apps`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, ServerArg};
use crate::output::{Format, structured, table};

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// List applications with sync state and health
    List(ListArgs),
    /// Show one application per environment, with its objects
    Get(NameArgs),
    /// Show what differs between git and the live objects (rendered now,
    /// dry-run on the target); exit 1 when something differs, 2 when an
    /// environment could not be compared
    Diff(DiffArgs),
    /// Fetch and sync now (lifts a rollback pin)
    Sync(EnvArgs),
    /// Show the sync history (revision, images, outcome)
    History(NameArgs),
    /// Go back to an earlier successful sync (history id or revision prefix)
    Rollback(RollbackArgs),
    /// Approve the revision waiting at a manual promotion gate
    Promote(EnvArgs),
    /// An environment's canary rollouts: status, promote, abort
    #[command(subcommand)]
    Rollout(super::app_rollout::RolloutCommand),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    pub name: String,
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub name: String,
    /// Only this environment
    #[arg(long = "env")]
    pub environment: Option<String>,
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    pub name: String,
    /// Only this environment
    #[arg(long = "env")]
    pub environment: Option<String>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub name: String,
    /// History id or commit prefix; default: the revision before the current one
    pub revision: Option<String>,
    #[arg(long = "env")]
    pub environment: Option<String>,
    #[command(flatten)]
    pub server: ServerArg,
}

fn short(v: &Value) -> String {
    v.as_str()
        .map_or("-".into(), |s| s.chars().take(7).collect())
}

/// Runs the subcommand.
pub fn run(cmd: AppCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AppCommand::List(a) => {
            let v: Value = Client::new(&a.server)?.get("/apps")?;
            if let Some(f) = a.output.filter(|f| *f != Format::Wide) {
                structured(f, &v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut rows = Vec::new();
            for app in v["items"].as_array().into_iter().flatten() {
                let envs: Vec<String> = app["environments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        format!(
                            "{}@{}",
                            e["environment"].as_str().unwrap_or("?"),
                            short(&e["syncedRevision"])
                        )
                    })
                    .collect();
                rows.push(vec![
                    app["name"].as_str().unwrap_or_default().to_string(),
                    app["sync"].as_str().unwrap_or_default().to_string(),
                    app["health"].as_str().unwrap_or_default().to_string(),
                    envs.join(","),
                    app["repoUrl"].as_str().unwrap_or_default().to_string(),
                ]);
            }
            print!(
                "{}",
                table(&["NAME", "SYNC", "HEALTH", "ENVIRONMENTS", "REPO"], &rows)
            );
        }
        AppCommand::Get(a) => {
            let v: Value = Client::new(&a.server)?.get(&format!("/apps/{}", a.name))?;
            if let Some(f) = a.output.filter(|f| *f != Format::Wide) {
                structured(f, &v)?;
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "Name:    {}\nRepo:    {} ({})\nSync:    {}\nHealth:  {}",
                v["name"].as_str().unwrap_or_default(),
                v["repoUrl"].as_str().unwrap_or_default(),
                v["path"].as_str().unwrap_or_default(),
                v["sync"].as_str().unwrap_or_default(),
                v["health"].as_str().unwrap_or_default()
            );
            if let Some(e) = v["sourceError"].as_str() {
                println!("Source:  {e}");
            }
            for e in v["environments"].as_array().into_iter().flatten() {
                println!(
                    "\nEnvironment {} (region {}, namespace {}): ref {} desired {} synced {} {} {}",
                    e["environment"].as_str().unwrap_or_default(),
                    e["region"].as_str().unwrap_or_default(),
                    e["namespace"].as_str().unwrap_or_default(),
                    e["gitRef"].as_str().unwrap_or_default(),
                    short(&e["desiredRevision"]),
                    short(&e["syncedRevision"]),
                    e["sync"].as_str().unwrap_or_default(),
                    e["health"].as_str().unwrap_or_default()
                );
                if let Some(w) = e["waiting"].as_str() {
                    println!("  Waiting: {w}");
                }
                if let Some(err) = e["error"].as_str() {
                    println!("  Error:   {}", err.replace('\n', "\n           "));
                }
                let rows: Vec<Vec<String>> = e["objects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        let k = &o["key"];
                        vec![
                            k["group_kind"]["kind"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            k["name"].as_str().unwrap_or_default().to_string(),
                            o["sync"].as_str().unwrap_or_default().to_string(),
                            o["health"].as_str().unwrap_or_default().to_string(),
                            ["reason", "message"]
                                .iter()
                                .filter_map(|f| o[*f].as_str())
                                .collect::<Vec<_>>()
                                .join(": "),
                        ]
                    })
                    .collect();
                if !rows.is_empty() {
                    let header = ["KIND", "NAME", "SYNC", "HEALTH", "MESSAGE"];
                    for line in table(&header, &rows).lines() {
                        println!("  {}", line.trim_end());
                    }
                }
            }
        }
        AppCommand::Diff(a) => {
            let mut path = format!("/apps/{}/diff", a.name);
            if let Some(env) = &a.environment {
                path.push_str(&format!(
                    "?environment={}",
                    crate::client::query_escape(env)
                ));
            }
            let v: Value = Client::new(&a.server)?.get(&path)?;
            if let Some(f) = a.output.filter(|f| *f != Format::Wide) {
                structured(f, &v)?;
            } else {
                let (out, err) = super::app_diff::render(&v)?;
                print!("{out}");
                eprint!("{err}");
            }
            return Ok(super::app_diff::exit(&v));
        }
        AppCommand::Sync(a) => {
            let _: Value = Client::new(&a.server)?.post(
                &format!("/apps/{}/sync", a.name),
                &json!({"environment": a.environment}),
            )?;
            println!("sync of {} requested", a.name);
        }
        AppCommand::History(a) => {
            let v: Value = Client::new(&a.server)?.get(&format!("/apps/{}/history", a.name))?;
            if let Some(f) = a.output.filter(|f| *f != Format::Wide) {
                structured(f, &v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    vec![
                        h["id"].to_string(),
                        h["environment"].as_str().unwrap_or_default().to_string(),
                        short(&h["revision"]),
                        h["outcome"].as_str().unwrap_or_default().to_string(),
                        h["trigger"].as_str().unwrap_or_default().to_string(),
                        format!("{}ms", h["durationMs"]),
                        h["images"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(","),
                        h["message"]
                            .as_str()
                            .unwrap_or_default()
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "ID", "ENV", "REVISION", "OUTCOME", "TRIGGER", "DURATION", "IMAGES",
                        "MESSAGE"
                    ],
                    &rows
                )
            );
        }
        AppCommand::Rollback(a) => {
            let v: Value = Client::new(&a.server)?.post(
                &format!("/apps/{}/rollback", a.name),
                &json!({"environment": a.environment, "revision": a.revision}),
            )?;
            println!(
                "{} in {} rolls back to {} (sync #{}); `ferry app sync {}` resumes following git",
                a.name,
                v["to"]["environment"].as_str().unwrap_or_default(),
                short(&v["to"]["revision"]),
                v["to"]["id"],
                a.name
            );
        }
        AppCommand::Rollout(c) => super::app_rollout::run(c)?,
        AppCommand::Promote(a) => {
            let v: Value = Client::new(&a.server)?.post(
                &format!("/apps/{}/promote", a.name),
                &json!({"environment": a.environment}),
            )?;
            for i in v["approved"].as_array().into_iter().flatten() {
                println!(
                    "approved {} for {}",
                    short(&i["revision"]),
                    i["environment"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
