//! Pull robots the region's own server mints at run time: one per
//! application and environment delivered to a Kubernetes cluster, able to
//! pull exactly the repositories the application's images live in and
//! nothing else (no push, no delete, no catalog, no glob). They log in as
//! `robot$ferry-pull.<app>.<env>`, a name declared robots may not take.
//!
//! Kept in `robots.json` in the registry's directory (0600, written to a
//! temporary file, fsynced and renamed), so a robot and its secret survive
//! restarts: the server renders the secret into the cluster's image pull
//! Secret on every pass and must find the same one again. The secret is a
//! random 256-bit value; logins are checked against its SHA-256, kept in
//! memory, compared in constant time (argon2 is for guessable passwords).
//! A robot asked for with another repository set gets a new secret: the
//! old one stops working at once. Secrets are never logged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// What minted robots are called: `ferry-pull.<app>.<env>`.
pub const PREFIX: &str = "ferry-pull.";

/// A pull robot's login and secret, to hand to a cluster. `Debug` hides
/// the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PullRobot {
    /// `robot$ferry-pull.<app>.<env>`.
    pub login: String,
    pub secret: String,
}

impl std::fmt::Debug for PullRobot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullRobot")
            .field("login", &self.login)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One robot as stored.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Stored {
    name: String,
    repositories: BTreeSet<String>,
    secret: String,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    robots: Vec<Stored>,
}

/// One robot in memory: its repositories and the SHA-256 of its secret.
#[derive(Clone)]
struct Minted {
    repositories: BTreeSet<String>,
    secret: String,
    sha: [u8; 32],
}

/// The minted robots of one registry.
pub(crate) struct MintedRobots {
    path: PathBuf,
    robots: RwLock<BTreeMap<String, Minted>>,
}

impl std::fmt::Debug for MintedRobots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedRobots")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn sha(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equal digests, compared without an early exit.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 256 random bits, hex.
fn new_secret() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    // A v4 UUID has 122 random bits; hash two into 256 uniform bits.
    hex::encode(Sha256::digest(&bytes))
}

impl MintedRobots {
    /// Loads `robots.json` from `dir` (none yet: no robots).
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("robots.json");
        let file: File = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Config(format!(
                    "{}: not a robots file ({e}); remove it and ferry mints the pull robots again",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let robots = file
            .robots
            .into_iter()
            .map(|s| {
                let m = Minted {
                    sha: sha(&s.secret),
                    repositories: s.repositories,
                    secret: s.secret,
                };
                (s.name, m)
            })
            .collect();
        Ok(Self {
            path,
            robots: RwLock::new(robots),
        })
    }

    /// The robot `name` pulling exactly `repositories`: the stored one when
    /// its repositories are these, else one with a new secret (stored
    /// before it is returned).
    pub(crate) fn ensure(&self, name: &str, repositories: &BTreeSet<String>) -> Result<PullRobot> {
        let login = format!("robot${name}");
        let current = |robots: &BTreeMap<String, Minted>| {
            robots
                .get(name)
                .filter(|m| m.repositories == *repositories)
                .map(|m| PullRobot {
                    login: login.clone(),
                    secret: m.secret.clone(),
                })
        };
        // Every pass asks; logins read concurrently: the common case reads.
        if let Some(robot) = current(&self.robots.read().expect("robots lock")) {
            return Ok(robot);
        }
        let mut robots = self.robots.write().expect("robots lock");
        if let Some(robot) = current(&robots) {
            return Ok(robot);
        }
        let secret = new_secret();
        let mut next = robots.clone();
        let rotated = next
            .insert(
                name.to_string(),
                Minted {
                    repositories: repositories.clone(),
                    sha: sha(&secret),
                    secret: secret.clone(),
                },
            )
            .is_some();
        self.save(&next)?;
        *robots = next;
        tracing::info!(robot = %login, repositories = repositories.len(), rotated, "registry: pull robot minted");
        Ok(PullRobot { login, secret })
    }

    /// Removes robot `name`; false when there was none.
    pub(crate) fn remove(&self, name: &str) -> Result<bool> {
        let mut robots = self.robots.write().expect("robots lock");
        if !robots.contains_key(name) {
            return Ok(false);
        }
        let mut next = robots.clone();
        next.remove(name);
        self.save(&next)?;
        *robots = next;
        tracing::info!(robot = %format!("robot${name}"), "registry: pull robot removed");
        Ok(true)
    }

    /// The repositories `login` may pull, when `secret` is its secret.
    pub(crate) fn check(&self, login: &str, secret: &str) -> Option<BTreeSet<String>> {
        let name = login.strip_prefix("robot$")?;
        let robots = self.robots.read().expect("robots lock");
        let m = robots.get(name)?;
        same(&m.sha, &sha(secret)).then(|| m.repositories.clone())
    }

    fn save(&self, robots: &BTreeMap<String, Minted>) -> Result<()> {
        let file = File {
            robots: robots
                .iter()
                .map(|(name, m)| Stored {
                    name: name.clone(),
                    repositories: m.repositories.clone(),
                    secret: m.secret.clone(),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).expect("robots serialize");
        write_private(&self.path, &bytes)
    }
}

/// Writes `bytes` to `path` (0600) through a fsynced temporary file
/// (`<path>.tmp`: callers write one path from one writer at a time).
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn repos(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_robot_keeps_its_secret_across_restarts_and_rotates_when_its_repositories_change() {
        let dir = tempfile::tempdir().unwrap();
        let robots = MintedRobots::load(dir.path()).unwrap();
        let first = robots
            .ensure("ferry-pull.web.dev", &repos(&["a/web"]))
            .unwrap();
        assert_eq!(first.login, "robot$ferry-pull.web.dev");
        assert_eq!(first.secret.len(), 64);
        assert!(!format!("{first:?}").contains(&first.secret));
        let file = dir.path().join("robots.json");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let again = MintedRobots::load(dir.path()).unwrap();
        let same_one = again
            .ensure("ferry-pull.web.dev", &repos(&["a/web"]))
            .unwrap();
        assert_eq!(same_one, first, "the same robot after a restart");
        assert_eq!(
            again.check(&first.login, &first.secret),
            Some(repos(&["a/web"]))
        );
        assert_eq!(again.check(&first.login, "guess"), None);
        assert_eq!(
            again.check("robot$ferry-pull.other.dev", &first.secret),
            None
        );

        let wider = again
            .ensure("ferry-pull.web.dev", &repos(&["a/web", "a/db"]))
            .unwrap();
        assert_ne!(wider.secret, first.secret, "a new scope, a new secret");
        assert_eq!(again.check(&first.login, &first.secret), None);
        assert_eq!(
            again.check(&wider.login, &wider.secret),
            Some(repos(&["a/db", "a/web"]))
        );
        assert!(again.remove("ferry-pull.web.dev").unwrap());
        assert!(!again.remove("ferry-pull.web.dev").unwrap());
        assert_eq!(again.check(&wider.login, &wider.secret), None);
        let reloaded = MintedRobots::load(dir.path()).unwrap();
        assert_eq!(reloaded.check(&wider.login, &wider.secret), None);
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("robots.json"), "{").unwrap();
        let e = MintedRobots::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("robots.json"), "{e}");
    }
}
