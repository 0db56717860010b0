//! `ferry build -t REF [-f Dockerfile] [--build-arg K=V] [--target STAGE]
//! [--allow network.host] [--output DIR] CONTEXT`: builds an image from a Dockerfile without a
//! daemon (RUN steps in runc), printing steps like `docker build`, then
//! pushes it to every `-t` reference or writes it as an OCI layout.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use ferry_build::{BuildOptions, Event, progress::render};

use crate::cli::BuildArgs;
use crate::commands::BadInput;

pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let mut build_args = BTreeMap::new();
    for kv in &args.build_args {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                build_args.insert(k.to_string(), v.to_string());
            }
            // `--build-arg NAME` takes the value from the environment, as docker does
            _ => match std::env::var(kv) {
                Ok(v) => {
                    build_args.insert(kv.clone(), v);
                }
                Err(_) => {
                    return Err(BadInput(format!(
                        "--build-arg {kv}: expected NAME=VALUE (or NAME set in the environment)"
                    ))
                    .into());
                }
            },
        }
    }
    let data_root = args
        .data_dir
        .clone()
        .unwrap_or_else(super::up::default_data_root);
    let opts = BuildOptions {
        context: args.context.clone(),
        dockerfile: args.file.clone(),
        build_args,
        target: args.target.clone(),
        cache_dir: ferry_build::exec::cache_dir(&data_root),
        no_cache: args.no_cache,
        allow: args.allow.iter().copied().collect(),
    };
    let quiet = args.quiet;
    let print = |e: Event| {
        if !quiet {
            eprintln!("{}", render(&e));
        }
    };
    let built = match ferry_build::build(&opts, &print) {
        Ok(b) => b,
        Err(e) if e.is_bad_input() => return Err(BadInput(e.to_string()).into()),
        Err(e) => return Err(anyhow::Error::new(e).context("build failed; nothing was pushed")),
    };
    if !quiet {
        eprintln!(
            "{} step(s) run, {} from cache",
            built.steps_run, built.steps_cached
        );
    }
    if let Some(dir) = &args.output {
        ferry_build::output::write_layout(&built, dir, &args.tags)
            .with_context(|| format!("writing OCI layout {}", dir.display()))?;
        if !quiet {
            eprintln!("wrote OCI layout {}", dir.display());
        }
    } else if !args.tags.is_empty() {
        let rt = super::runtime()?;
        rt.block_on(ferry_build::output::push(
            &built,
            &args.tags,
            &Default::default(),
        ))?;
        if !quiet {
            for t in &args.tags {
                eprintln!("pushed {t}");
            }
        }
    }
    println!("{}", built.digest());
    Ok(ExitCode::SUCCESS)
}
