//! A HorizontalPodAutoscaler scaling on gateway load, through the real
//! binary: `ferry up`, a web Deployment behind a Service and an Ingress,
//! and an HPA on the `http_requests_per_second` Pods metric (10 per pod,
//! 1–3 pods, a 20 s scale-down window, the default 15 s sync). About 40
//! requests a second through the region's gateway scale it to 3; after the
//! load stops the HPA holds (ScaleDownStabilized) until its window passed,
//! then scales back to 1. Prints the time from load change to decision.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ferry_test_support::{free_addr, poll, temp_dir};
use nix::sys::signal::Signal;
use serde_json::Value;

mod common;
use common::{cli, up};

const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: web:v1\n        imagePullPolicy: Never\n        ports: [{containerPort: 8080}]\n        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - host: web.hpa.test\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 3\n  metrics:\n  - type: Pods\n    pods:\n      metric: {name: http_requests_per_second}\n      target: {type: AverageValue, averageValue: '10'}\n  behavior:\n    scaleDown: {stabilizationWindowSeconds: 20}\n";

/// One GET through the gateway; true on a 200.
fn get(gateway: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&gateway, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET / HTTP/1.1\r\nHost: web.hpa.test\r\nConnection: close\r\n\r\n";
    let mut out = Vec::new();
    s.write_all(req.as_bytes()).is_ok()
        && s.read_to_end(&mut out).is_ok()
        && out.starts_with(b"HTTP/1.1 200")
}

fn hpa(api: &str) -> Value {
    let out = cli(api, &["get", "hpa", "web", "-o", "json"]);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn replicas(api: &str) -> i64 {
    let out = cli(api, &["get", "deploy", "web", "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(-1)
}

/// Seconds from `since` to the HPA's `lastScaleTime`.
fn scaled_after(h: &Value, since: SystemTime) -> Option<f64> {
    let text = h.pointer("/status/lastScaleTime")?.as_str()?;
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let since = time::OffsetDateTime::from(since);
    Some((t - since).as_seconds_f64())
}

fn condition_reason(h: &Value, ty: &str) -> String {
    h.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == ty)
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn gateway_load_scales_a_deployment_up_and_back_after_its_window() {
    let dir = temp_dir();
    let gateway = free_addr();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(
        &topo,
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: local}}\n\
             spec: {{dataDir: {}, listeners: {{api: {}, registry: {}, gateway: {gateway}}}}}\n",
            dir.path().join("local").display(),
            free_addr(),
            free_addr()
        ),
    )
    .unwrap();
    let store = ferry_image::Store::open(dir.path().join("local/runtime/images/store")).unwrap();
    ferry_image::build::busybox::httpd_image("v1", 8080)
        .unwrap()
        .build(&store, Some("web:v1"))
        .unwrap();
    let (mut up, api) = up(&topo, dir.path());
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, APP).unwrap();
    let out = cli(&api, &["apply", "-f", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    poll(
        "web answers through the gateway",
        Duration::from_secs(40),
        || get(gateway).then_some(()),
    );

    // ~40 requests a second: 4× the target for one pod.
    let stop = Arc::new(AtomicBool::new(false));
    let load_start = SystemTime::now();
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                get(gateway);
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let up_at = poll("scaled up to 3", Duration::from_secs(40), || {
        let h = hpa(&api);
        (h.pointer("/status/desiredReplicas").and_then(Value::as_i64) == Some(3)).then_some(h)
    });
    let up_secs = scaled_after(&up_at, load_start).unwrap();
    eprintln!("load start → scale-up decision: {up_secs:.1} s (sync period 15 s)");
    assert!(up_secs <= 17.0, "{up_at}");
    assert_eq!(replicas(&api), 3);
    let table = String::from_utf8_lossy(&cli(&api, &["get", "hpa"]).stdout).into_owned();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("Deployment/web") && table.contains("/10"),
        "{table}"
    );

    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let load_stop = SystemTime::now();
    let stopped = Instant::now();
    let mut held = false;
    poll("scaled back to 1", Duration::from_secs(70), || {
        let h = hpa(&api);
        held |= condition_reason(&h, "AbleToScale") == "ScaleDownStabilized";
        (h.pointer("/status/desiredReplicas").and_then(Value::as_i64) == Some(1)).then_some(h)
    });
    let down_secs = scaled_after(&hpa(&api), load_stop).unwrap();
    eprintln!(
        "load stop → scale-down decision: {down_secs:.1} s (window 20 s; seen after {:.1} s)",
        stopped.elapsed().as_secs_f64()
    );
    assert!(held, "the scale-down waited for its stabilization window");
    assert!(
        down_secs >= 5.0,
        "no scale-down before the window: {down_secs}"
    );
    poll("deployment at 1", Duration::from_secs(10), || {
        (replicas(&api) == 1).then_some(())
    });

    up.signal(Signal::SIGINT);
    up.wait_timeout(Duration::from_secs(30))
        .expect("ferry stops on SIGINT");
}
