//! The reconcile pass of the engine: at start, every interval and on
//! request, each rule's source and target are compared tag by tag and what
//! differs is queued — copies for tags the target lacks or holds at
//! another digest; with `spec.deletes`, deletions for matching tags the
//! target holds and the source no longer does (also in repositories gone
//! from the source's catalog), so deletions missed while down still land.

use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::error::Result;
use crate::queue::{Op, Task};
use crate::rule::Rule;

impl Engine {
    pub(crate) async fn reconcile_loop(self, shutdown: CancellationToken) {
        loop {
            for rule in self.inner.rules.values() {
                let result = self.reconcile_rule(rule).await;
                if let Err(e) = &result {
                    tracing::warn!(rule = %rule.name, error = %e, "reconcile pass failed");
                }
                self.inner
                    .stats
                    .reconciled(&rule.name, result.err().map(|e| e.to_string()).as_deref());
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.inner.interval) => {}
                _ = self.inner.reconcile.notified() => {}
            }
        }
    }

    async fn reconcile_rule(&self, rule: &Rule) -> Result<()> {
        let (src, dst) = (&rule.source.client, &rule.target.client);
        let repos: Vec<String> = src
            .catalog()
            .await?
            .into_iter()
            .filter(|r| rule.matches_repo(r))
            .collect();
        for repo in &repos {
            let tags: Vec<String> = src
                .tags(repo)
                .await?
                .into_iter()
                .filter(|t| rule.matches_tag(t))
                .collect();
            for tag in &tags {
                let task = Task::new(&rule.name, repo, tag, Op::Copy);
                if self.inner.queue.contains(&task) {
                    continue;
                }
                let want = src.head_manifest(repo, tag).await?.map(|m| m.0);
                let have = dst
                    .head_manifest(repo, tag)
                    .await
                    .ok()
                    .flatten()
                    .map(|m| m.0);
                if want.is_some() && want != have {
                    tracing::info!(rule = %rule.name, %repo, %tag, "reconcile: target is missing or behind");
                    self.enqueue(task)?;
                }
            }
            if rule.deletes {
                self.queue_deletions(rule, repo, &tags).await?;
            }
        }
        if rule.deletes {
            // Repositories the source no longer lists (every manifest
            // deleted): their matching tags in the target go too. A target
            // that refuses its catalog (some hosted registries) is skipped.
            for repo in dst.catalog().await.unwrap_or_default() {
                if rule.matches_repo(&repo) && !repos.contains(&repo) {
                    self.queue_deletions(rule, &repo, &[]).await?;
                }
            }
        }
        Ok(())
    }

    /// Queues the deletion of each matching tag of `repo` the target holds
    /// and the source (whose matching tags are `kept`) does not.
    async fn queue_deletions(&self, rule: &Rule, repo: &str, kept: &[String]) -> Result<()> {
        let dst = &rule.target.client;
        for tag in dst.tags(repo).await.unwrap_or_default() {
            if rule.matches_tag(&tag) && !kept.contains(&tag) {
                tracing::info!(rule = %rule.name, %repo, %tag, "reconcile: gone from the source");
                self.enqueue(Task::new(&rule.name, repo, &tag, Op::Delete))?;
            }
        }
        Ok(())
    }
}
