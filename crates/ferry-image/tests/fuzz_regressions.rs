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

/// `fuzz/oci_manifest`: `12C500herO/ui:v1` parsed (as
/// `docker.io/12C500herO/ui:v1`, an upper-case repository) although that
/// printed form does not parse: a reference ferry accepted could not be
/// read back. Repository names are lower case (OCI distribution spec), so
/// it is refused; every accepted reference re-parses from its printed form.
#[test]
fn image_reference_with_upper_case_repository_is_refused() {
    use ferry_image::ImageRef;
    for bad in [
        "12C500herO/ui:v1",
        "docker.io/Library/busybox",
        "127.0.0.1:5000/MyHero/ui:v1",
    ] {
        assert!(ImageRef::parse(bad).is_err(), "{bad} was accepted");
    }
    for good in [
        "myhero/ui:v1",
        "127.0.0.1:5000/myhero/ui:v1",
        "Registry.Example:5000/a/b:Tag",
    ] {
        let r = ImageRef::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r, "{good}");
    }
}
