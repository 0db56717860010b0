//! Knative Serving's `Service` on the runtime, routed by the real gateway
//! over 127.0.0.1 to real pods (busybox httpd through runc): scale to zero
//! after the window and back through the activator (a burst of 50 at zero
//! all answered), a 90/10 split by traffic percent, a tag host, min-scale,
//! and the activator's bounded queue answering 503 with Retry-After.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Env, dump, wait};
use ferry_gateway::{Gateway, GatewayConfig};
use ferry_runtime::kinds::Kind;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A runtime, the gateway in front of it (as `ferry up` wires them) and
/// the gateway's address.
struct Stack {
    env: Env,
    gw: Gateway,
    addr: SocketAddr,
    stop: CancellationToken,
}

async fn stack(config: GatewayConfig) -> Stack {
    let env = common::env().await;
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
    async fn shutdown(self) {
        self.stop.cancel();
        self.env.rt.shutdown().await;
    }

    /// GET / on `host` through the gateway: status, Retry-After, body, time.
    async fn get(
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

    fn ksvc(&self, name: &str) -> Value {
        self.env
            .rt
            .get(Kind::KnativeService, "default", name)
            .unwrap()
    }

    /// Live pods of a revision.
    fn pods(&self, revision: &str) -> usize {
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

    async fn ready(&self, name: &str) {
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

fn ksvc(name: &str, version: &str, annotations: &str, traffic: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  template:\n    metadata:\n      annotations: {{{annotations}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - image: web:{version}\n        ports: [{{containerPort: 8080}}]\n{traffic}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_scales_to_zero_after_its_window_and_a_burst_at_zero_is_all_answered() {
    let s = stack(GatewayConfig::default()).await;
    let window = "autoscaling.knative.dev/window: 6s";
    common::apply(&s.env.rt, &ksvc("hello", "v1", window, ""));
    s.ready("hello").await;
    let status = s.ksvc("hello")["status"].clone();
    assert_eq!(status["url"], "http://hello.default.example.com");
    assert_eq!(status["latestReadyRevisionName"], "hello-00001");
    assert!(
        s.env
            .rt
            .get(Kind::Deployment, "default", "hello-00001-deployment")
            .is_ok()
    );
    let c = reqwest::Client::new();
    let (code, _, body, _) = s.get(&c, "hello.default.example.com").await;
    assert_eq!((code, body.as_str()), (200, "v1\n"));
    let last = Instant::now();
    // No request for a window: no pod.
    wait("scale to zero", Duration::from_secs(40), || {
        (s.pods("hello-00001") == 0).then_some(())
    })
    .await;
    let idle = last.elapsed();
    assert!(
        idle >= Duration::from_secs(6),
        "scaled to zero {idle:?} after the last request, before the window"
    );
    let rev = s
        .env
        .rt
        .get(Kind::Revision, "default", "hello-00001")
        .unwrap();
    assert_eq!(
        rev.pointer("/status/conditions/1/reason")
            .and_then(Value::as_str),
        Some("NoTraffic")
    );
    // 50 at once while at zero: every one held, then answered.
    let burst = (0..50).map(|_| {
        let (c, s) = (c.clone(), &s);
        async move { s.get(&c, "hello.default.example.com").await }
    });
    let answers = futures_util::future::join_all(burst).await;
    let ok = answers
        .iter()
        .filter(|a| a.0 == 200 && a.2 == "v1\n")
        .count();
    if ok != 50 {
        dump(&s.env.rt);
    }
    assert_eq!(
        ok,
        50,
        "answers: {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let mut times: Vec<Duration> = answers.iter().map(|a| a.3).collect();
    times.sort();
    eprintln!(
        "burst of 50 from zero: first {:?}, median {:?}, last {:?}",
        times[0], times[25], times[49]
    );
    assert!(s.gw.activator().cold_start.get_count_for_test() >= 1);
    s.shutdown().await;
}

trait HistogramCount {
    fn get_count_for_test(&self) -> u64;
}

impl HistogramCount for prometheus_client::metrics::histogram::Histogram {
    fn get_count_for_test(&self) -> u64 {
        let mut out = String::new();
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register("cold", "", self.clone());
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        out.lines()
            .find_map(|l| l.strip_prefix("cold_count "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}
