//! Container probes: `httpGet` (connecting inside the pod's network
//! namespace), `tcpSocket` and `exec`, each bounded by `timeoutSeconds`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Error;
use crate::pod::runc::Runc;
use crate::validate::resolve_port;

/// Probe timing with Kubernetes' defaults.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// The timing of `p`.
pub fn timing(p: &Probe) -> Timing {
    let secs = |v: Option<i32>, d: i32| Duration::from_secs(v.unwrap_or(d).max(0) as u64);
    Timing {
        initial_delay: secs(p.initial_delay_seconds, 0),
        period: secs(p.period_seconds, 10).max(Duration::from_millis(100)),
        timeout: secs(p.timeout_seconds, 1).max(Duration::from_millis(100)),
        success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
        failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
    }
}

/// The first retry of a readiness probe that has never succeeded.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// The wait before the next readiness probe, after `failures` failures in a
/// row. Once the probe has succeeded it is the period. Before that, while the
/// container is not ready anyway and a failure changes nothing, it is
/// 100 ms doubling up to the period: ferry probes as soon as `runc start`
/// returns, before a server has had time to bind, where the kubelet's first
/// probe waits for its next pod status relist (about a second); a full
/// period (10 s by default) after that lost race would dominate the time
/// to Ready.
pub fn readiness_wait(t: &Timing, ever_succeeded: bool, failures: u32) -> Duration {
    if ever_succeeded || failures == 0 {
        return t.period;
    }
    let doubled = FIRST_RETRY.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(t.period)
}

/// Runs `p` once; `Err` carries why it failed.
pub async fn check(
    p: &Probe,
    netns: &Path,
    ports: &BTreeMap<&str, i32>,
    runc: &Runc,
    ctr_id: &str,
) -> Result<(), Error> {
    let failed = |m: String| Error::Probe(m);
    let t = timing(p);
    if let Some(h) = &p.http_get {
        let port = resolve_port(&h.port, ports).ok_or_else(|| failed("bad probe port".into()))?;
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let fut = async {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut s = crate::net::dial(Some(netns), addr, t.timeout)
                .await
                .map_err(|e| failed(format!("Get http://127.0.0.1:{port}{path}: {e}")))?;
            let mut req = format!(
                "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: ferry-probe\r\n"
            );
            for hd in h.http_headers.iter().flatten() {
                req.push_str(&format!("{}: {}\r\n", hd.name, hd.value));
            }
            req.push_str("\r\n");
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| failed(e.to_string()))?;
            let mut buf = [0u8; 64];
            let mut got = 0;
            while got < 12 {
                let n = s
                    .read(&mut buf[got..])
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            let line = String::from_utf8_lossy(&buf[..got]).to_string();
            let code: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| failed(format!("bad HTTP answer {line:?}")))?;
            if (200..400).contains(&code) {
                Ok(())
            } else {
                Err(failed(format!("HTTP probe failed with statuscode: {code}")))
            }
        };
        return tokio::time::timeout(t.timeout, fut)
            .await
            .unwrap_or_else(|_| Err(failed("probe timed out".into())));
    }
    if let Some(tcp) = &p.tcp_socket {
        let port = resolve_port(&tcp.port, ports).ok_or_else(|| failed("bad probe port".into()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        return crate::net::dial(Some(netns), addr, t.timeout)
            .await
            .map(drop)
            .map_err(|e| failed(format!("dial tcp {addr}: {e}")));
    }
    if let Some(e) = &p.exec {
        let cmd = e.command.clone().unwrap_or_default();
        let out = runc
            .exec(ctr_id, &cmd, t.timeout)
            .await
            .map_err(|e| failed(e.to_string()))?;
        return if out.exit_code == 0 {
            Ok(())
        } else {
            Err(failed(format!(
                "command {cmd:?} exited with {}: {}",
                out.exit_code,
                out.stdout.trim()
            )))
        };
    }
    Err(failed("probe has no handler".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_never_ready_probe_is_retried_sooner_up_to_its_period() {
        let t = timing(&Probe::default());
        let waits: Vec<u128> = (1..=9)
            .map(|n| readiness_wait(&t, false, n).as_millis())
            .collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]
        );
        assert_eq!(readiness_wait(&t, false, u32::MAX), t.period);
    }

    #[test]
    fn once_ready_or_after_a_success_the_period_holds() {
        let p = Probe {
            period_seconds: Some(3),
            ..Probe::default()
        };
        let t = timing(&p);
        assert_eq!(readiness_wait(&t, true, 1), Duration::from_secs(3));
        assert_eq!(readiness_wait(&t, true, 5), Duration::from_secs(3));
        assert_eq!(readiness_wait(&t, false, 0), Duration::from_secs(3));
    }
}
