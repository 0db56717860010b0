//! Knative test stack: a runtime with the real gateway in front of it on
//! 127.0.0.1 (as `ferry up` wires them), requests by Host header, and the
//! Service manifest the Knative tests apply.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferry_gateway::{Gateway, GatewayConfig};
use ferry_runtime::kinds::Kind;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Env, wait};

/// A runtime, the gateway in front of it (as `ferry up` wires them) and
/// the gateway's address.
pub struct Stack {
    pub env: Env,
    pub gw: Gateway,
    pub addr: SocketAddr,
    pub stop: CancellationToken,
}

pub async fn stack(config: GatewayConfig) -> Stack {
    let env = super::env().await;
    let gw = Gateway::new(env.rt.dialer(), env.rt.services(), config);
    env.rt.register_owner(gw.kind_owner());
    gw.set_serving(env.rt.serving(), env.rt.autoscaler());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let (g, s) = (gw.clone(), stop.clone());
    tokio::spawn(async move { g.serve(listener, s).await });
    Stack {
        env,
        gw,
        addr,
        stop,
    }
}

impl Stack {
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.env.rt.shutdown().await;
    }

    /// GET / on `host` through the gateway: status, Retry-After, body, time.
    pub async fn get(
        &self,
        c: &reqwest::Client,
        host: &str,
    ) -> (u16, Option<String>, String, Duration) {
        let start = Instant::now();
        let r = c
            .get(format!("http://{}/", self.addr))
            .header("host", host)
            .send()
            .await
            .unwrap();
        let took = start.elapsed();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (status, retry, r.text().await.unwrap(), took)
    }

    pub fn ksvc(&self, name: &str) -> Value {
        self.env
            .rt
            .get(Kind::KnativeService, "default", name)
            .unwrap()
    }

    /// Pods of a revision, terminating ones included.
    pub fn all_pods(&self, revision: &str) -> usize {
        self.env
            .rt
            .list(Kind::Pod, Some("default"))
            .iter()
            .filter(|p| {
                p.pointer("/metadata/labels/serving.knative.dev~1revision")
                    .and_then(Value::as_str)
                    == Some(revision)
            })
            .count()
    }

    /// Live pods of a revision.
    pub fn pods(&self, revision: &str) -> usize {
        self.env
            .rt
            .list(Kind::Pod, Some("default"))
            .iter()
            .filter(|p| {
                p.pointer("/metadata/labels/serving.knative.dev~1revision")
                    .and_then(Value::as_str)
                    == Some(revision)
            })
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .count()
    }

    pub async fn ready(&self, name: &str) {
        let what = format!("ksvc {name} Ready");
        wait(&what, Duration::from_secs(60), || {
            let s = self.ksvc(name);
            let conds = s.pointer("/status/conditions")?.as_array()?.clone();
            conds
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                .then_some(())
        })
        .await;
    }
}

pub fn ksvc(name: &str, version: &str, annotations: &str, traffic: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  template:\n    metadata:\n      annotations: {{{annotations}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - image: web:{version}\n        ports: [{{containerPort: 8080}}]\n{traffic}"
    )
}
