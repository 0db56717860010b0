//! The bounded memory of the traffic page: per destination, a ring of the
//! last [`Rings::points`] samples (request rate, success rate, p99), each
//! the difference between two reads of the gateway's cumulative totals
//! divided by the time between them. At most [`Rings::max_series`]
//! destinations are kept (the first seen); a counter that went backwards
//! (the gateway restarted) counts from zero. Pure: the caller passes the
//! time.

use std::collections::{BTreeMap, VecDeque};

use super::scrape::{DestKey, Totals, quantile};

/// One sample of one destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix seconds at the end of the interval.
    pub t: f64,
    /// Requests per second.
    pub rate: f64,
    /// Fraction of non-5xx answers; `None` without requests.
    pub success: Option<f64>,
    /// 99th percentile duration in seconds; `None` without requests.
    pub p99: Option<f64>,
}

/// Every destination's ring.
#[derive(Debug)]
pub struct Rings {
    /// Points kept per destination.
    pub points: usize,
    /// Destinations kept.
    pub max_series: usize,
    last: Option<(f64, BTreeMap<DestKey, Totals>)>,
    series: BTreeMap<DestKey, VecDeque<Point>>,
}

impl Rings {
    /// Empty rings of `points` samples for at most `max_series` destinations.
    pub fn new(points: usize, max_series: usize) -> Rings {
        Rings {
            points,
            max_series,
            last: None,
            series: BTreeMap::new(),
        }
    }

    /// Adds the samples between the previous read and `totals`, read at
    /// `now`. The first read only sets the baseline.
    pub fn push(&mut self, now: f64, totals: BTreeMap<DestKey, Totals>) {
        if let Some((then, before)) = self.last.take() {
            let dt = now - then;
            if dt > 0.0 {
                let zero = Totals::default();
                for (key, t) in &totals {
                    let prev = before.get(key).unwrap_or(&zero);
                    let point = sample(now, dt, prev, t);
                    self.add(key, point);
                }
            }
        }
        self.last = Some((now, totals));
    }

    fn add(&mut self, key: &DestKey, point: Point) {
        if !self.series.contains_key(key) && self.series.len() >= self.max_series {
            return;
        }
        let ring = self.series.entry(key.clone()).or_default();
        ring.push_back(point);
        while ring.len() > self.points {
            ring.pop_front();
        }
    }

    /// The samples of `key`, oldest first.
    pub fn series(&self, key: &DestKey) -> Vec<Point> {
        self.series
            .get(key)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Destinations with samples.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// The sample between cumulative totals `prev` and `now_t`, `dt` seconds
/// apart (from zero when a counter went backwards).
fn sample(t: f64, dt: f64, prev: &Totals, now_t: &Totals) -> Point {
    let reset = now_t.requests < prev.requests;
    let zero = Totals::default();
    let prev = if reset { &zero } else { prev };
    let requests = now_t.requests - prev.requests;
    let errors = now_t.errors.saturating_sub(prev.errors);
    let buckets: Vec<(f64, u64)> = now_t
        .buckets
        .iter()
        .map(|&(le, c)| {
            let before = prev
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0, |(_, c)| *c);
            (le, c.saturating_sub(before))
        })
        .collect();
    let any = requests > 0;
    Point {
        t,
        rate: requests as f64 / dt,
        success: any.then(|| 1.0 - errors as f64 / requests as f64),
        p99: if any { quantile(0.99, &buckets) } else { None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> DestKey {
        DestKey {
            route: "r".into(),
            service: s.into(),
            subset: String::new(),
        }
    }

    fn totals(requests: u64, errors: u64, fast: u64) -> Totals {
        Totals {
            requests,
            errors,
            buckets: vec![(0.01, fast), (0.1, requests), (f64::INFINITY, requests)],
        }
    }

    fn read(entries: &[(&str, Totals)]) -> BTreeMap<DestKey, Totals> {
        entries.iter().map(|(k, t)| (key(k), t.clone())).collect()
    }

    #[test]
    fn samples_are_differences_over_time() {
        let mut r = Rings::new(90, 10);
        r.push(100.0, read(&[("a", totals(1000, 0, 1000))]));
        assert!(r.is_empty(), "the first read is the baseline");
        r.push(110.0, read(&[("a", totals(1200, 50, 1100))]));
        let p = r.series(&key("a"));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].t, 110.0);
        assert!((p[0].rate - 20.0).abs() < 1e-9);
        assert_eq!(p[0].success, Some(0.75));
        let p99 = p[0].p99.unwrap();
        assert!(
            p99 > 0.01 && p99 <= 0.1,
            "half the new requests were slow: {p99}"
        );
        r.push(120.0, read(&[("a", totals(1200, 50, 1100))]));
        let last = r.series(&key("a"))[1];
        assert_eq!((last.rate, last.success, last.p99), (0.0, None, None));
    }

    #[test]
    fn rings_and_the_number_of_destinations_are_bounded() {
        let mut r = Rings::new(90, 2);
        for i in 0..200u64 {
            let t = totals(i * 10, 0, i * 10);
            r.push(
                i as f64 * 10.0,
                read(&[("a", t.clone()), ("b", t.clone()), ("c", t)]),
            );
        }
        assert_eq!(r.series(&key("a")).len(), 90);
        assert_eq!(r.series(&key("a"))[0].t, 1100.0, "the oldest went first");
        assert_eq!(r.len(), 2);
        assert!(r.series(&key("c")).is_empty(), "no room for a third");
    }

    #[test]
    fn a_new_destination_counts_from_zero_and_a_reset_too() {
        let mut r = Rings::new(90, 10);
        r.push(0.0, BTreeMap::new());
        r.push(10.0, read(&[("a", totals(50, 0, 50))]));
        assert_eq!(r.series(&key("a"))[0].rate, 5.0);
        r.push(20.0, read(&[("a", totals(10, 10, 0))]));
        let p = r.series(&key("a"))[1];
        assert_eq!((p.rate, p.success), (1.0, Some(0.0)));
    }
}
