//! Image references (`registry/repository[:tag][@digest]`) and how a
//! registry host is reached: plain HTTP for loopback hosts, HTTPS otherwise.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A parsed image reference. Without a registry host, `docker.io` is
/// assumed (as docker does); without tag or digest, `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// `host[:port]` of the registry.
    pub registry: String,
    /// Repository path inside the registry, e.g. `myhero/data`.
    pub repository: String,
    /// Tag, if given (`latest` when neither tag nor digest was).
    pub tag: Option<String>,
    /// Digest, if given; it wins over the tag when both are.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `s`; see the type docs for defaults.
    pub fn parse(s: &str) -> Result<Self> {
        let err = |message: String| Error::Reference {
            reference: s.to_string(),
            message,
        };
        let parsed: oci_spec::distribution::Reference = s
            .parse()
            .map_err(|e: oci_spec::distribution::ParseError| err(e.to_string()))?;
        // oci-spec reads `Upper/name` as `docker.io/Upper/name`, which it
        // then refuses to parse back: repositories are lower case.
        if parsed.repository().bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err(format!(
                "repository `{}` must be lower case",
                parsed.repository()
            )));
        }
        let tag = parsed.tag().map(str::to_string);
        let digest = parsed.digest().map(str::to_string);
        if let Some(d) = &digest {
            crate::digest::parse(d)?;
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Self {
            registry: parsed.registry().to_string(),
            repository: parsed.repository().to_string(),
            tag,
            digest,
        })
    }

    /// A reference in `registry` to `repository` at `reference` (a tag or a
    /// digest).
    pub fn new(registry: &str, repository: &str, reference: &str) -> Self {
        let (tag, digest) = if reference.contains(':') {
            (None, Some(reference.to_string()))
        } else {
            (Some(reference.to_string()), None)
        };
        Self {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        }
    }

    /// What to ask the registry for: the digest if known, else the tag.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The same image pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// The same repository in another registry.
    pub fn with_registry(&self, registry: &str) -> Self {
        Self {
            registry: registry.to_string(),
            ..self.clone()
        }
    }

    /// `scheme://host` of the registry: `http` for loopback hosts
    /// (`127.0.0.0/8`, `localhost`, `[::1]`), else `https`.
    pub fn base_url(&self) -> String {
        registry_base_url(&self.registry)
    }
}

/// `scheme://host` for a registry host; see [`ImageRef::base_url`]. A host
/// already given with a scheme is kept as is.
pub fn registry_base_url(host: &str) -> String {
    if host.starts_with("http://") || host.starts_with("https://") {
        return host.trim_end_matches('/').to_string();
    }
    let scheme = if is_loopback(host) { "http" } else { "https" };
    format!("{scheme}://{host}")
}

fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_registry_with_tag() {
        let r = ImageRef::parse("127.0.0.1:5000/myhero/data:v1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "myhero/data");
        assert_eq!(r.reference(), "v1");
        assert_eq!(r.base_url(), "http://127.0.0.1:5000");
        assert_eq!(r.to_string(), "127.0.0.1:5000/myhero/data:v1");
    }

    #[test]
    fn defaults_to_latest_and_https_elsewhere() {
        let r = ImageRef::parse("registry.example:443/app").unwrap();
        assert_eq!(r.reference(), "latest");
        assert_eq!(r.base_url(), "https://registry.example:443");
        assert_eq!(
            ImageRef::parse("localhost:5000/a").unwrap().base_url(),
            "http://localhost:5000"
        );
    }

    #[test]
    fn digest_wins_and_bad_input_is_named() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("127.0.0.1:1/a:t@{d}")).unwrap();
        assert_eq!(r.reference(), d);
        let e = ImageRef::parse("127.0.0.1:1/UPPER:t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("UPPER"), "{e}");
        assert!(ImageRef::parse("127.0.0.1:1/a@sha256:zz").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in "[a-z0-9./:@_-]{0,80}") {
            if let Ok(r) = ImageRef::parse(&s) {
                let again = ImageRef::parse(&r.to_string()).unwrap();
                proptest::prop_assert_eq!(again, r);
            }
        }
    }
}
