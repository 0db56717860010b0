//! The durable object store: every object (desired and runtime-created, such
//! as a Deployment's ReplicaSets and Pods) in one SQLite database, written
//! in one transaction per apply with full fsync, so kill -9 at any moment
//! leaves either the old or the new set.

use std::path::Path;

use ferry_core::objects::{GroupKind, StoredObject};
use rusqlite::{Connection, params};

use crate::encryption::Encryption;
use crate::error::{Error, Result};

/// Identity of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub group_kind: GroupKind,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
}

impl Key {
    /// A key.
    pub fn new(group_kind: GroupKind, namespace: &str, name: &str) -> Self {
        Self {
            group_kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The key of a stored object.
    pub fn of(o: &StoredObject) -> Self {
        Self::new(
            o.group_kind.clone(),
            o.namespace.as_deref().unwrap_or(""),
            &o.name,
        )
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = self.group_kind.kind.to_ascii_lowercase();
        if self.group_kind.group.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind}.{}/{}", self.group_kind.group, self.name)
        }
    }
}

/// One change in a transaction.
#[derive(Debug, Clone)]
pub enum Write {
    Put(StoredObject),
    Delete(Key),
}

/// The SQLite store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// The database file (for errors).
    path: std::path::PathBuf,
    /// Seals Secrets before they are written (`None`: stored plain).
    encryption: Option<Encryption>,
}

fn is_secret(group: &str, kind: &str) -> bool {
    group.is_empty() && kind == "Secret"
}

impl Store {
    /// Opens (creating) the database at `path`. It holds Secrets: the
    /// database and its `-wal`/`-shm` files are mode 0600 (SQLite gives the
    /// latter the database's mode when it creates them).
    pub fn open(path: &Path) -> Result<Self> {
        private(path)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            if Path::new(&p).exists() {
                private(Path::new(&p))?;
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS objects (
                grp TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                source TEXT NOT NULL, value TEXT NOT NULL,
                PRIMARY KEY (grp, kind, namespace, name));
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            encryption: None,
        })
    }

    /// Encrypts Secrets with `encryption` from now on and seals again every
    /// stored Secret not sealed with its write key (plain ones included).
    pub fn set_encryption(&mut self, encryption: Encryption) -> Result<()> {
        self.encryption = Some(encryption);
        let secrets = self
            .load()?
            .into_iter()
            .filter(|o| is_secret(&o.group_kind.group, &o.group_kind.kind));
        let stale: Vec<Write> = secrets
            .filter(|o| {
                let raw: Option<String> = self
                    .conn
                    .query_row(
                        "SELECT value FROM objects WHERE grp = '' AND kind = 'Secret' AND namespace = ?1 AND name = ?2",
                        params![o.namespace.as_deref().unwrap_or(""), o.name],
                        |r| r.get(0),
                    )
                    .ok();
                let enc = self.encryption.as_ref();
                raw.is_some_and(|r| enc.is_some_and(|e| !e.is_current(&r)))
            })
            .map(Write::Put)
            .collect();
        if !stale.is_empty() {
            let rv = self.resource_version()?;
            self.commit(&stale, rv)?;
        }
        Ok(())
    }

    /// Every stored object.
    pub fn load(&self) -> Result<Vec<StoredObject>> {
        let mut stmt = self
            .conn
            .prepare("SELECT grp, kind, namespace, name, source, value FROM objects")?;
        let rows = stmt.query_map([], |r| {
            let ns: String = r.get(2)?;
            let value: String = r.get(5)?;
            let value = Encryption::open(self.encryption.as_ref(), &value).map_err(|why| {
                let what = format!(
                    "secret {ns}/{}: {why}",
                    r.get::<_, String>(3).unwrap_or_default()
                );
                rusqlite::Error::ToSqlConversionFailure(what.into())
            })?;
            Ok(StoredObject {
                group_kind: GroupKind {
                    group: r.get(0)?,
                    kind: r.get(1)?,
                },
                namespace: (!ns.is_empty()).then_some(ns),
                name: r.get(3)?,
                source: r.get(4)?,
                value: serde_json::from_str(&value).unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The last resource version handed out.
    pub fn resource_version(&self) -> Result<u64> {
        let v: Option<i64> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'resourceVersion'",
                [],
                |r| r.get(0),
            )
            .ok();
        Ok(v.unwrap_or(0) as u64)
    }

    /// Applies `writes` atomically, recording `resource_version`. On a full
    /// disk nothing is written ([`Error::StoreFull`]).
    pub fn commit(&mut self, writes: &[Write], resource_version: u64) -> Result<()> {
        let path = self.path.clone();
        self.write(writes, resource_version).map_err(|e| match e {
            Error::Store(source)
                if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) =>
            {
                Error::StoreFull { path, source }
            }
            e => e,
        })
    }

    fn write(&mut self, writes: &[Write], resource_version: u64) -> Result<()> {
        let tx = self.conn.transaction()?;
        for w in writes {
            match w {
                Write::Put(o) => {
                    let mut value = o.value.to_string();
                    if let Some(e) = &self.encryption
                        && is_secret(&o.group_kind.group, &o.group_kind.kind)
                    {
                        value = e.seal(&value);
                    }
                    tx.execute(
                        "INSERT OR REPLACE INTO objects (grp, kind, namespace, name, source, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            o.group_kind.group,
                            o.group_kind.kind,
                            o.namespace.as_deref().unwrap_or(""),
                            o.name,
                            o.source,
                            value
                        ],
                    )?;
                }
                Write::Delete(k) => {
                    tx.execute(
                        "DELETE FROM objects WHERE grp = ?1 AND kind = ?2 AND namespace = ?3 AND name = ?4",
                        params![k.group_kind.group, k.group_kind.kind, k.namespace, k.name],
                    )?;
                }
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('resourceVersion', ?1)",
            params![resource_version as i64],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Creates `path` (if missing) and makes it mode 0600.
fn private(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)))
        .map_err(|e| crate::error::Error::io("cannot create", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let obj = StoredObject {
            group_kind: GroupKind::new("", "ConfigMap"),
            namespace: Some("default".into()),
            name: "a".into(),
            source: "f: document 0".into(),
            value: serde_json::json!({"data": {"k": "v"}}),
        };
        {
            let mut s = Store::open(&path).unwrap();
            s.commit(&[Write::Put(obj.clone())], 7).unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.load().unwrap(), vec![obj.clone()]);
        use std::os::unix::fs::PermissionsExt;
        for f in ["s.db", "s.db-wal", "s.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        assert_eq!(s.resource_version().unwrap(), 7);
        s.commit(&[Write::Delete(Key::of(&obj))], 8).unwrap();
        assert!(s.load().unwrap().is_empty());
    }

    fn raw_values(path: &Path) -> String {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT value FROM objects").unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    fn key_file(dir: &Path, keys: &[(&str, u8)]) -> std::path::PathBuf {
        use base64::Engine;
        let mut text = String::from(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - secretbox:\n      keys:\n",
        );
        for (name, b) in keys {
            let secret = base64::engine::general_purpose::STANDARD.encode([*b; 32]);
            text.push_str(&format!("      - {{name: {name}, secret: '{secret}'}}\n"));
        }
        text.push_str("  - identity: {}\n");
        let p = dir.join(format!("enc-{}.yaml", keys[0].0));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn secrets_are_encrypted_at_rest_and_resealed_on_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let secret = StoredObject {
            group_kind: GroupKind::new("", "Secret"),
            namespace: Some("default".into()),
            name: "creds".into(),
            source: "f: document 0".into(),
            value: serde_json::json!({"stringData": {"password": "s3cr3t"}}),
        };
        Store::open(&path)
            .unwrap()
            .commit(&[Write::Put(secret.clone())], 1)
            .unwrap();
        assert!(
            raw_values(&path).contains("s3cr3t"),
            "plain before encryption"
        );

        let k1 = Encryption::load(&key_file(dir.path(), &[("k1", 1)])).unwrap();
        let mut s = Store::open(&path).unwrap();
        s.set_encryption(k1.clone()).unwrap();
        let raw = raw_values(&path);
        assert!(
            raw.starts_with("k8s:enc:secretbox:v1:k1:") && !raw.contains("s3cr3t"),
            "{raw}"
        );
        assert_eq!(s.load().unwrap(), vec![secret.clone()]);

        // Rotation: k2 first; k1 still reads, start seals again with k2.
        let k2 = Encryption::load(&key_file(dir.path(), &[("k2", 2), ("k1", 1)])).unwrap();
        let mut s = Store::open(&path).unwrap();
        s.set_encryption(k2).unwrap();
        assert!(raw_values(&path).starts_with("k8s:enc:secretbox:v1:k2:"));
        assert_eq!(s.load().unwrap(), vec![secret]);
        // Without the configuration the store says why it cannot read.
        let err = Store::open(&path).unwrap().load().unwrap_err().to_string();
        assert!(err.contains("secret default/creds"), "{err}");
    }
}
