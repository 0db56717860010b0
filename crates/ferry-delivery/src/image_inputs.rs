//! Per-image change detection, pure over a git repository. An image's build
//! inputs are its context directory (its git tree id) and, when the
//! Dockerfile lies outside the context, the Dockerfile's blob id. For a
//! resolved commit, an image is named after the oldest commit of the
//! first-parent run ending at that commit in which those ids stay equal
//! ([`source_commits`]): a commit that does not touch an image's inputs
//! gives the image the same tag as before, so it is neither rebuilt nor
//! redeployed. Deterministic — the same repository gives the same answer
//! after a restart.

use ferry_core::app_spec::BuildImage;
use gix::ObjectId;

use crate::error::{Error, Result};

/// How many first parents the walk reads at most; when the inputs are
/// unchanged for longer, the resolved commit names the image.
pub const WALK_LIMIT: usize = 500;

/// What one image is built from, as paths inside the repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Inputs {
    /// The build context directory (`""`: the repository's root).
    pub context: String,
    /// The Dockerfile, only when it lies outside the context.
    pub dockerfile: Option<String>,
}

impl Inputs {
    /// The inputs of a pipeline image (its Dockerfile is relative to its
    /// context, `Dockerfile` when unset).
    pub fn of(image: &BuildImage) -> Self {
        let context = normalise(&image.context).unwrap_or_default();
        let dockerfile = image.dockerfile.as_deref().and_then(|d| {
            let joined = if context.is_empty() {
                d.to_string()
            } else {
                format!("{context}/{d}")
            };
            // A path leaving the repository keeps its spelling: it is never
            // found, so it never changes.
            let path = normalise(&joined).unwrap_or(joined);
            let inside = context.is_empty() || path.starts_with(&format!("{context}/"));
            (!inside).then_some(path)
        });
        Self {
            context,
            dockerfile,
        }
    }
}

/// `a/./b/../c/` → `a/c`; `None` when the path leaves the repository.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn object(what: String, e: impl std::fmt::Display) -> Error {
    Error::GitObject {
        what,
        message: e.to_string(),
    }
}

/// The ids of one image's inputs at one commit (`None`: the path does not
/// exist there).
type Ids = (Option<ObjectId>, Option<ObjectId>);

fn ids_at(commit: &gix::Commit<'_>, inputs: &[Inputs]) -> Result<Vec<Ids>> {
    let tree = commit
        .tree()
        .map_err(|e| object(format!("tree of commit {}", commit.id), e))?;
    let lookup = |path: &str| -> Result<Option<ObjectId>> {
        if path.is_empty() {
            return Ok(Some(tree.id));
        }
        Ok(tree
            .lookup_entry_by_path(path)
            .map_err(|e| object(format!("{path} at commit {}", commit.id), e))?
            .map(|e| e.object_id()))
    };
    inputs
        .iter()
        .map(|i| {
            let dockerfile = match &i.dockerfile {
                Some(d) => lookup(d)?,
                None => None,
            };
            Ok((lookup(&i.context)?, dockerfile))
        })
        .collect()
}

/// For each of `inputs`, the commit naming it at `head`: walking first
/// parents from `head` (at most `limit` of them) while the inputs' ids stay
/// those of `head`, the last commit with equal ids. An image whose run is
/// longer than `limit`, or reaches the edge of a shallow history, is named
/// by `head` itself.
pub fn source_commits(
    repo: &gix::Repository,
    head: &str,
    inputs: &[Inputs],
    limit: usize,
) -> Result<Vec<String>> {
    let head_id = ObjectId::from_hex(head.as_bytes()).map_err(|e| object(head.into(), e))?;
    let mut cur = repo
        .find_commit(head_id)
        .map_err(|e| object(format!("commit {head}"), e))?;
    let want = ids_at(&cur, inputs)?;
    let mut found = vec![head_id; inputs.len()];
    let mut open = vec![true; inputs.len()];
    let mut steps = 0;
    while open.iter().any(|o| *o) {
        let Some(parent) = cur.parent_ids().next().map(|p| p.detach()) else {
            break; // the root commit: the run starts here
        };
        steps += 1;
        let next = (steps <= limit)
            .then(|| repo.find_commit(parent).ok())
            .flatten();
        let Some(next) = next else {
            // Past the bound, or a shallow history's edge: unknown.
            for (i, f) in found.iter_mut().enumerate() {
                if open[i] {
                    *f = head_id;
                }
            }
            break;
        };
        let ids = ids_at(&next, inputs)?;
        for (i, id) in ids.iter().enumerate() {
            if open[i] {
                if *id == want[i] {
                    found[i] = parent;
                } else {
                    open[i] = false;
                }
            }
        }
        cur = next;
    }
    Ok(found.iter().map(ObjectId::to_string).collect())
}

#[cfg(test)]
#[path = "image_inputs_tests.rs"]
mod tests;
