//! The applications list: a filter form (a plain GET form, so the URL says
//! what is shown), one row per application and environment, and pages of
//! [`crate::view::PAGE_SIZE`] rows. The rows (`id="rows"`) are replaced by
//! live updates.

use std::fmt::Write as _;

use crate::html::{Esc, Url, badge};
use crate::view::{Filter, HEALTHS, Row, Rows, health_word, short_rev, sync_word};

/// The list's body; `envs` are the environment names the filter offers.
pub fn apps(rows: &Rows<'_>, filter: &Filter, envs: &[String]) -> String {
    let mut out = String::with_capacity(256 * rows.rows.len() + 4096);
    out.push_str("<h1>Applications</h1>");
    filter_form(&mut out, filter, envs);
    out.push_str(&table(rows, filter));
    out
}

fn filter_form(out: &mut String, f: &Filter, envs: &[String]) {
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/ui/apps\" class=\"filters\" role=\"search\">\
         <label>Name <input name=\"name\" value=\"{}\" type=\"search\"></label>\
         <label>Environment <select name=\"env\"><option value=\"\">any</option>",
        Esc(&f.name)
    );
    for e in envs {
        let sel = if *e == f.env { " selected" } else { "" };
        let _ = write!(out, "<option{sel}>{}</option>", Esc(e));
    }
    out.push_str(
        "</select></label><label>Health <select name=\"health\"><option value=\"\">any</option>",
    );
    for h in HEALTHS {
        let w = health_word(h);
        let sel = if w.eq_ignore_ascii_case(&f.health) {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option{sel}>{w}</option>");
    }
    out.push_str("</select></label><button type=\"submit\">Filter</button></form>");
}

/// The table with its count and page links (`id="rows"`).
pub fn table(rows: &Rows<'_>, filter: &Filter) -> String {
    let mut out = String::with_capacity(256 * rows.rows.len() + 1024);
    let _ = write!(
        out,
        "<div id=\"rows\"><p class=\"count\">{} matching · page {} of {}</p>\
         <div class=\"scroll\"><table class=\"apps\"><thead><tr>\
         <th scope=\"col\">Application</th><th scope=\"col\">Environment</th>\
         <th scope=\"col\">Sync</th><th scope=\"col\">Health</th>\
         <th scope=\"col\">Revision</th><th scope=\"col\">Problem</th></tr></thead><tbody>",
        rows.matched, rows.page, rows.pages
    );
    for r in &rows.rows {
        row(&mut out, r);
    }
    if rows.rows.is_empty() {
        out.push_str("<tr><td colspan=\"6\">No application matches.</td></tr>");
    }
    out.push_str("</tbody></table></div>");
    pager(&mut out, rows, filter);
    out.push_str("</div>");
    out
}

fn row(out: &mut String, r: &Row<'_>) {
    let app = &r.app.name;
    let Some(e) = r.env else {
        let _ = write!(
            out,
            "<tr><th scope=\"row\"><a href=\"/ui/apps/{}\">{}</a></th><td>-</td><td>{}</td>\
             <td>{}</td><td>-</td><td class=\"problem\">{}</td></tr>",
            Url(app),
            Esc(app),
            badge("Unknown"),
            badge("Unknown"),
            Esc(r
                .app
                .source_error
                .as_deref()
                .unwrap_or("not reconciled yet")),
        );
        return;
    };
    let problem = e
        .error
        .as_deref()
        .or(e.waiting.as_deref())
        .or(r.app.source_error.as_deref())
        .unwrap_or("");
    let _ = write!(
        out,
        "<tr><th scope=\"row\"><a href=\"/ui/apps/{}?env={}\">{}</a></th><td>{}</td>\
         <td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"problem\">{}</td></tr>",
        Url(app),
        Url(&e.environment),
        Esc(app),
        Esc(&e.environment),
        badge(sync_word(e.sync)),
        badge(health_word(e.health)),
        Esc(short_rev(e.synced_revision.as_deref())),
        Esc(problem),
    );
}

fn pager(out: &mut String, rows: &Rows<'_>, filter: &Filter) {
    out.push_str("<nav class=\"pager\" aria-label=\"pages\">");
    if rows.page > 1 {
        let _ = write!(
            out,
            "<a href=\"/ui/apps?{}\" rel=\"prev\">← Previous</a>",
            Esc(&filter.query(rows.page - 1))
        );
    }
    if rows.page < rows.pages {
        let _ = write!(
            out,
            "<a href=\"/ui/apps?{}\" rel=\"next\">Next →</a>",
            Esc(&filter.query(rows.page + 1))
        );
    }
    out.push_str("</nav>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{app, many};
    use ferry_delivery::health::Health;

    #[test]
    fn a_hostile_application_name_is_inert_text() {
        let apps = vec![app(
            "<script>alert(1)</script>",
            &[("dev", "uk")],
            Health::Healthy,
        )];
        let html = apps_page(&apps, &Filter::default());
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("href=\"/ui/apps/%3Cscript%3Ealert%281%29%3C%2Fscript%3E?env=dev\""));
    }

    #[test]
    fn the_list_links_pages_and_keeps_the_filter() {
        let apps = many(60);
        let f = Filter {
            env: "dev".into(),
            page: "1".into(),
            ..Filter::default()
        };
        let html = apps_page(&apps, &f);
        assert!(html.contains("60 matching · page 1 of 2"), "{html}");
        assert!(
            html.contains(
                "href=\"/ui/apps?name=&amp;env=dev&amp;health=&amp;page=2\" rel=\"next\""
            )
        );
        assert!(!html.contains("rel=\"prev\""));
        assert!(html.contains("<option selected>dev</option>"));
        assert_eq!(html.matches("<tr><th scope=\"row\">").count(), 50);
    }

    fn apps_page(apps: &[ferry_delivery::status::AppStatus], f: &Filter) -> String {
        let rows = crate::view::rows(apps, f);
        super::apps(&rows, f, &["dev".to_string(), "prod".to_string()])
    }
}
