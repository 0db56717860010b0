//! The region's registry as the delivery engine's [`PullCredentials`]: a
//! Kubernetes target pulls an application's images with a pull-only robot
//! the registry mints for that application and environment, scoped to
//! exactly its repositories (`ferry_registry::auth::minted`). A registry
//! without accounts, or with `anonymousPull`, needs no login.

use std::collections::BTreeSet;

use ferry_delivery::pull_access::PullCredentials;
use ferry_delivery::pull_secret::RegistryLogin;
use ferry_delivery::target::BoxFuture;

/// Logins minted by one region's registry.
#[derive(Debug, Clone)]
pub(crate) struct RegistryLogins {
    pub registry: ferry_registry::Registry,
    /// The region, named in errors.
    pub region: String,
}

impl RegistryLogins {
    fn failed(&self, e: ferry_registry::Error) -> ferry_delivery::Error {
        ferry_delivery::Error::PullSecret {
            registry: format!("of region `{}`", self.region),
            message: format!("cannot mint the pull robot: {e}"),
        }
    }
}

impl PullCredentials for RegistryLogins {
    fn login<'a>(
        &'a self,
        app: &'a str,
        env: &'a str,
        repositories: &'a BTreeSet<String>,
    ) -> BoxFuture<'a, ferry_delivery::Result<Option<RegistryLogin>>> {
        let login = self
            .registry
            .pull_robot(app, env, repositories)
            .map(|robot| {
                robot.map(|r| RegistryLogin {
                    username: r.login,
                    password: r.secret,
                })
            })
            .map_err(|e| self.failed(e));
        Box::pin(async move { login })
    }

    fn forget<'a>(
        &'a self,
        app: &'a str,
        env: &'a str,
    ) -> BoxFuture<'a, ferry_delivery::Result<()>> {
        let done = self
            .registry
            .remove_pull_robot(app, env)
            .map(|_| ())
            .map_err(|e| self.failed(e));
        Box::pin(async move { done })
    }
}
