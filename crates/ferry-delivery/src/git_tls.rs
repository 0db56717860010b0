//! A private CA for `https://` git sources (`spec.source.caFile`).
//!
//! gix's reqwest transport ignores `http.sslCAInfo` (only its curl backend
//! reads it) and trusts the built-in roots alone; it does offer a hook that
//! configures the reqwest client before it is built
//! (`http::reqwest::Options::configure_client`). This module loads the
//! PEM bundle once per fetch and hands the transport a hook that adds it to
//! the built-in roots. The file's content is never logged or put in an
//! error: errors name the file.

use std::any::Any;
use std::path::Path;
use std::sync::{Arc, Mutex};

use gix::protocol::transport::client::blocking_io::http;

use crate::error::Error;

/// The CA certificates of `path`, or why not (naming the file).
pub(crate) fn load(path: &Path) -> Result<Vec<gix_reqwest::Certificate>, Error> {
    let bad = |message: String| Error::CaFile {
        path: path.to_path_buf(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let certs = gix_reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| bad(format!("is not a PEM certificate bundle: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            "holds no PEM certificate (give the CA that signed the git server's certificate)"
                .into(),
        ));
    }
    Ok(certs)
}

/// The transport options of `repo` for `url` (as git configuration makes
/// them), with a client hook trusting `certs` besides the built-in roots.
pub(crate) fn transport_options(
    repo: &gix::Repository,
    url: &str,
    certs: Vec<gix_reqwest::Certificate>,
) -> Result<Box<dyn Any>, Error> {
    let configured = repo
        .transport_options(url, None)
        .map_err(|e| Error::GitObject {
            what: "transport options".into(),
            message: e.to_string(),
        })?;
    let mut opts = configured
        .and_then(|o| o.downcast::<http::Options>().ok())
        .map(|o| *o)
        .unwrap_or_default();
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| {
            Ok(builder.tls_certs_merge(certs.iter().cloned()))
        })),
        configure_request: None,
    };
    opts.backend = Some(Arc::new(Mutex::new(backend)) as Arc<Mutex<dyn Any + Send + Sync>>);
    Ok(Box::new(opts))
}
