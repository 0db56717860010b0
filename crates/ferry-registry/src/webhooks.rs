//! Webhooks: every `ImagePushed`/`ImageDeleted` of this region on the event
//! bus is POSTed to each configured URL as a CloudEvents 1.0 JSON document
//! (structured mode), retried with exponential backoff, and every attempt is
//! appended to a delivery log (`webhooks.log`, one JSON object per line).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_core::events::Event;
use ferry_core::registry_spec::RegistryWebhook;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The delivery log's file name.
pub const LOG_FILE: &str = "webhooks.log";

/// One line of the delivery log.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub webhook: String,
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    /// HTTP status, or none when the request failed.
    pub status: Option<u16>,
    pub ok: bool,
    pub error: Option<String>,
    pub time: String,
}

/// The CloudEvents 1.0 envelope for `event`.
pub fn cloud_event(event: &Event, id: &str, source: &str) -> serde_json::Value {
    let subject = match event {
        Event::ImagePushed { repository, .. } | Event::ImageDeleted { repository, .. } => {
            repository.clone()
        }
        Event::ImageReplicated { repository, .. } => repository.clone(),
        _ => String::new(),
    };
    serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": event.cloud_event_type(),
        "subject": subject,
        "time": now_rfc3339(),
        "datacontenttype": "application/json",
        "data": event,
    })
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Delivers this region's registry events to its webhooks.
#[derive(Debug)]
pub struct Dispatcher {
    region: String,
    hooks: Vec<RegistryWebhook>,
    log: PathBuf,
    client: reqwest::Client,
    log_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Dispatcher {
    /// A dispatcher logging into `log_dir`.
    pub fn new(region: String, hooks: Vec<RegistryWebhook>, log_dir: PathBuf) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        Self {
            region,
            hooks,
            log: log_dir.join(LOG_FILE),
            client,
            log_lock: Arc::default(),
        }
    }

    /// Runs until `shutdown`, delivering each event to each hook concurrently.
    pub async fn run(self, mut rx: broadcast::Receiver<Arc<Event>>, shutdown: CancellationToken) {
        let me = Arc::new(self);
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = rx.recv() => match r {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "registry webhooks fell behind the event bus");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            let ours = match &*event {
                Event::ImagePushed { region, .. } | Event::ImageDeleted { region, .. } => {
                    region == &me.region
                }
                _ => false,
            };
            if !ours {
                continue;
            }
            let id = uuid::Uuid::new_v4().to_string();
            let body = cloud_event(
                &event,
                &id,
                &format!("/ferry/regions/{}/registry", me.region),
            );
            for hook in me.hooks.clone() {
                let (me, body, id, shutdown) =
                    (me.clone(), body.clone(), id.clone(), shutdown.clone());
                let event_type = event.cloud_event_type().to_string();
                tokio::spawn(
                    async move { me.deliver(&hook, &id, &event_type, &body, shutdown).await },
                );
            }
        }
    }

    async fn deliver(
        &self,
        hook: &RegistryWebhook,
        id: &str,
        event_type: &str,
        body: &serde_json::Value,
        shutdown: CancellationToken,
    ) {
        let attempts = hook.max_attempts.unwrap_or(5).max(1);
        let mut backoff = Duration::from_millis(200);
        for attempt in 1..=attempts {
            let result = self
                .client
                .post(&hook.url)
                .header(
                    "content-type",
                    "application/cloudevents+json; charset=utf-8",
                )
                .json(body)
                .send()
                .await;
            let (status, error) = match &result {
                Ok(r) => (Some(r.status().as_u16()), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let ok = status.is_some_and(|s| (200..300).contains(&s));
            self.log(Delivery {
                webhook: hook.name.clone(),
                event_id: id.to_string(),
                event_type: event_type.to_string(),
                attempt,
                status,
                ok,
                error,
                time: now_rfc3339(),
            })
            .await;
            if ok {
                return;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        tracing::warn!(webhook = %hook.name, event = id, "webhook delivery failed after {attempts} attempts");
    }

    async fn log(&self, d: Delivery) {
        let _g = self.log_lock.lock().await;
        let mut line = serde_json::to_vec(&d).expect("delivery serializes");
        line.push(b'\n');
        let r = async {
            let mut f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .await?;
            f.write_all(&line).await?;
            f.flush().await
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(path = %self.log.display(), error = %e, "cannot write webhook delivery log");
        }
    }
}
