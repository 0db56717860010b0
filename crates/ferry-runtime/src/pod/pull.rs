//! A pod's images: every container's, pulled (or found) before any
//! container starts, retried with back-off (ErrImagePull, then
//! ImagePullBackOff) and reported in the containers' status.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;

use super::container::{self, set_status, waiting};
use crate::images::{PullPolicy, Unpacked};
use crate::runtime::Inner;

/// Gets every container's image, retrying with back-off (ImagePullBackOff).
pub(super) async fn pull_all(
    inner: &Inner,
    ns: &str,
    name: &str,
    rt: &container::Rt,
    inits: &[Container],
    apps: &[Container],
) -> Option<BTreeMap<String, Unpacked>> {
    let mut out = BTreeMap::new();
    for (init, c) in inits
        .iter()
        .map(|c| (true, c))
        .chain(apps.iter().map(|c| (false, c)))
    {
        let u = pull_one(inner, ns, name, rt, init, c).await;
        out.insert(c.name.clone(), u);
    }
    Some(out)
}

/// Gets the image of container `c` (an init container when `init`),
/// retrying with back-off until it succeeds.
async fn pull_one(
    inner: &Inner,
    ns: &str,
    name: &str,
    rt: &container::Rt,
    init: bool,
    c: &Container,
) -> Unpacked {
    let image = c.image.clone().unwrap_or_default();
    let policy = PullPolicy::resolve(c.image_pull_policy.as_deref(), &image);
    let mut attempt = 0u32;
    loop {
        set_status(rt, init, &c.name, |s| {
            s.image = image.clone();
            if s.state.is_none() {
                s.state = Some(waiting("ContainerCreating", ""));
            }
        });
        match inner.images.get(&image, policy).await {
            Ok(u) => {
                set_status(rt, init, &c.name, |s| s.image_id = u.id.clone());
                return u;
            }
            Err(why) => {
                attempt += 1;
                let reason = if attempt == 1 {
                    "ErrImagePull"
                } else {
                    "ImagePullBackOff"
                };
                inner.event(
                    "Pod",
                    ns,
                    name,
                    true,
                    "Failed",
                    format!("failed to pull image \"{image}\": {why}"),
                );
                set_status(rt, init, &c.name, |s| {
                    s.state = Some(waiting(reason, why.to_string()))
                });
                let delay =
                    container::backoff(inner.cfg.backoff_base, inner.cfg.backoff_max, attempt + 1);
                tokio::time::sleep(delay).await;
            }
        }
    }
}
