//! `ferry apply -f FILE|DIR`: sends every manifest to the region's runtime,
//! which validates all documents and applies all or nothing; prints
//! created/configured/unchanged per object like kubectl. With `-n NS`,
//! objects that name no namespace go into NS; one naming another is refused.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, ServerArg};
use crate::commands::BadInput;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest files or directories (.yaml, .yml, .json inside); '-' reads stdin
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR",
        required = true
    )]
    pub files: Vec<PathBuf>,
    /// Print the results as json or yaml
    #[arg(short, long, value_enum)]
    pub output: Option<crate::output::Format>,
    /// The global `-n/--namespace`: where objects naming no namespace go
    #[arg(skip)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Expands directories into their manifest files, sorted.
pub fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| BadInput(format!("cannot read {}: {e}", p.display())))?
                .flatten()
                .map(|e| e.path())
                .filter(|f| is_manifest(f))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(BadInput(format!(
                    "{} holds no .yaml, .yml or .json files",
                    p.display()
                ))
                .into());
            }
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn is_manifest(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Applies the files.
pub fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let files = expand(&args.files)?;
    let sources = crate::commands::read_sources(&files)?;
    let body = json!({
        "sources": sources.iter().map(|(f, t)| json!({"file": f, "text": t})).collect::<Vec<_>>(),
        "namespace": args.namespace,
    });
    let client = Client::new(&args.server)?;
    let answer: Value = client.post("/apply", &body)?;
    let results = answer["results"].as_array().cloned().unwrap_or_default();
    match args.output {
        Some(f @ (crate::output::Format::Json | crate::output::Format::Yaml)) => {
            crate::output::structured(f, &results)?
        }
        _ => {
            for r in &results {
                println!(
                    "{} {}",
                    r["object"].as_str().unwrap_or("?"),
                    r["action"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
