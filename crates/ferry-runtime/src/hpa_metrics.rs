//! What HorizontalPodAutoscalers measure, read where ferry has it (no
//! metrics-server): CPU from each container's cgroup (`cpuacct.usage` on
//! cgroup v1, `cpu.stat` `usage_usec` on v2) as a rate over the last
//! [`RATE_WINDOW`], memory as the working set (usage minus inactive file
//! pages, as cAdvisor and metrics-server report it), and requests per
//! second from the gateway's per-pod counts (`ferry_core::pod_load`).
//! Values are milli-units (millicores, milli-bytes, milli-requests/s).
//! [`metric`] turns one metric of an HPA's spec into the plan's input.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry_core::pod_load::PodRequestCounts;
use ferry_core::sync::{MutexExt, RwLockExt};
use k8s_openapi::api::autoscaling::v2::MetricSpec;
use k8s_openapi::api::core::v1::Pod;

use crate::deploy::ready;
use crate::hpa_plan::{MetricInput, PodMetric, Source, Target};
use crate::runtime::Inner;
use crate::validate::parse_quantity;

/// Rates are taken over about this much of the most recent samples.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Samples are at least this far apart.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

const CGROUP: &str = "/sys/fs/cgroup";

/// A pod to sample: uid, namespace, name and app containers.
#[derive(Debug, Clone)]
pub struct Sampled {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub containers: Vec<String>,
}

#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    /// CPU time used so far per container, nanoseconds.
    cpu: BTreeMap<String, u64>,
    /// Requests answered so far.
    requests: Option<u64>,
}

/// Recent samples per pod uid.
#[derive(Debug, Default)]
pub struct Sampler {
    last: Option<Instant>,
    series: HashMap<String, VecDeque<Sample>>,
}

impl Sampler {
    /// Samples `pods` (at most once per second); forgets other pods.
    pub fn sample(&mut self, pods: &[Sampled], counts: Option<&dyn PodRequestCounts>) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < SAMPLE_EVERY)
        {
            return;
        }
        self.last = Some(now);
        self.series
            .retain(|uid, _| pods.iter().any(|p| &p.uid == uid));
        for p in pods {
            let cpu = p
                .containers
                .iter()
                .filter_map(|c| Some((c.clone(), cpu_ns(&p.uid, c)?)))
                .collect();
            let requests = counts.map(|c| c.answered(&p.namespace, &p.name).unwrap_or(0));
            let s = self.series.entry(p.uid.clone()).or_default();
            s.push_back(Sample {
                at: now,
                cpu,
                requests,
            });
            while s.len() > 2 && now.duration_since(s[1].at) >= RATE_WINDOW {
                s.pop_front();
            }
        }
    }

    /// The oldest and newest samples of a pod, if at least a second apart.
    fn span(&self, uid: &str) -> Option<(&Sample, &Sample, f64)> {
        let s = self.series.get(uid)?;
        let (a, b) = (s.front()?, s.back()?);
        let dt = b.at.duration_since(a.at);
        (dt >= SAMPLE_EVERY).then_some((a, b, dt.as_secs_f64()))
    }

    /// CPU use in millicores of `containers` of pod `uid` (all of them).
    pub fn cpu_millis(&self, uid: &str, containers: &[String]) -> Option<i64> {
        let (a, b, dt) = self.span(uid)?;
        let mut used = 0u64;
        for c in containers {
            used += b.cpu.get(c)?.checked_sub(*a.cpu.get(c)?)?;
        }
        Some((used as f64 / dt / 1e6).round() as i64)
    }

    /// Requests per second the pod answered, in milli-units.
    pub fn requests_milli(&self, uid: &str) -> Option<i64> {
        let (a, b, dt) = self.span(uid)?;
        let n = b.requests?.checked_sub(a.requests?)?;
        Some((n as f64 * 1000.0 / dt).round() as i64)
    }
}

/// Working set of `containers` of pod `uid` in milli-bytes.
pub fn memory_milli(uid: &str, containers: &[String]) -> Option<i64> {
    let mut total = 0i64;
    for c in containers {
        total += working_set(uid, c)?;
    }
    Some(total * 1000)
}

fn v1(subsystem: &str, uid: &str, container: &str) -> PathBuf {
    Path::new(CGROUP)
        .join(subsystem)
        .join("ferry")
        .join(uid)
        .join(container)
}

fn v2(uid: &str, container: &str) -> PathBuf {
    Path::new(CGROUP).join("ferry").join(uid).join(container)
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// A `key value` line of a `*.stat` file.
fn stat(p: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(p).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// CPU time a container used so far, nanoseconds.
fn cpu_ns(uid: &str, container: &str) -> Option<u64> {
    read_u64(&v1("cpuacct", uid, container).join("cpuacct.usage"))
        .or_else(|| Some(stat(&v2(uid, container).join("cpu.stat"), "usage_usec")? * 1000))
}

/// A container's working set in bytes.
fn working_set(uid: &str, container: &str) -> Option<i64> {
    let d = v1("memory", uid, container);
    let (usage, inactive) = match read_u64(&d.join("memory.usage_in_bytes")) {
        Some(u) => (u, stat(&d.join("memory.stat"), "total_inactive_file")),
        None => {
            let d = v2(uid, container);
            let u = read_u64(&d.join("memory.current"))?;
            (u, stat(&d.join("memory.stat"), "inactive_file"))
        }
    };
    Some(usage.saturating_sub(inactive.unwrap_or(0)) as i64)
}

// === from an HPA's metric spec to the plan's input ===

pub fn to_sample(p: &Pod) -> Option<Sampled> {
    Some(Sampled {
        uid: p.metadata.uid.clone()?,
        namespace: p.metadata.namespace.clone()?,
        name: p.metadata.name.clone()?,
        containers: containers(p),
    })
}

fn containers(p: &Pod) -> Vec<String> {
    p.spec
        .iter()
        .flat_map(|s| &s.containers)
        .map(|c| c.name.clone())
        .collect()
}

/// One metric of the spec, measured on `pods`.
pub fn metric(
    inner: &Inner,
    sampler: &Sampler,
    m: &MetricSpec,
    pods: &[&Pod],
) -> Option<MetricInput> {
    let (source, target) = match m.type_.as_str() {
        "Resource" => {
            let r = m.resource.as_ref()?;
            (Source::Resource(r.name.clone()), &r.target)
        }
        "ContainerResource" => {
            let r = m.container_resource.as_ref()?;
            (
                Source::ContainerResource(r.name.clone(), r.container.clone()),
                &r.target,
            )
        }
        "Pods" => {
            let p = m.pods.as_ref()?;
            (Source::Pods(p.metric.name.clone()), &p.target)
        }
        // Refused at apply (validate_hpa).
        _ => return None,
    };
    let target = match (target.average_utilization, target.average_value.as_ref()) {
        (Some(u), _) if target.type_ == "Utilization" => Target::Utilization(u),
        (_, Some(q)) => Target::AverageValue(milli(&q.0)?),
        _ => return None,
    };
    let counts = inner.requests.read_or_recover().is_some();
    let pods = match &source {
        Source::Pods(_) if !counts => Err("no gateway counts requests in this runtime".into()),
        _ => Ok(pods
            .iter()
            .map(|p| pod_metric(inner, sampler, &source, p))
            .collect()),
    };
    Some(MetricInput {
        source,
        target,
        pods,
    })
}

fn milli(q: &str) -> Option<i64> {
    parse_quantity(q).map(|v| (v * 1000.0).round() as i64)
}

/// How pod `p` counts for `source`.
fn pod_metric(inner: &Inner, sampler: &Sampler, source: &Source, p: &Pod) -> PodMetric {
    let uid = p.metadata.uid.clone().unwrap_or_default();
    let rt = inner.pod_rt(&uid).lock_or_recover().status.clone();
    let policy = p.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
    let started = rt
        .container_statuses
        .as_ref()
        .is_some_and(|c| !c.is_empty());
    let ignored = p.metadata.deletion_timestamp.is_some()
        || crate::job::finished_phase(policy, &rt) == Some("Failed")
        || !started;
    let all = containers(p);
    let (resource, chosen) = match source {
        Source::Resource(r) => (r.as_str(), all),
        Source::ContainerResource(r, c) => (r.as_str(), vec![c.clone()]),
        Source::Pods(_) => ("", all),
    };
    let value = match (source, resource) {
        (Source::Pods(_), _) => sampler.requests_milli(&uid),
        (_, "cpu") => sampler.cpu_millis(&uid, &chosen),
        (_, "memory") => memory_milli(&uid, &chosen),
        _ => None,
    };
    PodMetric {
        name: p.metadata.name.clone().unwrap_or_default(),
        ignored,
        unready: !ready(inner, p),
        value,
        request: request(p, resource, &chosen),
    }
}

/// The sum of `containers`' requests for `resource` (milli-units).
fn request(p: &Pod, resource: &str, containers: &[String]) -> Result<i64, String> {
    let mut total = 0;
    for c in p.spec.iter().flat_map(|s| &s.containers) {
        if !containers.contains(&c.name) {
            continue;
        }
        let q = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref()?.get(resource));
        total += q.and_then(|q| milli(&q.0)).ok_or_else(|| c.name.clone())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_by_their_exact_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("memory.stat");
        std::fs::write(&p, "inactive_file 10\ntotal_inactive_file 4096\n").unwrap();
        assert_eq!(stat(&p, "total_inactive_file"), Some(4096));
        assert_eq!(stat(&p, "inactive_file"), Some(10));
        assert_eq!(stat(&p, "active_file"), None);
    }

    #[test]
    fn rates_need_two_samples_a_second_apart() {
        let mut s = Sampler::default();
        let t = Instant::now();
        let sample = |at, cpu: u64, requests| Sample {
            at,
            cpu: [("c".to_string(), cpu)].into_iter().collect(),
            requests: Some(requests),
        };
        s.series
            .insert("u".into(), [sample(t, 0, 10)].into_iter().collect());
        assert_eq!(s.requests_milli("u"), None);
        let later = t + Duration::from_secs(2);
        s.series
            .get_mut("u")
            .unwrap()
            .push_back(sample(later, 1_000_000_000, 30));
        assert_eq!(s.requests_milli("u"), Some(10_000));
        assert_eq!(s.cpu_millis("u", &["c".into()]), Some(500));
        assert_eq!(s.cpu_millis("u", &["other".into()]), None);
    }
}
