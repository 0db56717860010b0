//! What the demo shows while it waits: pipeline steps as they change, each
//! environment's waiting or error message, images arriving in a region's
//! registry, and finally the answer through a region's gateway. Everything
//! is read the way a user would: ferry's HTTP API, the registry API and the
//! gateway, polled with a deadline.

use crate::output::say;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;

/// Polls one region's API and prints what changed.
pub struct Watcher {
    client: reqwest::Client,
    api_client: reqwest::Client,
    api: SocketAddr,
    steps: BTreeMap<(u64, String), String>,
    env_notes: BTreeMap<String, String>,
    arrived: BTreeMap<String, bool>,
}

/// What to wait for: `needle` in the body of `GET http://gateway/path`
/// with `Host: host`.
pub struct Answer<'a> {
    pub env: &'a str,
    pub gateway: SocketAddr,
    pub host: &'a str,
    pub path: &'a str,
    pub key: Option<&'a str>,
    pub needle: &'a str,
}

impl<'a> Answer<'a> {
    /// The UI page of `env` through `gateway`, showing `heading`.
    pub fn ui(env: &'a str, gateway: SocketAddr, heading: &'a str) -> Self {
        Self {
            env,
            gateway,
            host: super::UI_HOST,
            path: "/",
            key: None,
            needle: heading,
        }
    }

    /// myhero-app's options of `env` through `gateway`.
    pub fn app(env: &'a str, gateway: SocketAddr) -> Self {
        Self {
            env,
            gateway,
            host: super::APP_HOST,
            path: "/options",
            key: Some("SecureApp"),
            needle: "options",
        }
    }
}

impl Watcher {
    /// A watcher reading region `api`'s API with `token` (its admin token).
    pub fn new(api: SocketAddr, token: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(mut v) = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let builder = || {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .no_proxy()
        };
        // The token goes to the API only, never to registries or gateways
        // (a gateway would hand it to the workload).
        let api_client = builder()
            .default_headers(headers)
            .build()
            .expect("http client");
        Self {
            client: builder().build().expect("http client"),
            api_client,
            api,
            steps: BTreeMap::new(),
            env_notes: BTreeMap::new(),
            arrived: BTreeMap::new(),
        }
    }

    async fn get_json(&self, path: &str) -> Option<Value> {
        let url = format!("http://{}/api/v1{path}", self.api);
        self.api_client
            .get(url)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    /// Prints pipeline steps that changed since the last call.
    pub async fn print_runs(&mut self) {
        let Some(Value::Array(runs)) = self
            .get_json("/pipelines/runs")
            .await
            .map(|mut v| v["items"].take())
        else {
            return;
        };
        for run in runs {
            let id = run["id"].as_u64().unwrap_or_default();
            let commit = run["commit"].as_str().unwrap_or_default();
            let head = format!(
                "  pipeline #{id} {}@{} → {}",
                run["gitRef"].as_str().unwrap_or_default(),
                &commit[..7.min(commit.len())],
                run["imageTag"].as_str().unwrap_or_default()
            );
            for step in run["steps"].as_array().into_iter().flatten() {
                let name = step["name"].as_str().unwrap_or_default().to_string();
                let state = step["state"].as_str().unwrap_or_default();
                let msg = step["message"].as_str().unwrap_or_default();
                let line = format!("{state} {msg}");
                if self.steps.get(&(id, name.clone())) == Some(&line) {
                    continue;
                }
                let mark = match state {
                    "Succeeded" => "✓",
                    "Failed" => "✗",
                    "Waiting" => "…",
                    _ => "▸",
                };
                // Waiting messages are shown per environment instead.
                if state != "Waiting" {
                    let msg = if msg.is_empty() {
                        String::new()
                    } else {
                        format!("  {msg}")
                    };
                    say!("{head}  {mark} {name}{msg}");
                }
                self.steps.insert((id, name), line);
            }
        }
    }

    /// The status of environment `env` of the demo's application.
    async fn env_status(&self, env: &str) -> Option<Value> {
        let mut app = self.get_json("/apps/myhero").await?;
        let envs = app["environments"].as_array_mut()?;
        let i = envs.iter().position(|e| e["environment"] == env)?;
        Some(envs.swap_remove(i))
    }

    /// Prints an environment's waiting or error message when it changes.
    async fn print_env(&mut self, env: &str) {
        let Some(e) = self.env_status(env).await else {
            return;
        };
        let note = e["error"]
            .as_str()
            .map(|m| format!("error: {m}"))
            .or_else(|| e["waiting"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                format!(
                    "{} / {}",
                    e["sync"].as_str().unwrap_or_default(),
                    e["health"].as_str().unwrap_or_default()
                )
            });
        if self.env_notes.get(env) != Some(&note) {
            say!("  [{env}] {note}");
            self.env_notes.insert(env.to_string(), note);
        }
    }

    /// Prints once when `image:tag` is present in the registry at `registry`.
    pub async fn print_arrival(
        &mut self,
        registry: SocketAddr,
        region: &str,
        image: &str,
        tag: &str,
    ) {
        let key = format!("{region}/{image}:{tag}");
        if self.arrived.get(&key) == Some(&true) {
            return;
        }
        let url = format!("http://{registry}/v2/{image}/manifests/{tag}");
        let ok = self
            .client
            .head(url)
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            say!("  [{region}] registry has {image}:{tag} ✓");
        }
        self.arrived.insert(key, ok);
    }

    /// The images an environment's last successful sync deployed.
    pub async fn env_images(&self, env: &str) -> Vec<String> {
        self.env_status(env)
            .await
            .and_then(|e| {
                e["images"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Whether the gateway answers as `a` wants.
    pub async fn answers(&self, a: &Answer<'_>) -> bool {
        let mut req = self
            .client
            .get(format!("http://{}{}", a.gateway, a.path))
            .header("host", a.host);
        if let Some(k) = a.key {
            req = req.header("key", k);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|b| b.contains(a.needle)),
            _ => false,
        }
    }

    /// Waits until the gateway answers as `a` wants, printing progress and
    /// calling `tick` on every poll; fails with the environment's status
    /// after `limit`.
    pub async fn until<F: AsyncFnMut(&mut Watcher)>(
        &mut self,
        answers: &[Answer<'_>],
        limit: Duration,
        mut tick: F,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            self.print_runs().await;
            // One status read per environment, however many answers wait on it.
            let mut envs: Vec<&str> = answers.iter().map(|a| a.env).collect();
            envs.sort_unstable();
            envs.dedup();
            for env in envs {
                self.print_env(env).await;
            }
            tick(self).await;
            let mut all = true;
            for a in answers {
                all &= self.answers(a).await;
            }
            if all {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                let env = answers.first().map_or("", |a| a.env);
                let api = self.api;
                bail!(
                    "`{env}` did not answer within {}s; last status: {}. Inspect with `ferry app get myhero --server http://{api}` and `ferry pipeline runs --server http://{api}`",
                    limit.as_secs(),
                    self.env_notes.get(env).map_or("unknown", String::as_str),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
