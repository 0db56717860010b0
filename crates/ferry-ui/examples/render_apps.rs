//! Measures the applications list's server side with N synthetic
//! applications in two environments (`render_apps N [ROUNDS]`): the copy of
//! every status the engine hands out (`Engine::list` clones them), the
//! filter and pagination pass, the HTML of the first page, and its size.
//! Prints medians in milliseconds; bench/dashboard_render.sh runs it.

use std::time::Instant;

use ferry_ui::view::{self, Filter};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(21);
    let apps = ferry_ui::testdata::many(n);
    let envs = vec!["dev".to_string(), "prod".to_string()];
    let filters = [
        ("first page", Filter::default()),
        (
            "filtered (prod, Degraded, page 3)",
            Filter {
                env: "prod".into(),
                health: "Degraded".into(),
                page: "3".into(),
                ..Filter::default()
            },
        ),
    ];
    for (what, filter) in &filters {
        let (mut copy, mut render, mut total) = (vec![], vec![], vec![]);
        let mut bytes = 0;
        for _ in 0..rounds {
            let t0 = Instant::now();
            let copied = apps.clone();
            let t1 = Instant::now();
            let rows = view::rows(&copied, filter);
            let body = ferry_ui::pages::apps::apps(&rows, filter, &envs);
            let t2 = Instant::now();
            bytes = body.len();
            drop(copied);
            copy.push((t1 - t0).as_secs_f64() * 1e3);
            render.push((t2 - t1).as_secs_f64() * 1e3);
            total.push((t2 - t0).as_secs_f64() * 1e3);
        }
        println!(
            "{n} apps x 2 envs, {what}: statuses copied {:.2} ms, filter+render {:.2} ms, total {:.2} ms, body {bytes} bytes",
            median(copy),
            median(render),
            median(total)
        );
    }
}
