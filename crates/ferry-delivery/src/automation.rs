//! Image automation (Flux's ImagePolicy): an application's `imagePolicies`
//! name an image and the tags to follow — a semantic-version range (the
//! highest version inside it wins) or a regular expression (the
//! alphabetically highest match wins, Flux's `alphabetical` order). For each
//! environment the engine lists the image's tags in that region's own
//! registry and deploys the winner, so a push of a matching tag updates the
//! environment without a commit. Tag lists are cached briefly and dropped on
//! every registry event.

use std::time::{Duration, Instant};

use ferry_core::app_spec::{ImageOverride, ImagePolicy};

use crate::engine::Engine;

/// How long a tag list is reused without a registry event.
const TAGS_TTL: Duration = Duration::from_secs(10);

/// The tag `policy` picks among `tags`, if any matches.
pub fn pick(policy: &ImagePolicy, tags: &[String]) -> Option<String> {
    if let Some(range) = &policy.semver {
        let req = semver::VersionReq::parse(range).ok()?;
        return tags
            .iter()
            .filter_map(|t| {
                let v = semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()?;
                req.matches(&v).then_some((v, t))
            })
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, t)| t.clone());
    }
    let re = regex::Regex::new(policy.regex.as_deref()?).ok()?;
    tags.iter().filter(|t| re.is_match(t)).max().cloned()
}

impl Engine {
    /// Forgets listed tags (registry events do this).
    pub fn clear_tag_cache(&self) {
        self.lock().tags.clear();
    }

    /// Overrides for every policy of `policies` that picks a tag in the
    /// registry at `registry`; errors listing tags are logged and the
    /// policy skipped (what is deployed stays).
    pub(crate) async fn policy_overrides(
        &self,
        policies: &[ImagePolicy],
        registry: &str,
    ) -> Vec<ImageOverride> {
        let mut out = Vec::new();
        for p in policies {
            let Some(tags) = self.tags(registry, &p.image).await else {
                continue;
            };
            if let Some(tag) = pick(p, &tags) {
                out.push(ImageOverride {
                    name: p.image.clone(),
                    new_name: Some(format!("{registry}/{}", p.image)),
                    new_tag: Some(tag),
                });
            }
        }
        out
    }

    async fn tags(&self, registry: &str, image: &str) -> Option<Vec<String>> {
        let key = (registry.to_string(), image.to_string());
        if let Some((at, tags)) = self.lock().tags.get(&key)
            && at.elapsed() < TAGS_TTL
        {
            return Some(tags.clone());
        }
        match self.inner.images.tags(registry, image).await {
            Ok(tags) => {
                self.lock().tags.insert(key, (Instant::now(), tags.clone()));
                Some(tags)
            }
            Err(e) => {
                let error = crate::error::report(&e);
                tracing::warn!(%registry, %image, %error, "cannot list tags for an image policy");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(semver: Option<&str>, regex: Option<&str>) -> ImagePolicy {
        ImagePolicy {
            image: "myhero/ui".into(),
            semver: semver.map(str::to_string),
            regex: regex.map(str::to_string),
        }
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn semver_range_picks_the_highest_inside() {
        let t = tags(&["1.0.0", "v1.10.0", "1.2.0", "2.0.0", "latest", "1.9.9-rc.1"]);
        assert_eq!(
            pick(&policy(Some(">=1.0, <2"), None), &t).as_deref(),
            Some("v1.10.0")
        );
        assert_eq!(pick(&policy(Some(">=3"), None), &t), None);
    }

    #[test]
    fn regex_picks_the_alphabetically_highest_match() {
        let t = tags(&["main-20261101", "main-20261120", "dev-20261130", "main-x"]);
        let p = policy(None, Some("^main-[0-9]+$"));
        assert_eq!(pick(&p, &t).as_deref(), Some("main-20261120"));
    }
}
