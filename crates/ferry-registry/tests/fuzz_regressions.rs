//! Inputs the fuzz targets (`fuzz/`, `scripts/fuzz.sh`) found, one test per
//! bug, named after it.

use ferry_registry::fuzzing::content_range_start;
use http::{HeaderMap, HeaderValue, header};

fn patch_headers(range: &str, length: Option<u64>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_RANGE, HeaderValue::from_str(range).unwrap());
    if let Some(n) = length {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    h
}

/// `fuzz/range`: `Content-Range: 0-18446744073709551615` with a
/// `Content-Length` overflowed `end - start + 1` (a panic in the handler
/// with overflow checks; a wrap to 0 without, which accepted a zero-length
/// body as covering the whole range).
#[test]
fn content_range_spanning_u64_is_refused_not_overflowed() {
    let max = u64::MAX;
    assert!(content_range_start(&patch_headers(&format!("0-{max}"), Some(0)), 0).is_err());
    assert!(content_range_start(&patch_headers(&format!("bytes 0-{max}/*"), Some(7)), 0).is_err());
    // The largest range that can be sent is still checked against its length.
    let end = max - 1;
    assert!(content_range_start(&patch_headers(&format!("0-{end}"), Some(max)), 0).is_ok());
    assert!(content_range_start(&patch_headers(&format!("1-{max}"), Some(max)), 0).is_ok());
    assert_eq!(
        content_range_start(&patch_headers("10-19", Some(10)), 0).unwrap(),
        Some(10)
    );
    assert!(content_range_start(&patch_headers("10-19", Some(11)), 0).is_err());
}
