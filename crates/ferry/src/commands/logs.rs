//! `ferry logs POD [-c CONTAINER] [-f] [--previous] [--tail N]`.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use crate::client::{Client, ServerArg};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The pod (or pod/NAME)
    pub pod: String,
    /// The container (default: the pod's first)
    #[arg(short, long)]
    pub container: Option<String>,
    /// Keep streaming new output
    #[arg(short, long)]
    pub follow: bool,
    /// The previous (terminated) instance of the container
    #[arg(short, long)]
    pub previous: bool,
    /// Only the last N lines
    #[arg(long)]
    pub tail: Option<usize>,
    /// Set from the global `-n/--namespace` (default `default`)
    #[arg(skip)]
    pub namespace: String,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Prints (or streams) the log.
pub fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    let pod = args.pod.strip_prefix("pod/").unwrap_or(&args.pod);
    let mut q = format!(
        "/logs/{}/{pod}?follow={}&previous={}",
        args.namespace, args.follow, args.previous
    );
    if let Some(c) = &args.container {
        q.push_str(&format!("&container={c}"));
    }
    if let Some(t) = args.tail {
        q.push_str(&format!("&tail={t}"));
    }
    let mut resp = client.get_stream(&q)?;
    let mut out = std::io::stdout().lock();
    let mut buf = [0u8; 8192];
    loop {
        let n = std::io::Read::read(&mut resp, &mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
