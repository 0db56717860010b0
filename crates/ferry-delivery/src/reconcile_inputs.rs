//! Inputs of a reconcile pass: fetching due repositories with back-off,
//! ordering applications by `dependsOn`, and rendering manifests (cached
//! per commit) including the namespace of ephemeral environments.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::app_spec::Application;
use ferry_core::objects::{GroupKind, StoredObject};
use ferry_core::sync::MutexExt;

use crate::engine::Engine;
use crate::error::Error;
use crate::object::{LABEL_APP, LABEL_ENV, set_label};
use crate::plan::Instance;
use crate::render::{RenderContext, render};
use crate::source::normalise_url;

/// Rendered manifests per (repo, commit, path, env, overrides).
#[derive(Debug, Default)]
pub struct RenderCache {
    map: HashMap<String, Result<Arc<Vec<StoredObject>>, Arc<Error>>>,
}

impl Engine {
    pub(crate) async fn fetch_due(&self) {
        let poll = self.inner.cfg.poll_interval;
        let now = Instant::now();
        let urls: BTreeSet<String> = self
            .inner
            .topology
            .applications
            .iter()
            .map(|a| normalise_url(&a.spec.source.repo_url))
            .collect();
        let mut due = Vec::new();
        {
            let mut st = self.lock();
            for url in urls {
                let r = st.repos.entry(url.clone()).or_default();
                let stale = r.last_fetch.is_none_or(|t| now.duration_since(t) >= poll);
                let allowed = r.next_try.is_none_or(|t| now >= t);
                if (r.want_fetch || stale) && allowed {
                    r.want_fetch = false;
                    due.push(url);
                }
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for url in due {
            let cache = self.inner.cache.clone();
            // The first application naming credentials (or a depth, a CA) for the
            // URL gives them.
            let users = || {
                self.inner
                    .topology
                    .applications
                    .iter()
                    .filter(|a| normalise_url(&a.spec.source.repo_url) == url)
            };
            let creds = users().find_map(|a| a.spec.source.credentials.clone());
            let depth = users().find_map(|a| a.spec.source.depth);
            let ca_file = users().find_map(|a| a.spec.source.ca_file.clone());
            tasks.spawn_blocking(move || {
                let creds = match creds.map(|c| c.password().map(|p| (c.username.clone(), p))) {
                    Some(Err(e)) => {
                        return (
                            url.clone(),
                            Err(crate::error::Error::git(&url, format!("credentials: {e}"))),
                        );
                    }
                    Some(Ok(c)) => Some(c),
                    None => None,
                };
                let opts = crate::source::FetchOptions {
                    credentials: creds,
                    depth: depth.and_then(std::num::NonZeroU32::new),
                    ca_file,
                };
                let r = cache.fetch(&url, opts);
                (url, r)
            });
        }
        while let Some(Ok((url, result))) = tasks.join_next().await {
            let mut st = self.lock();
            let r = st.repos.entry(url.clone()).or_default();
            let now = Instant::now();
            match result {
                Ok(refs) => {
                    for c in refs.branches.values().chain(refs.tags.values()) {
                        r.seen.entry(c.clone()).or_insert(now);
                    }
                    r.refs = Some(refs);
                    r.last_fetch = Some(now);
                    r.error = None;
                    r.failures = 0;
                    r.next_try = None;
                }
                Err(e) => {
                    r.failures += 1;
                    let wait = Duration::from_secs((1u64 << r.failures.min(6)).min(60));
                    r.next_try = Some(now + wait);
                    r.error = Some(format!("{e}; retrying in {}s", wait.as_secs()));
                    tracing::warn!(%url, error = %e, "fetch failed");
                }
            }
        }
    }

    /// The manifests of `app` at `commit` for `inst`, rendered once per key;
    /// a failure is cached too (shared, hence the `Arc`).
    pub(crate) async fn render_cached(
        &self,
        app: &Application,
        inst: &Instance,
        commit: &str,
        overrides: &[ferry_core::app_spec::ImageOverride],
    ) -> Result<Arc<Vec<StoredObject>>, Arc<Error>> {
        let url = normalise_url(&app.spec.source.repo_url);
        let key = format!(
            "{url}\n{commit}\n{}\n{}\n{}\n{}",
            app.spec.source.path,
            inst.env,
            inst.namespace,
            serde_json::to_string(overrides).unwrap_or_default()
        );
        if let Some(hit) = self.inner.renders.lock_or_recover().map.get(&key).cloned() {
            return hit;
        }
        let cache = self.inner.cache.clone();
        let spec = app.spec.clone();
        let (name, env, ns, commit, ephemeral) = (
            app.metadata.name.clone(),
            inst.env.clone(),
            inst.namespace.clone(),
            commit.to_string(),
            inst.ephemeral,
        );
        let overrides = overrides.to_vec();
        let result = tokio::task::spawn_blocking(move || -> Result<Vec<StoredObject>, Error> {
            let files = cache.files(&url, &commit, &spec.source.path)?;
            let ctx = RenderContext {
                app: &name,
                environment: &env,
                namespace: &ns,
                revision: &commit[..7.min(commit.len())],
                kind: spec.render.kind,
                value_files: &spec.render.value_files,
                images: &overrides,
            };
            let mut objs = render(&files, &spec.source.path, &ctx)?;
            if ephemeral {
                for o in &mut objs {
                    crate::render::preview_hosts(&mut o.value, &env);
                }
                objs.insert(0, namespace_object(&ns, &name, &env));
            }
            Ok(objs)
        })
        .await
        .map_err(|e| Error::task("render", e))
        .and_then(|r| r)
        .map(Arc::new)
        .map_err(Arc::new);
        let mut cache = self.inner.renders.lock_or_recover();
        if cache.map.len() > 10_000 {
            cache.map.clear();
        }
        cache.map.insert(key, result.clone());
        result
    }
}

fn namespace_object(ns: &str, app: &str, env: &str) -> StoredObject {
    let mut value =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    set_label(&mut value, LABEL_APP, app);
    set_label(&mut value, LABEL_ENV, env);
    StoredObject {
        group_kind: GroupKind::new("", "Namespace"),
        namespace: None,
        name: ns.to_string(),
        source: "<ephemeral environment>".into(),
        value,
    }
}

/// Applications in layers: each layer's `dependsOn` are all in earlier
/// layers, so the apps of one layer may reconcile concurrently (a cycle,
/// refused when the topology loads, would end up in the last layer).
pub fn layers(apps: &[Application]) -> Vec<Vec<&Application>> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    let mut left: Vec<&Application> = apps.iter().collect();
    while !left.is_empty() {
        let (ready, rest): (Vec<&Application>, Vec<&Application>) = left
            .into_iter()
            .partition(|a| a.spec.depends_on.iter().all(|d| done.contains(d.as_str())));
        if ready.is_empty() {
            out.push(rest);
            break;
        }
        done.extend(ready.iter().map(|a| a.metadata.name.as_str()));
        out.push(ready);
        left = rest;
    }
    out
}

#[cfg(test)]
mod layer_tests {
    use super::layers;
    use ferry_core::app_spec::Application;

    fn apps(list: &[(&str, &[&str])]) -> Vec<Application> {
        let yaml: String = list
            .iter()
            .map(|(name, deps)| {
                format!(
                    "---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec: {{source: {{repoUrl: /r, path: p}}, dependsOn: {deps:?}}}\n"
                )
            })
            .collect();
        let region = "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: r}\nspec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n";
        let t = ferry_core::topology::Topology::from_sources(&[(
            "t.yaml".into(),
            format!("{region}{yaml}"),
        )]);
        t.expect("valid applications").applications
    }

    #[test]
    fn each_layer_depends_only_on_earlier_ones() {
        let apps = apps(&[
            ("ui", &["api"]),
            ("api", &["db"]),
            ("db", &[]),
            ("docs", &[]),
        ]);
        let names: Vec<Vec<&str>> = layers(&apps)
            .iter()
            .map(|l| l.iter().map(|a| a.metadata.name.as_str()).collect())
            .collect();
        assert_eq!(names, vec![vec!["db", "docs"], vec!["api"], vec!["ui"]]);
    }
}
