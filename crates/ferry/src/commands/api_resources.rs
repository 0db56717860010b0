//! `ferry api-resources`: the kinds a region's runtime understands, as
//! kubectl prints them (NAME, SHORTNAMES, APIVERSION, NAMESPACED, KIND;
//! `-o wide` adds VERBS). The rows come from the runtime's one table of
//! kinds (`ferry_runtime::kinds::RESOURCES`) and the kinds other components
//! register (the gateway's routing kinds), served at
//! `GET /api/v1/api-resources`; nothing here lists kinds.

use std::process::ExitCode;

use clap::Args;
use ferry_runtime::api::ApiResource;
use serde::Deserialize;

use crate::client::{Client, ServerArg};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct ApiResourcesArgs {
    /// Output format: json, yaml, or wide (adds the verbs)
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Deserialize)]
struct List {
    items: Vec<ApiResource>,
}

/// Fetches and prints the kinds.
pub fn run(args: ApiResourcesArgs) -> anyhow::Result<ExitCode> {
    let list: List = Client::new(&args.server)?.get("/api-resources")?;
    match args.output {
        Some(f @ (Format::Json | Format::Yaml)) => output::structured(f, &list.items)?,
        wide => print!("{}", table(&list.items, wide == Some(Format::Wide))),
    }
    Ok(ExitCode::SUCCESS)
}

/// kubectl's columns.
fn table(items: &[ApiResource], wide: bool) -> String {
    let mut headers = vec!["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"];
    if wide {
        headers.push("VERBS");
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|r| {
            let mut row = vec![
                r.name.clone(),
                r.short_names.join(","),
                r.api_version.clone(),
                r.namespaced.to_string(),
                r.kind.clone(),
            ];
            if wide {
                row.push(format!("[{}]", r.verbs.join(" ")));
            }
            row
        })
        .collect();
    output::table(&headers, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_kubectls() {
        let rows = vec![ApiResource {
            name: "serviceaccounts".into(),
            short_names: vec!["sa".into()],
            api_version: "v1".into(),
            namespaced: true,
            kind: "ServiceAccount".into(),
            verbs: vec!["get".into(), "list".into()],
        }];
        assert_eq!(
            table(&rows, false),
            "NAME              SHORTNAMES   APIVERSION   NAMESPACED   KIND\n\
             serviceaccounts   sa           v1           true         ServiceAccount\n"
        );
        assert!(table(&rows, true).contains("VERBS") && table(&rows, true).contains("[get list]"));
    }
}
