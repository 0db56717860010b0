//! One module per verb; [`run`] dispatches.

pub mod api_resources;
pub mod app;
mod app_diff;
pub mod app_rollout;
pub mod apply;
mod build;
pub mod cluster;
pub mod cordon;
pub mod delete;
pub mod demo;
pub mod describe;
mod describe_knative;
pub mod drain;
pub mod exec;
pub mod fn_cmd;
pub mod gateway;
pub mod get;
pub mod image;
pub mod logs;
pub mod pipeline;
mod pipeline_logs;
pub mod port_forward;
pub mod registry;
pub mod replication;
pub mod rollout;
pub mod routes;
pub mod scale;
pub mod token;
mod up;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Marks an error as the user's input being wrong (exit status 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Reads files given on the command line as `(display name, text)`;
/// `-` is standard input. A file that cannot be read is bad input.
pub fn read_sources(files: &[std::path::PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    use std::io::Read;
    let mut out = Vec::new();
    for f in files {
        if f.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            out.push(("<stdin>".to_string(), text));
            continue;
        }
        let text = std::fs::read_to_string(f)
            .map_err(|e| BadInput(format!("cannot read {}: {e}", f.display())))?;
        out.push((f.display().to_string(), text));
    }
    Ok(out)
}

/// Runs the chosen verb.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let given_ns = cli.namespace.clone();
    let ns = given_ns.clone().unwrap_or_else(|| "default".to_string());
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Up(args) => up::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Build(args) => build::run(args),
        Command::Image(cmd) => image::run(cmd),
        Command::Registry(cmd) => registry::run(cmd),
        Command::Gateway(cmd) => gateway::run(cmd),
        Command::Get(g) => {
            use crate::cli::GetCommand as G;
            let g = g.in_namespace(&ns);
            match g {
                G::Routes(a) => routes::run(a),
                G::Pods(a) => get::run("pods", a),
                G::Deployments(a) => get::run("deployments", a),
                G::Replicasets(a) => get::run("replicasets", a),
                G::Services(a) => get::run("services", a),
                G::Configmaps(a) => get::run("configmaps", a),
                G::Secrets(a) => get::run("secrets", a),
                G::Namespaces(a) => get::run("namespaces", a),
                G::All(a) => get::run("all", a),
                G::Typed(words) => get::run_typed(words, given_ns),
            }
        }
        Command::Apply(mut args) => {
            args.namespace = given_ns;
            apply::run(args)
        }
        Command::Describe(mut args) => {
            args.namespace = ns;
            describe::run(args)
        }
        Command::Delete(mut args) => {
            args.namespace = ns;
            delete::run(args)
        }
        Command::Logs(mut args) => {
            args.namespace = ns;
            logs::run(args)
        }
        Command::Exec(mut args) => {
            args.namespace = ns;
            exec::run(args)
        }
        Command::PortForward(mut args) => {
            args.namespace = ns;
            port_forward::run(args)
        }
        Command::Scale(mut args) => {
            args.namespace = ns;
            scale::run(args)
        }
        Command::Cordon(args) => cordon::run(args, true),
        Command::Uncordon(args) => cordon::run(args, false),
        Command::Drain(args) => drain::run(args),
        Command::Rollout(cmd) => rollout::run(cmd.in_namespace(&ns)),
        Command::App(cmd) => app::run(cmd),
        Command::Cluster(cmd) => cluster::run(cmd),
        Command::Pipeline(cmd) => pipeline::run(cmd),
        Command::Token(cmd) => token::run(cmd),
        Command::ApiResources(args) => api_resources::run(args),
        Command::Fn(cmd) => fn_cmd::run(cmd, &ns),
    }
}

/// Builds a multi-threaded tokio runtime for async verbs.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
