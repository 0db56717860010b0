//! The tag of each pipeline image for one resolved commit: the rule's tag
//! template applied to the commit in which the image's build inputs last
//! changed (see `image_inputs.rs`). Computed on a blocking thread (gix) and
//! cached per (repository, pipeline, commit); a pure function of git, so a
//! restarted process computes the same tags and finds its images built.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_core::app_spec::{Pipeline, PipelineRule};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::image_inputs::Inputs;
use crate::pipeline::expand;

/// One image's tag for a commit, and the commit the tag is named after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageTag {
    pub tag: String,
    pub source: String,
}

/// Image name → its tag.
pub(crate) type ImageTags = BTreeMap<String, ImageTag>;

/// Image name → the commit naming it, per (repository URL, pipeline, commit).
pub(crate) type SourceCache = BTreeMap<(String, String, String), Arc<BTreeMap<String, String>>>;

/// Entries kept before the cache starts over.
const CACHE_LIMIT: usize = 10_000;

impl Engine {
    /// The tag of every image of `p` when `rule` deploys `commit` of `git_ref`.
    pub(crate) async fn image_tags(
        &self,
        p: &Pipeline,
        url: &str,
        rule: &PipelineRule,
        git_ref: &str,
        commit: &str,
    ) -> Result<ImageTags> {
        let sources = self.image_sources(p, url, commit).await?;
        Ok(sources
            .iter()
            .map(|(name, source)| {
                let tag = expand(&rule.image_tag, source, git_ref);
                let source = source.clone();
                (name.clone(), ImageTag { tag, source })
            })
            .collect())
    }

    async fn image_sources(
        &self,
        p: &Pipeline,
        url: &str,
        commit: &str,
    ) -> Result<Arc<BTreeMap<String, String>>> {
        let key = (url.to_string(), p.metadata.name.clone(), commit.to_string());
        if let Some(hit) = self.lock().sources.get(&key) {
            return Ok(hit.clone());
        }
        let inputs: Vec<Inputs> = p.spec.images.iter().map(Inputs::of).collect();
        let (cache, u, c) = (
            self.inner.cache.clone(),
            url.to_string(),
            commit.to_string(),
        );
        let found = tokio::task::spawn_blocking(move || cache.source_commits(&u, &c, &inputs))
            .await
            .map_err(|e| Error::task("image inputs", e))??;
        let map: BTreeMap<String, String> = p
            .spec
            .images
            .iter()
            .map(|i| i.name.clone())
            .zip(found)
            .collect();
        for (name, source) in &map {
            if source != commit {
                tracing::debug!(pipeline = %p.metadata.name, image = %name, commit = %&commit[..7.min(commit.len())], since = %&source[..7.min(source.len())], "image inputs unchanged");
            }
        }
        let map = Arc::new(map);
        let mut st = self.lock();
        if st.sources.len() >= CACHE_LIMIT {
            st.sources.clear();
        }
        st.sources.insert(key, map.clone());
        Ok(map)
    }
}
