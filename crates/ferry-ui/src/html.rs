//! HTML building: every piece of data reaches a page through [`Esc`]
//! (text and attribute values) or [`Url`] (a path or query component), so
//! an application called `<script>` is shown, never run. Pages are plain
//! `String`s written with `write!`; the shell around them is [`layout`].

use std::fmt::{self, Display, Write as _};

/// Text or an attribute value, escaped for HTML.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// A path segment or query value, percent-encoded (everything but RFC
/// 3986's unreserved characters). Put it inside an attribute: the result
/// holds no character HTML would treat specially.
#[derive(Debug, Clone, Copy)]
pub struct Url<'a>(pub &'a str);

impl Display for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                f.write_char(b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// Who is looking, as the pages need it.
#[derive(Debug, Clone)]
pub struct Viewer<'a> {
    /// The token's name.
    pub name: &'a str,
    /// Its role (`viewer`, `deployer`, `admin`).
    pub role: &'a str,
    /// The session's CSRF token, put into every form.
    pub csrf: &'a str,
}

/// Which item of the navigation is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Apps,
    Serverless,
    Pipelines,
    Registry,
    Traffic,
    Pods,
    None,
}

/// What the page shell needs besides the body.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    pub title: &'a str,
    pub region: &'a str,
    pub nav: Nav,
    /// The logged-in viewer; `None` on the login page.
    pub viewer: Option<Viewer<'a>>,
    /// The server-sent events URL the page follows (already escaped for an
    /// attribute by the caller through [`Url`]).
    pub live: Option<String>,
}

/// A whole document: head, navigation, `body`, and the script.
pub fn layout(page: &Page<'_>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let live = page
        .live
        .as_deref()
        .map(|l| format!(" data-live=\"{}\"", Esc(l)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · ferry {}</title>\
         <link rel=\"stylesheet\" href=\"/ui/static/ui.css\">\
         <script src=\"/ui/static/ui.js\" defer></script></head>\
         <body{live}><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header class=\"top\"><a class=\"brand\" href=\"/ui\">ferry</a>",
        Esc(page.title),
        Esc(page.region),
    );
    if !page.region.is_empty() {
        let _ = write!(
            out,
            "<span class=\"region\">region {}</span>",
            Esc(page.region)
        );
    }
    if let Some(v) = &page.viewer {
        let current = |n: Nav| {
            if n == page.nav {
                " aria-current=\"page\""
            } else {
                ""
            }
        };
        let _ = write!(
            out,
            "<nav aria-label=\"main\"><a href=\"/ui\"{}>Overview</a>\
             <a href=\"/ui/apps\"{}>Applications</a>\
             <a href=\"/ui/serverless\"{}>Serverless</a>\
             <a href=\"/ui/pipelines\"{}>Pipelines</a>\
             <a href=\"/ui/registry\"{}>Registry</a>\
             <a href=\"/ui/traffic\"{}>Traffic</a><a href=\"/ui/pods\"{}>Pods</a></nav>\
             <span class=\"who\">{} <span class=\"role\">{}</span></span>\
             <span id=\"live\" class=\"live\" aria-live=\"polite\"></span>\
             <form method=\"post\" action=\"/ui/logout\" class=\"inline\">{}\
             <button type=\"submit\">Log out</button></form>",
            current(Nav::Overview),
            current(Nav::Apps),
            current(Nav::Serverless),
            current(Nav::Pipelines),
            current(Nav::Registry),
            current(Nav::Traffic),
            current(Nav::Pods),
            Esc(v.name),
            Esc(v.role),
            csrf_field(v.csrf),
        );
    }
    let _ = writeln!(
        out,
        "</header><main id=\"main\">{body}</main></body></html>"
    );
    out
}

/// The hidden CSRF field of a form.
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        crate::csrf::FIELD,
        Esc(csrf)
    )
}

/// A badge for a health or sync word (its CSS class is the word in lower
/// case, so colours follow the state).
pub fn badge(word: &str) -> String {
    let class: String = word
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("<span class=\"badge b-{class}\">{}</span>", Esc(word))
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
