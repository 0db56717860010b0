//! The `ferry` binary: parses the command line and hands each verb to its
//! module under `commands/`. Errors print with their whole cause chain and
//! exit with status 2 for bad input, 1 for everything else.

mod cli;
mod client;
mod commands;
mod credentials;
mod kube_targets;
mod leftovers;
mod logging;
mod output;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

/// jemalloc, configured in `.cargo/config.toml`: freed memory goes back to
/// the system within a second (on a background thread, off the request
/// path), so what a burst of 10,000 keep-alive connections leaves behind
/// does not stay resident as it does with glibc's malloc.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let quiet = matches!(cli.command, cli::Command::Demo(_));
    logging::init(cli.log_format, cli.verbose, quiet);
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // Never panics on a closed stderr (eprintln! would).
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            let bad_input = err.chain().any(|e| {
                e.downcast_ref::<commands::BadInput>().is_some()
                    || matches!(
                        e.downcast_ref::<ferry_core::Error>(),
                        Some(ferry_core::Error::Invalid(_))
                    )
            });
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}
