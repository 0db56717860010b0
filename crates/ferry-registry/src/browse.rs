//! Read-only browsing of the registry's contents for ferry's web UI:
//! repositories, one page of a repository's tags with each tag's digest,
//! media type, sizes and referrers. A page reads only its own tags'
//! manifests, so a repository of 10,000 tags costs one listing of names
//! plus `per_page` manifest reads.

use serde_json::Value;

use crate::Registry;
use crate::digest::Digest;
use crate::error::Result;
use crate::manifest::MAX_MANIFEST;

/// An artifact whose subject is a tag's manifest (a signature, an SBOM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub digest: String,
    /// Its `artifactType` (empty when it has none).
    pub artifact_type: String,
    pub size: u64,
}

/// One tag of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    pub tag: String,
    /// The manifest's digest (empty when the tag points at nothing readable).
    pub digest: String,
    pub media_type: String,
    /// The manifest's own size in bytes.
    pub manifest_size: u64,
    /// What it references, in bytes: config and layers of an image, the
    /// manifests an index lists (their own sizes).
    pub content_size: u64,
    /// Platforms of an index (`linux/amd64`), empty for an image.
    pub platforms: Vec<String>,
    pub referrers: Vec<Referrer>,
}

/// One page of a repository's tags (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPage {
    /// Tags in the repository.
    pub total: usize,
    pub tags: Vec<TagInfo>,
}

fn size_of(d: &Value) -> u64 {
    d.get("size").and_then(Value::as_u64).unwrap_or(0)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Sizes, media type and platforms from a manifest's JSON.
fn describe(info: &mut TagInfo, manifest: &Value) {
    if info.media_type.is_empty() {
        info.media_type = str_of(manifest, "mediaType").to_string();
    }
    let listed = |key: &str| {
        manifest
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.as_slice())
            .unwrap_or_default()
    };
    let config = manifest.get("config").map_or(0, size_of);
    info.content_size = config
        + listed("layers").iter().map(size_of).sum::<u64>()
        + listed("manifests").iter().map(size_of).sum::<u64>();
    info.platforms = listed("manifests")
        .iter()
        .filter_map(|m| m.get("platform"))
        .map(|p| format!("{}/{}", str_of(p, "os"), str_of(p, "architecture")))
        .collect();
}

impl Registry {
    /// Every repository, sorted.
    pub async fn repositories(&self) -> Result<Vec<String>> {
        let mut all = self.inner.repos.storage.repositories().await?;
        all.sort();
        Ok(all)
    }

    /// Tags `skip..skip + n` of repository `name` (sorted), described.
    pub async fn tag_page(&self, name: &str, skip: usize, n: usize) -> Result<TagPage> {
        let mut all = self.inner.repos.tags(name).await?;
        all.sort();
        let total = all.len();
        let mut tags = Vec::with_capacity(n.min(total));
        for tag in all.into_iter().skip(skip).take(n) {
            tags.push(self.describe_tag(name, tag).await?);
        }
        Ok(TagPage { total, tags })
    }

    async fn describe_tag(&self, name: &str, tag: String) -> Result<TagInfo> {
        let repos = &self.inner.repos;
        let mut info = TagInfo {
            tag,
            digest: String::new(),
            media_type: String::new(),
            manifest_size: 0,
            content_size: 0,
            platforms: vec![],
            referrers: vec![],
        };
        let Some(digest) = repos.tag(name, &info.tag).await? else {
            return Ok(info);
        };
        info.digest = digest.to_string();
        info.media_type = repos
            .manifest_type(name, &digest)
            .await?
            .unwrap_or_default();
        if let Some(body) = repos.storage.blob_read(&digest, MAX_MANIFEST).await? {
            info.manifest_size = body.len() as u64;
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                describe(&mut info, &v);
            }
        }
        info.referrers = self.referrers_of(name, &digest).await?;
        Ok(info)
    }

    /// What refers to manifest `subject` of `name`.
    pub async fn referrers_of(&self, name: &str, subject: &Digest) -> Result<Vec<Referrer>> {
        let mut out: Vec<Referrer> = self
            .inner
            .repos
            .referrers(name, subject)
            .await?
            .iter()
            .map(|d| Referrer {
                digest: str_of(d, "digest").to_string(),
                artifact_type: str_of(d, "artifactType").to_string(),
                size: size_of(d),
            })
            .collect();
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn blank() -> TagInfo {
        TagInfo {
            tag: "t".into(),
            digest: String::new(),
            media_type: String::new(),
            manifest_size: 0,
            content_size: 0,
            platforms: vec![],
            referrers: vec![],
        }
    }

    #[test]
    fn an_images_size_is_its_config_and_layers() {
        let mut info = blank();
        let m = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"size": 100}, "layers": [{"size": 1000}, {"size": 24}]});
        describe(&mut info, &m);
        assert_eq!(info.content_size, 1124);
        assert_eq!(
            info.media_type,
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert!(info.platforms.is_empty());
    }

    #[test]
    fn an_index_lists_its_platforms() {
        let mut info = blank();
        info.media_type = "application/vnd.oci.image.index.v1+json".into();
        let m = json!({"manifests": [
            {"size": 500, "platform": {"os": "linux", "architecture": "amd64"}},
            {"size": 501, "platform": {"os": "linux", "architecture": "arm64"}}]});
        describe(&mut info, &m);
        assert_eq!(info.content_size, 1001);
        assert_eq!(info.platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(info.media_type, "application/vnd.oci.image.index.v1+json");
    }
}
