//! An application's page: a tab per environment, and for the chosen one its
//! state, the sync button, the object tree (Deployment → ReplicaSet → Pods,
//! Service, Ingress) with sync and health per object, and the sync history
//! with a rollback button per earlier successful sync, a link to the
//! live-versus-desired diff, and a promote button while a revision waits
//! at a manual approval gate. The environment's
//! section (`id="env"`) is replaced by live updates when the application's
//! status or the runtime's objects change (a pod ready, a ReplicaSet
//! scaled); it holds no relative time ("3 s ago"), only fixed timestamps,
//! so an unchanged section is never resent. Buttons show only when
//! the viewer's role allows them; the server checks again on every POST.

use std::fmt::Write as _;

use ferry_delivery::history::{HistoryEntry, Outcome};
use ferry_delivery::status::{AppStatus, EnvStatus};

use crate::html::{Esc, Url, badge, csrf_field};
use crate::tree::Node;
use crate::view::{health_word, short_rev, sync_word};

/// Everything the page shows.
#[derive(Debug)]
pub struct AppPage<'a> {
    pub app: &'a AppStatus,
    pub env: &'a EnvStatus,
    pub tree: &'a [Node],
    /// This environment's history, oldest first.
    pub history: &'a [HistoryEntry],
    pub can_sync: bool,
    pub can_rollback: bool,
    /// The viewer may approve a revision waiting at a manual gate.
    pub can_promote: bool,
    pub csrf: &'a str,
}

/// The page's body.
pub fn app(p: &AppPage<'_>) -> String {
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<p class=\"crumbs\"><a href=\"/ui/apps\">Applications</a> /</p><h1>{}</h1>\
         <p class=\"meta\">from <code>{}</code> path <code>{}</code></p>",
        Esc(&p.app.name),
        Esc(&p.app.repo_url),
        Esc(&p.app.path)
    );
    if let Some(e) = &p.app.source_error {
        let _ = write!(out, "<p class=\"error\" role=\"alert\">{}</p>", Esc(e));
    }
    out.push_str("<nav class=\"tabs\" aria-label=\"environments\">");
    for e in &p.app.environments {
        let current = if e.environment == p.env.environment {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<a href=\"/ui/apps/{}?env={}\"{current}>{} {}</a>",
            Url(&p.app.name),
            Url(&e.environment),
            Esc(&e.environment),
            badge(health_word(e.health))
        );
    }
    out.push_str("</nav>");
    out.push_str(&env_section(p));
    out
}

/// The chosen environment's section (`id="env"`).
pub fn env_section(p: &AppPage<'_>) -> String {
    let (app, env) = (&p.app.name, p.env);
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<section id=\"env\" aria-labelledby=\"env-h\"><h2 id=\"env-h\">{} <span class=\"note\">region {} · namespace {} · follows {}</span></h2>\
         <dl class=\"state\"><dt>Sync</dt><dd>{}</dd><dt>Health</dt><dd>{}</dd>\
         <dt>Synced</dt><dd><code>{}</code></dd><dt>Desired</dt><dd><code>{}</code></dd></dl>",
        Esc(&env.environment),
        Esc(&env.region),
        Esc(&env.namespace),
        Esc(&env.git_ref),
        badge(sync_word(env.sync)),
        badge(health_word(env.health)),
        Esc(short_rev(env.synced_revision.as_deref())),
        Esc(short_rev(env.desired_revision.as_deref())),
    );
    for (class, text) in [("waiting", &env.waiting), ("error", &env.error)] {
        if let Some(t) = text {
            let _ = write!(out, "<p class=\"{class}\" role=\"status\">{}</p>", Esc(t));
        }
    }
    let waits_for_approval = env
        .waiting
        .as_deref()
        .is_some_and(|w| w.contains("approval"));
    if p.can_promote && waits_for_approval {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/ui/apps/{}/promote\" class=\"inline\" \
             data-confirm=\"Promote {} to {}?\">{}\
             <input type=\"hidden\" name=\"env\" value=\"{}\">\
             <button type=\"submit\">Promote</button></form>",
            Url(app),
            Esc(short_rev(env.desired_revision.as_deref())),
            Esc(&env.environment),
            csrf_field(p.csrf),
            Esc(&env.environment)
        );
    }
    let _ = write!(
        out,
        "<p><a href=\"/ui/apps/{}/diff?env={}\">Diff live → desired</a></p>",
        Url(app),
        Url(&env.environment)
    );
    if p.can_sync {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/ui/apps/{}/sync\" class=\"inline\">{}\
             <input type=\"hidden\" name=\"env\" value=\"{}\">\
             <button type=\"submit\">Sync now</button></form>",
            Url(app),
            csrf_field(p.csrf),
            Esc(&env.environment)
        );
    }
    out.push_str("<h3>Objects</h3><ul class=\"tree\" role=\"tree\">");
    for n in p.tree {
        node(&mut out, n);
    }
    if p.tree.is_empty() {
        out.push_str("<li>Nothing applied yet.</li>");
    }
    out.push_str("</ul>");
    history(&mut out, p);
    out.push_str("</section>");
    out
}

fn node(out: &mut String, n: &Node) {
    let sync = n.sync.map(badge).unwrap_or_default();
    let _ = write!(
        out,
        "<li role=\"treeitem\"><span class=\"kind\">{}</span> <span class=\"name\">{}</span> {sync} {}",
        Esc(&n.kind),
        Esc(&n.name),
        badge(health_word(n.health)),
    );
    if let Some(w) = &n.why {
        let _ = write!(out, " <span class=\"why\">{}</span>", Esc(w));
    }
    if !n.children.is_empty() {
        out.push_str("<ul role=\"group\">");
        for c in &n.children {
            node(out, c);
        }
        out.push_str("</ul>");
    }
    out.push_str("</li>");
}

fn history(out: &mut String, p: &AppPage<'_>) {
    out.push_str(
        "<h3>History</h3><div class=\"scroll\"><table><thead><tr><th scope=\"col\">#</th>\
         <th scope=\"col\">Revision</th><th scope=\"col\">Trigger</th><th scope=\"col\">Outcome</th>\
         <th scope=\"col\">Started</th><th scope=\"col\">Took</th><th scope=\"col\"></th></tr></thead><tbody>",
    );
    let current = p.env.synced_revision.as_deref();
    for h in p.history.iter().rev() {
        let outcome = match h.outcome {
            Outcome::Succeeded => "Succeeded",
            Outcome::Failed => "Failed",
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>",
            h.id,
            Esc(short_rev(Some(&h.revision))),
            Esc(&h.trigger),
            badge(outcome),
            Esc(&started(h.started_ms)),
            h.duration_ms,
        );
        let earlier = h.outcome == Outcome::Succeeded && Some(h.revision.as_str()) != current;
        if p.can_rollback && earlier {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"/ui/apps/{}/rollback\" class=\"inline\" \
                 data-confirm=\"Roll {} back to {}?\">{}\
                 <input type=\"hidden\" name=\"env\" value=\"{}\">\
                 <input type=\"hidden\" name=\"id\" value=\"{}\">\
                 <button type=\"submit\">Roll back</button></form>",
                Url(&p.app.name),
                Esc(&p.env.environment),
                Esc(short_rev(Some(&h.revision))),
                csrf_field(p.csrf),
                Esc(&p.env.environment),
                h.id
            );
        }
        out.push_str("</td></tr>");
    }
    if p.history.is_empty() {
        out.push_str("<tr><td colspan=\"7\">No sync yet.</td></tr>");
    }
    out.push_str("</tbody></table></div>");
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn started(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(0);
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return "-".into();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
