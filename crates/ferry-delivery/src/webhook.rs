//! Git push webhooks from GitHub, GitLab and Gitea: verification (HMAC
//! SHA-256 of the body for GitHub's `X-Hub-Signature-256` and Gitea's
//! `X-Gitea-Signature`; the shared token for GitLab's `X-Gitlab-Token`) and
//! the repository URLs, ref and commit a push names, and the memory of
//! recent deliveries that makes a replayed one a no-op. Pure functions; the
//! HTTP handler is in `api.rs`.

use std::collections::{HashSet, VecDeque};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde_json::Value;
use sha2::Sha256;

use crate::error::{Error, Result};

/// What a push says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// `github`, `gitlab`, `gitea` or `generic`.
    pub provider: &'static str,
    /// Every URL the payload gives for the repository.
    pub urls: Vec<String>,
    /// `refs/heads/dev`.
    pub git_ref: Option<String>,
    pub after: Option<String>,
}

fn provider(headers: &HeaderMap) -> &'static str {
    if headers.contains_key("x-gitea-event") || headers.contains_key("x-gitea-signature") {
        "gitea"
    } else if headers.contains_key("x-gitlab-event") || headers.contains_key("x-gitlab-token") {
        "gitlab"
    } else if headers.contains_key("x-github-event") || headers.contains_key("x-hub-signature-256")
    {
        "github"
    } else {
        "generic"
    }
}

/// Verifies the request against `secret` (no secret: accept).
pub fn verify(headers: &HeaderMap, body: &[u8], secret: Option<&str>) -> Result<()> {
    let Some(secret) = secret else { return Ok(()) };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    // The token's raw bytes: a secret with non-ASCII characters arrives as
    // its UTF-8 bytes, which `to_str` would refuse (found by fuzzing).
    if let Some(token) = headers.get("x-gitlab-token") {
        return if constant_eq(token.as_bytes(), secret.as_bytes()) {
            Ok(())
        } else {
            Err(Error::Webhook(
                "X-Gitlab-Token does not match the configured secret".into(),
            ))
        };
    }
    let sig = header("x-hub-signature-256")
        .map(|s| s.strip_prefix("sha256=").unwrap_or(s))
        .or_else(|| header("x-gitea-signature"))
        .ok_or_else(|| {
            Error::Webhook(
                "missing signature: send X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token"
                    .into(),
            )
        })?;
    let want =
        hex::decode(sig.trim()).map_err(|_| Error::Webhook("signature is not hex".into()))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(body);
    mac.verify_slice(&want)
        .map_err(|_| Error::Webhook("signature does not match the body and secret".into()))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signs `body` as GitHub does (for tests and `ferry` clients).
pub fn sign(body: &[u8], secret: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Parses a push payload of any of the supported providers.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Push> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::Webhook(format!("body is not JSON: {e}")))?;
    let mut urls = Vec::new();
    for obj in ["repository", "project"] {
        for field in [
            "clone_url",
            "html_url",
            "ssh_url",
            "git_http_url",
            "git_ssh_url",
            "url",
            "web_url",
            "git_url",
        ] {
            if let Some(u) = v
                .get(obj)
                .and_then(|o| o.get(field))
                .and_then(Value::as_str)
            {
                urls.push(u.to_string());
            }
        }
    }
    if urls.is_empty() {
        return Err(Error::Webhook(
            "payload names no repository (repository.clone_url or project.git_http_url)".into(),
        ));
    }
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Push {
        provider: provider(headers),
        urls,
        git_ref: s("ref"),
        after: s("after").or_else(|| s("checkout_sha")),
    })
}

/// Headers naming a delivery, in the order they are trusted: GitHub's and
/// Gitea's delivery GUIDs, GitLab's per-request UUID, then GitLab's event
/// UUID (shared by the hooks one event triggers).
const DELIVERY_HEADERS: [&str; 4] = [
    "x-github-delivery",
    "x-gitea-delivery",
    "x-gitlab-webhook-uuid",
    "x-gitlab-event-uuid",
];

/// The delivery ID the git host gave this request, if any.
pub fn delivery_id(headers: &HeaderMap) -> Option<String> {
    DELIVERY_HEADERS.iter().find_map(|h| {
        headers
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    })
}

/// What identifies a delivery: its ID, and its body signature when one was
/// verified (so a captured signed body replayed under a new ID is caught).
pub fn delivery_keys(headers: &HeaderMap, secret: Option<&str>) -> Vec<String> {
    let mut keys: Vec<String> = delivery_id(headers)
        .map(|id| format!("id:{id}"))
        .into_iter()
        .collect();
    if secret.is_some() {
        let sig = ["x-hub-signature-256", "x-gitea-signature"]
            .iter()
            .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()));
        if let Some(sig) = sig {
            let sig = sig
                .trim()
                .trim_start_matches("sha256=")
                .to_ascii_lowercase();
            keys.push(format!("sig:{sig}"));
        }
    }
    keys
}

/// The most recent deliveries (bounded: the oldest are forgotten first).
#[derive(Debug)]
pub struct Deliveries {
    seen: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Deliveries {
    /// Remembers up to `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `keys`; false when any of them was seen before (a replay).
    pub fn first_time(&mut self, keys: &[String]) -> bool {
        if keys.iter().any(|k| self.seen.contains(k)) {
            return false;
        }
        for k in keys {
            if self.order.len() == self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.seen.remove(&old);
            }
            self.seen.insert(k.clone());
            self.order.push_back(k.clone());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: a GitLab secret with non-ASCII characters could
    /// never verify, since the header was read as visible ASCII only.
    #[test]
    fn a_gitlab_token_with_non_ascii_bytes_verifies() {
        let secret = "s\u{452}cret";
        let mut h = HeaderMap::new();
        h.insert(
            "x-gitlab-token",
            http::HeaderValue::from_bytes(secret.as_bytes()).unwrap(),
        );
        assert!(verify(&h, b"{}", Some(secret)).is_ok());
        assert!(verify(&h, b"{}", Some("other")).is_err());
    }

    #[test]
    fn deliveries_are_remembered_within_the_bound() {
        let mut d = Deliveries::new(2);
        let key = |s: &str| vec![format!("id:{s}")];
        assert!(d.first_time(&key("a")));
        assert!(!d.first_time(&key("a")));
        assert!(d.first_time(&key("b")));
        assert!(d.first_time(&key("c")));
        // `a` was the oldest and is forgotten; `b` and `c` are remembered.
        assert!(d.first_time(&key("a")));
        assert!(!d.first_time(&key("c")));
        assert!(d.first_time(&[]));
        let h = headers(&[
            ("x-gitlab-event-uuid", "e1"),
            ("x-gitlab-webhook-uuid", "w1"),
        ]);
        assert_eq!(delivery_id(&h).as_deref(), Some("w1"));
        let h = headers(&[
            ("x-hub-signature-256", "sha256=AB"),
            ("x-github-delivery", "g"),
        ]);
        assert_eq!(delivery_keys(&h, Some("k")), ["id:g", "sig:ab"]);
        assert_eq!(delivery_keys(&h, None), ["id:g"]);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const GITHUB: &str = r#"{"ref":"refs/heads/dev","after":"abc","repository":{"clone_url":"https://git.example/o/r.git","ssh_url":"git@git.example:o/r.git"}}"#;
    const GITLAB: &str = r#"{"ref":"refs/heads/master","checkout_sha":"def","project":{"git_http_url":"https://gl.example/o/r.git"}}"#;

    #[test]
    fn github_signature_is_checked() {
        let sig = sign(GITHUB.as_bytes(), "s3cret");
        let h = headers(&[("x-github-event", "push"), ("x-hub-signature-256", &sig)]);
        verify(&h, GITHUB.as_bytes(), Some("s3cret")).unwrap();
        assert!(verify(&h, GITHUB.as_bytes(), Some("other")).is_err());
        assert!(verify(&h, b"tampered", Some("s3cret")).is_err());
        let push = parse(&h, GITHUB.as_bytes()).unwrap();
        assert_eq!(push.provider, "github");
        assert_eq!(push.git_ref.as_deref(), Some("refs/heads/dev"));
        assert_eq!(push.urls.len(), 2);
    }

    #[test]
    fn gitea_and_gitlab() {
        let sig = sign(GITHUB.as_bytes(), "k");
        let h = headers(&[
            ("x-gitea-event", "push"),
            ("x-gitea-signature", sig.trim_start_matches("sha256=")),
        ]);
        verify(&h, GITHUB.as_bytes(), Some("k")).unwrap();
        assert_eq!(parse(&h, GITHUB.as_bytes()).unwrap().provider, "gitea");
        let h = headers(&[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "k")]);
        verify(&h, GITLAB.as_bytes(), Some("k")).unwrap();
        assert!(verify(&headers(&[("x-gitlab-token", "x")]), b"", Some("k")).is_err());
        let p = parse(&h, GITLAB.as_bytes()).unwrap();
        assert_eq!(p.after.as_deref(), Some("def"));
    }

    #[test]
    fn unsigned_is_rejected_when_a_secret_is_set() {
        let err = verify(&HeaderMap::new(), b"{}", Some("k")).unwrap_err();
        assert!(err.to_string().contains("missing signature"));
        verify(&HeaderMap::new(), b"{}", None).unwrap();
        assert!(parse(&HeaderMap::new(), b"{}").is_err());
        assert!(parse(&HeaderMap::new(), b"nope").is_err());
    }
}
