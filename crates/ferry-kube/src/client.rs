//! Connecting to a cluster: a kubeconfig file with an optional context, or
//! the pod's service account (in-cluster). Credentials are read by kube-rs
//! from the file; ferry logs the path, context and server only.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{Error, Result};

/// Where a cluster's credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSource {
    /// A kubeconfig file and, optionally, the context to use (else the
    /// file's current context).
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
    },
    /// The service account of the pod ferry runs in.
    InCluster,
}

impl ClusterSource {
    /// A kubeconfig source.
    pub fn kubeconfig(path: impl Into<PathBuf>, context: Option<&str>) -> Self {
        ClusterSource::Kubeconfig {
            path: path.into(),
            context: context.map(str::to_string),
        }
    }

    /// The source a topology's `spec.target.kubernetes` names (its
    /// kubeconfig already resolved against the topology's directory).
    pub fn from_spec(spec: &ferry_core::target_spec::KubernetesTarget) -> Self {
        match (&spec.kubeconfig, spec.in_cluster) {
            (Some(path), false) => Self::kubeconfig(path, spec.context.as_deref()),
            // Validation allows only one; without a file, the pod's account.
            _ => ClusterSource::InCluster,
        }
    }

    /// The client configuration (reads the file or the mounted account).
    pub async fn config(&self) -> Result<Config> {
        match self {
            ClusterSource::Kubeconfig { path, context } => {
                let fail = |message: String| Error::Kubeconfig {
                    path: path.clone(),
                    context: context.clone(),
                    message,
                };
                let kc = Kubeconfig::read_from(path).map_err(|e| fail(redact(&e)))?;
                let options = KubeConfigOptions {
                    context: context.clone(),
                    ..Default::default()
                };
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| fail(redact(&e)))
            }
            ClusterSource::InCluster => {
                Config::incluster().map_err(|e| Error::InCluster(redact(&e)))
            }
        }
    }

    /// A connected client (no request is made yet).
    pub async fn client(&self) -> Result<Client> {
        Ok(self.client_and_server().await?.0)
    }

    /// A connected client and the API server's URL (without user
    /// information, so it can be shown).
    pub async fn client_and_server(&self) -> Result<(Client, String)> {
        // The workspace builds rustls with more than one crypto backend, so
        // rustls cannot pick one by itself; ferry uses ring everywhere.
        // (Already installed by another component: that one stays.)
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = self.config().await?;
        let server = shown_url(&config.cluster_url);
        tracing::info!(source = %self, %server, "kubernetes target");
        let client = Client::try_from(config)
            .map_err(|e| Error::api("building the kubernetes client", e))?;
        Ok((client, server))
    }
}

impl std::fmt::Display for ClusterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterSource::Kubeconfig { path, context } => match context {
                Some(c) => write!(f, "{} (context {c})", path.display()),
                None => write!(f, "{}", path.display()),
            },
            ClusterSource::InCluster => f.write_str("in-cluster service account"),
        }
    }
}

/// A server URL as it may be shown: `user:password@` dropped.
pub(crate) fn shown_url(url: &http::Uri) -> String {
    let text = url.to_string();
    match (url.authority(), url.scheme_str()) {
        (Some(a), Some(scheme)) if a.as_str().contains('@') => {
            let host = a.as_str().rsplit('@').next().unwrap_or_default();
            let rest = url.path_and_query().map_or("", |p| p.as_str());
            format!("{scheme}://{host}{}", if rest == "/" { "" } else { rest })
        }
        _ => text.trim_end_matches('/').to_string(),
    }
}

/// A configuration error's text, cut before anything that could quote the
/// file's contents (kube-rs names the failing step, but a YAML error may
/// echo a line, and a line may hold a token).
fn redact(e: &dyn std::error::Error) -> String {
    let text = e.to_string();
    let lowered = text.to_ascii_lowercase();
    let secret_words = ["token", "password", "client-key", "-----begin"];
    if secret_words.iter().any(|w| lowered.contains(w)) {
        "the file could not be parsed (details withheld: they may quote credentials)".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topology_spec_becomes_a_source() {
        use ferry_core::target_spec::KubernetesTarget;
        let spec = KubernetesTarget {
            kubeconfig: Some("/etc/ferry/prod.yaml".into()),
            context: Some("prod".into()),
            ..Default::default()
        };
        assert_eq!(
            ClusterSource::from_spec(&spec),
            ClusterSource::kubeconfig("/etc/ferry/prod.yaml", Some("prod"))
        );
        let spec = KubernetesTarget {
            in_cluster: true,
            ..Default::default()
        };
        assert_eq!(ClusterSource::from_spec(&spec), ClusterSource::InCluster);
    }

    #[test]
    fn a_shown_url_has_no_user_information() {
        let u: http::Uri = "https://admin:sekrit@10.0.0.1:6443/".parse().unwrap();
        assert_eq!(shown_url(&u), "https://10.0.0.1:6443");
        let u: http::Uri = "https://127.0.0.1:6443".parse().unwrap();
        assert_eq!(shown_url(&u), "https://127.0.0.1:6443");
        let u: http::Uri = "https://u@k8s.example/prefix".parse().unwrap();
        assert_eq!(shown_url(&u), "https://k8s.example/prefix");
    }

    #[tokio::test]
    async fn in_cluster_outside_a_pod_says_what_to_do() {
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            return; // really in a pod: nothing to refuse
        }
        let e = ClusterSource::InCluster
            .config()
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("in-cluster"), "{e}");
        assert!(e.contains("name a kubeconfig"), "{e}");
    }

    #[tokio::test]
    async fn a_missing_file_names_path_and_context() {
        let src = ClusterSource::kubeconfig("/nonexistent/kubeconfig", Some("prod"));
        let e = src.config().await.unwrap_err().to_string();
        assert!(e.contains("/nonexistent/kubeconfig"), "{e}");
        assert!(e.contains("context `prod`"), "{e}");
    }

    #[tokio::test]
    async fn errors_never_quote_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kc");
        // A context that does not exist, in a file that holds a token.
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
             users: [{name: u, user: {token: sekrit-token-123}}]\n\
             contexts: [{name: ctx, context: {cluster: c, user: u}}]\ncurrent-context: ctx\n",
        )
        .unwrap();
        let e = ClusterSource::kubeconfig(&path, Some("nope"))
            .config()
            .await
            .unwrap_err()
            .to_string();
        assert!(!e.contains("sekrit-token-123"), "{e}");
        let ok = ClusterSource::kubeconfig(&path, None)
            .config()
            .await
            .unwrap();
        assert!(!format!("{ok:?}").contains("sekrit-token-123"));
    }
}
