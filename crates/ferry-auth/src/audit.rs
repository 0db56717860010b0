//! The audit log: one JSON line per mutating API call (and per refused
//! call), with time, identity, role, verb, object and outcome, appended to
//! `<data dir>/auth/audit.log` (mode 0600). Request bodies are never
//! written, so no Secret value reaches it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::Error;

/// One audited call.
#[derive(Debug, Clone, Serialize)]
pub struct Entry<'a> {
    /// RFC 3339, UTC.
    pub time: String,
    /// The token's name; `-` when no token was given or it was not valid.
    pub identity: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
    /// The HTTP method.
    pub verb: &'a str,
    /// The request path (the object or collection acted on).
    pub object: &'a str,
    /// `allowed`, `unauthenticated` or `forbidden`.
    pub outcome: &'a str,
    /// The response status.
    pub status: u16,
}

/// The append-only audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Opens (creating, mode 0600) `path` for appending.
    pub fn open(path: &Path) -> Result<AuditLog, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends `entry` as one line (one write, so lines never interleave).
    /// A failure to write is logged, not returned: the call has happened.
    pub fn record(&self, entry: &Entry<'_>) {
        let mut line = serde_json::to_vec(entry).expect("audit entries serialise");
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(&line) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the audit log");
        }
    }
}

/// The current time as RFC 3339 (UTC).
pub fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
