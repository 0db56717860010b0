//! The one error type of `ferry-kube`. Messages name the object or file
//! and say what to do; none carries a credential (kubeconfig errors name
//! the file and context only, never its contents).

use std::path::PathBuf;

/// Errors of the Kubernetes target.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be read or does not name a usable context.
    #[error("kubeconfig {path}{}: {message}; check the file and the context name", context.as_deref().map(|c| format!(" (context `{c}`)")).unwrap_or_default())]
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
        message: String,
    },
    /// No service account mounted (in-cluster configuration asked for).
    #[error("in-cluster configuration: {0}; run ferry in a pod or name a kubeconfig")]
    InCluster(String),
    /// The API server does not serve this kind (after re-discovery).
    #[error(
        "{object}: the cluster serves no kind `{kind}` in `{api_version}`; install its CustomResourceDefinition first or fix apiVersion"
    )]
    UnknownKind {
        object: String,
        api_version: String,
        kind: String,
    },
    /// Another field manager owns fields ferry applies; see [`crate::conflict`].
    #[error("{message}")]
    Conflict {
        object: String,
        managers: Vec<String>,
        fields: Vec<String>,
        message: String,
        /// The API server's own message.
        server: String,
    },
    /// The ApplySet parent belongs to another tool.
    #[error(
        "ApplySet parent secret/{name} in namespace {namespace} is managed by `{tooling}`, not ferry; rename the app or remove that set"
    )]
    ForeignApplySet {
        name: String,
        namespace: String,
        tooling: String,
    },
    /// A CustomResourceDefinition did not become Established in time.
    #[error(
        "CustomResourceDefinition {name} was not Established within {seconds} s; check `kubectl describe crd {name}`"
    )]
    NotEstablished { name: String, seconds: u64 },
    /// An object in the batch lacks what ferry needs (name, kind…).
    #[error("{object}: {message}")]
    Invalid { object: String, message: String },
    /// The API server could not be reached: the connection was refused or
    /// cut, or it answered that it is not ready (502, 503, 504).
    #[error("{what}: the API server is unreachable: {source}")]
    Unreachable {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// The API server refused or failed a request.
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
}

impl Error {
    /// The error of a failed request: [`Error::Unreachable`] when the
    /// server could not be reached, else [`Error::Api`].
    pub(crate) fn api(what: impl Into<String>, source: kube::Error) -> Self {
        let (what, source) = (what.into(), Box::new(source));
        if unreachable(&source) {
            Error::Unreachable { what, source }
        } else {
            Error::Api { what, source }
        }
    }
}

/// True when `e` says the API server could not be reached or is not ready
/// (rather than that it refused the request).
pub(crate) fn unreachable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(r) => matches!(r.code, 502..=504),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

impl From<Error> for ferry_delivery::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Unreachable { .. } => ferry_delivery::Error::Unreachable(e.to_string()),
            e => ferry_delivery::Error::Target(e.to_string()),
        }
    }
}

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
