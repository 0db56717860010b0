//! `spec.tls` of a `Region`: HTTPS for the region's API listener, with a
//! certificate ferry makes itself (`generate: true`: its own CA under
//! `<data dir>/tls/`, reused across restarts, and a server certificate for
//! `localhost`, the loopback and bound addresses and `hostnames`) or one the
//! topology names (`certFile` and `keyFile`, PEM). The same check serves
//! `spec.registry.tls`, whose `generate: true` asks for a registry
//! certificate from the same CA.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Problems};
use crate::yaml::Document;

/// TLS of a region's API listener; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsSpec {
    /// Make a CA and a server certificate under `<data dir>/tls/`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generate: bool,
    /// A PEM certificate chain (with `keyFile`, instead of `generate`);
    /// relative paths start at the topology file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The PEM private key of `certFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The CA clients should trust for `certFile` (omit for a public CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Further DNS names or IP addresses clients use: written into a
    /// generated certificate and accepted in the `Host` header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
}

/// Checks the choice between `generate` and files, and each hostname.
/// `path` is the field's path (`spec.tls`); `files` says whether `certFile`
/// and `keyFile` are given (empty or absent counts as not given).
pub(crate) fn validate_choice(
    doc: &Document,
    path: &str,
    generate: bool,
    files: (bool, bool),
    hostnames: &[String],
    problems: &mut Problems,
) {
    match (generate, files) {
        (true, (false, false)) | (false, (true, true)) => {}
        (true, _) => problems.push(doc.problem(
            &format!("{path}.generate"),
            "give either `generate: true` or `certFile` and `keyFile`, not both",
        )),
        (false, (false, false)) => problems.push(doc.problem(
            path,
            "say `generate: true` (ferry makes a CA and certificate) or name `certFile` and `keyFile`",
        )),
        (false, (true, false)) => problems.push(doc.problem(
            &format!("{path}.keyFile"),
            "missing: `certFile` needs the `keyFile` of its private key",
        )),
        (false, (false, true)) => problems.push(doc.problem(
            &format!("{path}.certFile"),
            "missing: `keyFile` needs the `certFile` it belongs to",
        )),
    }
    for (i, h) in hostnames.iter().enumerate() {
        if let Err(m) = check_hostname(h) {
            problems.push(doc.problem(&format!("{path}.hostnames[{i}]"), m.to_string()));
        }
    }
}

impl TlsSpec {
    pub(crate) fn validate(&self, doc: &Document, problems: &mut Problems) {
        if self.generate && self.ca_file.is_some() {
            problems.push(doc.problem(
                "spec.tls.caFile",
                "only with `certFile`: a generated certificate's CA is `<data dir>/tls/ca.crt`",
            ));
        }
        validate_choice(
            doc,
            "spec.tls",
            self.generate,
            (self.cert_file.is_some(), self.key_file.is_some()),
            &self.hostnames,
            problems,
        );
    }
}

/// An IP address, or a DNS name of lowercase-insensitive letters, digits
/// and hyphens in dot-separated labels of 1 to 63 characters.
fn check_hostname(h: &str) -> Result<(), Error> {
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if h.len() <= 253 && h.split('.').all(ok_label) {
        Ok(())
    } else {
        Err(Error::Hostname(h.to_string()))
    }
}
