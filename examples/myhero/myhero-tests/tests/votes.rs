//! 1,000 concurrent votes through myhero-app, in direct mode and in queue
//! mode (real Debian mosquitto + myhero-ernst), all counted; a kill -9 of
//! myhero-data mid-run loses none that were acknowledged; a redelivered
//! queue message counts once; a dead broker fails votes but not reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use myhero_tests::{Service, data_count, data_total, free_port, mosquitto, poll, start, temp_dir};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_myhero-stack");
const HEROES: [&str; 4] = ["Deadpool", "Batman", "Wonder Woman", "Star-Lord"];

fn data(dir: &std::path::Path, port: u16) -> Service {
    start(
        BIN,
        "data",
        port,
        &[
            ("myhero_data_key", "SecureData".into()),
            ("myhero_data_dir", dir.join("data").display().to_string()),
        ],
        dir,
    )
}

fn app(dir: &std::path::Path, data_port: u16, queue: Option<u16>) -> Service {
    let mut env = vec![
        ("myhero_app_key", "SecureApp".to_string()),
        ("myhero_data_key", "SecureData".into()),
        ("myhero_data_srv", format!("127.0.0.1:{data_port}")),
        ("myhero_app_mode", "direct".into()),
    ];
    if let Some(port) = queue {
        env[3].1 = "queue".into();
        env.push(("myhero_mqtt_host", "127.0.0.1".into()));
        env.push(("myhero_mqtt_port", port.to_string()));
    }
    start(BIN, "app", free_port(), &env, dir)
}

fn ernst(dir: &std::path::Path, data_port: u16, mqtt: u16) -> Service {
    let env = [
        ("myhero_mqtt_host", "127.0.0.1".to_string()),
        ("myhero_mqtt_port", mqtt.to_string()),
        ("myhero_data_srv", format!("127.0.0.1:{data_port}")),
        ("myhero_data_key", "SecureData".into()),
    ];
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("ernst")
        .env_clear()
        .env("RUST_LOG", "info")
        .envs(env);
    Service {
        proc: myhero_tests::Proc::spawn(&format!("ernst-{mqtt}"), cmd, dir),
        port: 0,
    }
}

/// Sends `n` votes to the app at once; returns how many were acknowledged
/// ("vote submitted"). `acked` counts them as they arrive.
async fn vote_burst(app_url: String, n: usize, acked: Arc<AtomicU64>) -> u64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let tasks = (0..n).map(|i| {
        let (client, url, acked) = (
            client.clone(),
            format!("{app_url}/vote/{}", HEROES[i % HEROES.len()]),
            acked.clone(),
        );
        tokio::spawn(async move {
            let Ok(resp) = client.post(url).header("key", "SecureApp").send().await else {
                return false;
            };
            let ok = resp
                .json::<Value>()
                .await
                .is_ok_and(|v| v["result"] == "vote submitted");
            if ok {
                acked.fetch_add(1, Ordering::SeqCst);
            }
            ok
        })
    });
    let results = futures_util::future::join_all(tasks).await;
    results
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count() as u64
}

fn burst(app_url: String, n: usize) -> u64 {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(vote_burst(app_url, n, Arc::default()))
}

#[test]
fn a_thousand_concurrent_direct_votes_are_all_counted() {
    let dir = temp_dir();
    let d = data(dir.path(), free_port());
    let a = app(dir.path(), d.port, None);
    assert_eq!(burst(a.url(), 1000), 1000, "every vote acknowledged");
    assert_eq!(data_total(&d.url()), Some(1000));
    assert_eq!(data_count(&d.url(), "Star-Lord"), Some(250));
}

#[test]
fn a_thousand_concurrent_queued_votes_are_all_counted_once() {
    let dir = temp_dir();
    let mqtt = free_port();
    let _broker = mosquitto(mqtt, dir.path());
    let d = data(dir.path(), free_port());
    let consumer = ernst(dir.path(), d.port, mqtt);
    let a = app(dir.path(), d.port, Some(mqtt));
    poll(
        "myhero-app to connect to the broker",
        Duration::from_secs(20),
        || {
            a.proc
                .stdout()
                .contains("connected to mqtt broker")
                .then_some(())
        },
    );
    assert_eq!(
        burst(a.url(), 1000),
        1000,
        "every vote acknowledged by the broker"
    );
    poll(
        "ernst to record all 1000 votes",
        Duration::from_secs(60),
        || (data_total(&d.url()) == Some(1000)).then_some(()),
    );

    // Redelivery: the same message (same topic = same vote id) published
    // twice is recorded once.
    let topic = "MyHero-Votes/redelivered-vote-1";
    for _ in 0..2 {
        let st = std::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &mqtt.to_string(), "-q", "1", "-r", "-t", topic, "-m", "Gamora"])
            .status()
            .expect("mosquitto_pub (Debian package mosquitto-clients; run scripts/setup.sh --test-peers)");
        assert!(st.success());
    }
    poll(
        "the redelivered vote to be recorded",
        Duration::from_secs(20),
        || (data_count(&d.url(), "Gamora") == Some(1)).then_some(()),
    );
    // A vote (id) already recorded and delivered again later is still one.
    let st = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &mqtt.to_string(),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            "Gamora",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    // A vote myhero-data refuses (over-long name) is dropped, not retried
    // forever in front of later votes.
    let poison = "x".repeat(300);
    let st = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &mqtt.to_string(),
            "-q",
            "1",
            "-t",
            "MyHero-Votes/poison",
            "-m",
            &poison,
        ])
        .status()
        .unwrap();
    assert!(st.success());
    poll(
        "ernst to drop the refused vote",
        Duration::from_secs(20),
        || {
            consumer
                .proc
                .stdout()
                .contains("dropping a vote myhero-data refuses")
                .then_some(())
        },
    );
    let marker = "MyHero-Votes/after-redelivery";
    std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &mqtt.to_string(),
            "-q",
            "1",
            "-t",
            marker,
            "-m",
            "Iron Man",
        ])
        .status()
        .unwrap();
    poll(
        "a later vote to be recorded",
        Duration::from_secs(20),
        || (data_count(&d.url(), "Iron Man") == Some(1)).then_some(()),
    );
    assert_eq!(
        data_count(&d.url(), "Gamora"),
        Some(1),
        "a redelivered vote counts once"
    );
    assert_eq!(data_total(&d.url()), Some(1002));
}

#[test]
fn queued_votes_survive_a_kill_9_of_ernst_and_count_once() {
    let dir = temp_dir();
    let mqtt = free_port();
    let _broker = mosquitto(mqtt, dir.path());
    let d = data(dir.path(), free_port());
    let a = app(dir.path(), d.port, Some(mqtt));
    poll(
        "myhero-app to connect to the broker",
        Duration::from_secs(20),
        || {
            a.proc
                .stdout()
                .contains("connected to mqtt broker")
                .then_some(())
        },
    );
    // Ernst has never run: the broker holds the votes (retained messages).
    assert_eq!(burst(a.url(), 600), 600);
    assert_eq!(data_total(&d.url()), Some(0));
    let mut first = ernst(dir.path(), d.port, mqtt);
    poll(
        "ernst to record some votes",
        Duration::from_secs(30),
        || (data_total(&d.url()).unwrap_or(0) >= 50).then_some(()),
    );
    first.proc.kill(); // mid-stream: some posted but not acknowledged to the broker
    let _second = ernst(dir.path(), d.port, mqtt);
    poll(
        "all 600 queued votes to be recorded",
        Duration::from_secs(60),
        || (data_total(&d.url()) == Some(600)).then_some(()),
    );
    // A vote sent after everything else is recorded once all redeliveries
    // before it were handled; the total must then be exactly 601.
    assert_eq!(burst(a.url(), 1), 1);
    poll("the last vote", Duration::from_secs(20), || {
        (data_total(&d.url()) == Some(601)).then_some(())
    });
}

/// 64 workers voting back to back through the app until `stop` is set;
/// returns (acknowledged, attempted).
async fn vote_until(
    app_url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    acked: Arc<AtomicU64>,
) -> (u64, u64) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let attempted = Arc::new(AtomicU64::new(0));
    let workers = (0..64).map(|w| {
        let (client, url, stop, acked, attempted) = (
            client.clone(),
            app_url.clone(),
            stop.clone(),
            acked.clone(),
            attempted.clone(),
        );
        tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                attempted.fetch_add(1, Ordering::SeqCst);
                let url = format!("{url}/vote/{}", HEROES[i % HEROES.len()]);
                let Ok(resp) = client.post(url).header("key", "SecureApp").send().await else {
                    continue;
                };
                if resp
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["result"] == "vote submitted")
                {
                    acked.fetch_add(1, Ordering::SeqCst);
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
    });
    futures_util::future::join_all(workers).await;
    (
        acked.load(Ordering::SeqCst),
        attempted.load(Ordering::SeqCst),
    )
}

#[test]
fn kill_9_of_data_mid_run_loses_no_acknowledged_vote() {
    let dir = temp_dir();
    let data_port = free_port();
    let mut d = data(dir.path(), data_port);
    let a = app(dir.path(), data_port, None);
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let run = rt.spawn(vote_until(a.url(), stop.clone(), acked.clone()));
    poll("votes to be acknowledged", Duration::from_secs(30), || {
        (acked.load(Ordering::SeqCst) >= 1000).then_some(())
    });
    d.proc.kill(); // SIGKILL to the whole group, votes in flight
    let at_kill = acked.load(Ordering::SeqCst);
    let d2 = data(dir.path(), data_port);
    // The app goes on submitting to the restarted service.
    poll(
        "votes to be acknowledged after the restart",
        Duration::from_secs(30),
        || (acked.load(Ordering::SeqCst) >= at_kill + 500).then_some(()),
    );
    stop.store(true, Ordering::SeqCst);
    let (acked_total, attempted) = rt.block_on(run).unwrap();
    let counted = data_total(&d2.url()).expect("restarted data answers");
    assert!(
        counted >= acked_total,
        "{counted} votes on disk but {acked_total} were acknowledged"
    );
    assert!(
        counted <= attempted,
        "{counted} votes on disk but only {attempted} were sent"
    );
    // And once more after a second kill, from the log alone.
    drop(d2);
    let d3 = data(dir.path(), data_port);
    assert_eq!(data_total(&d3.url()), Some(counted));
}

#[test]
fn a_dead_broker_fails_votes_but_options_and_results_still_answer() {
    let dir = temp_dir();
    let d = data(dir.path(), free_port());
    let a = app(dir.path(), d.port, Some(free_port()));
    let client = reqwest::blocking::Client::new();
    let resp = client
        .post(format!("{}/vote/Batman", a.url()))
        .header("key", "SecureApp")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        resp.json::<Value>().unwrap()["result"],
        "vote submission failed"
    );
    let resp = client
        .get(format!("{}/options", a.url()))
        .header("key", "SecureApp")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = client
        .get(format!("{}/v2/results", a.url()))
        .header("key", "SecureApp")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(data_total(&d.url()), Some(0));
}
