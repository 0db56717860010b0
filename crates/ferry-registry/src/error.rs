//! The crate's one error type, and how it renders at the HTTP edge: every
//! variant maps to an OCI error code and status, answered as
//! `{"errors":[{"code","message","detail"}]}` exactly as the Distribution
//! Spec lists them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What a client is told when the store's disk is full (the server's log
/// has the path).
const FULL: &str = "registry storage is full (no space left on device); nothing of this \
    push was kept. Free space on the registry's volume (delete unused tags, then run \
    `ferry registry gc`) or grow it, then push again";

/// Everything that can go wrong in the registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(String),
    #[error("blob upload unknown to registry: {0}")]
    BlobUploadUnknown(String),
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    #[error("requested range not satisfiable: {message}")]
    RangeInvalid { message: String, size: u64 },
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    #[error("manifest references a manifest or blob unknown to registry: {0}")]
    ManifestBlobUnknown(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest unknown to registry: {0}")]
    ManifestUnknown(String),
    #[error("invalid repository name: {0}")]
    NameInvalid(String),
    #[error("repository name not known to registry: {0}")]
    NameUnknown(String),
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    #[error("manifest too large: {0}")]
    TooLarge(String),
    #[error("authentication required")]
    Unauthorized { challenge: Option<String> },
    #[error("requested access to the resource is denied")]
    Denied,
    #[error("too many failed logins from this address; retry in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    #[error("invalid tag: {0}")]
    TagInvalid(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("storage failure at {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The filesystem under the store is full (`ENOSPC`) or the quota is
    /// used up (`EDQUOT`): what the failed write had stored was removed.
    #[error("storage full at {path}: {source}")]
    StorageFull {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error("request body: {0}")]
    Body(String),
}

impl Error {
    /// Wraps an IO error with the path it concerns; a full disk or quota
    /// becomes [`Error::StorageFull`].
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => Error::StorageFull { path, source },
            _ => Error::Io { path, source },
        }
    }

    /// True when the storage ran out of space.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Error::StorageFull { .. })
    }

    /// The OCI error code and HTTP status.
    pub fn code(&self) -> (&'static str, StatusCode) {
        use Error::*;
        match self {
            BlobUnknown(_) => ("BLOB_UNKNOWN", StatusCode::NOT_FOUND),
            BlobUploadUnknown(_) => ("BLOB_UPLOAD_UNKNOWN", StatusCode::NOT_FOUND),
            BlobUploadInvalid(_) => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
            RangeInvalid { .. } => ("BLOB_UPLOAD_INVALID", StatusCode::RANGE_NOT_SATISFIABLE),
            DigestInvalid(_) => ("DIGEST_INVALID", StatusCode::BAD_REQUEST),
            ManifestBlobUnknown(_) => ("MANIFEST_BLOB_UNKNOWN", StatusCode::BAD_REQUEST),
            ManifestInvalid(_) => ("MANIFEST_INVALID", StatusCode::BAD_REQUEST),
            ManifestUnknown(_) => ("MANIFEST_UNKNOWN", StatusCode::NOT_FOUND),
            NameInvalid(_) => ("NAME_INVALID", StatusCode::BAD_REQUEST),
            NameUnknown(_) => ("NAME_UNKNOWN", StatusCode::NOT_FOUND),
            SizeInvalid(_) => ("SIZE_INVALID", StatusCode::BAD_REQUEST),
            TooLarge(_) => ("SIZE_INVALID", StatusCode::PAYLOAD_TOO_LARGE),
            Unauthorized { .. } => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED),
            Denied => ("DENIED", StatusCode::FORBIDDEN),
            TooManyRequests { .. } => ("TOOMANYREQUESTS", StatusCode::TOO_MANY_REQUESTS),
            Unsupported(_) => ("UNSUPPORTED", StatusCode::METHOD_NOT_ALLOWED),
            TagInvalid(_) => ("TAG_INVALID", StatusCode::BAD_REQUEST),
            BadRequest(_) => ("UNSUPPORTED", StatusCode::BAD_REQUEST),
            Body(_) => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
            // The Distribution Spec has no code for it; Distribution itself
            // answers UNKNOWN. The status tells clients and proxies.
            StorageFull { .. } => ("UNKNOWN", StatusCode::INSUFFICIENT_STORAGE),
            Io { .. } | Config(_) => ("UNKNOWN", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (code, status) = self.code();
        if status.is_server_error() {
            tracing::error!(error = %self, "registry request failed");
        }
        let message = match &self {
            // Never leak server paths to clients.
            Error::Io { .. } => "internal storage error".to_string(),
            Error::StorageFull { .. } => FULL.to_string(),
            other => other.to_string(),
        };
        let body = serde_json::json!({
            "errors": [{ "code": code, "message": message, "detail": serde_json::Value::Null }]
        });
        let mut resp = (status, axum::Json(body)).into_response();
        match &self {
            Error::Unauthorized { challenge: Some(c) } => {
                if let Ok(v) = HeaderValue::from_str(c) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            // The rest of an oversized body (or of an upload the disk had no
            // room for, past what is drained) is never read, so the
            // connection cannot carry another request: tell the client not
            // to reuse it.
            Error::TooLarge(_) | Error::StorageFull { .. } => {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Error::TooManyRequests { retry_after } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Error::RangeInvalid { size, .. } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            _ => {}
        }
        resp
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
