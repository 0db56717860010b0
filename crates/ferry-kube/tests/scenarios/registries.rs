//! The regions' registries, stood in for by a set of (registry, image, tag)
//! the scenarios "push" (a build in uk) and "replicate" (a copy into
//! shanghai) into: the engine asks it, through `ImageCheck`, whether an
//! image is in a region's registry before deploying it there.

use std::collections::BTreeSet;
use std::sync::Mutex;

use ferry_delivery::images::ImageCheck;
use ferry_delivery::target::BoxFuture;

/// Every (registry, image, tag) pushed so far.
#[derive(Debug, Default)]
pub struct Registries(Mutex<BTreeSet<(String, String, String)>>);

impl Registries {
    /// `registry/name:tag` is now present.
    pub fn push(&self, registry: &str, name: &str, tag: &str) {
        self.0
            .lock()
            .unwrap()
            .insert((registry.into(), name.into(), tag.into()));
    }
}

impl ImageCheck for Registries {
    fn present<'a>(
        &'a self,
        registry: &'a str,
        name: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, ferry_delivery::Result<bool>> {
        let found = self.0.lock().unwrap().contains(&(
            registry.to_string(),
            name.to_string(),
            tag.to_string(),
        ));
        Box::pin(async move { Ok(found) })
    }

    fn tags<'a>(
        &'a self,
        registry: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, ferry_delivery::Result<Vec<String>>> {
        let tags = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, n, _)| r == registry && n == name)
            .map(|(_, _, t)| t.clone())
            .collect();
        Box::pin(async move { Ok(tags) })
    }
}
