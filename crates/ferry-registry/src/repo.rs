//! Repository metadata on top of [`Storage`]: which blobs a repository may
//! serve (links), its manifests (revisions, holding the media type), its tags
//! and its referrers. Keys:
//!
//! ```text
//! <name>/_layers/<alg>/<hex>                          blob link (empty)
//! <name>/_manifests/revisions/<alg>/<hex>             manifest media type
//! <name>/_manifests/tags/<tag>                        manifest digest
//! <name>/_referrers/<alg>/<hex>/<alg>-<hex>           referrer descriptor JSON
//! ```

use std::sync::Arc;

use crate::digest::Digest;
use crate::error::Result;
use crate::storage::Storage;

/// Metadata operations on one storage.
#[derive(Debug, Clone)]
pub struct Repos {
    pub storage: Arc<dyn Storage>,
}

fn layer_key(name: &str, d: &Digest) -> String {
    format!("{name}/_layers/{}/{}", d.algorithm().as_str(), d.hex())
}

fn revision_key(name: &str, d: &Digest) -> String {
    format!(
        "{name}/_manifests/revisions/{}/{}",
        d.algorithm().as_str(),
        d.hex()
    )
}

fn tag_key(name: &str, tag: &str) -> String {
    format!("{name}/_manifests/tags/{tag}")
}

fn referrers_dir(name: &str, subject: &Digest) -> String {
    format!(
        "{name}/_referrers/{}/{}",
        subject.algorithm().as_str(),
        subject.hex()
    )
}

fn referrer_key(name: &str, subject: &Digest, d: &Digest) -> String {
    format!(
        "{}/{}-{}",
        referrers_dir(name, subject),
        d.algorithm().as_str(),
        d.hex()
    )
}

impl Repos {
    // === blob links ===

    pub async fn has_blob(&self, name: &str, d: &Digest) -> Result<bool> {
        Ok(self.storage.meta_get(&layer_key(name, d)).await?.is_some())
    }

    pub async fn link_blob(&self, name: &str, d: &Digest) -> Result<()> {
        self.storage.meta_put(&layer_key(name, d), b"").await
    }

    pub async fn unlink_blob(&self, name: &str, d: &Digest) -> Result<bool> {
        self.storage.meta_delete(&layer_key(name, d)).await
    }

    /// Every blob linked into `name`.
    pub async fn blobs(&self, name: &str) -> Result<Vec<Digest>> {
        self.digests_under(&format!("{name}/_layers")).await
    }

    async fn digests_under(&self, prefix: &str) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for alg in self.storage.meta_list(prefix).await? {
            for hex in self.storage.meta_list(&format!("{prefix}/{alg}")).await? {
                if let Some(d) = Digest::from_parts(&alg, &hex) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    // === manifests ===

    /// The media type of manifest `d` in `name`, `None` when not there.
    pub async fn manifest_type(&self, name: &str, d: &Digest) -> Result<Option<String>> {
        Ok(self
            .storage
            .meta_get(&revision_key(name, d))
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    pub async fn put_revision(&self, name: &str, d: &Digest, media_type: &str) -> Result<()> {
        self.storage
            .meta_put(&revision_key(name, d), media_type.as_bytes())
            .await
    }

    pub async fn delete_revision(&self, name: &str, d: &Digest) -> Result<bool> {
        self.storage.meta_delete(&revision_key(name, d)).await
    }

    /// Every manifest stored in `name`.
    pub async fn revisions(&self, name: &str) -> Result<Vec<Digest>> {
        self.digests_under(&format!("{name}/_manifests/revisions"))
            .await
    }

    // === tags ===

    pub async fn tag(&self, name: &str, tag: &str) -> Result<Option<Digest>> {
        Ok(self
            .storage
            .meta_get(&tag_key(name, tag))
            .await?
            .and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok()))
    }

    pub async fn set_tag(&self, name: &str, tag: &str, d: &Digest) -> Result<()> {
        self.storage
            .meta_put(&tag_key(name, tag), d.to_string().as_bytes())
            .await
    }

    pub async fn delete_tag(&self, name: &str, tag: &str) -> Result<bool> {
        self.storage.meta_delete(&tag_key(name, tag)).await
    }

    /// Tags of `name`, sorted.
    pub async fn tags(&self, name: &str) -> Result<Vec<String>> {
        self.storage
            .meta_list(&format!("{name}/_manifests/tags"))
            .await
    }

    /// True when the repository has a manifest area.
    pub async fn exists(&self, name: &str) -> Result<bool> {
        Ok(!self
            .storage
            .meta_list(&format!("{name}/_manifests"))
            .await?
            .is_empty()
            || !self
                .storage
                .meta_list(&format!("{name}/_layers"))
                .await?
                .is_empty())
    }

    // === referrers ===

    pub async fn add_referrer(
        &self,
        name: &str,
        subject: &Digest,
        d: &Digest,
        descriptor: &serde_json::Value,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(descriptor).expect("descriptors serialize");
        self.storage
            .meta_put(&referrer_key(name, subject, d), &bytes)
            .await
    }

    pub async fn remove_referrer(&self, name: &str, subject: &Digest, d: &Digest) -> Result<bool> {
        self.storage
            .meta_delete(&referrer_key(name, subject, d))
            .await
    }

    /// Descriptors of every manifest whose subject is `subject`.
    pub async fn referrers(&self, name: &str, subject: &Digest) -> Result<Vec<serde_json::Value>> {
        let dir = referrers_dir(name, subject);
        let mut out = Vec::new();
        for entry in self.storage.meta_list(&dir).await? {
            if let Some(b) = self.storage.meta_get(&format!("{dir}/{entry}")).await?
                && let Ok(v) = serde_json::from_slice(&b)
            {
                out.push(v);
            }
        }
        Ok(out)
    }
}
