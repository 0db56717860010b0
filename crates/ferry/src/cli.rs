//! The command line, declared with clap's derive API. Only verbs that work
//! are listed; each component's verbs are added here as it lands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ferry: from git push to served traffic in every region, in one binary.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto, env = "FERRY_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    Auto,
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start every region of a topology (registry, runtime, gateway, API)
    Up(UpArgs),
    /// Check topology files without starting anything
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Topology file(s); without one, a single region `local` on 127.0.0.1
    #[arg(short = 'f', long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Where regions without spec.dataDir keep their state
    #[arg(long, env = "FERRY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print the endpoint table as json or yaml instead of a table
    #[arg(short, long, value_enum)]
    pub output: Option<crate::output::Format>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to check ('-' reads standard input)
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}
