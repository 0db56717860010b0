//! Upgraded connections (WebSocket, and any other `Upgrade` token): the
//! request is forwarded through hyper's client; once the upstream answers
//! `101 Switching Protocols`, the client's stream and the upstream's are
//! spliced, byte for byte in both directions, by a task of their own, and
//! the client gets the `101` head.

use http::header;
use http::{Request, Response};
use http_body_util::BodyExt;

use super::downstream::{OnUpgrade, RequestBody, Upgraded};
use super::types::Body;

/// Where the client's side of an upgraded connection comes from: ferry's
/// HTTP/1.1 server hands its stream over after the `101`; hyper (TLS
/// connections) has its own.
pub enum DownstreamUpgrade {
    Own(tokio::sync::oneshot::Receiver<Upgraded>),
    Hyper(hyper::upgrade::OnUpgrade),
}

impl DownstreamUpgrade {
    /// The client's side, if `req` asks to upgrade (taken out of `req`).
    pub fn of(req: &mut Request<RequestBody>) -> Option<Self> {
        if !req.headers().contains_key(header::UPGRADE) {
            return None;
        }
        Some(
            match req
                .extensions_mut()
                .remove::<OnUpgrade>()
                .and_then(|o| o.take())
            {
                Some(rx) => DownstreamUpgrade::Own(rx),
                None => DownstreamUpgrade::Hyper(hyper::upgrade::on(req)),
            },
        )
    }
}

/// Spawns the task that splices the client's stream (`down`) with the
/// upstream's once both are there, and returns the `101` for the client
/// (the upstream's head, without a body).
pub fn splice(mut resp: Response<Body>, down: DownstreamUpgrade) -> Response<Body> {
    let up = hyper::upgrade::on(&mut resp);
    tokio::spawn(async move {
        let Ok(up) = up.await else { return };
        let mut up = hyper_util::rt::TokioIo::new(up);
        let _ = match down {
            DownstreamUpgrade::Own(rx) => match rx.await {
                Ok(mut down) => tokio::io::copy_bidirectional(&mut down, &mut up).await,
                Err(_) => return,
            },
            DownstreamUpgrade::Hyper(on) => match on.await {
                Ok(down) => {
                    let mut down = hyper_util::rt::TokioIo::new(down);
                    tokio::io::copy_bidirectional(&mut down, &mut up).await
                }
                Err(_) => return,
            },
        };
    });
    let (parts, _) = resp.into_parts();
    Response::from_parts(
        parts,
        http_body_util::Empty::new()
            .map_err(|e| match e {})
            .boxed_unsync(),
    )
}
