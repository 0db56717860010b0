//! The check `ferry up` makes before binding anything: a region's API or
//! registry listener may leave loopback only with TLS and authentication on.
//! Loopback listeners may stay plain HTTP. Each refusal names the topology
//! field to add.

use std::net::SocketAddr;

use ferry_core::topology::{Region, Topology};

use crate::Error;

/// Whether `addr` is reachable only from this host.
pub fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// Every exposed listener lacking TLS or authentication, as one error.
/// `auth_enabled` says whether the API checks bearer tokens.
pub(crate) fn check(topology: &Topology, auth_enabled: bool) -> Result<(), Error> {
    let problems: Vec<String> = topology
        .regions
        .iter()
        .flat_map(|r| region_problems(r, auth_enabled))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Exposed { problems })
    }
}

fn region_problems(region: &Region, auth_enabled: bool) -> Vec<String> {
    let name = &region.metadata.name;
    let l = &region.spec.listeners;
    let mut out = Vec::new();
    let exposed = |listener: &str, addr: SocketAddr, what: &str, fix: String| {
        format!(
            "region `{name}` would serve its {listener} listener on {addr}, beyond loopback, {what}: {fix}, \
             or bind spec.listeners.{listener} to 127.0.0.1"
        )
    };
    if !is_loopback(l.api) {
        if region.spec.tls.is_none() {
            out.push(exposed(
                "api",
                l.api,
                "without TLS",
                format!(
                    "add `tls: {{generate: true}}` under spec of Region `{name}` (field spec.tls; \
                     or spec.tls.certFile and spec.tls.keyFile)"
                ),
            ));
        }
        if !auth_enabled {
            out.push(exposed(
                "api",
                l.api,
                "without authentication",
                "this `ferry up` does not check API tokens".to_string(),
            ));
        }
    }
    if !is_loopback(l.registry) {
        let registry = region.spec.registry.clone().unwrap_or_default();
        if registry.tls.is_none() {
            out.push(exposed(
                "registry",
                l.registry,
                "without TLS",
                format!(
                    "add `tls: {{generate: true}}` under spec.registry of Region `{name}` (field spec.registry.tls)"
                ),
            ));
        }
        if registry.users.is_empty() && registry.robots.is_empty() {
            out.push(exposed(
                "registry",
                l.registry,
                "without authentication (a registry with no accounts is open to anyone)",
                format!(
                    "declare accounts in spec.registry.users or spec.registry.robots of Region `{name}`"
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(spec: &str) -> Topology {
        let text = format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n{spec}"
        );
        Topology::from_sources(&[("t.yaml".into(), text)]).unwrap()
    }

    const LOOPBACK: &str =
        "  listeners: {api: 127.0.0.1:7070, registry: '[::1]:5000', gateway: 0.0.0.0:8080}\n";
    const EXPOSED: &str =
        "  listeners: {api: 0.0.0.0:7070, registry: 192.0.2.1:5000, gateway: 127.0.0.1:8080}\n";
    const ACCOUNT: &str = "{name: ci, secretHash: x}";

    #[test]
    fn loopback_stays_plain_http_and_the_gateway_is_not_checked() {
        check(&topology(LOOPBACK), false).unwrap();
    }

    #[test]
    fn exposed_listeners_name_the_field_to_add() {
        let Err(Error::Exposed { problems }) = check(&topology(EXPOSED), true) else {
            panic!("exposed listeners were allowed");
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].contains("api listener on 0.0.0.0:7070")
                && problems[0].contains("spec.tls")
        );
        assert!(
            problems[1].contains("registry listener") && problems[1].contains("spec.registry.tls")
        );
        assert!(problems[2].contains("spec.registry.users or spec.registry.robots"));
        let err = check(&topology(EXPOSED), false).unwrap_err().to_string();
        assert!(err.contains("without authentication"), "{err}");
    }

    #[test]
    fn tls_and_auth_make_an_exposed_listener_acceptable() {
        let spec = format!(
            "{EXPOSED}  tls: {{generate: true}}\n  registry: {{tls: {{generate: true}}, robots: [{ACCOUNT}]}}\n"
        );
        check(&topology(&spec), true).unwrap();
        assert!(check(&topology(&spec), false).is_err());
    }
}
