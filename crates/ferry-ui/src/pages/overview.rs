//! The overview: the regions of the topology and every environment with
//! its applications counted by health (the table is patched live).

use std::fmt::Write as _;

use crate::html::{Esc, Url, badge};
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
}

/// The overview's body.
pub fn overview(regions: &[RegionRow], envs: &[EnvCounts]) -> String {
    let mut out = String::from("<h1>Overview</h1><h2>Regions</h2>");
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Region</th>\
         <th scope=\"col\">API</th><th scope=\"col\">Environments</th></tr></thead><tbody>",
    );
    for r in regions {
        let this = if r.this {
            " <span class=\"note\">(this page)</span>"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr><td>{}{this}</td><td><code>{}</code></td><td>{}</td></tr>",
            Esc(&r.name),
            Esc(&r.api),
            r.environments
        );
    }
    out.push_str("</tbody></table></div><h2>Environments</h2>");
    out.push_str(&envs_table(envs));
    out
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
