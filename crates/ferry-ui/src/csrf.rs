//! Cross-site request forgery: every form of a session carries the
//! session's CSRF token in a hidden `csrf` field, and every POST is checked
//! against it (besides the same-origin rule, `ferry_api::guard::
//! check_same_origin`). The comparison takes the same time wherever the
//! first difference is.

/// The hidden form field holding the token.
pub const FIELD: &str = "csrf";

/// Whether `given` (from the form) is the session's token `expected`.
pub fn matches(expected: &str, given: Option<&str>) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where to go after logging in: `next` when it is a path of the UI (not
/// another site: `//evil`, `/\evil`, `https://…`), else the overview.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if (n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?"))
                && !n.contains('\\')
                && !n.contains("//")
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n
        }
        _ => "/ui",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sessions_token_matches() {
        assert!(matches("abc", Some("abc")));
        assert!(!matches("abc", Some("abd")));
        assert!(!matches("abc", Some("ab")));
        assert!(!matches("abc", None));
        assert!(!matches("", Some("")), "an empty token never matches");
    }

    #[test]
    fn login_only_returns_to_the_uis_own_pages() {
        assert_eq!(safe_next(Some("/ui/apps?env=dev")), "/ui/apps?env=dev");
        assert_eq!(safe_next(Some("/ui")), "/ui");
        for bad in [
            "//evil.example/ui",
            "https://evil.example/ui",
            "/ui//evil",
            "/ui/\\evil",
            "/uix",
            "/api/v1/tokens",
            "/ui/a b",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui", "{bad}");
        }
        assert_eq!(safe_next(None), "/ui");
    }
}
