//! Periodic online GC inside the server (`spec.registry.gc` of a region):
//! every `intervalSeconds` one [`crate::Registry::gc`] run with the spec's
//! grace period, alongside requests, until shutdown. Each run is logged by
//! [`crate::gc::run`] and recorded in the `gc_*` metrics; a failed run is
//! logged and retried at the next tick, never stopping the server.

use std::time::Duration;

use ferry_core::registry_spec::RegistryGc;
use tokio_util::sync::CancellationToken;

use crate::Registry;
use crate::gc::GcOptions;

/// The grace period when the spec names none.
const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// The options of a scheduled run.
pub(crate) fn options(spec: &RegistryGc) -> GcOptions {
    GcOptions {
        dry_run: false,
        untagged: spec.delete_untagged,
        grace: spec
            .grace_period_seconds
            .map_or(DEFAULT_GRACE, Duration::from_secs),
        ..GcOptions::default()
    }
}

/// Runs GC every `spec.interval_seconds` (first run one interval after
/// start) until `shutdown`.
pub(crate) async fn run(registry: Registry, spec: RegistryGc, shutdown: CancellationToken) {
    let every = Duration::from_secs(spec.interval_seconds.get());
    let opts = options(&spec);
    tracing::info!(
        region = %registry.inner.region,
        interval_s = every.as_secs(),
        grace_s = opts.grace.as_secs(),
        untagged = opts.untagged,
        "registry: periodic gc enabled"
    );
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    // A run longer than the interval delays the next one instead of
    // starting runs back to back.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let run = registry.gc(&opts);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = run => if let Err(e) = r {
                tracing::warn!(region = %registry.inner.region, error = %e, "registry: periodic gc failed");
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;

    #[test]
    fn options_follow_the_spec_with_an_hour_of_grace_by_default() {
        let spec = RegistryGc {
            interval_seconds: NonZeroU64::new(60).unwrap(),
            grace_period_seconds: None,
            delete_untagged: true,
        };
        let o = options(&spec);
        assert_eq!(o.grace, DEFAULT_GRACE);
        assert!(o.untagged && !o.dry_run);
        let o = options(&RegistryGc {
            grace_period_seconds: Some(5),
            ..spec
        });
        assert_eq!(o.grace, Duration::from_secs(5));
    }
}
