//! Entry points for the fuzz targets (`fuzz/` at the repository root): the
//! registry's header parsers, otherwise private to its HTTP edge. Not a
//! stable API.

use http::HeaderMap;

use crate::Result;

/// `Range: bytes=...` of a blob `GET` against a blob of `size` bytes.
pub fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>> {
    crate::api::blobs::parse_range(value, size)
}

/// The start offset of an upload `PATCH`'s `Content-Range` (checked against
/// its `Content-Length`).
pub fn content_range_start(headers: &HeaderMap, size_hint: u64) -> Result<Option<u64>> {
    crate::api::uploads::content_range_start(headers, size_hint)
}
