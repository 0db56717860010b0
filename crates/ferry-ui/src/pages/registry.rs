//! The registry browser (pure): this region's repositories, one page of a
//! repository's tags with digest, media type, sizes and referrers, and
//! which regions hold each image — this one, and the target of every
//! replication rule of this region that copies it: `replicated` when no
//! copy is pending (the rule's reconcile pass compares source and target
//! tag by tag), `pending` with the last error while a copy waits, and
//! `not checked yet` before the rule's first pass. Pages are bounded
//! ([`REPOS_PER_PAGE`], [`TAGS_PER_PAGE`]) whatever the registry holds.
//! Each page is one element (`id="repos"`, `id="tags"`) the live stream
//! replaces when an image event or the replication state moves.

use std::fmt::Write as _;

use ferry_registry::browse::{TagInfo, TagPage};

use crate::html::{Esc, Url, badge};

/// Repositories per page.
pub const REPOS_PER_PAGE: usize = 100;
/// Tags per page.
pub const TAGS_PER_PAGE: usize = 50;
/// Referrers listed per tag (the rest are counted).
pub const REFERRERS_SHOWN: usize = 5;

/// Where one image is, as far as this region knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replica {
    /// In this region's registry.
    Here,
    Replicated,
    /// A copy waits (attempts so far, the last error).
    Pending(u32, Option<String>),
    /// The rule has not compared source and target yet.
    Unchecked,
}

/// A region (or registry URL) and whether it holds the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub region: String,
    pub rule: String,
    pub state: Replica,
}

/// A copy waiting in the replication queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCopy {
    pub rule: String,
    pub repository: String,
    pub reference: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Where `repository:tag` is: here, then each rule's target (`targets` are
/// the rules copying it with their target; `checked` tells whether a rule
/// has had a reconcile pass).
pub fn held(
    region: &str,
    repository: &str,
    tag: &str,
    targets: &[(String, String)],
    pending: &[PendingCopy],
    checked: impl Fn(&str) -> bool,
) -> Vec<Held> {
    let mut out = vec![Held {
        region: region.to_string(),
        rule: String::new(),
        state: Replica::Here,
    }];
    for (rule, target) in targets {
        let waiting = pending
            .iter()
            .find(|p| p.rule == *rule && p.repository == repository && p.reference == tag);
        let state = match waiting {
            Some(p) => Replica::Pending(p.attempts, p.last_error.clone()),
            None if checked(rule) => Replica::Replicated,
            None => Replica::Unchecked,
        };
        out.push(Held {
            region: target.clone(),
            rule: rule.clone(),
            state,
        });
    }
    out
}

/// Bytes as people read them (`1.2 MiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `s` cut to at most `n` bytes (at a character boundary), `…` marking a cut.
fn cut(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn pager(out: &mut String, base: &str, page: usize, pages: usize) {
    out.push_str("<nav class=\"pager\" aria-label=\"pages\">");
    if page > 1 {
        let _ = write!(out, "<a href=\"{base}page={}\">Previous</a>", page - 1);
    }
    let _ = write!(out, "<span class=\"count\">page {page} of {pages}</span>");
    if page < pages {
        let _ = write!(out, "<a href=\"{base}page={}\">Next</a>", page + 1);
    }
    out.push_str("</nav>");
}

/// The repositories page: page `page` of `repos` (all, sorted).
pub fn repositories(repos: &[String], page: usize) -> String {
    let pages = repos.len().div_ceil(REPOS_PER_PAGE).max(1);
    let mut out = format!(
        "<div id=\"repos\"><h1>Registry</h1><p class=\"count\">{}</p>\
         <div class=\"scroll\"><table><thead><tr><th scope=\"col\">Repository</th></tr></thead><tbody>",
        plural(repos.len(), "repository").replace("repositorys", "repositories")
    );
    for r in repos
        .iter()
        .skip((page - 1) * REPOS_PER_PAGE)
        .take(REPOS_PER_PAGE)
    {
        let _ = write!(
            out,
            "<tr><td><a href=\"/ui/registry/repo?name={}\">{}</a></td></tr>",
            Url(r),
            Esc(r)
        );
    }
    if repos.is_empty() {
        out.push_str("<tr><td>No repositories you can see in this region's registry.</td></tr>");
    }
    out.push_str("</tbody></table></div>");
    pager(&mut out, "/ui/registry?", page, pages);
    out.push_str("</div>");
    out
}

/// One tag of a repository with where it is held.
#[derive(Debug, Clone)]
pub struct TagRow {
    pub info: TagInfo,
    pub held: Vec<Held>,
}

/// A repository's page: one page of its tags.
pub fn repository(name: &str, page: &TagPage, rows: &[TagRow], at: usize) -> String {
    let pages = page.total.div_ceil(TAGS_PER_PAGE).max(1);
    let mut out = format!(
        "<div id=\"tags\"><h1>{} <span class=\"note\">repository</span></h1><p class=\"count\">{}</p>\
         <div class=\"scroll\"><table><thead><tr><th scope=\"col\">Tag</th>\
         <th scope=\"col\">Digest</th><th scope=\"col\">Type</th>\
         <th scope=\"col\" class=\"num\">Size</th><th scope=\"col\">Referrers</th>\
         <th scope=\"col\">Regions</th></tr></thead><tbody>",
        Esc(name),
        plural(page.total, "tag")
    );
    for r in rows {
        tag_row(&mut out, r);
    }
    if rows.is_empty() {
        out.push_str("<tr><td colspan=\"6\">No tags on this page.</td></tr>");
    }
    out.push_str("</tbody></table></div>");
    pager(
        &mut out,
        &format!("/ui/registry/repo?name={}&amp;", Url(name)),
        at,
        pages,
    );
    out.push_str("</div>");
    out
}

fn tag_row(out: &mut String, r: &TagRow) {
    let i = &r.info;
    let kind = i.media_type.rsplit('.').nth(1).unwrap_or(&i.media_type);
    let _ = write!(
        out,
        "<tr><th scope=\"row\">{}</th><td><code title=\"{}\">{}</code></td><td>{}",
        Esc(&i.tag),
        Esc(&i.digest),
        Esc(i.digest.get(..19).unwrap_or(&i.digest)),
        Esc(kind)
    );
    if !i.platforms.is_empty() {
        let _ = write!(
            out,
            " <span class=\"note\">{}</span>",
            Esc(&i.platforms.join(", "))
        );
    }
    let _ = write!(
        out,
        "</td><td class=\"num\" title=\"manifest {} B\">{}</td><td>",
        i.manifest_size,
        bytes(i.content_size + i.manifest_size)
    );
    for f in i.referrers.iter().take(REFERRERS_SHOWN) {
        let _ = write!(
            out,
            "<div><code title=\"{}\">{}</code> {} <span class=\"note\">{}</span></div>",
            Esc(&f.digest),
            Esc(f.digest.get(..19).unwrap_or(&f.digest)),
            Esc(&f.artifact_type),
            bytes(f.size)
        );
    }
    if i.referrers.len() > REFERRERS_SHOWN {
        let _ = write!(
            out,
            "<div class=\"note\">and {} more</div>",
            i.referrers.len() - REFERRERS_SHOWN
        );
    }
    out.push_str("</td><td class=\"regions\">");
    for h in &r.held {
        let (word, note) = match &h.state {
            Replica::Here => ("held", "this region".to_string()),
            Replica::Replicated => ("held", format!("by {}", h.rule)),
            Replica::Pending(n, e) => (
                "pending",
                format!(
                    "copy pending, {n} attempts{}",
                    e.as_deref()
                        .map(|e| format!(": {}", cut(e, 160)))
                        .unwrap_or_default()
                ),
            ),
            Replica::Unchecked => ("unchecked", format!("{} not checked yet", h.rule)),
        };
        let _ = write!(
            out,
            "<div>{} {} <span class=\"note\">{}</span></div>",
            Esc(&h.region),
            badge(word),
            Esc(&note)
        );
    }
    out.push_str("</td></tr>");
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
