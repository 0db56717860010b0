//! `GET /ui/pods/{ns}/{pod}/logs?container=&since=`: a container's log
//! followed as server-sent events. Each `log` event carries
//! `{"text": …}` (the bytes appended since, at most 64 KiB) and, as its id,
//! the log's size after them — so the browser's reconnect, sending
//! `Last-Event-ID`, resumes at the byte where it stopped. The page starts
//! the stream at the size its tail was read at (`since`). A log that
//! shrank was rotated: following restarts at its beginning. The stream
//! ends with a `reload` event when the session ends, and when the region
//! stops. Needs what `GET /api/v1/logs/{ns}/{pod}` needs.

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::Current;
use crate::{Error, Ui};

/// How often the log file is looked at, and the most one event carries.
const POLL: Duration = Duration::from_millis(250);
const CHUNK: u64 = 64 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LogQuery {
    container: Option<String>,
    since: Option<u64>,
}

struct Follow {
    ui: Ui,
    session: String,
    path: PathBuf,
    offset: u64,
    done: bool,
}

pub(crate) async fn follow(
    State(ui): State<Ui>,
    who: Current,
    headers: HeaderMap,
    Path((ns, pod)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Result<Response, Error> {
    ui.allowed(
        &who.identity,
        &Method::GET,
        &format!("/api/v1/logs/{ns}/{pod}"),
    )?;
    let rt = ui
        .cfg()
        .runtime
        .as_ref()
        .ok_or_else(|| Error::NotFound("this region runs no pods".into()))?;
    let container = q.container.as_deref().filter(|c| !c.is_empty());
    let path = rt
        .log_path(&ns, &pod, container, false)
        .map_err(|e| Error::NotFound(e.to_string()))?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let f = Follow {
        ui,
        session: who.id,
        path,
        offset: resume.or(q.since).unwrap_or(0),
        done: false,
    };
    Ok(Sse::new(events(f))
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn events(f: Follow) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(f, |mut f| async move {
        let e = next(&mut f).await?;
        Some((Ok(e), f))
    })
}

/// The next event: what was appended, or `reload`; `None` ends the stream.
async fn next(f: &mut Follow) -> Option<Event> {
    if f.done {
        return None;
    }
    loop {
        if !f.ui.alive(&f.session) {
            f.done = true;
            return Some(Event::default().event("reload").data("{}"));
        }
        match read_from(&f.path, f.offset).await {
            Ok(Some((text, end))) => {
                f.offset = end;
                let data = serde_json::json!({ "text": text }).to_string();
                return Some(Event::default().event("log").id(end.to_string()).data(data));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(path = %f.path.display(), error = %e, "log follow ended");
                return None;
            }
        }
        tokio::select! {
            _ = f.ui.inner.stop.cancelled() => return None,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// What the file holds after `offset` (from 0 when it shrank), at most
/// [`CHUNK`] bytes, and the offset after it; `None` when nothing new.
async fn read_from(path: &std::path::Path, offset: u64) -> std::io::Result<Option<(String, u64)>> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let offset = if len < offset { 0 } else { offset };
    if len == offset {
        return Ok(None);
    }
    let n = (len - offset).min(CHUNK);
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut buf = Vec::with_capacity(n as usize);
    file.take(n).read_to_end(&mut buf).await?;
    // A character cut at the chunk's end waits for the next read.
    if let Err(e) = std::str::from_utf8(&buf)
        && e.error_len().is_none()
        && e.valid_up_to() > 0
    {
        buf.truncate(e.valid_up_to());
    }
    let end = offset + buf.len() as u64;
    Ok(Some((String::from_utf8_lossy(&buf).into_owned(), end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_continue_at_the_offset_in_chunks_and_restart_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "one\ntwo\n").unwrap();
        assert_eq!(
            read_from(&path, 4).await.unwrap(),
            Some(("two\n".into(), 8))
        );
        assert_eq!(read_from(&path, 8).await.unwrap(), None);
        std::fs::write(&path, "x".repeat(CHUNK as usize + 10)).unwrap();
        let (text, end) = read_from(&path, 8).await.unwrap().unwrap();
        assert_eq!((text.len() as u64, end), (CHUNK, CHUNK + 8));
        std::fs::write(&path, "new\n").unwrap();
        assert_eq!(
            read_from(&path, 100).await.unwrap(),
            Some(("new\n".into(), 4)),
            "a shorter file was rotated"
        );
        assert!(read_from(&dir.path().join("gone"), 0).await.is_err());
    }
}
