//! A headless Debian chromium driven over the Chrome DevTools Protocol: the
//! browser is started with the flags the issue names and
//! `--remote-debugging-port=0`, the page target is found through
//! `/json/list`, and commands (`Page.navigate`, `Runtime.evaluate`,
//! `Page.captureScreenshot`) go over its websocket.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::{Proc, poll};

/// Debian's chromium, or a panic saying how to install it.
pub fn chromium_bin() -> PathBuf {
    let p = PathBuf::from("/usr/bin/chromium");
    assert!(
        p.exists(),
        "chromium is missing: run scripts/setup.sh --test-peers (installs Debian's chromium)"
    );
    p
}

/// A running headless chromium and a DevTools connection to its page.
#[derive(Debug)]
pub struct Browser {
    /// The browser process (killed with its group on drop).
    pub proc: Proc,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Browser {
    /// Starts chromium with its profile under `dir` and connects to its page.
    pub fn start(dir: &Path) -> Browser {
        let profile = dir.join("chromium-profile");
        let mut cmd = Command::new(chromium_bin());
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1024,900",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank");
        let proc = Proc::spawn("chromium", cmd, dir);
        let port: u16 = poll(
            "chromium to print its DevTools address",
            Duration::from_secs(30),
            || {
                assert!(
                    proc.group_alive(),
                    "chromium exited early:\n{}",
                    proc.stderr()
                );
                let err = proc.stderr();
                let rest = err.split("DevTools listening on ws://127.0.0.1:").nth(1)?;
                rest.split('/').next()?.parse().ok()
            },
        );
        let list_url = format!("http://127.0.0.1:{port}/json/list");
        let page_ws: String = poll("chromium's page target", Duration::from_secs(20), || {
            let targets: Vec<Value> = reqwest::blocking::get(&list_url).ok()?.json().ok()?;
            targets.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"]
                .as_str()
                .map(String::from)
        });
        let (ws, _) = tungstenite::connect(page_ws.as_str())
            .expect("connect to chromium's page over DevTools");
        Browser {
            proc,
            ws,
            next_id: 0,
        }
    }

    /// Sends one DevTools command and returns its `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.ws
            .send(Message::text(
                json!({ "id": id, "method": method, "params": params }).to_string(),
            ))
            .expect("send DevTools command");
        loop {
            let msg = self.ws.read().expect("read DevTools answer");
            let Ok(text) = msg.to_text() else { continue };
            let Ok(v) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Loads `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.enable", json!({}));
        let r = self.call("Page.navigate", json!({ "url": url }));
        assert!(
            r.get("errorText").is_none(),
            "cannot load {url}: {}",
            r["errorText"]
        );
    }

    /// Evaluates `expr` in the page and returns its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expr} threw: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Polls `expr` until `check` accepts its value.
    pub fn wait_for(&mut self, what: &str, expr: &str, check: impl Fn(&Value) -> bool) -> Value {
        poll(what, Duration::from_secs(20), || {
            let v = self.eval(expr);
            check(&v).then_some(v)
        })
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        std::fs::write(path, png).expect("write screenshot");
    }
}
