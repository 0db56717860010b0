//! The grammar of repository names and tags, and the parsing of every path
//! under `/v2/` into a [`Route`]. One catch-all route hands the rest of the
//! path here because repository names contain `/`.

use crate::digest::Digest;
use crate::error::Error;

/// Longest repository name accepted.
pub const MAX_NAME: usize = 255;

/// Checks a repository name against the spec's grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::NameInvalid(format!("`{name}`: {why}"));
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(bad("must be 1 to 255 characters"));
    }
    for component in name.split('/') {
        validate_component(component, &bad)?;
    }
    Ok(())
}

/// One `/`-separated component; `bad` turns a reason into the name's error.
fn validate_component(c: &str, bad: &dyn Fn(&str) -> Error) -> Result<(), Error> {
    let b = c.as_bytes();
    if b.is_empty() {
        return Err(bad("empty path component"));
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(bad(&format!(
            "component `{c}` must start and end with [a-z0-9]"
        )));
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or one or more `-`.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err(bad(&format!(
                "component `{c}` has invalid separator `{sep}`"
            )));
        }
    }
    Ok(())
}

/// Checks a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), Error> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|x| x.is_ascii_alphanumeric() || b"._-".contains(x));
    if ok {
        Ok(())
    } else {
        Err(Error::TagInvalid(format!(
            "`{tag}` does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
        )))
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// Parses a reference: anything with `:` is a digest.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            validate_tag(s)
                .map_err(|_| Error::ManifestInvalid(format!("invalid reference `{s}`")))?;
            Ok(Reference::Tag(s.to_string()))
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// What a path under `/v2/` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags { name: String },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: String, reference: String },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/`
    UploadStart { name: String },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { name: String, id: String },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { name: String, digest: String },
}

impl Route {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Base => "base",
            Route::Catalog => "catalog",
            Route::Tags { .. } => "tags",
            Route::Manifest { .. } => "manifest",
            Route::Blob { .. } => "blob",
            Route::UploadStart { .. } | Route::Upload { .. } => "upload",
            Route::Referrers { .. } => "referrers",
        }
    }

    /// The repository the route concerns, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Route::Base | Route::Catalog => None,
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Referrers { name, .. } => Some(name),
        }
    }
}

/// Parses the part of the path after `/v2/`. `None` is an unknown path;
/// a known shape with a bad repository name is `NAME_INVALID`.
pub fn parse_route(rest: &str) -> Result<Option<Route>, Error> {
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return Ok(Some(Route::Base));
    }
    if rest == "_catalog" {
        return Ok(Some(Route::Catalog));
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name_of = |upto: usize| -> Result<String, Error> {
        let name = segs[..upto].join("/");
        validate_name(&name)?;
        Ok(name)
    };
    let route = if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        Route::Tags {
            name: name_of(n - 2)?,
        }
    } else if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let name = name_of(n - 3)?;
        if segs[n - 1].is_empty() {
            Route::UploadStart { name }
        } else {
            Route::Upload {
                name,
                id: segs[n - 1].to_string(),
            }
        }
    } else if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        Route::UploadStart {
            name: name_of(n - 2)?,
        }
    } else if n >= 3 && segs[n - 2] == "manifests" {
        Route::Manifest {
            name: name_of(n - 2)?,
            reference: segs[n - 1].to_string(),
        }
    } else if n >= 3 && segs[n - 2] == "blobs" {
        Route::Blob {
            name: name_of(n - 2)?,
            digest: segs[n - 1].to_string(),
        }
    } else if n >= 3 && segs[n - 2] == "referrers" {
        Route::Referrers {
            name: name_of(n - 2)?,
            digest: segs[n - 1].to_string(),
        }
    } else {
        return Ok(None);
    };
    Ok(Some(route))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_follow_the_grammar() {
        for ok in ["a", "myhero/data", "a.b/c_d/e__f/g--h", "0/1"] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "A",
            "a//b",
            "-a",
            "a-",
            "a___b",
            "a._b",
            "/a",
            "a/",
            &"a".repeat(256),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_follow_the_grammar() {
        validate_tag("v1.0_rc-1").unwrap();
        validate_tag("_x").unwrap();
        assert!(validate_tag(".x").is_err());
        assert!(validate_tag(&"a".repeat(129)).is_err());
    }

    #[test]
    fn routes_parse_names_with_slashes() {
        assert_eq!(parse_route("").unwrap(), Some(Route::Base));
        assert_eq!(
            parse_route("a/b/manifests/latest").unwrap(),
            Some(Route::Manifest {
                name: "a/b".into(),
                reference: "latest".into()
            })
        );
        assert_eq!(
            parse_route("a/blobs/uploads/").unwrap(),
            Some(Route::UploadStart { name: "a".into() })
        );
        assert_eq!(
            parse_route("a/blobs/uploads").unwrap(),
            Some(Route::UploadStart { name: "a".into() })
        );
        assert_eq!(
            parse_route("x/blobs/uploads/123").unwrap(),
            Some(Route::Upload {
                name: "x".into(),
                id: "123".into()
            })
        );
        assert_eq!(
            parse_route("tags/tags/list").unwrap(),
            Some(Route::Tags {
                name: "tags".into()
            })
        );
        assert!(matches!(
            parse_route("Bad/manifests/x"),
            Err(Error::NameInvalid(_))
        ));
        assert_eq!(parse_route("nothing").unwrap(), None);
    }

    proptest! {
        #[test]
        fn route_parser_never_panics(s in "[a-z/._:-]{0,80}") {
            let _ = parse_route(&s);
        }
    }
}
