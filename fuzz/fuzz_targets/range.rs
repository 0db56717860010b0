//! `Range` and `Content-Range` as the registry reads them from clients
//! (blob `GET` ranges; upload `PATCH` offsets, with and without a
//! `Content-Length`) and as the client reads a registry's upload status
//! (`Range: 0-<end>`). The input is a blob size (8 bytes), a selector and
//! the header text. Properties: an accepted range has `start <= end <
//! size`; a range is ignored (whole blob) only when it is not a single
//! `bytes=` range; an accepted `Content-Range` agrees with its
//! `Content-Length`; the client's offset is one past the end it was told
//! (or 0, starting over, when it cannot be).

#![no_main]

use ferry_registry::fuzzing::{content_range_start, parse_range};
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((size, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let size = u64::from_le_bytes(*size);
    let Some((&selector, text)) = rest.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };

    match parse_range(text, size) {
        Ok(Some((start, end))) => {
            assert!(
                start <= end,
                "{text:?} of {size}: start {start} > end {end}"
            );
            assert!(end < size, "{text:?} of {size}: end {end} past the blob");
        }
        Ok(None) => {
            assert!(
                !text.trim().starts_with("bytes=") || text.contains(','),
                "{text:?} ignored"
            );
        }
        Err(_) => {}
    }

    if let Ok(value) = HeaderValue::from_str(text) {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_RANGE, value);
        let length = u64::from(selector) * u64::from(selector % 7);
        if selector % 2 == 1 {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        if let Ok(Some(start)) = content_range_start(&headers, size) {
            let spec = text.trim();
            let spec = spec.strip_prefix("bytes ").unwrap_or(spec);
            let (a, b) = spec
                .split('/')
                .next()
                .unwrap_or("")
                .split_once('-')
                .expect("a dash");
            assert_eq!(a.trim().parse::<u64>().ok(), Some(start));
            let end: u64 = b.trim().parse().expect("an end");
            assert!(start <= end);
            if selector % 2 == 1 {
                assert_eq!(
                    u128::from(end - start) + 1,
                    u128::from(length),
                    "length disagrees"
                );
            }
        }
    }

    // An end no byte can follow (u64::MAX) starts over from 0.
    let offset = ferry_image::fuzzing::parse_range_end(text);
    if let Some(end) = text
        .trim()
        .trim_start_matches("bytes=")
        .split_once('-')
        .and_then(|(_, e)| e.parse::<u64>().ok())
        && end > 0
        && end < u64::MAX
    {
        assert_eq!(
            u128::from(offset),
            u128::from(end) + 1,
            "{text:?}: offset {offset}"
        );
    }
});
