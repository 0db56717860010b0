//! The API routes that reach into a pod's containers: `logs` (previous,
//! tail, follow as a stream) and `exec`.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use ferry_api::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::Runtime;

#[derive(Debug, Deserialize)]
pub(crate) struct LogsQuery {
    container: Option<String>,
    #[serde(default)]
    previous: bool,
    #[serde(default)]
    follow: bool,
    tail: Option<usize>,
}

pub(crate) async fn logs(
    State(rt): State<Runtime>,
    Path((ns, pod)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let path = rt.log_path(&ns, &pod, q.container.as_deref(), q.previous)?;
    let text = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let mut start = 0;
    if let Some(n) = q.tail {
        let lines: Vec<usize> = text
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        if lines.len() > n {
            start = lines[lines.len() - n - 1];
        }
    }
    let head = text[start..].to_vec();
    if !q.follow {
        return Ok(head.into_response());
    }
    let offset = text.len() as u64;
    let stream = futures_util::stream::unfold(
        (path, offset, Some(head)),
        |(path, mut offset, head)| async move {
            if let Some(h) = head {
                return Some((
                    Ok::<_, std::io::Error>(bytes::Bytes::from(h)),
                    (path, offset, None),
                ));
            }
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let mut f = tokio::fs::File::open(&path).await.ok()?;
                let len = f.metadata().await.ok()?.len();
                if len < offset {
                    offset = 0; // rotated
                }
                if len > offset {
                    f.seek(std::io::SeekFrom::Start(offset)).await.ok()?;
                    let mut buf = Vec::new();
                    f.take(len - offset).read_to_end(&mut buf).await.ok()?;
                    offset = len;
                    return Some((Ok(bytes::Bytes::from(buf)), (path, offset, None)));
                }
            }
        },
    );
    Ok(Body::from_stream(stream).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExecBody {
    container: Option<String>,
    command: Vec<String>,
}

pub(crate) async fn exec(
    State(rt): State<Runtime>,
    Path((ns, pod)): Path<(String, String)>,
    Json(b): Json<ExecBody>,
) -> Result<Json<Value>, ApiError> {
    if b.command.is_empty() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "give a command to run",
        ));
    }
    let out = rt
        .exec(&ns, &pod, b.container.as_deref(), &b.command)
        .await?;
    Ok(Json(serde_json::to_value(out).unwrap_or(Value::Null)))
}
