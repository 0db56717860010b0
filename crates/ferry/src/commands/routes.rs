//! `ferry get routes`: asks a region's API what each host and path resolves
//! to (the gateway's compiled table) and prints it kubectl-style.

use std::process::ExitCode;

use clap::Args;
use ferry_gateway::routes::RouteRow;

use crate::client::{Client, ServerArg};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct RoutesArgs {
    /// Output format: json, yaml, or wide (adds policies and the rule's origin)
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Fetches and prints the routes.
pub fn run(args: RoutesArgs) -> anyhow::Result<ExitCode> {
    let rows: Vec<RouteRow> = Client::new(&args.server)?.get("/routes")?;
    match args.output {
        Some(f @ (Format::Json | Format::Yaml)) => output::structured(f, &rows)?,
        wide => {
            let wide = wide == Some(Format::Wide);
            let mut headers = vec!["DIRECTION", "HOST", "MATCH", "DESTINATION"];
            if wide {
                headers.extend(["POLICIES", "RULE"]);
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut row = vec![
                        r.direction.clone(),
                        r.host.clone(),
                        r.matches.clone(),
                        r.target.clone(),
                    ];
                    if wide {
                        row.push(if r.policies.is_empty() {
                            "-".into()
                        } else {
                            r.policies.clone()
                        });
                        row.push(r.rule.clone());
                    }
                    row
                })
                .collect();
            if table.is_empty() {
                eprintln!("No routes: apply an Ingress, HTTPRoute or VirtualService.");
            } else {
                print!("{}", output::table(&headers, &table));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
