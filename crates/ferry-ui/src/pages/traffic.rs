//! The traffic page: the region gateway's rules (host, matches, weighted
//! destinations, faults, mirrors, retries), grouped by direction (`north`
//! for traffic entering the region, `mesh` for pod to Service), and per
//! destination three inline SVG sparklines over the last 15 minutes —
//! request rate, success rate, p99 — with their latest values.
//!
//! Every destination block has a fixed size and a stable id (a hash of
//! its rule, Service and subset), so the page's periodic refresh
//! (`/ui/traffic/live`, the same `{"patches":[{id,html}]}` the live stream
//! sends) replaces it in place without moving anything.

use std::fmt::Write as _;

use crate::html::Esc;
use crate::traffic::ring::Point;
use crate::traffic::scrape::DestKey;
use crate::traffic::{DestView, RuleView};

/// Seconds a chart spans.
pub const WINDOW: f64 = 900.0;
const W: f64 = 120.0;
const H: f64 = 28.0;

/// The element id of a destination's block.
pub fn dest_id(k: &DestKey) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in [&k.route, &k.service, &k.subset]
        .iter()
        .flat_map(|s| s.bytes().chain([0]))
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("t-{h:016x}")
}

/// An SVG sparkline of `(time, value)` points ending at `now`, values
/// scaled to `0..=max`; a gap (`None`) breaks the line.
pub fn sparkline(points: &[(f64, Option<f64>)], now: f64, max: f64, label: &str) -> String {
    let max = if max > 0.0 { max } else { 1.0 };
    let mut d = String::new();
    // Points in the segment being drawn; a lone point is drawn as a dot.
    let mut run = 0;
    for &(t, v) in points {
        let Some(v) = v else {
            if run == 1 {
                d.push_str(" l0,0");
            }
            run = 0;
            continue;
        };
        let x = 1.0 + (W - 2.0) * (1.0 - (now - t) / WINDOW).clamp(0.0, 1.0);
        let y = H - 2.0 - (v / max).clamp(0.0, 1.0) * (H - 4.0);
        let _ = write!(d, "{}{x:.1},{y:.1}", if run > 0 { " L" } else { " M" });
        run += 1;
    }
    if run == 1 {
        d.push_str(" l0,0");
    }
    format!(
        "<svg class=\"spark\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"{}\"><path d=\"{}\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\" \
         stroke-linecap=\"round\" stroke-linejoin=\"round\"/></svg>",
        Esc(label),
        d.trim_start()
    )
}

fn latest<T>(points: &[Point], f: impl Fn(&Point) -> Option<T>) -> Option<T> {
    points.last().and_then(f)
}

fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "–".into())
}

/// One destination's block: name, weight, and the three charts.
pub fn dest_block(d: &DestView, now: f64) -> String {
    let name = if d.key.subset.is_empty() {
        d.key.service.clone()
    } else {
        format!("{}[{}]", d.key.service, d.key.subset)
    };
    let pts = &d.points;
    let rate: Vec<_> = pts.iter().map(|p| (p.t, Some(p.rate))).collect();
    let max_rate = pts.iter().map(|p| p.rate).fold(0.0, f64::max);
    let ok: Vec<_> = pts.iter().map(|p| (p.t, p.success)).collect();
    let p99: Vec<_> = pts.iter().map(|p| (p.t, p.p99)).collect();
    let max_p99 = pts.iter().filter_map(|p| p.p99).fold(0.0, f64::max);
    let now_rate = latest(pts, |p| Some(format!("{:.1}", p.rate)));
    let now_ok = latest(pts, |p| p.success.map(|s| format!("{:.1}", s * 100.0)));
    let now_p99 = latest(pts, |p| p.p99.map(|s| format!("{:.1}", s * 1e3)));
    let mut out = format!(
        "<div class=\"dest\" id=\"{}\"><p class=\"dest-name\"><code>{}</code> \
         <span class=\"note\">{:.0}%</span></p>",
        dest_id(&d.key),
        Esc(&name),
        d.percent
    );
    let charts = [
        ("rate", "req/s", rate, max_rate, now_rate),
        ("success", "%", ok, 1.0, now_ok),
        ("p99", "ms", p99, max_p99, now_p99),
    ];
    for (what, unit, series, max, value) in charts {
        let label = format!("{what} of {name}, last 15 minutes");
        let _ = write!(
            out,
            "<span class=\"chart c-{what}\">{}<span class=\"num\">{}</span> {unit}</span>",
            sparkline(&series, now, max, &label),
            Esc(&or_dash(value))
        );
    }
    out.push_str("</div>");
    out
}

/// The page's body.
pub fn traffic(rules: &[RuleView], now: f64, every_secs: u64) -> String {
    format!(
        "<h1>Traffic</h1><p class=\"note\">The region gateway's routes and, per destination, \
         requests per second, success rate and p99 over the last 15 minutes \
         (sampled every {every_secs} s).</p>{}",
        routes_div(rules, now, every_secs)
    )
}

/// The route tables (`id="traffic"`): replaced whole by the live stream
/// when the gateway's rules change; its destination blocks are refreshed
/// every sampling interval.
pub fn routes_div(rules: &[RuleView], now: f64, every_secs: u64) -> String {
    let mut out =
        format!("<div id=\"traffic\" data-poll=\"/ui/traffic/live\" data-every=\"{every_secs}\">");
    if rules.is_empty() {
        out.push_str("<p>No routes: apply an Ingress, an HTTPRoute or a VirtualService.</p></div>");
        return out;
    }
    for direction in ["north", "mesh"] {
        let mine: Vec<&RuleView> = rules.iter().filter(|r| r.direction == direction).collect();
        if mine.is_empty() {
            continue;
        }
        let title = if direction == "north" {
            "Entering the region"
        } else {
            "Mesh (pod to Service)"
        };
        let _ = write!(
            out,
            "<section class=\"routes\"><h2>{title}</h2><div class=\"scroll\"><table>\
             <thead><tr><th scope=\"col\">Host</th><th scope=\"col\">Match</th>\
             <th scope=\"col\">Target</th><th scope=\"col\">Policies</th>\
             <th scope=\"col\">Destinations, last 15 min</th></tr></thead><tbody>"
        );
        for r in mine {
            rule_row(&mut out, r, now);
        }
        out.push_str("</tbody></table></div></section>");
    }
    out.push_str("</div>");
    out
}

fn rule_row(out: &mut String, r: &RuleView, now: f64) {
    let matches: Vec<String> = r
        .matches
        .iter()
        .map(|m| format!("<code>{}</code>", Esc(m)))
        .collect();
    let _ = write!(
        out,
        "<tr><td><code>{}</code><br><span class=\"note\">{}</span></td><td>{}</td>\
         <td>{}</td><td>{}</td><td>",
        Esc(&r.host),
        Esc(&r.rule),
        matches.join("<br>"),
        Esc(&r.target),
        Esc(&r.policies),
    );
    for d in &r.destinations {
        out.push_str(&dest_block(d, now));
    }
    out.push_str("</td></tr>");
}

/// What `/ui/traffic/live` sends: every destination block.
pub fn patches(rules: &[RuleView], now: f64) -> serde_json::Value {
    let patches: Vec<serde_json::Value> = rules
        .iter()
        .flat_map(|r| &r.destinations)
        .map(|d| serde_json::json!({ "id": dest_id(&d.key), "html": dest_block(d, now) }))
        .collect();
    serde_json::json!({ "patches": patches })
}

#[cfg(test)]
#[path = "traffic_tests.rs"]
pub(crate) mod tests;
