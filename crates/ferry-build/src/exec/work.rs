//! A build's work directory (root filesystems of its stages), marked
//! with the builder's pid and removed when the build ends; those of builds
//! killed before they could clean up are removed by the next build.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A work directory, removed on drop.
pub(super) struct WorkDir(PathBuf);

impl WorkDir {
    /// A fresh directory under `parent`, after removing abandoned ones.
    pub(super) fn create(parent: &Path) -> Result<Self> {
        remove_abandoned(parent);
        let work = parent.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
        let dir = WorkDir(work);
        let pid_file = dir.0.join("pid");
        std::fs::write(&pid_file, std::process::id().to_string())
            .map_err(|e| Error::io(&pid_file, e))?;
        Ok(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes work directories of builds whose process is gone (killed
/// before it could clean up).
fn remove_abandoned(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let pid = std::fs::read_to_string(e.path().join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            tracing::info!(dir = %e.path().display(), "removing the work directory of an interrupted build");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_work_dirs_are_removed_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let dead = d.path().join("dead");
        let live = d.path().join("live");
        for (dir, pid) in [
            (&dead, u32::MAX.to_string()),
            (&live, std::process::id().to_string()),
        ] {
            std::fs::create_dir_all(dir.join("rootfs-1")).unwrap();
            std::fs::write(dir.join("pid"), pid).unwrap();
        }
        remove_abandoned(d.path());
        assert!(!dead.exists());
        assert!(live.join("rootfs-1").exists());
    }
}
