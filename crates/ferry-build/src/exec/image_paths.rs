//! Questions about paths of a stage's image without unpacking it: whether
//! a path is a directory, answered from the unpacked tree when it is
//! current, else from the layers' tar headers, newest layer first.

use super::{Builder, StageRun};
use crate::error::{Error, Result};

impl Builder<'_> {
    /// True when `path` (relative) is a directory in the stage's image so
    /// far: from the unpacked tree when it is current, else from the layers'
    /// tar headers, newest first.
    pub(super) fn is_dir_in_image(&self, run: &StageRun, path: &str) -> Result<bool> {
        if path.is_empty() {
            return Ok(true);
        }
        if run.applied == run.state.layers.len() && !run.state.layers.is_empty() {
            return Ok(run.rootfs.join(path).is_dir());
        }
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let whiteout = if parent.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{parent}/.wh.{name}")
        };
        for l in run.state.layers.iter().rev() {
            let digest = l.descriptor.digest().to_string();
            let blob = self.store.blob_path(&digest);
            let f = std::fs::File::open(&blob).map_err(|e| Error::io(&blob, e))?;
            let mut buf = std::io::BufReader::new(f);
            let head = std::io::BufRead::fill_buf(&mut buf)
                .map_err(|e| Error::io(&blob, e))?
                .to_vec();
            let reader: Box<dyn std::io::Read> = if head.starts_with(&[0x1f, 0x8b]) {
                Box::new(flate2::read::GzDecoder::new(buf))
            } else {
                Box::new(buf)
            };
            let mut ar = tar::Archive::new(reader);
            let entries = ar.entries().map_err(|e| Error::io(&blob, e))?;
            for e in entries {
                let e = e.map_err(|e| Error::io(&blob, e))?;
                let p = e
                    .path()
                    .map_err(|e| Error::io(&blob, e))?
                    .to_string_lossy()
                    .into_owned();
                let p = p.trim_start_matches("./").trim_end_matches('/');
                if p == path {
                    return Ok(e.header().entry_type().is_dir());
                }
                if p == whiteout {
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }
}
