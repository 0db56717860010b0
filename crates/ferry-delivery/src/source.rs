//! Git sources through gix: one bare mirror per repository URL under the
//! engine's data directory, fetched by polling or on a webhook. One fetch
//! serves every application that uses the repository. A fetch reports every
//! branch and tag the remote advertises (so a deleted branch is noticed) and
//! reads the files of a directory at a commit.
//!
//! gix is blocking; callers run these functions on a blocking thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::render::Files;

/// Branches and tags of a remote after a fetch: short name → commit id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    pub branches: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

impl Refs {
    /// The commit of a branch, tag or full commit id.
    pub fn resolve<'a>(&'a self, rev: &'a str) -> Option<&'a str> {
        self.branches
            .get(rev)
            .or_else(|| self.tags.get(rev))
            .map(String::as_str)
            .or_else(|| {
                (rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit())).then_some(rev)
            })
    }
}

/// How a repository is fetched.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Answer an HTTP authentication challenge with (user, password);
    /// sent over `https://` only.
    pub credentials: Option<(String, String)>,
    /// Shallow fetch: only this many commits of each ref's history.
    pub depth: Option<std::num::NonZeroU32>,
    /// PEM file of CAs trusted besides the built-in roots (`https://`).
    pub ca_file: Option<PathBuf>,
}

/// Where mirrors live.
#[derive(Debug, Clone)]
pub struct GitCache {
    dir: PathBuf,
}

/// Turns a local path into a `file://` URL; URLs pass through.
pub fn normalise_url(url: &str) -> String {
    if url.contains("://") || (url.contains('@') && url.contains(':')) {
        url.to_string()
    } else {
        let p = Path::new(url);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        format!("file://{}", abs.display())
    }
}

impl GitCache {
    /// A cache under `dir` (created on first fetch).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn mirror(&self, url: &str) -> PathBuf {
        let h = hex::encode(&Sha256::digest(url.as_bytes())[..8]);
        self.dir.join(format!("{h}.git"))
    }

    /// Fetches every branch and tag of `url` into its mirror.
    pub fn fetch(&self, url: &str, opts: FetchOptions) -> Result<Refs> {
        let FetchOptions {
            credentials,
            depth,
            ca_file,
        } = opts;
        let url = normalise_url(url);
        let certs = match &ca_file {
            Some(path) => Some(crate::git_tls::load(path).map_err(|e| Error::git(&url, e))?),
            None => None,
        };
        let path = self.mirror(&url);
        let repo = if path.join("HEAD").exists() {
            gix::open(&path).map_err(|e| Error::git(&url, e))?
        } else {
            std::fs::create_dir_all(&path).map_err(|e| Error::io("create", &path, e))?;
            gix::init_bare(&path).map_err(|e| Error::git(&url, e))?
        };
        let remote = repo
            .remote_at(url.as_str())
            .map_err(|e| Error::git(&url, e))?
            .with_refspecs(
                ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                gix::remote::Direction::Fetch,
            )
            .map_err(|e| Error::git(&url, e))?;
        let challenged = std::sync::Arc::new(AtomicBool::new(false));
        let has_credentials = credentials.is_some();
        let mut connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| Error::git(&url, chain(&e)))?
            .with_credentials(only_configured(credentials, challenged.clone()));
        if let Some(certs) = certs {
            let opts = crate::git_tls::transport_options(&repo, &url, certs)
                .map_err(|e| Error::git(&url, e))?;
            connection = connection.with_transport_options(opts);
        }
        let fail = |e: &dyn std::error::Error| {
            let asked = challenged.load(std::sync::atomic::Ordering::SeqCst);
            Error::git(&url, auth_failure(asked, has_credentials, chain(e)))
        };
        let outcome = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| fail(&e))?
            .with_shallow(match depth {
                Some(d) => gix::remote::fetch::Shallow::DepthAtRemote(d),
                None => gix::remote::fetch::Shallow::NoChange,
            })
            .receive(gix::progress::Discard, &AtomicBool::new(false))
            .map_err(|e| fail(&e))?;
        let mut refs = Refs::default();
        for r in &outcome.ref_map.remote_refs {
            let (name, target, peeled) = r.unpack();
            let Some(id) = peeled.or(target) else {
                continue;
            };
            let name = name.to_string();
            if let Some(b) = name.strip_prefix("refs/heads/") {
                refs.branches.insert(b.to_string(), id.to_string());
            } else if let Some(t) = name.strip_prefix("refs/tags/") {
                refs.tags.insert(t.to_string(), id.to_string());
            }
        }
        Ok(refs)
    }

    /// The files under `dir` (repository-relative, `""` for the root) at
    /// `commit`, keyed by their repository path.
    pub fn files(&self, url: &str, commit: &str, dir: &str) -> Result<Files> {
        let url = normalise_url(url);
        let repo = gix::open(self.mirror(&url)).map_err(|e| Error::git(&url, e))?;
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| Error::git(&url, e))?;
        let commit_obj = repo
            .find_commit(id)
            .map_err(|e| Error::git(&url, format!("commit {commit}: {e}")))?;
        let mut tree = commit_obj.tree().map_err(|e| Error::git(&url, e))?;
        let dir = dir.trim_matches('/');
        if !dir.is_empty() {
            let entry = tree
                .peel_to_entry_by_path(dir)
                .map_err(|e| Error::git(&url, e))?
                .ok_or_else(|| {
                    Error::git(
                        &url,
                        format!(
                            "path `{dir}` does not exist at {}",
                            &commit[..7.min(commit.len())]
                        ),
                    )
                })?;
            tree = entry.object().map_err(|e| Error::git(&url, e))?.into_tree();
        }
        let mut out = Files::new();
        collect(&repo, &tree, dir, &mut out).map_err(|e| Error::git(&url, e))?;
        Ok(out)
    }

    /// Writes the whole tree of `commit` into `dest` (created; must not
    /// exist), keeping executable bits and symlinks, as a build context.
    pub fn checkout(&self, url: &str, commit: &str, dest: &Path) -> Result<()> {
        let url = normalise_url(url);
        let repo = gix::open(self.mirror(&url)).map_err(|e| Error::git(&url, e))?;
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| Error::git(&url, e))?;
        let tree = repo
            .find_commit(id)
            .map_err(|e| Error::git(&url, format!("commit {commit}: {e}")))?
            .tree()
            .map_err(|e| Error::git(&url, e))?;
        std::fs::create_dir_all(dest).map_err(|e| Error::io("create", dest, e))?;
        write_tree(&repo, &tree, dest).map_err(|e| Error::git(&url, e))
    }

    /// For each of `inputs`, the commit whose tag names the image at
    /// `commit` (see [`crate::image_inputs::source_commits`]).
    pub fn source_commits(
        &self,
        url: &str,
        commit: &str,
        inputs: &[crate::image_inputs::Inputs],
    ) -> Result<Vec<String>> {
        let url = normalise_url(url);
        let repo = gix::open(self.mirror(&url)).map_err(|e| Error::git(&url, e))?;
        crate::image_inputs::source_commits(&repo, commit, inputs, crate::image_inputs::WALK_LIMIT)
            .map_err(|e| Error::git(&url, e))
    }

    /// Commit ids of `branch`'s history, newest first, up to `limit`.
    pub fn log(&self, url: &str, commit: &str, limit: usize) -> Result<Vec<(String, String)>> {
        let url = normalise_url(url);
        let repo = gix::open(self.mirror(&url)).map_err(|e| Error::git(&url, e))?;
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| Error::git(&url, e))?;
        let walk = repo.rev_walk([id]).all().map_err(|e| Error::git(&url, e))?;
        let mut out = Vec::new();
        for info in walk.take(limit) {
            let info = info.map_err(|e| Error::git(&url, e))?;
            let c = info.object().map_err(|e| Error::git(&url, e))?;
            let summary = c
                .message()
                .map(|m| m.summary().to_string())
                .unwrap_or_default();
            out.push((info.id.to_string(), summary));
        }
        Ok(out)
    }
}

fn collect(
    repo: &gix::Repository,
    tree: &gix::Tree<'_>,
    prefix: &str,
    out: &mut Files,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    for entry in tree.iter() {
        let entry = entry?;
        let name = entry.filename().to_string();
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let mode = entry.mode();
        if mode.is_tree() {
            let sub = repo.find_object(entry.oid())?.into_tree();
            collect(repo, &sub, &path, out)?;
        } else if mode.is_blob() {
            let blob = repo.find_object(entry.oid())?;
            out.insert(path, blob.data.clone());
        }
    }
    Ok(())
}

/// An error with its causes, `outer: inner: root` (gix's top-level
/// messages alone, such as "Transport handshake failed", do not say why).
/// The only source of credentials a fetch has: the Application's, given
/// in `credentials`. Git's credential helpers, askpass programs and the
/// terminal prompt (`/dev/tty`) are never consulted, so a server that asks
/// for a password can never stop ferry waiting for a person. `challenged`
/// records that the server asked.
fn only_configured(
    credentials: Option<(String, String)>,
    challenged: std::sync::Arc<AtomicBool>,
) -> gix::remote::AuthenticateFn<'static> {
    Box::new(move |action| match action {
        gix::credentials::helper::Action::Get(ctx) => {
            challenged.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(credentials.as_ref().map(|(username, password)| {
                gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: username.clone(),
                        password: password.clone(),
                        oauth_refresh_token: None,
                    },
                    next: ctx.into(),
                }
            }))
        }
        // Nothing is stored or erased: there is no helper to tell.
        _ => Ok(None),
    })
}

/// The message of a failed fetch, made clear when the server asked for
/// credentials (HTTP 401): either none are configured or the configured
/// ones were refused (or could not be sent).
fn auth_failure(challenged: bool, has_credentials: bool, cause: String) -> String {
    match (challenged, has_credentials) {
        (false, _) => cause,
        (true, false) => "the server requires authentication (HTTP 401) and the Application \
             has no credentials: set spec.source.credentials (username and a password \
             Secret); ferry never prompts and never runs git credential helpers"
            .into(),
        (true, true) => format!(
            "authentication with the Application's credentials failed (HTTP 401): {cause}; \
             check spec.source.credentials (username and password Secret)"
        ),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn write_tree(
    repo: &gix::Repository,
    tree: &gix::Tree<'_>,
    dir: &Path,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use std::os::unix::fs::PermissionsExt;
    for entry in tree.iter() {
        let entry = entry?;
        let name = entry.filename().to_string();
        if name == ".." || name == "." || name.contains('/') {
            return Err(format!("unsafe path `{name}` in tree").into());
        }
        let path = dir.join(&name);
        let mode = entry.mode();
        if mode.is_tree() {
            std::fs::create_dir(&path)?;
            let sub = repo.find_object(entry.oid())?.into_tree();
            write_tree(repo, &sub, &path)?;
        } else if mode.is_link() {
            let target = repo.find_object(entry.oid())?;
            let target = String::from_utf8_lossy(&target.data).to_string();
            std::os::unix::fs::symlink(target, &path)?;
        } else if mode.is_blob() {
            let blob = repo.find_object(entry.oid())?;
            std::fs::write(&path, &blob.data)?;
            let bits = if mode.is_executable() { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bits))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_file_urls() {
        assert_eq!(normalise_url("/srv/repo"), "file:///srv/repo");
        assert_eq!(normalise_url("https://h/r.git"), "https://h/r.git");
        assert_eq!(normalise_url("git@host:org/r.git"), "git@host:org/r.git");
    }

    #[test]
    fn refs_resolve_branches_tags_and_ids() {
        let mut r = Refs::default();
        r.branches.insert("dev".into(), "a".repeat(40));
        r.tags.insert("v1".into(), "b".repeat(40));
        assert_eq!(r.resolve("dev"), Some("a".repeat(40).as_str()));
        assert_eq!(r.resolve("v1"), Some("b".repeat(40).as_str()));
        assert_eq!(r.resolve(&"c".repeat(40)), Some("c".repeat(40).as_str()));
        assert_eq!(r.resolve("nope"), None);
    }
}
