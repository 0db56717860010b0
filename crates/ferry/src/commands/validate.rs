//! `ferry validate -f FILE...`: loads topology files strictly and reports
//! every problem, one per line, without starting anything.

use std::process::ExitCode;

use ferry_core::topology::Topology;

use crate::cli::ValidateArgs;
use crate::commands::read_sources;

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let sources = read_sources(&args.files)?;
    match Topology::from_sources(&sources) {
        Ok(t) => {
            println!(
                "valid: {} region(s), {} environment(s) in {} file(s)",
                t.regions.len(),
                t.environments.len(),
                sources.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ferry_core::Error::Invalid(problems)) => {
            for p in &problems.0 {
                eprintln!("error: {p}");
            }
            eprintln!("{} problem(s) found; nothing was started", problems.0.len());
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}
