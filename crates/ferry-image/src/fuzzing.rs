//! Entry points for the fuzz targets (`fuzz/` at the repository root): the
//! client's header parsers, otherwise private. Not a stable API.

/// The upload offset after a registry's upload-status `Range: 0-<end>`.
pub fn parse_range_end(range: &str) -> u64 {
    crate::client::upload::parse_range_end(range)
}
