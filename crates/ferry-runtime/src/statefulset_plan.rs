//! The StatefulSet controller's decisions, pure, as Kubernetes'
//! `updateStatefulSet` makes them: which ordinals get a pod (and at which
//! revision: ordinals below `start + partition` keep the current one under
//! RollingUpdate), which pods go (condemned ordinals from the highest down,
//! pods of an old revision during a rolling update, highest first), and
//! when to wait (OrderedReady: one ordinal at a time, each Running and
//! Ready before the next; Parallel: no waiting for creation or deletion).
//! Also the status the StatefulSet reports. `statefulset.rs` applies them.

/// One pod of the StatefulSet, as the decisions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub ordinal: i32,
    pub name: String,
    /// Its `controller-revision-hash` label (a ControllerRevision's name).
    pub revision: String,
    /// Running and Ready (Kubernetes' `isHealthy`, minReadySeconds aside).
    pub healthy: bool,
    /// `deletionTimestamp` set: terminating.
    pub deleting: bool,
}

/// How pods of an old revision are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Ordinals `>= start + partition` are updated, highest first.
    RollingUpdate { partition: i32 },
    /// Only pods someone deleted come back at the new revision.
    OnDelete,
}

/// The StatefulSet's spec with its pods.
#[derive(Debug, Clone)]
pub struct Input {
    /// `spec.ordinals.start` (0 by default).
    pub start: i32,
    pub replicas: i32,
    /// `podManagementPolicy: Parallel`.
    pub parallel: bool,
    pub strategy: Strategy,
    /// The revision of the current template.
    pub update_revision: String,
    /// The revision pods had before the update began (`status.currentRevision`).
    pub current_revision: String,
    pub pods: Vec<PodView>,
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// `(ordinal, revision)` of each pod to create, lowest first.
    pub create: Vec<(i32, String)>,
    /// Names of the pods to delete, in order.
    pub delete: Vec<String>,
}

/// The status counts of a StatefulSet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub replicas: i32,
    pub ready: i32,
    pub current: i32,
    pub updated: i32,
    pub current_revision: String,
}

impl Input {
    /// The revision a new pod of `ordinal` gets.
    fn revision_for(&self, ordinal: i32) -> &str {
        match self.strategy {
            Strategy::RollingUpdate { partition } if ordinal < self.start + partition => {
                &self.current_revision
            }
            _ => &self.update_revision,
        }
    }

    fn in_range(&self, ordinal: i32) -> bool {
        (self.start..self.start + self.replicas.max(0)).contains(&ordinal)
    }
}

/// Kubernetes' sync of one StatefulSet.
pub fn plan(i: &Input) -> Plan {
    let mut out = Plan::default();
    let monotonic = !i.parallel;
    let by_ordinal = |o: i32| i.pods.iter().find(|p| p.ordinal == o);
    // The pods that should exist, lowest ordinal first.
    for ordinal in i.start..i.start + i.replicas.max(0) {
        match by_ordinal(ordinal) {
            None => {
                out.create
                    .push((ordinal, i.revision_for(ordinal).to_string()));
                if monotonic {
                    return out;
                }
            }
            Some(p) if monotonic && (p.deleting || !p.healthy) => return out,
            Some(_) => {}
        }
    }
    // Condemned pods go from the highest ordinal down; under OrderedReady
    // one at a time, and only while every other pod is healthy.
    let mut condemned: Vec<&PodView> = i.pods.iter().filter(|p| !i.in_range(p.ordinal)).collect();
    condemned.sort_by_key(|p| std::cmp::Reverse(p.ordinal));
    let first_unhealthy = {
        let mut all: Vec<&PodView> = i.pods.iter().collect();
        all.sort_by_key(|p| p.ordinal);
        all.into_iter()
            .find(|p| !p.healthy || p.deleting)
            .map(|p| p.ordinal)
    };
    for p in &condemned {
        if p.deleting {
            if monotonic {
                return out;
            }
            continue;
        }
        if monotonic && first_unhealthy.is_some_and(|o| o != p.ordinal) {
            return out;
        }
        out.delete.push(p.name.clone());
        if monotonic {
            return out;
        }
    }
    if !out.create.is_empty() || !out.delete.is_empty() {
        return out;
    }
    // Rolling update: from the highest ordinal down to start + partition,
    // one pod at a time, each healthy at the new revision before the next.
    let Strategy::RollingUpdate { partition } = i.strategy else {
        return out;
    };
    let top = i.start + i.replicas.max(0) - 1;
    for ordinal in (i.start + partition.max(0)..=top).rev() {
        let Some(p) = by_ordinal(ordinal) else {
            return out;
        };
        if p.revision != i.update_revision && !p.deleting {
            out.delete.push(p.name.clone());
            return out;
        }
        if !p.healthy || p.deleting {
            return out;
        }
    }
    out
}

/// The counts `status` reports; the current revision becomes the update
/// revision once a rolling update has replaced every pod and all are ready.
pub fn counts(i: &Input) -> Counts {
    let live: Vec<&PodView> = i.pods.iter().filter(|p| !p.deleting).collect();
    let n = |f: &dyn Fn(&PodView) -> bool| live.iter().filter(|p| f(p)).count() as i32;
    let mut c = Counts {
        replicas: live.len() as i32,
        ready: n(&|p| p.healthy),
        current: n(&|p| p.revision == i.current_revision),
        updated: n(&|p| p.revision == i.update_revision),
        current_revision: i.current_revision.clone(),
    };
    let rolling = matches!(i.strategy, Strategy::RollingUpdate { .. });
    if (rolling && c.updated == c.replicas && c.ready == c.replicas && c.replicas == i.replicas)
        || c.current_revision.is_empty()
    {
        c.current_revision = i.update_revision.clone();
        c.current = c.updated;
    }
    c
}

#[cfg(test)]
#[path = "statefulset_plan_tests.rs"]
mod tests;
