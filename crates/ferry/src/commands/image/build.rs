//! `ferry image build`: an image from directories, a binary or busybox,
//! with config from flags, written to the local store (and pushed with
//! `--push`).

use std::path::Path;
use std::process::ExitCode;

use ferry_image::build::{Compression, ImageBuilder, busybox};
use indicatif::ProgressBar;

use super::transfer::push_image;
use super::{BadInput, BuildArgs, LayerCompression, open_store, parse_ref};

/// `ferry image build`.
pub(super) fn build(a: BuildArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let b = with_config(with_files(&a)?, &a)?;
    let spinner = ProgressBar::new_spinner().with_message(format!("building {}", a.tag));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let built = b.build(&store, Some(&a.tag));
    spinner.finish_and_clear();
    let built = built.map_err(|e| match e {
        ferry_image::Error::Build(m) => anyhow::Error::new(BadInput(m)),
        other => other.into(),
    })?;
    println!("{} {}", a.tag, built.digest());
    if a.push {
        let target = parse_ref(&a.tag)?;
        push_image(&store, &a.tag, &target, None, &a.auth)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The builder's base (busybox, httpd or empty) with `--dir` and `--binary`
/// added.
fn with_files(a: &BuildArgs) -> anyhow::Result<ImageBuilder> {
    let mut b = match (&a.httpd, a.busybox) {
        (Some(v), _) => busybox::httpd_image(v, a.port)?,
        (None, true) => busybox::busybox_image()?,
        (None, false) => ImageBuilder::new(),
    };
    for d in &a.dirs {
        let (src, dest) = d.split_once(':').unwrap_or((d, "/"));
        if !Path::new(src).is_dir() {
            return Err(BadInput(format!("--dir {src}: not a directory")).into());
        }
        b = b.dir(Path::new(src), dest)?;
    }
    if let Some(bin) = &a.binary {
        let (src, dest) = match bin.split_once(':') {
            Some((s, d)) => (s.to_string(), d.to_string()),
            None => (
                bin.clone(),
                format!(
                    "/app/{}",
                    Path::new(bin)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            ),
        };
        if !Path::new(&src).is_file() {
            return Err(BadInput(format!("--binary {src}: no such file")).into());
        }
        b = b.binary(Path::new(&src), &dest)?;
    }
    Ok(b)
}

/// `b` with the image config flags and the layer compression applied.
fn with_config(mut b: ImageBuilder, a: &BuildArgs) -> anyhow::Result<ImageBuilder> {
    if let Some(e) = &a.entrypoint {
        b = b.entrypoint(words(e)?);
    }
    if let Some(c) = &a.cmd {
        b = b.cmd(words(c)?);
    }
    for e in &a.env {
        let (k, v) = key_value("--env", e)?;
        b = b.env(k, v);
    }
    for l in &a.labels {
        let (k, v) = key_value("--label", l)?;
        b = b.label(k, v);
    }
    for p in &a.expose {
        b = b.expose(p);
    }
    if let Some(w) = &a.workdir {
        b = b.working_dir(w);
    }
    if let Some(u) = &a.user {
        b = b.user(u);
    }
    Ok(b.compression(match a.compression {
        LayerCompression::Gzip => Compression::Gzip,
        LayerCompression::Zstd => Compression::Zstd,
        LayerCompression::None => Compression::None,
    }))
}

fn words(s: &str) -> anyhow::Result<Vec<String>> {
    if s.trim_start().starts_with('[') {
        return serde_json::from_str(s)
            .map_err(|e| BadInput(format!("`{s}` is not a JSON array of strings: {e}")).into());
    }
    Ok(s.split_whitespace().map(str::to_string).collect())
}

fn key_value<'a>(flag: &str, s: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| BadInput(format!("{flag} `{s}`: expected KEY=VALUE")).into())
}
