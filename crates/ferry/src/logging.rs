//! `tracing` subscriber set-up: text on a terminal, JSON for machines.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides the level; `quiet`
/// (commands that narrate on stdout, such as `ferry demo`) shows only
/// warnings unless `-v` asks for more.
pub fn init(format: LogFormat, verbose: u8, quiet: bool) {
    let level = match (verbose, quiet) {
        (0, true) => "warn",
        (0, false) => "info",
        (1, _) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A closed stderr (`ferry up 2>&1 | tee log`, reader gone at
        // Ctrl-C) drops log lines; reporting that with eprintln! would
        // panic and skip shutdown.
        .log_internal_errors(false);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.with_target(false).init();
    }
}
