//! Kubernetes' replica calculator, pure: one metric's desired replicas
//! from the pods' values (milli-units) against a Utilization or an
//! AverageValue target, with the tolerance and the rules for pods without
//! a metric (0 % on a scale-up, 100 % of the request or the target on a
//! scale-down) and unready pods (left out of CPU, 0 % on a scale-up).

use std::collections::BTreeMap;

use crate::hpa_plan::PodMetric;

/// Kubernetes' `--horizontal-pod-autoscaler-tolerance`.
pub const TOLERANCE: f64 = 0.1;

/// Pods split as Kubernetes' `groupPods` does.
struct Groups {
    ready: i32,
    unready: Vec<String>,
    missing: Vec<String>,
    metrics: BTreeMap<String, i64>,
}

fn group(pods: &[PodMetric], cpu: bool) -> Groups {
    let mut g = Groups {
        ready: 0,
        unready: vec![],
        missing: vec![],
        metrics: BTreeMap::new(),
    };
    for p in pods.iter().filter(|p| !p.ignored) {
        match p.value {
            None => g.missing.push(p.name.clone()),
            Some(_) if cpu && p.unready => g.unready.push(p.name.clone()),
            Some(v) => {
                g.ready += 1;
                g.metrics.insert(p.name.clone(), v);
            }
        }
    }
    g
}

fn within_tolerance(ratio: f64) -> bool {
    (1.0 - ratio).abs() <= TOLERANCE
}

/// Rules shared by both calculators once the first ratio is known:
/// `fill(metrics, ratio)` puts in values for missing and unready pods.
fn recount(
    current: i32,
    g: &Groups,
    ratio: f64,
    fill: impl Fn(&mut BTreeMap<String, i64>, &str, bool),
    ratio_of: impl Fn(&BTreeMap<String, i64>) -> Result<f64, String>,
) -> Result<i32, String> {
    let unready_up = !g.unready.is_empty() && ratio > 1.0;
    if !unready_up && g.missing.is_empty() {
        if within_tolerance(ratio) {
            return Ok(current);
        }
        return Ok((ratio * f64::from(g.ready)).ceil() as i32);
    }
    let mut metrics = g.metrics.clone();
    if ratio != 1.0 {
        for m in &g.missing {
            fill(&mut metrics, m, ratio < 1.0);
        }
    }
    if unready_up {
        for u in &g.unready {
            metrics.insert(u.clone(), 0);
        }
    }
    let new_ratio = ratio_of(&metrics)?;
    if within_tolerance(new_ratio)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(current);
    }
    let n = (new_ratio * metrics.len() as f64).ceil() as i32;
    if (new_ratio < 1.0 && n > current) || (new_ratio > 1.0 && n < current) {
        return Ok(current);
    }
    Ok(n)
}

/// A Utilization target: `(replicas, utilization %, raw average)`.
pub fn utilization_replicas(
    current: i32,
    target: i32,
    pods: &[PodMetric],
    cpu: bool,
) -> Result<(i32, i32, i64), String> {
    let g = group(pods, cpu);
    if g.metrics.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let mut requests = BTreeMap::new();
    for p in pods {
        let r = p.request.as_ref().map_err(|c| {
            let resource = if cpu { "cpu" } else { "memory" };
            format!(
                "missing request for {resource} in container {c} of Pod {}",
                p.name
            )
        })?;
        requests.insert(p.name.clone(), *r);
    }
    let ratio_of = |metrics: &BTreeMap<String, i64>| -> Result<(f64, i32, i64), String> {
        let (mut total, mut req, mut n) = (0i64, 0i64, 0i64);
        for (pod, v) in metrics {
            if let Some(r) = requests.get(pod) {
                total += v;
                req += r;
                n += 1;
            }
        }
        if req == 0 {
            return Err("no metrics returned matched known pods".into());
        }
        let util = (total * 100 / req) as i32;
        Ok((f64::from(util) / f64::from(target), util, total / n))
    };
    let (ratio, util, raw) = ratio_of(&g.metrics)?;
    let fallback = i64::from(target.max(100));
    let fill = |m: &mut BTreeMap<String, i64>, pod: &str, down: bool| {
        let v = if down {
            requests[pod] * fallback / 100
        } else {
            0
        };
        m.insert(pod.to_string(), v);
    };
    let n = recount(current, &g, ratio, fill, |m| ratio_of(m).map(|r| r.0))?;
    Ok((n, util, raw))
}

/// An AverageValue target: `(replicas, average usage)`.
pub fn plain_replicas(
    current: i32,
    target: i64,
    pods: &[PodMetric],
    cpu: bool,
) -> Result<(i32, i64), String> {
    let g = group(pods, cpu);
    if g.metrics.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let ratio_of = |m: &BTreeMap<String, i64>| -> Result<f64, String> {
        let usage = m.values().sum::<i64>() / m.len() as i64;
        Ok(usage as f64 / target as f64)
    };
    let usage = g.metrics.values().sum::<i64>() / g.metrics.len() as i64;
    let fill = |m: &mut BTreeMap<String, i64>, pod: &str, down: bool| {
        m.insert(pod.to_string(), if down { target } else { 0 });
    };
    let n = recount(current, &g, ratio_of(&g.metrics)?, fill, ratio_of)?;
    Ok((n, usage))
}
