//! The pods pages: `GET /ui/pods` (the region's pods in the namespaces the
//! viewer may read), `GET /ui/pods/{ns}/{pod}` (containers, events, the
//! tail of a container's log) and `POST /ui/pods/{ns}/{pod}/exec` (one
//! command, its output shown on the page). The live log is in
//! `routes/pod_logs.rs`.
//!
//! Each asks the API's route policy for the route it stands for — the
//! pod's object, `/api/v1/events?namespace=`, `/api/v1/logs/{ns}/{pod}`,
//! `POST /api/v1/exec/{ns}/{pod}` (admins) — so the exec form shows only
//! to tokens the API would let exec, and the POST is checked again (CSRF
//! first), audited, and refused with 403 otherwise.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use ferry_api::Identity;
use ferry_auth::policy::{self, Need};
use ferry_runtime::kinds::Kind;
use serde::Deserialize;

use super::{Current, error_page, page};
use crate::html::Nav;
use crate::pages::pods::{self, EventRow, Log, PodPage};
use crate::{Error, Ui, csrf};

/// Lines of log a pod page starts with, and bytes at most.
const TAIL_LINES: usize = 200;
const TAIL_BYTES: usize = 64 * 1024;

impl Ui {
    fn runtime(&self) -> Result<&ferry_runtime::Runtime, Error> {
        self.cfg()
            .runtime
            .as_ref()
            .ok_or_else(|| Error::NotFound("this region runs no pods".into()))
    }

    /// Whether `who` may `GET path?query` on the API.
    fn allowed_query(&self, who: &Identity, path: &str, query: &str) -> Result<(), Error> {
        match policy::need(&Method::GET, path, Some(query)) {
            Need::Open => Ok(()),
            Need::Token { role, scope } => {
                policy::check(who, role, &scope).map_err(|d| Error::Forbidden(d.0))
            }
        }
    }

    fn pods_body(&self, who: &Identity) -> String {
        pods::list(&self.pod_rows(who))
    }

    /// The pods list's live part: the same rows as the page.
    pub(crate) fn pods_fragment(&self, who: &Identity) -> String {
        pods::table(&self.pod_rows(who))
    }

    /// The region's pods in the namespaces `who` may read, sorted.
    fn pod_rows(&self, who: &Identity) -> Vec<pods::PodRow> {
        let mut pods: Vec<pods::PodRow> = match &self.cfg().runtime {
            Some(rt) => rt.list(Kind::Pod, None).iter().map(pods::row).collect(),
            None => vec![],
        };
        pods.retain(|p| who.allows_namespace(&p.namespace));
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        pods
    }

    /// The pod page, with the output of an exec when there was one.
    pub(crate) async fn pod_body(
        &self,
        who: &Current,
        ns: &str,
        name: &str,
        container: Option<&str>,
        exec: Option<pods::Exec<'_>>,
    ) -> Result<String, Error> {
        let id = &who.identity;
        self.allowed(
            id,
            &Method::GET,
            &format!("/api/v1/objects/pods/{ns}/{name}"),
        )?;
        let rt = self.runtime()?;
        let obj = rt
            .get(Kind::Pod, ns, name)
            .map_err(|_| Error::NotFound(format!("no pod `{name}` in namespace `{ns}`")))?;
        let row = pods::row(&obj);
        let container = container
            .filter(|c| !c.is_empty())
            .or(row.containers.first().map(|c| c.name.as_str()))
            .unwrap_or_default()
            .to_string();
        let log = match self.allowed(id, &Method::GET, &format!("/api/v1/logs/{ns}/{name}")) {
            Ok(()) => tail(rt, ns, name, &container).await,
            Err(e) => Log {
                container: container.clone(),
                text: Err(e.to_string()),
                offset: 0,
            },
        };
        let events: Vec<EventRow> =
            match self.allowed_query(id, "/api/v1/events", &format!("namespace={ns}")) {
                Ok(()) => rt
                    .events(Some(ns), Some(&format!("Pod/{name}")))
                    .into_iter()
                    .map(|e| EventRow {
                        time: e.time,
                        type_: e.type_,
                        reason: e.reason,
                        message: e.message,
                    })
                    .collect(),
                Err(_) => vec![],
            };
        let can_exec = self
            .allowed(id, &Method::POST, &format!("/api/v1/exec/{ns}/{name}"))
            .is_ok();
        Ok(pods::pod(&PodPage {
            pod: &row,
            events: &events,
            log: &log,
            exec_csrf: can_exec.then_some(who.csrf.as_str()),
            exec,
        }))
    }
}

/// The last [`TAIL_LINES`] lines (at most [`TAIL_BYTES`]) of a container's
/// log, and its size: where following starts.
async fn tail(rt: &ferry_runtime::Runtime, ns: &str, pod: &str, container: &str) -> Log {
    let read = async {
        let path = rt
            .log_path(ns, pod, Some(container), false)
            .map_err(|e| e.to_string())?;
        tokio::fs::read(&path).await.map_err(|e| e.to_string())
    };
    let (text, offset) = match read.await {
        Ok(bytes) => {
            let mut start = bytes.len().saturating_sub(TAIL_BYTES);
            let newlines: Vec<usize> = bytes[start..]
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| start + i + 1)
                .collect();
            if newlines.len() > TAIL_LINES {
                start = newlines[newlines.len() - TAIL_LINES - 1];
            }
            let text = String::from_utf8_lossy(&bytes[start..]).into_owned();
            (Ok(text), bytes.len() as u64)
        }
        Err(e) => (Err(e), 0),
    };
    Log {
        container: container.into(),
        text,
        offset,
    }
}

pub(crate) async fn list(State(ui): State<Ui>, who: Current) -> Response {
    let live = super::live_url(&ui, "view=pods");
    let body = ui.pods_body(&who.identity);
    page(&ui, &who, "Pods", Nav::Pods, Some(live), &body)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ContainerQuery {
    container: Option<String>,
}

pub(crate) async fn show(
    State(ui): State<Ui>,
    who: Current,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<ContainerQuery>,
) -> Result<Response, Error> {
    let body = ui
        .pod_body(&who, &ns, &name, q.container.as_deref(), None)
        .await?;
    Ok(page(&ui, &who, &name, Nav::Pods, None, &body))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ExecForm {
    csrf: Option<String>,
    container: Option<String>,
    command: String,
}

pub(crate) async fn exec(
    State(ui): State<Ui>,
    who: Current,
    Path((ns, name)): Path<(String, String)>,
    Form(f): Form<ExecForm>,
) -> Response {
    let path = format!("/ui/pods/{ns}/{name}/exec");
    let checked = if csrf::matches(&who.csrf, f.csrf.as_deref()) {
        ui.allowed(
            &who.identity,
            &Method::POST,
            &format!("/api/v1/exec/{ns}/{name}"),
        )
        .and_then(|()| ui.runtime().map(|_| ()))
    } else {
        Err(Error::Csrf)
    };
    if let Err(e) = checked {
        ui.audit(Some(&who.identity), "POST", &path, e.status());
        return error_page(e);
    }
    let command: Vec<String> = f.command.split_whitespace().map(String::from).collect();
    let container = f.container.as_deref().filter(|c| !c.is_empty());
    let out = match (command.is_empty(), ui.runtime()) {
        (true, _) => Err("give a command to run".to_string()),
        (false, Ok(rt)) => rt
            .exec(&ns, &name, container, &command)
            .await
            .map(|o| (o.exit_code, o.stdout, o.stderr))
            .map_err(|e| e.to_string()),
        (false, Err(e)) => Err(e.to_string()),
    };
    tracing::info!(namespace = %ns, pod = %name, command = ?command, token = %who.identity.name, "exec from the UI");
    ui.audit(Some(&who.identity), "POST", &path, StatusCode::OK);
    let body = ui
        .pod_body(&who, &ns, &name, container, Some((f.command.as_str(), out)))
        .await;
    match body {
        Ok(body) => page(&ui, &who, &name, Nav::Pods, None, &body),
        Err(e) => error_page(e),
    }
}

#[cfg(test)]
#[path = "pods_tests.rs"]
mod tests;
