//! Online garbage collection. Mark: from every tag (and, unless `untagged`,
//! every stored manifest) follow configs, layers, child manifests and
//! referrers. Sweep: remove blobs nothing reaches, but only those untouched
//! for the grace period, so an in-flight push (whose blobs were just written
//! or checked) and a manifest written during the run are never lost. Each
//! removal re-checks the blob's age right before it, under the in-process
//! guard manifest writes share. Stale upload sessions and staging files are
//! removed after `upload_expiry`. `dry_run` only reports.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::digest::Digest;
use crate::error::Result;
use crate::manifest::{self, MAX_MANIFEST};
use crate::repo::Repos;

/// How a GC run behaves.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report only; change nothing.
    pub dry_run: bool,
    /// Also remove manifests no tag (or tagged index, or kept subject) reaches.
    pub untagged: bool,
    /// Anything written or used more recently than this is kept.
    pub grace: Duration,
    /// Upload sessions idle longer than this are removed.
    pub upload_expiry: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            untagged: false,
            grace: Duration::from_secs(3600),
            upload_expiry: Duration::from_secs(24 * 3600),
        }
    }
}

/// What a run removed (or, dry, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub dry_run: bool,
    pub blobs_kept: usize,
    pub blobs_removed: Vec<String>,
    pub bytes_freed: u64,
    pub manifests_removed: Vec<String>,
    pub uploads_removed: usize,
}

fn older_than(modified: SystemTime, cutoff: SystemTime) -> bool {
    modified < cutoff
}

/// Runs one GC pass; `guard` is the in-process lock shared with manifest writes.
pub async fn run(
    repos: &Repos,
    opts: &GcOptions,
    guard: Option<&tokio::sync::RwLock<()>>,
) -> Result<GcReport> {
    let started = SystemTime::now();
    let cutoff = started
        .checked_sub(opts.grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = GcReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut marked: HashSet<Digest> = HashSet::new();

    // === mark ===
    for name in repos.storage.repositories().await? {
        let revisions: BTreeSet<Digest> = repos.revisions(&name).await?.into_iter().collect();
        let mut roots: Vec<Digest> = Vec::new();
        for tag in repos.tags(&name).await? {
            if let Some(d) = repos.tag(&name, &tag).await? {
                roots.push(d);
            }
        }
        if !opts.untagged {
            roots.extend(revisions.iter().cloned());
        }
        let mut kept: HashSet<Digest> = HashSet::new();
        let mut work = roots;
        while let Some(d) = work.pop() {
            if !kept.insert(d.clone()) {
                continue;
            }
            marked.insert(d.clone());
            // Referrers of a kept manifest are kept with it.
            for r in repos.referrers(&name, &d).await? {
                if let Some(rd) = r
                    .get("digest")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok())
                {
                    work.push(rd);
                }
            }
            let Some(bytes) = repos.storage.blob_read(&d, MAX_MANIFEST).await? else {
                continue;
            };
            let media_type = repos.manifest_type(&name, &d).await?;
            let Ok(parsed) = manifest::parse(&bytes, media_type.as_deref()) else {
                continue;
            };
            marked.extend(parsed.blobs.iter().cloned());
            work.extend(parsed.manifests.iter().cloned());
        }
        // Untagged manifests nothing reaches, unless fresh.
        for d in revisions.difference(&kept.iter().cloned().collect()) {
            let fresh = repos
                .storage
                .blob_stat(d)
                .await?
                .is_none_or(|i| !older_than(i.modified, cutoff));
            if fresh {
                marked.insert(d.clone());
                continue;
            }
            report.manifests_removed.push(format!("{name}@{d}"));
            if !opts.dry_run {
                if let Some(bytes) = repos.storage.blob_read(d, MAX_MANIFEST).await?
                    && let Ok(p) = manifest::parse(&bytes, None)
                    && let Some(s) = p.subject
                {
                    repos.remove_referrer(&name, &s, d).await?;
                }
                repos.delete_revision(&name, d).await?;
            }
        }
    }

    // === sweep blobs ===
    let mut removed: HashSet<Digest> = HashSet::new();
    for (d, info) in repos.storage.blob_list().await? {
        if marked.contains(&d) || !older_than(info.modified, cutoff) {
            report.blobs_kept += 1;
            continue;
        }
        if opts.dry_run {
            report.blobs_removed.push(d.to_string());
            report.bytes_freed += info.size;
            continue;
        }
        let _g = match guard {
            Some(g) => Some(g.write().await),
            None => None,
        };
        // Re-check: a push may have used it since the listing.
        match repos.storage.blob_stat(&d).await? {
            Some(now) if older_than(now.modified, cutoff) => {
                repos.storage.blob_delete(&d).await?;
                report.blobs_removed.push(d.to_string());
                report.bytes_freed += now.size;
                removed.insert(d);
            }
            _ => report.blobs_kept += 1,
        }
    }
    if !removed.is_empty() {
        for name in repos.storage.repositories().await? {
            for d in repos.blobs(&name).await? {
                if removed.contains(&d) {
                    repos.unlink_blob(&name, &d).await?;
                }
            }
        }
    }

    // === stale uploads ===
    let upload_cutoff = started
        .checked_sub(opts.upload_expiry)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for (id, info) in repos.storage.upload_list().await? {
        let stale = if id.starts_with("tmp/") {
            older_than(info.modified, cutoff)
        } else {
            older_than(info.modified, upload_cutoff)
        };
        if stale {
            report.uploads_removed += 1;
            if !opts.dry_run {
                repos.storage.upload_delete(&id).await?;
            }
        }
    }
    tracing::info!(
        dry_run = opts.dry_run,
        blobs_removed = report.blobs_removed.len(),
        bytes_freed = report.bytes_freed,
        manifests_removed = report.manifests_removed.len(),
        uploads_removed = report.uploads_removed,
        "registry gc finished"
    );
    Ok(report)
}
