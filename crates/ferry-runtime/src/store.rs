//! The durable object store: every object (desired and runtime-created, such
//! as a Deployment's ReplicaSets and Pods) in one SQLite database, written
//! in one transaction per apply with full fsync, so kill -9 at any moment
//! leaves either the old or the new set.

use std::path::Path;

use ferry_core::objects::{GroupKind, StoredObject};
use rusqlite::{Connection, params};

use crate::error::Result;

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
        Ok(Self { conn })
    }

    /// Every stored object.
    pub fn load(&self) -> Result<Vec<StoredObject>> {
        let mut stmt = self
            .conn
            .prepare("SELECT grp, kind, namespace, name, source, value FROM objects")?;
        let rows = stmt.query_map([], |r| {
            let ns: String = r.get(2)?;
            let value: String = r.get(5)?;
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

    /// Applies `writes` atomically, recording `resource_version`.
    pub fn commit(&mut self, writes: &[Write], resource_version: u64) -> Result<()> {
        let tx = self.conn.transaction()?;
        for w in writes {
            match w {
                Write::Put(o) => {
                    tx.execute(
                        "INSERT OR REPLACE INTO objects (grp, kind, namespace, name, source, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            o.group_kind.group,
                            o.group_kind.kind,
                            o.namespace.as_deref().unwrap_or(""),
                            o.name,
                            o.source,
                            o.value.to_string()
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
}
