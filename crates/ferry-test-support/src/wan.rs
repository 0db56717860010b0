//! A WAN on one machine: each region in its own network namespace, joined
//! through a router namespace where Shopify's toxiproxy (v2.5, built by
//! `scripts/setup.sh --test-peers`) holds one proxy per cross-region
//! target, with latency, jitter and bandwidth toxics ([`LinkProfile`]).
//! This kernel has no `netem`, so delay comes from user space.
//!
//! Addresses exist only inside the namespaces: region `i` is `10.99.<i+1>.2`
//! behind its router port `10.99.<i+1>.1`; every proxy listens on the
//! router's `10.99.0.1`. The router does not forward, so the proxies are
//! the only way between regions: a process in `uk` reaches `shanghai:5000`
//! at the address [`Wan::link`] returns, and nowhere else. [`Wan::cut`]
//! adds toxics that reset or black-hole every connection of a link;
//! [`Wan::restore`] removes them. Drop kills toxiproxy (its process group)
//! and deletes the namespaces, which removes their interfaces.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::netns::Netns;
use crate::{Proc, poll};

/// The router's address every proxy listens on.
pub const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const CONTROL_PORT: u16 = 8474;

/// Delay and bandwidth of a link, each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkProfile {
    pub latency_ms: u64,
    pub jitter_ms: u64,
    /// Bytes per millisecond (toxiproxy's "KB/s": 2500 is 20 Mbit/s).
    pub rate_kb_per_s: u64,
}

/// UK to Shanghai: 230 ms round trip (115 ms each way), 10 ms jitter,
/// 20 Mbit/s.
pub const UK_SHANGHAI: LinkProfile = LinkProfile {
    latency_ms: 115,
    jitter_ms: 10,
    rate_kb_per_s: 2500,
};

impl LinkProfile {
    /// Bytes per second of the bandwidth toxic.
    pub fn bytes_per_second(&self) -> u64 {
        self.rate_kb_per_s * 1000
    }
}

/// How a cut link fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Connections are reset (`reset_peer`): the other side sees ECONNRESET.
    Reset,
    /// Nothing passes and nothing closes (`timeout` 0): a silent partition.
    Blackhole,
}

/// One proxied connection target: `from` dials `addr` to reach `to`'s port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub addr: SocketAddr,
}

/// The emulated WAN; see the module docs. Fields drop in order.
#[derive(Debug)]
pub struct Wan {
    toxiproxy: Proc,
    control: SocketAddr,
    regions: Vec<(String, Netns)>,
    router: Netns,
    next_port: u16,
}

impl Wan {
    /// Namespaces for `regions` and the router, and toxiproxy in the
    /// router; `logs` receives toxiproxy's output.
    pub fn start(regions: &[&str], logs: &Path) -> Wan {
        let bin = crate::peers_dir().join("toxiproxy-server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/setup.sh --test-peers",
            bin.display()
        );
        let tag = std::process::id() % 100_000;
        let router = Netns::create(&format!("fwan-{tag}-router"));
        ip(&[
            "-n",
            router.name(),
            "addr",
            "add",
            "10.99.0.1/32",
            "dev",
            "lo",
        ]);
        sysctl(&router, "net.ipv4.ip_forward=0");
        let mut out = Vec::new();
        for (i, name) in regions.iter().enumerate() {
            let ns = Netns::create(&format!("fwan-{tag}-{name}"));
            let (net, port) = (i + 1, format!("r{i}"));
            let (r, n) = (router.name(), ns.name());
            ip(&[
                "-n", r, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", n,
            ]);
            ip(&[
                "-n",
                router.name(),
                "addr",
                "add",
                &format!("10.99.{net}.1/24"),
                "dev",
                &port,
            ]);
            ip(&["-n", router.name(), "link", "set", &port, "up"]);
            ip(&[
                "-n",
                ns.name(),
                "addr",
                "add",
                &format!("10.99.{net}.2/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", ns.name(), "link", "set", "eth0", "up"]);
            ip(&[
                "-n",
                ns.name(),
                "route",
                "add",
                "default",
                "via",
                &format!("10.99.{net}.1"),
            ]);
            out.push((name.to_string(), ns));
        }
        let mut cmd = router.command(&bin);
        cmd.args(["-host", "10.99.0.1", "-port", &CONTROL_PORT.to_string()]);
        let toxiproxy = Proc::spawn("toxiproxy", cmd, logs);
        let control = router.forward_out(SocketAddr::from((ROUTER_IP, CONTROL_PORT)));
        let wan = Wan {
            toxiproxy,
            control,
            regions: out,
            router,
            next_port: 20000,
        };
        poll("toxiproxy answers", Duration::from_secs(10), || {
            wan.api("GET", "/version", None).ok()
        });
        wan
    }

    /// Region `name`'s namespace.
    pub fn netns(&self, name: &str) -> &Netns {
        self.regions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, ns)| ns)
            .unwrap_or_else(|| panic!("no region `{name}` in this WAN"))
    }

    /// Region `name`'s address (inside its namespace).
    pub fn ip(&self, name: &str) -> Ipv4Addr {
        let i = self
            .regions
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no region `{name}` in this WAN"));
        Ipv4Addr::new(10, 99, i as u8 + 1, 2)
    }

    /// The router namespace (toxiproxy runs there).
    pub fn router(&self) -> &Netns {
        &self.router
    }

    /// A proxy to `to`'s `port` with `profile` on both directions; other
    /// regions dial the returned address to reach it.
    pub fn link(&mut self, to: &str, port: u16, profile: LinkProfile) -> Link {
        let listen = SocketAddr::from((ROUTER_IP, self.next_port));
        self.next_port += 1;
        let name = format!("{to}-{port}");
        let upstream = SocketAddr::from((self.ip(to), port));
        let proxy = json!({"name": name, "listen": listen.to_string(), "upstream": upstream.to_string(), "enabled": true});
        self.api("POST", "/proxies", Some(proxy))
            .unwrap_or_else(|e| panic!("create proxy {name}: {e}"));
        for stream in ["upstream", "downstream"] {
            let latency = json!({"latency": profile.latency_ms, "jitter": profile.jitter_ms});
            self.toxic(
                &name,
                &format!("latency-{stream}"),
                "latency",
                stream,
                latency,
            );
            let rate = json!({"rate": profile.rate_kb_per_s});
            self.toxic(
                &name,
                &format!("bandwidth-{stream}"),
                "bandwidth",
                stream,
                rate,
            );
        }
        Link { name, addr: listen }
    }

    /// Cuts `link`: every connection through it fails as `how` says, new
    /// ones too, until [`Wan::restore`].
    pub fn cut(&self, link: &Link, how: Cut) {
        let (kind, attrs) = match how {
            Cut::Reset => ("reset_peer", json!({"timeout": 0})),
            Cut::Blackhole => ("timeout", json!({"timeout": 0})),
        };
        for stream in ["upstream", "downstream"] {
            self.toxic(
                &link.name,
                &format!("cut-{stream}"),
                kind,
                stream,
                attrs.clone(),
            );
        }
    }

    /// Undoes [`Wan::cut`].
    pub fn restore(&self, link: &Link) {
        for stream in ["upstream", "downstream"] {
            let path = format!("/proxies/{}/toxics/cut-{stream}", link.name);
            self.api("DELETE", &path, None)
                .unwrap_or_else(|e| panic!("restore {}: {e}", link.name));
        }
    }

    fn toxic(
        &self,
        proxy: &str,
        name: &str,
        kind: &str,
        stream: &str,
        attributes: serde_json::Value,
    ) {
        let body = json!({"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes});
        self.api("POST", &format!("/proxies/{proxy}/toxics"), Some(body))
            .unwrap_or_else(|e| panic!("toxic {name} on {proxy}: {e}"));
    }

    fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<String, String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = client.request(method, format!("http://{}{path}", self.control));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        if status.is_success() {
            Ok(text)
        } else {
            Err(format!("{status}: {text}"))
        }
    }

    /// toxiproxy's log so far (stderr), for assertion messages.
    pub fn proxy_log(&self) -> String {
        self.toxiproxy.stderr()
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sysctl(ns: &Netns, setting: &str) {
    let out = ns.exec(&["sysctl", "-q", "-w", setting]);
    assert!(
        out.status.success(),
        "sysctl {setting}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
