//! A rule's bandwidth cap (`spec.bandwidth`): one token bucket per rule,
//! shared by every blob the rule copies at once, and a [`BlobSource`] that
//! spends tokens for each chunk before handing it on. A copy streams
//! source → target, so pacing the bytes read from the source paces the
//! download and the upload alike.
//!
//! The bucket lets a chunk through at once while tokens last and goes
//! into debt for a chunk larger than what is left: the taker then sleeps
//! until the debt is paid at the refill rate. Concurrent takers each sleep
//! for the debt they found, so together they move at the rate, however
//! many streams share it. The bucket holds at most a quarter of a second
//! of bytes (at least 64 KiB), so an idle rule bursts little.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use ferry_core::sync::MutexExt;
use ferry_image::Result;
use ferry_image::client::{BlobSource, ByteStream};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::time::Instant;

/// A token bucket refilled at `rate` bytes per second.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket of `bytes_per_second`.
    pub fn new(bytes_per_second: u64) -> Self {
        let rate = bytes_per_second.max(1) as f64;
        let capacity = (rate / 4.0).max(64.0 * 1024.0);
        Self {
            rate,
            capacity,
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    /// The refill rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }

    /// Takes `bytes` tokens, waiting as long as the bucket is in debt.
    pub async fn take(&self, bytes: usize) {
        let wait = {
            let mut s = self.state.lock_or_recover();
            let now = Instant::now();
            let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
            s.0 = (s.0 + refill).min(self.capacity) - bytes as f64;
            s.1 = now;
            (s.0 < 0.0).then(|| Duration::from_secs_f64(-s.0 / self.rate))
        };
        if let Some(w) = wait {
            tokio::time::sleep(w).await;
        }
    }
}

/// `inner`'s bytes, paced by `bucket`.
#[derive(Debug)]
pub struct Throttled<S> {
    pub inner: S,
    pub bucket: Arc<TokenBucket>,
}

impl<S: BlobSource> BlobSource for Throttled<S> {
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<ByteStream>> {
        Box::pin(async move {
            let stream = self.inner.open(offset).await?;
            let bucket = self.bucket.clone();
            Ok(stream
                .then(move |chunk| {
                    let bucket = bucket.clone();
                    async move {
                        if let Ok(c) = &chunk {
                            bucket.take(c.len()).await;
                        }
                        chunk
                    }
                })
                .boxed())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_takers_at_the_rate_together() {
        let bucket = Arc::new(TokenBucket::new(1 << 20));
        let start = Instant::now();
        let takers = (0..4).map(|_| {
            let b = bucket.clone();
            tokio::spawn(async move {
                for _ in 0..64 {
                    b.take(16 << 10).await;
                }
            })
        });
        for t in takers.collect::<Vec<_>>() {
            t.await.unwrap();
        }
        // 4 MiB at 1 MiB/s, less the quarter second the full bucket holds.
        let took = start.elapsed().as_secs_f64();
        assert!((3.6..=4.1).contains(&took), "took {took:.2}s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_lets_a_burst_through_at_once() {
        let bucket = TokenBucket::new(1 << 20);
        let start = Instant::now();
        bucket.take(200 << 10).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        bucket.take(200 << 10).await;
        assert!(start.elapsed() >= Duration::from_millis(100));
    }
}
