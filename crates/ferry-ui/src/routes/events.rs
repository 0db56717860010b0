//! `GET /ui/events`: a page's live stream (server-sent events). The page
//! says what it shows (`view=overview`, `view=list` with its filter,
//! `view=app&app=&env=`, `view=pipelines&pipeline=&page=`, `view=run&run=`,
//! `view=pods`, `view=serverless`, `view=traffic`, `view=registry&page=`,
//! `view=repo&name=&page=`) and since when (`since`,
//! or the browser's `Last-Event-ID` on a reconnect). Whenever the change
//! log moves, the stream re-renders the page's fragments the change
//! concerns ([`View::fragments`]: an application's change the
//! environments table, a runtime change the pods list and an application's
//! object tree, a probe the regions table and the delivery map, an image
//! event the registry pages…) and sends those that differ from what it last sent
//! ([`crate::patches::Sent`]) as a `patch` event —
//! `{"patches":[{"id","html"}]}`, the element of that id replaced. Every
//! fragment is rendered for the stream's viewer as the page is (a
//! namespace-limited token's pods list holds only its namespaces). A
//! `reload` event (then the end of the stream) asks the page to reload: an
//! id from another process, a session that ended, an application that went
//! away, a page the viewer may no longer see.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::Current;
use crate::Ui;
use crate::live::{Since, Topic};
use crate::pages::pipelines::RunFilter;
use crate::patches::{Patch, Sent};
use crate::view::Filter;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct EventsQuery {
    view: String,
    app: String,
    env: String,
    since: Option<String>,
    name: String,
    health: String,
    page: String,
    pipeline: String,
    run: String,
}

/// What one stream follows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum View {
    Overview,
    List(Filter),
    App {
        app: String,
        env: Option<String>,
    },
    Pipelines(RunFilter),
    Run(u64),
    Pods,
    Serverless,
    Traffic,
    /// The registry's repositories, page `page`.
    Registry(usize),
    /// A repository's tags, page `page`.
    Repo {
        name: String,
        page: usize,
    },
}

/// A part of a page the stream re-renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fragment {
    /// The overview's environments table (`#envs`).
    Envs,
    /// The overview's regions table (`#regions`).
    Regions,
    /// The overview's registry section (`#registry`).
    Registry,
    /// The applications list (`#rows`).
    Rows,
    /// An application's environment (`#env`).
    Env,
    /// The pipelines' runs (`#runs`).
    Runs,
    /// One run (`#run`).
    Run,
    /// The pods list (`#pods`).
    Pods,
    /// The Knative Services (`#ksvcs`).
    Services,
    /// The gateway's route tables (`#traffic`).
    Routes,
    /// The overview's delivery-path map (`#delivery-map`).
    Map,
    /// The registry's repositories (`#repos`).
    Repos,
    /// A repository's tags (`#tags`).
    Tags,
}

impl View {
    fn of(q: EventsQuery) -> View {
        match q.view.as_str() {
            "list" => View::List(Filter {
                name: q.name,
                env: q.env,
                health: q.health,
                page: q.page,
            }),
            "app" => View::App {
                app: q.app,
                env: Some(q.env).filter(|e| !e.is_empty()),
            },
            "pipelines" => View::Pipelines(RunFilter {
                pipeline: q.pipeline,
                page: q.page,
            }),
            "run" => View::Run(q.run.parse().unwrap_or(0)),
            "pods" => View::Pods,
            "serverless" => View::Serverless,
            "traffic" => View::Traffic,
            "registry" => View::Registry(page_of(&q.page)),
            "repo" => View::Repo {
                page: page_of(&q.page),
                name: q.name,
            },
            _ => View::Overview,
        }
    }

    /// The fragments of this view a change of `since` may alter.
    fn fragments(&self, since: &Since) -> Vec<Fragment> {
        let apps = since.any_app();
        let runtime = since.topic(Topic::Runtime);
        let regions = since.topic(Topic::Regions);
        let replication = since.topic(Topic::Replication);
        let registry = since.topic(Topic::Registry);
        let when = |yes: bool, f: Fragment| if yes { vec![f] } else { vec![] };
        match self {
            View::Overview => [
                (apps, Fragment::Envs),
                (regions, Fragment::Regions),
                (replication, Fragment::Registry),
                (regions || replication, Fragment::Map),
            ]
            .into_iter()
            .filter(|(yes, _)| *yes)
            .map(|(_, f)| f)
            .collect(),
            View::List(_) => when(apps, Fragment::Rows),
            // The object tree shows the runtime's ReplicaSets and Pods.
            View::App { app, .. } => when(since.app(app) || runtime, Fragment::Env),
            View::Pipelines(_) => when(apps, Fragment::Runs),
            View::Run(_) => when(apps, Fragment::Run),
            View::Pods => when(runtime, Fragment::Pods),
            View::Serverless => when(runtime, Fragment::Services),
            // `Topic::Routes` is not noted for now (`crate::live_sources`).
            View::Traffic => when(since.topic(Topic::Routes), Fragment::Routes),
            View::Registry(_) => when(registry, Fragment::Repos),
            // Its Regions column shows the replication rules' state.
            View::Repo { .. } => when(registry || replication, Fragment::Tags),
        }
    }
}

/// A `page=` parameter as the registry pages read it (from 1).
fn page_of(text: &str) -> usize {
    text.trim().parse::<usize>().unwrap_or(1).max(1)
}

struct Follow {
    ui: Ui,
    who: Current,
    view: View,
    /// The change number the page is up to date with; `None`: reload.
    after: Option<u64>,
    rx: watch::Receiver<u64>,
    sent: Sent,
    done: bool,
}

pub(crate) async fn events(
    State(ui): State<Ui>,
    who: Current,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.since.clone());
    let changes = &ui.inner.changes;
    let rx = changes.subscribe();
    let after = match resume {
        Some(id) => changes.parse_id(&id),
        None => Some(changes.seq()),
    };
    let follow = Follow {
        ui: ui.clone(),
        who,
        view: View::of(q),
        after,
        rx,
        sent: Sent::default(),
        done: false,
    };
    Sse::new(stream_of(follow))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn stream_of(follow: Follow) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(follow, |mut f| async move {
        let event = next_event(&mut f).await?;
        Some((Ok(event), f))
    })
}

/// The stream's next event, waiting for a change that alters the page.
async fn next_event(f: &mut Follow) -> Option<Event> {
    if f.done {
        return None;
    }
    loop {
        let (since, seq) = f.ui.inner.changes.since(f.after);
        if since == Since::Reload || !f.ui.alive(&f.who.id) {
            f.done = true;
            return Some(Event::default().event("reload").data("{}"));
        }
        f.after = Some(seq);
        let fragments = f.view.fragments(&since);
        if !fragments.is_empty() {
            let Some(rendered) = render(f, &fragments).await else {
                f.done = true;
                return Some(Event::default().event("reload").data("{}"));
            };
            let patches = f.sent.fresh(rendered);
            if !patches.is_empty() {
                let data = json!({ "patches": patches }).to_string();
                let id = f.ui.inner.changes.id(seq);
                return Some(Event::default().event("patch").id(id).data(data));
            }
        }
        // Wait for the log to move past what was just read.
        let moved = tokio::select! {
            _ = f.ui.inner.stop.cancelled() => return None,
            moved = f.rx.changed() => moved,
        };
        if moved.is_err() {
            return None;
        }
    }
}

/// The fragments `which` as they are now; `None` when the page cannot
/// show anymore (the application is gone or out of reach).
async fn render(f: &Follow, which: &[Fragment]) -> Option<Vec<Patch>> {
    let mut out = Vec::with_capacity(which.len());
    for w in which {
        out.push(match (w, &f.view) {
            (Fragment::Repos, View::Registry(page)) => {
                let html = f.ui.registry_body(&f.who.identity, *page).await;
                Patch::new("repos", html.ok()?)
            }
            (Fragment::Tags, View::Repo { name, page }) => {
                let html = f.ui.repository_body(&f.who.identity, name, *page).await;
                Patch::new("tags", html.ok()?)
            }
            _ => fragment(f, *w)?,
        });
    }
    Some(out)
}

fn fragment(f: &Follow, which: Fragment) -> Option<Patch> {
    let ui = &f.ui;
    let who = &f.who.identity;
    Some(match (which, &f.view) {
        (Fragment::Envs, _) => Patch::new("envs", ui.envs_fragment(who)),
        (Fragment::Regions, _) => Patch::new("regions", ui.regions_fragment()),
        (Fragment::Registry, _) => Patch::new("registry", ui.registry_fragment(who)),
        (Fragment::Rows, View::List(filter)) => Patch::new("rows", ui.list_fragment(who, filter)),
        (Fragment::Env, View::App { app, env }) => {
            let v = ui.app_view(who, app, env.as_deref(), &f.who.csrf).ok()?;
            Patch::new("env", v.section)
        }
        (Fragment::Runs, View::Pipelines(filter)) => {
            Patch::new("runs", ui.runs_fragment(who, filter))
        }
        (Fragment::Run, View::Run(id)) => {
            let run = ui.run(who, *id).ok()?;
            Patch::new("run", crate::pages::pipelines::run_section(&run))
        }
        (Fragment::Pods, _) => Patch::new("pods", ui.pods_fragment(who)),
        (Fragment::Services, _) => Patch::new("ksvcs", ui.serverless_fragment(who)),
        (Fragment::Routes, _) => Patch::new("traffic", ui.traffic_fragment(who).ok()?),
        (Fragment::Map, _) => Patch::new("delivery-map", ui.delivery_map(who)),
        // A fragment of another view: `fragments` never asks for one.
        _ => return None,
    })
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
