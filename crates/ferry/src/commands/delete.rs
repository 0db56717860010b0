//! `ferry delete TYPE NAME` or `ferry delete -f FILE|DIR`: removes objects;
//! pods terminate gracefully, a Deployment takes its pods along.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::client::{Client, ServerArg, kind_and_name};
use crate::commands::BadInput;
use crate::commands::get::ns_path;

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// TYPE (pod, deploy, svc...) or TYPE/NAME
    pub kind: Option<String>,
    pub name: Option<String>,
    /// Delete the objects these manifests define
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR")]
    pub files: Vec<std::path::PathBuf>,
    /// Set from the global `-n/--namespace` (default `default`)
    #[arg(skip)]
    pub namespace: String,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Deletes.
pub fn run(args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    let mut targets: Vec<(String, String, String)> = Vec::new();
    if !args.files.is_empty() {
        let files = crate::commands::apply::expand(&args.files)?;
        for (file, text) in crate::commands::read_sources(&files)? {
            for doc in ferry_core::yaml::parse_documents(&file, &text)
                .map_err(|p| BadInput(p.to_string()))?
            {
                let kind = doc.kind().unwrap_or_default().to_ascii_lowercase();
                let ns = doc
                    .value
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(&args.namespace)
                    .to_string();
                targets.push((kind, ns, doc.name().unwrap_or_default().to_string()));
            }
        }
    } else {
        let Some(kind) = &args.kind else {
            return Err(BadInput("give TYPE NAME, TYPE/NAME or -f FILE".into()).into());
        };
        let (kind, name) = kind_and_name(kind, args.name.as_deref())?;
        targets.push((kind, args.namespace.clone(), name));
    }
    for (kind, ns, name) in targets {
        let answer = client.delete(&format!("/objects/{kind}/{}/{name}", ns_path(&kind, &ns)))?;
        println!("{} deleted", answer["deleted"].as_str().unwrap_or(&name));
    }
    Ok(ExitCode::SUCCESS)
}
