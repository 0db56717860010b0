//! What a login may cost: failed logins are rate-limited per client IP by a
//! token bucket ([`LoginLimiter`]: a few failures per minute, then `429` with
//! `Retry-After`), and argon2 verification runs on blocking threads under a
//! small semaphore ([`Argon2Pool`]), so a flood of wrong passwords can
//! neither guess at speed nor occupy every core.
//!
//! A login reserves one token before it is verified and gets it back when it
//! succeeds: successful logins never count, and concurrent guesses cannot
//! all slip through before the first failure is recorded. While an IP's
//! bucket is empty every Basic login from it gets `429` (a correct password
//! included, or guessing could go on through the verified-secret cache).

use ferry_core::sync::MutexExt;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Failed logins allowed from one IP before `429`.
pub const LOGIN_BURST: u32 = 5;
/// The time in which an IP's whole burst refills.
pub const LOGIN_REFILL: Duration = Duration::from_secs(60);
/// Concurrent argon2 verifications.
pub const ARGON2_PERMITS: usize = 2;
/// Buckets kept before full ones are forgotten.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-IP token buckets of failed logins.
#[derive(Debug)]
pub struct LoginLimiter {
    burst: f64,
    /// Tokens regained per second.
    rate: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LOGIN_BURST, LOGIN_REFILL)
    }
}

impl LoginLimiter {
    /// `burst` failures, refilled evenly over `refill`.
    pub fn new(burst: u32, refill: Duration) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            burst,
            rate: burst / refill.as_secs_f64().max(0.001),
            buckets: Mutex::default(),
        }
    }

    fn refilled(&self, b: Bucket, now: Instant) -> Bucket {
        let gained = now.saturating_duration_since(b.at).as_secs_f64() * self.rate;
        Bucket {
            tokens: (b.tokens + gained).min(self.burst),
            at: now,
        }
    }

    /// Reserves one login attempt for `ip`, or says in how many seconds
    /// the next one is allowed.
    pub fn reserve(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock_or_recover();
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| self.refilled(*b, now).tokens < self.burst);
        }
        let full = Bucket {
            tokens: self.burst,
            at: now,
        };
        let b = self.refilled(*buckets.get(&ip).unwrap_or(&full), now);
        if b.tokens < 1.0 {
            buckets.insert(ip, b);
            let wait = (1.0 - b.tokens) / self.rate;
            return Err(wait.ceil().max(1.0) as u64);
        }
        buckets.insert(
            ip,
            Bucket {
                tokens: b.tokens - 1.0,
                ..b
            },
        );
        Ok(())
    }

    /// Gives back the attempt a successful login reserved.
    pub fn refund(&self, ip: IpAddr) {
        let mut buckets = self.buckets.lock_or_recover();
        if let Some(b) = buckets.get_mut(&ip) {
            b.tokens = (b.tokens + 1.0).min(self.burst);
        }
    }
}

/// Runs argon2 work on blocking threads, at most `permits` at a time.
#[derive(Debug, Clone)]
pub struct Argon2Pool {
    permits: Arc<Semaphore>,
}

impl Default for Argon2Pool {
    fn default() -> Self {
        Self::new(ARGON2_PERMITS)
    }
}

impl Argon2Pool {
    pub fn new(permits: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// Runs `f` on a blocking thread once a permit is free; `None` if the
    /// task panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the argon2 semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn failures_are_limited_per_ip_and_refill_over_time() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.reserve(a, t0), Ok(()));
        }
        // The fourth failure within the minute waits for one token (20 s).
        assert_eq!(l.reserve(a, t0), Err(20));
        assert_eq!(l.reserve(a, t0 + Duration::from_secs(5)), Err(15));
        // Another IP is unaffected.
        assert_eq!(l.reserve(b, t0), Ok(()));
        assert_eq!(l.reserve(a, t0 + Duration::from_secs(20)), Ok(()));
        assert!(l.reserve(a, t0 + Duration::from_secs(20)).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn successful_logins_give_their_attempt_back() {
        let l = LoginLimiter::new(2, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            l.reserve(ip, t0).unwrap();
            l.refund(ip);
        }
        assert_eq!(l.reserve(ip, t0), Ok(()));
        assert_eq!(l.reserve(ip, t0), Ok(()));
        assert!(l.reserve(ip, t0).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn argon2_work_never_runs_more_than_the_permits_at_once() {
        let pool = Argon2Pool::new(2);
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        // Stands in for argon2's ~50 ms of hashing.
                        std::thread::sleep(Duration::from_millis(30));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "{peak} verifications ran at once");
    }
}
