//! Lists: `GET /v2/<name>/tags/list` and `GET /v2/_catalog` with `n`/`last`
//! pagination and a `Link: <...>; rel="next"` header, and the referrers API
//! `GET /v2/<name>/referrers/<digest>` with its `artifactType` filter.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Query, require_repo, set};
use crate::Registry;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::OCI_INDEX;

/// Applies `last` and `n` to a sorted list; returns the page and whether
/// more entries follow it.
pub(crate) fn paginate(all: Vec<String>, q: &Query) -> Result<(Vec<String>, bool)> {
    let n = match q.get("n") {
        Some(v) => Some(
            v.parse::<usize>()
                .map_err(|_| Error::BadRequest(format!("n=`{v}` is not a number")))?,
        ),
        None => None,
    };
    let mut items: Vec<String> = match q.get("last") {
        Some(last) => all.into_iter().filter(|t| t.as_str() > last).collect(),
        None => all,
    };
    let more = n.is_some_and(|n| items.len() > n);
    if let Some(n) = n {
        items.truncate(n);
    }
    Ok((items, more))
}

fn with_link(mut resp: Response, path: &str, page: &[String], more: bool, q: &Query) -> Response {
    if more && let Some(last) = page.last() {
        let n = q.get("n").unwrap_or("100");
        let last: String =
            serde_urlencoded::to_string([("last", last.as_str())]).unwrap_or_default();
        set(
            resp.headers_mut(),
            "link",
            format!("<{path}?n={n}&{last}>; rel=\"next\""),
        );
    }
    resp
}

pub(crate) async fn tags(reg: &Registry, name: &str, q: &Query) -> Result<Response> {
    require_repo(reg, name).await?;
    let mut all = reg.inner.repos.tags(name).await?;
    all.sort();
    let (page, more) = paginate(all, q)?;
    let resp = Json(json!({ "name": name, "tags": page })).into_response();
    Ok(with_link(
        resp,
        &format!("/v2/{name}/tags/list"),
        &page,
        more,
        q,
    ))
}

pub(crate) async fn catalog(reg: &Registry, q: &Query) -> Result<Response> {
    let all = reg.inner.repos.storage.repositories().await?;
    let (page, more) = paginate(all, q)?;
    let resp = Json(json!({ "repositories": page })).into_response();
    Ok(with_link(resp, "/v2/_catalog", &page, more, q))
}

pub(crate) async fn referrers(
    reg: &Registry,
    name: &str,
    digest: &str,
    q: &Query,
) -> Result<Response> {
    let subject: Digest = digest.parse()?;
    let mut manifests = reg.inner.repos.referrers(name, &subject).await?;
    let filter = q.get("artifactType");
    if let Some(t) = filter {
        manifests.retain(|d| d.get("artifactType").and_then(|v| v.as_str()) == Some(t));
    }
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut resp = (StatusCode::OK, serde_json::to_string(&body).expect("json")).into_response();
    set(resp.headers_mut(), "content-type", OCI_INDEX);
    if filter.is_some() {
        set(resp.headers_mut(), "oci-filters-applied", "artifactType");
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Query {
        Query(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn pages_follow_last_and_n() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            paginate(all.clone(), &q(&[("n", "2")])).unwrap(),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(
            paginate(all.clone(), &q(&[("n", "2"), ("last", "b")])).unwrap(),
            (vec!["c".into(), "d".into()], false)
        );
        assert_eq!(paginate(all.clone(), &q(&[("n", "0")])).unwrap().0.len(), 0);
        assert!(paginate(all, &q(&[("n", "x")])).is_err());
    }
}
