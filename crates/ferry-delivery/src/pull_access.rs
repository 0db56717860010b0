//! Pull access for targets that pull images themselves (a Kubernetes
//! cluster's kubelets), as Argo CD users wire by hand and Harbor's robot
//! accounts allow: the server plugs in a [`PullCredentials`] per region
//! (the region's registry minting a pull-only robot per application and
//! environment), and before each compare the engine adds the image pull
//! Secret holding that robot's login to the rendered objects
//! ([`crate::pull_secret`]). A registry anyone may pull from needs none.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use ferry_core::objects::StoredObject;

use crate::engine::{Engine, RegionTarget};
use crate::error::{Error, Result};
use crate::pull_secret::{PullSecretFor, RegistryLogin, repositories, with_pull_secret};
use crate::target::BoxFuture;

/// Logins to a region's registry, one per application and environment.
pub trait PullCredentials: Send + Sync + fmt::Debug {
    /// A login that may pull exactly `repositories` (and nothing else) for
    /// `app` in `env`: the same one on every call while the set is the
    /// same. `None` when pulling from this registry needs no credentials.
    fn login<'a>(
        &'a self,
        app: &'a str,
        env: &'a str,
        repositories: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, Result<Option<RegistryLogin>>>;

    /// `app` left `env`: its login may go.
    fn forget<'a>(&'a self, app: &'a str, env: &'a str) -> BoxFuture<'a, Result<()>> {
        let _ = (app, env);
        Box::pin(async { Ok(()) })
    }
}

impl Engine {
    /// Lets targets of region `region` pull its registry's images with
    /// logins from `credentials`.
    pub fn set_pull_credentials(&self, region: &str, credentials: Arc<dyn PullCredentials>) {
        self.lock().pull.insert(region.to_string(), credentials);
        self.inner.wake.notify_one();
    }

    /// `desired` with the image pull Secret added, when `region`'s target
    /// pulls images itself, its registry wants a login and the objects
    /// pull from it; else `desired` unchanged.
    pub(crate) async fn with_pull_access(
        &self,
        to: PullSecretFor<'_>,
        region_name: &str,
        region: &RegionTarget,
        desired: Arc<Vec<StoredObject>>,
    ) -> Result<Arc<Vec<StoredObject>>> {
        if !region.target.pulls_images_itself() {
            return Ok(desired);
        }
        let Some(credentials) = self.lock().pull.get(region_name).cloned() else {
            return Ok(desired);
        };
        let repos = repositories(&desired, to.registry);
        if repos.is_empty() {
            return Ok(desired);
        }
        let login = credentials
            .login(to.app, to.environment, &repos)
            .await
            .map_err(|e| match e {
                Error::PullSecret { message, .. } => Error::PullSecret {
                    registry: to.registry.to_string(),
                    message,
                },
                e => Error::PullSecret {
                    registry: to.registry.to_string(),
                    message: format!("cannot get a pull login: {e}"),
                },
            })?;
        match login {
            Some(login) => Ok(Arc::new(with_pull_secret(&desired, &to, &login)?)),
            None => Ok(desired),
        }
    }

    /// Drops the logins of `app` in `env` from every region (the
    /// environment is gone).
    pub(crate) async fn forget_pull_access(&self, app: &str, env: &str) {
        let all: Vec<Arc<dyn PullCredentials>> = self.lock().pull.values().cloned().collect();
        for c in all {
            if let Err(e) = c.forget(app, env).await {
                tracing::warn!(%app, %env, error = %e, "cannot remove the pull robot");
            }
        }
    }
}
