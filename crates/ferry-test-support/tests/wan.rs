//! The emulated WAN itself: a request from `uk` to a server in `shanghai`
//! through the `uk-shanghai` link takes a round trip of about 230 ms, a
//! 2.5 MB download about a second (20 Mbit/s), a cut link fails and a
//! restored one works again; nothing is left behind. Needs root and
//! `scripts/setup.sh --test-peers` (toxiproxy-server).

use std::process::Command;
use std::time::Duration;

use ferry_test_support::wan::{Cut, UK_SHANGHAI, Wan};
use ferry_test_support::{Proc, poll, temp_dir};

/// `curl` from `ns` with curl's timings: (start transfer, total) seconds,
/// or None when the request failed.
fn fetch(wan: &Wan, from: &str, url: &str) -> Option<(f64, f64)> {
    let out = wan
        .netns(from)
        .command(std::path::Path::new("curl"))
        .args(["-s", "-f", "-o", "/dev/null", "-m", "5"])
        .args(["-w", "%{time_starttransfer} %{time_total}", url])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (a, b) = text.split_once(' ')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[test]
fn uk_shanghai_link_has_the_profile_and_can_be_cut_and_restored() {
    let dir = temp_dir();
    let names;
    {
        let mut wan = Wan::start(&["uk", "shanghai"], dir.path());
        names = [
            wan.netns("uk").name().to_string(),
            wan.router().name().to_string(),
        ];
        let files = dir.path().join("www");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("small"), "hello").unwrap();
        std::fs::write(files.join("big"), vec![7u8; 2_500_000]).unwrap();
        let ip = wan.ip("shanghai").to_string();
        let mut cmd = wan
            .netns("shanghai")
            .command(std::path::Path::new("python3"));
        cmd.args(["-m", "http.server", "8000", "--bind", &ip, "--directory"])
            .arg(&files);
        let _server = Proc::spawn("http-server", cmd, dir.path());
        let link = wan.link("shanghai", 8000, UK_SHANGHAI);
        let url = |f: &str| format!("http://{}/{f}", link.addr);

        // Direct routing is off: the proxy is the only way across.
        assert!(fetch(&wan, "uk", &format!("http://{ip}:8000/small")).is_none());

        let (first_byte, _) = poll(
            "server answers across the link",
            Duration::from_secs(10),
            || fetch(&wan, "uk", &url("small")),
        );
        assert!(
            (0.21..1.0).contains(&first_byte),
            "one round trip is ~230 ms, took {first_byte:.3} s"
        );
        let (_, total) = fetch(&wan, "uk", &url("big")).expect("big file");
        let floor = 2_500_000.0 / UK_SHANGHAI.bytes_per_second() as f64;
        eprintln!("2.5 MB across uk-shanghai: {total:.3} s (floor {floor:.3} s + 1 RTT)");
        assert!(
            total >= floor,
            "20 Mbit/s caps 2.5 MB at >= {floor} s, took {total:.3}"
        );
        assert!(total < floor * 2.0 + 1.0, "took {total:.3} s");

        for how in [Cut::Reset, Cut::Blackhole] {
            wan.cut(&link, how);
            assert!(
                fetch(&wan, "uk", &url("small")).is_none(),
                "{how:?} cut must fail"
            );
            wan.restore(&link);
            poll("link restored", Duration::from_secs(10), || {
                fetch(&wan, "uk", &url("small"))
            });
        }
    }
    // Dropped: namespaces gone (toxiproxy with them).
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for n in names {
        assert!(!list.contains(&n), "namespace {n} left behind: {list}");
    }
}
