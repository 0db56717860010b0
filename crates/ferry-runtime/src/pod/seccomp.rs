//! The `RuntimeDefault` seccomp profile: Docker's default profile kept as
//! ferry's own data (`seccomp_default.json`, Docker's format) and turned
//! into the OCI `linux.seccomp` of one container: rules that need a
//! capability the container lacks (or that only apply without one it
//! holds) are left out, as Docker does; architecture-specific rules apply
//! on their architecture.

use std::collections::BTreeSet;

use oci_spec::runtime::LinuxSeccomp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};

const PROFILE: &str = include_str!("seccomp_default.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    default_errno_ret: u32,
    syscalls: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    includes: Caps,
    #[serde(default)]
    excludes: Caps,
}

#[derive(Debug, Default, Deserialize)]
struct Caps {
    #[serde(default)]
    caps: Vec<String>,
}

/// This machine's architecture in the profile's terms and libseccomp's.
fn arch() -> (&'static str, Vec<&'static str>) {
    match std::env::consts::ARCH {
        "aarch64" => ("arm64", vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
        _ => (
            "x86_64",
            vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        ),
    }
}

/// The profile for a container holding capabilities `caps` (`CAP_…`).
pub fn runtime_default(caps: &BTreeSet<String>) -> Result<LinuxSeccomp> {
    let profile: Profile = serde_json::from_str(PROFILE)
        .map_err(|e| Error::Other(format!("seccomp_default.json: {e}")))?;
    let (here, architectures) = arch();
    let mut syscalls = Vec::new();
    for r in &profile.syscalls {
        let included = r.includes.caps.iter().all(|c| caps.contains(c));
        let excluded = r.excludes.caps.iter().any(|c| caps.contains(c));
        let arch_ok = r.arches.is_empty() || r.arches.iter().any(|a| a == here);
        if !included || excluded || !arch_ok {
            continue;
        }
        let mut s = json!({"names": r.names, "action": r.action, "args": r.args});
        if let Some(e) = r.errno_ret {
            s["errnoRet"] = json!(e);
        }
        syscalls.push(s);
    }
    let oci = json!({
        "defaultAction": profile.default_action,
        "defaultErrnoRet": profile.default_errno_ret,
        "architectures": architectures,
        "syscalls": syscalls,
    });
    serde_json::from_value(oci).map_err(|e| Error::Other(format!("seccomp profile: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &LinuxSeccomp, name: &str) -> bool {
        let v = serde_json::to_value(p).unwrap();
        v["syscalls"].as_array().unwrap().iter().any(|s| {
            s["action"] == "SCMP_ACT_ALLOW"
                && s["names"].as_array().unwrap().iter().any(|n| n == name)
        })
    }

    #[test]
    fn capability_conditional_rules() {
        let plain = runtime_default(&BTreeSet::from(["CAP_CHOWN".to_string()])).unwrap();
        let v = serde_json::to_value(&plain).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert!(allowed(&plain, "read") && allowed(&plain, "clone"));
        for denied in [
            "unshare",
            "mount",
            "ptrace",
            "keyctl",
            "add_key",
            "kexec_load",
            "bpf",
        ] {
            assert!(!allowed(&plain, denied), "{denied}");
        }
        let admin = runtime_default(&BTreeSet::from(["CAP_SYS_ADMIN".to_string()])).unwrap();
        assert!(allowed(&admin, "unshare") && allowed(&admin, "mount"));
    }
}
