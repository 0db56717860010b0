//! Tests of [`crate::netpol`] and [`crate::netpol_spec`] with the policies
//! of the Kubernetes documentation ("Network Policies" concept page).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::{Labels, PodView, Source, World};
use crate::netpol_spec;

fn world(namespaces: &[(&str, &[(&str, &str)])], yaml: &str) -> World {
    let docs = ferry_core::yaml::parse_documents("np.yaml", yaml).unwrap();
    let policies = docs
        .iter()
        .map(|d| {
            let np: NetworkPolicy = d.decode().unwrap();
            let ns = np.metadata.namespace.as_deref().unwrap_or("default");
            netpol_spec::policy(ns, np.metadata.name.as_deref().unwrap(), &np).unwrap()
        })
        .collect();
    World {
        policies,
        namespaces: namespaces
            .iter()
            .map(|(n, l)| (n.to_string(), labels(l)))
            .collect(),
    }
}

fn labels(l: &[(&str, &str)]) -> Labels {
    l.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether pod `from` (namespace, labels) may reach pod `to` on `port`.
fn allowed(w: &World, from: (&str, &Labels), to: (&str, &Labels), port: u16) -> bool {
    let src = PodView {
        namespace: from.0,
        name: "src",
        labels: from.1,
    };
    let dst = PodView {
        namespace: to.0,
        name: "dst",
        labels: to.1,
    };
    let named: BTreeMap<String, u16> = [("http".to_string(), 8080)].into_iter().collect();
    w.decide(Source::Pod(src), Some(dst), &named, port).allowed
}

fn external(w: &World, ip: &str, to: (&str, &Labels), port: u16) -> bool {
    let dst = PodView {
        namespace: to.0,
        name: "dst",
        labels: to.1,
    };
    let ip: IpAddr = ip.parse().unwrap();
    w.decide(Source::External(ip), Some(dst), &BTreeMap::new(), port)
        .allowed
}

const DENY_INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: default-deny-ingress}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";

#[test]
fn no_policy_leaves_everything_open() {
    let w = world(&[], "");
    let any = labels(&[("app", "x")]);
    assert!(allowed(&w, ("default", &any), ("default", &any), 80));
}

#[test]
fn default_deny_all_ingress() {
    let w = world(&[], DENY_INGRESS);
    let any = labels(&[("app", "x")]);
    assert!(!allowed(&w, ("default", &any), ("default", &any), 80));
    // Other namespaces are not selected.
    assert!(allowed(&w, ("default", &any), ("other", &any), 80));
    // Egress is not restricted by an ingress-only policy.
    let d = world(&[], DENY_INGRESS).decide(
        Source::Pod(PodView {
            namespace: "other",
            name: "a",
            labels: &any,
        }),
        Some(PodView {
            namespace: "default",
            name: "b",
            labels: &any,
        }),
        &BTreeMap::new(),
        80,
    );
    assert!(
        d.reason.contains("ingress of pod default/b"),
        "{}",
        d.reason
    );
    assert!(
        d.reason.contains("default/default-deny-ingress"),
        "{}",
        d.reason
    );
}

#[test]
fn allow_all_ingress_overrides_deny_by_union() {
    let allow = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all-ingress}\nspec:\n  podSelector: {}\n  ingress:\n  - {}\n  policyTypes: [Ingress]\n";
    let w = world(&[], &format!("{DENY_INGRESS}---\n{allow}"));
    let any = labels(&[]);
    assert!(allowed(&w, ("other", &any), ("default", &any), 80));
    assert!(external(&w, "203.0.113.9", ("default", &any), 80));
}

#[test]
fn default_deny_egress() {
    let w = world(
        &[],
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: default-deny-egress}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n",
    );
    let any = labels(&[]);
    assert!(!allowed(&w, ("default", &any), ("other", &any), 80));
    // Ingress into `default` stays open.
    assert!(allowed(&w, ("other", &any), ("default", &any), 80));
}

#[test]
fn policy_types_default_to_ingress_plus_egress_when_egress_rules_exist() {
    // No policyTypes, egress rules present: Ingress and Egress (ingress
    // then denies everything, as there are no ingress rules).
    let w = world(
        &[],
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  egress:\n  - ports: [{port: 53}]\n",
    );
    let db = labels(&[("app", "db")]);
    let web = labels(&[("app", "web")]);
    assert!(!allowed(&w, ("default", &web), ("default", &db), 5432));
    assert!(allowed(&w, ("default", &db), ("default", &web), 53));
    assert!(!allowed(&w, ("default", &db), ("default", &web), 80));
}

const TEST_NETWORK_POLICY: &str = r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 5978
"#;

#[test]
fn the_documentations_test_network_policy() {
    let w = world(
        &[("myproject", &[("project", "myproject")])],
        TEST_NETWORK_POLICY,
    );
    let db = labels(&[("role", "db")]);
    let frontend = labels(&[("role", "frontend")]);
    let other = labels(&[("role", "other")]);
    // From frontend pods of `default`, on 6379 only.
    assert!(allowed(&w, ("default", &frontend), ("default", &db), 6379));
    assert!(!allowed(&w, ("default", &frontend), ("default", &db), 6380));
    assert!(!allowed(&w, ("default", &other), ("default", &db), 6379));
    // Any pod of a namespace labelled project=myproject.
    assert!(allowed(&w, ("myproject", &other), ("default", &db), 6379));
    // Frontend pods of other namespaces are not in the podSelector's scope.
    assert!(!allowed(
        &w,
        ("elsewhere", &frontend),
        ("default", &db),
        6379
    ));
    // ipBlock: outside clients by address, with the exception.
    assert!(external(&w, "172.17.0.5", ("default", &db), 6379));
    assert!(!external(&w, "172.17.1.5", ("default", &db), 6379));
    assert!(!external(&w, "10.1.0.1", ("default", &db), 6379));
    // Egress of db pods: only to 10.0.0.0/24, which no pod is in.
    assert!(!allowed(&w, ("default", &db), ("default", &frontend), 5978));
    // Pods not selected stay open.
    assert!(allowed(&w, ("default", &frontend), ("default", &other), 1));
}

#[test]
fn namespace_and_pod_selector_in_one_peer_is_and_in_two_is_or() {
    let and = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: and}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {user: alice}}\n      podSelector: {matchLabels: {role: client}}\n";
    let or = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: or}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {user: alice}}\n    - podSelector: {matchLabels: {role: client}}\n";
    let nss: &[(&str, &[(&str, &str)])] = &[("alice", &[("user", "alice")]), ("bob", &[])];
    let client = labels(&[("role", "client")]);
    let plain = labels(&[]);
    let to = ("default", &plain);
    let w = world(nss, and);
    assert!(allowed(&w, ("alice", &client), to, 80));
    assert!(!allowed(&w, ("alice", &plain), to, 80));
    assert!(!allowed(&w, ("default", &client), to, 80));
    let w = world(nss, or);
    assert!(allowed(&w, ("alice", &plain), to, 80));
    assert!(allowed(&w, ("default", &client), to, 80));
    assert!(!allowed(&w, ("bob", &client), to, 80));
}

#[test]
fn namespaces_carry_their_name_label_and_named_ports_and_ranges_match() {
    let p = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: team}}\n    ports:\n    - port: http\n    - {port: 9000, endPort: 9010}\n    - {port: 53, protocol: UDP}\n";
    let w = world(&[], p);
    let any = labels(&[]);
    assert!(allowed(&w, ("team", &any), ("default", &any), 8080));
    assert!(allowed(&w, ("team", &any), ("default", &any), 9010));
    assert!(!allowed(&w, ("team", &any), ("default", &any), 9011));
    // UDP rules do not cover TCP connections.
    assert!(!allowed(&w, ("team", &any), ("default", &any), 53));
    assert!(!allowed(&w, ("other", &any), ("default", &any), 8080));
}

fn problems(yaml: &str) -> Vec<(String, String)> {
    let d = ferry_core::yaml::parse_documents("np.yaml", yaml)
        .unwrap()
        .remove(0);
    let np: NetworkPolicy = d.decode().unwrap();
    netpol_spec::policy("default", "p", &np).unwrap_err()
}

#[test]
fn bad_policies_are_refused_with_field_paths() {
    let head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {}\n";
    let bad = problems(&format!(
        "{head}  policyTypes: [Ingress, Sideways]\n  ingress:\n  - ports:\n    - {{protocol: HTTP, port: 80}}\n    - {{endPort: 90}}\n    - {{port: web, endPort: 90}}\n    - {{port: 100, endPort: 90}}\n    from:\n    - {{}}\n    - ipBlock: {{cidr: 10.0.0.0/33}}\n    - ipBlock: {{cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}\n      podSelector: {{}}\n    - ipBlock: {{cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}\n    - podSelector: {{matchExpressions: [{{key: a, operator: Is}}, {{key: b, operator: In}}]}}\n"
    ));
    let paths: Vec<&str> = bad.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.policyTypes[1]",
            "spec.ingress[0].from[0]",
            "spec.ingress[0].from[1].ipBlock.cidr",
            "spec.ingress[0].from[2]",
            "spec.ingress[0].from[3].ipBlock.except[0]",
            "spec.ingress[0].from[4].podSelector.matchExpressions[0].operator",
            "spec.ingress[0].from[4].podSelector.matchExpressions[1].values",
            "spec.ingress[0].ports[0].protocol",
            "spec.ingress[0].ports[1].endPort",
            "spec.ingress[0].ports[2].endPort",
            "spec.ingress[0].ports[3].endPort",
        ],
        "{bad:#?}"
    );
    assert!(bad[7].1.contains("Unsupported value: \"HTTP\""));
    assert_eq!(
        bad[8].1,
        "may not be specified when `port` is not specified"
    );
}

#[test]
fn a_destination_that_is_no_pod_has_no_ingress_policy_and_only_open_egress() {
    let any = labels(&[]);
    let src = Source::Pod(PodView {
        namespace: "default",
        name: "a",
        labels: &any,
    });
    let none = BTreeMap::new();
    let w = world(&[], DENY_INGRESS);
    assert!(w.decide(src, None, &none, 443).allowed);
    let deny_egress = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: e}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{podSelector: {}}]\n";
    let w = world(&[], deny_egress);
    let d = w.decide(src, None, &none, 443);
    assert!(
        !d.allowed && d.reason.contains("a host address"),
        "{}",
        d.reason
    );
    let open_egress = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: e}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{port: 443}]\n";
    assert!(
        world(&[], open_egress)
            .decide(src, None, &none, 443)
            .allowed
    );
}
