//! myhero-ernst: subscribes to `MyHero-Votes/#` (QoS 1, persistent session,
//! manual acknowledgements), posts each vote to myhero-data's
//! `POST /vote/<hero>` with the vote's id (the topic's last segment) in the
//! `vote-id` header, clears the retained message, and only then acknowledges
//! it to the broker. A redelivered vote (broker retry, retained copy, or a
//! crash between posting and acking) carries the same id, and myhero-data
//! counts an id once, so every vote is recorded exactly once.
#![forbid(unsafe_code)]

mod config;

pub use config::Config;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use myhero_app::{DataClient, TOPIC_PREFIX};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::Semaphore;

/// The one error type of myhero-ernst.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required environment variable is missing or unusable.
    #[error("environment variable {name}: {problem}")]
    Config { name: &'static str, problem: String },
}

/// Votes posted to myhero-data at the same time.
const CONCURRENCY: usize = 64;

/// Consumes votes until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let data = Arc::new(DataClient::new(
        config.data_url.clone(),
        config.data_key.clone(),
    ));
    let mut opts = MqttOptions::new(
        config.client_id.clone(),
        config.mqtt_host.clone(),
        config.mqtt_port,
    );
    opts.set_keep_alive(Duration::from_secs(15))
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_inflight(200);
    let (client, mut events) = AsyncClient::new(opts, 4096);
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    tracing::info!(broker = %format!("{}:{}", config.mqtt_host, config.mqtt_port), data = %config.data_url, "myhero-ernst starting");
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(100);
    loop {
        let event = tokio::select! {
            _ = &mut shutdown => break,
            e = events.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(
                    session_present = ack.session_present,
                    "connected to mqtt broker"
                );
                backoff = Duration::from_millis(100);
                if let Err(e) = client.try_subscribe(format!("{TOPIC_PREFIX}#"), QoS::AtLeastOnce) {
                    tracing::error!(error = %e, "cannot subscribe");
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let (client, data, slots) = (client.clone(), data.clone(), slots.clone());
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    handle(&client, &data, p).await;
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "mqtt connection failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    let _ = client.try_disconnect();
    tracing::info!("myhero-ernst stopped");
    Ok(())
}

/// Records one message's vote (retrying until myhero-data takes it), clears
/// the retained copy and acknowledges the message.
async fn handle(client: &AsyncClient, data: &DataClient, p: Publish) {
    if p.payload.is_empty() {
        // Our own retained-clearing publishes come back as empty messages.
        let _ = client.ack(&p).await;
        return;
    }
    let id = p
        .topic
        .strip_prefix(TOPIC_PREFIX)
        .unwrap_or(&p.topic)
        .to_string();
    let hero = String::from_utf8_lossy(&p.payload).into_owned();
    let mut backoff = Duration::from_millis(100);
    loop {
        match data.vote(&hero, Some(&id)).await {
            Ok(()) => break,
            Err(e @ myhero_app::Error::VoteRefused { .. }) => {
                // An invalid vote (e.g. an over-long name) never succeeds:
                // drop it rather than block the queue behind it.
                tracing::error!(%hero, %id, error = %e, "dropping a vote myhero-data refuses");
                break;
            }
            Err(e) => {
                tracing::warn!(%hero, %id, error = %e, "cannot record vote yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::debug!(%hero, %id, "vote handled");
    let _ = client
        .publish(p.topic.clone(), QoS::AtLeastOnce, true, Vec::new())
        .await;
    let _ = client.ack(&p).await;
}
