//! `ferry image ls|inspect`: what the local store holds, as a table or
//! as JSON/YAML.

use std::process::ExitCode;

use serde::Serialize;

use super::{BadInput, InspectArgs, LsArgs, open_store};
use crate::output::{self, Format};

/// One row of `ferry image ls`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageRow {
    name: String,
    digest: String,
    size: u64,
    layers: usize,
    media_type: String,
}

/// `ferry image ls`.
pub(super) fn ls(a: LsArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let mut rows = Vec::new();
    for (name, _) in store.list()? {
        let img = store.image(&name)?;
        rows.push(ImageRow {
            digest: img.digest(),
            size: img.size(),
            layers: img.manifest.layers().len(),
            media_type: img.descriptor.media_type().to_string(),
            name,
        });
    }
    match a.output {
        Some(f @ (Format::Json | Format::Yaml)) => output::structured(f, &rows)?,
        wide => print_table(&rows, wide == Some(Format::Wide)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry image inspect`.
pub(super) fn inspect(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let img = store.image(&a.image).map_err(|e| match e {
        ferry_image::Error::NotInStore(_) => anyhow::Error::new(BadInput(e.to_string())),
        other => other.into(),
    })?;
    let value = serde_json::json!({
        "name": img.name,
        "digest": img.digest(),
        "size": img.size(),
        "manifest": img.manifest,
        "config": img.config,
    });
    output::structured(a.output.unwrap_or(Format::Json), &value)?;
    Ok(ExitCode::SUCCESS)
}

/// `rows` as a table; `wide` adds layers and media type and the whole digest.
fn print_table(rows: &[ImageRow], wide: bool) {
    let mut headers = vec!["NAME", "DIGEST", "SIZE"];
    if wide {
        headers.extend(["LAYERS", "MEDIA TYPE"]);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let digest = if wide {
                r.digest.clone()
            } else {
                r.digest.chars().take(19).collect()
            };
            let mut row = vec![
                r.name.clone(),
                digest,
                indicatif::HumanBytes(r.size).to_string(),
            ];
            if wide {
                row.extend([r.layers.to_string(), r.media_type.clone()]);
            }
            row
        })
        .collect();
    print!("{}", output::table(&headers, &table));
}
