//! Sending a request upstream: resolve the destination to ready endpoints
//! (subset labels, Service port → container port), pick one with the
//! destination's load balancer and outlier state, enforce connection-pool
//! limits, and retry per the route's policy with per-try and overall
//! timeouts. Request bodies are replayable only when buffered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_core::mesh::{Endpoint, Origin};
use ferry_core::sync::MutexExt;
use http::header;
use http::uri::Scheme;
use http::{Request, Response, Uri, Version};
use http_body_util::{BodyExt, Full};

use super::Inner;
use super::h1;
use super::h1::fields::RawFields;
use super::types::{Body, BoxError, ConnInfo, Direction, Head, ReqBody};
use crate::lb::{Cluster, Outcome};
use crate::table::{Destination, RetryPolicy, RouteTable, SubsetPolicy, TrafficPolicy};

/// Why no upstream answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    UnknownService,
    NoHealthyUpstream,
    Overflow,
    Connect,
    Reset,
    Timeout,
    /// Network policy lets the client reach none of the endpoints.
    Denied,
    /// The activator could hold no more requests for a Knative revision
    /// with no ready pod, or none became ready in time.
    Activator,
}

impl Failure {
    /// The status and text sent downstream (Envoy's wording).
    pub fn answer(self) -> (u16, &'static str) {
        match self {
            Failure::UnknownService => (503, "no such service"),
            Failure::NoHealthyUpstream => (503, "no healthy upstream"),
            Failure::Overflow => (
                503,
                "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            ),
            Failure::Connect => (
                503,
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
            ),
            Failure::Reset => (
                503,
                "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            ),
            Failure::Timeout => (504, "upstream request timeout"),
            Failure::Denied => (403, "network policy denies this connection"),
            Failure::Activator => (503, "activator: the revision has no ready pod yet"),
        }
    }
}

/// What came back, with the endpoint that answered.
#[derive(Debug)]
pub struct Answer {
    pub response: Response<Body>,
    /// The upstream's pass-through fields (`h1::fields`), if any.
    pub raw: Option<RawFields>,
    pub retries: u32,
}

impl Inner {
    /// The policy for `dest`: its subset's, else the Service's, else defaults.
    pub fn policy<'t>(
        &self,
        table: &'t RouteTable,
        dest: &Destination,
    ) -> (&'t TrafficPolicy, Option<&'t SubsetPolicy>) {
        static DEFAULT: std::sync::LazyLock<TrafficPolicy> =
            std::sync::LazyLock::new(TrafficPolicy::default);
        let Some(p) = table.policies.get(&dest.service) else {
            return (&DEFAULT, None);
        };
        match dest.subset.as_ref().and_then(|s| p.subsets.get(s)) {
            Some(s) => (&s.policy, Some(s)),
            None => (&p.policy, None),
        }
    }

    fn cluster(&self, dest: &Destination, policy: &TrafficPolicy) -> Arc<Cluster> {
        let mut map = self.clusters.lock_or_recover();
        if let Some(c) = map.get(dest) {
            return c.clone();
        }
        map.entry(dest.clone())
            .or_insert_with(|| Arc::new(Cluster::new(policy)))
            .clone()
    }

    /// Sends `head`/`body` to `dest` with `retry` and `timeout`; `client`
    /// is where a client's request came from (None for mirrors).
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)] // an async block: see the `proxy` module docs
    pub fn send(
        &self,
        table: &RouteTable,
        dest: &Destination,
        head: Head,
        body: ReqBody,
        retry: &RetryPolicy,
        timeout: Option<Duration>,
        client: Option<&ConnInfo>,
    ) -> impl Future<Output = Result<Answer, Failure>> {
        async move {
            let dialer = &self.clients.connector.dialer;
            // Boxed: only Knative revisions pay for the activator's future.
            let _flight = match self.activator.guards(&dest.service) {
                true => Box::pin(self.activator.admit(&dest.service, &self.services, dialer))
                    .await
                    .map_err(|_| Failure::Activator)?,
                false => None,
            };
            let (policy, subset) = self.policy(table, dest);
            // The consistent-hash key of the client's request (mirrors have none).
            let hash_key = client.and_then(|c| super::outbound::hash_key(policy, &head, c));
            let cluster = self.cluster(dest, policy);
            let _permit = match &cluster.limit {
                None => None,
                Some((sem, _)) => match sem.clone().try_acquire_owned() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        let pending = cluster
                            .pending
                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _g = scopeguard(&cluster.pending);
                        if policy.max_pending.is_some_and(|m| pending as u32 >= m) {
                            return Err(Failure::Overflow);
                        }
                        Some(
                            sem.clone()
                                .acquire_owned()
                                .await
                                .map_err(|_| Failure::Overflow)?,
                        )
                    }
                },
            };
            let target = Target {
                cluster: &cluster,
                policy,
                subset,
                dest,
                hash_key: hash_key.as_deref(),
                origin: client.map(origin),
            };
            // The tries future is made in each arm, not once before the match:
            // a future moved into `timeout` would keep its slot in this one too.
            match timeout {
                Some(t) => tokio::time::timeout(t, self.tries(&target, head, body, retry))
                    .await
                    .map_err(|_| Failure::Timeout)?,
                None => self.tries(&target, head, body, retry).await,
            }
        }
    }

    /// Tries per `retry` until an answer is final.
    #[allow(clippy::manual_async_fn)] // an async block: see the `proxy` module docs
    fn tries(
        &self,
        target: &Target<'_>,
        mut head: Head,
        mut body: ReqBody,
        retry: &RetryPolicy,
    ) -> impl Future<Output = Result<Answer, Failure>> {
        async move {
            let mut tries = 0u32;
            loop {
                let replayable = matches!(body, ReqBody::Buffered(_));
                let this_body = match &mut body {
                    ReqBody::Buffered(b) => Outgoing::Bytes(b.clone()),
                    ReqBody::Stream(s) => match s.take() {
                        Some(s) => Outgoing::Stream(s),
                        None => Outgoing::Bytes(Bytes::new()),
                    },
                };
                let can_retry = tries < retry.attempts && replayable;
                let result = self
                    .try_once(
                        target,
                        &mut head,
                        !can_retry,
                        this_body,
                        retry.per_try_timeout,
                    )
                    .await;
                let retryable = match &result {
                    Ok((r, _)) => retry.on.status(r.status().as_u16()),
                    Err(Failure::Connect) => {
                        retry.on.connect_failure || retry.on.server_error || retry.on.gateway_error
                    }
                    Err(Failure::Reset) => {
                        retry.on.reset || retry.on.server_error || retry.on.gateway_error
                    }
                    Err(Failure::Timeout) => {
                        retry.on.server_error || retry.on.gateway_error || retry.on.reset
                    }
                    Err(Failure::NoHealthyUpstream) => retry.on.connect_failure,
                    Err(_) => false,
                };
                if !(can_retry && retryable) {
                    return result.map(|(response, raw)| Answer {
                        response,
                        raw,
                        retries: tries,
                    });
                }
                tries += 1;
                let backoff = Duration::from_millis(25u64 << tries.min(4))
                    .mul_f64(0.5 + fastrand::f64() / 2.0);
                tokio::time::sleep(backoff).await;
            }
        }
    }

    /// One try: picks an endpoint, exchanges with it and reports how that
    /// went to outlier detection.
    #[allow(clippy::manual_async_fn)] // an async block: see the `proxy` module docs
    fn try_once(
        &self,
        target: &Target<'_>,
        head: &mut Head,
        last: bool,
        body: Outgoing,
        per_try: Option<Duration>,
    ) -> impl Future<Output = Result<(Response<Body>, Option<RawFields>), Failure>> {
        async move {
            let Target {
                cluster,
                policy,
                subset,
                dest,
                hash_key,
                origin,
            } = *target;
            let services = self.services.load();
            let resolved = services
                .services
                .get(&dest.service)
                .ok_or(Failure::UnknownService)?;
            let entry = &resolved.entry;
            let port = match dest.port {
                Some(p) => entry.ports.iter().find(|sp| sp.port == p),
                None => entry.ports.first(),
            }
            .ok_or(Failure::UnknownService)?;
            // Ready endpoints serving the port, in the subset.
            let serving = |e: &Endpoint| {
                e.ready
                    && e.ports.contains_key(&port.port)
                    && subset.is_none_or(|s| s.matches(&e.labels))
            };
            // ... that network policy lets the client reach.
            let dialer = &self.clients.connector.dialer;
            let candidate = |e: &Endpoint| {
                serving(e)
                    && origin
                        .is_none_or(|o| dialer.allows(o, &dest.service, e, e.ports[&port.port]))
            };
            let picked = cluster
                .pick(
                    &entry.endpoints,
                    candidate,
                    &policy.lb,
                    hash_key,
                    Instant::now,
                )
                .ok_or_else(|| {
                    let eps = &entry.endpoints;
                    match eps.iter().any(serving) && !eps.iter().any(&candidate) {
                        true => Failure::Denied,
                        false => Failure::NoHealthyUpstream,
                    }
                })?;
            let endpoint = picked.endpoint;
            let container_port = endpoint.ports[&port.port];
            let upstream = resolved
                .upstream(picked.index, container_port)
                .ok_or(Failure::Reset)?;
            let served = resolved.served(picked.index);
            let proto = port
                .app_protocol
                .as_deref()
                .or(port.name.as_deref())
                .unwrap_or("");
            let h2 = head.grpc
                || ["h2c", "grpc", "http2", "kubernetes.io/h2c"]
                    .iter()
                    .any(|p| proto.starts_with(p));
            // Made in each arm, like the tries in `send`.
            let result = match per_try {
                Some(t) => tokio::time::timeout(t, self.exchange(upstream, h2, head, last, body))
                    .await
                    .unwrap_or(Err(Failure::Timeout)),
                None => self.exchange(upstream, h2, head, last, body).await,
            };
            if let (Ok(_), Some(c)) = (&result, served) {
                crate::pod_requests::count(c);
            }
            let outcome = match &result {
                Ok((r, _)) => Outcome::Status(r.status().as_u16()),
                Err(_) => Outcome::Failed,
            };
            let ejected = cluster.report(
                &endpoint.pod,
                outcome,
                policy.outlier.as_ref(),
                picked.candidates,
                Instant::now,
            );
            if ejected {
                self.metrics.ejections.inc();
            }
            result
        }
    }

    /// One exchange with the endpoint at `authority`: inline HTTP/1.1 for a
    /// buffered body, else hyper (streamed bodies, upgrades, HTTP/2), which
    /// takes the headers on the `last` possible try and a copy before.
    async fn exchange(
        &self,
        upstream: &Arc<h1::Slot>,
        h2: bool,
        head: &mut Head,
        last: bool,
        body: Outgoing,
    ) -> Result<(Response<Body>, Option<RawFields>), Failure> {
        let body = match body {
            Outgoing::Bytes(b) if !h2 && !head.headers.contains_key(header::UPGRADE) => {
                let authority = &upstream.authority;
                return h1::exchange(&self.clients.connector, upstream, head, b)
                    .await
                    .map_err(|e| {
                        tracing::debug!(error = %e, %authority, "upstream exchange failed");
                        match e {
                            h1::Error::Connect(_) => Failure::Connect,
                            h1::Error::Reset(_) => Failure::Reset,
                        }
                    });
            }
            Outgoing::Bytes(b) => Full::new(b).map_err(|e| match e {}).boxed_unsync(),
            Outgoing::Stream(s) => s,
        };
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(Scheme::HTTP);
        uri.authority = Some(upstream.authority.clone());
        uri.path_and_query = Some(head.path_and_query.clone());
        let uri = Uri::from_parts(uri).map_err(|_| Failure::Reset)?;
        let mut req = Request::new(body);
        *req.method_mut() = head.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = if last {
            std::mem::take(&mut head.headers)
        } else {
            head.headers.clone()
        };
        if h2 {
            *req.version_mut() = Version::HTTP_2;
        }
        let client = if h2 {
            &self.clients.h2
        } else {
            &self.clients.h1
        };
        match client.request(req).await {
            Ok(r) => Ok((
                r.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync()),
                None,
            )),
            Err(e) if e.is_connect() => Err(Failure::Connect),
            Err(_) => Err(Failure::Reset),
        }
    }
}

/// What every try of one request shares.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    cluster: &'a Cluster,
    policy: &'a TrafficPolicy,
    /// The subset, if the destination names one.
    subset: Option<&'a SubsetPolicy>,
    dest: &'a Destination,
    hash_key: Option<&'a str>,
    /// Who the request is for (network policy); `None`: not checked.
    origin: Option<Origin<'a>>,
}

/// Who a downstream connection's requests are for, as network policy sees it.
fn origin(c: &ConnInfo) -> Origin<'_> {
    match &c.direction {
        Direction::Mesh { source, .. } => Origin::Pod(source),
        Direction::North => Origin::External(c.remote.ip()),
    }
}

/// One try's request body.
enum Outgoing {
    Bytes(Bytes),
    Stream(Body),
}

struct PendingGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn scopeguard(c: &std::sync::atomic::AtomicUsize) -> PendingGuard<'_> {
    PendingGuard(c)
}
