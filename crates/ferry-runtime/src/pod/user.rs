//! Who a container runs as: the image's `USER` (`uid`, `uid:gid`, or names
//! looked up in the image's `/etc/passwd` and `/etc/group`, read with
//! `RESOLVE_IN_ROOT` so a symlink in the image cannot point ferry at a host
//! file), overridden by `runAsUser`/`runAsGroup`, plus the user's groups in
//! `/etc/group`, `supplementalGroups` and `fsGroup`.

use std::path::Path;

use k8s_openapi::api::core::v1::{PodSecurityContext, SecurityContext};

use crate::error::Error;
use crate::pod::beneath;

/// A process identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// The image's `/etc/passwd` and `/etc/group`, empty when missing.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub passwd: String,
    pub group: String,
}

impl Accounts {
    /// Reads them from the image's root filesystem.
    pub fn read(rootfs: &Path) -> Self {
        let read = |rel: &str| {
            beneath::open_dir(rootfs)
                .ok()
                .and_then(|root| beneath::read_in_root(&root, Path::new(rel)))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        Self {
            passwd: read("etc/passwd"),
            group: read("etc/group"),
        }
    }

    /// `(name, uid, gid)` of the passwd entry matching `f`.
    fn user(&self, f: impl Fn(&str, u32) -> bool) -> Option<(String, u32, u32)> {
        self.passwd.lines().find_map(|l| {
            let f_: Vec<&str> = l.split(':').collect();
            let (uid, gid) = (f_.get(2)?.parse().ok()?, f_.get(3)?.parse().ok()?);
            f(f_[0], uid).then(|| (f_[0].to_string(), uid, gid))
        })
    }

    fn group_id(&self, name: &str) -> Option<u32> {
        self.group.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f.get(2)?.parse().ok())?
        })
    }

    /// Groups listing `user` as a member.
    fn member_of(&self, user: &str) -> Vec<u32> {
        self.group
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                let members = f.get(3)?;
                members
                    .split(',')
                    .any(|m| m == user)
                    .then(|| f.get(2)?.parse().ok())?
            })
            .collect()
    }
}

/// Resolves the identity; `Err` says why the image's USER cannot be used.
pub fn resolve(
    image_user: Option<&str>,
    accounts: &Accounts,
    pod: &PodSecurityContext,
    c: &SecurityContext,
) -> Result<Identity, Error> {
    let run_as_user = c.run_as_user.or(pod.run_as_user).map(|u| u as u32);
    let run_as_group = c.run_as_group.or(pod.run_as_group).map(|g| g as u32);
    let spec = image_user.unwrap_or("").trim();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    // The user: runAsUser wins over the image's USER.
    let (name, uid, passwd_gid) = match run_as_user {
        Some(uid) => match accounts.user(|_, u| u == uid) {
            Some((n, _, g)) => (Some(n), uid, g),
            None => (None, uid, 0),
        },
        None if user_part.is_empty() => (Some("root".to_string()), 0, 0),
        None => {
            match user_part.parse::<u32>() {
                Ok(uid) => match accounts.user(|_, u| u == uid) {
                    Some((n, _, g)) => (Some(n), uid, g),
                    None => (None, uid, 0),
                },
                Err(_) => {
                    let (n, u, g) = accounts.user(|n, _| n == user_part).ok_or_else(|| {
                    Error::ContainerConfig(format!("the image's USER `{user_part}` is not in its /etc/passwd; set runAsUser"))
                })?;
                    (Some(n), u, g)
                }
            }
        }
    };
    let gid = match (run_as_group, group_part.filter(|_| run_as_user.is_none())) {
        (Some(g), _) => g,
        (None, Some(g)) => match g.parse::<u32>() {
            Ok(g) => g,
            Err(_) => accounts.group_id(g).ok_or_else(|| {
                Error::ContainerConfig(format!(
                    "the image's USER group `{g}` is not in its /etc/group; set runAsGroup"
                ))
            })?,
        },
        (None, None) => passwd_gid,
    };
    let mut additional: Vec<u32> = name
        .as_deref()
        .map(|n| accounts.member_of(n))
        .unwrap_or_default();
    additional.extend(pod.supplemental_groups.iter().flatten().map(|g| *g as u32));
    additional.extend(pod.fs_group.map(|g| g as u32));
    additional.sort_unstable();
    additional.dedup();
    additional.retain(|g| *g != gid);
    Ok(Identity {
        uid,
        gid,
        additional_gids: additional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Accounts {
        Accounts {
            passwd: "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n".into(),
            group: "root:x:0:\napp:x:1000:\nstaff:x:50:app\n".into(),
        }
    }

    fn id(
        user: Option<&str>,
        pod: PodSecurityContext,
        c: SecurityContext,
    ) -> Result<Identity, Error> {
        resolve(user, &accounts(), &pod, &c)
    }

    #[test]
    fn image_user_forms() {
        let d = || (PodSecurityContext::default(), SecurityContext::default());
        let (p, c) = d();
        assert_eq!(id(None, p, c).unwrap().uid, 0);
        let (p, c) = d();
        let app = id(Some("app"), p, c).unwrap();
        assert_eq!(
            (app.uid, app.gid, app.additional_gids),
            (1000, 1000, vec![50])
        );
        let (p, c) = d();
        let n = id(Some("1234:55"), p, c).unwrap();
        assert_eq!((n.uid, n.gid), (1234, 55));
        let (p, c) = d();
        assert_eq!(id(Some("app:staff"), p, c).unwrap().gid, 50);
        let (p, c) = d();
        assert!(
            id(Some("ghost"), p, c)
                .unwrap_err()
                .to_string()
                .contains("ghost")
        );
    }

    #[test]
    fn security_context_overrides_and_adds_groups() {
        let pod = PodSecurityContext {
            run_as_user: Some(2000),
            fs_group: Some(3000),
            supplemental_groups: Some(vec![4000]),
            ..Default::default()
        };
        let c = SecurityContext {
            run_as_group: Some(2001),
            ..Default::default()
        };
        let i = id(Some("app"), pod, c).unwrap();
        assert_eq!(
            (i.uid, i.gid, i.additional_gids),
            (2000, 2001, vec![3000, 4000])
        );
    }
}
