//! Entry points for the fuzz targets (`fuzz/` at the repository root): the
//! proxy's pure HTTP/1 parsers, otherwise private. Not a stable API.

pub use super::downstream::request::{
    Framing as RequestFraming, RequestHead, parse as parse_request,
};
pub use super::h1::codec::{Chunked, Framing as ResponseFraming, Parsed, Step, parse_response};
