//! What the volume controller does, decided without IO, as Kubernetes' PV
//! controller and k3s's local-path provisioner behave: a claim of a class
//! whose provisioner is ferry's gets a volume `pvc-<claim uid>` (capacity
//! its request, its access modes, the class's reclaim policy) and becomes
//! Bound — at once under `Immediate`, when a pod uses it under
//! `WaitForFirstConsumer`; other claims wait with Kubernetes' reason. A
//! claim being deleted goes when no pod uses it (`kubernetes.io/pvc-protection`);
//! a volume whose claim is gone follows its reclaim policy (Delete: the
//! volume and its directory go; Retain: kept, Released). The writer is
//! `volume.rs`.

use std::collections::BTreeSet;

/// The provisioner names ferry answers to (k3s's, and ferry's own).
pub const PROVISIONERS: [&str; 2] = ["rancher.io/local-path", "ferry.dev/local-path"];

/// The built-in default StorageClass.
pub const DEFAULT_CLASS: &str = "local-path";

/// The annotation marking the default StorageClass.
pub const DEFAULT_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// `(namespace, name)` of a claim.
pub type ClaimId = (String, String);

/// What happens to a volume when its claim goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reclaim {
    Delete,
    Retain,
}

impl Reclaim {
    /// `Delete` unless `Retain` (Kubernetes' default for dynamic volumes).
    pub fn parse(s: Option<&str>) -> Self {
        if s == Some("Retain") {
            Self::Retain
        } else {
            Self::Delete
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "Delete",
            Self::Retain => "Retain",
        }
    }
}

/// A StorageClass.
#[derive(Debug, Clone)]
pub struct Class {
    pub name: String,
    pub provisioner: String,
    pub reclaim: Reclaim,
    /// `volumeBindingMode: Immediate`.
    pub immediate: bool,
    /// Annotated as the default class.
    pub default: bool,
}

/// A PersistentVolumeClaim.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    pub id: ClaimId,
    pub uid: String,
    /// `spec.storageClassName`: `None` takes the default class, `""` none.
    pub class: Option<String>,
    pub volume_name: Option<String>,
    pub modes: Vec<String>,
    /// `resources.requests.storage`.
    pub request: String,
    pub phase: Option<String>,
    pub deleting: bool,
}

/// A PersistentVolume.
#[derive(Debug, Clone)]
pub struct Volume {
    pub name: String,
    /// `spec.claimRef`: the claim's id and uid.
    pub claim: Option<(ClaimId, String)>,
    pub reclaim: Reclaim,
    pub phase: Option<String>,
    pub deleting: bool,
}

/// Everything one pass looks at.
#[derive(Debug, Default)]
pub struct World {
    pub classes: Vec<Class>,
    pub claims: Vec<Claim>,
    pub volumes: Vec<Volume>,
    /// Claims some stored pod names (pods being deleted included).
    pub used: BTreeSet<ClaimId>,
    /// Claims a pod not being deleted names (a first consumer).
    pub consumed: BTreeSet<ClaimId>,
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make volume `volume` for the claim and bind them.
    Provision {
        claim: ClaimId,
        volume: String,
        class: String,
        reclaim: Reclaim,
    },
    /// The claim's volume exists (its claimRef names the claim): record the binding.
    Bind { claim: ClaimId, volume: String },
    /// The claim stays Pending: Kubernetes' event reason and message.
    Wait {
        claim: ClaimId,
        reason: &'static str,
        message: String,
    },
    /// The claim's volume is gone: phase Lost.
    Lost { claim: ClaimId },
    /// A claim being deleted that no pod uses: remove it.
    RemoveClaim { claim: ClaimId },
    /// Retain: the claim is gone, the volume stays, Released.
    Release { volume: String },
    /// Delete (or a deleted volume whose claim is gone): remove the volume
    /// object and its directory.
    DeleteVolume { volume: String },
}

/// The actions of one pass.
pub fn decide(w: &World) -> Vec<Action> {
    let mut out: Vec<Action> = w.claims.iter().filter_map(|c| claim(w, c)).collect();
    out.extend(w.volumes.iter().filter_map(|v| volume(w, v)));
    out
}

fn claim(w: &World, c: &Claim) -> Option<Action> {
    let id = c.id.clone();
    if c.deleting {
        return (!w.used.contains(&c.id)).then_some(Action::RemoveClaim { claim: id });
    }
    let bound = w
        .volumes
        .iter()
        .find(|v| v.claim.as_ref().is_some_and(|(_, uid)| *uid == c.uid));
    if let Some(v) = bound {
        let recorded =
            c.phase.as_deref() == Some("Bound") && c.volume_name.as_deref() == Some(&v.name);
        return (!recorded).then(|| Action::Bind {
            claim: id,
            volume: v.name.clone(),
        });
    }
    if let Some(name) = &c.volume_name {
        return match c.phase.as_deref() {
            Some("Bound") => Some(Action::Lost { claim: id }),
            Some("Lost") => None,
            _ => Some(wait(
                id,
                "FailedBinding",
                format!("volume \"{name}\" not found"),
            )),
        };
    }
    let class = match &c.class {
        Some(name) if !name.is_empty() => w.classes.iter().find(|k| k.name == *name),
        Some(_) => None,
        None => default_class(&w.classes),
    };
    let Some(class) = class else {
        return Some(match &c.class {
            Some(name) if !name.is_empty() => wait(
                id,
                "ProvisioningFailed",
                format!("storageclass.storage.k8s.io \"{name}\" not found"),
            ),
            _ => wait(
                id,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set".into(),
            ),
        });
    };
    if !PROVISIONERS.contains(&class.provisioner.as_str()) {
        return Some(wait(
            id,
            "ExternalProvisioning",
            format!(
                "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system administrator",
                class.provisioner
            ),
        ));
    }
    if !class.immediate && !w.consumed.contains(&c.id) {
        return Some(wait(
            id,
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding".into(),
        ));
    }
    Some(Action::Provision {
        claim: id,
        volume: volume_name(&c.uid),
        class: class.name.clone(),
        reclaim: class.reclaim,
    })
}

fn wait(claim: ClaimId, reason: &'static str, message: String) -> Action {
    Action::Wait {
        claim,
        reason,
        message,
    }
}

/// The default class: the one annotated so (the first by name if several).
pub fn default_class(classes: &[Class]) -> Option<&Class> {
    classes
        .iter()
        .filter(|c| c.default)
        .min_by(|a, b| a.name.cmp(&b.name))
}

/// The volume provisioned for the claim with `uid`.
pub fn volume_name(uid: &str) -> String {
    format!("pvc-{uid}")
}

fn volume(w: &World, v: &Volume) -> Option<Action> {
    let claim_alive = v
        .claim
        .as_ref()
        .is_some_and(|(id, uid)| w.claims.iter().any(|c| c.uid == *uid) || w.used.contains(id));
    if claim_alive {
        return None;
    }
    let delete = Action::DeleteVolume {
        volume: v.name.clone(),
    };
    if v.deleting {
        return Some(delete);
    }
    match v.reclaim {
        Reclaim::Delete => Some(delete),
        Reclaim::Retain if v.phase.as_deref() != Some("Released") => Some(Action::Release {
            volume: v.name.clone(),
        }),
        Reclaim::Retain => None,
    }
}

/// Which of the pods naming a ReadWriteOncePod claim may use it: the oldest
/// (`(creationTimestamp, name, uid)`, RFC 3339 sorts as time); the others wait.
pub fn single_pod_holder(pods: &[(String, String, String)]) -> Option<&str> {
    pods.iter().min().map(|(_, _, uid)| uid.as_str())
}

#[cfg(test)]
#[path = "volume_plan_tests.rs"]
mod tests;
