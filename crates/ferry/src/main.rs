//! The `ferry` binary: parses the command line and hands each verb to its
//! module under `commands/`. Errors print with their whole cause chain and
//! exit with status 2 for bad input, 1 for everything else.

mod cli;
mod client;
mod commands;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let quiet = matches!(cli.command, cli::Command::Demo(_));
    logging::init(cli.log_format, cli.verbose, quiet);
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
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
