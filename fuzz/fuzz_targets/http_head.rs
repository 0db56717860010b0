//! The gateway's HTTP/1.1 parsers, which read bytes from clients and
//! backends: the request head (`parse_request`), the response head
//! (`parse_response`, for a method the input picks) and the chunked body
//! decoder. The first byte picks the parser, the second where the input is
//! cut. Properties: a head that parses from the whole input is `Partial`
//! from every shorter prefix and consumes exactly its own bytes; a request
//! never carries both framings, an HTTP/1.1 request has exactly one Host;
//! a response to HEAD, or with status 1xx/204/304, has no body; chunked
//! decoding gives the same bytes and the same ending whether the input
//! arrives at once or cut in two.

#![no_main]

use bytes::BytesMut;
use ferry_gateway::proxy::fuzzing::{
    Chunked, Parsed, RequestFraming, ResponseFraming, Step, parse_request, parse_response,
};
use http::{Method, Version, header};
use libfuzzer_sys::fuzz_target;

fn request(input: &[u8], cut: usize) {
    let mut buf = BytesMut::from(input);
    let Ok(Some(head)) = parse_request(&mut buf) else {
        return;
    };
    let used = input.len() - buf.len();
    assert_eq!(&input[used..], &buf[..], "consumed more than the head");
    let cut = 1 + cut % used;
    if cut < used {
        let mut prefix = BytesMut::from(&input[..cut]);
        let r = parse_request(&mut prefix);
        assert!(
            matches!(r, Ok(None)),
            "a prefix of {cut} of a {used}-byte head gave {r:?}"
        );
    }
    if let RequestFraming::Length(n) = head.framing {
        assert!(n > 0);
        assert!(!head.headers.contains_key(header::TRANSFER_ENCODING));
    }
    if head.framing == RequestFraming::Chunked {
        assert!(!head.headers.contains_key(header::CONTENT_LENGTH));
        assert_eq!(head.version, Version::HTTP_11);
    }
    if head.version == Version::HTTP_11 {
        assert_eq!(
            head.headers.get_all(header::HOST).iter().count(),
            1,
            "Host count"
        );
    }
}

fn response(input: &[u8], method: &Method, cut: usize) {
    let mut buf = BytesMut::from(input);
    let Ok(parsed) = parse_response(&mut buf, method) else {
        return;
    };
    let used = input.len() - buf.len();
    match parsed {
        Parsed::Partial => assert_eq!(used, 0, "a partial head consumed bytes"),
        Parsed::Interim => assert!(used > 0),
        Parsed::Head(head) => {
            let s = head.status.as_u16();
            if method == Method::HEAD || s < 200 || s == 204 || s == 304 {
                assert_eq!(
                    head.framing,
                    ResponseFraming::Empty,
                    "{method} {s} has a body"
                );
            }
            if head.framing == ResponseFraming::Eof {
                assert!(!head.keep_alive);
            }
        }
    }
    if used > 1 {
        let cut = 1 + cut % (used - 1);
        let mut prefix = BytesMut::from(&input[..cut]);
        let r = parse_response(&mut prefix, method);
        assert!(
            matches!(r, Ok(Parsed::Partial)),
            "a prefix of {cut} of a {used}-byte head gave {r:?}"
        );
    }
}

/// Decodes `pieces` fed one after another: the body bytes, and `Some(rest)`
/// (what followed the body) once done, `None` if it needs more; `Err` when
/// refused.
fn chunked(pieces: &[&[u8]]) -> Result<(Vec<u8>, Option<Vec<u8>>), ()> {
    let mut dec = Chunked::default();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        buf.extend_from_slice(piece);
        loop {
            match dec.step(&mut buf).map_err(|_| ())? {
                Step::Data(d) => {
                    assert!(!d.is_empty(), "empty data step");
                    body.extend_from_slice(&d);
                }
                Step::NeedMore => break,
                Step::Done => {
                    let mut rest = buf.to_vec();
                    pieces[i + 1..]
                        .iter()
                        .for_each(|p| rest.extend_from_slice(p));
                    return Ok((body, Some(rest)));
                }
            }
        }
    }
    Ok((body, None))
}

fuzz_target!(|data: &[u8]| {
    let [which, cut, input @ ..] = data else {
        return;
    };
    let cut = usize::from(*cut);
    match which % 3 {
        0 => request(input, cut),
        1 => {
            let methods = [Method::GET, Method::HEAD, Method::POST, Method::CONNECT];
            response(input, &methods[cut % methods.len()], cut / methods.len());
        }
        _ => {
            let at = cut.min(input.len());
            let (a, b) = input.split_at(at);
            let whole = chunked(&[input]);
            let split = chunked(&[a, b]);
            match (&whole, &split) {
                // Data handed on before an error may differ; the error may not.
                (Err(()), Err(())) => {}
                _ => assert_eq!(whole, split, "cut at {at} changes the decoding"),
            }
        }
    }
});
