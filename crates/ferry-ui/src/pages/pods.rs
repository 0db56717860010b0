//! The pods pages (pure): the region's pods in the namespaces the viewer
//! may read (the table, `#pods`, replaced by live updates), and one pod — its containers, its events, the tail of a
//! container's log (followed live: `data-log` names the stream that
//! appends to it) and, for tokens the API lets exec (admins), a form
//! running one command in a container with its output.

use std::fmt::Write as _;

use serde_json::Value;

use crate::html::{Esc, Url, badge, csrf_field};

/// One pod as the pages show it, from the runtime's object.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRow {
    pub namespace: String,
    pub name: String,
    pub phase: String,
    pub ready: usize,
    pub containers: Vec<ContainerRow>,
    pub ip: String,
    pub created: String,
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRow {
    pub name: String,
    pub image: String,
    pub ready: bool,
    pub restarts: u64,
}

fn text(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The row of a pod object.
pub fn row(pod: &Value) -> PodRow {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    let status = |name: &str| {
        statuses
            .into_iter()
            .flatten()
            .find(|s| s["name"].as_str() == Some(name))
    };
    let containers: Vec<ContainerRow> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            let s = status(&name);
            ContainerRow {
                image: c["image"].as_str().unwrap_or_default().into(),
                ready: s.and_then(|s| s["ready"].as_bool()).unwrap_or(false),
                restarts: s.and_then(|s| s["restartCount"].as_u64()).unwrap_or(0),
                name,
            }
        })
        .collect();
    PodRow {
        namespace: text(pod, "/metadata/namespace"),
        name: text(pod, "/metadata/name"),
        phase: Some(text(pod, "/status/phase"))
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "Pending".into()),
        ready: containers.iter().filter(|c| c.ready).count(),
        ip: text(pod, "/status/podIP"),
        created: text(pod, "/metadata/creationTimestamp"),
        containers,
    }
}

/// The path of a pod's page.
pub fn href(ns: &str, name: &str) -> String {
    format!("/ui/pods/{}/{}", Url(ns), Url(name))
}

/// The list page's body.
pub fn list(pods: &[PodRow]) -> String {
    format!("<h1>Pods</h1>{}", table(pods))
}

/// The list's table (`id="pods"`, replaced by live updates).
pub fn table(pods: &[PodRow]) -> String {
    let mut out = String::from("<div id=\"pods\">");
    if pods.is_empty() {
        out.push_str("<p>No pods in the namespaces you can see.</p></div>");
        return out;
    }
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Namespace</th>\
         <th scope=\"col\">Pod</th><th scope=\"col\">Phase</th><th scope=\"col\" class=\"num\">Ready</th>\
         <th scope=\"col\" class=\"num\">Restarts</th><th scope=\"col\">Created</th></tr></thead><tbody>",
    );
    for p in pods {
        let restarts: u64 = p.containers.iter().map(|c| c.restarts).sum();
        let _ = write!(
            out,
            "<tr><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td><td class=\"num\">{}/{}</td>\
             <td class=\"num\">{restarts}</td><td>{}</td></tr>",
            Esc(&p.namespace),
            href(&p.namespace, &p.name),
            Esc(&p.name),
            badge(&p.phase),
            p.ready,
            p.containers.len(),
            Esc(&p.created),
        );
    }
    out.push_str("</tbody></table></div></div>");
    out
}

/// One event about the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub time: String,
    pub type_: String,
    pub reason: String,
    pub message: String,
}

/// The pod page's log section.
#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    pub container: String,
    /// The tail, or why there is none.
    pub text: Result<String, String>,
    /// Where the live stream starts (the log's size when read).
    pub offset: u64,
}

/// An exec's command line and its exit code, stdout and stderr (or why
/// it did not run).
pub type Exec<'a> = (&'a str, Result<(i32, String, String), String>);

/// What one pod page shows.
#[derive(Debug, Clone)]
pub struct PodPage<'a> {
    pub pod: &'a PodRow,
    pub events: &'a [EventRow],
    pub log: &'a Log,
    /// The session's CSRF token when the viewer may exec, else `None`.
    pub exec_csrf: Option<&'a str>,
    /// The last exec's command and output (or error).
    pub exec: Option<Exec<'a>>,
}

/// The pod page's body.
pub fn pod(p: &PodPage<'_>) -> String {
    let pod = p.pod;
    let base = href(&pod.namespace, &pod.name);
    let mut out = format!(
        "<h1>{}</h1><dl class=\"state\"><dt>Namespace</dt><dd>{}</dd><dt>Phase</dt><dd>{}</dd>\
         <dt>IP</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd></dl><h2>Containers</h2><ul>",
        Esc(&pod.name),
        Esc(&pod.namespace),
        badge(&pod.phase),
        Esc(&pod.ip),
        Esc(&pod.created),
    );
    for c in &pod.containers {
        let _ = write!(
            out,
            "<li><a href=\"{base}?container={}\"><code>{}</code></a> {} · {} · restarts {}</li>",
            Url(&c.name),
            Esc(&c.name),
            Esc(&c.image),
            if c.ready { "ready" } else { "not ready" },
            c.restarts
        );
    }
    out.push_str("</ul>");
    log_section(&mut out, &base, p.log);
    if let Some(csrf) = p.exec_csrf {
        exec_section(&mut out, &base, csrf, p);
    }
    events_section(&mut out, p.events);
    out
}

fn log_section(out: &mut String, base: &str, log: &Log) {
    let _ = write!(out, "<h2>Log of <code>{}</code></h2>", Esc(&log.container));
    match &log.text {
        Ok(t) => {
            let _ = write!(
                out,
                "<pre id=\"log\" class=\"log\" tabindex=\"0\" data-log=\"{base}/logs?container={}&amp;since={}\">{}</pre>",
                Url(&log.container),
                log.offset,
                Esc(t)
            );
        }
        Err(why) => {
            let _ = write!(out, "<p class=\"note\">{}</p>", Esc(why));
        }
    }
}

fn exec_section(out: &mut String, base: &str, csrf: &str, p: &PodPage<'_>) {
    let _ = write!(
        out,
        "<h2>Run a command</h2><form method=\"post\" action=\"{base}/exec\" class=\"exec\">{}\
         <input type=\"hidden\" name=\"container\" value=\"{}\">\
         <label for=\"command\">Command (words split at spaces)</label> \
         <input id=\"command\" name=\"command\" required value=\"{}\"> \
         <button type=\"submit\">Run</button></form>",
        csrf_field(csrf),
        Esc(&p.log.container),
        Esc(p.exec.as_ref().map_or("", |e| e.0)),
    );
    match &p.exec {
        Some((_, Ok((code, stdout, stderr)))) => {
            let _ = write!(
                out,
                "<p>Exit code <strong>{code}</strong></p><pre id=\"exec-out\" class=\"log\">{}{}</pre>",
                Esc(stdout),
                Esc(stderr)
            );
        }
        Some((_, Err(e))) => {
            let _ = write!(out, "<p class=\"error\" role=\"alert\">{}</p>", Esc(e));
        }
        None => {}
    }
}

fn events_section(out: &mut String, events: &[EventRow]) {
    out.push_str("<h2>Events</h2>");
    if events.is_empty() {
        out.push_str("<p class=\"note\">No events.</p>");
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Type</th>\
         <th scope=\"col\">Reason</th><th scope=\"col\">Message</th></tr></thead><tbody>",
    );
    for e in events {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            Esc(&e.time),
            Esc(&e.type_),
            Esc(&e.reason),
            Esc(&e.message)
        );
    }
    out.push_str("</tbody></table></div>");
}

#[cfg(test)]
#[path = "pods_tests.rs"]
mod tests;
