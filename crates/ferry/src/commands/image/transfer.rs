//! `ferry image push|pull`: transfers between the local store and a
//! registry, with one progress bar per blob.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use ferry_core::sync::MutexExt;
use ferry_image::{ImageRef, ProgressEvent, PullOptions, PushOptions, RegistryClient, Store};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{AuthArgs, BadInput, PullArgs, PushArgs, credentials, open_store, parse_ref};

/// `ferry image push`.
pub(super) fn push(a: PushArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let target = parse_ref(a.target.as_deref().unwrap_or(&a.image))?;
    push_image(&store, &a.image, &target, a.mount_from.clone(), &a.auth)?;
    Ok(ExitCode::SUCCESS)
}

/// Pushes `name` from `store` to `target`, with progress bars.
pub(super) fn push_image(
    store: &Store,
    name: &str,
    target: &ImageRef,
    mount_from: Option<String>,
    auth: &AuthArgs,
) -> anyhow::Result<()> {
    let client = RegistryClient::new(&target.registry, credentials(auth))?;
    let (bars, progress) = progress_bars();
    let opts = PushOptions {
        mount_from,
        progress: Some(ferry_image::push::ProgressHandle(progress)),
        ..PushOptions::default()
    };
    let digest =
        super::super::runtime()?.block_on(ferry_image::push(&client, store, name, target, &opts));
    bars.clear().ok();
    let digest = digest.with_context(|| format!("push {name} to {target}"))?;
    println!("pushed {target}@{digest}");
    Ok(())
}

/// `ferry image pull`.
pub(super) fn pull(a: PullArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&a.store)?;
    let image = parse_ref(&a.image)?;
    let mut opts = PullOptions::default();
    if let Some(p) = &a.platform {
        opts.platform = ferry_image::pull::Platform::parse(p)
            .ok_or_else(|| BadInput(format!("--platform `{p}`: expected os/arch[/variant]")))?;
    }
    let client = RegistryClient::new(&image.registry, credentials(&a.auth))?;
    let (bars, progress) = progress_bars();
    opts.progress = Some(progress);
    let pulled =
        super::super::runtime()?.block_on(ferry_image::pull(&client, &image, &store, &opts));
    bars.clear().ok();
    let pulled = pulled.with_context(|| format!("pull {image}"))?;
    println!("pulled {} {}", pulled.name, pulled.digest());
    Ok(ExitCode::SUCCESS)
}

/// indicatif bars, one per blob, fed by transfer progress events.
fn progress_bars() -> (MultiProgress, ferry_image::Progress) {
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bars: Arc<Mutex<HashMap<String, ProgressBar>>> = Arc::default();
    let m = multi.clone();
    let progress: ferry_image::Progress = Arc::new(move |e: ProgressEvent| {
        let mut bars = bars.lock_or_recover();
        match e {
            ProgressEvent::Start { id, total } => {
                let bar = m.add(ProgressBar::new(total).with_style(style.clone()));
                bar.set_prefix(
                    id.split(':')
                        .nth(1)
                        .unwrap_or(&id)
                        .chars()
                        .take(12)
                        .collect::<String>(),
                );
                bars.insert(id, bar);
            }
            ProgressEvent::Advance { id, bytes } => {
                if let Some(b) = bars.get(&id) {
                    b.inc(bytes);
                }
            }
            ProgressEvent::Done { id, skipped } => {
                if let Some(b) = bars.get(&id) {
                    b.finish_with_message(if skipped { "exists" } else { "done" });
                }
            }
        }
    });
    (multi, progress)
}
