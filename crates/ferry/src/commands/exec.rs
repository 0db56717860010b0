//! `ferry exec POD [-c CONTAINER] -- COMMAND...`: runs a command in a
//! container and prints its output; exits with the command's status.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, ServerArg};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The pod (or pod/NAME)
    pub pod: String,
    /// The container (default: the pod's first)
    #[arg(short, long)]
    pub container: Option<String>,
    /// Set from the global `-n/--namespace` (default `default`)
    #[arg(skip)]
    pub namespace: String,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Runs the command.
pub fn run(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    let pod = args.pod.strip_prefix("pod/").unwrap_or(&args.pod);
    let out: Value = client.post(
        &format!("/exec/{}/{pod}", args.namespace),
        &json!({"container": args.container, "command": args.command}),
    )?;
    std::io::stdout().write_all(out["stdout"].as_str().unwrap_or("").as_bytes())?;
    std::io::stderr().write_all(out["stderr"].as_str().unwrap_or("").as_bytes())?;
    let code = out["exit_code"].as_i64().unwrap_or(1);
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
