//! Content digests: parsing (`sha256:` and `sha512:`), incremental hashing,
//! and a writer that hashes and counts what passes through it.

use std::io::{self, Write};

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256, Sha512};

use crate::error::{Error, Result};

/// Parses and validates a digest; only sha256 and sha512 are accepted.
pub fn parse(s: &str) -> Result<Digest> {
    let d: Digest = s
        .parse()
        .map_err(|e: oci_spec::OciSpecError| Error::Digest {
            digest: s.to_string(),
            message: e.to_string(),
        })?;
    match s.split_once(':').map(|(a, _)| a) {
        Some("sha256") | Some("sha512") => Ok(d),
        _ => Err(Error::Digest {
            digest: s.to_string(),
            message: "only sha256 and sha512 are supported".into(),
        }),
    }
}

/// The sha256 digest of `bytes`, as `sha256:<hex>`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An incremental hasher for the algorithm of a digest.
#[derive(Debug, Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// A sha256 hasher.
    pub fn sha256() -> Self {
        Hasher::Sha256(Sha256::new())
    }

    /// A hasher for the algorithm `digest` names (sha512, else sha256).
    pub fn for_digest(digest: &str) -> Self {
        if digest.starts_with("sha512:") {
            Hasher::Sha512(Sha512::new())
        } else {
            Self::sha256()
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed, as `algo:<hex>`.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// A writer that hashes (sha256) and counts the bytes written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Hasher::sha256(),
            len: 0,
        }
    }

    /// The inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, self.hasher.finish(), self.len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Checks that `actual` equals `expected`, naming `what` otherwise.
pub fn verify(what: &str, expected: &str, actual: &str) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: expected.into(),
            actual: actual.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_verifies() {
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sha256(b""), empty);
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"{}").unwrap();
        let (buf, d, n) = w.finish();
        assert_eq!((buf.len(), n), (2, 2));
        assert_eq!(
            d,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(verify("x", empty, &d).is_err());
        assert!(parse(empty).is_ok());
        assert!(parse("md5:00").is_err());
        assert!(parse("sha256:xyz").is_err());
    }
}
