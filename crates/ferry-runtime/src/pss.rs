//! Pod Security Standards at apply: a namespace's
//! `pod-security.kubernetes.io/enforce` label (`privileged`, `baseline`,
//! `restricted`; `baseline` when absent) decides what its Pods and the pod
//! templates of its Deployments and ReplicaSets may ask for. The checks
//! follow Kubernetes' definitions of the levels; each problem names the
//! field and the label value that would allow it.

use std::collections::BTreeMap;

use ferry_core::yaml::Document;
use k8s_openapi::api::core::v1::{Container, PodSpec, SecurityContext};

use crate::validate::Found;

/// The namespace label naming the enforced level.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    Privileged,
    #[default]
    Baseline,
    Restricted,
}

impl Level {
    /// The level a namespace's labels enforce; `Err` for an unknown value.
    pub fn of_labels(labels: Option<&BTreeMap<String, String>>) -> crate::Result<Level> {
        match labels
            .and_then(|l| l.get(ENFORCE_LABEL))
            .map(String::as_str)
        {
            None | Some("baseline") => Ok(Level::Baseline),
            Some("privileged") => Ok(Level::Privileged),
            Some("restricted") => Ok(Level::Restricted),
            Some(other) => Err(crate::Error::PssLevel(other.to_string())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// Capabilities the baseline level lets containers add.
pub const BASELINE_CAPS: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Checks `spec` (at `base`) against `level` for namespace `ns`.
pub fn check(doc: &Document, base: &str, spec: &PodSpec, ns: &str, level: Level, out: &mut Found) {
    if level == Level::Privileged {
        return;
    }
    let mut deny = |field: String, what: String, allowed_by: Level| {
        out.push(doc.problem(
            &field,
            format!(
                "{what} is not allowed by the `{}` Pod Security Standard of namespace `{ns}`; label the namespace {ENFORCE_LABEL}={} to allow it",
                level.name(),
                allowed_by.name()
            ),
        ))
    };
    for (field, on) in [
        ("hostNetwork", spec.host_network),
        ("hostPID", spec.host_pid),
        ("hostIPC", spec.host_ipc),
    ] {
        if on == Some(true) {
            deny(
                format!("{base}.{field}"),
                format!("{field}: true"),
                Level::Privileged,
            );
        }
    }
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        if v.host_path.is_some() {
            deny(
                format!("{base}.volumes[{i}].hostPath"),
                "a hostPath volume".into(),
                Level::Privileged,
            );
        }
    }
    let psc = spec.security_context.clone().unwrap_or_default();
    let pod_seccomp = psc.seccomp_profile.as_ref().map(|p| p.type_.as_str());
    if pod_seccomp == Some("Unconfined") {
        deny(
            format!("{base}.securityContext.seccompProfile.type"),
            "seccomp profile Unconfined".into(),
            Level::Privileged,
        );
    }
    for (at, c) in crate::validate::containers_at(spec, base) {
        baseline_container(&at, c, &mut deny);
        if level == Level::Restricted {
            restricted_container(&at, c, &psc, pod_seccomp, &mut deny);
        }
    }
    if level == Level::Restricted {
        for (i, v) in spec.volumes.iter().flatten().enumerate() {
            let allowed = v.empty_dir.is_some()
                || v.config_map.is_some()
                || v.secret.is_some()
                || v.projected.is_some()
                || v.downward_api.is_some()
                || v.persistent_volume_claim.is_some()
                || v.csi.is_some()
                || v.ephemeral.is_some();
            if !allowed && v.host_path.is_none() {
                deny(
                    format!("{base}.volumes[{i}]"),
                    "this volume type".into(),
                    Level::Baseline,
                );
            }
        }
    }
}

type Deny<'a> = dyn FnMut(String, String, Level) + 'a;

fn baseline_container(at: &str, c: &Container, deny: &mut Deny<'_>) {
    let sc = c.security_context.clone().unwrap_or_default();
    if sc.privileged == Some(true) {
        deny(
            format!("{at}.securityContext.privileged"),
            "a privileged container".into(),
            Level::Privileged,
        );
    }
    for (j, cap) in sc
        .capabilities
        .iter()
        .flat_map(|c| c.add.iter().flatten())
        .enumerate()
    {
        if !BASELINE_CAPS.contains(&norm_cap(cap).as_str()) {
            deny(
                format!("{at}.securityContext.capabilities.add[{j}]"),
                format!("adding capability `{cap}`"),
                Level::Privileged,
            );
        }
    }
    if sc
        .seccomp_profile
        .as_ref()
        .is_some_and(|p| p.type_ == "Unconfined")
    {
        deny(
            format!("{at}.securityContext.seccompProfile.type"),
            "seccomp profile Unconfined".into(),
            Level::Privileged,
        );
    }
    if sc.proc_mount.as_deref().is_some_and(|m| m != "Default") {
        deny(
            format!("{at}.securityContext.procMount"),
            "a procMount other than Default".into(),
            Level::Privileged,
        );
    }
    for (j, p) in c.ports.iter().flatten().enumerate() {
        if p.host_port.is_some_and(|h| h != 0) {
            deny(
                format!("{at}.ports[{j}].hostPort"),
                "a hostPort".into(),
                Level::Privileged,
            );
        }
    }
}

fn restricted_container(
    at: &str,
    c: &Container,
    psc: &k8s_openapi::api::core::v1::PodSecurityContext,
    pod_seccomp: Option<&str>,
    deny: &mut Deny<'_>,
) {
    let sc: SecurityContext = c.security_context.clone().unwrap_or_default();
    let sca = format!("{at}.securityContext");
    if sc.allow_privilege_escalation != Some(false) {
        deny(
            format!("{sca}.allowPrivilegeEscalation"),
            "allowPrivilegeEscalation other than false".into(),
            Level::Baseline,
        );
    }
    if sc.run_as_non_root.or(psc.run_as_non_root) != Some(true) {
        deny(
            format!("{sca}.runAsNonRoot"),
            "running without runAsNonRoot: true (here or in the pod's securityContext)".into(),
            Level::Baseline,
        );
    }
    if sc.run_as_user.or(psc.run_as_user) == Some(0) {
        deny(
            format!("{sca}.runAsUser"),
            "runAsUser 0".into(),
            Level::Baseline,
        );
    }
    let seccomp = sc
        .seccomp_profile
        .as_ref()
        .map(|p| p.type_.as_str())
        .or(pod_seccomp);
    if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
        deny(format!("{sca}.seccompProfile.type"), "a seccomp profile other than RuntimeDefault or Localhost (here or in the pod's securityContext)".into(), Level::Baseline);
    }
    let caps = sc.capabilities.clone().unwrap_or_default();
    if !caps.drop.iter().flatten().any(|c| norm_cap(c) == "ALL") {
        deny(
            format!("{sca}.capabilities.drop"),
            "not dropping ALL capabilities".into(),
            Level::Baseline,
        );
    }
    for (j, cap) in caps.add.iter().flatten().enumerate() {
        if norm_cap(cap) != "NET_BIND_SERVICE" {
            deny(
                format!("{sca}.capabilities.add[{j}]"),
                format!("adding capability `{cap}` (only NET_BIND_SERVICE)"),
                Level::Baseline,
            );
        }
    }
}

/// `cap_sys_admin` → `SYS_ADMIN`.
pub fn norm_cap(c: &str) -> String {
    let c = c.to_ascii_uppercase();
    c.strip_prefix("CAP_").map(str::to_string).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec_yaml: &str, level: Level) -> Vec<String> {
        let doc = ferry_core::yaml::parse_documents("p.yaml", spec_yaml)
            .unwrap()
            .remove(0);
        let spec: PodSpec = serde_json::from_value(doc.value.clone()).unwrap();
        let mut out = Vec::new();
        check(&doc, "spec", &spec, "default", level, &mut out);
        out.into_iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn baseline_refuses_host_namespaces_and_extra_caps() {
        let found = run(
            "hostNetwork: true\ncontainers: [{name: a, securityContext: {capabilities: {add: [NET_BIND_SERVICE, ALL]}}}]\nvolumes: [{name: h, hostPath: {path: /tmp}}]\n",
            Level::Baseline,
        );
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("spec.hostNetwork"));
        assert!(
            found
                .iter()
                .any(|f| f.contains("capabilities.add[1]") && f.contains("enforce=privileged"))
        );
        assert!(
            run(
                "hostNetwork: true\ncontainers: [{name: a}]\n",
                Level::Privileged
            )
            .is_empty()
        );
    }

    #[test]
    fn restricted_needs_the_hardened_context() {
        let open = run("containers: [{name: a}]\n", Level::Restricted);
        assert_eq!(open.len(), 4, "{open:?}");
        assert!(open.iter().all(|f| f.contains("enforce=baseline")));
        let hard = "securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\ncontainers: [{name: a, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}}]\n";
        assert!(run(hard, Level::Restricted).is_empty());
    }

    #[test]
    fn labels_pick_the_level() {
        assert_eq!(Level::of_labels(None).unwrap(), Level::Baseline);
        let l = BTreeMap::from([(ENFORCE_LABEL.to_string(), "restricted".to_string())]);
        assert_eq!(Level::of_labels(Some(&l)).unwrap(), Level::Restricted);
        let l = BTreeMap::from([(ENFORCE_LABEL.to_string(), "lax".to_string())]);
        let lax = Level::of_labels(Some(&l)).unwrap_err();
        assert!(
            lax.to_string().contains("`lax` is not a Pod Security"),
            "{lax}"
        );
    }
}
