//! Generates a container's OCI runtime config (`config.json`) with the
//! `oci-spec` crate: the pod's network namespace joined by path, Docker's
//! default capability set, the `RuntimeDefault` seccomp profile, cgroup
//! limits (memory, CPU, pids), bind mounts for volumes and the pod's hosts
//! file, and the user, groups, no-new-privileges and read-only settings of
//! `securityContext`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespace,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount, MountBuilder, RootBuilder,
    Spec, UserBuilder,
};

use crate::error::{Error, Result};
use crate::pod::seccomp;

/// Docker's default capability set.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A bind mount into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
}

/// Everything the config is generated from.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the user's, `supplementalGroups`, `fsGroup`).
    pub additional_gids: Vec<u32>,
    /// `no_new_privileges` (`allowPrivilegeEscalation: false`).
    pub no_new_privileges: bool,
    /// No seccomp filter (privileged or `seccompProfile.type: Unconfined`).
    pub seccomp_unconfined: bool,
    /// `pids.max` of the container's cgroup.
    pub pids_limit: Option<i64>,
    pub rootfs: PathBuf,
    pub read_only_rootfs: bool,
    pub hostname: String,
    pub netns: PathBuf,
    pub binds: Vec<Bind>,
    /// Memory limit in bytes.
    pub memory_limit: Option<i64>,
    /// CPU limit in millicores.
    pub cpu_millis: Option<i64>,
    pub privileged: bool,
    /// Capabilities added to / dropped from the default set (`NET_ADMIN`, `ALL`).
    pub add_caps: Vec<String>,
    pub drop_caps: Vec<String>,
    pub cgroups_path: Option<String>,
}

/// Builds the OCI runtime config for `plan`.
pub fn generate(plan: &Plan) -> Result<Spec> {
    let err = |e: oci_spec::OciSpecError| Error::Other(format!("cannot build OCI config: {e}"));
    let mut spec = Spec::default();
    spec.set_hostname(Some(plan.hostname.clone()));
    spec.set_root(Some(
        RootBuilder::default()
            .path(plan.rootfs.clone())
            .readonly(plan.read_only_rootfs)
            .build()
            .map_err(err)?,
    ));

    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(plan.args.clone()));
    process.set_env(Some(plan.env.clone()));
    process.set_cwd(PathBuf::from(if plan.cwd.is_empty() {
        "/"
    } else {
        &plan.cwd
    }));
    process.set_user(
        UserBuilder::default()
            .uid(plan.uid)
            .gid(plan.gid)
            .additional_gids(plan.additional_gids.clone())
            .build()
            .map_err(err)?,
    );
    process.set_no_new_privileges(Some(plan.no_new_privileges));
    let names = capability_names(plan);
    let caps: oci_spec::runtime::Capabilities = names
        .iter()
        .filter_map(|n| {
            serde_json::from_value::<Capability>(serde_json::Value::String(n.clone())).ok()
        })
        .collect();
    let mut pc = process.capabilities().clone().unwrap_or_default();
    pc.set_bounding(Some(caps.clone()));
    pc.set_effective(Some(caps.clone()));
    pc.set_permitted(Some(caps));
    pc.set_inheritable(Some(Default::default()));
    pc.set_ambient(Some(Default::default()));
    process.set_capabilities(Some(pc));
    // Inherit ferry's own limits rather than raising them past the hard limit.
    process.set_rlimits(None);
    spec.set_process(Some(process));

    let mut mounts: Vec<Mount> = spec.mounts().clone().unwrap_or_default();
    for b in &plan.binds {
        let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
        if b.read_only {
            options.push("ro".to_string());
        }
        mounts.push(
            MountBuilder::default()
                .destination(PathBuf::from(&b.destination))
                .typ("bind")
                .source(b.source.clone())
                .options(options)
                .build()
                .map_err(err)?,
        );
    }
    spec.set_mounts(Some(mounts));

    let mut namespaces: Vec<LinuxNamespace> = oci_spec::runtime::get_default_namespaces();
    for ns in &mut namespaces {
        if ns.typ() == LinuxNamespaceType::Network {
            ns.set_path(Some(plan.netns.clone()));
        }
    }
    namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Cgroup);
    let mut resources = LinuxResourcesBuilder::default().devices(vec![]);
    if let Some(limit) = plan.pids_limit {
        resources = resources.pids(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(err)?,
        );
    }
    if let Some(limit) = plan.memory_limit {
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(limit)
                .build()
                .map_err(err)?,
        );
    }
    if let Some(millis) = plan.cpu_millis {
        let period: u64 = 100_000;
        let quota = (millis.max(10) * period as i64) / 1000;
        resources = resources.cpu(
            LinuxCpuBuilder::default()
                .period(period)
                .quota(quota)
                .build()
                .map_err(err)?,
        );
    }
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources.build().map_err(err)?)
        .rootfs_propagation("rprivate");
    if !plan.privileged {
        linux = linux
            .masked_paths(oci_spec::runtime::get_default_maskedpaths())
            .readonly_paths(oci_spec::runtime::get_default_readonly_paths());
    }
    if let Some(path) = &plan.cgroups_path {
        linux = linux.cgroups_path(PathBuf::from(path));
    }
    if !plan.privileged && !plan.seccomp_unconfined {
        linux = linux.seccomp(seccomp::runtime_default(&names)?);
    }
    spec.set_linux(Some(linux.build().map_err(err)?));
    Ok(spec)
}

/// The capabilities (`CAP_…`) the container holds.
pub fn capability_names(plan: &Plan) -> BTreeSet<String> {
    let norm = |c: &String| {
        let c = c.to_ascii_uppercase();
        if c.starts_with("CAP_") {
            c
        } else {
            format!("CAP_{c}")
        }
    };
    let mut names: BTreeSet<String> = if plan.privileged {
        all_caps()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    for c in &plan.add_caps {
        if norm(c) == "CAP_ALL" {
            names = all_caps();
        } else {
            names.insert(norm(c));
        }
    }
    for c in &plan.drop_caps {
        if norm(c) == "CAP_ALL" {
            names.clear();
        } else {
            names.remove(&norm(c));
        }
    }
    names
}

fn all_caps() -> BTreeSet<String> {
    let all = [
        "CAP_AUDIT_CONTROL",
        "CAP_AUDIT_READ",
        "CAP_AUDIT_WRITE",
        "CAP_BLOCK_SUSPEND",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_KILL",
        "CAP_LEASE",
        "CAP_LINUX_IMMUTABLE",
        "CAP_MAC_ADMIN",
        "CAP_MAC_OVERRIDE",
        "CAP_MKNOD",
        "CAP_NET_ADMIN",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_CHROOT",
        "CAP_SYS_MODULE",
        "CAP_SYS_NICE",
        "CAP_SYS_PACCT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
    ];
    all.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_joins_pod_netns_and_limits() {
        let plan = Plan {
            args: vec!["httpd".into()],
            netns: "/run/x".into(),
            memory_limit: Some(64_000_000),
            cpu_millis: Some(200),
            drop_caps: vec!["NET_RAW".into()],
            binds: vec![Bind {
                source: "/h".into(),
                destination: "/etc/hosts".into(),
                read_only: true,
            }],
            ..Plan::default()
        };
        let v = serde_json::to_value(generate(&plan).unwrap()).unwrap();
        let ns = v["linux"]["namespaces"].as_array().unwrap();
        assert!(
            ns.iter()
                .any(|n| n["type"] == "network" && n["path"] == "/run/x")
        );
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 64_000_000);
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 20_000);
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        let caps = v["process"]["capabilities"]["bounding"].as_array().unwrap();
        assert!(caps.iter().any(|c| c == "CAP_CHOWN"));
        assert!(
            !caps
                .iter()
                .any(|c| c == "CAP_NET_RAW" || c == "CAP_SYS_ADMIN")
        );
        assert!(
            v["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["destination"] == "/etc/hosts")
        );
    }
}
