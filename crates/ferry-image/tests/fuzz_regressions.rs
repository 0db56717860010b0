//! Inputs the fuzz targets (`fuzz/`, `scripts/fuzz.sh`) found, one test per
//! bug, named after it.

use ferry_image::fuzzing::parse_range_end;

/// `fuzz/range`: a registry answering an upload-status request with
/// `Range: 0-18446744073709551615` overflowed `end + 1` (a panic with
/// overflow checks, offset 0 by wrapping without). An end that cannot be
/// followed by another byte is nonsense: the upload starts over from 0, as
/// for any range that does not parse.
#[test]
fn upload_status_range_ending_at_u64_max_is_not_overflowed() {
    assert_eq!(parse_range_end(&format!("0-{}", u64::MAX)), 0);
    assert_eq!(parse_range_end(&format!("bytes=0-{}", u64::MAX)), 0);
    assert_eq!(parse_range_end(&format!("0-{}", u64::MAX - 1)), u64::MAX);
    assert_eq!(parse_range_end("0-1023"), 1024);
}
