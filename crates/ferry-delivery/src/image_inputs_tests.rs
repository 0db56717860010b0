//! The walk against real repositories made with the `git` CLI.

use std::path::Path;

use ferry_core::app_spec::BuildImage;
use ferry_test_support::git;

use super::*;

fn image(context: &str, dockerfile: Option<&str>) -> BuildImage {
    BuildImage {
        name: "x".into(),
        context: context.into(),
        dockerfile: dockerfile.map(str::to_string),
        build_args: Default::default(),
    }
}

fn commit(dir: &Path, files: &[(&str, &str)]) -> String {
    ferry_test_support::git_commit(dir, files, "c")
}

fn repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("r");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    (dir, repo)
}

fn sources(repo: &Path, head: &str, images: &[BuildImage], limit: usize) -> Vec<String> {
    let inputs: Vec<Inputs> = images.iter().map(Inputs::of).collect();
    source_commits(&gix::open(repo).unwrap(), head, &inputs, limit).unwrap()
}

#[test]
fn inputs_normalise_paths_and_keep_only_an_outside_dockerfile() {
    let i = Inputs::of(&image("./a/", None));
    assert_eq!((i.context.as_str(), i.dockerfile), ("a", None));
    let i = Inputs::of(&image("a", Some("build/Dockerfile")));
    assert_eq!(i.dockerfile, None, "inside the context");
    let i = Inputs::of(&image("a", Some("../docker/a.Dockerfile")));
    assert_eq!(i.dockerfile.as_deref(), Some("docker/a.Dockerfile"));
    let i = Inputs::of(&image(".", Some("docker/a.Dockerfile")));
    assert_eq!((i.context.as_str(), i.dockerfile), ("", None));
}

#[test]
fn unchanged_context_names_the_oldest_commit_changed_names_head() {
    let (_d, r) = repo();
    let c1 = commit(
        &r,
        &[("a/Dockerfile", "FROM a\n"), ("b/Dockerfile", "FROM b\n")],
    );
    let c2 = commit(&r, &[("README", "one\n")]);
    let c3 = commit(&r, &[("a/x", "changed\n")]);
    let c4 = commit(&r, &[("README", "two\n")]);
    let imgs = [image("a", None), image("b", None)];
    assert_eq!(sources(&r, &c4, &imgs, 500), [c3.clone(), c1.clone()]);
    assert_eq!(sources(&r, &c3, &imgs, 500), [c3.clone(), c1.clone()]);
    assert_eq!(sources(&r, &c2, &imgs, 500), [c1.clone(), c1.clone()]);
    // The root context changes with every commit.
    let root = sources(&r, &c4, &[image(".", None)], 500);
    assert_eq!(root, [c4.as_str()]);
    // A change reverted is still a change: the run ends at the first difference.
    let c5 = commit(&r, &[("a/x", "")]);
    assert_eq!(sources(&r, &c5, &imgs, 500), [c5, c1]);
}

#[test]
fn a_dockerfile_outside_the_context_is_an_input() {
    let (_d, r) = repo();
    let c1 = commit(
        &r,
        &[("a/main", "bin\n"), ("docker/a.Dockerfile", "FROM x\n")],
    );
    let c2 = commit(&r, &[("docker/b.Dockerfile", "FROM y\n")]);
    let img = [image("a", Some("../docker/a.Dockerfile"))];
    assert_eq!(sources(&r, &c2, &img, 500), [c1]);
    let c3 = commit(&r, &[("docker/a.Dockerfile", "FROM z\n")]);
    assert_eq!(sources(&r, &c3, &img, 500), [c3]);
}

#[test]
fn only_first_parents_are_walked() {
    let (_d, r) = repo();
    let c1 = commit(&r, &[("a/f", "1\n"), ("b/f", "1\n")]);
    git(&r, &["checkout", "-q", "-b", "side"]);
    commit(&r, &[("a/f", "2\n")]);
    git(&r, &["checkout", "-q", "master"]);
    commit(&r, &[("README", "x\n")]);
    git(&r, &["merge", "-q", "--no-ff", "-m", "merge", "side"]);
    let merge = git(&r, &["rev-parse", "HEAD"]);
    let imgs = [image("a", None), image("b", None)];
    // a changed in the merge (relative to its first parent); b did not.
    assert_eq!(sources(&r, &merge, &imgs, 500), [merge.clone(), c1]);
}

#[test]
fn a_run_longer_than_the_bound_is_named_by_head() {
    let (_d, r) = repo();
    let c1 = commit(&r, &[("a/f", "1\n")]);
    let mut head = c1.clone();
    for _ in 0..4 {
        head = commit(&r, &[]);
    }
    let img = [image("a", None)];
    assert_eq!(sources(&r, &head, &img, 4), [c1]);
    assert_eq!(sources(&r, &head, &img, 3), [head.clone()]);
    // A missing context is an input too: absent until it appears.
    assert_eq!(sources(&r, &head, &[image("gone", None)], 3), [head]);
}
