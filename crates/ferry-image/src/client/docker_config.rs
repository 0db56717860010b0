//! Credentials from Docker's `config.json` when a client is given none:
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, entry
//! `auths.<registry>` with `auth` (base64 `user:password`) or `username`
//! and `password`. Keys may carry a scheme and a path
//! (`https://index.docker.io/v1/`); Docker Hub's aliases match each other.
//! Credential helpers (`credsStore`, `credHelpers`) are not run.

use std::path::PathBuf;

use base64::Engine as _;

use super::Credentials;

/// Where `config.json` is, from `DOCKER_CONFIG` or `HOME` as `env` gives them.
pub fn config_path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = env("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// The credentials the process's Docker config holds for `registry`
/// (`host[:port]`), if any. An unreadable or malformed file counts as none.
pub fn lookup(registry: &str) -> Option<Credentials> {
    let path = config_path(|k| std::env::var(k).ok())?;
    let text = std::fs::read_to_string(&path).ok()?;
    let found = from_config(&text, registry);
    if found.is_some() {
        tracing::debug!(registry, config = %path.display(), "using credentials from the docker config");
    }
    found
}

/// The credentials `config.json` text holds for `registry`.
pub fn from_config(text: &str, registry: &str) -> Option<Credentials> {
    let config: serde_json::Value = serde_json::from_str(text).ok()?;
    let want = normalize(registry);
    let (_, entry) = config
        .get("auths")?
        .as_object()?
        .iter()
        .find(|(key, _)| normalize(key) == want)?;
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str())
        && !auth.is_empty()
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (username, password) = decoded.split_once(':')?;
        return Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Some(Credentials {
        username: field("username")?,
        password: field("password")?,
    })
}

/// `host[:port]` of a config key or registry name, Docker Hub's aliases
/// folded into one.
fn normalize(key: &str) -> String {
    let key = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{
        "auths": {
            "127.0.0.1:5000": {"auth": "YWxpY2U6czNjcmV0"},
            "https://index.docker.io/v1/": {"auth": "Ym9iOmh1YjpwYXNz"},
            "reg.example.com": {"username": "carol", "password": "pw"},
            "broken.example.com": {"auth": "not base64!"}
        },
        "credsStore": "desktop"
    }"#;

    fn creds(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials {
            username: u.into(),
            password: p.into(),
        })
    }

    #[test]
    fn finds_entries_by_host_scheme_path_and_hub_alias() {
        assert_eq!(
            from_config(CONFIG, "127.0.0.1:5000"),
            creds("alice", "s3cret")
        );
        // A password may contain ':'; only the first separates.
        assert_eq!(from_config(CONFIG, "docker.io"), creds("bob", "hub:pass"));
        assert_eq!(
            from_config(CONFIG, "registry-1.docker.io"),
            creds("bob", "hub:pass")
        );
        assert_eq!(
            from_config(CONFIG, "https://reg.example.com"),
            creds("carol", "pw")
        );
        assert_eq!(from_config(CONFIG, "127.0.0.1:5001"), None);
        assert_eq!(from_config(CONFIG, "broken.example.com"), None);
        assert_eq!(from_config("not json", "127.0.0.1:5000"), None);
    }

    #[test]
    fn docker_config_dir_wins_over_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            config_path(env(&[("DOCKER_CONFIG", "/etc/dc"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/etc/dc/config.json"))
        );
        assert_eq!(
            config_path(env(&[("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(config_path(env(&[])), None);
    }
}
