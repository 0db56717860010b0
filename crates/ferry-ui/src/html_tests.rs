//! Tests of HTML escaping and the page shell.

use super::*;

#[test]
fn text_and_attributes_are_escaped() {
    let s = format!("{}", Esc(r#"<script>alert("x")</script> & 'y'"#));
    assert_eq!(
        s,
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
    );
    assert_eq!(format!("{}", Esc("plain-name")), "plain-name");
}

#[test]
fn url_components_hold_nothing_html_or_a_path_would_read() {
    assert_eq!(
        format!("{}", Url("a b/<c>?&\"'")),
        "a%20b%2F%3Cc%3E%3F%26%22%27"
    );
    assert_eq!(format!("{}", Url("web-1.x_y~")), "web-1.x_y~");
    assert_eq!(format!("{}", Url("é")), "%C3%A9");
}

#[test]
fn the_shell_escapes_the_viewer_and_carries_the_csrf_token() {
    let page = Page {
        title: "<b>t</b>",
        region: "uk",
        nav: Nav::Apps,
        viewer: Some(Viewer {
            name: "<img src=x onerror=alert(1)>",
            role: "viewer",
            csrf: "tok\"en",
        }),
        live: Some("/ui/events?view=list&page=2".into()),
    };
    let html = layout(&page, "<p>body</p>");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<b>t</b>"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains(r#"name="csrf" value="tok&quot;en""#));
    assert!(html.contains(r#"data-live="/ui/events?view=list&amp;page=2""#));
    assert!(html.contains(r#"<a href="/ui/apps" aria-current="page">"#));
    assert!(html.contains("<p>body</p>"));
}

#[test]
fn badges_take_their_class_from_the_word_only() {
    assert_eq!(
        badge("OutOfSync"),
        r#"<span class="badge b-outofsync">OutOfSync</span>"#
    );
    assert!(badge("\"><x").starts_with(r#"<span class="badge b-x">"#));
}
