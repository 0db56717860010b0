//! JSON errors for every API route: a stable machine-readable `code`, a
//! human `message`, and the HTTP status derived from the code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Stable error codes of the v1 API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorCode {
    BadRequest,
    Invalid,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    Unavailable,
    Internal,
    /// The request's body is not JSON where JSON is required (415).
    UnsupportedMediaType,
    /// The request names a host this listener does not answer to (421).
    Misdirected,
    /// Too many requests of this kind are being served; retry later (429,
    /// with `Retry-After`).
    TooManyRequests,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// An API error, rendered as `{"code": ..., "message": ..., "details": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// One entry per problem, for validation errors that list several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// A 500 built from any error, logged with its source chain.
    pub fn internal(err: impl std::error::Error) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(ErrorCode::Internal, err.to_string())
    }

    /// Adds per-problem details.
    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<ferry_core::Error> for ApiError {
    fn from(e: ferry_core::Error) -> Self {
        match e {
            ferry_core::Error::Invalid(p) => ApiError::new(
                ErrorCode::Invalid,
                format!("{} problem(s) in the input", p.0.len()),
            )
            .with_details(p.0.iter().map(ToString::to_string).collect()),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code.status(), Json(self)).into_response()
    }
}
