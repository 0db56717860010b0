//! Hand-read HTTP/1.1 framing over a raw TCP stream, for tests that must
//! see exact bytes: message heads, bodies framed by chunked encoding,
//! Content-Length or the end of the stream, and whether the peer closed.
//! Every read gives up after 10 s of silence, so a stuck exchange fails its
//! test instead of hanging it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one read may wait for bytes.
const SILENCE: Duration = Duration::from_secs(10);

/// A byte stream and the bytes read from it but not yet consumed.
pub struct Wire {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

/// Header fields in order, names lowercased.
pub type Headers = Vec<(String, String)>;

/// Every value of header `name` (lowercase), in order.
pub fn all<'a>(h: &'a Headers, name: &str) -> Vec<&'a str> {
    h.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The first value of header `name` (lowercase).
pub fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.iter().find_map(|(k, v)| (k == name).then_some(&**v))
}

/// What one read brought.
enum Read {
    More,
    /// End of stream, or a reset.
    End,
    Silent,
}

impl Wire {
    pub async fn connect(addr: SocketAddr) -> Wire {
        let s = TcpStream::connect(addr).await.unwrap();
        Wire { s, buf: vec![] }
    }

    async fn read(&mut self) -> Read {
        self.buf.reserve(16 * 1024);
        match tokio::time::timeout(SILENCE, self.s.read_buf(&mut self.buf)).await {
            Ok(Ok(0) | Err(_)) => Read::End,
            Ok(Ok(_)) => Read::More,
            Err(_) => Read::Silent,
        }
    }

    /// Reads more bytes; false at EOF, on a reset, or after 10 s of silence.
    pub async fn fill(&mut self) -> bool {
        matches!(self.read().await, Read::More)
    }

    /// Whether bytes are buffered or come (true) or the stream ends
    /// (false); panics if the peer stays open and silent for 10 s.
    pub async fn more(&mut self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        match self.read().await {
            Read::More => true,
            Read::End => false,
            Read::Silent => panic!("neither more bytes nor the end in 10 s"),
        }
    }

    /// Everything up to the end of the stream (a reset counts as the end);
    /// None if the peer stayed open and silent for 10 s.
    pub async fn rest(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.read().await {
                Read::More => {}
                Read::End => return Some(std::mem::take(&mut self.buf)),
                Read::Silent => return None,
            }
        }
    }

    /// Waits until `split` finds (length to return, length to consume).
    pub async fn take(
        &mut self,
        split: impl Fn(&[u8]) -> Option<(usize, usize)>,
    ) -> Option<Vec<u8>> {
        loop {
            if let Some((len, used)) = split(&self.buf) {
                let out = self.buf[..len].to_vec();
                self.buf.drain(..used);
                return Some(out);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    pub async fn until(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        let at = |b: &[u8]| b.windows(delim.len()).position(|w| w == delim);
        self.take(|b| at(b).map(|i| (i, i + delim.len()))).await
    }

    pub async fn exact(&mut self, n: usize) -> Option<Vec<u8>> {
        self.take(|b| (b.len() >= n).then_some((n, n))).await
    }

    /// A message head: the start line and lowercased header names. Bytes
    /// are read as Latin-1, so obs-text (0x80-0xFF) survives one to one.
    pub async fn head(&mut self) -> Option<(String, Headers)> {
        let bytes = self.until(b"\r\n\r\n").await?;
        let text: String = bytes.into_iter().map(char::from).collect();
        let mut lines = text.split("\r\n");
        let start = lines.next()?.to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some((start, headers))
    }

    /// A body framed by chunked encoding or Content-Length (else empty).
    pub async fn body(&mut self, headers: &Headers) -> Option<Vec<u8>> {
        if header(headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let line = String::from_utf8(self.until(b"\r\n").await?).unwrap();
                let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).unwrap();
                if size == 0 {
                    while !self.until(b"\r\n").await?.is_empty() {} // trailers
                    return Some(body);
                }
                body.extend(self.exact(size + 2).await?.drain(..size));
            }
        }
        let length = header(headers, "content-length").map(|n| n.parse().unwrap());
        self.exact(length.unwrap_or(0)).await
    }

    /// Reads the response to a `method` request: (status, headers, body).
    /// Interim (1xx) responses come back on their own, without a body.
    pub async fn response(&mut self, method: &str) -> (u16, Headers, Vec<u8>) {
        let (start, headers) = self.head().await.expect("response head");
        let status: u16 = start[9..12].parse().unwrap();
        let mut body = vec![];
        if method != "HEAD" && !matches!(status, 100..=199 | 204 | 304) {
            body = self.body(&headers).await.expect("response body");
        }
        (status, headers, body)
    }

    /// Sends `method path` to `raw.test` and reads the response.
    pub async fn fetch(&mut self, method: &str, path: &str) -> (u16, Headers, Vec<u8>) {
        let req = format!("{method} {path} HTTP/1.1\r\nHost: raw.test\r\n\r\n");
        self.s.write_all(req.as_bytes()).await.unwrap();
        self.response(method).await
    }
}
