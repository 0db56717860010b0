//! The route table, route group by route group, and the scope checks.

use super::*;

fn token(role: Role, scope: Scope) -> Need {
    Need::Token { role, scope }
}

fn ns(n: &str) -> Scope {
    Scope::Namespace(n.into())
}

fn who(role: Role, namespaces: &[&str], apps: &[&str]) -> Identity {
    Identity {
        name: "t".into(),
        role,
        namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
        apps: apps.iter().map(|s| s.to_string()).collect(),
        service_account: None,
    }
}

#[test]
fn health_metrics_and_the_webhook_are_open() {
    for p in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(need(&Method::GET, p, None), Need::Open, "{p}");
    }
    assert_eq!(need(&Method::POST, "/api/v1/hooks/git", None), Need::Open);
    assert_ne!(need(&Method::POST, "/metrics", None), Need::Open);
    assert_ne!(need(&Method::GET, "/api/v1/hooks/git", None), Need::Open);
}

#[test]
fn the_web_ui_has_its_own_sessions_and_nothing_else_borrows_its_prefix() {
    for (m, p) in [(Method::GET, "/ui"), (Method::POST, "/ui/apps/web/sync")] {
        assert_eq!(need(&m, p, None), Need::Open, "{m} {p}");
    }
    assert_ne!(need(&Method::GET, "/uix", None), Need::Open);
    assert_ne!(need(&Method::POST, "/api/v1/ui", None), Need::Open);
}

#[test]
fn runtime_routes() {
    let g = |p: &str, q: Option<&str>| need(&Method::GET, p, q);
    let post = |p: &str| need(&Method::POST, p, None);
    assert_eq!(
        g("/api/v1/objects/pods", Some("namespace=web")),
        token(Role::Viewer, ns("web"))
    );
    assert_eq!(
        g("/api/v1/objects/pods", None),
        token(Role::Viewer, Scope::Cluster)
    );
    assert_eq!(
        g("/api/v1/objects/pods", Some("namespace=*")),
        token(Role::Viewer, Scope::Cluster)
    );
    assert_eq!(
        g("/api/v1/objects/secrets/web/db", None),
        token(Role::Viewer, ns("web"))
    );
    assert_eq!(
        need(&Method::DELETE, "/api/v1/objects/deployments/web/ui", None),
        token(Role::Deployer, ns("web"))
    );
    assert_eq!(
        need(&Method::DELETE, "/api/v1/objects/namespaces/_/web", None),
        token(Role::Deployer, Scope::NamespaceObject("web".into()))
    );
    assert_eq!(post("/api/v1/apply"), token(Role::Deployer, Scope::Handler));
    assert_eq!(post("/api/v1/exec/web/ui-1"), token(Role::Admin, ns("web")));
    assert_eq!(
        post("/api/v1/portforward/web/ui-1/8080"),
        token(Role::Admin, ns("web")),
        "port-forward is pods/portforward create: admin, in the pod's namespace"
    );
    assert_eq!(
        post("/api/v1/rollout/web/ui/restart"),
        token(Role::Deployer, ns("web"))
    );
    assert_eq!(
        post("/api/v1/scale/web/ui"),
        token(Role::Deployer, ns("web"))
    );
    assert_eq!(
        post("/api/v1/eviction/web/ui-1"),
        token(Role::Deployer, ns("web")),
        "an eviction deletes a pod, as a deployer may"
    );
    assert_eq!(
        post("/api/v1/cordon/uk"),
        token(Role::Admin, Scope::Cluster),
        "cordoning the node touches every namespace"
    );
    assert_eq!(
        g("/api/v1/logs/web/ui-1", None),
        token(Role::Viewer, ns("web"))
    );
    assert_eq!(
        g("/api/v1/events", Some("namespace=web&object=x")),
        token(Role::Viewer, ns("web"))
    );
}

#[test]
fn delivery_replication_gateway_and_token_routes() {
    let g = |p: &str| need(&Method::GET, p, None);
    let post = |p: &str| need(&Method::POST, p, None);
    assert_eq!(g("/api/v1/apps"), token(Role::Viewer, Scope::Handler));
    assert_eq!(
        g("/api/v1/apps/shop/diff"),
        token(Role::Viewer, Scope::App("shop".into()))
    );
    for verb in ["sync", "rollback", "promote"] {
        assert_eq!(
            post(&format!("/api/v1/apps/shop/{verb}")),
            token(Role::Deployer, Scope::App("shop".into()))
        );
    }
    assert_eq!(
        g("/api/v1/pipelines/runs/7"),
        token(Role::Viewer, Scope::Handler)
    );
    assert_eq!(
        g("/api/v1/replication"),
        token(Role::Viewer, Scope::Cluster)
    );
    assert_eq!(
        post("/api/v1/replication/reconcile"),
        token(Role::Deployer, Scope::Cluster)
    );
    assert_eq!(
        need(&Method::PUT, "/api/v1/regions/sh/status", None),
        token(Role::Deployer, Scope::Cluster)
    );
    assert_eq!(
        post("/api/v1/regions/sh/status"),
        token(Role::Admin, Scope::Cluster)
    );
    assert_eq!(g("/api/v1/routes"), token(Role::Viewer, Scope::Cluster));
    assert_eq!(g("/api/v1/tokens"), token(Role::Admin, Scope::Cluster));
    assert_eq!(post("/api/v1/tokens"), token(Role::Admin, Scope::Cluster));
    assert_eq!(
        need(&Method::DELETE, "/api/v1/tokens/ci", None),
        token(Role::Admin, Scope::Cluster)
    );
    assert_eq!(g("/api/v1"), token(Role::Viewer, Scope::Handler));
}

#[test]
fn the_fleet_is_read_by_unscoped_viewers_only() {
    for p in ["/api/v1/clusters", "/api/v1/clusters/prod"] {
        assert_eq!(
            need(&Method::GET, p, None),
            token(Role::Viewer, Scope::Cluster)
        );
        assert_eq!(
            need(&Method::POST, p, None),
            token(Role::Admin, Scope::Cluster)
        );
    }
    let viewer = who(Role::Viewer, &[], &[]);
    assert!(check(&viewer, Role::Viewer, &Scope::Cluster).is_ok());
    let scoped = who(Role::Admin, &[], &["shop"]);
    assert!(check(&scoped, Role::Viewer, &Scope::Cluster).is_err());
}

#[test]
fn unknown_routes_default_to_viewer_reads_and_admin_writes() {
    assert_eq!(
        need(&Method::GET, "/api/v1/something-new", None),
        token(Role::Viewer, Scope::Cluster)
    );
    assert_eq!(
        need(&Method::PUT, "/api/v1/something-new", None),
        token(Role::Admin, Scope::Cluster)
    );
    assert_eq!(
        need(&Method::POST, "/api/v1/objects/pods/web/x", None),
        token(Role::Admin, Scope::Cluster)
    );
    assert_eq!(
        need(&Method::POST, "/elsewhere", None),
        token(Role::Admin, Scope::Cluster)
    );
}

#[test]
fn roles_are_checked_before_scope() {
    let viewer = who(Role::Viewer, &[], &[]);
    let e = check(&viewer, Role::Deployer, &ns("web")).unwrap_err();
    assert!(
        e.0.contains("viewer") && e.0.contains("needs deployer"),
        "{}",
        e.0
    );
    assert!(check(&viewer, Role::Viewer, &Scope::Cluster).is_ok());
    let admin = who(Role::Admin, &[], &[]);
    assert!(check(&admin, Role::Admin, &Scope::Cluster).is_ok());
}

#[test]
fn scoped_tokens_stay_in_their_namespaces_and_apps() {
    let t = who(Role::Deployer, &["web"], &["shop"]);
    assert!(check(&t, Role::Deployer, &ns("web")).is_ok());
    let e = check(&t, Role::Deployer, &ns("kube")).unwrap_err();
    assert!(e.0.contains("namespace `kube` is outside it"), "{}", e.0);
    assert!(check(&t, Role::Deployer, &Scope::App("shop".into())).is_ok());
    assert!(check(&t, Role::Deployer, &Scope::App("blog".into())).is_err());
    let e = check(&t, Role::Viewer, &Scope::Cluster).unwrap_err();
    assert!(e.0.contains("-n NAMESPACE"), "{}", e.0);
    assert!(check(&t, Role::Deployer, &Scope::NamespaceObject("web".into())).is_ok());
    assert!(check(&t, Role::Deployer, &Scope::NamespaceObject("kube".into())).is_err());
    assert!(check(&t, Role::Viewer, &Scope::Handler).is_ok());
    let apps_only = who(Role::Deployer, &[], &["shop"]);
    assert!(check(&apps_only, Role::Viewer, &ns("default")).is_err());
    assert!(
        check(
            &apps_only,
            Role::Viewer,
            &Scope::NamespaceObject("x".into())
        )
        .is_err()
    );
}
