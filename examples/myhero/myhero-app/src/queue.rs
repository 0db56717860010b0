//! Queue mode: votes are published (QoS 1, retained) to
//! `MyHero-Votes/<vote id>` with the hero name as payload, and a vote counts
//! as submitted only once the broker has acknowledged it (PUBACK). A
//! publish made while the broker is not connected fails at once. Each
//! broker connection gets a fresh client so nothing from a dead connection
//! is replayed against the wrong waiter.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::oneshot;

use crate::Error;

/// Topic prefix the tutorial's app and ernst agree on.
pub const TOPIC_PREFIX: &str = "MyHero-Votes/";
/// How long a vote waits for the broker's PUBACK.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

type Waiter = oneshot::Sender<()>;

#[derive(Default)]
struct Live {
    client: Option<AsyncClient>,
    /// Publishes handed to the client, in order, not yet given a packet id.
    queued: VecDeque<Waiter>,
    /// Publishes sent, by packet id, waiting for PUBACK.
    sent: HashMap<u16, Waiter>,
}

/// Publishes votes to the broker; see the module docs.
#[derive(Clone)]
pub struct Publisher {
    broker: String,
    live: Arc<Mutex<Live>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("broker", &self.broker)
            .finish()
    }
}

impl Publisher {
    /// Starts connecting to `host:port` in the background (reconnecting
    /// with back-off for as long as the process runs).
    pub fn start(host: String, port: u16) -> Publisher {
        let p = Publisher {
            broker: format!("{host}:{port}"),
            live: Arc::default(),
        };
        tokio::spawn(p.clone().connect_loop(host, port));
        p
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, detail: impl Into<String>) -> Error {
        Error::Broker {
            broker: self.broker.clone(),
            detail: detail.into(),
        }
    }

    /// Publishes one vote and waits for the broker's acknowledgement.
    pub async fn publish(&self, hero: &str) -> Result<(), Error> {
        let topic = format!("{TOPIC_PREFIX}{}", uuid::Uuid::new_v4());
        let (tx, rx) = oneshot::channel();
        {
            let mut live = self.lock();
            let Some(client) = live.client.clone() else {
                return Err(self.err("not connected"));
            };
            // Hand over under the lock so `queued` is in the client's order.
            client
                .try_publish(topic, QoS::AtLeastOnce, true, hero.as_bytes().to_vec())
                .map_err(|e| self.err(e.to_string()))?;
            live.queued.push_back(tx);
        }
        match tokio::time::timeout(ACK_TIMEOUT, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.err("connection lost before the broker acknowledged")),
            Err(_) => Err(self.err("no acknowledgement within 5s")),
        }
    }

    async fn connect_loop(self, host: String, port: u16) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut opts = MqttOptions::new(
                format!("myhero-app-{}", uuid::Uuid::new_v4().simple()),
                host.clone(),
                port,
            );
            opts.set_keep_alive(Duration::from_secs(15))
                .set_clean_session(true)
                .set_inflight(200);
            let (client, mut events) = AsyncClient::new(opts, 8192);
            let mut connected = false;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        tracing::info!(broker = %self.broker, "connected to mqtt broker");
                        self.lock().client = Some(client.clone());
                        connected = true;
                        backoff = Duration::from_millis(100);
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        let mut live = self.lock();
                        if let Some(w) = live.queued.pop_front() {
                            live.sent.insert(pkid, w);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        if let Some(w) = self.lock().sent.remove(&ack.pkid) {
                            let _ = w.send(());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if connected {
                            tracing::warn!(broker = %self.broker, error = %e, "mqtt connection lost");
                        } else {
                            tracing::debug!(broker = %self.broker, error = %e, "mqtt connect failed");
                        }
                        break;
                    }
                }
            }
            {
                // Dropping the waiters fails their votes.
                let mut live = self.lock();
                *live = Live::default();
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}
