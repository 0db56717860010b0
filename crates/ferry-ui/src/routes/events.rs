//! `GET /ui/events`: a page's live stream (server-sent events). The page
//! says what it shows (`view=overview`, `view=list` with its filter,
//! `view=app&app=&env=`, `view=pipelines&pipeline=&page=`, `view=run&run=`) and since when (`since`, or the browser's
//! `Last-Event-ID` on a reconnect). Whenever the change log moves and the
//! change concerns the page, the stream re-renders the page's fragment and
//! sends it as a `patch` event — `{"patches":[{"id","html"}]}`, the element
//! of that id replaced — if it differs from the last one sent. A `reload`
//! event (then the end of the stream) asks the page to reload: an id from
//! another process, a session that ended, an application that went away.

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
use crate::live::Since;
use crate::pages::pipelines::RunFilter;
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
    App { app: String, env: Option<String> },
    Pipelines(RunFilter),
    Run(u64),
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
            _ => View::Overview,
        }
    }

    /// Whether a change of `since` may change this view.
    fn concerned(&self, since: &Since) -> bool {
        match (self, since) {
            (_, Since::Nothing) => false,
            (View::App { app, .. }, Since::Apps(apps)) => apps.iter().any(|a| a == app),
            _ => true,
        }
    }
}

struct Follow {
    ui: Ui,
    who: Current,
    view: View,
    /// The change number the page is up to date with; `None`: reload.
    after: Option<u64>,
    rx: watch::Receiver<u64>,
    last: Option<String>,
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
        last: None,
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
        if f.view.concerned(&since) {
            let Some(patches) = render(f) else {
                f.done = true;
                return Some(Event::default().event("reload").data("{}"));
            };
            let data = json!({ "patches": patches }).to_string();
            if f.last.as_ref() != Some(&data) {
                f.last = Some(data.clone());
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

/// The fragments of the view as they are now; `None` when the page
/// cannot show anymore (the application is gone or out of reach).
fn render(f: &Follow) -> Option<Vec<serde_json::Value>> {
    let who = &f.who.identity;
    let patch = |id: &str, html: String| json!({ "id": id, "html": html });
    Some(match &f.view {
        View::Overview => vec![patch("envs", f.ui.envs_fragment(who))],
        View::List(filter) => vec![patch("rows", f.ui.list_fragment(who, filter))],
        View::App { app, env } => {
            let v = f.ui.app_view(who, app, env.as_deref(), &f.who.csrf).ok()?;
            vec![patch("env", v.section)]
        }
        View::Pipelines(filter) => vec![patch("runs", f.ui.runs_fragment(who, filter))],
        View::Run(id) => {
            let run = f.ui.run(who, *id).ok()?;
            vec![patch("run", crate::pages::pipelines::run_section(&run))]
        }
    })
}
