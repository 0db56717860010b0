//! The client config's side of `ferry up` and `ferry demo`: which admin
//! token the operator already holds for each region, and writing the new
//! ones (and moved URLs) back, so every later CLI verb works without flags.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use ferry_auth::{ClientConfig, Context};
use ferry_core::topology::Topology;

/// The client config as it was before the regions started.
#[derive(Debug)]
pub struct Credentials {
    path: PathBuf,
    config: ClientConfig,
}

impl Credentials {
    /// Reads the client config (`$FERRY_CONFIG` or the default path).
    pub fn load() -> anyhow::Result<Credentials> {
        let path = ClientConfig::default_path();
        let config = ClientConfig::load(&path)?;
        Ok(Credentials { path, config })
    }

    /// The token held for each region of `topology` (contexts are named
    /// after regions).
    pub fn known_tokens(&self, topology: &Topology) -> BTreeMap<String, String> {
        topology
            .regions
            .iter()
            .filter_map(|r| {
                let name = &r.metadata.name;
                Some((name.clone(), self.config.context(name)?.token.clone()))
            })
            .collect()
    }

    /// Records each running region's URL and, where one was created, its
    /// new admin token; the first region becomes the current context when
    /// none is set. Writes the file only when something changed.
    pub fn record(&mut self, running: &ferry_server::Running) -> anyhow::Result<()> {
        let before = self.config.clone();
        let regions: Vec<String> = running
            .endpoints()
            .into_iter()
            .filter(|e| e.listener == "api")
            .map(|e| e.region)
            .collect();
        for region in regions {
            let Some(api) = running.api(&region) else {
                continue;
            };
            let token = match running.new_admin_tokens().get(&region) {
                Some(t) => t.clone(),
                None => match self.config.context(&region) {
                    Some(c) => c.token.clone(),
                    None => continue,
                },
            };
            self.config.upsert(Context {
                name: region.clone(),
                server: api.url.clone(),
                certificate_authority: api.ca_file.clone(),
                token,
            });
            if self.config.current().is_none() {
                self.config.current_context = Some(region);
            }
        }
        if self.config != before {
            self.config
                .save(&self.path)
                .with_context(|| format!("writing the client config {}", self.path.display()))?;
            tracing::info!(path = %self.path.display(), "client config updated with each region's URL and admin token");
        }
        Ok(())
    }

    /// The token for region `name` after [`Credentials::record`].
    pub fn token(&self, name: &str) -> Option<&str> {
        self.config.context(name).map(|c| c.token.as_str())
    }

    /// Where the file is.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}
