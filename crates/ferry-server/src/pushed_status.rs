//! Status pushed in by private regions (`spec.private: true`), which accept
//! no inbound connection: a promotion gate here cannot ask them, so they
//! push their applications' status (per environment: synced commit and
//! health) to `PUT /api/v1/regions/{region}/status` every push interval
//! ([`crate::status_push`]), with a deployer token of this region.
//!
//! [`PushedStore`] keeps the last record of each private region with the
//! time it arrived; gates read it through `HttpRemoteRegions`. A record
//! older than [`STALE_AFTER`] push intervals is no evidence (the region,
//! or the link, may have been down since): the gate stays closed and its
//! status says how old the record is. Records live in memory: after a
//! restart the gate waits for the next push (at most one interval).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Json, Router};
use ferry_api::{ApiError, ErrorCode};
use ferry_core::sync::MutexExt;
use ferry_core::topology::Topology;
use ferry_delivery::remote::RemoteEnv;
use serde::{Deserialize, Serialize};

/// A record is stale after this many of its push intervals.
pub(crate) const STALE_AFTER: u32 = 3;

/// What a private region pushes: its applications' environments in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushedStatus {
    /// The private region that pushed.
    pub region: String,
    /// Seconds between its pushes (the receiver's staleness scale).
    pub interval_seconds: u64,
    /// Application → its environments in `region`.
    pub apps: BTreeMap<String, Vec<RemoteEnv>>,
}

/// The last record of each private region; see the module docs.
#[derive(Debug, Default)]
pub struct PushedStore {
    records: Mutex<BTreeMap<String, (PushedStatus, Instant)>>,
}

impl PushedStore {
    /// Keeps `status` as `status.region`'s latest, received now.
    pub(crate) fn record(&self, status: PushedStatus) {
        let mut records = self.records.lock_or_recover();
        records.insert(status.region.clone(), (status, Instant::now()));
    }

    /// `app`'s environments as `region` last pushed them, or why there is
    /// no evidence (nothing received yet, or a stale record).
    pub(crate) fn app_status(&self, region: &str, app: &str) -> Result<Vec<RemoteEnv>, String> {
        let records = self.records.lock_or_recover();
        let Some((status, at)) = records.get(region) else {
            return Err(format!(
                "region `{region}` is private (it pushes its status; nothing can dial it) \
                 and has pushed no status here yet"
            ));
        };
        let age = at.elapsed();
        let limit = Duration::from_secs(status.interval_seconds.max(1)) * STALE_AFTER;
        if age > limit {
            return Err(format!(
                "the status private region `{region}` last pushed is {}s old (stale after {}s, \
                 {STALE_AFTER} push intervals): the region or the link may be down",
                age.as_secs(),
                limit.as_secs()
            ));
        }
        Ok(status.apps.get(app).cloned().unwrap_or_default())
    }
}

/// State of the receiving route.
#[derive(Debug, Clone)]
struct Receiver {
    store: Arc<PushedStore>,
    topology: Arc<Topology>,
    here: String,
}

/// `PUT /regions/{region}/status`, to merge into region `here`'s `/api/v1`.
pub(crate) fn router(store: Arc<PushedStore>, topology: Arc<Topology>, here: &str) -> Router {
    let state = Receiver {
        store,
        topology,
        here: here.to_string(),
    };
    Router::new()
        .route("/regions/{region}/status", put(receive))
        .with_state(state)
}

async fn receive(
    State(r): State<Receiver>,
    Path(region): Path<String>,
    Json(status): Json<PushedStatus>,
) -> Result<StatusCode, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::BadRequest, m);
    match r.topology.region(&region) {
        None => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no region `{region}` in the topology"),
            ));
        }
        Some(_) if region == r.here => {
            return Err(bad(format!(
                "region `{region}` is this region: it needs no pushed status"
            )));
        }
        Some(reg) if !reg.spec.private => {
            return Err(bad(format!(
                "region `{region}` is not private (spec.private): its status is asked at its spec.endpoints.api"
            )));
        }
        Some(_) => {}
    }
    if status.region != region {
        return Err(bad(format!(
            "the body is the status of region `{}`, the path names `{region}`",
            status.region
        )));
    }
    tracing::debug!(%region, apps = status.apps.len(), "status pushed by a private region");
    r.store.record(status);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_delivery::health::Health;

    fn status(interval_seconds: u64) -> PushedStatus {
        let env = RemoteEnv {
            environment: "edge".into(),
            synced_revision: Some("abc".into()),
            health: Health::Healthy,
        };
        PushedStatus {
            region: "sh".into(),
            interval_seconds,
            apps: BTreeMap::from([("web".to_string(), vec![env])]),
        }
    }

    #[test]
    fn a_record_counts_until_it_is_three_intervals_old() {
        let store = PushedStore::default();
        let none = store.app_status("sh", "web").unwrap_err();
        assert!(none.contains("pushed no status"), "{none}");
        store.record(status(1));
        assert_eq!(store.app_status("sh", "web").unwrap().len(), 1);
        assert!(store.app_status("sh", "other").unwrap().is_empty());
        // Age the record past 3 × 1 s.
        store.records.lock_or_recover().get_mut("sh").unwrap().1 -= Duration::from_secs(4);
        let stale = store.app_status("sh", "web").unwrap_err();
        assert!(
            stale.contains("4s old") && stale.contains("stale after 3s"),
            "{stale}"
        );
    }
}
