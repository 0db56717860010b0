//! Build entitlements, BuildKit's names for what a Dockerfile may only do
//! when whoever runs the build allows it (`ferry build --allow NAME`).
//! ferry knows one: `network.host`, for `RUN --network=host`, which would
//! otherwise give a Dockerfile the host's network (its loopback services,
//! the API and registry listeners included). Pipelines allow none.

use std::collections::BTreeSet;
use std::str::FromStr;

use crate::error::{Error, InputError, Result};
use crate::parse::{Dockerfile, Instr, Step};

/// A privilege a build may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entitlement {
    /// `RUN --network=host`.
    NetworkHost,
}

impl Entitlement {
    /// BuildKit's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Entitlement::NetworkHost => "network.host",
        }
    }
}

impl std::fmt::Display for Entitlement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Entitlement {
    type Err = InputError;

    fn from_str(s: &str) -> std::result::Result<Self, InputError> {
        match s {
            "network.host" => Ok(Entitlement::NetworkHost),
            "security.insecure" => Err(InputError::InsecureEntitlement),
            other => Err(InputError::UnknownEntitlement(other.to_string())),
        }
    }
}

/// The entitlement `step` needs, if any.
pub fn needed(step: &Step) -> Option<Entitlement> {
    match &step.instr {
        Instr::Run(r) if r.network.as_deref() == Some("host") => Some(Entitlement::NetworkHost),
        _ => None,
    }
}

/// Fails on the first step of `stages` of `df` that needs an entitlement
/// `allowed` does not hold, naming `Dockerfile:line` and the flag to pass.
pub fn check(
    df: &Dockerfile,
    stages: impl IntoIterator<Item = usize>,
    allowed: &BTreeSet<Entitlement>,
) -> Result<()> {
    for i in stages {
        for step in &df.stages[i].steps {
            check_step(step, allowed)?;
        }
    }
    Ok(())
}

/// [`check`] for one step.
pub fn check_step(step: &Step, allowed: &BTreeSet<Entitlement>) -> Result<()> {
    match needed(step) {
        Some(e) if !allowed.contains(&e) => Err(Error::invalid(
            &step.pos,
            format!(
                "`{}` needs the {e} entitlement, which this build does not allow: \
                 pass `ferry build --allow {e}` to grant it (pipeline builds never do)",
                step.text
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_as_buildkit_spells_them() {
        assert_eq!(
            "network.host".parse::<Entitlement>().unwrap(),
            Entitlement::NetworkHost
        );
        let insecure = "security.insecure".parse::<Entitlement>().unwrap_err();
        assert!(insecure.to_string().contains("not supported"));
        let net = "net".parse::<Entitlement>().unwrap_err();
        assert!(net.to_string().contains("network.host"));
    }

    #[test]
    fn host_network_needs_the_entitlement() {
        let df = crate::parse(
            "Dockerfile",
            "FROM a\nRUN --network=none true\nRUN --network=host wget x\n",
        )
        .unwrap();
        let e = check(&df, [0], &BTreeSet::new()).unwrap_err().to_string();
        assert!(e.starts_with("Dockerfile:3:"), "{e}");
        assert!(e.contains("--allow network.host"), "{e}");
        check(&df, [0], &[Entitlement::NetworkHost].into()).unwrap();
    }
}
