//! HTTPS on the gateway port: certificates from TLS Secrets chosen by SNI,
//! ALPN h2/http1.1, checked with curl (a real client) against each host's
//! own self-signed certificate.

mod common;

use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use common::*;
use ferry_gateway::tls::FnSecrets;

fn self_signed(dir: &std::path::Path, host: &str) -> (String, String) {
    let (crt, key) = (
        dir.join(format!("{host}.crt")),
        dir.join(format!("{host}.key")),
    );
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
        ])
        .arg(format!("/CN={host}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{host}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    (
        crt.display().to_string(),
        std::fs::read_to_string(&key).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_by_sni_with_secrets_from_ingress_tls() {
    let dir = ferry_test_support::temp_dir();
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let snap = snapshot(vec![
        service("myhero", "svc-a", vec![a.endpoint("a")]),
        service("myhero", "svc-b", vec![b.endpoint("b")]),
    ]);
    let yaml = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  tls:
  - {hosts: [a.test], secretName: a-cert}
  - {hosts: [b.test], secretName: b-cert}
  rules:
  - host: a.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}]}
  - host: b.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-b, port: {number: 80}}}}]}
"#;
    let gw = gateway(snap, yaml).await;
    let certs: std::collections::BTreeMap<String, serde_json::Value> = ["a", "b"]
        .iter()
        .map(|h| {
            let (crt_path, key) = self_signed(dir.path(), &format!("{h}.test"));
            let crt = std::fs::read(&crt_path).unwrap();
            let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "data": {"tls.crt": enc(&crt), "tls.key": enc(key.as_bytes())}});
            (format!("myhero/{h}-cert"), secret)
        })
        .collect();
    gw.gateway
        .set_secret_source(Arc::new(FnSecrets(move |ns: &str, name: &str| {
            certs.get(&format!("{ns}/{name}")).cloned()
        })));
    let port = gw.addr.port();
    let dirp = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let curl = |host: &str, http2: bool| {
            let mut c = Command::new("curl");
            c.args([
                "-sS",
                "--max-time",
                "10",
                "-w",
                " %{http_version}",
                "--resolve",
            ])
            .arg(format!("{host}:{port}:127.0.0.1"))
            .arg("--cacert")
            .arg(dirp.join(format!("{host}.crt")));
            if !http2 {
                c.arg("--http1.1");
            }
            let o = c.arg(format!("https://{host}:{port}/")).output().unwrap();
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        (
            curl("a.test", true),
            curl("b.test", false),
            curl("b.test", true),
        )
    })
    .await
    .unwrap();
    // Each host's own CA verifies: SNI picked the right certificate.
    assert_eq!(out.0, "a 2", "ALPN h2 for a.test");
    assert_eq!(out.1, "b 1.1");
    assert_eq!(out.2, "b 2");
    assert_eq!(
        a.seen.lock().unwrap()[0]
            .headers
            .get("x-forwarded-proto")
            .map(String::as_str),
        Some("https")
    );
    // Plain HTTP still works on the same port.
    assert_eq!(
        get(&client(), gw.addr, "a.test", "/", &[]).await,
        (200, "a".into())
    );
}
