//! The hero options: one per line in `myhero_options.txt` (the original's
//! file name and format, so an edited file is picked up), replaced with
//! temp file + fsync + rename + directory fsync so a kill -9 leaves either the
//! old list or the new one.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::{Mutex, RwLock};

use crate::Error;

/// The original service's default list, in its order.
pub const DEFAULT_OPTIONS: [&str; 12] = [
    "Captain Cloud",
    "Spider-Man",
    "Captain America",
    "Batman",
    "Superman",
    "Wonder Woman",
    "Deadpool",
    "Black Widow",
    "Iron Man",
    "Star-Lord",
    "Scarlet Witch",
    "Gamora",
];

const FILE: &str = "myhero_options.txt";

/// The options list and the file it lives in.
#[derive(Debug)]
pub struct Options {
    path: PathBuf,
    list: RwLock<Vec<String>>,
    /// Serialises writers so file order matches memory order.
    write: Mutex<()>,
}

impl Options {
    /// Loads `<dir>/myhero_options.txt`, writing the defaults when absent.
    pub async fn open(dir: &Path) -> Result<Options, Error> {
        let path = dir.join(FILE);
        let list = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let list: Vec<String> = DEFAULT_OPTIONS.iter().map(|s| s.to_string()).collect();
                let (p, l) = (path.clone(), list.clone());
                blocking_save(p, l).await?;
                list
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        Ok(Options {
            path,
            list: RwLock::new(list),
            write: Mutex::new(()),
        })
    }

    /// The current list.
    pub async fn list(&self) -> Vec<String> {
        self.list.read().await.clone()
    }

    /// Applies `change` to a copy of the list, stores it durably, then makes
    /// it current. Returns the new list.
    pub async fn update(
        &self,
        change: impl FnOnce(&mut Vec<String>),
    ) -> Result<Vec<String>, Error> {
        let _writer = self.write.lock().await;
        let mut next = self.list.read().await.clone();
        change(&mut next);
        blocking_save(self.path.clone(), next.clone()).await?;
        *self.list.write().await = next.clone();
        Ok(next)
    }
}

/// A valid option name: non-empty after trimming, one line.
pub fn valid_name(name: &str) -> bool {
    !name.trim().is_empty() && !name.contains(['\n', '\r'])
}

fn parse(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

async fn blocking_save(path: PathBuf, list: Vec<String>) -> Result<(), Error> {
    tokio::task::spawn_blocking(move || save(&path, &list))
        .await
        .map_err(|e| Error::VoteWrite(format!("options writer panicked: {e}")))?
}

fn save(path: &Path, list: &[String]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    let mut text = list.join("\n");
    text.push('\n');
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn defaults_then_changes_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let o = Options::open(dir.path()).await.unwrap();
        assert_eq!(o.list().await.len(), 12);
        o.update(|l| l.retain(|x| x != "Gamora")).await.unwrap();
        o.update(|l| l.push("Thor".into())).await.unwrap();
        let again = Options::open(dir.path()).await.unwrap();
        let list = again.list().await;
        assert!(!list.contains(&"Gamora".to_string()));
        assert_eq!(list.last().unwrap(), "Thor");
        assert!(!dir.path().join(".myhero_options.txt.tmp").exists());
    }

    #[tokio::test]
    async fn a_hand_edited_file_is_read_like_the_original() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "Batman\n\n  Robin  \n").unwrap();
        let o = Options::open(dir.path()).await.unwrap();
        assert_eq!(o.list().await, ["Batman", "Robin"]);
    }

    #[test]
    fn names_must_be_one_non_blank_line() {
        assert!(valid_name("Star-Lord"));
        assert!(!valid_name("  "));
        assert!(!valid_name("a\nb"));
    }
}
