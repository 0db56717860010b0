//! The buttons: sync now, roll back, and promote (approve the revision
//! waiting at a manual gate). Each POST is checked in this order
//! — a live session (else 303 to login), the session's CSRF token (403),
//! the route policy for the API route the action stands for (403: a
//! viewer cannot sync or roll back, a token scoped to other applications
//! cannot touch this one) — then handed to the delivery engine, audited,
//! and answered with a 303 back to the application's page.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{Current, error_page, see_other};
use crate::html::Url;
use crate::{Error, Ui, csrf};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ActionForm {
    csrf: Option<String>,
    env: Option<String>,
    /// The history entry to roll back to.
    id: Option<String>,
}

/// What an action's checks decided.
fn check(ui: &Ui, who: &Current, f: &ActionForm, api_path: &str) -> Result<(), Error> {
    if !csrf::matches(&who.csrf, f.csrf.as_deref()) {
        return Err(Error::Csrf);
    }
    ui.allowed(&who.identity, &Method::POST, api_path)
}

fn finish(ui: &Ui, who: &Current, path: &str, done: Result<(), Error>, back: String) -> Response {
    match done {
        Ok(()) => {
            ui.audit(Some(&who.identity), "POST", path, StatusCode::SEE_OTHER);
            see_other(&back)
        }
        Err(e) => {
            ui.audit(Some(&who.identity), "POST", path, e.status());
            error_page(e)
        }
    }
}

fn back_to(name: &str, env: Option<&str>) -> String {
    match env {
        Some(e) => format!("/ui/apps/{}?env={}", Url(name), Url(e)),
        None => format!("/ui/apps/{}", Url(name)),
    }
}

pub(crate) async fn sync(
    State(ui): State<Ui>,
    who: Current,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let env = f.env.as_deref().filter(|e| !e.is_empty());
    let done = check(&ui, &who, &f, &format!("/api/v1/apps/{name}/sync")).and_then(|()| {
        ui.cfg().engine.sync_now(&name, env)?;
        tracing::info!(app = %name, env = ?env, token = %who.identity.name, "sync requested from the UI");
        Ok(())
    });
    let path = format!("/ui/apps/{name}/sync");
    finish(&ui, &who, &path, done, back_to(&name, env))
}

pub(crate) async fn rollback(
    State(ui): State<Ui>,
    who: Current,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let env = f.env.as_deref().filter(|e| !e.is_empty());
    let done = check(&ui, &who, &f, &format!("/api/v1/apps/{name}/rollback")).and_then(|()| {
        let to = f.id.as_deref().filter(|i| !i.is_empty());
        let entry = ui.cfg().engine.rollback(&name, env, to)?;
        tracing::info!(app = %name, env = %entry.environment, revision = %entry.revision, token = %who.identity.name, "rollback from the UI");
        Ok(())
    });
    let path = format!("/ui/apps/{name}/rollback");
    finish(&ui, &who, &path, done, back_to(&name, env))
}

pub(crate) async fn promote(
    State(ui): State<Ui>,
    who: Current,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let env = f.env.as_deref().filter(|e| !e.is_empty());
    let done = check(&ui, &who, &f, &format!("/api/v1/apps/{name}/promote")).and_then(|()| {
        let approved = ui.cfg().engine.promote(&name, env)?;
        tracing::info!(app = %name, approved = ?approved, token = %who.identity.name, "promotion approved from the UI");
        Ok(())
    });
    let path = format!("/ui/apps/{name}/promote");
    finish(&ui, &who, &path, done, back_to(&name, env))
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
