//! `spec.endpoints` of a `Region`: how the processes running the topology's
//! other regions reach this one when each region runs in its own process
//! (`ferry up --region`). `spec.listeners` says where the region's own
//! process binds; `spec.endpoints` says what the others dial — often the
//! same address, but not behind NAT, a load balancer or (in tests) an
//! emulated WAN link.
//!
//! ```yaml
//! spec:
//!   endpoints:
//!     api: https://shanghai.example:7070       # promotion gates ask it for health
//!     registry: https://shanghai.example:5000  # replication pushes to it
//!     caFile: shanghai-ca.crt      # the CA that signed both (its tls/ca.crt)
//!     tokenFile: shanghai.token    # an API token of this region (viewer suffices)
//! ```
//!
//! Secrets are never inline: the token is read from `tokenFile` when it is
//! used (so it can be rotated without a restart) and never logged; registry
//! logins for replication stay on the `ReplicationRule`'s `credentials`.
//! Relative paths start at the topology file's directory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Problems;
use crate::yaml::Document;

/// How other regions' processes reach a region; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegionEndpoints {
    /// `https://host:port` of the region's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// `https://host:port` of the region's OCI registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// PEM CA certificate to trust for both URLs (omit for a public CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A file holding an API token of this region, presented by the other
    /// regions' processes (a viewer token is enough for promotion gates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

impl RegionEndpoints {
    /// Checks both URLs: `https://`, or `http://` to a loopback host only
    /// (a plain link beyond the host would carry the token in the clear).
    pub(crate) fn validate(&self, doc: &Document, problems: &mut Problems) {
        for (field, url) in [("api", &self.api), ("registry", &self.registry)] {
            let Some(url) = url else { continue };
            if let Err(m) = check_url(url) {
                problems.push(doc.problem(&format!("spec.endpoints.{field}"), m));
            }
        }
        if self.api.is_none() && self.token_file.is_some() {
            problems.push(doc.problem(
                "spec.endpoints.tokenFile",
                "a token is only used with `api`: add spec.endpoints.api",
            ));
        }
    }
}

/// Why `url` is not a usable endpoint URL, if it is not.
fn check_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not a URL: write https://host:port"))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', ' ', '?', '#']) {
        return Err(format!(
            "`{url}`: give scheme, host and port only (https://host:port)"
        ));
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(format!(
            "`{url}` is plain HTTP beyond loopback: use https:// (the region serves TLS with spec.tls)"
        )),
        other => Err(format!("`{url}`: unknown scheme `{other}`, use https://")),
    }
}

fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use crate::topology::Topology;

    fn region(endpoints: &str) -> Result<Topology, crate::Error> {
        let text = format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: shanghai}}\nspec:\n  listeners: {{api: 127.0.0.1:7070, registry: 127.0.0.1:5000, gateway: 127.0.0.1:8080}}\n  endpoints: {endpoints}\n"
        );
        Topology::from_sources(&[("t.yaml".into(), text)])
    }

    #[test]
    fn endpoints_are_read_with_their_files() {
        let t = region(
            "{api: 'https://10.0.0.2:7070', registry: 'https://sh.example:5000/', caFile: ca.crt, tokenFile: sh.token}",
        )
        .unwrap();
        let e = t.regions[0].spec.endpoints.clone().unwrap();
        assert_eq!(e.api.as_deref(), Some("https://10.0.0.2:7070"));
        assert_eq!(e.ca_file.unwrap().to_str(), Some("ca.crt"));
        assert_eq!(e.token_file.unwrap().to_str(), Some("sh.token"));
        assert!(region("{api: 'http://127.0.0.1:7070'}").is_ok());
    }

    #[test]
    fn plain_http_beyond_loopback_and_bad_urls_name_the_field() {
        let plain = region("{api: 'http://10.0.0.2:7070'}")
            .unwrap_err()
            .to_string();
        assert!(plain.contains("spec.endpoints.api"), "{plain}");
        assert!(plain.contains("use https://"), "{plain}");
        let path = region("{registry: 'https://r.example:5000/v2'}")
            .unwrap_err()
            .to_string();
        assert!(path.contains("spec.endpoints.registry"), "{path}");
        let token = region("{tokenFile: t}").unwrap_err().to_string();
        assert!(token.contains("spec.endpoints.tokenFile"), "{token}");
        let unknown = region("{api: 'https://a:1', token: x}")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("token"), "{unknown}");
    }
}
