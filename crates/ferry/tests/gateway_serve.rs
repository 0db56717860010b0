//! `ferry gateway serve`: the gateway on its own, from manifest files, on a
//! single thread, proxying to two plain HTTP backends on loopback with a
//! 50/50 Istio split; and bad manifests refused before a port opens.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use ferry_test_support::{Proc, poll, temp_dir};

/// A backend answering every request on a keep-alive connection with `body`.
fn backend(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut out = conn;
                loop {
                    let mut line = String::new();
                    // Read one request head (GETs: no body).
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if out.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn manifests(b1: u16, b2: u16) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  servers: [{{port: {{number: 80, name: http, protocol: HTTP}}, hosts: ["*"]}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: web}}
spec:
  host: web
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web}}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route:
    - {{destination: {{host: web, subset: v1}}, weight: 50}}
    - {{destination: {{host: web, subset: v2}}, weight: 50}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: web}}
spec:
  hosts: [web]
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {b1}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: {b2}}}, labels: {{version: v2}}}}
"#
    )
}

/// One HTTP/1.1 GET over a fresh connection; the response body.
fn get(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nhost: shop.example\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
}

#[test]
fn serves_a_weighted_split_on_one_thread() {
    let dir = temp_dir();
    let (b1, b2) = (backend("v1\n"), backend("v2\n"));
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, manifests(b1, b2)).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args([
        "gateway",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "-f",
    ])
    .arg(&file);
    let gw = Proc::spawn("ferry-gateway", cmd, dir.path());
    let addr = poll("listening line", Duration::from_secs(20), || {
        let out = gw.stdout();
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("gateway listening on http://"))?;
        Some(line.to_string())
    });
    // One thread in all, as documented for --workers 1.
    let tasks = std::fs::read_dir(format!("/proc/{}/task", gw.pid()))
        .unwrap()
        .count();
    assert_eq!(tasks, 1, "threads of `ferry gateway serve --workers 1`");
    let bodies: Vec<String> = (0..40).map(|_| get(&addr)).collect();
    let v1 = bodies.iter().filter(|b| *b == "v1\n").count();
    let v2 = bodies.iter().filter(|b| *b == "v2\n").count();
    assert_eq!(v1 + v2, 40, "{bodies:?}");
    assert!(
        v1 > 0 && v2 > 0,
        "a 50/50 split sent {v1} to v1 and {v2} to v2"
    );
}

#[test]
fn bad_manifests_are_refused_before_listening() {
    let dir = temp_dir();
    let file = dir.path().join("routes.yaml");
    let text = manifests(1, 2).replace(
        "address: 127.0.0.1, ports: {http: 2}",
        "address: backend-2, ports: {http: 2}",
    );
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["gateway", "serve", "--listen", "127.0.0.1:0", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "routes.yaml: document 3 (ServiceEntry/web): field `spec.endpoints[1].address`"
        ),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "printed a listening line: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn help_lists_the_gateway() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.lines().any(|l| l.trim_start().starts_with("gateway ")),
        "{help}"
    );
}
