//! Which fragments a change concerns, per view; and the pods and
//! serverless streams over a real runtime: a new pod arrives as a patch of
//! `#pods`, only within the viewer's namespaces, and a stream resuming
//! from an id before a change gets it at once.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use ferry_api::Role;
use ferry_auth::NewToken;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::routes::tests::World;

fn changed(apps: &[&str], topics: &[Topic]) -> Since {
    Since::Changed {
        apps: apps.iter().map(|a| a.to_string()).collect(),
        topics: topics.to_vec(),
    }
}

#[test]
fn each_view_re_renders_only_what_a_change_concerns() {
    use Fragment as F;
    let overview = View::Overview;
    assert_eq!(overview.fragments(&changed(&["web"], &[])), [F::Envs]);
    assert_eq!(
        overview.fragments(&changed(&[], &[Topic::Regions, Topic::Runtime])),
        [F::Regions, F::Map]
    );
    assert_eq!(
        overview.fragments(&changed(&[], &[Topic::Replication])),
        [F::Registry, F::Map]
    );
    assert_eq!(
        overview.fragments(&changed(&[], &[Topic::Registry, Topic::Runtime])),
        [],
        "an image event shows through replication's state, not by itself"
    );
    assert_eq!(
        overview.fragments(&Since::All),
        [F::Envs, F::Regions, F::Registry, F::Map]
    );
    assert_eq!(overview.fragments(&Since::Nothing), []);

    let app = View::App {
        app: "web".into(),
        env: None,
    };
    assert_eq!(app.fragments(&changed(&["api"], &[])), []);
    assert_eq!(app.fragments(&changed(&["web"], &[])), [F::Env]);
    assert_eq!(
        app.fragments(&changed(&[], &[Topic::Runtime])),
        [F::Env],
        "the object tree shows the runtime's ReplicaSets and Pods"
    );
    assert_eq!(
        app.fragments(&changed(&[], &[Topic::Regions, Topic::Routes])),
        []
    );

    let repos = View::Registry(1);
    assert_eq!(
        repos.fragments(&changed(&[], &[Topic::Registry])),
        [F::Repos]
    );
    assert_eq!(
        repos.fragments(&changed(&["web"], &[Topic::Runtime, Topic::Replication])),
        []
    );
    let repo = View::Repo {
        name: "team/web".into(),
        page: 2,
    };
    assert_eq!(repo.fragments(&changed(&[], &[Topic::Registry])), [F::Tags]);
    assert_eq!(
        repo.fragments(&changed(&[], &[Topic::Replication])),
        [F::Tags],
        "the Regions column"
    );
    assert_eq!(repo.fragments(&changed(&[], &[Topic::Runtime])), []);
    assert_eq!(
        View::of(EventsQuery {
            view: "repo".into(),
            name: "team/web".into(),
            page: "2".into(),
            ..Default::default()
        }),
        repo
    );
    assert_eq!(
        View::of(EventsQuery {
            view: "registry".into(),
            page: "x".into(),
            ..Default::default()
        }),
        View::Registry(1)
    );

    assert_eq!(View::Pods.fragments(&changed(&["web"], &[])), []);
    assert_eq!(
        View::Pods.fragments(&changed(&[], &[Topic::Runtime])),
        [F::Pods]
    );
    assert_eq!(
        View::Serverless.fragments(&changed(&[], &[Topic::Runtime])),
        [F::Services]
    );
    assert_eq!(
        View::Traffic.fragments(&changed(&[], &[Topic::Runtime])),
        [],
        "the route table's own change, not any runtime change"
    );
    assert_eq!(
        View::Traffic.fragments(&changed(&[], &[Topic::Routes])),
        [F::Routes]
    );
    assert_eq!(
        View::of(EventsQuery {
            view: "pods".into(),
            ..Default::default()
        }),
        View::Pods
    );
}

/// A runtime (no image: the pods stay Pending, which is enough to list
/// them); shut down on drop.
struct Rt(ferry_runtime::Runtime);

impl Drop for Rt {
    fn drop(&mut self) {
        let rt = self.0.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(30), rt.shutdown()).await;
            })
        });
    }
}

fn pod(ns: &str, name: &str) -> (String, String) {
    (
        format!("{name}.yaml"),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  containers:\n  - {{name: app, image: 'nowhere.invalid/none:1'}}\n"
        ),
    )
}

async fn open(w: &World, cookie: &str, query: &str) -> axum::response::Response {
    let req = Request::get(format!("/ui/events?{query}"))
        .header(header::HOST, "127.0.0.1:7070")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    crate::router(w.ui.clone()).oneshot(req).await.unwrap()
}

/// The stream's events until one contains `want`, within 10 s.
async fn until(resp: axum::response::Response, want: &str) -> String {
    let mut body = resp.into_body();
    let mut text = String::new();
    while !text.contains(want) {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .unwrap_or_else(|_| panic!("no `{want}` within 10 s: {text}"))
            .expect("the stream goes on")
            .unwrap();
        if let Some(d) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(d));
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pods_stream_patches_new_pods_in_the_viewers_namespaces_only() {
    let mut w = World::new();
    let cfg = ferry_runtime::RuntimeConfig::new(w._dir.path().join("runtime"));
    let rt = Rt(ferry_runtime::Runtime::start(cfg).await.unwrap());
    let mut cfg = w.ui.cfg().clone();
    cfg.runtime = Some(rt.0.clone());
    w.ui = crate::Ui::new(cfg).unwrap();
    w.ui.start(tokio_util::sync::CancellationToken::new());
    let scoped = NewToken {
        name: "sam".into(),
        role: Role::Viewer,
        namespaces: vec!["shop".into()],
        apps: vec![],
        ttl: None,
    };
    let scoped = w.auth.store().create(scoped, ferry_auth::now()).unwrap().0;
    let (sam, _) = w.login(&scoped).await;
    let (ada, _) = w.login(&w.token("ada", Role::Viewer)).await;
    let before = w.ui.inner.changes.id(w.ui.inner.changes.seq());

    let sams = open(&w, &sam, "view=pods").await;
    let adas = open(&w, &ada, "view=pods").await;
    rt.0.apply(&[pod("secret", "hidden")]).unwrap();
    rt.0.apply(&[pod("shop", "cart")]).unwrap();
    let seen = until(sams, "cart").await;
    assert!(seen.contains("event: patch") && seen.contains(r#""id":"pods""#));
    assert!(!seen.contains("hidden"), "another namespace's pod: {seen}");
    let all = until(adas, "cart").await;
    assert!(
        all.contains("hidden"),
        "an unscoped viewer sees both: {all}"
    );

    // A reconnect from before both applies gets them at once.
    let resumed = open(&w, &ada, &format!("view=pods&since={before}")).await;
    let text = until(resumed, "cart").await;
    assert!(text.contains("hidden"), "{text}");

    // The serverless page's stream, for a Knative Service.
    let ksvcs = open(&w, &ada, "view=serverless").await;
    let ksvc = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: hello, namespace: shop}\nspec:\n  template:\n    spec:\n      containers:\n      - {image: 'nowhere.invalid/none:1'}\n";
    rt.0.apply(&[("ksvc.yaml".into(), ksvc.into())]).unwrap();
    let text = until(ksvcs, "hello").await;
    assert!(text.contains(r#""id":"ksvcs""#), "{text}");
}
