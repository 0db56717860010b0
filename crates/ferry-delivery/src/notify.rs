//! CloudEvents (structured JSON mode, spec 1.0) sent to the configured
//! sinks when a sync or a pipeline run ends. Delivery is best effort, off
//! the reconcile path.

use serde_json::json;

use crate::engine::Engine;
use crate::history::HistoryEntry;

/// Announces a sync outcome.
pub fn sync_outcome(engine: &Engine, app: &str, entry: &HistoryEntry) {
    let ty = match entry.outcome {
        crate::history::Outcome::Succeeded => "dev.ferry.app.synced",
        crate::history::Outcome::Failed => "dev.ferry.app.sync.failed",
    };
    send(
        engine,
        ty,
        &format!("/apps/{app}"),
        json!({"application": app, "sync": entry}),
    );
}

/// Sends one event to every sink.
pub fn send(engine: &Engine, ty: &str, subject: &str, data: serde_json::Value) {
    let sinks = engine.inner.cfg.notify.clone();
    if sinks.is_empty() {
        return;
    }
    let event = json!({
        "specversion": "1.0",
        "id": uuid::Uuid::new_v4().to_string(),
        "source": "ferry/delivery",
        "type": ty,
        "subject": subject,
        "time": now_rfc3339(),
        "datacontenttype": "application/json",
        "data": data,
    });
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        for sink in sinks {
            let r = client
                .post(&sink)
                .header("content-type", "application/cloudevents+json")
                .timeout(std::time::Duration::from_secs(5))
                .body(event.to_string())
                .send()
                .await;
            if let Err(e) = r {
                tracing::warn!(%sink, error = %e, "cannot deliver CloudEvent");
            }
        }
    });
}

fn now_rfc3339() -> String {
    let ms = crate::reconcile::now_ms();
    // Seconds precision is enough for CloudEvents' `time`.
    let secs = ms / 1000;
    let days = secs / 86_400;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    let (y, mo, d) = civil(days as i64);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), (1970, 1, 1));
        assert_eq!(super::civil(19_723), (2024, 1, 1));
    }
}
