//! The region's API as pods reach it, as Kubernetes' `kubernetes` Service
//! of `default`: an address below the Service range, port 443, names in
//! every pod's hosts file, and the `KUBERNETES_SERVICE_*` variables. The
//! runtime forwards it as TCP to the API listener on the host (TLS, when
//! the API has it, stays end to end), so a pod's service-account token
//! ([`crate::pod::token`]) reaches ferry's API from inside the pod.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ferry_core::mesh::{Endpoint, ServiceEntry, ServiceKey, ServicePort};

/// The names pods reach the region's API by: the API listener answers to
/// them and its generated certificate names them.
pub const KUBERNETES_NAMES: [&str; 4] = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// The port pods reach the region's API on, as Kubernetes' `kubernetes`
/// Service serves it.
pub const KUBERNETES_PORT: u16 = 443;

/// The address of the `kubernetes` Service: `.1` of the Service range's
/// /24 (127.77.0.1 by default), below every address Services are given.
pub fn kubernetes_vip(base: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base) & !0xff | 1)
}

/// The `kubernetes` Service of `default`: the region's API (`api`, on the
/// host) on port 443 of [`kubernetes_vip`] in every pod, forwarded as TCP
/// (a TLS API stays end to end). A stored Service of that name wins.
pub fn kubernetes_service(base: Ipv4Addr, api: SocketAddr) -> ServiceEntry {
    let key = ServiceKey {
        namespace: "default".into(),
        name: "kubernetes".into(),
    };
    let mut api_ip = api.ip();
    if api_ip.is_unspecified() {
        api_ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    }
    ServiceEntry {
        key,
        vip: IpAddr::V4(kubernetes_vip(base)),
        ports: vec![ServicePort {
            name: Some("https".into()),
            port: KUBERNETES_PORT,
            node_port: None,
            app_protocol: None,
        }],
        endpoints: vec![Endpoint {
            pod: String::new(),
            labels: BTreeMap::new(),
            ready: true,
            netns: None,
            ip: api_ip,
            ports: [(KUBERNETES_PORT, api.port())].into_iter().collect(),
        }],
    }
}

/// The variables the kubelet sets for the `kubernetes` Service.
pub fn environment(base: Ipv4Addr) -> Vec<(String, String)> {
    let host = kubernetes_vip(base).to_string();
    let port = KUBERNETES_PORT.to_string();
    vec![
        ("KUBERNETES_SERVICE_HOST".into(), host.clone()),
        ("KUBERNETES_SERVICE_PORT".into(), port.clone()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), port.clone()),
        ("KUBERNETES_PORT".into(), format!("tcp://{host}:{port}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Protocol, protocol_of};

    #[test]
    fn the_kubernetes_service_sits_below_the_service_range() {
        let base = Ipv4Addr::new(127, 77, 0, 10);
        assert_eq!(kubernetes_vip(base), Ipv4Addr::new(127, 77, 0, 1));
        let api: SocketAddr = "0.0.0.0:8443".parse().unwrap();
        let s = kubernetes_service(base, api);
        assert_eq!(s.key.to_string(), "default/kubernetes");
        let target = s.endpoints[0].target(KUBERNETES_PORT).unwrap();
        assert_eq!(target, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(protocol_of(&s.ports[0]), Protocol::Tcp);
    }

    #[test]
    fn the_environment_names_the_service() {
        let env: BTreeMap<String, String> = environment(Ipv4Addr::new(127, 77, 0, 10))
            .into_iter()
            .collect();
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "127.77.0.1");
        assert_eq!(env["KUBERNETES_PORT"], "tcp://127.77.0.1:443");
    }
}
