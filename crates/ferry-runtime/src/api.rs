//! The runtime's JSON API, nested by the region under `/api/v1`: apply,
//! list/get/delete objects, events, logs (with follow), exec, port-forward
//! (an upgraded raw tunnel, see `portforward`), rollout and scale, pod
//! eviction and node cordon/uncordon.
//! Cluster-scoped objects use `_` as their namespace in paths.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ferry_api::identity::sees_secret_values;
use ferry_api::{ApiError, ErrorCode, Identity};
use ferry_core::labels::LabelSelector;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Runtime;
use crate::api_exec::{exec, logs};
use crate::kinds::Kind;

/// The routes, to be nested under `/api/v1`.
pub fn router(rt: Runtime) -> Router {
    Router::new()
        .route("/apply", post(apply))
        .route("/api-resources", get(api_resources))
        .route("/objects/{kind}", get(list))
        .route(
            "/objects/{kind}/{namespace}/{name}",
            get(get_one).delete(delete),
        )
        .route("/events", get(events))
        .route("/logs/{namespace}/{pod}", get(logs))
        .route("/exec/{namespace}/{pod}", post(exec))
        .route(
            "/portforward/{namespace}/{pod}/{port}",
            post(crate::portforward::handler),
        )
        .route("/rollout/{namespace}/{name}/{action}", post(rollout))
        .route("/scale/{namespace}/{name}", post(scale))
        .route("/eviction/{namespace}/{pod}", post(evict))
        .route("/cordon/{node}", post(cordon))
        .route("/uncordon/{node}", post(uncordon))
        .with_state(rt)
}

fn kind(word: &str) -> Result<Kind, ApiError> {
    Kind::from_cli(word).ok_or_else(|| {
        let known: Vec<&str> = crate::kinds::RESOURCES.iter().map(|r| r.plural).collect();
        ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "unknown resource type `{word}`; use one of {} (`ferry api-resources` lists them)",
                known.join(", ")
            ),
        )
    })
}

/// One row of `GET /api-resources`, as kubectl's discovery shows it.
#[derive(Debug, serde::Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    pub name: String,
    pub short_names: Vec<String>,
    pub api_version: String,
    pub namespaced: bool,
    pub kind: String,
    pub verbs: Vec<String>,
}

/// Every kind the runtime runs, from [`crate::kinds::RESOURCES`], then
/// those other components own (the gateway's routing kinds).
pub fn api_resource_rows(rt: &Runtime) -> Vec<ApiResource> {
    let mut rows: Vec<ApiResource> = crate::kinds::RESOURCES
        .iter()
        .map(|r| ApiResource {
            name: r.plural.into(),
            short_names: r.short_names.iter().map(|s| s.to_string()).collect(),
            api_version: r.api_version(),
            namespaced: r.namespaced,
            kind: r.name.into(),
            verbs: r.verbs.iter().map(|s| s.to_string()).collect(),
        })
        .collect();
    // Other components' kinds are stored under any version of their group.
    rows.extend(rt.owned_kinds().into_iter().map(|gk| {
        ApiResource {
            name: crate::accounts::plural(&gk.kind),
            short_names: vec![],
            api_version: gk.group.clone(),
            namespaced: true,
            kind: gk.kind,
            verbs: ["create", "delete", "get", "list", "patch", "update"]
                .map(String::from)
                .to_vec(),
        }
    }));
    rows
}

async fn api_resources(State(rt): State<Runtime>) -> Json<Value> {
    Json(json!({ "items": api_resource_rows(&rt) }))
}

/// Body of `POST /apply`.
#[derive(Debug, Deserialize)]
pub struct ApplyBody {
    pub sources: Vec<Source>,
    /// `apply -n NS`: the namespace of objects that name none.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// One file given to apply.
#[derive(Debug, Deserialize)]
pub struct Source {
    pub file: String,
    pub text: String,
}

async fn apply(
    State(rt): State<Runtime>,
    who: Option<Extension<Identity>>,
    Json(body): Json<ApplyBody>,
) -> Result<Json<Value>, ApiError> {
    let sources: Vec<(String, String)> =
        body.sources.into_iter().map(|s| (s.file, s.text)).collect();
    let ns = body.namespace.filter(|n| !n.is_empty());
    let results = rt.apply_in(&sources, ns.as_deref(), who.as_deref())?;
    Ok(Json(json!({ "results": results })))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    namespace: Option<String>,
    /// `a=b,c!=d,e in (x,y)`, as Kubernetes' list calls take it.
    #[serde(rename = "labelSelector")]
    label_selector: Option<String>,
}

async fn list(
    State(rt): State<Runtime>,
    who: Option<Extension<Identity>>,
    Path(k): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let kind = kind(&k)?;
    let ns = q.namespace.filter(|n| n != "*" && !n.is_empty());
    let selector = LabelSelector::parse(q.label_selector.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("labelSelector: {e}")))?;
    let mut items = rt.list(kind, ns.as_deref());
    if !selector.is_empty() {
        items.retain(|o| selector.matches(&labels_of(o)));
    }
    if kind == Kind::Secret && !sees_secret_values(who.as_deref()) {
        items.iter_mut().for_each(redact_secret);
    }
    Ok(Json(json!({ "items": items })))
}

fn labels_of(o: &Value) -> BTreeMap<String, String> {
    o.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

async fn get_one(
    State(rt): State<Runtime>,
    who: Option<Extension<Identity>>,
    Path((k, ns, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let kind = kind(&k)?;
    let mut v = rt.get(kind, &ns, &name)?;
    if kind == Kind::Secret && !sees_secret_values(who.as_deref()) {
        redact_secret(&mut v);
    }
    Ok(Json(v))
}

/// What a Secret value reads as for callers without the admin role (Argo
/// CD's mask): the keys stay, so `ferry get secrets` and describe still show
/// what a Secret holds, but not the values. The last-applied annotation,
/// which carries the values too, is dropped.
const REDACTED: &str = "++++++++";

fn redact_secret(v: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(map) = v.get_mut(field).and_then(Value::as_object_mut) {
            map.values_mut().for_each(|x| *x = json!(REDACTED));
        }
    }
    if let Some(a) = v
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.retain(|k, _| k != "kubectl.kubernetes.io/last-applied-configuration");
    }
}

async fn delete(
    State(rt): State<Runtime>,
    Path((k, ns, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let kind = kind(&k)?;
    rt.delete(kind, &ns, &name)?;
    Ok(Json(
        json!({ "deleted": format!("{}/{name}", kind.name().to_ascii_lowercase()) }),
    ))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    namespace: Option<String>,
    object: Option<String>,
}

async fn events(State(rt): State<Runtime>, Query(q): Query<EventsQuery>) -> Json<Value> {
    Json(json!({ "items": rt.events(q.namespace.as_deref(), q.object.as_deref()) }))
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RolloutBody {
    to_revision: Option<i64>,
}

async fn rollout(
    State(rt): State<Runtime>,
    Path((ns, name, action)): Path<(String, String, String)>,
    body: Option<Json<RolloutBody>>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map(|b| b.0).unwrap_or_default();
    let message = match action.as_str() {
        "undo" => rt.rollout_undo(&ns, &name, body.to_revision)?,
        "restart" => {
            rt.rollout_restart(&ns, &name)?;
            format!("deployment.apps/{name} restarted")
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("unknown rollout action `{other}`; use undo or restart"),
            ));
        }
    };
    Ok(Json(json!({ "message": message })))
}

#[derive(Debug, Deserialize)]
struct ScaleBody {
    replicas: i32,
    /// `deployments` (the default) or `statefulsets`.
    #[serde(default)]
    kind: Option<String>,
}

async fn scale(
    State(rt): State<Runtime>,
    Path((ns, name)): Path<(String, String)>,
    Json(b): Json<ScaleBody>,
) -> Result<Json<Value>, ApiError> {
    let kind = match b.kind.as_deref().map(Kind::from_cli) {
        None => Kind::Deployment,
        Some(Some(k @ (Kind::Deployment | Kind::StatefulSet))) => k,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "only deployments and statefulsets scale",
            ));
        }
    };
    rt.scale_kind(kind, &ns, &name, b.replicas)?;
    let word = kind.name().to_ascii_lowercase();
    Ok(Json(
        json!({ "message": format!("{word}.apps/{name} scaled") }),
    ))
}

/// The Eviction subresource: 429 while a PodDisruptionBudget forbids it.
/// The body has the API's error form, code `TooManyRequests`.
async fn evict(
    State(rt): State<Runtime>,
    Path((ns, pod)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    match rt.evict(&ns, &pod) {
        Ok(()) => Ok(Json(json!({ "message": format!("pod/{pod} evicted") })).into_response()),
        Err(crate::Error::DisruptionBudget(cause)) => {
            let message = crate::disruption::VIOLATES;
            let body = json!({"code": "TooManyRequests", "message": message, "details": [cause]});
            Ok((axum::http::StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn cordon(
    State(rt): State<Runtime>,
    Path(node): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "message": rt.cordon(&node, true)? })))
}

async fn uncordon(
    State(rt): State<Runtime>,
    Path(node): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "message": rt.cordon(&node, false)? })))
}
