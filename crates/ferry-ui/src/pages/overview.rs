//! The overview: the regions of the topology, this region's registry with
//! its replication rules' queues and lag, and every environment with its
//! applications counted by health. The regions table (`#regions`), the
//! registry section (`#registry`), the environments table (`#envs`) and
//! the delivery-path map (`#delivery-map`, `delivery_map.rs`) are each
//! replaced by live updates.

use std::fmt::Write as _;

use ferry_replication::RuleStatus;

use crate::html::{Esc, Url, badge};
use crate::pages::registry::bytes;
use crate::view::{EnvCounts, HEALTHS, health_word};

/// A region on the overview.
#[derive(Debug, Clone)]
pub struct RegionRow {
    pub name: String,
    /// Its API's address (`host:port`).
    pub api: String,
    /// Whether this page is served by it.
    pub this: bool,
    pub environments: usize,
    pub reach: Reach,
}

/// Whether a region answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Run by this process (so up), at this version.
    Local { version: String },
    /// Its API answered the last probe at `checked`.
    Up {
        version: Option<String>,
        checked: String,
    },
    /// No answer since `since`.
    Unreachable {
        since: String,
        error: String,
        version: Option<String>,
    },
    /// Not probed yet.
    Unknown,
}

/// The overview's body.
pub fn overview(regions: &[RegionRow], envs: &[EnvCounts]) -> String {
    let mut out = String::from("<h1>Overview</h1><h2>Regions</h2>");
    out.push_str(&regions_table(regions));
    out.push_str("<h2>Environments</h2>");
    out.push_str(&envs_table(envs));
    out
}

/// The regions table (`id="regions"`, replaced by live updates).
pub fn regions_table(regions: &[RegionRow]) -> String {
    let mut out = String::from(
        "<div class=\"scroll\" id=\"regions\"><table><thead><tr><th scope=\"col\">Region</th>\
         <th scope=\"col\">API</th><th scope=\"col\">State</th><th scope=\"col\">Version</th>\
         <th scope=\"col\">Environments</th></tr></thead><tbody>",
    );
    for r in regions {
        let this = if r.this {
            " <span class=\"note\">(this page)</span>"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr><td>{}{this}</td><td><code>{}</code></td>{}<td>{}</td></tr>",
            Esc(&r.name),
            Esc(&r.api),
            reach(&r.reach),
            r.environments
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// A region's state and version cells.
fn reach(r: &Reach) -> String {
    let version = |v: &Option<String>| Esc(v.as_deref().unwrap_or("-")).to_string();
    match r {
        Reach::Local { version } => format!(
            "<td>{} <span class=\"note\">this process</span></td><td>{}</td>",
            badge("up"),
            Esc(version)
        ),
        Reach::Up {
            version: v,
            checked,
        } => format!(
            "<td>{} <span class=\"note\">checked {}</span></td><td>{}</td>",
            badge("up"),
            Esc(checked),
            version(v)
        ),
        Reach::Unreachable {
            since,
            error,
            version: v,
        } => format!(
            "<td>{} since {} <span class=\"why\">{}</span></td><td>{}</td>",
            badge("unreachable"),
            Esc(since),
            Esc(error),
            version(v)
        ),
        Reach::Unknown => "<td>not checked yet</td><td>-</td>".to_string(),
    }
}

/// What the overview shows of this region's registry.
#[derive(Debug, Clone, Copy)]
pub enum RegistryState<'a> {
    /// The region runs no replication engine.
    NoReplication,
    /// The viewer may not read replication state (a scoped token).
    Hidden,
    /// Each rule this region's replication engine runs.
    Rules(&'a [RuleStatus]),
}

/// This region's registry (`id="registry"`): per replication rule its
/// queue (pending copies), lag (age of the oldest pending one), bytes in
/// flight, last success and last error.
pub fn registry_section(region: &str, state: RegistryState<'_>) -> String {
    let mut out = format!(
        "<section id=\"registry\"><h2>Registry <span class=\"note\">region {} · \
         <a href=\"/ui/registry\">browse</a></span></h2>",
        Esc(region)
    );
    let rules = match state {
        RegistryState::NoReplication => {
            out.push_str("<p>This region replicates nothing.</p></section>");
            return out;
        }
        RegistryState::Hidden => {
            out.push_str("<p>Replication state needs a token without a scope.</p></section>");
            return out;
        }
        RegistryState::Rules(r) => r,
    };
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Rule</th><th scope=\"col\">To</th>\
         <th scope=\"col\" class=\"num\">Pending</th><th scope=\"col\" class=\"num\">Lag</th>\
         <th scope=\"col\" class=\"num\">In flight</th><th scope=\"col\">Last success</th>\
         <th scope=\"col\">Last error</th></tr></thead><tbody>",
    );
    for r in rules {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td><td class=\"problem\">{}</td></tr>",
            Esc(&r.name),
            Esc(&r.target),
            r.pending,
            Esc(&lag(r.lag_seconds)),
            Esc(&bytes(r.bytes_in_flight)),
            Esc(r.last_success.as_deref().unwrap_or("-")),
            Esc(r.last_error.as_deref().unwrap_or("")),
        );
    }
    if rules.is_empty() {
        out.push_str("<tr><td colspan=\"7\">No replication rule starts here.</td></tr>");
    }
    out.push_str("</tbody></table></div></section>");
    out
}

/// A lag in seconds, as `0 s`, `42 s`, `3 min 5 s` or `2 h 10 min`.
pub fn lag(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// The environments table (`id="envs"`, replaced by live updates).
pub fn envs_table(envs: &[EnvCounts]) -> String {
    let mut out = String::from(
        "<div class=\"scroll\" id=\"envs\"><table><thead><tr><th scope=\"col\">Environment</th>\
         <th scope=\"col\">Region</th><th scope=\"col\">Namespace</th>",
    );
    for h in HEALTHS {
        let _ = write!(
            out,
            "<th scope=\"col\" class=\"num\">{}</th>",
            health_word(h)
        );
    }
    out.push_str("<th scope=\"col\" class=\"num\">OutOfSync</th></tr></thead><tbody>");
    for e in envs {
        let _ = write!(
            out,
            "<tr><td><a href=\"/ui/apps?env={}\">{}</a></td><td>{}</td><td>{}</td>",
            Url(&e.name),
            Esc(&e.name),
            Esc(&e.region),
            Esc(&e.namespace)
        );
        for h in HEALTHS {
            match e.by_health.get(&h) {
                Some(n) => {
                    let _ = write!(
                        out,
                        "<td class=\"num\"><a href=\"/ui/apps?env={}&amp;health={}\">{} {n}</a></td>",
                        Url(&e.name),
                        health_word(h),
                        badge(health_word(h))
                    );
                }
                None => out.push_str("<td class=\"num\">0</td>"),
            }
        }
        let _ = write!(out, "<td class=\"num\">{}</td></tr>", e.out_of_sync);
    }
    out.push_str("</tbody></table></div>");
    out
}

#[cfg(test)]
#[path = "overview_tests.rs"]
mod tests;
