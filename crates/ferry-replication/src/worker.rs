//! The engine's workers: each takes the next ready task from the queue and
//! runs it — a copy ([`crate::copy`]) or a deletion ([`crate::delete`]) —
//! then removes it, or records the failure and retries it after an
//! exponential backoff. A deletion task of a rule whose `spec.deletes` is
//! off (a task persisted before the flag was turned off) is dropped.

use std::sync::Arc;
use std::time::Duration;

use ferry_core::events::Event;
use ferry_image::client::UploadSession;
use tokio_util::sync::CancellationToken;

use crate::copy::{CopyOptions, SessionStore, copy_image};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::queue::{Op, Queue, Task};
use crate::rule::Rule;

impl Engine {
    pub(crate) async fn work(self, shutdown: CancellationToken) {
        loop {
            match self.inner.queue.take() {
                Ok(task) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = self.run(task) => {}
                    }
                }
                Err(wait) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = self.inner.wake.notified() => {}
                        _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(1))) => {}
                    }
                }
            }
        }
    }

    async fn run(&self, task: Task) {
        let key = task.key();
        let image = format!("{}:{}", task.repository, task.reference);
        let Some(rule) = self.inner.rules.get(&task.rule) else {
            tracing::info!(rule = %task.rule, %image, "dropping task of a rule that no longer exists");
            let _ = self.inner.queue.done(&key);
            return;
        };
        if task.op == Op::Delete && !rule.deletes {
            tracing::info!(rule = %rule.name, %image, "dropping a deletion: the rule no longer replicates deletions (spec.deletes)");
            let _ = self.inner.queue.done(&key);
            return;
        }
        let result = match task.op {
            Op::Copy => self.copy(rule, &task, &key).await,
            Op::Delete => crate::delete::delete(rule, &task.repository, &task.reference)
                .await
                .map(|_| 0),
        };
        match result {
            Ok(bytes) => {
                if let Err(e) = self.inner.queue.done(&key) {
                    tracing::error!(error = %e, "cannot remove finished replication task");
                }
                self.inner.stats.success(&rule.name, &image, bytes, task.op);
            }
            Err(Error::Image(ferry_image::Error::NotFound { what, .. }))
                if task.op == Op::Copy && what.starts_with("manifest") =>
            {
                tracing::info!(rule = %rule.name, %image, "source image is gone; nothing to replicate");
                let _ = self.inner.queue.done(&key);
            }
            Err(e) => {
                let msg = e.to_string();
                self.inner.stats.failure(&rule.name, &msg);
                let delay = self.backoff(task.attempts + 1);
                let attempts = self.inner.queue.failed(&key, &msg, delay).unwrap_or(0);
                tracing::warn!(rule = %rule.name, %image, attempts, retry_in = ?delay, error = %msg, "replication failed; will retry");
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = Duration::from_millis(250u64.saturating_mul(1u64 << attempt.min(16)));
        base.min(self.inner.max_backoff)
    }

    async fn copy(&self, rule: &Rule, task: &Task, key: &str) -> Result<u64> {
        let sessions: Arc<dyn SessionStore> = Arc::new(QueueSessions {
            queue: self.inner.queue.clone(),
            key: key.to_string(),
        });
        let opts = CopyOptions {
            sessions,
            parallelism: 4,
            bucket: rule.bucket.clone(),
            in_flight: rule.in_flight.clone(),
        };
        let report = copy_image(
            &rule.source.client,
            &rule.target.client,
            &task.repository,
            &task.reference,
            &opts,
        )
        .await?;
        if !report.up_to_date {
            tracing::info!(rule = %rule.name, repo = %task.repository, reference = %task.reference, digest = %report.digest, bytes = report.bytes, skipped_blobs = report.skipped_blobs, "replicated");
            self.inner.events.publish(Event::ImageReplicated {
                source: rule.source.name.clone(),
                target: rule.target.name.clone(),
                repository: task.repository.clone(),
                tag: (!task.reference.contains(':')).then(|| task.reference.clone()),
                digest: report.digest.clone(),
            });
        }
        Ok(report.bytes)
    }
}

struct QueueSessions {
    queue: Arc<Queue>,
    key: String,
}

impl SessionStore for QueueSessions {
    fn load(&self, blob: &str) -> Option<UploadSession> {
        self.queue.upload(&self.key, blob)
    }

    fn save(&self, blob: &str, session: &UploadSession) {
        if let Err(e) = self.queue.save_upload(&self.key, blob, session) {
            tracing::warn!(error = %e, "cannot persist upload session");
        }
    }
}
