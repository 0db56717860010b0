//! Which resource serves each kind, and whether it is namespaced: asked of
//! the API server one group at a time (kube-rs `oneshot` discovery) and
//! cached. A kind the cache does not know is discovered again before it is
//! reported unknown, and applying a CustomResourceDefinition forgets its
//! group, so new and changed CRDs resolve without a restart.

use ferry_core::sync::MutexExt;
use std::collections::HashMap;
use std::sync::Mutex;

use ferry_core::objects::GroupKind;
use kube::Client;
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiResource, Scope};

use crate::error::{Error, Result};

/// A kind as served: its resource and scope.
#[derive(Debug, Clone)]
pub struct Served {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// Cached discovery for one cluster.
#[derive(Debug, Default)]
pub struct Discovery {
    by_gvk: Mutex<HashMap<(String, String), Served>>,
    by_gk: Mutex<HashMap<GroupKind, Served>>,
    /// Whether each kind resolved so far is namespaced.
    scopes: Mutex<HashMap<GroupKind, bool>>,
}

fn served((resource, caps): (ApiResource, discovery::ApiCapabilities)) -> Served {
    Served {
        resource,
        namespaced: caps.scope == Scope::Namespaced,
    }
}

impl Discovery {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The resource of `kind` in `api_version` (`apps/v1`), discovering its
    /// group-version on a miss. `object` names the object for the error.
    pub async fn resolve(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
        object: &str,
    ) -> Result<Served> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(s) = self.by_gvk.lock_or_recover().get(&key) {
            return Ok(s.clone());
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        match discovery::pinned_kind(client, &gvk).await {
            Ok(found) => {
                let s = served(found);
                self.by_gvk.lock_or_recover().insert(key, s.clone());
                self.scopes
                    .lock_or_recover()
                    .insert(GroupKind::new(group, kind), s.namespaced);
                Ok(s)
            }
            Err(e) if not_served(&e) => Err(Error::UnknownKind {
                object: object.to_string(),
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            }),
            Err(e) => Err(Error::api(format!("discovery of {api_version} {kind}"), e)),
        }
    }

    /// The preferred resource of a group-kind (for kinds read back from an
    /// ApplySet annotation, which carry no version). `None`: not served.
    pub async fn resolve_kind(&self, client: &Client, gk: &GroupKind) -> Result<Option<Served>> {
        if let Some(s) = self.by_gk.lock_or_recover().get(gk) {
            return Ok(Some(s.clone()));
        }
        let group = if gk.group.is_empty() {
            discovery::oneshot::pinned_group(client, &kube::core::GroupVersion::gv("", "v1")).await
        } else {
            discovery::group(client, &gk.group).await
        };
        let group = match group {
            Ok(g) => g,
            Err(e) if not_served(&e) => return Ok(None),
            Err(e) => return Err(Error::api(format!("discovery of group `{}`", gk.group), e)),
        };
        let Some(found) = group.recommended_kind(&gk.kind) else {
            return Ok(None);
        };
        let s = served(found);
        self.by_gk.lock_or_recover().insert(gk.clone(), s.clone());
        self.scopes
            .lock_or_recover()
            .insert(gk.clone(), s.namespaced);
        Ok(Some(s))
    }

    /// Whether `gk` is namespaced, if it was resolved already (no request).
    pub fn namespaced(&self, gk: &GroupKind) -> Option<bool> {
        self.scopes.lock_or_recover().get(gk).copied()
    }

    /// Forgets every kind of `group` (a CRD of it was applied).
    pub fn forget_group(&self, group: &str) {
        self.scopes
            .lock_or_recover()
            .retain(|gk, _| gk.group != group);
        self.by_gk
            .lock_or_recover()
            .retain(|gk, _| gk.group != group);
        self.by_gvk
            .lock_or_recover()
            .retain(|(api, _), _| api.rsplit_once('/').map_or("", |(g, _)| g) != group);
    }
}

/// True when discovery failed because the server does not serve the
/// group, version or kind (as opposed to a transport error).
fn not_served(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(r) => r.code == 404,
        kube::Error::Discovery(_) => true,
        _ => false,
    }
}
