//! Manifest media types and what a manifest references: the blobs (config
//! and layers), the child manifests (of an index) and its `subject`, plus the
//! descriptor it appears as in a referrers list. Pure; no IO.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::error::Error;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest media type the registry stores.
pub const MEDIA_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// Largest manifest accepted (the spec asks for at least 4 MiB).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// What the registry needs to know about a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub media_type: String,
    /// Config and layers that must exist in the repository.
    pub blobs: Vec<Digest>,
    /// Manifests an index lists, which must exist in the repository.
    pub manifests: Vec<Digest>,
    pub subject: Option<Digest>,
    /// `artifactType`, else the config's media type (image manifests).
    pub artifact_type: Option<String>,
    pub annotations: Option<Map<String, Value>>,
}

impl Parsed {
    /// True for an index or manifest list.
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    urls: Option<Vec<String>>,
}

fn digest_of(d: &RawDescriptor, field: &str) -> Result<Digest, Error> {
    d.digest
        .parse()
        .map_err(|_| Error::ManifestInvalid(format!("{field}: invalid digest `{}`", d.digest)))
}

/// Parses a manifest body given the request's `Content-Type`.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Parsed, Error> {
    let raw: Raw = serde_json::from_slice(body)
        .map_err(|e| Error::ManifestInvalid(format!("malformed JSON: {e}")))?;
    if raw.schema_version != Some(2) {
        return Err(Error::ManifestInvalid("schemaVersion must be 2".into()));
    }
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| MEDIA_TYPES.contains(c));
    let media_type = match (header, raw.media_type.as_deref()) {
        (Some(h), Some(b)) if h != b => {
            return Err(Error::ManifestInvalid(format!(
                "mediaType `{b}` does not match Content-Type `{h}`"
            )));
        }
        (Some(h), _) => h.to_string(),
        (None, Some(b)) if MEDIA_TYPES.contains(&b) => b.to_string(),
        (None, Some(b)) => {
            return Err(Error::ManifestInvalid(format!(
                "unsupported manifest media type `{b}`"
            )));
        }
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    let mut parsed = Parsed {
        media_type,
        blobs: Vec::new(),
        manifests: Vec::new(),
        subject: raw
            .subject
            .as_ref()
            .map(|s| digest_of(s, "subject"))
            .transpose()?,
        artifact_type: raw.artifact_type.clone(),
        annotations: raw.annotations,
    };
    if parsed.is_index() {
        for (i, m) in raw.manifests.unwrap_or_default().iter().enumerate() {
            parsed
                .manifests
                .push(digest_of(m, &format!("manifests[{i}]"))?);
        }
    } else {
        let config = raw
            .config
            .ok_or_else(|| Error::ManifestInvalid("missing field `config`".into()))?;
        parsed.blobs.push(digest_of(&config, "config")?);
        if parsed.artifact_type.is_none() {
            parsed.artifact_type = config.media_type.clone();
        }
        for (i, l) in raw.layers.unwrap_or_default().iter().enumerate() {
            let d = digest_of(l, &format!("layers[{i}]"))?;
            // Non-distributable layers live elsewhere (`urls`).
            if l.urls.as_ref().is_none_or(|u| u.is_empty()) {
                parsed.blobs.push(d);
            }
        }
    }
    Ok(parsed)
}

/// The descriptor of a manifest in a referrers index.
pub fn referrer_descriptor(parsed: &Parsed, digest: &Digest, size: u64) -> Value {
    let mut d = serde_json::json!({
        "mediaType": parsed.media_type,
        "digest": digest.to_string(),
        "size": size,
    });
    if let Some(t) = &parsed.artifact_type {
        d["artifactType"] = Value::String(t.clone());
    }
    if let Some(a) = &parsed.annotations {
        d["annotations"] = Value::Object(a.clone());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn image_manifest_lists_config_layers_and_subject() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/x-sig",
            "config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{D}","size":2}},
            "layers":[{{"mediaType":"x","digest":"{D}","size":0}}],
            "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1}}}}"#
        );
        let p = parse(body.as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(p.blobs.len(), 2);
        assert_eq!(p.subject.unwrap().to_string(), D);
        assert_eq!(p.artifact_type.as_deref(), Some("application/x-sig"));
    }

    #[test]
    fn index_lists_children_and_mismatched_type_is_invalid() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{D}","size":1}}]}}"#
        );
        let p = parse(body.as_bytes(), None).unwrap();
        assert!(p.is_index());
        assert_eq!(p.manifests.len(), 1);
        assert!(matches!(
            parse(body.as_bytes(), Some(OCI_MANIFEST)),
            Err(Error::ManifestInvalid(_))
        ));
        assert!(matches!(parse(b"{", None), Err(Error::ManifestInvalid(_))));
        assert!(matches!(
            parse(br#"{"schemaVersion":1}"#, None),
            Err(Error::ManifestInvalid(_))
        ));
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,300}") {
            let _ = parse(s.as_bytes(), Some(OCI_MANIFEST));
        }
    }
}
