//! The reconcile pass of the engine: at start, every interval and on
//! request, each rule's source and target are compared tag by tag and what
//! differs is queued — copies for tags the target lacks or holds at
//! another digest. It never deletes: a tag the target holds and the source
//! lacks may have been pushed to the target directly, and a source wiped
//! or half-restored must not empty its mirrors. With `spec.deletes`,
//! deletions are replicated from the source's delete events only (as
//! Harbor does), through the persisted queue, so none is lost while the
//! target or ferry is down.

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
        }
        Ok(())
    }
}
