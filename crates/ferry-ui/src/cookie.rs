//! The session cookie: `ferry_session`, HttpOnly, SameSite=Strict, Path=/ui,
//! Secure when the listener speaks TLS, living as long as a session may.

use axum::http::{HeaderMap, HeaderValue, header};

/// The cookie's name.
pub const NAME: &str = "ferry_session";

/// The session identifier the browser sent, if any.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == NAME)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for session `id` (URL-safe base64, nothing to quote).
pub fn set(id: &str, secure: bool, max_age: u64) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = format!("{NAME}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| clear(false))
}

/// `Set-Cookie` that removes the cookie.
pub fn clear(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{NAME}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .expect("a constant cookie is a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let plain = set("abc", false, 60);
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("ferry_session=abc;"));
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=60"] {
            assert!(plain.contains(attr), "{plain}");
        }
        assert!(!plain.contains("Secure"));
        assert!(set("abc", true, 60).to_str().unwrap().ends_with("; Secure"));
        assert!(clear(false).to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn the_session_is_read_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; ferry_session=xyz ; b=2".parse().unwrap(),
        );
        assert_eq!(session_id(&h), Some("xyz"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "ferry_session=".parse().unwrap());
        assert_eq!(session_id(&h), None);
    }
}
