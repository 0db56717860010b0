//! Port forwarding for `ferry port-forward`: `POST
//! /portforward/{namespace}/{pod}/{port}` with `Connection: Upgrade` and
//! `Upgrade: ferry-portforward` dials the pod's port inside its network
//! namespace (as the gateway's dialer does), answers 101 Switching
//! Protocols and splices bytes both ways until either side closes. The CLI
//! sends one upgraded request per forwarded connection. The auth policy
//! treats the route as exec: admin, scoped to the namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use ferry_api::{ApiError, ErrorCode};
use ferry_core::sync::MutexExt;
use tokio::net::TcpStream;

use crate::Runtime;
use crate::error::{Error, Result};

/// The `Upgrade` protocol name of the raw tunnel.
pub const PROTOCOL: &str = "ferry-portforward";

impl Runtime {
    /// Connects to `port` of pod `namespace/pod` inside its network namespace.
    pub async fn dial_pod(&self, namespace: &str, pod: &str, port: u16) -> Result<TcpStream> {
        let (_, uid, _) = self.container_of(namespace, pod, None)?;
        let netns = self
            .inner
            .pod_rt(&uid)
            .lock_or_recover()
            .netns
            .clone()
            .ok_or_else(|| {
                Error::Other(format!(
                    "pod {namespace}/{pod} has no network yet; wait until it runs"
                ))
            })?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        crate::net::dial(Some(&netns), addr, Duration::from_secs(5))
            .await
            .map_err(|e| {
                Error::Other(format!(
                    "cannot connect to port {port} of pod {namespace}/{pod}: {e}"
                ))
            })
    }
}

/// The route's handler: dial first (so a wrong pod or port is a JSON
/// error), then upgrade and splice.
pub(crate) async fn handler(
    State(rt): State<Runtime>,
    Path((ns, pod, port)): Path<(String, String, u16)>,
    mut req: Request,
) -> std::result::Result<Response, ApiError> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok());
    if !upgrade.is_some_and(|u| u.eq_ignore_ascii_case(PROTOCOL)) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("port-forward needs `Connection: Upgrade` and `Upgrade: {PROTOCOL}`"),
        ));
    }
    let mut upstream = rt.dial_pod(&ns, &pod, port).await?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let mut client = hyper_util::rt::TokioIo::new(upgraded);
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                    tracing::debug!(%ns, %pod, port, error = %e, "port-forward connection ended");
                }
            }
            Err(e) => tracing::warn!(%ns, %pod, port, error = %e, "port-forward upgrade failed"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, PROTOCOL)
        .body(Body::empty())
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
}
