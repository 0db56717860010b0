//! `ferry app rollout status|promote|abort APP --env ENV`: an
//! environment's canary rollouts through `/api/v1/apps/{app}/rollout`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, ServerArg};
use crate::output::{Format, structured, table};

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Show each Deployment's canary: phase, step, weight, last analysis
    /// (of live and of mirrored requests), routes in force
    Status(RolloutArgs),
    /// Skip the current step (a `pause: {}` ends)
    Promote(RolloutArgs),
    /// Roll back now: all traffic to stable, the canary scaled down
    Abort(RolloutArgs),
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    pub name: String,
    #[arg(long = "env")]
    pub environment: String,
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Runs one `ferry app rollout` command.
pub fn run(cmd: RolloutCommand) -> anyhow::Result<()> {
    match cmd {
        RolloutCommand::Status(a) => {
            let path = format!("/apps/{}/rollout?environment={}", a.name, a.environment);
            let v: Value = Client::new(&a.server)?.get(&path)?;
            if let Some(f) = a.output.filter(|f| *f != Format::Wide) {
                return structured(f, &v);
            }
            let rows: Vec<Vec<String>> = v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(row)
                .collect();
            let head = [
                "DEPLOYMENT",
                "PHASE",
                "STEP",
                "WEIGHT",
                "SUCCESS",
                "P99",
                "MIRROR-SUCCESS",
                "ROUTES",
                "MESSAGE",
            ];
            print!("{}", table(&head, &rows));
        }
        RolloutCommand::Promote(a) => act(&a, "promote")?,
        RolloutCommand::Abort(a) => act(&a, "abort")?,
    }
    Ok(())
}

fn act(a: &RolloutArgs, verb: &str) -> anyhow::Result<()> {
    let v: Value = Client::new(&a.server)?.post(
        &format!("/apps/{}/rollout/{verb}", a.name),
        &json!({"environment": a.environment}),
    )?;
    for d in v["deployments"].as_array().into_iter().flatten() {
        println!(
            "{verb}: canary of {} in {}",
            d.as_str().unwrap_or_default(),
            a.environment
        );
    }
    Ok(())
}

fn row(r: &Value) -> Vec<String> {
    let last = &r["analysis"]["last"];
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    vec![
        text(&r["deployment"]),
        text(&r["phase"]),
        format!("{}/{}", r["step"], r["steps"]),
        format!("{}%", r["weight"]),
        last["successRate"]
            .as_f64()
            .map_or("-".into(), |s| format!("{s:.3}")),
        last["latencyP99"]
            .as_f64()
            .map_or("-".into(), |s| format!("{:.0}ms", s * 1000.0)),
        r["mirrorAnalysis"]["last"]["successRate"]
            .as_f64()
            .map_or("-".into(), |s| format!("{s:.3}")),
        routes(r),
        text(&r["message"]),
    ]
}

/// `header:NAME`, `mirror:NAME@PERCENT%` and `fault:DELAY@PERCENT%`.
fn routes(r: &Value) -> String {
    let list = |k: &str| r[k].as_array().cloned().unwrap_or_default();
    let mut out: Vec<String> = list("headerRoutes")
        .iter()
        .map(|h| format!("header:{}", h["name"].as_str().unwrap_or("?")))
        .collect();
    out.extend(list("mirrorRoutes").iter().map(|m| {
        let pct = m["percentage"].as_u64().unwrap_or(100);
        format!("mirror:{}@{pct}%", m["name"].as_str().unwrap_or("?"))
    }));
    if let Some(delay) = r["fault"]["delay"].as_str() {
        out.push(format!("fault:{delay}@{}%", r["fault"]["percentage"]));
    }
    if out.is_empty() {
        "-".into()
    } else {
        out.join(",")
    }
}
