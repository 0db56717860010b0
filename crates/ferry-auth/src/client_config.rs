//! The client config: a kubeconfig-like YAML file holding, per context, a
//! region's API URL, the CA that signs its certificate (for HTTPS) and a
//! bearer token. `ferry up` and `ferry demo` write it; every CLI verb reads
//! it. It lives at `$FERRY_CONFIG`, else `$XDG_CONFIG_HOME/ferry/config.yaml`,
//! else `~/.config/ferry/config.yaml`, mode 0600 in a 0700 directory.
//!
//! ```yaml
//! apiVersion: ferry.dev/v1alpha1
//! kind: Config
//! current-context: uk
//! contexts:
//! - name: uk
//!   server: http://127.0.0.1:7071
//!   token: ferry_…
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::fsutil::{create_private_dir, write_private};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(
        rename = "current-context",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub current_context: Option<String>,
    #[serde(default)]
    pub contexts: Vec<Context>,
}

/// One region as the CLI reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub name: String,
    /// The API's base URL (`http://127.0.0.1:7070`, `https://uk.example:7443`).
    pub server: String,
    /// PEM file of the CA that signs the server's certificate.
    #[serde(
        rename = "certificate-authority",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority: Option<PathBuf>,
    pub token: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            api_version: "ferry.dev/v1alpha1".into(),
            kind: "Config".into(),
            current_context: None,
            contexts: Vec::new(),
        }
    }
}

/// `http://127.0.0.1:7070/` and `http://127.0.0.1:7070` are the same server.
fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl ClientConfig {
    /// Where the file is: `$FERRY_CONFIG`, `$XDG_CONFIG_HOME/ferry/config.yaml`
    /// or `~/.config/ferry/config.yaml`.
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os("FERRY_CONFIG").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
            return PathBuf::from(x).join("ferry/config.yaml");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
        PathBuf::from(home).join(".config/ferry/config.yaml")
    }

    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<ClientConfig, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ClientConfig::default());
            }
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        serde_saphyr::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: format!("not a ferry client config: {e}"),
        })
    }

    /// Writes the file atomically, mode 0600 (its directory 0700 if ferry
    /// creates it).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            create_private_dir(dir)?;
        }
        let mut text = serde_saphyr::to_string(self).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        write_private(path, text.as_bytes())
    }

    /// Adds `ctx`, replacing a context of the same name.
    pub fn upsert(&mut self, ctx: Context) {
        match self.contexts.iter_mut().find(|c| c.name == ctx.name) {
            Some(c) => *c = ctx,
            None => self.contexts.push(ctx),
        }
    }

    /// The context by name.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// The context for a server URL (the first whose `server` matches).
    pub fn for_server(&self, server: &str) -> Option<&Context> {
        self.contexts
            .iter()
            .find(|c| same_server(&c.server, server))
    }

    /// The current context, if it names one that exists.
    pub fn current(&self) -> Option<&Context> {
        self.current_context
            .as_deref()
            .and_then(|n| self.context(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn ctx(name: &str, server: &str, token: &str) -> Context {
        Context {
            name: name.into(),
            server: server.into(),
            certificate_authority: None,
            token: token.into(),
        }
    }

    #[test]
    fn round_trips_and_is_private() {
        let tmp = ferry_test_support::temp_dir();
        let path = tmp.path().join("new/config.yaml");
        assert_eq!(ClientConfig::load(&path).unwrap(), ClientConfig::default());
        let mut c = ClientConfig::default();
        c.upsert(ctx("uk", "http://127.0.0.1:7071", "ferry_a"));
        c.upsert(ctx("shanghai", "http://127.0.0.1:7072/", "ferry_b"));
        c.upsert(ctx("uk", "http://127.0.0.1:7071", "ferry_c"));
        c.current_context = Some("uk".into());
        c.contexts[1].certificate_authority = Some("/data/tls/ca.crt".into());
        c.save(&path).unwrap();
        let back = ClientConfig::load(&path).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.current().unwrap().token, "ferry_c");
        assert_eq!(
            back.for_server("http://127.0.0.1:7072").unwrap().name,
            "shanghai"
        );
        assert!(back.for_server("http://127.0.0.1:7073").is_none());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("current-context") && text.contains("certificate-authority"));
    }

    #[test]
    fn a_file_that_is_not_a_config_names_itself() {
        let tmp = ferry_test_support::temp_dir();
        let path = tmp.path().join("config.yaml");
        std::fs::write(&path, "contexts: [{name: x}]\n").unwrap();
        let e = ClientConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("config.yaml") && e.contains("not a ferry client config"),
            "{e}"
        );
    }
}
