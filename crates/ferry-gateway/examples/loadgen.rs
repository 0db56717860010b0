//! An open-loop HTTP/1.1 load generator for bench/gateway.sh: sends GETs at
//! a fixed rate over keep-alive connections and prints the p50/p99/max
//! latency in milliseconds, measured from each request's *scheduled* time
//! (so a stalled server cannot hide its queueing: no coordinated omission).
//! The schedule is kept by a pacer thread sleeping with the OS timer
//! (tens of microseconds late at most) rather than by tokio's timer, whose
//! millisecond ticks would add up to a millisecond to every latency.
//!
//! usage: loadgen URL RATE SECONDS [CONNECTIONS]
//!
//! `over_1ms` counts the requests answered more than 1 ms after their
//! scheduled time. With `LOADGEN_DUMP=FILE`, every request's scheduled time
//! and latency (microseconds since the start, and taken) go to FILE, one
//! per line: to tell a tail made of a few stalls (runs of late requests)
//! from one spread over the whole run.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 3 {
        eprintln!("usage: loadgen URL RATE SECONDS [CONNECTIONS]");
        std::process::exit(2);
    }
    let uri: hyper::Uri = a[0].parse().expect("url");
    let rate: f64 = a[1].parse().expect("rate");
    let secs: f64 = a[2].parse().expect("seconds");
    let conns: usize = a.get(3).map_or(64, |c| c.parse().expect("connections"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let total = (rate * secs) as usize;
        let start = Instant::now() + Duration::from_millis(200);
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut tasks = Vec::new();
        let mut lanes = Vec::new();
        for _ in 0..conns {
            let uri = uri.clone();
            let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
            lanes.push(due_tx);
            tasks.push(tokio::spawn(async move {
                let addr = format!("{}:{}", uri.host().unwrap(), uri.port_u16().unwrap_or(80));
                let stream = tokio::net::TcpStream::connect(&addr)
                    .await
                    .expect("connect");
                stream.set_nodelay(true).unwrap();
                let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("handshake");
                tokio::spawn(conn);
                let mut lat = Vec::new();
                let mut errors = 0usize;
                // A request due while the previous one is still out waits
                // here; its wait counts in its latency.
                while let Some(due) = due_rx.recv().await {
                    let req = hyper::Request::get(uri.path())
                        .header("host", "bench")
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    match send.send_request(req).await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.into_body().collect().await;
                        }
                        _ => errors += 1,
                    }
                    lat.push((due, due.elapsed()));
                }
                (lat, errors)
            }));
        }
        // The pacer: request i is due at start + i × interval, on connection
        // i mod conns.
        std::thread::spawn(move || {
            for i in 0..total {
                let due = start + interval * i as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let _ = lanes[i % conns].send(due);
            }
        });
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            all.extend(l);
            errors += e;
        }
        if let Ok(path) = std::env::var("LOADGEN_DUMP") {
            let mut out = String::new();
            for (due, l) in &all {
                out += &format!("{} {}\n", (*due - start).as_micros(), l.as_micros());
            }
            std::fs::write(path, out).expect("dump");
        }
        let mut all: Vec<Duration> = all.into_iter().map(|(_, l)| l).collect();
        all.sort();
        let q = |p: f64| {
            all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0
        };
        // Requests over 1 ms late: on this kind of host, mostly the ones
        // caught in a pause of the virtual CPU (both proxies see as many).
        let late = all.len() - all.partition_point(|l| *l <= Duration::from_millis(1));
        println!(
            "p50={:.3} p99={:.3} max={:.3} n={} errors={} over_1ms={}",
            q(0.5),
            q(0.99),
            q(1.0),
            all.len(),
            errors,
            late
        );
    });
}
