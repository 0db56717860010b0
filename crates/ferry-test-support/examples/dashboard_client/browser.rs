//! The Chromium half: first contentful paint, RSS per open tab, and the
//! SSE update's delay after a commit to the probe application.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_test_support::cdp::Browser;
use serde_json::json;

use crate::{Api, Args, median, now_ms, rss_kib};

pub fn measure(dir: &Path, api: &Api, a: &Args) {
    let mut b = logged_in(&dir.join("main"), a);
    paint(&mut b, a);
    tab_rss(dir, a);
    b.navigate(&format!("{}/ui/apps", a.url));
    b.wait_for("the live stream open", LIVE, |v| v == true);
    sse(&mut b, api, a);
}

const LIVE: &str = "document.getElementById('live')?.textContent === 'live'";

/// A headless Chromium of its own (profile under `dir`), logged in with
/// the token through the login page, on the applications list.
fn logged_in(dir: &Path, a: &Args) -> Browser {
    std::fs::create_dir_all(dir).unwrap();
    let mut b = Browser::start(dir, 1280, 900);
    b.navigate(&format!("{}/ui/login?next=%2Fui%2Fapps", a.url));
    b.wait_for(
        "the login page",
        "document.readyState === 'complete' && !!document.getElementById('token')",
        |v| v == true,
    );
    b.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form[action=\"/ui/login\"]').submit(); true",
        json!(a.token)
    ));
    b.wait_for("the list", "location.pathname", |v| v == "/ui/apps");
    b
}

fn paint(b: &mut Browser, a: &Args) {
    let fcp_expr = "document.readyState === 'complete' && (performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? false)";
    let mut fcp = vec![];
    for _ in 0..7 {
        b.navigate(&format!("{}/ui/apps", a.url));
        let v = b.wait_for("first contentful paint", fcp_expr, |v| v.is_number());
        fcp.push(v.as_f64().unwrap());
    }
    println!(
        "{} apps, /ui/apps first contentful paint in Chromium: {:.0} ms median of 7 (navigation start to FCP; each: {:.0?})   target < 500 ms",
        a.apps,
        median(fcp.clone()),
        fcp
    );
}

/// Median of nine `VmRSS` samples over 4.5 s (the engine's passes move
/// the RSS by megabytes on their own).
fn rss_settled(pid: u32) -> f64 {
    let mut v = vec![];
    for _ in 0..9 {
        std::thread::sleep(Duration::from_millis(500));
        v.push(rss_kib(pid) as f64);
    }
    median(v)
}

/// What one open tab adds: `TABS` browsers (each its own Chromium, logged
/// in) on the list with its live stream open, against the same browsers
/// on `about:blank`, RSS settled either way, divided by `TABS`; three
/// rounds. The control: the same two settled readings with nothing
/// opened between.
fn tab_rss(dir: &Path, a: &Args) {
    const TABS: usize = 5;
    let mut tabs: Vec<Browser> = (0..TABS)
        .map(|i| logged_in(&dir.join(format!("tab{i}")), a))
        .collect();
    let (mut per_tab, mut control) = (vec![], vec![]);
    for _ in 0..3 {
        for t in &mut tabs {
            t.navigate("about:blank");
        }
        let before = rss_settled(a.pid);
        let closed = rss_settled(a.pid);
        control.push((closed - before) / TABS as f64);
        for t in &mut tabs {
            t.navigate(&format!("{}/ui/apps", a.url));
        }
        for t in &mut tabs {
            t.wait_for("the live stream open", LIVE, |v| v == true);
        }
        let open = rss_settled(a.pid);
        per_tab.push((open - closed) / TABS as f64);
    }
    println!(
        "{} apps, one open tab (page + live stream) adds {:.0} KiB to ferry's RSS (median of 3 rounds of {TABS} tabs opened, RSS settled before and after / {TABS}; each: {per_tab:.0?} KiB; control, nothing opened: {control:.0?} KiB; RSS now {} KiB)   target < 1024 KiB",
        a.apps,
        median(per_tab.clone()),
        rss_kib(a.pid)
    );
}

/// Commits a change to the probe application's manifest; its revision.
fn commit(file: &Path, round: usize) -> String {
    let text = std::fs::read_to_string(file).expect("the probe's manifest");
    let marker = "# bench round ";
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with(marker))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(file, format!("{kept}{marker}{round}\n")).unwrap();
    let dir = file.parent().unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    git(&["commit", "-qam", &format!("bench round {round}")]);
    git(&["rev-parse", "HEAD"])
}

/// Polls `expr` until it gives a number (the deadline is the engine's:
/// a pass over every application comes first).
fn wait_number(b: &mut Browser, expr: &str, deadline: Duration) -> f64 {
    let end = Instant::now() + deadline;
    loop {
        let r = b.try_call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true }),
        );
        if let Some(v) = r.ok().and_then(|r| r["result"]["value"].as_f64()) {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {expr}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// When the engine finished syncing `rev` (its last environment).
fn synced_at(api: &Api, app: &str, rev: &str) -> f64 {
    let h = api.get(&format!("apps/{app}/history"));
    let ends = h["items"].as_array().into_iter().flatten().filter_map(|e| {
        (e["revision"] == rev)
            .then(|| e["startedMs"].as_f64().zip(e["durationMs"].as_f64()))
            .flatten()
            .map(|(s, d)| s + d)
    });
    ends.fold(f64::NAN, f64::max)
}

fn sse(b: &mut Browser, api: &Api, a: &Args) {
    let app = &a.probe_app;
    let (mut total, mut leg) = (vec![], vec![]);
    for round in 1..=7 {
        let rev = commit(&a.probe_file, round);
        let short = &rev[..7];
        // Every row of the probe shows the new revision, and the page
        // says when its last patch was applied.
        let expr = format!(
            "(() => {{ const rows = [...document.querySelectorAll('#rows tr')].filter(r => r.querySelector('a[href^=\"/ui/apps/{app}?\"]')); \
             return rows.length > 0 && rows.every(r => r.textContent.includes('{short}')) \
             ? Number(document.body.getAttribute('data-updated') || 0) : null; }})()"
        );
        let t0 = now_ms();
        api.post(&format!("apps/{app}/sync"));
        let shown = wait_number(b, &expr, Duration::from_secs(300));
        let done = synced_at(api, app, &rev);
        total.push(shown - t0);
        leg.push(shown - done);
    }
    println!(
        "{} apps, an SSE update reaches the open list: {:.0} ms median of 7 from the engine's sync finished to the patch applied (each: {leg:.0?})   target < 1000 ms",
        a.apps,
        median(leg.clone())
    );
    println!(
        "{} apps, a commit to one app reaches the open list: {:.0} ms median of 7 from the API's sync request (fetch, a pass over every app, sync, SSE; each: {total:.0?})",
        a.apps,
        median(total.clone())
    );
}
