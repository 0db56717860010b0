//! A headless Debian chromium driven over the Chrome DevTools Protocol:
//! started with `--remote-debugging-port=0` on 127.0.0.1, the page target
//! found through `/json/list`, commands (`Page.navigate`,
//! `Runtime.evaluate`, `Page.captureScreenshot`, key events) sent over its
//! websocket. [`blank_fraction`] decodes a screenshot (8-bit RGB/RGBA PNG,
//! as chromium writes) to tell a rendered page from an empty one.

use std::io::Read;
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
    /// Starts chromium (window `width`×`height`) with its profile under
    /// `dir` and connects to its page.
    pub fn start(dir: &Path, width: u32, height: u32) -> Browser {
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
            "--hide-scrollbars",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank");
        let proc = Proc::spawn("chromium", cmd, dir);
        let port: u16 = poll(
            "chromium's DevTools address",
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
        let mut b = Browser {
            proc,
            ws,
            next_id: 0,
        };
        b.call("Page.enable", json!({}));
        // A headless page has no focused window: key events (Tab) would go
        // nowhere without focus emulation.
        b.call("Page.bringToFront", json!({}));
        b.call(
            "Emulation.setFocusEmulationEnabled",
            json!({ "enabled": true }),
        );
        b
    }

    /// Sends one DevTools command and returns its `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    /// Sends one DevTools command: its `result`, or its `error`.
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "id": id, "method": method, "params": params });
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send DevTools command");
        loop {
            let msg = self.ws.read().expect("read DevTools answer");
            let Ok(text) = msg.to_text() else { continue };
            let Ok(v) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if v["id"] == id {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    /// Loads `url` in the page.
    pub fn navigate(&mut self, url: &str) {
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

    /// Polls `expr` until `check` accepts its value (20 s at most); on
    /// timeout the panic shows the last answer and the page's address.
    pub fn wait_for(&mut self, what: &str, expr: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            // A navigation in progress destroys the context (an exception)
            // or the target (an error): try again.
            let r = self.try_call(
                "Runtime.evaluate",
                json!({ "expression": expr, "returnByValue": true }),
            );
            if let Ok(r) = &r {
                let v = &r["result"]["value"];
                if r.get("exceptionDetails").is_none() && check(v) {
                    return v.clone();
                }
            }
            let last = r.unwrap_or_else(|e| e);
            if std::time::Instant::now() >= deadline {
                let href = self
                    .try_call(
                        "Runtime.evaluate",
                        json!({ "expression": "location.href", "returnByValue": true }),
                    )
                    .map(|r| r["result"]["value"].clone())
                    .unwrap_or_default();
                panic!("timed out after 20s waiting for {what}; last answer {last}; page {href}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Presses and releases one key (`Tab`, `Enter`) in the page.
    pub fn key(&mut self, key: &str, code: u32) {
        for kind in ["rawKeyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code }),
            );
        }
    }

    /// A PNG screenshot of the page, also written to `path`.
    pub fn screenshot(&mut self, path: &Path) -> Vec<u8> {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        std::fs::write(path, &png).expect("write screenshot");
        png
    }
}

/// The fraction of a PNG's pixels that have the colour of its top-left
/// pixel (1.0: a blank page), and how many distinct colours it holds.
/// Handles what chromium writes: 8-bit RGB or RGBA, not interlaced.
pub fn blank_fraction(png: &[u8]) -> (f64, usize) {
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "8-bit PNG");
                assert_eq!(data[12], 0, "not interlaced");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("PNG colour type {t} not handled"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .expect("inflate PNG data");
    let stride = width * channels;
    let mut pixels = vec![0u8; stride * height];
    for y in 0..height {
        let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let (filter, line) = (line[0], &line[1..]);
        for x in 0..stride {
            let a = if x >= channels {
                pixels[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 {
                pixels[(y - 1) * stride + x]
            } else {
                0
            };
            let c = if x >= channels && y > 0 {
                pixels[(y - 1) * stride + x - channels]
            } else {
                0
            };
            pixels[y * stride + x] = line[x].wrapping_add(unfilter(filter, a, b, c));
        }
    }
    let first = &pixels[..channels];
    let mut same = 0usize;
    let mut colours = std::collections::HashSet::new();
    for p in pixels.chunks(channels) {
        same += usize::from(p == first);
        if colours.len() < 10_000 {
            colours.insert(p.to_vec());
        }
    }
    (same as f64 / (width * height).max(1) as f64, colours.len())
}

fn unfilter(filter: u8, a: u8, b: u8, c: u8) -> u8 {
    match filter {
        0 => 0,
        1 => a,
        2 => b,
        3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
        4 => {
            let p = i16::from(a) + i16::from(b) - i16::from(c);
            let (pa, pb, pc) = (
                (p - i16::from(a)).abs(),
                (p - i16::from(b)).abs(),
                (p - i16::from(c)).abs(),
            );
            if pa <= pb && pa <= pc {
                a
            } else if pb <= pc {
                b
            } else {
                c
            }
        }
        f => panic!("PNG filter {f} not handled"),
    }
}
