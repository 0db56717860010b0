//! Progress reporting for transfers and builds, as plain events a UI (the
//! CLI's indicatif bars, replication metrics) turns into what it shows.

use std::sync::Arc;

/// One step of progress on an item (a blob, identified by its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// Work on `id` begins; `total` bytes are expected (0 when unknown).
    Start { id: String, total: u64 },
    /// `bytes` more bytes of `id` were transferred.
    Advance { id: String, bytes: u64 },
    /// `id` is done; `skipped` when nothing had to be transferred (the
    /// target already had it, or it was mounted from another repository).
    Done { id: String, skipped: bool },
}

/// A progress sink; cheap to clone, called from any task.
pub type Progress = Arc<dyn Fn(ProgressEvent) + Send + Sync>;

pub(crate) fn emit(progress: Option<&Progress>, event: ProgressEvent) {
    if let Some(p) = progress {
        p(event);
    }
}
