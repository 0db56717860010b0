//! `ferry token create|list|revoke`: the bearer tokens of a region's API
//! (admin only). A created token is printed once; the region keeps only its
//! hash.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::client::{Client, ServerArg};
use crate::output::{Format, structured, table};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (shown once)
    Create(CreateArgs),
    /// List tokens: name, role, scope, created, expires (never the secrets)
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Revoke a token; it stops working at once
    Revoke(RevokeArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// get, describe, logs, app and pipeline reads; Secret values redacted
    Viewer,
    /// viewer, plus apply, delete, rollout, scale, app sync/rollback/promote
    Deployer,
    /// everything: exec, Secret values, tokens
    Admin,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The token's name (a DNS label: lowercase letters, digits, '-')
    pub name: String,
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Limit the token to this namespace (repeat for more)
    /// (shares its id with the global `-n`, which therefore does not
    /// propagate here: `token create -n a -n b` scopes the token)
    #[arg(id = "namespace", long = "namespace", short = 'n', value_name = "NS")]
    pub namespaces: Vec<String>,
    /// Limit the token to this application (repeat for more)
    #[arg(long = "app", value_name = "APP")]
    pub apps: Vec<String>,
    /// Lifetime (e.g. 30m, 24h, 7d); without it the token does not expire
    #[arg(long, value_parser = crate::commands::registry::parse_duration)]
    pub ttl: Option<std::time::Duration>,
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    pub name: String,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Runs the subcommand.
pub fn run(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create(a) => create(a),
        TokenCommand::List(a) => list(a),
        TokenCommand::Revoke(a) => {
            let _: Value = Client::new(&a.server)?.delete(&format!("/tokens/{}", a.name))?;
            println!("token/{} revoked", a.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn create(a: CreateArgs) -> anyhow::Result<ExitCode> {
    let role = match a.role {
        RoleArg::Viewer => "viewer",
        RoleArg::Deployer => "deployer",
        RoleArg::Admin => "admin",
    };
    let mut body = json!({
        "name": a.name, "role": role, "namespaces": a.namespaces, "apps": a.apps,
    });
    if let Some(ttl) = a.ttl {
        body["ttlSeconds"] = json!(ttl.as_secs().max(1));
    }
    let v: Value = Client::new(&a.server)?.post("/tokens", &body)?;
    match a.output.filter(|f| *f != Format::Wide) {
        Some(f) => structured(f, &v)?,
        // The secret alone on stdout, so `$(ferry token create …)` captures it.
        None => {
            println!("{}", v["token"].as_str().unwrap_or_default());
            eprintln!(
                "token/{} created ({role}); it is shown only now: store it safely",
                a.name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let v: Value = Client::new(&a.server)?.get("/tokens")?;
    if let Some(f) = a.output.filter(|f| *f != Format::Wide) {
        structured(f, &v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = ferry_auth::now();
    let rows: Vec<Vec<String>> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let list = |k: &str| -> Vec<&str> {
                let items = t[k].as_array().into_iter().flatten();
                items.filter_map(Value::as_str).collect()
            };
            // A token with no scope reaches everything (`*`); a scoped one
            // reaches only what it names (`<none>` where it names nothing).
            let scoped = !list("namespaces").is_empty() || !list("apps").is_empty();
            let strings = |k: &str| -> String {
                match (list(k), scoped) {
                    (items, _) if !items.is_empty() => items.join(","),
                    (_, true) => "<none>".into(),
                    (_, false) => "*".into(),
                }
            };
            let age = |secs: u64| crate::commands::get::duration(now.saturating_sub(secs));
            vec![
                t["name"].as_str().unwrap_or_default().to_string(),
                t["role"].as_str().unwrap_or_default().to_string(),
                strings("namespaces"),
                strings("apps"),
                t["created"].as_u64().map(age).unwrap_or_default(),
                match t["expires"].as_u64() {
                    Some(e) if e <= now => "expired".into(),
                    Some(e) => format!("in {}", crate::commands::get::duration(e - now)),
                    None => "never".into(),
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["NAME", "ROLE", "NAMESPACES", "APPS", "AGE", "EXPIRES"],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}
