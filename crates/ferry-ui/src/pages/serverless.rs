//! The serverless page: every Knative Service the viewer's namespaces hold,
//! its Revisions with their ready pods and share of the traffic, and each
//! Revision's last cold start split into phases (schedule, image, rootfs,
//! process, readiness), read from the runtime's `status.lastColdStart`.
//! Phases are numbers and `<meter>` bars (no script, no inline style).
//! The Services (`#ksvcs`) are replaced whole by live updates.

use std::fmt::Write as _;

use ferry_runtime::cold_start::PHASES;
use serde_json::Value;

use crate::html::Esc;

/// A Revision's last cold start, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdStart {
    /// When it finished (RFC 3339, as the runtime wrote it).
    pub time: String,
    pub total: f64,
    /// In [`PHASES`] order.
    pub phases: [f64; 5],
}

/// One Revision of a Knative Service.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionRow {
    pub name: String,
    pub ready: u64,
    pub desired: u64,
    /// Its share of the Service's traffic.
    pub percent: u64,
    pub cold: Option<ColdStart>,
}

/// One Knative Service with its Revisions (newest name first).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub namespace: String,
    pub name: String,
    pub url: String,
    pub revisions: Vec<RevisionRow>,
}

fn text(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn count(v: &Value, p: &str) -> u64 {
    v.pointer(p).and_then(Value::as_u64).unwrap_or(0)
}

/// The cold start kept in a Revision's `status.lastColdStart`, if any.
pub fn cold_start(rev: &Value) -> Option<ColdStart> {
    let c = rev.pointer("/status/lastColdStart")?.as_object()?;
    let secs = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(0.0);
    let by_phase = c.get("phaseSeconds");
    Some(ColdStart {
        time: c.get("time").and_then(Value::as_str).unwrap_or("").into(),
        total: secs(c.get("totalSeconds")),
        phases: PHASES.map(|p| secs(by_phase.and_then(|b| b.get(p)))),
    })
}

/// Services and their Revisions from the runtime's objects (as its API
/// renders them); Revisions belong to the Service their
/// `serving.knative.dev/service` label names in the same namespace.
pub fn rows(services: &[Value], revisions: &[Value]) -> Vec<ServiceRow> {
    let mut out: Vec<ServiceRow> = services
        .iter()
        .map(|s| {
            let (ns, name) = (text(s, "/metadata/namespace"), text(s, "/metadata/name"));
            let traffic = s.pointer("/status/traffic").and_then(Value::as_array);
            let percent = |rev: &str| -> u64 {
                traffic
                    .into_iter()
                    .flatten()
                    .filter(|t| t["revisionName"].as_str() == Some(rev))
                    .map(|t| t["percent"].as_u64().unwrap_or(0))
                    .sum()
            };
            let mut revs: Vec<RevisionRow> = revisions
                .iter()
                .filter(|r| {
                    text(r, "/metadata/namespace") == ns
                        && r.pointer("/metadata/labels/serving.knative.dev~1service")
                            .and_then(Value::as_str)
                            == Some(name.as_str())
                })
                .map(|r| {
                    let rev = text(r, "/metadata/name");
                    RevisionRow {
                        percent: percent(&rev),
                        ready: count(r, "/status/actualReplicas"),
                        desired: count(r, "/status/desiredReplicas"),
                        cold: cold_start(r),
                        name: rev,
                    }
                })
                .collect();
            revs.sort_by(|a, b| b.name.cmp(&a.name));
            ServiceRow {
                url: text(s, "/status/url"),
                namespace: ns,
                name,
                revisions: revs,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

fn ms(secs: f64) -> String {
    format!("{:.1}", secs * 1e3)
}

/// The page's body.
pub fn serverless(services: &[ServiceRow]) -> String {
    format!("<h1>Serverless</h1>{}", services_div(services))
}

/// The Services and their Revisions (`id="ksvcs"`, replaced by live
/// updates).
pub fn services_div(services: &[ServiceRow]) -> String {
    let mut out = String::from("<div id=\"ksvcs\">");
    if services.is_empty() {
        out.push_str("<p>No Knative Services in the namespaces you can see.</p></div>");
        return out;
    }
    for s in services {
        let _ = write!(
            out,
            "<section class=\"ksvc\"><h2>{} <span class=\"note\">in {}</span></h2>",
            Esc(&s.name),
            Esc(&s.namespace)
        );
        if !s.url.is_empty() {
            let _ = write!(out, "<p>URL <code>{}</code></p>", Esc(&s.url));
        }
        out.push_str(
            "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Revision</th>\
             <th scope=\"col\" class=\"num\">Ready pods</th>\
             <th scope=\"col\" class=\"num\">Traffic</th>\
             <th scope=\"col\">Last cold start</th></tr></thead><tbody>",
        );
        for r in &s.revisions {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td class=\"num\">{} / {}</td>\
                 <td class=\"num\">{}%</td><td>{}</td></tr>",
                Esc(&r.name),
                r.ready,
                r.desired,
                r.percent,
                cold_cell(r.cold.as_ref())
            );
        }
        out.push_str("</tbody></table></div></section>");
    }
    out.push_str("</div>");
    out
}

/// A cold start's total and one bar and number per phase.
fn cold_cell(c: Option<&ColdStart>) -> String {
    let Some(c) = c else {
        return "<span class=\"note\">none yet</span>".into();
    };
    let mut out = format!(
        "<p><strong>{} ms</strong> total <span class=\"note\">at {}</span></p><dl class=\"phases\">",
        ms(c.total),
        Esc(&c.time)
    );
    let max = if c.total > 0.0 { c.total } else { 1.0 };
    for (p, secs) in PHASES.iter().zip(c.phases) {
        let _ = write!(
            out,
            "<dt>{p}</dt><dd><meter min=\"0\" max=\"{max}\" value=\"{secs}\" \
             title=\"{p}\">{} ms</meter> <span class=\"phase-ms\">{} ms</span></dd>",
            ms(secs),
            ms(secs)
        );
    }
    out.push_str("</dl>");
    out
}

#[cfg(test)]
#[path = "serverless_tests.rs"]
mod tests;
